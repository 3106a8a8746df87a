//! Topic configs by Kafka's names: which are known, what values are legal,
//! and the effective value of each for a topic (its own, else the broker's).
//!
//! Invariants: a config is stored only after [`validate`] accepted its name
//! and value, so reading it back never meets an illegal value; a value that
//! does not parse falls back to the broker's default rather than failing.

use std::collections::BTreeMap;

use crate::limits::{SEGMENT_BYTES_MAX, SEGMENT_BYTES_MIN};
use crate::protocol::batch::TimestampType;
use crate::storage::{FlushPolicy, LogConfig};

/// Broker-wide defaults that topics inherit.
#[derive(Debug, Clone)]
pub struct BrokerDefaults {
    pub segment_bytes: u64,
    pub max_message_bytes: u32,
    /// `log.retention.ms` (-1: keep forever).
    pub retention_ms: i64,
    /// `log.retention.bytes` (-1: no size limit).
    pub retention_bytes: i64,
    /// `log.roll.ms`.
    pub segment_ms: i64,
    /// `log.flush.interval.messages` and `log.flush.interval.ms`; both
    /// unset means durable (synced) appends.
    pub flush_messages: Option<u64>,
    pub flush_ms: Option<u64>,
    /// `min.insync.replicas` (the broker config of the same name).
    pub min_insync_replicas: i32,
    /// `unclean.leader.election.enable` (the broker config of the same
    /// name).
    pub unclean_leader_election: bool,
}

impl BrokerDefaults {
    /// The broker-level value of a topic config the broker's flags set.
    fn value_of(&self, name: &str) -> Option<String> {
        Some(match name {
            "segment.bytes" => self.segment_bytes.to_string(),
            "max.message.bytes" => self.max_message_bytes.to_string(),
            "retention.ms" => self.retention_ms.to_string(),
            "retention.bytes" => self.retention_bytes.to_string(),
            "segment.ms" => self.segment_ms.to_string(),
            "flush.messages" => self.flush_messages?.to_string(),
            "flush.ms" => self.flush_ms?.to_string(),
            "min.insync.replicas" => self.min_insync_replicas.to_string(),
            "unclean.leader.election.enable" => self.unclean_leader_election.to_string(),
            _ => return None,
        })
    }

    /// The broker config a topic config falls back to (Kafka's synonym).
    pub fn synonym(name: &str) -> Option<&'static str> {
        Some(match name {
            "segment.bytes" => "log.segment.bytes",
            "max.message.bytes" => "message.max.bytes",
            "retention.ms" => "log.retention.ms",
            "retention.bytes" => "log.retention.bytes",
            "segment.ms" => "log.roll.ms",
            "flush.messages" => "log.flush.interval.messages",
            "flush.ms" => "log.flush.interval.ms",
            "min.insync.replicas" => "min.insync.replicas",
            "unclean.leader.election.enable" => "unclean.leader.election.enable",
            _ => return None,
        })
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Long {
        min: i64,
    },
    /// An integer within `min..=max`, or exactly `unset` (Kafka's "let the
    /// codec decide" sentinel, as for `compression.gzip.level`).
    Bounded {
        min: i64,
        max: i64,
        unset: i64,
    },
    Double,
    Boolean,
    OneOf(&'static [&'static str]),
    List(&'static [&'static str]),
    /// A Kafka release as `message.format.version` names it: `0.10.0`,
    /// `0.10.0-IV1`, `2.8`, `3.0-IV1`.
    Release,
}

