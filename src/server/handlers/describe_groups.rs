//! DescribeGroups (key 15), v0-v6: state, protocol and members of groups,
//! with each member's subscription and assignment while the group is
//! stable (as Kafka shows them). v4 adds members' instance ids; v6 (Kafka
//! 4.0, KIP-1043) answers a group that does not exist with
//! GROUP_ID_NOT_FOUND and an error message instead of an empty Dead group.

use std::ops::RangeInclusive;

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse, GroupId};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::group::membership::GroupState;
use crate::group::{ClassicGroup, GroupDescription};
use crate::protocol::ErrorCode;
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 0..=6;

/// With no authorizer, Kafka allows every operation a group has: READ,
/// DELETE and DESCRIBE (AclOperation codes 3, 6 and 8, as bits).
const GROUP_OPERATIONS_ALL: i32 = (1 << 3) | (1 << 6) | (1 << 8);

pub async fn handle(
    context: &RequestContext,
    shard: &Shard,
    request: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let version = context.version;
    let snapshot = shard.metadata.snapshot();
    let include_authorized_operations = request.include_authorized_operations;
    let groups = request
        .groups
        .into_iter()
        .map(|group_id| {
            let described = DescribedGroup::default().with_group_id(group_id.clone());
            let (mut described, why) = match shard.groups.describe(&snapshot, &group_id.0) {
                Err(code) => return described.with_error_code(code.0),
                Ok(GroupDescription::Classic(group)) => {
                    return classic(described, group, version, include_authorized_operations)
                }
                // Kafka describes a group it does not know as Dead.
                Ok(GroupDescription::Unknown) => (described, "not found"),
                // Kafka: a consumer-protocol group is Dead to DescribeGroups
                // (ConsumerGroupDescribe describes it); v6 says why.
                Ok(GroupDescription::NotClassic) => (described, "is not a classic group"),
            };
            described.group_state = StrBytes::from_static_str(GroupState::Dead.name());
            if version >= 6 {
                described.error_code = ErrorCode::GROUP_ID_NOT_FOUND.0;
                described.error_message = Some(dead_message(&group_id, why));
            }
            described
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}

fn dead_message(group_id: &GroupId, why: &str) -> StrBytes {
    StrBytes::from_string(format!("Group {} {why}.", group_id.0))
}

fn classic(
    mut described: DescribedGroup,
    group: ClassicGroup,
    version: i16,
    include_authorized_operations: bool,
) -> DescribedGroup {
    described.group_state = StrBytes::from_static_str(group.state.name());
    described.protocol_type = StrBytes::from_string(group.protocol_type);
    described.protocol_data = StrBytes::from_string(group.protocol);
    described.members = group
        .members
        .into_iter()
        .map(|member| {
            let mut described = DescribedGroupMember::default()
                .with_member_id(StrBytes::from_string(member.member_id))
                .with_client_id(StrBytes::from_string(member.client_id))
                .with_client_host(StrBytes::from_string(member.client_host))
                .with_member_metadata(member.metadata)
                .with_member_assignment(member.assignment);
            if version >= 4 {
                described.group_instance_id = member.group_instance_id.map(StrBytes::from_string);
            }
            described
        })
        .collect();
    if version >= 3 && include_authorized_operations {
        described.authorized_operations = GROUP_OPERATIONS_ALL;
    }
    described.with_error_code(ErrorCode::NONE.0)
}
