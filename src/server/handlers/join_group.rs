//! JoinGroup (key 11), v0-v9: a member joins (or rejoins) its group and
//! waits until the rebalance completes; the leader gets every member's
//! subscription.

use std::ops::RangeInclusive;

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::group::JoinGroup;
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 0..=9;

pub async fn handle(
    context: &RequestContext,
    shard: &Shard,
    request: JoinGroupRequest,
) -> JoinGroupResponse {
    let version = context.version;
    let join = JoinGroup {
        group_id: request.group_id.0.to_string(),
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.map(|id| id.to_string()),
        client_id: context.client_id.clone(),
        client_host: context.client_host.clone(),
        session_timeout_milliseconds: request.session_timeout_ms,
        // v0 has no rebalance timeout: Kafka uses the session timeout.
        rebalance_timeout_milliseconds: (version >= 1).then_some(request.rebalance_timeout_ms),
        protocol_type: request.protocol_type.to_string(),
        protocols: request
            .protocols
            .into_iter()
            .map(|protocol| (protocol.name.to_string(), protocol.metadata))
            .collect(),
        require_known_member_id: version >= 4,
    };
    let result = shard.groups.join(&shard.metadata.snapshot(), join).await;
    let mut response = JoinGroupResponse::default()
        .with_error_code(result.error.0)
        .with_generation_id(result.generation_id)
        .with_leader(StrBytes::from_string(result.leader))
        .with_member_id(StrBytes::from_string(result.member_id))
        .with_members(
            result
                .members
                .into_iter()
                .map(|member| {
                    let mut described = JoinGroupResponseMember::default()
                        .with_member_id(StrBytes::from_string(member.member_id))
                        .with_metadata(member.metadata);
                    if version >= 5 {
                        described.group_instance_id =
                            member.group_instance_id.map(StrBytes::from_string);
                    }
                    described
                })
                .collect(),
        );
    // Before v7 the protocol name is not nullable.
    response.protocol_name = match result.protocol_name {
        Some(name) => Some(StrBytes::from_string(name)),
        None if version < 7 => Some(StrBytes::default()),
        None => None,
    };
    if version >= 7 {
        response.protocol_type = result.protocol_type.map(StrBytes::from_string);
    }
    response
}
