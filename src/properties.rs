//! `corelog serve --config FILE`: a Java-properties file with Kafka's
//! broker property names, turned into the `serve` flags they stand for.
//!
//! The file is the lowest layer: `main` passes a property's value on only
//! for a flag that neither the command line nor a `CORELOG_*` environment
//! variable set, so the precedence is file < environment < flags.
//!
//! Invariants: every value [`load`] returns was checked against the type of
//! its flag, so clap accepts it; a wrong value is an error naming the file,
//! line, key and reason; a key corelog does not implement is a warning,
//! never an error; of several keys for one flag (`log.retention.ms`,
//! `.minutes`, `.hours`) the most precise one wins, as in Kafka.

use std::net::SocketAddr;
use std::path::Path;

/// One `key=value` of the file, with the line it starts on (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: String,
    pub line: usize,
}

/// A value for one `serve` flag, taken from the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// The clap id of the flag (`data_dir` for `--data-dir`).
    pub flag: &'static str,
    /// The value as clap parses it.
    pub value: String,
    /// Which of several keys for the flag wins: the higher.
    precedence: u8,
}

impl Setting {
    /// `--flag-name=value`, for clap.
    pub fn argument(&self) -> String {
        format!("--{}={}", self.flag.replace('_', "-"), self.value)
    }
}

/// What a file sets, and a warning line per key it ignores.
#[derive(Debug, Default)]
pub struct FileSettings {
    pub settings: Vec<Setting>,
    pub warnings: Vec<String>,
}

/// How a property's value is checked and turned into its flag's value.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// `log.dirs`: the first directory of a comma-separated list.
    FirstDirectory,
    /// `listeners`: `NAME://host:port`, comma-separated.
    Listeners,
    /// `advertised.listeners`: the host of the first listener.
    AdvertisedHost,
    Bool,
    I32,
    U32,
    U64,
    I64,
    Usize,
    /// A count of milliseconds times this factor (-1 stays -1: forever).
    ScaledMilliseconds(i64),
    ColdReads,
    /// Passed on as written; the flag's own parser checks it.
    Text,
    /// `host:port`, or `none` (or empty) for off.
    MetricsListen,
}

/// Kafka's property (or corelog's own, `corelog.`-prefixed), the flag it
/// sets, how its value is read, and its precedence among keys for the flag.
const PROPERTIES: &[(&str, &str, Kind, u8)] = &[
    ("log.dirs", "data_dir", Kind::FirstDirectory, 1),
    ("log.dir", "data_dir", Kind::FirstDirectory, 0),
    ("listeners", "listen", Kind::Listeners, 0),
    ("advertised.listeners", "advertise", Kind::AdvertisedHost, 0),
    ("num.partitions", "num_partitions", Kind::I32, 0),
    (
        "auto.create.topics.enable",
        "auto_create_topics",
        Kind::Bool,
        0,
    ),
    ("log.segment.bytes", "log_segment_bytes", Kind::U64, 0),
    (
        "log.retention.ms",
        "log_retention_ms",
        Kind::ScaledMilliseconds(1),
        2,
    ),
    (
        "log.retention.minutes",
        "log_retention_ms",
        Kind::ScaledMilliseconds(60_000),
        1,
    ),
    (
        "log.retention.hours",
        "log_retention_ms",
        Kind::ScaledMilliseconds(3_600_000),
        0,
    ),
    ("log.retention.bytes", "log_retention_bytes", Kind::I64, 0),
    ("log.roll.ms", "log_roll_ms", Kind::ScaledMilliseconds(1), 1),
    (
        "log.roll.hours",
        "log_roll_ms",
        Kind::ScaledMilliseconds(3_600_000),
        0,
    ),
    (
        "log.flush.interval.messages",
        "log_flush_interval_messages",
        Kind::U64,
        0,
    ),
    (
        "log.flush.interval.ms",
        "log_flush_interval_ms",
        Kind::U64,
        0,
    ),
    (
        "log.retention.check.interval.ms",
        "log_retention_check_interval_ms",
        Kind::U64,
        0,
    ),
    ("message.max.bytes", "message_max_bytes", Kind::U32, 0),
    (
        "socket.request.max.bytes",
        "socket_request_max_bytes",
        Kind::U32,
        0,
    ),
    (
        "queued.max.request.bytes",
        "queued_max_request_bytes",
        Kind::U64,
        0,
    ),
    (
        "offsets.topic.num.partitions",
        "offsets_topic_num_partitions",
        Kind::I32,
        0,
    ),
    (
        "group.min.session.timeout.ms",
        "group_min_session_timeout_ms",
        Kind::U64,
        0,
    ),
    (
        "group.max.session.timeout.ms",
        "group_max_session_timeout_ms",
        Kind::U64,
        0,
    ),
    (
        "group.initial.rebalance.delay.ms",
        "group_initial_rebalance_delay_ms",
        Kind::U64,
        0,
    ),
    ("corelog.cores", "cores", Kind::Usize, 0),
    ("node.id", "node_id", Kind::U32, 0),
    (
        "controller.quorum.voters",
        "controller_quorum_voters",
        Kind::Text,
        0,
    ),
    (
        "corelog.controller.listen",
        "controller_listen",
        Kind::Text,
        0,
    ),
    (
        "broker.session.timeout.ms",
        "broker_session_timeout_ms",
        Kind::U64,
        0,
    ),
    (
        "default.replication.factor",
        "default_replication_factor",
        Kind::I32,
        0,
    ),
    ("min.insync.replicas", "min_insync_replicas", Kind::I32, 0),
    (
        "unclean.leader.election.enable",
        "unclean_leader_election_enable",
        Kind::Bool,
        0,
    ),
    (
        "replica.lag.time.max.ms",
        "replica_lag_time_max_ms",
        Kind::U64,
        0,
    ),
    ("corelog.tail.cache.bytes", "tail_cache_bytes", Kind::U64, 0),
    (
        "corelog.fetch.cold.reads",
        "fetch_cold_reads",
        Kind::ColdReads,
        0,
    ),
    (
        "corelog.idle.spin.microseconds",
        "idle_spin_microseconds",
        Kind::U64,
        0,
    ),
    (
        "corelog.metrics.listen",
        "metrics_listen",
        Kind::MetricsListen,
        0,
    ),
    ("corelog.log.filter", "log_filter", Kind::Text, 0),
    ("corelog.log.level", "log_level", Kind::Text, 0),
    ("corelog.log.format", "log_format", Kind::Text, 0),
];

