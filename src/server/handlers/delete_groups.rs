//! DeleteGroups (key 42), v0-v2: removes empty groups with their committed
//! offsets (tombstones in the offsets log).

use std::ops::RangeInclusive;

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use super::RequestContext;
use crate::protocol::ErrorCode;
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 0..=2;

pub async fn handle(
    _context: &RequestContext,
    shard: &Shard,
    request: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    let mut results = Vec::with_capacity(request.groups_names.len());
    for group_id in request.groups_names {
        let deleted = shard
            .groups
            .delete_group(&shard.metadata.snapshot(), &group_id.0)
            .await;
        let code = deleted.err().unwrap_or(ErrorCode::NONE);
        results.push(
            DeletableGroupResult::default()
                .with_group_id(group_id)
                .with_error_code(code.0),
        );
    }
    DeleteGroupsResponse::default().with_results(results)
}