/// Every topic config a Kafka 3.x broker knows, with its default. Configs
/// marked `enforced` shape the log today; the others are stored, validated
/// and reported, and take effect as the features behind them land.
const KNOWN: &[(&str, Kind, &str)] = &[
    (
        "cleanup.policy",
        Kind::List(&["delete", "compact"]),
        "delete",
    ),
    (
        "compression.type",
        Kind::OneOf(&["producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"]),
        "producer",
    ),
    (
        "compression.gzip.level",
        Kind::Bounded {
            min: 1,
            max: 9,
            unset: -1,
        },
        "-1",
    ),
    (
        "compression.lz4.level",
        Kind::Bounded {
            min: 1,
            max: 17,
            unset: 9,
        },
        "9",
    ),
    (
        "compression.zstd.level",
        Kind::Bounded {
            min: -131072,
            max: 22,
            unset: 3,
        },
        "3",
    ),
    ("delete.retention.ms", Kind::Long { min: 0 }, "86400000"),
    ("file.delete.delay.ms", Kind::Long { min: 0 }, "60000"),
    (
        "flush.messages",
        Kind::Long { min: 1 },
        "9223372036854775807",
    ),
    ("flush.ms", Kind::Long { min: 0 }, "9223372036854775807"),
    ("index.interval.bytes", Kind::Long { min: 0 }, "4096"),
    (
        "max.compaction.lag.ms",
        Kind::Long { min: 1 },
        "9223372036854775807",
    ),
    ("max.message.bytes", Kind::Long { min: 0 }, ""),
    ("message.downconversion.enable", Kind::Boolean, "true"),
    ("message.format.version", Kind::Release, "3.0-IV1"),
    (
        "message.timestamp.after.max.ms",
        Kind::Long { min: 0 },
        "9223372036854775807",
    ),
    (
        "message.timestamp.before.max.ms",
        Kind::Long { min: 0 },
        "9223372036854775807",
    ),
    (
        "message.timestamp.difference.max.ms",
        Kind::Long { min: 0 },
        "9223372036854775807",
    ),
    (
        "message.timestamp.type",
        Kind::OneOf(&["CreateTime", "LogAppendTime"]),
        "CreateTime",
    ),
    ("min.cleanable.dirty.ratio", Kind::Double, "0.5"),
    ("min.compaction.lag.ms", Kind::Long { min: 0 }, "0"),
    ("min.insync.replicas", Kind::Long { min: 1 }, "1"),
    ("preallocate", Kind::Boolean, "false"),
    ("retention.bytes", Kind::Long { min: -1 }, "-1"),
    ("retention.ms", Kind::Long { min: -1 }, "604800000"),
    (
        "segment.bytes",
        Kind::Long {
            min: SEGMENT_BYTES_MIN as i64,
        },
        "",
    ),
    ("segment.index.bytes", Kind::Long { min: 4 }, "10485760"),
    ("segment.jitter.ms", Kind::Long { min: 0 }, "0"),
    ("segment.ms", Kind::Long { min: 1 }, "604800000"),
    ("unclean.leader.election.enable", Kind::Boolean, "false"),
];

/// Topic configs Kafka 3.x deprecated and 4.0 removed, with why they
/// change nothing here. Kafka 3.9 still accepts them (with a warning in its
/// log), and tools still set them: librdkafka's test 0092 sets
/// `message.format.version`. corelog accepts, stores and reports them the
/// same way; the caller logs the warning.
const DEPRECATED: &[(&str, &str)] = &[
    (
        "message.format.version",
        "every batch is stored in format v2 (magic 2), whatever this says; Kafka 3.x ignores it too",
    ),
    (
        "message.downconversion.enable",
        "corelog serves Fetch v4 and later only, which never down-convert",
    ),
    (
        "message.timestamp.difference.max.ms",
        "replaced by message.timestamp.before.max.ms and message.timestamp.after.max.ms (KIP-937)",
    ),
];

/// Why a config name is deprecated, if it is.
pub fn deprecation(name: &str) -> Option<&'static str> {
    DEPRECATED
        .iter()
        .find(|(deprecated, _)| *deprecated == name)
        .map(|(_, why)| *why)
}

/// Whether `value` names a Kafka release the way `message.format.version`
/// and `inter.broker.protocol.version` do: `major.minor[.patch[.build]][-IVn]`.
fn is_release(value: &str) -> bool {
    let (numbers, suffix) = match value.split_once("-IV") {
        Some((numbers, iteration)) => (numbers, Some(iteration)),
        None => (value, None),
    };
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_digit());
    let parts: Vec<&str> = numbers.split('.').collect();
    (2..=4).contains(&parts.len())
        && parts.iter().all(|part| digits(part))
        && suffix.is_none_or(digits)
}

