//! DescribeGroups (key 15), v0-v6: state, protocol and members of groups,
//! with each member's subscription and assignment while the group is
//! stable (as Kafka shows them). v4 adds members' instance ids; v6 (Kafka
//! 4.0, KIP-1043) answers a group that does not exist with
//! GROUP_ID_NOT_FOUND and an error message instead of an empty Dead group.

use std::ops::RangeInclusive;

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::group::membership::GroupState;
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
    let include_authorized_operations = request.include_authorized_operations;
    let groups = request
        .groups
        .into_iter()
        .map(|group_id| {
            let mut described = DescribedGroup::default().with_group_id(group_id.clone());
            let located = match shard.groups.locate(shard, &group_id.0) {
                Ok(located) => located,
                Err(code) => return described.with_error_code(code.0),
            };
            let Some(group) = located.group else {
                // Kafka describes a group it does not know as Dead.
                described.group_state = StrBytes::from_static_str(GroupState::Dead.name());
                if version >= 6 {
                    described.error_code = ErrorCode::GROUP_ID_NOT_FOUND.0;
                    described.error_message = Some(StrBytes::from_string(format!(
                        "Group {} not found.",
                        group_id.0
                    )));
                }
                return described;
            };
            crate::group::expire_due(&group, std::time::Instant::now());
            let group = group.borrow();
            if group.consumer_protocol.is_some() {
                // Kafka: a consumer-protocol group is Dead to DescribeGroups
                // (ConsumerGroupDescribe describes it); v6 says why.
                described.group_state = StrBytes::from_static_str(GroupState::Dead.name());
                if version >= 6 {
                    described.error_code = ErrorCode::GROUP_ID_NOT_FOUND.0;
                    described.error_message = Some(StrBytes::from_string(format!(
                        "Group {} is not a classic group.",
                        group_id.0
                    )));
                }
                return described;
            }
            let membership = &group.membership;
            let stable = membership.state() == GroupState::Stable;
            let protocol = if stable {
                membership.protocol_name().unwrap_or_default().to_string()
            } else {
                String::new()
            };
            described.group_state = StrBytes::from_static_str(membership.state().name());
            described.protocol_type =
                StrBytes::from_string(membership.protocol_type().unwrap_or_default().to_string());
            described.protocol_data = StrBytes::from_string(protocol.clone());
            described.members = membership
                .members()
                .map(|member| {
                    let mut described = DescribedGroupMember::default()
                        .with_member_id(StrBytes::from_string(member.member_id.clone()))
                        .with_client_id(StrBytes::from_string(member.client_id.clone()))
                        .with_client_host(StrBytes::from_string(member.client_host.clone()));
                    if version >= 4 {
                        described.group_instance_id =
                            member.group_instance_id.clone().map(StrBytes::from_string);
                    }
                    if stable {
                        described.member_metadata =
                            member.metadata(&protocol).cloned().unwrap_or_default();
                        described.member_assignment = member.assignment.clone();
                    }
                    described
                })
                .collect();
            if version >= 3 && include_authorized_operations {
                described.authorized_operations = GROUP_OPERATIONS_ALL;
            }
            described.with_error_code(ErrorCode::NONE.0)
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}
