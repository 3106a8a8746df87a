//! Metadata (key 3), v0-v13: nodes (one per shard), topics and partition
//! leaders, auto-creating unknown topics when `auto.create.topics.enable`.
//! v10+ report topic ids and v12 finds topics by id; v13 (Kafka 4.0,
//! KIP-1102) adds a top-level error code, which Kafka sets only to ask a
//! client to rebootstrap, so it is always 0 here.
//!
//! Invariants: one broker per shard; a topic is created here only when the
//! broker allows auto-creation and the request does (v4+), and only through
//! the controller; a topic that is not described carries an error code.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::sync::Arc;

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::metadata::{state::validate_topic_name, Command, TopicMetadata};
use crate::protocol::ErrorCode;
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 0..=13;

/// Kafka's "not requested" value for authorized operations.
const AUTHORIZED_OPERATIONS_UNSET: i32 = i32::MIN;

/// Kafka's AclOperation codes, as bits of an authorized-operations set.
const fn operations(codes: &[u8]) -> i32 {
    let mut bits = 0;
    let mut index = 0;
    while index < codes.len() {
        bits |= 1 << codes[index];
        index += 1;
    }
    bits
}

/// With no authorizer, Kafka allows every operation a resource has: for a
/// topic READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS and
/// ALTER_CONFIGS; for the cluster CREATE, ALTER, DESCRIBE, CLUSTER_ACTION,
/// DESCRIBE_CONFIGS, ALTER_CONFIGS and IDEMPOTENT_WRITE. corelog has no
/// authorizer yet, so it answers the same when a client asks.
pub const TOPIC_OPERATIONS_ALL: i32 = operations(&[3, 4, 5, 6, 7, 8, 10, 11]);
pub const CLUSTER_OPERATIONS_ALL: i32 = operations(&[5, 7, 8, 9, 10, 11, 12]);
const _: () = assert!(TOPIC_OPERATIONS_ALL == 3576 && CLUSTER_OPERATIONS_ALL == 8096);

pub async fn handle(
    context: &RequestContext,
    shard: &Shard,
    request: MetadataRequest,
) -> MetadataResponse {
    let version = context.version;
    // v0 asks for every topic with an empty list; v1+ with a null one.
    let all_topics = match &request.topics {
        None => true,
        Some(topics) => version == 0 && topics.is_empty(),
    };
    // Before v4 there is no flag and auto-creation follows the broker config.
    let allow_auto_create =
        shard.config.auto_create_topics && (version < 4 || request.allow_auto_topic_creation);

    let mut topics = Vec::new();
    if all_topics {
        for topic in shard.metadata.snapshot().topics.values() {
            topics.push(describe(shard, topic, version));
        }
    } else {
        for requested in request.topics.unwrap_or_default() {
            topics.push(requested_topic(shard, requested, version, allow_auto_create).await);
        }
    }
    if version >= 8 && request.include_topic_authorized_operations {
        for topic in topics.iter_mut().filter(|topic| topic.error_code == 0) {
            topic.topic_authorized_operations = TOPIC_OPERATIONS_ALL;
        }
    }
    let mut response = MetadataResponse::default()
        .with_brokers(brokers(shard))
        .with_topics(topics);
    if (8..=10).contains(&version) && request.include_cluster_authorized_operations {
        response.cluster_authorized_operations = CLUSTER_OPERATIONS_ALL;
    }
    if version >= 1 {
        // Any live broker takes admin requests (they reach the quorum
        // through this host's controller); the lowest is as good as any.
        response.controller_id = BrokerId(
            shard
                .metadata
                .nodes()
                .first()
                .map_or(-1, |node| node.node_id),
        );
    }
    if version >= 2 {
        response.cluster_id = Some(StrBytes::from_string(
            shard.metadata.cluster_id().to_string(),
        ));
    }
    response
}

