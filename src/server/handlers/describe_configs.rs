//! DescribeConfigs (key 32), v0-v4: a topic's configs (each with its value,
//! where it comes from, and its synonyms) or a node's broker configs.
//!
//! v1 adds synonyms and replaces v0's `is_default` with the config source,
//! v3 adds config types (and documentation, not sent), v4 is flexible. v0
//! (Kafka 4.0 dropped it, so the codec does not know it) is read and
//! written here; its `is_default` is true for a value that is Kafka's
//! default (Kafka 3.9 itself leaves it false).
//!
//! Invariants: one result per requested resource, in request order; only
//! the configs asked for (all when none are named) are listed; broker
//! configs are reported read-only, as fixed at start.

use std::ops::RangeInclusive;

use bytes::BufMut;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::buf::ByteBuf;
use kafka_protocol::protocol::{Decodable, StrBytes};

use super::legacy::{self, CodecResult, Reader};
use super::RequestContext;

use crate::config::Config;
use crate::metadata::topic_config::{self, BrokerDefaults, Source};
use crate::protocol::ErrorCode;
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 0..=4;

/// Kafka's `ConfigSource` for a value nobody set.
const DEFAULT_CONFIG: i8 = 5;

/// A DescribeConfigs request of any supported version.
#[derive(Debug, Default)]
pub struct Request(pub DescribeConfigsRequest);

impl Decodable for Request {
    fn decode<B: ByteBuf>(buf: &mut B, version: i16) -> CodecResult<Self> {
        if version >= 1 {
            return Ok(Request(DescribeConfigsRequest::decode(buf, version)?));
        }
        let mut reader = Reader::new(buf);
        let mut request = DescribeConfigsRequest::default();
        // A resource: its type, name length and key count.
        let resource_count = reader.array_length(7)?;
        for _ in 0..resource_count {
            let resource_type = reader.i8()?;
            let resource_name = reader.string()?;
            let keys = match reader.nullable_array_length(2)? {
                None => None,
                Some(count) => {
                    let mut keys = Vec::with_capacity(count);
                    for _ in 0..count {
                        keys.push(reader.string()?);
                    }
                    Some(keys)
                }
            };
            request.resources.push(
                DescribeConfigsResource::default()
                    .with_resource_type(resource_type)
                    .with_resource_name(resource_name)
                    .with_configuration_keys(keys),
            );
        }
        Ok(Request(request))
    }
}

/// A DescribeConfigs response of any supported version.
#[derive(Debug, Default)]
pub struct Response(pub DescribeConfigsResponse);

impl Response {
    /// v0: throttle time, results [error, message, type, name, configs
    /// [name, value, read only, is default, is sensitive]].
    fn encode_v0(&self, out: &mut impl BufMut, _version: i16) {
        out.put_i32(self.0.throttle_time_ms);
        legacy::put_array_length(out, self.0.results.len());
        for result in &self.0.results {
            out.put_i16(result.error_code);
            legacy::put_nullable_string(out, result.error_message.as_deref());
            out.put_i8(result.resource_type);
            legacy::put_string(out, &result.resource_name);
            legacy::put_array_length(out, result.configs.len());
            for config in &result.configs {
                legacy::put_string(out, &config.name);
                legacy::put_nullable_string(out, config.value.as_deref());
                out.put_u8(u8::from(config.read_only));
                out.put_u8(u8::from(config.config_source == DEFAULT_CONFIG));
                out.put_u8(u8::from(config.is_sensitive));
            }
        }
    }
}

legacy::encodable_by_version!(Response, 1, 0, encode_v0);

pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;

/// Kafka's `ConfigSource` for broker settings fixed at start.
const STATIC_BROKER_CONFIG: i8 = 4;
const CONFIG_TYPE_STRING: i8 = 2;

pub async fn handle(context: &RequestContext, shard: &Shard, request: Request) -> Response {
    let version = context.version;
    Response(answer(shard, request.0, version))
}

