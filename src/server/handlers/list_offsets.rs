//! ListOffsets (key 2), v1-v6: earliest (-2), latest (-1), or the first
//! record with a timestamp at or after a given one.

use std::ops::RangeInclusive;

use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
use kafka_protocol::records::RecordBatchDecoder;

use crate::partition::Partition;
use crate::protocol::ErrorCode;
use crate::shard::{Route, Shard};

pub const VERSIONS: RangeInclusive<i16> = 1..=6;

const LATEST_TIMESTAMP: i64 = -1;
const EARLIEST_TIMESTAMP: i64 = -2;

pub async fn handle(
    shard: &Shard,
    request: ListOffsetsRequest,
    version: i16,
) -> ListOffsetsResponse {
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for wanted in topic.partitions {
            let mut answer = ListOffsetsPartitionResponse::default()
                .with_partition_index(wanted.partition_index)
                .with_timestamp(-1)
                .with_offset(-1);
            match shard.route(&topic.name.0, wanted.partition_index) {
                Route::Elsewhere(code) => answer.error_code = code.0,
                Route::Here(partition) => match lookup(&partition, wanted.timestamp).await {
                    Ok((offset, timestamp)) => {
                        answer.offset = offset;
                        answer.timestamp = timestamp;
                        if version >= 4 {
                            answer.leader_epoch = 0;
                        }
                    }
                    Err(error) => {
                        eprintln!(
                            "corelog: shard {}: offset lookup in {} failed: {error}",
                            shard.id,
                            partition.log().dir().display()
                        );
                        answer.error_code = ErrorCode::KAFKA_STORAGE_ERROR.0;
                    }
                },
            }
            partitions.push(answer);
        }
        topics.push(
            ListOffsetsTopicResponse::default()
                .with_name(topic.name)
                .with_partitions(partitions),
        );
    }
    ListOffsetsResponse::default().with_topics(topics)
}

/// (offset, timestamp) for a ListOffsets timestamp; (-1, -1) when no record
/// is that late, as Kafka answers.
async fn lookup(partition: &Partition, timestamp: i64) -> std::io::Result<(i64, i64)> {
    match timestamp {
        LATEST_TIMESTAMP => Ok((partition.high_watermark(), -1)),
        EARLIEST_TIMESTAMP => Ok((partition.log_start_offset(), -1)),
        target => {
            let Some(batch) = partition.log().batch_by_timestamp(target).await? else {
                return Ok((-1, -1));
            };
            let base_offset =
                i64::from_be_bytes(batch[0..8].try_into().expect("a stored batch has a header"));
            // The record inside the batch: decode it (decompressing if need
            // be). Should that fail (a codec this build lacks), the batch's
            // first offset is the closest answer that never skips a record.
            let mut bytes = batch.clone();
            match RecordBatchDecoder::decode(&mut bytes) {
                // Records below the log start offset (DeleteRecords) are
                // not served, so they are not found either.
                Ok(set) => Ok(set
                    .records
                    .iter()
                    .filter(|record| record.offset >= partition.log_start_offset())
                    .find(|record| record.timestamp >= target)
                    .map(|record| (record.offset, record.timestamp))
                    .unwrap_or((base_offset.max(partition.log_start_offset()), target))),
                Err(_) => Ok((base_offset.max(partition.log_start_offset()), target)),
            }
        }
    }
}