/// One requested topic, by name or (v12+) by id: described if it exists,
/// created first if it may be, an error otherwise.
async fn requested_topic(
    shard: &Shard,
    requested: MetadataRequestTopic,
    version: i16,
    allow_auto_create: bool,
) -> MetadataResponseTopic {
    let snapshot = shard.metadata.snapshot();
    let name = match &requested.name {
        Some(name) => name.0.to_string(),
        None => match snapshot.topic_by_id(requested.topic_id.as_bytes()) {
            Some(topic) => topic.name.clone(),
            None => return error_topic(None, requested.topic_id, ErrorCode::UNKNOWN_TOPIC_ID),
        },
    };
    if let Some(topic) = snapshot.topic(&name) {
        return describe(shard, topic, version);
    }
    if let Err(refused) = validate_topic_name(&name) {
        return error_topic(Some(&name), uuid::Uuid::nil(), refused.code);
    }
    if !allow_auto_create {
        return error_topic(
            Some(&name),
            uuid::Uuid::nil(),
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
        );
    }
    drop(snapshot);
    auto_create(shard, name, version).await
}

/// Creates a topic a client asked for with the broker's defaults, and
/// describes it.
async fn auto_create(shard: &Shard, name: String, version: i16) -> MetadataResponseTopic {
    // The offsets topic (missing only in a cluster that has not used
    // groups yet) is made as FindCoordinator makes it, never with the
    // defaults of an ordinary topic.
    let command = if crate::metadata::is_internal(&name) {
        crate::metadata::offsets_topic_command(shard.config.offsets_topic_partitions)
    } else {
        Command::CreateTopic {
            name: name.clone(),
            partitions: -1,
            replication_factor:
                crate::metadata::placement::REPLICATION_FACTOR_DEFAULT_UP_TO_LIVE_HOSTS,
            assignment: None,
            configs: BTreeMap::new(),
            validate_only: false,
        }
    };
    let created = shard.metadata.submit(command).await;
    // A concurrent creation of the same topic is as good as ours.
    match created
        .ok()
        .flatten()
        .or_else(|| shard.metadata.snapshot().topic(&name).cloned())
    {
        Some(topic) => describe(shard, &topic, version),
        None => error_topic(
            Some(&name),
            uuid::Uuid::nil(),
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
        ),
    }
}

/// One broker per shard.
fn brokers(shard: &Shard) -> Vec<MetadataResponseBroker> {
    shard
        .metadata
        .nodes()
        .iter()
        .map(|node| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(node.node_id))
                .with_host(StrBytes::from_string(node.host.clone()))
                .with_port(i32::from(node.port))
        })
        .collect()
}

fn error_topic(name: Option<&str>, topic_id: uuid::Uuid, code: ErrorCode) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_error_code(code.0)
        .with_name(name.map(|name| TopicName(StrBytes::from_string(name.to_string()))))
        .with_topic_id(topic_id)
        .with_topic_authorized_operations(AUTHORIZED_OPERATIONS_UNSET)
}

fn describe(shard: &Shard, topic: &Arc<TopicMetadata>, version: i16) -> MetadataResponseTopic {
    let snapshot = shard.metadata.snapshot();
    let partitions = topic
        .placement
        .iter()
        .enumerate()
        .map(|(index, placement)| {
            let replicas: Vec<BrokerId> = placement
                .replicas
                .iter()
                .map(|&replica| BrokerId(replica as i32))
                .collect();
            // Every replica is in sync: there is one. A leader on a
            // fenced host is offline: no leader, LEADER_NOT_AVAILABLE, as
            // Kafka reports a partition whose only replica is down.
            let online = snapshot.broker_is_live(placement.leader);
            let mut partition = MetadataResponsePartition::default()
                .with_partition_index(index as i32)
                .with_leader_id(BrokerId(if online { placement.leader as i32 } else { -1 }))
                .with_replica_nodes(replicas.clone())
                .with_isr_nodes(if online { replicas.clone() } else { Vec::new() });
            if !online {
                partition.error_code = ErrorCode::LEADER_NOT_AVAILABLE.0;
                if version >= 5 {
                    partition.offline_replicas = replicas;
                }
            }
            if version >= 7 {
                partition.leader_epoch = placement.leader_epoch;
            }
            partition
        })
        .collect();
    let mut described = MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(topic.name.clone()))))
        .with_partitions(partitions)
        .with_topic_authorized_operations(AUTHORIZED_OPERATIONS_UNSET);
    if version >= 10 {
        described.topic_id = uuid::Uuid::from_bytes(topic.id);
    }
    if version >= 1 {
        described.is_internal = crate::metadata::is_internal(&topic.name);
    }
    described
}