/// Checks one config name and value; the error text goes to the client.
pub fn validate(name: &str, value: &str) -> Result<(), String> {
    let Some(&(_, kind, _)) = KNOWN.iter().find(|(known, _, _)| *known == name) else {
        return Err(format!("Unknown topic config name: {name}"));
    };
    let invalid = || format!("Invalid value {value} for configuration {name}");
    match kind {
        Kind::Long { min } => {
            let parsed: i64 = value.trim().parse().map_err(|_| invalid())?;
            if parsed < min {
                return Err(format!(
                    "Invalid value {value} for configuration {name}: Value must be at least {min}"
                ));
            }
            if name == "segment.bytes" && parsed as u64 > SEGMENT_BYTES_MAX {
                return Err(format!(
                    "Invalid value {value} for configuration {name}: at most {SEGMENT_BYTES_MAX}"
                ));
            }
        }
        Kind::Bounded { min, max, unset } => {
            let parsed: i64 = value.trim().parse().map_err(|_| invalid())?;
            if parsed != unset && !(min..=max).contains(&parsed) {
                return Err(format!(
                    "Invalid value {value} for configuration {name}: Value must be between {min} and {max}"
                ));
            }
        }
        Kind::Double => {
            value.trim().parse::<f64>().map_err(|_| invalid())?;
        }
        Kind::Release => {
            if !is_release(value.trim()) {
                return Err(format!(
                    "Invalid value {value} for configuration {name}: Version {value} is not a valid version"
                ));
            }
        }
        Kind::Boolean => {
            if !matches!(value.trim(), "true" | "false") {
                return Err(invalid());
            }
        }
        Kind::OneOf(choices) => {
            if !choices.contains(&value.trim()) {
                return Err(invalid());
            }
        }
        Kind::List(choices) => {
            for item in value.split(',') {
                if !choices.contains(&item.trim()) {
                    return Err(invalid());
                }
            }
        }
    }
    if name == "cleanup.policy" && value.contains("compact") {
        return Err(
            "cleanup.policy=compact is not supported by corelog yet (log compaction is not built)"
                .into(),
        );
    }
    Ok(())
}

/// Where a config's effective value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Set on the topic.
    Topic,
    /// From a broker flag (`--log-retention-ms` and the like).
    Broker,
    /// Kafka's default.
    Default,
}

/// Kafka's `ConfigSource` number for a source.
pub fn source_code(source: Source) -> i8 {
    match source {
        Source::Topic => 1,   // DYNAMIC_TOPIC_CONFIG
        Source::Broker => 4,  // STATIC_BROKER_CONFIG
        Source::Default => 5, // DEFAULT_CONFIG
    }
}

/// The value of every known config for a topic, and where it comes from.
pub fn effective(
    configs: &BTreeMap<String, String>,
    defaults: &BrokerDefaults,
) -> Vec<(String, String, Source)> {
    KNOWN
        .iter()
        .map(|&(name, _, default)| match configs.get(name) {
            Some(value) => (name.to_string(), value.clone(), Source::Topic),
            None => match defaults.value_of(name) {
                Some(value) => (name.to_string(), value, Source::Broker),
                None => (name.to_string(), default.to_string(), Source::Default),
            },
        })
        .collect()
}

/// Kafka's default of a known config (empty where the broker decides).
pub fn default_of(name: &str) -> Option<&'static str> {
    KNOWN
        .iter()
        .find(|(known, _, _)| *known == name)
        .map(|(_, _, default)| *default)
}

/// Whether a config holds a list (AppendOps and SubtractOps apply to it).
pub fn is_list(name: &str) -> bool {
    KNOWN
        .iter()
        .any(|(known, kind, _)| *known == name && matches!(kind, Kind::List(_)))
}

/// Kafka's type name of a config, for DescribeConfigs v3+.
pub fn type_of(name: &str) -> i8 {
    // BOOLEAN 1, STRING 2, INT 3, SHORT 4, LONG 5, DOUBLE 6, LIST 7.
    match KNOWN
        .iter()
        .find(|(known, _, _)| *known == name)
        .map(|(_, kind, _)| *kind)
    {
        Some(Kind::Long { .. }) => 5,
        Some(Kind::Bounded { .. }) => 3,
        Some(Kind::Double) => 6,
        Some(Kind::Boolean) => 1,
        Some(Kind::List(_)) => 7,
        Some(Kind::OneOf(_)) | Some(Kind::Release) => 2,
        None => 0,
    }
}

/// Kafka's defaults for `flush.messages` and `flush.ms` (never sync) are
/// read as "not set": corelog then syncs every append (its durable default).
/// `flush.messages=1` is durable too; anything else is the interval mode.
fn flush_policy(messages: Option<u64>, milliseconds: Option<u64>) -> FlushPolicy {
    let never = i64::MAX as u64;
    let messages = messages.filter(|&value| value < never);
    let milliseconds = milliseconds.filter(|&value| value < never);
    match (messages, milliseconds) {
        (None, None) | (Some(1), _) => FlushPolicy::Durable,
        (messages, milliseconds) => FlushPolicy::Interval {
            messages: messages.unwrap_or(never),
            milliseconds: milliseconds.unwrap_or(never),
        },
    }
}

