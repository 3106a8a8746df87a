//! FindCoordinator (key 10), v0-v6: which node coordinates a group. v4
//! answers for a batch of keys at once; v5 only allows the error
//! TRANSACTION_ABORTABLE (KIP-890), which needs transactions; v6 adds the
//! share-group key type (KIP-932), answered INVALID_REQUEST as share groups
//! are not built (as a Kafka with them disabled does).

use std::ops::RangeInclusive;

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::group::coordinator_shard;
use crate::metadata::OFFSETS_TOPIC;
use crate::protocol::ErrorCode;
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 0..=6;

const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;
const KEY_TYPE_SHARE: i8 = 2;

pub async fn handle(
    context: &RequestContext,
    shard: &Shard,
    request: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let version = context.version;
    // A cluster creates the offsets topic on first use, as Kafka does, so
    // its partitions spread over the hosts registered by then (a single
    // host made it at start). A failure shows as COORDINATOR_NOT_AVAILABLE.
    if shard.metadata.snapshot().topic(OFFSETS_TOPIC).is_none() {
        let command = crate::metadata::offsets_topic_command(shard.config.offsets_topic_partitions);
        match shard.metadata.submit(command).await {
            // Too few hosts live for its replicas: expected while a host
            // is down at a cluster's first group; the client retries.
            Err(error) if error.code == ErrorCode::INVALID_REPLICATION_FACTOR => {
                tracing::debug!("cannot create {OFFSETS_TOPIC} yet: {}", error.message)
            }
            Err(error) if error.code != ErrorCode::TOPIC_ALREADY_EXISTS => tracing::error!(
                "shard {}: cannot create {OFFSETS_TOPIC}: {}",
                shard.id,
                error.message
            ),
            _ => {}
        }
    }
    let key_type = if version >= 1 {
        request.key_type
    } else {
        KEY_TYPE_GROUP
    };
    if version >= 4 {
        let coordinators = request
            .coordinator_keys
            .into_iter()
            .map(|key| find(shard, key, key_type))
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    let found = find(shard, request.key, key_type);
    let mut response = FindCoordinatorResponse::default()
        .with_error_code(found.error_code)
        .with_node_id(found.node_id)
        .with_host(found.host)
        .with_port(found.port);
    if version >= 1 {
        response.error_message = found.error_message;
    }
    response
}

fn find(shard: &Shard, key: StrBytes, key_type: i8) -> Coordinator {
    let refuse = |key: StrBytes, code: ErrorCode, message: &str| {
        Coordinator::default()
            .with_key(key)
            .with_node_id(BrokerId(-1))
            .with_host(StrBytes::from_static_str(""))
            .with_port(-1)
            .with_error_code(code.0)
            .with_error_message(Some(StrBytes::from_string(message.to_string())))
    };
    match key_type {
        KEY_TYPE_GROUP => {}
        KEY_TYPE_TRANSACTION => {
            return refuse(
                key,
                ErrorCode::COORDINATOR_NOT_AVAILABLE,
                "corelog has no transaction coordinator",
            )
        }
        KEY_TYPE_SHARE => {
            return refuse(
                key,
                ErrorCode::INVALID_REQUEST,
                "share groups (KIP-932) are not supported",
            )
        }
        _ => {
            return refuse(
                key,
                ErrorCode::INVALID_REQUEST,
                "unknown coordinator key type",
            )
        }
    }
    if key.is_empty() {
        return refuse(key, ErrorCode::INVALID_REQUEST, "the group id is empty");
    }
    let snapshot = shard.metadata.snapshot();
    let Some(node) =
        coordinator_shard(&snapshot, &key).and_then(|(_, broker)| shard.metadata.node(broker))
    else {
        return refuse(
            key,
            ErrorCode::COORDINATOR_NOT_AVAILABLE,
            "the offsets topic is not available",
        );
    };
    // No error: Kafka's message is null (the codec's default would be "",
    // which kafkajs's own tests reject).
    Coordinator::default()
        .with_key(key)
        .with_node_id(BrokerId(node.node_id))
        .with_host(StrBytes::from_string(node.host.clone()))
        .with_port(i32::from(node.port))
        .with_error_message(None)
}
