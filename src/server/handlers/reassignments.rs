//! AlterPartitionReassignments (key 45) and ListPartitionReassignments
//! (key 46), v0: move partitions' replicas to other brokers (KIP-455) and
//! see which moves are still under way. Each partition's reassignment is
//! one `Command::ReassignPartition` (see `metadata/reassignment.rs`); null
//! replicas cancel the one in progress.

use std::ops::RangeInclusive;

use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, BrokerId,
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::metadata::{Command, TopicMetadata};
use crate::protocol::ErrorCode;
use crate::shard::Shard;

pub const ALTER_VERSIONS: RangeInclusive<i16> = 0..=0;
pub const LIST_VERSIONS: RangeInclusive<i16> = 0..=0;

pub async fn handle_alter(
    _context: &RequestContext,
    shard: &Shard,
    request: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    let mut responses = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for partition in topic.partitions {
            let mut result = ReassignablePartitionResponse::default()
                .with_partition_index(partition.partition_index);
            let outcome = match target_of(partition.replicas.as_deref()) {
                Err(refused) => Err(refused),
                Ok(target) => shard
                    .metadata
                    .submit(Command::ReassignPartition {
                        name: topic.name.0.to_string(),
                        partition: partition.partition_index,
                        target,
                    })
                    .await
                    .map(drop)
                    .map_err(|refused| (refused.code, refused.message)),
            };
            if let Err((code, message)) = outcome {
                result.error_code = code.0;
                result.error_message = Some(StrBytes::from_string(message));
            }
            partitions.push(result);
        }
        responses.push(
            ReassignableTopicResponse::default()
                .with_name(topic.name)
                .with_partitions(partitions),
        );
    }
    AlterPartitionReassignmentsResponse::default()
        .with_error_message(None)
        .with_responses(responses)
}

/// The target broker ids of a partition (None: cancel), refused when one
/// is negative.
fn target_of(replicas: Option<&[BrokerId]>) -> Result<Option<Vec<u32>>, (ErrorCode, String)> {
    let Some(replicas) = replicas else {
        return Ok(None);
    };
    replicas
        .iter()
        .map(|id| u32::try_from(id.0).ok())
        .collect::<Option<Vec<u32>>>()
        .map(Some)
        .ok_or((
            ErrorCode::INVALID_REPLICA_ASSIGNMENT,
            "broker ids are not negative".to_string(),
        ))
}

pub async fn handle_list(
    _context: &RequestContext,
    shard: &Shard,
    request: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    let snapshot = shard.metadata.snapshot();
    let topics = match request.topics {
        // Null: every partition being reassigned.
        None => snapshot
            .topics
            .values()
            .filter_map(|topic| ongoing(topic, None))
            .collect(),
        Some(asked) => asked
            .iter()
            .filter_map(|asked| {
                let topic = snapshot.topic(&asked.name.0)?;
                ongoing(topic, Some(&asked.partition_indexes))
            })
            .collect(),
    };
    ListPartitionReassignmentsResponse::default()
        .with_error_message(None)
        .with_topics(topics)
}

/// The reassignments under way in `topic` (of `partitions` when given).
fn ongoing(topic: &TopicMetadata, partitions: Option<&[i32]>) -> Option<OngoingTopicReassignment> {
    let brokers = |ids: &[u32]| ids.iter().map(|&id| BrokerId(id as i32)).collect();
    let found: Vec<OngoingPartitionReassignment> = topic
        .reassignments
        .iter()
        .filter(|(&index, _)| partitions.is_none_or(|asked| asked.contains(&(index as i32))))
        .filter_map(|(&index, pending)| {
            let placement = topic.placement.get(index as usize)?;
            Some(
                OngoingPartitionReassignment::default()
                    .with_partition_index(index as i32)
                    .with_replicas(brokers(&placement.replicas))
                    .with_adding_replicas(brokers(&pending.adding))
                    .with_removing_replicas(brokers(&pending.removing(&placement.replicas))),
            )
        })
        .collect();
    (!found.is_empty()).then(|| {
        OngoingTopicReassignment::default()
            .with_name(TopicName(StrBytes::from_string(topic.name.clone())))
            .with_partitions(found)
    })
}
