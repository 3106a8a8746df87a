//! Heartbeat (key 12), v0-v4: keeps a member's session alive and tells it
//! when a rebalance needs it to rejoin.

use std::ops::RangeInclusive;
use std::time::Instant;

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use super::RequestContext;
use crate::protocol::ErrorCode;
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 0..=4;

pub async fn handle(
    _context: &RequestContext,
    shard: &Shard,
    request: HeartbeatRequest,
) -> HeartbeatResponse {
    HeartbeatResponse::default().with_error_code(heartbeat(shard, request).0)
}

fn heartbeat(shard: &Shard, request: HeartbeatRequest) -> ErrorCode {
    let group_id = request.group_id.0.to_string();
    if group_id.is_empty() {
        return ErrorCode::INVALID_GROUP_ID;
    }
    let located = match shard.groups.locate(shard, &group_id) {
        Ok(located) => located,
        Err(code) => return code,
    };
    let Some(group) = located.group else {
        return ErrorCode::UNKNOWN_MEMBER_ID;
    };
    let instance = request.group_instance_id.as_ref().map(|id| id.to_string());
    let code = group.borrow_mut().membership.heartbeat(
        &request.member_id,
        instance.as_deref(),
        request.generation_id,
        Instant::now(),
    );
    code
}
