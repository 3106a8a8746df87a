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
use std::time::{Duration, Instant};

use kafka_protocol::messages::consumer_group_heartbeat_response::{
    Assignment as WireAssignment, TopicPartitions as WireTopicPartitions,
};
use kafka_protocol::messages::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::group::assignor::{Assignment, TopicPartitions};
use crate::group::consumer_group::{
    ConsumerProtocolGroup, HeartbeatReply, HeartbeatRequest, Refusal, JOIN_EPOCH,
};
use crate::limits::REBALANCE_TIMEOUT_MILLISECONDS_MAX;
use crate::protocol::ErrorCode;
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 0..=1;

pub async fn handle(
    context: &RequestContext,
    shard: &Shard,
    request: ConsumerGroupHeartbeatRequest,
) -> ConsumerGroupHeartbeatResponse {
    let version = context.version;
    match heartbeat(shard, request, version, context) {
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

fn refuse(code: ErrorCode, message: String) -> Refusal {
    Refusal { code, message }
}

fn heartbeat(
    shard: &Shard,
    request: ConsumerGroupHeartbeatRequest,
    version: i16,
    context: &RequestContext,
) -> Result<HeartbeatReply, Refusal> {
    let group_id = request.group_id.0.to_string();
    if group_id.is_empty() {
        return Err(refuse(
            ErrorCode::INVALID_REQUEST,
            "GroupId can't be empty.".to_string(),
        ));
    }
    if version >= 1 && request.member_id.is_empty() {
        return Err(refuse(
            ErrorCode::INVALID_REQUEST,
            "MemberId can't be empty.".to_string(),
        ));
    }
    if request
        .subscribed_topic_regex
        .as_ref()
        .is_some_and(|regex| !regex.is_empty())
    {
        // Kafka evaluates RE2J expressions against the topic names; this
        // broker has no regular expression engine, so it says so rather
        // than subscribe the member to nothing.
        return Err(refuse(
            ErrorCode::INVALID_REGULAR_EXPRESSION,
            "Regular expression subscriptions are not supported by this broker; subscribe by topic names.".to_string(),
        ));
    }
    let member_epoch = request.member_epoch;
    let state_request = HeartbeatRequest {
        member_id: request.member_id.to_string(),
        member_epoch,
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
    };
    let coordinator = &shard.groups;
    let located = coordinator
        .locate(shard, &group_id)
        .map_err(|code| refuse(code, format!("Group {group_id} is not coordinated here.")))?;
    let known = located.group.is_some();
    if !known && member_epoch != JOIN_EPOCH {
        // Membership is not persisted: after a coordinator restart a member
        // hears that it is unknown and rejoins with epoch 0.
        return Err(unknown_member(&state_request.member_id, &group_id));
    }
    let group = coordinator
        .get_or_create(&located, &group_id)
        .map_err(|code| refuse(code, format!("Group {group_id} could not be created.")))?;
    let result = {
        let mut group = group.borrow_mut();
        let classic_members = group.membership.members().next().is_some();
        if group.consumer_protocol.is_none() {
            if classic_members {
                return Err(refuse(
                    ErrorCode::GROUP_ID_NOT_FOUND,
                    if member_epoch == JOIN_EPOCH {
                        format!("Cannot upgrade classic group {group_id} to consumer group because online upgrade is disabled.")
                    } else {
                        format!("Group {group_id} is not a consumer group.")
                    },
                ));
            }
            if member_epoch != JOIN_EPOCH {
                return Err(unknown_member(&state_request.member_id, &group_id));
            }
            // An empty classic group becomes a consumer group; its
            // committed offsets stay.
            group.consumer_protocol = Some(ConsumerProtocolGroup::new(
                &group_id,
                coordinator.consumer_settings(),
            ));
        }
        let snapshot = shard.snapshot();
        let topics = |name: &str| {
            snapshot.topic(name).map(|topic| TopicPartitions {
                id: uuid::Uuid::from_bytes(topic.id),
                partitions: topic.placement.len() as i32,
            })
        };
        let consumer = group
            .consumer_protocol
            .as_mut()
            .expect("set just above when missing");
        consumer.heartbeat(
            state_request,
            &topics,
            &mut || new_member_uuid(coordinator),
            Instant::now(),
        )
    };
    let unused = {
        let group = group.borrow();
        group.offsets.is_empty()
            && group.membership.is_unused()
            && group
                .consumer_protocol
                .as_ref()
                .is_none_or(|consumer| consumer.is_empty())
    };
    if unused {
        // A refused first join, or the last member gone from a group that
        // committed nothing: nothing is left to keep.
        coordinator.forget(&group_id);
    }
    result
}

fn unknown_member(member_id: &str, group_id: &str) -> Refusal {
    refuse(
        ErrorCode::UNKNOWN_MEMBER_ID,
        format!("Member {member_id} is not a member of group {group_id}."),
    )
}

/// A fresh member id for a v0 member: a uuid, as Kafka makes them, taken
/// from the coordinator's never-repeating `<prefix>-<uuid>` ids.
fn new_member_uuid(coordinator: &crate::group::Coordinator) -> String {
    let id = coordinator.new_member_id("m");
    id.strip_prefix("m-").unwrap_or(&id).to_string()
}
