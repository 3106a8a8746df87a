//! `corelog`'s command line: the subcommands, `serve`'s flags (each with
//! its `CORELOG_*` variable and, through `properties.rs`, its Kafka
//! property name), and the `Config` they describe.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use corelog::config::{self, Config};
use corelog::limits;
use corelog::metadata::topic_config::BrokerDefaults;

#[derive(Parser)]
#[command(
    name = "corelog",
    version,
    about = "A Kafka-wire-compatible streaming broker, thread-per-core on io_uring"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Commands,
}

// Parsed once at start-up: boxing the larger variant would save nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub(crate) enum Commands {
    /// Run the broker.
    Serve(ServeArgs),
    /// Check this host for running corelog: each line PASS, WARN, FAIL or
    /// INFO, with the fix; exits 1 when any check FAILs.
    Check(CheckArgs),
    /// Topics of any Kafka-compatible cluster: create, list, describe,
    /// delete, alter-config, add-partitions.
    Topic(corelog::tools::topic::TopicArgs),
    /// Consumer groups: list, describe (lag), reset-offsets, delete.
    Group(corelog::tools::group::GroupArgs),
    /// Produce stdin's lines as records.
    Produce(corelog::tools::produce::ProduceArgs),
    /// Print a topic's records, alone or in a group.
    Consume(corelog::tools::consume::ConsumeArgs),
    /// Brokers, controller and API versions.
    Cluster(corelog::tools::cluster::ClusterArgs),
    /// A load test: produce or consume throughput and latency.
    Bench(corelog::tools::bench::BenchArgs),
}

#[derive(clap::Args)]
pub(crate) struct CheckArgs {
    /// The data directory serve will use (created if missing, as serve does).
    #[arg(long, default_value = "./data")]
    pub(crate) data_dir: PathBuf,
    /// Shards serve will run (default: every available core).
    #[arg(long)]
    pub(crate) cores: Option<usize>,
}