fn answer(shard: &Shard, request: DescribeConfigsRequest, version: i16) -> DescribeConfigsResponse {
    let results = request
        .resources
        .into_iter()
        .map(|resource| {
            // Null (and an empty list, which some clients send) means all.
            let wanted = |name: &str| {
                resource.configuration_keys.as_ref().is_none_or(|keys| {
                    keys.is_empty() || keys.iter().any(|key| key.as_str() == name)
                })
            };
            let entries = match resource.resource_type {
                RESOURCE_TOPIC => {
                    topic_entries(shard, &resource.resource_name, request.include_synonyms)
                }
                RESOURCE_BROKER => broker_entries(shard, &resource.resource_name),
                _ => Err((
                    ErrorCode::INVALID_REQUEST,
                    "unsupported resource type".to_string(),
                )),
            };
            // No error: a null message, as Kafka sends (not the codec's "").
            let result = DescribeConfigsResult::default()
                .with_error_message(None)
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            match entries {
                Ok(entries) => result.with_configs(
                    entries
                        .into_iter()
                        .filter(|entry| wanted(&entry.name))
                        .map(|mut entry| {
                            if version < 3 {
                                entry.config_type = 0;
                            }
                            entry
                        })
                        .collect(),
                ),
                Err((code, message)) => result
                    .with_error_code(code.0)
                    .with_error_message(Some(StrBytes::from_string(message))),
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

fn text(value: impl Into<String>) -> StrBytes {
    StrBytes::from_string(value.into())
}

fn topic_entries(
    shard: &Shard,
    name: &str,
    include_synonyms: bool,
) -> Result<Vec<DescribeConfigsResourceResult>, (ErrorCode, String)> {
    let snapshot = shard.metadata.snapshot();
    let Some(topic) = snapshot.topic(name) else {
        return Err((
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
            format!("Topic '{name}' does not exist."),
        ));
    };
    let defaults: &BrokerDefaults = &shard.config.topic_defaults;
    Ok(topic_config::effective(&topic.configs, defaults)
        .into_iter()
        .map(|(config, value, source)| {
            let mut synonyms = Vec::new();
            if include_synonyms {
                if source == Source::Topic {
                    synonyms.push(
                        DescribeConfigsSynonym::default()
                            .with_name(text(config.clone()))
                            .with_value(Some(text(value.clone())))
                            .with_source(topic_config::source_code(Source::Topic)),
                    );
                }
                let effective = topic_config::effective(&Default::default(), defaults);
                let fallback = effective.iter().find(|(name, _, _)| *name == config);
                match (BrokerDefaults::synonym(&config), fallback) {
                    (Some(broker_name), Some((_, broker_value, _))) => synonyms.push(
                        DescribeConfigsSynonym::default()
                            .with_name(text(broker_name))
                            .with_value(Some(text(broker_value.clone())))
                            .with_source(topic_config::source_code(Source::Broker)),
                    ),
                    _ => synonyms.push(
                        DescribeConfigsSynonym::default()
                            .with_name(text(config.clone()))
                            .with_value(Some(text(
                                topic_config::default_of(&config).unwrap_or_default(),
                            )))
                            .with_source(topic_config::source_code(Source::Default)),
                    ),
                }
            }
            DescribeConfigsResourceResult::default()
                .with_config_type(topic_config::type_of(&config))
                .with_name(text(config))
                .with_value(Some(text(value)))
                .with_config_source(topic_config::source_code(source))
                .with_synonyms(synonyms)
        })
        .collect())
}

fn broker_entries(
    shard: &Shard,
    name: &str,
) -> Result<Vec<DescribeConfigsResourceResult>, (ErrorCode, String)> {
    let node_known = name.is_empty()
        || name
            .parse::<i32>()
            .is_ok_and(|id| shard.metadata.nodes().iter().any(|node| node.node_id == id));
    if !node_known {
        return Err((
            ErrorCode::INVALID_REQUEST,
            format!("Unknown broker id {name}"),
        ));
    }
    Ok(broker_settings(&shard.config, name)
        .into_iter()
        .map(|(key, value)| {
            DescribeConfigsResourceResult::default()
                .with_name(text(key))
                .with_value(Some(text(value)))
                .with_read_only(true)
                .with_config_source(STATIC_BROKER_CONFIG)
                .with_config_type(CONFIG_TYPE_STRING)
        })
        .collect())
}

/// The broker settings DescribeConfigs reports (all fixed at start), by
/// Kafka's names.
fn broker_settings(config: &Config, name: &str) -> Vec<(&'static str, String)> {
    let defaults = &config.topic_defaults;
    vec![
        ("broker.id", name.to_string()),
        ("log.dirs", config.data_dir.display().to_string()),
        ("num.partitions", config.num_partitions.to_string()),
        // Clients (kafkajs's admin) read these when they create topics.
        (
            "default.replication.factor",
            config.default_replication_factor.to_string(),
        ),
        (
            "min.insync.replicas",
            defaults.min_insync_replicas.to_string(),
        ),
        (
            "unclean.leader.election.enable",
            defaults.unclean_leader_election.to_string(),
        ),
        (
            "replica.lag.time.max.ms",
            config.replica_lag_time_max_milliseconds.to_string(),
        ),
        // Capped at the hosts the cluster has (one on a single host).
        (
            "offsets.topic.replication.factor",
            crate::limits::OFFSETS_TOPIC_REPLICATION_FACTOR.to_string(),
        ),
        (
            "queued.max.request.bytes",
            config.queued_request_bytes_max.to_string(),
        ),
        (
            "auto.create.topics.enable",
            config.auto_create_topics.to_string(),
        ),
        ("log.segment.bytes", defaults.segment_bytes.to_string()),
        ("message.max.bytes", defaults.max_message_bytes.to_string()),
        ("log.retention.ms", defaults.retention_ms.to_string()),
        ("log.retention.bytes", defaults.retention_bytes.to_string()),
        ("log.roll.ms", defaults.segment_ms.to_string()),
        (
            "log.retention.check.interval.ms",
            config.retention_check_interval_milliseconds.to_string(),
        ),
        (
            "socket.request.max.bytes",
            config.request_bytes_max.to_string(),
        ),
        (
            "offsets.topic.num.partitions",
            config.offsets_topic_partitions.to_string(),
        ),
        (
            "group.min.session.timeout.ms",
            config.group_session_timeout_min_milliseconds.to_string(),
        ),
        (
            "group.max.session.timeout.ms",
            config.group_session_timeout_max_milliseconds.to_string(),
        ),
        (
            "group.initial.rebalance.delay.ms",
            config
                .group_initial_rebalance_delay_milliseconds
                .to_string(),
        ),
    ]
}
