//! DeleteGroups (key 42), v0-v2: removes empty groups with their committed
//! offsets (tombstones in the offsets log).

use std::ops::RangeInclusive;

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use super::RequestContext;
use crate::group::membership::GroupState;
use crate::group::offsets_log::OffsetsRecord;
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
        let code = match delete(shard, &group_id.0).await {
            Ok(()) => ErrorCode::NONE,
            Err(code) => code,
        };
        results.push(
            DeletableGroupResult::default()
                .with_group_id(group_id)
                .with_error_code(code.0),
        );
    }
    DeleteGroupsResponse::default().with_results(results)
}

async fn delete(shard: &Shard, group_id: &str) -> Result<(), ErrorCode> {
    if group_id.is_empty() {
        return Err(ErrorCode::INVALID_GROUP_ID);
    }
    let coordinator = &shard.groups;
    let located = coordinator.locate(shard, group_id)?;
    let Some(group) = located.group.clone() else {
        return Err(ErrorCode::GROUP_ID_NOT_FOUND);
    };
    crate::group::expire_due(&group, std::time::Instant::now());
    let records = {
        let group = group.borrow();
        match group.membership.state() {
            GroupState::Empty => {}
            GroupState::Dead => return Err(ErrorCode::GROUP_ID_NOT_FOUND),
            _ => return Err(ErrorCode::NON_EMPTY_GROUP),
        }
        // A consumer-protocol (KIP-848) group with members is not empty
        // either, whatever its classic state says.
        if group
            .consumer_protocol
            .as_ref()
            .is_some_and(|consumer| !consumer.is_empty())
        {
            return Err(ErrorCode::NON_EMPTY_GROUP);
        }
        let mut records: Vec<OffsetsRecord> = group
            .offsets
            .keys()
            .map(|(topic, partition)| OffsetsRecord::Offset {
                group: group_id.to_string(),
                topic: topic.clone(),
                partition: *partition,
                value: None,
            })
            .collect();
        records.push(OffsetsRecord::Group {
            group: group_id.to_string(),
            value: None,
        });
        records
    };
    coordinator.append(shard.id, &located.log, &records).await?;
    let mut group = group.borrow_mut();
    if group.membership.state() != GroupState::Empty {
        // A member joined while the tombstones were written; they are in
        // the log, so the group restarts from nothing either way.
        group.offsets.clear();
        return Ok(());
    }
    group.membership.mark_dead();
    drop(group);
    coordinator.forget(group_id);
    Ok(())
}
