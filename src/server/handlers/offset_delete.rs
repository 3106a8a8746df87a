//! OffsetDelete (key 47), v0: removes a group's committed offsets for some
//! partitions, unless the group is consuming those topics right now.

use std::collections::HashSet;
use std::ops::RangeInclusive;

use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use super::RequestContext;
use crate::group::membership::GroupState;
use crate::group::offsets_log::OffsetsRecord;
use crate::group::subscribed_topics;
use crate::protocol::ErrorCode;
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 0..=0;

const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

pub async fn handle(
    _context: &RequestContext,
    shard: &Shard,
    request: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    match delete(shard, &request).await {
        Err(code) => OffsetDeleteResponse::default().with_error_code(code.0),
        Ok(codes) => OffsetDeleteResponse::default().with_topics(
            request
                .topics
                .into_iter()
                .zip(codes)
                .map(|(topic, codes)| {
                    OffsetDeleteResponseTopic::default()
                        .with_name(topic.name)
                        .with_partitions(
                            topic
                                .partitions
                                .iter()
                                .zip(codes)
                                .map(|(partition, code)| {
                                    OffsetDeleteResponsePartition::default()
                                        .with_partition_index(partition.partition_index)
                                        .with_error_code(code.0)
                                })
                                .collect(),
                        )
                })
                .collect(),
        ),
    }
}

async fn delete(
    shard: &Shard,
    request: &OffsetDeleteRequest,
) -> Result<Vec<Vec<ErrorCode>>, ErrorCode> {
    let group_id = request.group_id.0.to_string();
    if group_id.is_empty() {
        return Err(ErrorCode::INVALID_GROUP_ID);
    }
    let coordinator = &shard.groups;
    let located = coordinator.locate(shard, &group_id)?;
    let Some(group) = located.group.clone() else {
        return Err(ErrorCode::GROUP_ID_NOT_FOUND);
    };
    let snapshot = shard.snapshot();
    let mut records = Vec::new();
    let codes = {
        let group = group.borrow();
        let membership = &group.membership;
        let subscribed: HashSet<String> = if let Some(consumer) = &group.consumer_protocol {
            consumer.subscribed_topic_names()
        } else {
            match membership.state() {
                GroupState::Dead => return Err(ErrorCode::GROUP_ID_NOT_FOUND),
                GroupState::Empty => HashSet::new(),
                _ if membership.protocol_type() == Some(CONSUMER_PROTOCOL_TYPE) => {
                    subscribed_topics(&membership.subscriptions().unwrap_or_default())
                }
                _ => return Err(ErrorCode::NON_EMPTY_GROUP),
            }
        };
        request
            .topics
            .iter()
            .map(|topic| {
                let name = topic.name.0.to_string();
                let known = snapshot.topic(&name);
                topic
                    .partitions
                    .iter()
                    .map(|partition| {
                        let index = partition.partition_index;
                        if !known.is_some_and(|known| {
                            index >= 0 && (index as usize) < known.placement.len()
                        }) {
                            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
                        } else if subscribed.contains(&name) {
                            ErrorCode::GROUP_SUBSCRIBED_TO_TOPIC
                        } else {
                            if group.offsets.contains_key(&(name.clone(), index)) {
                                records.push(OffsetsRecord::Offset {
                                    group: group_id.clone(),
                                    topic: name.clone(),
                                    partition: index,
                                    value: None,
                                });
                            }
                            ErrorCode::NONE
                        }
                    })
                    .collect::<Vec<ErrorCode>>()
            })
            .collect::<Vec<_>>()
    };
    coordinator.append(shard.id, &located.log, &records).await?;
    let mut group = group.borrow_mut();
    for record in records {
        if let OffsetsRecord::Offset {
            topic, partition, ..
        } = record
        {
            group.offsets.remove(&(topic, partition));
        }
    }
    Ok(codes)
}
