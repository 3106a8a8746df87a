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
use crate::group::{ConsumerGroupDescription, DescribedConsumer, NamedPartitions};
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
    let snapshot = shard.metadata.snapshot();
    let groups = request
        .group_ids
        .into_iter()
        .map(|group_id| {
            let described = DescribedGroup::default().with_group_id(group_id.clone());
            match shard.groups.describe_consumer_group(&snapshot, &group_id.0) {
                Ok(group) => wire_group(described, group, context.version),
                Err((code, None)) => described.with_error_code(code.0),
                Err((code, Some(message))) => described
                    .with_error_code(code.0)
                    .with_error_message(Some(StrBytes::from_string(message))),
            }
        })
        .collect();
    ConsumerGroupDescribeResponse::default().with_groups(groups)
}

fn wire_group(
    described: DescribedGroup,
    group: ConsumerGroupDescription,
    version: i16,
) -> DescribedGroup {
    let members = group
        .members
        .into_iter()
        .map(|member| wire_member(member, version))
        .collect();
    described
        .with_error_code(ErrorCode::NONE.0)
        .with_group_state(StrBytes::from_static_str(group.state))
        .with_group_epoch(group.group_epoch)
        .with_assignment_epoch(group.assignment_epoch)
        .with_assignor_name(StrBytes::from_static_str(group.assignor))
        .with_members(members)
}

fn wire_member(member: DescribedConsumer, version: i16) -> Member {
    let mut described = Member::default()
        .with_member_id(StrBytes::from_string(member.member_id))
        .with_instance_id(member.instance_id.map(StrBytes::from_string))
        .with_rack_id(member.rack_id.map(StrBytes::from_string))
        .with_member_epoch(member.member_epoch)
        .with_client_id(StrBytes::from_string(member.client_id))
        .with_client_host(StrBytes::from_string(member.client_host))
        .with_subscribed_topic_names(
            member
                .subscribed_topic_names
                .into_iter()
                .map(|name| TopicName(StrBytes::from_string(name)))
                .collect(),
        )
        .with_assignment(wire_assignment(member.assignment))
        .with_target_assignment(wire_assignment(member.target_assignment));
    if version >= 1 {
        described.member_type = MEMBER_TYPE_CONSUMER;
    }
    described
}

fn wire_assignment(assignment: Vec<NamedPartitions>) -> WireAssignment {
    WireAssignment::default().with_topic_partitions(
        assignment
            .into_iter()
            .map(|topic| {
                TopicPartitions::default()
                    .with_topic_id(topic.topic_id)
                    .with_topic_name(TopicName(StrBytes::from_string(topic.topic_name)))
                    .with_partitions(topic.partitions)
            })
            .collect(),
    )
}
