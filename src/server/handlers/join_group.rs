//! JoinGroup (key 11), v0-v9: a member joins (or rejoins) its group and
//! waits until the rebalance completes; the leader gets every member's
//! subscription.

use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::group::membership::{JoinRequest, JoinResult, Reply};
use crate::limits::REBALANCE_TIMEOUT_MILLISECONDS_MAX;
use crate::protocol::ErrorCode;
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 0..=9;

pub async fn handle(
    context: &RequestContext,
    shard: &Shard,
    request: JoinGroupRequest,
) -> JoinGroupResponse {
    let version = context.version;
    let result = join(shard, request, version, context).await;
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

async fn join(
    shard: &Shard,
    request: JoinGroupRequest,
    version: i16,
    context: &RequestContext,
) -> JoinResult {
    let member_id = request.member_id.to_string();
    let group_id = request.group_id.0.to_string();
    if group_id.is_empty() {
        return JoinResult::error(ErrorCode::INVALID_GROUP_ID, &member_id);
    }
    let coordinator = &shard.groups;
    let settings = coordinator.settings;
    let session_timeout = Duration::from_millis(request.session_timeout_ms.max(0) as u64);
    if request.session_timeout_ms < 0
        || session_timeout < settings.session_timeout_min
        || session_timeout > settings.session_timeout_max
    {
        return JoinResult::error(ErrorCode::INVALID_SESSION_TIMEOUT, &member_id);
    }
    // v0 has no rebalance timeout: Kafka uses the session timeout.
    let rebalance_timeout = if version >= 1 && request.rebalance_timeout_ms > 0 {
        Duration::from_millis(
            (request.rebalance_timeout_ms as u64).min(REBALANCE_TIMEOUT_MILLISECONDS_MAX),
        )
    } else {
        session_timeout
    };
    let located = match coordinator.locate(shard, &group_id) {
        Ok(located) => located,
        Err(code) => return JoinResult::error(code, &member_id),
    };
    if located.group.is_none() && !member_id.is_empty() {
        return JoinResult::error(ErrorCode::UNKNOWN_MEMBER_ID, &member_id);
    }
    let group = match coordinator.get_or_create(&located, &group_id) {
        Ok(group) => group,
        Err(code) => return JoinResult::error(code, &member_id),
    };
    {
        // A group is classic or consumer: a consumer-protocol group with
        // members refuses classic members; an empty one becomes classic.
        let mut group = group.borrow_mut();
        if let Some(consumer) = &group.consumer_protocol {
            if !consumer.is_empty() {
                return JoinResult::error(ErrorCode::INCONSISTENT_GROUP_PROTOCOL, &member_id);
            }
            group.consumer_protocol = None;
        }
    }
    let group_instance_id = request.group_instance_id.map(|id| id.to_string());
    let prefix = group_instance_id
        .clone()
        .unwrap_or_else(|| context.client_id.clone());
    let join_request = JoinRequest {
        member_id: member_id.clone(),
        group_instance_id,
        client_id: context.client_id.clone(),
        client_host: context.client_host.clone(),
        session_timeout,
        rebalance_timeout,
        protocol_type: request.protocol_type.to_string(),
        protocols: request
            .protocols
            .into_iter()
            .map(|protocol| (protocol.name.to_string(), protocol.metadata))
            .collect(),
        require_known_member_id: version >= 4,
    };
    let reply = group.borrow_mut().membership.join(
        join_request,
        &mut || coordinator.new_member_id(&prefix),
        Instant::now(),
    );
    let unused = {
        let group = group.borrow();
        group.membership.is_unused() && group.offsets.is_empty()
    };
    if unused {
        // A refused first join does not create a group.
        coordinator.forget(&group_id);
    }
    coordinator
        .persist_if_wanted(shard.id, &located.log, &group)
        .await;
    match reply {
        Reply::Now(result) => result,
        Reply::Wait(answer) => answer
            .await
            .unwrap_or_else(|_| JoinResult::error(ErrorCode::NOT_COORDINATOR, &member_id)),
    }
}
