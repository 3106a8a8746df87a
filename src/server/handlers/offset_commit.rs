//! OffsetCommit (key 8), v2-v9: stores a group's consumed positions in the
//! offsets log, durably, before answering. Members commit within their
//! generation; a consumer that assigns partitions itself commits with
//! generation -1 to a group that has no members.

use std::ops::RangeInclusive;
use std::time::Instant;

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use super::now_milliseconds;
use crate::group::offsets_log::{CommittedOffset, OffsetsRecord};
use crate::limits::OFFSET_METADATA_BYTES_MAX;
use crate::protocol::ErrorCode;
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 2..=9;

pub async fn handle(
    shard: &Shard,
    request: OffsetCommitRequest,
    version: i16,
) -> OffsetCommitResponse {
    let group_id = request.group_id.0.to_string();
    let snapshot = shard.snapshot();
    let now = now_milliseconds();
    // Per-partition checks first; what passes them is committed together.
    let mut codes: Vec<Vec<ErrorCode>> = Vec::with_capacity(request.topics.len());
    let mut records = Vec::new();
    for topic in &request.topics {
        let known = snapshot.topic(&topic.name.0);
        let mut topic_codes = Vec::with_capacity(topic.partitions.len());
        for partition in &topic.partitions {
            let metadata = partition
                .committed_metadata
                .as_ref()
                .map(|metadata| metadata.to_string())
                .unwrap_or_default();
            let code = if !known.is_some_and(|known| {
                partition.partition_index >= 0
                    && (partition.partition_index as usize) < known.placement.len()
            }) {
                ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
            } else if metadata.len() > OFFSET_METADATA_BYTES_MAX {
                ErrorCode::OFFSET_METADATA_TOO_LARGE
            } else {
                records.push(OffsetsRecord::Offset {
                    group: group_id.clone(),
                    topic: topic.name.0.to_string(),
                    partition: partition.partition_index,
                    value: Some(CommittedOffset {
                        offset: partition.committed_offset,
                        leader_epoch: if version >= 6 {
                            partition.committed_leader_epoch
                        } else {
                            -1
                        },
                        metadata,
                        commit_timestamp: now,
                    }),
                });
                ErrorCode::NONE
            };
            topic_codes.push(code);
        }
        codes.push(topic_codes);
    }
    if let Err(code) = commit(shard, &request, version, &group_id, records).await {
        for code_slot in codes.iter_mut().flatten() {
            if *code_slot == ErrorCode::NONE {
                *code_slot = code;
            }
        }
    }
    let topics = request
        .topics
        .into_iter()
        .zip(codes)
        .map(|(topic, topic_codes)| {
            OffsetCommitResponseTopic::default()
                .with_name(topic.name)
                .with_partitions(
                    topic
                        .partitions
                        .iter()
                        .zip(topic_codes)
                        .map(|(partition, code)| {
                            OffsetCommitResponsePartition::default()
                                .with_partition_index(partition.partition_index)
                                .with_error_code(code.0)
                        })
                        .collect(),
                )
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}

async fn commit(
    shard: &Shard,
    request: &OffsetCommitRequest,
    version: i16,
    group_id: &str,
    records: Vec<OffsetsRecord>,
) -> Result<(), ErrorCode> {
    if group_id.is_empty() {
        return Err(ErrorCode::INVALID_GROUP_ID);
    }
    let coordinator = &shard.groups;
    let located = coordinator.locate(shard, group_id)?;
    let generation_id = request.generation_id_or_member_epoch;
    let group = match &located.group {
        Some(group) => group.clone(),
        // A group nobody joined: only a commit outside group management
        // may create it.
        None if generation_id < 0 => coordinator.get_or_create(&located, group_id)?,
        None => return Err(ErrorCode::ILLEGAL_GENERATION),
    };
    let instance = request.group_instance_id.as_ref().map(|id| id.to_string());
    {
        let mut group = group.borrow_mut();
        // v9+: a consumer-protocol member commits with its member epoch.
        match &group.consumer_protocol {
            Some(consumer) => consumer.check_commit(&request.member_id, generation_id, version)?,
            None => group.membership.check_commit(
                &request.member_id,
                instance.as_deref(),
                generation_id,
                Instant::now(),
            )?,
        }
    }
    if records.is_empty() {
        return Ok(());
    }
    coordinator.append(shard.id, &located.log, &records).await?;
    let mut group = group.borrow_mut();
    for record in records {
        if let OffsetsRecord::Offset {
            topic,
            partition,
            value: Some(value),
            ..
        } = record
        {
            group.offsets.insert((topic, partition), value);
        }
    }
    Ok(())
}
