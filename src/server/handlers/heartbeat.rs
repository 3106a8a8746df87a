//! Heartbeat (key 12), v0-v4: keeps a member's session alive and tells it
//! when a rebalance needs it to rejoin.

use std::ops::RangeInclusive;

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use super::RequestContext;
use crate::group::MemberIdentity;
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 0..=4;

pub async fn handle(
    _context: &RequestContext,
    shard: &Shard,
    request: HeartbeatRequest,
) -> HeartbeatResponse {
    let member = MemberIdentity {
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.map(|id| id.to_string()),
    };
    let code = shard.groups.heartbeat(
        &shard.metadata.snapshot(),
        &request.group_id.0,
        &member,
        request.generation_id,
    );
    HeartbeatResponse::default().with_error_code(code.0)
}