/// Kafka broker properties a Kafka `server.properties` commonly holds that
/// corelog does not implement (one node per core, no replication, no
/// ZooKeeper): accepted with a warning so such a file still starts corelog.
const KAFKA_NOT_IMPLEMENTED: &[&str] = &[
    "broker.id",
    "process.roles",
    "controller.listener.names",
    "inter.broker.listener.name",
    "listener.security.protocol.map",
    "num.network.threads",
    "num.io.threads",
    "socket.send.buffer.bytes",
    "socket.receive.buffer.bytes",
    "num.recovery.threads.per.data.dir",
    "offsets.topic.replication.factor",
    "transaction.state.log.replication.factor",
    "transaction.state.log.min.isr",
    "zookeeper.connect",
    "zookeeper.connection.timeout.ms",
    "group.coordinator.rebalance.protocols",
    "delete.topic.enable",
];

/// Reads and maps the file at `path`.
pub fn load(path: &Path) -> Result<FileSettings, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    map(&path.display().to_string(), &parse(&text))
}

/// The entries of a properties file: `#` and `!` start comments, `=` or `:`
/// separates key from value (both trimmed), and a line ending in an odd
/// number of backslashes continues on the next.
pub fn parse(text: &str) -> Vec<Entry> {
    let mut entries = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((index, line)) = lines.next() {
        let mut logical = line.trim_start().to_string();
        if logical.is_empty() || logical.starts_with('#') || logical.starts_with('!') {
            continue;
        }
        while continues(&logical) {
            logical.pop();
            match lines.next() {
                Some((_, next)) => logical.push_str(next.trim_start()),
                None => break,
            }
        }
        let (key, value) = match logical.find(['=', ':']) {
            Some(at) => (&logical[..at], &logical[at + 1..]),
            None => (logical.as_str(), ""),
        };
        entries.push(Entry {
            key: key.trim().to_string(),
            value: value.trim().to_string(),
            line: index + 1,
        });
    }
    entries
}

fn continues(line: &str) -> bool {
    line.chars().rev().take_while(|&c| c == '\\').count() % 2 == 1
}

/// The flag values `entries` set (one per flag, the winning key's), and a
/// warning per ignored key; the first wrong value is the error.
pub fn map(file: &str, entries: &[Entry]) -> Result<FileSettings, String> {
    let mut result = FileSettings::default();
    for entry in entries {
        let Some(&(_, flag, kind, precedence)) =
            PROPERTIES.iter().find(|(key, ..)| *key == entry.key)
        else {
            result.warnings.push(ignored_warning(file, entry));
            continue;
        };
        let value = convert(kind, &entry.value)
            .map_err(|reason| format!("{file}:{}: {}: {reason}", entry.line, entry.key))?;
        let setting = Setting {
            flag,
            value,
            precedence,
        };
        match result.settings.iter_mut().find(|known| known.flag == flag) {
            Some(known) if known.precedence <= precedence => *known = setting,
            Some(_) => {}
            None => result.settings.push(setting),
        }
    }
    Ok(result)
}

