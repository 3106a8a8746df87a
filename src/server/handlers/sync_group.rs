//! SyncGroup (key 14), v0-v5: the leader hands in the assignment, which is
//! stored in the offsets log, and every member gets its own part.

use std::ops::RangeInclusive;
use std::time::Instant;

use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};
use kafka_protocol::protocol::StrBytes;

use super::now_milliseconds;
use super::RequestContext;
use crate::group::membership::{Reply, SyncOutcome, SyncResult};
use crate::group::offsets_log::OffsetsRecord;
use crate::protocol::ErrorCode;
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 0..=5;

pub async fn handle(
    context: &RequestContext,
    shard: &Shard,
    request: SyncGroupRequest,
) -> SyncGroupResponse {
    let version = context.version;
    let result = sync(shard, request).await;
    let mut response = SyncGroupResponse::default()
        .with_error_code(result.error.0)
        .with_assignment(result.assignment);
    if version >= 5 {
        response.protocol_type = result.protocol_type.map(StrBytes::from_string);
        response.protocol_name = result.protocol_name.map(StrBytes::from_string);
    }
    response
}

async fn sync(shard: &Shard, request: SyncGroupRequest) -> SyncResult {
    let group_id = request.group_id.0.to_string();
    if group_id.is_empty() {
        return SyncResult::error(ErrorCode::INVALID_GROUP_ID);
    }
    let coordinator = &shard.groups;
    let located = match coordinator.locate(shard, &group_id) {
        Ok(located) => located,
        Err(code) => return SyncResult::error(code),
    };
    let Some(group) = located.group.clone() else {
        return SyncResult::error(ErrorCode::UNKNOWN_MEMBER_ID);
    };
    let instance = request.group_instance_id.as_ref().map(|id| id.to_string());
    let outcome = group.borrow_mut().membership.sync(
        &request.member_id,
        instance.as_deref(),
        request.generation_id,
        request.protocol_type.as_deref(),
        request.protocol_name.as_deref(),
        request
            .assignments
            .into_iter()
            .map(|assignment| (assignment.member_id.to_string(), assignment.assignment))
            .collect(),
        Instant::now(),
    );
    let answer = match outcome {
        SyncOutcome::Reply(Reply::Now(result)) => return result,
        SyncOutcome::Reply(Reply::Wait(answer)) => answer,
        SyncOutcome::Persist { assignments, reply } => {
            let (record, generation_id) = {
                let group = group.borrow();
                (
                    OffsetsRecord::Group {
                        group: group_id.clone(),
                        value: Some(
                            group
                                .membership
                                .stored_with(&assignments, now_milliseconds()),
                        ),
                    },
                    group.membership.generation_id(),
                )
            };
            let stored = coordinator.append(shard.id, &located.log, &[record]).await;
            group.borrow_mut().membership.complete_sync(
                generation_id,
                assignments,
                stored,
                Instant::now(),
            );
            reply
        }
    };
    answer
        .await
        .unwrap_or_else(|_| SyncResult::error(ErrorCode::NOT_COORDINATOR))
}
