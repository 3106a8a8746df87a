//! OffsetDelete (key 47), v0: removes a group's committed offsets for some
//! partitions, unless the group is consuming those topics right now.

use std::ops::RangeInclusive;

use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use super::RequestContext;
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 0..=0;

pub async fn handle(
    _context: &RequestContext,
    shard: &Shard,
    request: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    let topics: Vec<(String, Vec<i32>)> = request
        .topics
        .iter()
        .map(|topic| {
            (
                topic.name.0.to_string(),
                topic
                    .partitions
                    .iter()
                    .map(|partition| partition.partition_index)
                    .collect(),
            )
        })
        .collect();
    let deleted = shard
        .groups
        .delete_offsets(&shard.metadata.snapshot(), &request.group_id.0, &topics)
        .await;
    match deleted {
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