/// The `--flag=value` arguments for the flags the file sets and
/// `set_elsewhere` (the command line or the environment) does not: those
/// layers win over the file.
pub fn arguments(settings: &FileSettings, set_elsewhere: impl Fn(&str) -> bool) -> Vec<String> {
    settings
        .settings
        .iter()
        .filter(|setting| !set_elsewhere(setting.flag))
        .map(Setting::argument)
        .collect()
}

fn ignored_warning(file: &str, entry: &Entry) -> String {
    let why = if KAFKA_NOT_IMPLEMENTED.contains(&entry.key.as_str()) {
        "a Kafka broker property corelog does not implement"
    } else {
        "an unknown property"
    };
    format!(
        "corelog: warning: {file}:{}: {} is {why}; ignored",
        entry.line, entry.key
    )
}

fn convert(kind: Kind, value: &str) -> Result<String, String> {
    fn number<T: std::str::FromStr + ToString>(value: &str, what: &str) -> Result<String, String> {
        value
            .parse::<T>()
            .map(|number| number.to_string())
            .map_err(|_| format!("'{value}' is not {what}"))
    }
    match kind {
        Kind::FirstDirectory => match value.split(',').next().map(str::trim) {
            Some(first) if !first.is_empty() => Ok(first.to_string()),
            _ => Err("no directory given".to_string()),
        },
        Kind::Listeners => listeners(value),
        Kind::AdvertisedHost => advertised_host(value),
        Kind::Bool => match value.to_ascii_lowercase().as_str() {
            "true" => Ok("true".to_string()),
            "false" => Ok("false".to_string()),
            _ => Err(format!("'{value}' is not true or false")),
        },
        Kind::I32 => number::<i32>(value, "a 32-bit integer"),
        Kind::U32 => number::<u32>(value, "a non-negative 32-bit integer"),
        Kind::U64 | Kind::Usize => number::<u64>(value, "a non-negative integer"),
        Kind::I64 => number::<i64>(value, "an integer"),
        Kind::ScaledMilliseconds(factor) => {
            let count: i64 = value
                .parse()
                .map_err(|_| format!("'{value}' is not an integer"))?;
            if count == -1 {
                return Ok("-1".to_string());
            }
            count
                .checked_mul(factor)
                .filter(|milliseconds| *milliseconds >= 0)
                .map(|milliseconds| milliseconds.to_string())
                .ok_or_else(|| format!("'{value}' is negative (only -1, forever) or too large"))
        }
        Kind::Text if value.trim().is_empty() => Err("no value given".to_string()),
        Kind::Text => Ok(value.trim().to_string()),
        Kind::ColdReads => match value {
            "sendfile" | "copy" => Ok(value.to_string()),
            _ => Err(format!("'{value}' is not sendfile or copy")),
        },
        Kind::MetricsListen => match crate::metrics::parse_listen(value)? {
            Some(address) => Ok(address.to_string()),
            None => Ok("none".to_string()),
        },
    }
}

/// `NAME://host:port` without the name: (host, port). corelog serves
/// plaintext only, so a TLS or SASL listener is refused.
fn listener_address(listener: &str) -> Result<(&str, &str), String> {
    let (name, address) = listener
        .split_once("://")
        .ok_or_else(|| format!("'{listener}' is not NAME://host:port"))?;
    if name.starts_with("SSL") || name.starts_with("SASL") {
        return Err(format!("'{listener}': corelog serves PLAINTEXT only"));
    }
    address
        .rsplit_once(':')
        .ok_or_else(|| format!("'{listener}' has no port"))
}

fn listeners(value: &str) -> Result<String, String> {
    let mut addresses = Vec::new();
    for listener in value.split(',').map(str::trim) {
        let (host, port) = listener_address(listener)?;
        // Kafka's empty host: every interface.
        let host = if host.is_empty() { "0.0.0.0" } else { host };
        let address: SocketAddr = format!("{host}:{port}").parse().map_err(|_| {
            format!("'{listener}': the host must be an IP address and the port a number")
        })?;
        addresses.push(address.to_string());
    }
    Ok(addresses.join(","))
}

fn advertised_host(value: &str) -> Result<String, String> {
    let first = value.split(',').next().unwrap_or_default().trim();
    let (host, _) = listener_address(first)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("'{first}' names no host"));
    }
    Ok(host.to_string())
}

#[cfg(test)]
#[path = "properties_tests.rs"]
mod tests;