#[derive(clap::Args)]
pub(crate) struct ServeArgs {
    /// A Java-properties file with Kafka's broker property names
    /// (`log.dirs`, `listeners`, `num.partitions`, ...; corelog's own as
    /// `corelog.cores`, ...). Environment variables and flags override it.
    #[arg(long, env = "CORELOG_CONFIG")]
    config: Option<PathBuf>,
    /// Where partitions and metadata are kept.
    #[arg(long, env = "CORELOG_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// Address of shard 0; shard i listens on port + i (port 0: each shard
    /// takes an ephemeral port). Or a comma-separated address per shard.
    #[arg(
        long,
        env = "CORELOG_LISTEN",
        default_value = "0.0.0.0:9092",
        value_delimiter = ','
    )]
    listen: Vec<SocketAddr>,
    /// Host name clients are told to connect to.
    #[arg(long, env = "CORELOG_ADVERTISE", default_value = "localhost")]
    advertise: String,
    /// Shards to run, one per core (default: every available core).
    #[arg(long, env = "CORELOG_CORES")]
    cores: Option<usize>,
    /// num.partitions: partitions of auto-created topics.
    #[arg(long, env = "CORELOG_NUM_PARTITIONS", default_value_t = 1)]
    num_partitions: i32,
    /// auto.create.topics.enable.
    #[arg(long, env = "CORELOG_AUTO_CREATE_TOPICS", default_value_t = true, action = clap::ArgAction::Set)]
    auto_create_topics: bool,
    /// log.segment.bytes: default segment size of topics.
    #[arg(long, env = "CORELOG_LOG_SEGMENT_BYTES", default_value_t = limits::SEGMENT_BYTES_DEFAULT)]
    log_segment_bytes: u64,
    /// log.retention.ms: default retention.ms of topics (-1: forever).
    #[arg(long, env = "CORELOG_LOG_RETENTION_MS", default_value_t = limits::RETENTION_MILLISECONDS_DEFAULT, allow_negative_numbers = true)]
    log_retention_ms: i64,
    /// log.retention.bytes: default retention.bytes of topics (-1: no limit).
    #[arg(long, env = "CORELOG_LOG_RETENTION_BYTES", default_value_t = -1, allow_negative_numbers = true)]
    log_retention_bytes: i64,
    /// log.roll.ms: default segment.ms of topics.
    #[arg(long, env = "CORELOG_LOG_ROLL_MS", default_value_t = limits::SEGMENT_MILLISECONDS_DEFAULT)]
    log_roll_ms: i64,
    /// log.flush.interval.messages: default flush.messages of topics. Unset
    /// (with --log-flush-interval-ms unset too): every append is synced.
    #[arg(long, env = "CORELOG_LOG_FLUSH_INTERVAL_MESSAGES")]
    log_flush_interval_messages: Option<u64>,
    /// log.flush.interval.ms: default flush.ms of topics.
    #[arg(long, env = "CORELOG_LOG_FLUSH_INTERVAL_MS")]
    log_flush_interval_ms: Option<u64>,
    /// log.retention.check.interval.ms: how often old segments are deleted.
    #[arg(long, env = "CORELOG_LOG_RETENTION_CHECK_INTERVAL_MS", default_value_t = limits::RETENTION_CHECK_INTERVAL_MILLISECONDS_DEFAULT)]
    log_retention_check_interval_ms: u64,
    /// message.max.bytes: default largest batch of topics.
    #[arg(long, env = "CORELOG_MESSAGE_MAX_BYTES", default_value_t = limits::MESSAGE_BYTES_MAX_DEFAULT)]
    message_max_bytes: u32,
    /// socket.request.max.bytes: largest request frame.
    #[arg(long, env = "CORELOG_SOCKET_REQUEST_MAX_BYTES", default_value_t = limits::REQUEST_BYTES_MAX_DEFAULT)]
    socket_request_max_bytes: u32,
    /// queued.max.request.bytes: bytes of request frames each shard holds at
    /// once while reading and handling them (at least
    /// --socket-request-max-bytes); a frame that does not fit waits.
    #[arg(long, env = "CORELOG_QUEUED_MAX_REQUEST_BYTES", default_value_t = limits::QUEUED_REQUEST_BYTES_PER_SHARD_DEFAULT)]
    queued_max_request_bytes: u64,
    /// offsets.topic.num.partitions: partitions of __consumer_offsets when it
    /// is first created (fixed after that).
    #[arg(long, env = "CORELOG_OFFSETS_TOPIC_NUM_PARTITIONS", default_value_t = limits::OFFSETS_TOPIC_PARTITIONS_DEFAULT)]
    offsets_topic_num_partitions: i32,
    /// group.min.session.timeout.ms: shortest session timeout a member may ask for.
    #[arg(long, env = "CORELOG_GROUP_MIN_SESSION_TIMEOUT_MS", default_value_t = limits::GROUP_SESSION_TIMEOUT_MILLISECONDS_MIN_DEFAULT)]
    group_min_session_timeout_ms: u64,
    /// group.max.session.timeout.ms: longest session timeout a member may ask for.
    #[arg(long, env = "CORELOG_GROUP_MAX_SESSION_TIMEOUT_MS", default_value_t = limits::GROUP_SESSION_TIMEOUT_MILLISECONDS_MAX_DEFAULT)]
    group_max_session_timeout_ms: u64,
    /// group.initial.rebalance.delay.ms: how long the first rebalance of an
    /// empty group waits for more members to join.
    #[arg(long, env = "CORELOG_GROUP_INITIAL_REBALANCE_DELAY_MS", default_value_t = limits::GROUP_INITIAL_REBALANCE_DELAY_MILLISECONDS_DEFAULT)]
    group_initial_rebalance_delay_ms: u64,
    /// Bytes of recently appended batches each shard keeps in memory for
    /// tailing consumers (0: none; every fetch then reads the segments).
    #[arg(long, env = "CORELOG_TAIL_CACHE_BYTES", default_value_t = corelog::limits::TAIL_CACHE_BYTES_PER_SHARD_DEFAULT)]
    tail_cache_bytes: u64,
    /// How Fetch sends data older than the tail cache: `sendfile` (from the
    /// page cache, no copy, on the shard's blocking threads) or `copy`
    /// (io_uring reads into memory, then a socket write).
    #[arg(long, env = "CORELOG_FETCH_COLD_READS", value_enum, default_value_t = ColdReadsArgument::Sendfile)]
    fetch_cold_reads: ColdReadsArgument,
    /// How long a shard keeps polling for work before it parks in the
    /// kernel. Parking and waking through io_uring costs milliseconds of
    /// latency per request under light load (measured: acks=all p50 7 ms
    /// without, 0.5 ms with 500); polling costs CPU only while busy. 0: park
    /// at once.
    #[arg(long, env = "CORELOG_IDLE_SPIN_MICROSECONDS", default_value_t = corelog::limits::IDLE_SPIN_MICROSECONDS_DEFAULT)]
    idle_spin_microseconds: u64,
    /// node.id: this host in a cluster (0..1023). Shard s of host H is
    /// Kafka broker H * 1024 + s.
    #[arg(long, env = "CORELOG_NODE_ID", default_value_t = 0)]
    node_id: u32,
    /// controller.quorum.voters: `id@host:port,...`, the hosts whose shard 0
    /// runs the metadata quorum. Unset: a single host, no quorum.
    #[arg(long, env = "CORELOG_CONTROLLER_QUORUM_VOTERS")]
    controller_quorum_voters: Option<String>,
    /// Where this host's quorum member listens (default: its own entry in
    /// --controller-quorum-voters; required on a host that is not a voter).
    #[arg(long, env = "CORELOG_CONTROLLER_LISTEN")]
    controller_listen: Option<String>,
    /// broker.session.timeout.ms: a host silent this long is fenced and its
    /// shards leave Metadata.
    #[arg(long, env = "CORELOG_BROKER_SESSION_TIMEOUT_MS", default_value_t = limits::BROKER_SESSION_TIMEOUT_MILLISECONDS_DEFAULT)]
    broker_session_timeout_ms: u64,
    /// default.replication.factor: replicas of a topic created without a
    /// replication factor (at most the number of live hosts).
    #[arg(long, env = "CORELOG_DEFAULT_REPLICATION_FACTOR", default_value_t = 1)]
    default_replication_factor: i16,
    /// min.insync.replicas: the default for topics that do not set it;
    /// acks=all produce needs this many replicas in sync.
    #[arg(long, env = "CORELOG_MIN_INSYNC_REPLICAS", default_value_t = 1)]
    min_insync_replicas: i32,
    /// unclean.leader.election.enable: the default for topics that do not
    /// set it. When every in-sync replica's host is gone, a live replica
    /// out of the ISR may lead, losing what it lacks of the old leader's
    /// log; false (Kafka's default) waits for an in-sync replica instead.
    #[arg(long, env = "CORELOG_UNCLEAN_LEADER_ELECTION_ENABLE", default_value_t = false, action = clap::ArgAction::Set)]
    unclean_leader_election_enable: bool,
    /// replica.lag.time.max.ms: a follower that has not caught up with its
    /// leader for this long leaves the in-sync replicas.
    #[arg(long, env = "CORELOG_REPLICA_LAG_TIME_MAX_MS", default_value_t = limits::REPLICA_LAG_TIME_MAX_MILLISECONDS_DEFAULT)]
    replica_lag_time_max_ms: u64,
    /// Do not pin shard i to CPU i: for several hosts sharing one machine
    /// (scripts/cluster.sh), which would otherwise all pin to the same CPUs.
    #[arg(long, env = "CORELOG_NO_PIN")]
    no_pin: bool,
    /// Where shard 0 serves Prometheus metrics (/metrics), /health and
    /// /ready over HTTP; `none` or empty: off. Port 0 takes an ephemeral
    /// port; the address is logged (`corelog: metrics on http://...`).
    #[arg(long, env = "CORELOG_METRICS_LISTEN", default_value = limits::METRICS_LISTEN_DEFAULT, value_parser = parse_metrics_listen)]
    metrics_listen: MetricsListen,
    /// Least severe lines logged (corelog's own; other crates' at warn).
    /// --log-filter, when given, replaces it.
    #[arg(long, env = "CORELOG_LOG_LEVEL", default_value = "info", value_parser = ["error", "warn", "info", "debug", "trace", "off"])]
    log_level: String,
    /// Which lines are logged, in tracing's EnvFilter syntax: comma-separated
    /// `[target][{span}]=level` directives, e.g.
    /// `warn,corelog::group=debug` (property corelog.log.filter).
    #[arg(long, env = "CORELOG_LOG")]
    log_filter: Option<String>,
    /// `text`: `corelog: MESSAGE ... shard=N` lines; `json`: one JSON object
    /// per line (timestamp, level, target, shard, message, fields).
    #[arg(long, env = "CORELOG_LOG_FORMAT", value_enum, default_value_t = LogFormatArgument::Text)]
    log_format: LogFormatArgument,
    /// What `--config`'s file held that corelog ignores: logged once
    /// logging has started.
    #[arg(skip)]
    pub(crate) file_warnings: Vec<String>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormatArgument {
    Text,
    Json,
}

