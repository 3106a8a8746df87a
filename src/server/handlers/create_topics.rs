//! CreateTopics (key 19), v0-v7.
//!
//! Versions, from Kafka 3.9's schema: v1 adds `validate_only` and a
//! per-topic error message, v2 the throttle time, v4 lets partitions and
//! replication factor default (-1), v5 is flexible and returns the
//! created topic's configs, v7 its id. v0-v1 (Kafka 4.0 dropped them, so
//! the codec does not know them) are read and written here: v1's request
//! has v2's layout, v0's lacks `validate_only`; their responses lack the
//! throttle time (and v0 the error message).
//!
//! Invariants: one result per requested topic, in request order; a topic
//! is created only through the controller; every entry of a name listed
//! twice is refused, and so is an explicit assignment with more partitions
//! than a partition count may ask for.

use std::collections::{BTreeMap, HashSet};
use std::ops::RangeInclusive;

use bytes::BufMut;
use kafka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{BrokerId, CreateTopicsRequest, CreateTopicsResponse, TopicName};
use kafka_protocol::protocol::buf::ByteBuf;
use kafka_protocol::protocol::{Decodable, StrBytes};

use super::legacy::{self, CodecResult, Reader};
use super::RequestContext;
use crate::limits::PARTITIONS_PER_TOPIC_MAX;
use crate::metadata::{topic_config, Command, TopicMetadata};
use crate::protocol::ErrorCode;
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 0..=7;

/// The oldest version the codec crate reads and writes.
const CODEC_VERSION_MIN: i16 = 2;

/// A CreateTopics request of any supported version.
#[derive(Debug, Default)]
pub struct Request(pub CreateTopicsRequest);

impl Decodable for Request {
    fn decode<B: ByteBuf>(buf: &mut B, version: i16) -> CodecResult<Self> {
        if version >= 1 {
            // v1's request is v2's.
            return Ok(Request(CreateTopicsRequest::decode(
                buf,
                version.max(CODEC_VERSION_MIN),
            )?));
        }
        let mut reader = Reader::new(buf);
        let mut request = CreateTopicsRequest::default();
        // A topic is at least its name length, partitions, replication
        // factor and two array counts.
        let topic_count = reader.array_length(16)?;
        for _ in 0..topic_count {
            let mut topic = CreatableTopic::default()
                .with_name(TopicName(reader.string()?))
                .with_num_partitions(reader.i32()?)
                .with_replication_factor(reader.i16()?);
            let assignment_count = reader.array_length(8)?;
            for _ in 0..assignment_count {
                let partition_index = reader.i32()?;
                let broker_count = reader.array_length(4)?;
                let mut broker_ids = Vec::with_capacity(broker_count);
                for _ in 0..broker_count {
                    broker_ids.push(BrokerId(reader.i32()?));
                }
                topic.assignments.push(
                    CreatableReplicaAssignment::default()
                        .with_partition_index(partition_index)
                        .with_broker_ids(broker_ids),
                );
            }
            let config_count = reader.array_length(4)?;
            for _ in 0..config_count {
                let name = reader.string()?;
                let value = reader.nullable_string()?;
                topic.configs.push(
                    CreatableTopicConfig::default()
                        .with_name(name)
                        .with_value(value),
                );
            }
            request.topics.push(topic);
        }
        request.timeout_ms = reader.i32()?;
        Ok(Request(request))
    }
}

/// A CreateTopics response of any supported version.
#[derive(Debug, Default)]
pub struct Response(pub CreateTopicsResponse);

impl Response {
    /// v0-v1: topics [name, error code, (v1) error message].
    fn encode_legacy(&self, out: &mut impl BufMut, version: i16) {
        legacy::put_array_length(out, self.0.topics.len());
        for topic in &self.0.topics {
            legacy::put_string(out, &topic.name.0);
            out.put_i16(topic.error_code);
            if version >= 1 {
                legacy::put_nullable_string(out, topic.error_message.as_deref());
            }
        }
    }
}

legacy::encodable_by_version!(Response, CODEC_VERSION_MIN, 0, encode_legacy);

pub async fn handle(context: &RequestContext, shard: &Shard, request: Request) -> Response {
    let version = context.version;
    Response(answer(shard, request.0, version).await)
}