/// The log settings a topic's configs select.
pub fn log_config(configs: &BTreeMap<String, String>, defaults: &BrokerDefaults) -> LogConfig {
    let number = |name: &str| {
        configs
            .get(name)
            .and_then(|value| value.trim().parse::<u64>().ok())
    };
    let signed = |name: &str| {
        configs
            .get(name)
            .and_then(|value| value.trim().parse::<i64>().ok())
    };
    LogConfig {
        segment_bytes: number("segment.bytes").unwrap_or(defaults.segment_bytes),
        max_message_bytes: number("max.message.bytes")
            .unwrap_or(u64::from(defaults.max_message_bytes)) as usize,
        retention_ms: signed("retention.ms").unwrap_or(defaults.retention_ms),
        retention_bytes: signed("retention.bytes").unwrap_or(defaults.retention_bytes),
        segment_ms: signed("segment.ms").unwrap_or(defaults.segment_ms),
        flush: flush_policy(
            number("flush.messages").or(defaults.flush_messages),
            number("flush.ms").or(defaults.flush_ms),
        ),
        timestamp_type: match configs.get("message.timestamp.type").map(String::as_str) {
            Some("LogAppendTime") => TimestampType::LogAppendTime,
            _ => TimestampType::CreateTime,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_known_configs() {
        assert!(validate("retention.ms", "1000").is_ok());
        assert!(validate("retention.ms", "-2").is_err());
        assert!(validate("segment.bytes", "10").is_err());
        assert!(validate("message.timestamp.type", "LogAppendTime").is_ok());
        assert!(validate("message.timestamp.type", "Whenever").is_err());
        assert!(validate("no.such.config", "1").is_err());
        assert!(validate("cleanup.policy", "compact").is_err());
        assert!(validate("compression.gzip.level", "-1").is_ok());
        assert!(validate("compression.gzip.level", "10").is_err());
    }

    #[test]
    fn deprecated_configs_are_accepted_and_known_as_deprecated() {
        for value in ["0.10.0", "0.10.0-IV1", "2.8", "3.0-IV1", "0.8.2.1"] {
            assert!(validate("message.format.version", value).is_ok(), "{value}");
        }
        for value in ["", "latest", "3", "3.0-IV", "3.x"] {
            assert!(
                validate("message.format.version", value).is_err(),
                "{value}"
            );
        }
        assert!(validate("message.downconversion.enable", "false").is_ok());
        assert!(validate("message.timestamp.difference.max.ms", "1000").is_ok());
        assert!(deprecation("message.format.version").is_some());
        assert!(deprecation("message.downconversion.enable").is_some());
        assert!(deprecation("retention.ms").is_none());
        assert!(DEPRECATED
            .iter()
            .all(|(name, _)| default_of(name).is_some()));
    }

    #[test]
    fn log_config_follows_topic_then_broker() {
        let defaults = BrokerDefaults {
            segment_bytes: 1 << 30,
            max_message_bytes: 1 << 20,
            retention_ms: 604_800_000,
            retention_bytes: -1,
            segment_ms: 604_800_000,
            flush_messages: None,
            flush_ms: None,
            min_insync_replicas: 1,
            unclean_leader_election: false,
        };
        let mut configs = BTreeMap::new();
        assert_eq!(log_config(&configs, &defaults).segment_bytes, 1 << 30);
        configs.insert("segment.bytes".to_string(), "8192".to_string());
        configs.insert(
            "message.timestamp.type".to_string(),
            "LogAppendTime".to_string(),
        );
        configs.insert("retention.bytes".to_string(), "100000".to_string());
        let config = log_config(&configs, &defaults);
        assert_eq!(config.segment_bytes, 8192);
        assert_eq!(
            (config.retention_bytes, config.retention_ms),
            (100_000, 604_800_000)
        );
        assert_eq!(config.flush, FlushPolicy::Durable);
        configs.insert("flush.ms".to_string(), "1000".to_string());
        assert_eq!(
            log_config(&configs, &defaults).flush,
            FlushPolicy::Interval {
                messages: i64::MAX as u64,
                milliseconds: 1000
            }
        );
        configs.insert("flush.messages".to_string(), "1".to_string());
        assert_eq!(log_config(&configs, &defaults).flush, FlushPolicy::Durable);
        assert_eq!(config.timestamp_type, TimestampType::LogAppendTime);
    }
}
