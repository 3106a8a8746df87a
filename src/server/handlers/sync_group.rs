//! SyncGroup (key 14), v0-v5: the leader hands in the assignment, which is
//! stored in the offsets log, and every member gets its own part.

use std::ops::RangeInclusive;

use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::group::SyncGroup;
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 0..=5;

pub async fn handle(
    context: &RequestContext,
    shard: &Shard,
    request: SyncGroupRequest,
) -> SyncGroupResponse {
    let sync = SyncGroup {
        group_id: request.group_id.0.to_string(),
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.map(|id| id.to_string()),
        generation_id: request.generation_id,
        protocol_type: request.protocol_type.map(|name| name.to_string()),
        protocol_name: request.protocol_name.map(|name| name.to_string()),
        assignments: request
            .assignments
            .into_iter()
            .map(|assignment| (assignment.member_id.to_string(), assignment.assignment))
            .collect(),
    };
    let result = shard.groups.sync(&shard.metadata.snapshot(), sync).await;
    let mut response = SyncGroupResponse::default()
        .with_error_code(result.error.0)
        .with_assignment(result.assignment);
    if context.version >= 5 {
        response.protocol_type = result.protocol_type.map(StrBytes::from_string);
        response.protocol_name = result.protocol_name.map(StrBytes::from_string);
    }
    response
}