async fn answer(shard: &Shard, request: CreateTopicsRequest, version: i16) -> CreateTopicsResponse {
    let mut results = Vec::with_capacity(request.topics.len());
    let duplicated = duplicated_names(&request.topics);
    for topic in request.topics {
        let name = topic.name.0.to_string();
        // No error: a null message, as Kafka sends (not the codec's "").
        let mut result = CreatableTopicResult::default()
            .with_name(topic.name.clone())
            .with_error_message(None);
        if version >= 5 {
            result.num_partitions = -1;
            result.replication_factor = -1;
        }
        if duplicated.contains(&name) {
            results.push(failed(
                result,
                ErrorCode::INVALID_REQUEST,
                format!(
                    "Create topics request from client contains multiple entries for topic {name}"
                ),
            ));
            continue;
        }
        let configs = requested_configs(&topic);
        super::warn_deprecated_configs(shard.id, &name, configs.keys().map(String::as_str));
        if topic.replication_factor < -1 || topic.replication_factor == 0 {
            results.push(failed(
                result,
                ErrorCode::INVALID_REPLICATION_FACTOR,
                "Replication factor must be larger than 0, or -1 to use the default value.".into(),
            ));
            continue;
        }
        let assignment = match explicit_assignment(&topic) {
            Ok(assignment) => assignment,
            Err((code, message)) => {
                results.push(failed(result, code, message));
                continue;
            }
        };
        let command = Command::CreateTopic {
            name: name.clone(),
            partitions: topic.num_partitions,
            replication_factor: topic.replication_factor,
            assignment,
            configs,
            validate_only: request.validate_only,
        };
        results.push(match shard.metadata.submit(command).await {
            Ok(Some(created)) => created_result(shard, result, &created, version),
            Ok(None) => failed(
                result,
                ErrorCode::UNKNOWN_SERVER_ERROR,
                "topic vanished while being created".into(),
            ),
            Err(refused) => failed(result, refused.code, refused.message),
        });
    }
    CreateTopicsResponse::default().with_topics(results)
}

/// The names listed more than once: Kafka refuses each of their entries.
fn duplicated_names(topics: &[CreatableTopic]) -> HashSet<String> {
    let mut seen = HashSet::new();
    topics
        .iter()
        .map(|topic| topic.name.0.to_string())
        .filter(|name| !seen.insert(name.clone()))
        .collect()
}

fn failed(
    mut result: CreatableTopicResult,
    code: ErrorCode,
    message: String,
) -> CreatableTopicResult {
    result.error_code = code.0;
    result.error_message = Some(StrBytes::from_string(message));
    result
}

/// The configs the request sets (a null value sets nothing).
fn requested_configs(topic: &CreatableTopic) -> BTreeMap<String, String> {
    let mut configs = BTreeMap::new();
    for config in &topic.configs {
        if let Some(value) = &config.value {
            configs.insert(config.name.to_string(), value.to_string());
        }
    }
    configs
}

/// The replicas (broker ids) of each partition when the request assigns
/// them (`None` when it does not): partitions numbered from 0, no more than
/// a partition count may ask for, no negative broker id. Whether the
/// brokers exist and sit on distinct hosts is the controller's to check.
fn explicit_assignment(
    topic: &CreatableTopic,
) -> Result<Option<Vec<Vec<u32>>>, (ErrorCode, String)> {
    if topic.assignments.is_empty() {
        return Ok(None);
    }
    if topic.assignments.len() > PARTITIONS_PER_TOPIC_MAX as usize {
        // The same cap, and answer, as a partition count.
        let count = topic.assignments.len();
        return Err((
            ErrorCode::INVALID_PARTITIONS,
            format!("Number of partitions must be between 1 and {PARTITIONS_PER_TOPIC_MAX}, not {count}."),
        ));
    }
    let mut assignments = topic.assignments.clone();
    assignments.sort_by_key(|assignment| assignment.partition_index);
    let consecutive = assignments
        .iter()
        .enumerate()
        .all(|(index, assignment)| assignment.partition_index == index as i32);
    let brokers_named = assignments.iter().all(|assignment| {
        !assignment.broker_ids.is_empty() && assignment.broker_ids.iter().all(|id| id.0 >= 0)
    });
    if !consecutive || !brokers_named {
        return Err((
            ErrorCode::INVALID_REPLICA_ASSIGNMENT,
            "Each partition needs one or more replicas, partitions numbered from 0".into(),
        ));
    }
    Ok(Some(
        assignments
            .iter()
            .map(|assignment| assignment.broker_ids.iter().map(|id| id.0 as u32).collect())
            .collect(),
    ))
}

/// A created topic's result: v5+ say its partitions, replication factor
/// and effective configs, v7+ its id.
fn created_result(
    shard: &Shard,
    mut result: CreatableTopicResult,
    created: &TopicMetadata,
    version: i16,
) -> CreatableTopicResult {
    if version >= 5 {
        result.num_partitions = created.placement.len() as i32;
        result.replication_factor = created.placement[0].replicas.len() as i16;
        result.configs = Some(
            topic_config::effective(&created.configs, &shard.config.topic_defaults)
                .into_iter()
                .map(|(name, value, source)| {
                    CreatableTopicConfigs::default()
                        .with_name(StrBytes::from_string(name))
                        .with_value(Some(StrBytes::from_string(value)))
                        .with_config_source(topic_config::source_code(source))
                })
                .collect(),
        );
    }
    if version >= 7 {
        result.topic_id = uuid::Uuid::from_bytes(created.id);
    }
    result
}
