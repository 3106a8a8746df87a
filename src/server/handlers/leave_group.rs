//! LeaveGroup (key 13), v0-v5: members leave at once instead of waiting for
//! their session to expire; v3+ names several members (static ones by
//! instance id) in one request.

use std::ops::RangeInclusive;

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use super::RequestContext;
use crate::group::MemberIdentity;
use crate::protocol::ErrorCode;
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 0..=5;

pub async fn handle(
    context: &RequestContext,
    shard: &Shard,
    request: LeaveGroupRequest,
) -> LeaveGroupResponse {
    let version = context.version;
    let leaving: Vec<MemberIdentity> = if version >= 3 {
        request
            .members
            .iter()
            .map(|member| MemberIdentity {
                member_id: member.member_id.to_string(),
                group_instance_id: member.group_instance_id.as_ref().map(|id| id.to_string()),
            })
            .collect()
    } else {
        vec![MemberIdentity {
            member_id: request.member_id.to_string(),
            group_instance_id: None,
        }]
    };
    let outcome = shard
        .groups
        .leave(&shard.metadata.snapshot(), &request.group_id.0, &leaving)
        .await;
    match outcome {
        Err(code) => LeaveGroupResponse::default().with_error_code(code.0),
        Ok(codes) if version < 3 => LeaveGroupResponse::default()
            .with_error_code(codes.first().copied().unwrap_or(ErrorCode::NONE).0),
        Ok(codes) => LeaveGroupResponse::default().with_members(
            request
                .members
                .into_iter()
                .zip(codes)
                .map(|(member, code)| {
                    MemberResponse::default()
                        .with_member_id(member.member_id)
                        .with_group_instance_id(member.group_instance_id)
                        .with_error_code(code.0)
                })
                .collect(),
        ),
    }
}
