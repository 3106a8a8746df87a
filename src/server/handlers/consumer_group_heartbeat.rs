//! ConsumerGroupHeartbeat (key 68), v0-v1: a member of a consumer-protocol
//! group (KIP-848) joins, stays, reconciles and leaves through this one
//! request; the coordinator assigns partitions itself (see
//! `group::consumer_group`). v1 members name themselves (a client-made
//! uuid); v0 members get an id from the coordinator when they join.
//!
//! A group is either classic or consumer: a heartbeat to a classic group
//! with members gets GROUP_ID_NOT_FOUND as from Kafka with online upgrade
//! disabled; an empty classic group (one that only has committed offsets)
//! becomes a consumer group and keeps its offsets.

use std::ops::RangeInclusive;
use std::time::Duration;

use kafka_protocol::messages::consumer_group_heartbeat_response::{
    Assignment as WireAssignment, TopicPartitions as WireTopicPartitions,
};
use kafka_protocol::messages::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::group::assignor::Assignment;
use crate::group::consumer_group::HeartbeatRequest;
use crate::group::ConsumerHeartbeat;
use crate::limits::REBALANCE_TIMEOUT_MILLISECONDS_MAX;
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 0..=1;

pub async fn handle(
    context: &RequestContext,
    shard: &Shard,
    request: ConsumerGroupHeartbeatRequest,
) -> ConsumerGroupHeartbeatResponse {
    let heartbeat = ConsumerHeartbeat {
        group_id: request.group_id.0.to_string(),
        member_id_required: context.version >= 1,
        subscribed_topic_regex: request
            .subscribed_topic_regex
            .as_ref()
            .map(|regex| regex.to_string()),
        request: heartbeat_request(context, request),
    };
    match shard
        .groups
        .consumer_heartbeat(&shard.metadata.snapshot(), heartbeat)
    {
        Ok(reply) => ConsumerGroupHeartbeatResponse::default()
            .with_member_id(Some(StrBytes::from_string(reply.member_id)))
            .with_member_epoch(reply.member_epoch)
            .with_heartbeat_interval_ms(reply.heartbeat_interval.as_millis() as i32)
            .with_assignment(reply.assignment.map(|assignment| {
                WireAssignment::default().with_topic_partitions(
                    assignment
                        .into_iter()
                        .map(|(topic_id, partitions)| {
                            WireTopicPartitions::default()
                                .with_topic_id(topic_id)
                                .with_partitions(partitions.into_iter().collect())
                        })
                        .collect(),
                )
            })),
        Err(refusal) => ConsumerGroupHeartbeatResponse::default()
            .with_error_code(refusal.code.0)
            .with_error_message(Some(StrBytes::from_string(refusal.message))),
    }
}

/// The request as the state machine takes it: null fields stay `None`
/// (unchanged since the previous heartbeat).
fn heartbeat_request(
    context: &RequestContext,
    request: ConsumerGroupHeartbeatRequest,
) -> HeartbeatRequest {
    HeartbeatRequest {
        member_id: request.member_id.to_string(),
        member_epoch: request.member_epoch,
        instance_id: request.instance_id.map(|id| id.to_string()),
        rack_id: request.rack_id.map(|id| id.to_string()),
        rebalance_timeout: (request.rebalance_timeout_ms >= 0).then(|| {
            Duration::from_millis(
                (request.rebalance_timeout_ms as u64).min(REBALANCE_TIMEOUT_MILLISECONDS_MAX),
            )
        }),
        subscribed_topic_names: request
            .subscribed_topic_names
            .map(|names| names.into_iter().map(|name| name.0.to_string()).collect()),
        server_assignor: request.server_assignor.map(|name| name.to_string()),
        owned: request.topic_partitions.map(|topics| {
            let mut owned = Assignment::new();
            for topic in topics {
                owned
                    .entry(topic.topic_id)
                    .or_default()
                    .extend(topic.partitions);
            }
            owned
        }),
        client_id: context.client_id.clone(),
        client_host: context.client_host.clone(),
    }
}
