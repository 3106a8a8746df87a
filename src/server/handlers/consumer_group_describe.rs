//! ConsumerGroupDescribe (key 69), v0-v1: epochs, assignor, and each
//! member's subscription, current and target assignment of consumer-protocol
//! groups (KIP-848). Classic groups are described by DescribeGroups; asked
//! here, they get GROUP_ID_NOT_FOUND as from Kafka.

use std::ops::RangeInclusive;

use kafka_protocol::messages::consumer_group_describe_response::{
    Assignment as WireAssignment, DescribedGroup, Member, TopicPartitions,
};
use kafka_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::group::assignor::Assignment;
use crate::metadata::Snapshot;
use crate::protocol::ErrorCode;
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 0..=1;

/// `member_type` of a member that speaks the consumer protocol (v1+).
const MEMBER_TYPE_CONSUMER: i8 = 1;

pub async fn handle(
    context: &RequestContext,
    shard: &Shard,
    request: ConsumerGroupDescribeRequest,
) -> ConsumerGroupDescribeResponse {
    let version = context.version;
    let snapshot = shard.snapshot();
    let groups = request
        .group_ids
        .into_iter()
        .map(|group_id| {
            let described = DescribedGroup::default().with_group_id(group_id.clone());
            let refused = |code: ErrorCode, message: String| {
                described
                    .clone()
                    .with_error_code(code.0)
                    .with_error_message(Some(StrBytes::from_string(message)))
            };
            let located = match shard.groups.locate(shard, &group_id.0) {
                Ok(located) => located,
                Err(code) => return described.with_error_code(code.0),
            };
            let Some(group) = located.group else {
                return refused(
                    ErrorCode::GROUP_ID_NOT_FOUND,
                    format!("Group {} not found.", group_id.0),
                );
            };
            let group = group.borrow();
            let Some(consumer) = &group.consumer_protocol else {
                return refused(
                    ErrorCode::GROUP_ID_NOT_FOUND,
                    format!("Group {} is not a consumer group.", group_id.0),
                );
            };
            let members = consumer
                .members()
                .map(|member| {
                    let mut described = Member::default()
                        .with_member_id(StrBytes::from_string(member.member_id.clone()))
                        .with_instance_id(member.instance_id.clone().map(StrBytes::from_string))
                        .with_rack_id(member.rack_id.clone().map(StrBytes::from_string))
                        .with_member_epoch(member.member_epoch)
                        .with_client_id(StrBytes::from_string(member.client_id.clone()))
                        .with_client_host(StrBytes::from_string(member.client_host.clone()))
                        .with_subscribed_topic_names(
                            member
                                .subscribed_topic_names
                                .iter()
                                .map(|name| TopicName(StrBytes::from_string(name.clone())))
                                .collect(),
                        )
                        .with_assignment(wire_assignment(&snapshot, &member.assigned))
                        .with_target_assignment(wire_assignment(
                            &snapshot,
                            &consumer.target_of(&member.member_id),
                        ));
                    if version >= 1 {
                        described.member_type = MEMBER_TYPE_CONSUMER;
                    }
                    described
                })
                .collect();
            described
                .with_error_code(ErrorCode::NONE.0)
                .with_group_state(StrBytes::from_static_str(consumer.state().name()))
                .with_group_epoch(consumer.group_epoch())
                .with_assignment_epoch(consumer.assignment_epoch())
                .with_assignor_name(StrBytes::from_static_str(consumer.assignor().name()))
                .with_members(members)
        })
        .collect();
    ConsumerGroupDescribeResponse::default().with_groups(groups)
}

/// An assignment with topic names from the metadata (empty for a topic
/// deleted since).
fn wire_assignment(snapshot: &Snapshot, assignment: &Assignment) -> WireAssignment {
    WireAssignment::default().with_topic_partitions(
        assignment
            .iter()
            .map(|(topic_id, partitions)| {
                let name = snapshot
                    .topic_by_id(topic_id.as_bytes())
                    .map(|topic| topic.name.clone())
                    .unwrap_or_default();
                TopicPartitions::default()
                    .with_topic_id(*topic_id)
                    .with_topic_name(TopicName(StrBytes::from_string(name)))
                    .with_partitions(partitions.iter().copied().collect())
            })
            .collect(),
    )
}
