//! The client tools: `corelog topic|group|produce|consume|cluster`, for any
//! Kafka-compatible cluster (corelog or Apache Kafka).
//!
//! They speak the wire protocol through the project's own small blocking
//! client (`client`), on the same `kafka-protocol` codec the broker uses,
//! rather than through librdkafka: the `corelog` binary stays one static
//! Rust binary with no C library to link or ship, and the tools can ask for
//! exactly the requests an operator means (DescribeConfigs with sources,
//! OffsetCommit for an empty group) instead of what a consumer library
//! exposes.
//!
//! Each subcommand prints a human-readable table by default and one JSON
//! document with `--format json`. Errors go to stderr and make the exit
//! status 1.
//!
//! Invariants: nothing here runs inside the broker; this module imports only
//! `protocol` and `limits` from the rest of the crate.

pub mod bench;
pub mod bench_report;
pub mod bench_suite;
pub mod client;
pub mod cluster;
pub mod consume;
pub mod datetime;
pub mod decommission;
pub mod group;
pub mod membership;
pub mod offsets;
pub mod output;
pub mod produce;
pub mod reset;
pub mod template;
pub mod topic;
pub mod topic_describe;

use std::process::ExitCode;

use kafka_protocol::messages::ApiKey;

/// Where to connect and how to print: shared by every client subcommand.
#[derive(clap::Args, Debug, Clone)]
pub struct Connect {
    /// Bootstrap brokers, comma-separated host:port.
    #[arg(
        short = 'b',
        long,
        env = "CORELOG_BROKERS",
        default_value = "localhost:9092",
        global = true
    )]
    pub brokers: String,
    /// Output: a table for people, or one JSON document for scripts.
    #[arg(long, value_enum, default_value_t = Format::Table, global = true)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// Why a tool failed; printed as one line on stderr.
#[derive(Debug)]
pub enum ToolError {
    /// No connection, or it broke.
    Io {
        address: String,
        source: std::io::Error,
    },
    /// A response frame past `TOOL_RESPONSE_BYTES_MAX`, or one that does not
    /// decode, or one for another request.
    Protocol { address: String, reason: String },
    /// The broker serves no version of `api` this tool can speak.
    Unsupported { address: String, api: ApiKey },
    /// The broker answered with a Kafka error code.
    Kafka {
        what: String,
        code: i16,
        message: Option<String>,
    },
    /// The command line asks for something that cannot be done.
    Usage(String),
    /// Reading stdin or writing stdout failed.
    Terminal(std::io::Error),
}

impl std::fmt::Display for ToolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ToolError::Io { address, source } => write!(f, "{address}: {source}"),
            ToolError::Protocol { address, reason } => write!(f, "{address}: {reason}"),
            ToolError::Unsupported { address, api } => {
                write!(f, "{address} serves no version of {api:?} this tool speaks")
            }
            ToolError::Kafka {
                what,
                code,
                message,
            } => {
                write!(f, "{what}: {}", error_name(*code))?;
                if let Some(message) = message.as_deref().filter(|text| !text.is_empty()) {
                    write!(f, " ({message})")?;
                }
                Ok(())
            }
            ToolError::Usage(reason) => f.write_str(reason),
            ToolError::Terminal(source) => write!(f, "stdin/stdout: {source}"),
        }
    }
}

impl std::error::Error for ToolError {}

/// Kafka's name for an error code, with the code.
pub fn error_name(code: i16) -> String {
    match kafka_protocol::ResponseError::try_from_code(code) {
        Some(kafka_protocol::ResponseError::Unknown(_)) | None => format!("error code {code}"),
        Some(error) => format!("{error:?} ({code})"),
    }
}

/// `Ok(())` for code 0, else the error for `what`.
pub fn check(
    what: impl FnOnce() -> String,
    code: i16,
    message: Option<&str>,
) -> Result<(), ToolError> {
    if code == 0 {
        return Ok(());
    }
    Err(kafka_error(what(), code, message))
}

/// The error a broker's nonzero `code` means for `what`.
pub fn kafka_error(what: String, code: i16, message: Option<&str>) -> ToolError {
    ToolError::Kafka {
        what,
        code,
        message: message.map(str::to_string),
    }
}

/// The exit status of a tool's result, printing the error if there is one.
pub fn exit(result: Result<(), ToolError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`corelog consume t | head`): nothing left
        // to say to anyone.
        Err(ToolError::Terminal(error)) if error.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("corelog: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Kafka's resource type of a topic in the config APIs.
pub const RESOURCE_TOPIC: i8 = 2;

/// The error for a response that holds no result for the one thing asked.
pub fn empty(api: &str) -> ToolError {
    ToolError::Protocol {
        address: "broker".into(),
        reason: format!("{api} response holds no result"),
    }
}