/// The log filter and format the serve flags ask for.
pub(crate) fn log_settings(args: &ServeArgs) -> (String, corelog::logging::LogFormat) {
    let filter = match &args.log_filter {
        Some(filter) => filter.clone(),
        None => corelog::logging::level_filter(&args.log_level),
    };
    let format = match args.log_format {
        LogFormatArgument::Text => corelog::logging::LogFormat::Text,
        LogFormatArgument::Json => corelog::logging::LogFormat::Json,
    };
    (filter, format)
}

/// `--metrics-listen`'s value: an address, or none.
#[derive(Debug, Clone, Copy)]
struct MetricsListen(Option<SocketAddr>);

fn parse_metrics_listen(value: &str) -> Result<MetricsListen, String> {
    corelog::metrics::parse_listen(value).map(MetricsListen)
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ColdReadsArgument {
    Sendfile,
    Copy,
}

/// The command line, with `serve --config FILE`'s settings under it: each
/// property the file sets becomes its flag's value unless the command line
/// or a `CORELOG_*` variable set that flag (file < environment < flags).
/// Err: the file cannot be read or holds a wrong value.
pub(crate) fn parse_command_line() -> Result<Commands, String> {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
    let (
        Commands::Serve(ServeArgs {
            config: Some(path), ..
        }),
        Some(("serve", serve_matches)),
    ) = (&cli.command, matches.subcommand())
    else {
        return Ok(cli.command);
    };
    let file = corelog::properties::load(path)?;
    let set_elsewhere = |flag: &str| {
        matches!(
            serve_matches.value_source(flag),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        )
    };
    let arguments = corelog::properties::arguments(&file, set_elsewhere);
    let command_line = std::env::args_os().chain(arguments.into_iter().map(Into::into));
    let mut command = Cli::try_parse_from(command_line)
        .unwrap_or_else(|error| error.exit())
        .command;
    if let Commands::Serve(serve) = &mut command {
        serve.file_warnings = file.warnings;
    }
    Ok(command)
}

/// The validated-later `Config` the serve flags describe (Err: the quorum
/// flags do not parse).
pub(crate) fn serve_config(args: ServeArgs) -> Result<Config, String> {
    let quorum = match &args.controller_quorum_voters {
        Some(voters) => Some(
            config::QuorumConfig::parse(args.node_id, voters, args.controller_listen.as_deref())
                .map_err(|error| error.to_string())?,
        ),
        None if args.controller_listen.is_some() => {
            return Err("--controller-listen needs --controller-quorum-voters".into())
        }
        None => None,
    };
    Ok(Config {
        data_dir: args.data_dir,
        listen: args.listen,
        advertise_host: args.advertise,
        cores: args.cores.unwrap_or_else(available_cores),
        num_partitions: args.num_partitions,
        auto_create_topics: args.auto_create_topics,
        request_bytes_max: args.socket_request_max_bytes,
        queued_request_bytes_max: args.queued_max_request_bytes,
        topic_defaults: BrokerDefaults {
            segment_bytes: args.log_segment_bytes,
            max_message_bytes: args.message_max_bytes,
            retention_ms: args.log_retention_ms,
            retention_bytes: args.log_retention_bytes,
            segment_ms: args.log_roll_ms,
            flush_messages: args.log_flush_interval_messages,
            flush_ms: args.log_flush_interval_ms,
            min_insync_replicas: args.min_insync_replicas,
            unclean_leader_election: args.unclean_leader_election_enable,
        },
        retention_check_interval_milliseconds: args.log_retention_check_interval_ms,
        offsets_topic_partitions: args.offsets_topic_num_partitions,
        group_session_timeout_min_milliseconds: args.group_min_session_timeout_ms,
        group_session_timeout_max_milliseconds: args.group_max_session_timeout_ms,
        group_initial_rebalance_delay_milliseconds: args.group_initial_rebalance_delay_ms,
        tail_cache_bytes: args.tail_cache_bytes,
        idle_spin_microseconds: args.idle_spin_microseconds,
        metrics_listen: args.metrics_listen.0,
        cold_reads: match args.fetch_cold_reads {
            ColdReadsArgument::Sendfile => corelog::partition::ColdReads::SendFile,
            ColdReadsArgument::Copy => corelog::partition::ColdReads::Copy,
        },
        node_id: args.node_id,
        quorum,
        broker_session_timeout_milliseconds: args.broker_session_timeout_ms,
        default_replication_factor: args.default_replication_factor,
        replica_lag_time_max_milliseconds: args.replica_lag_time_max_ms,
        pin_cores: !args.no_pin,
    })
}

pub(crate) fn available_cores() -> usize {
    std::thread::available_parallelism()
        .map(|count| count.get())
        .unwrap_or(1)
}
