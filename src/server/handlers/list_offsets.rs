//! ListOffsets (key 2), v0-v10: earliest (-2), latest (-1), the record
//! with the largest timestamp (-3, v7+, KIP-734), the earliest offset kept
//! locally (-4, v8+, KIP-405: the log start, as nothing is tiered), the
//! last tiered offset (-5, v9+, KIP-1005: -1, as nothing is tiered), or the
//! first record with a timestamp at or after a given one. v10 (Kafka 4.0,
//! KIP-1075) adds a timeout for remote-storage lookups, which never happen
//! here.
//!
//! v0 (Kafka 3.9 accepts it, 4.0 removed it, so the codec does not know it
//! and it is read and written here) asks for up to `max_num_offsets`
//! offsets and answers a list of them. Kafka lists segment base offsets
//! for a timestamp lookup (by segment file time); corelog answers the one
//! precise offset instead, which is what every later version returns.

use std::ops::RangeInclusive;

use bytes::BufMut;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{BrokerId, ListOffsetsRequest, ListOffsetsResponse, TopicName};
use kafka_protocol::protocol::buf::ByteBuf;
use kafka_protocol::protocol::Decodable;
use kafka_protocol::records::RecordBatchDecoder;

use super::legacy::{self, CodecResult, Reader};
use super::RequestContext;
use crate::partition::Partition;
use crate::protocol::ErrorCode;
use crate::shard::{Route, Shard};

pub const VERSIONS: RangeInclusive<i16> = 0..=10;

const LATEST_TIMESTAMP: i64 = -1;
const EARLIEST_TIMESTAMP: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL_TIMESTAMP: i64 = -4;
const LATEST_TIERED_TIMESTAMP: i64 = -5;

/// A ListOffsets request of any supported version.
#[derive(Debug, Default)]
pub struct Request {
    pub body: ListOffsetsRequest,
    /// v0 only: each partition's `max_num_offsets`, in request order.
    pub max_num_offsets: Vec<i32>,
}

impl Decodable for Request {
    fn decode<B: ByteBuf>(buf: &mut B, version: i16) -> CodecResult<Self> {
        if version >= 1 {
            return Ok(Request {
                body: ListOffsetsRequest::decode(buf, version)?,
                max_num_offsets: Vec::new(),
            });
        }
        let mut reader = Reader::new(buf);
        let mut request = Request::default();
        request.body.replica_id = BrokerId(reader.i32()?);
        // A topic: name length and partition count; a partition: index,
        // timestamp and max_num_offsets.
        let topic_count = reader.array_length(6)?;
        for _ in 0..topic_count {
            let name = TopicName(reader.string()?);
            let partition_count = reader.array_length(16)?;
            let mut partitions = Vec::with_capacity(partition_count);
            for _ in 0..partition_count {
                let partition_index = reader.i32()?;
                let timestamp = reader.i64()?;
                request.max_num_offsets.push(reader.i32()?);
                partitions.push(
                    ListOffsetsPartition::default()
                        .with_partition_index(partition_index)
                        .with_timestamp(timestamp),
                );
            }
            request.body.topics.push(
                ListOffsetsTopic::default()
                    .with_name(name)
                    .with_partitions(partitions),
            );
        }
        Ok(request)
    }
}

/// The response of any supported version.
#[derive(Debug, Default)]
pub struct Response {
    pub body: ListOffsetsResponse,
    /// v0 only: each partition's `max_num_offsets`, in request order.
    max_num_offsets: Vec<i32>,
}

impl Response {
    /// v0's layout: topics [name, partitions [index, error, old_style_offsets]].
    fn encode_v0(&self, out: &mut impl BufMut, _version: i16) {
        let mut limits = self.max_num_offsets.iter();
        legacy::put_array_length(out, self.body.topics.len());
        for topic in &self.body.topics {
            legacy::put_string(out, &topic.name.0);
            legacy::put_array_length(out, topic.partitions.len());
            for partition in &topic.partitions {
                out.put_i32(partition.partition_index);
                out.put_i16(partition.error_code);
                let limit = limits.next().copied().unwrap_or(1);
                let found = partition.error_code == 0 && partition.offset >= 0 && limit > 0;
                legacy::put_array_length(out, usize::from(found));
                if found {
                    out.put_i64(partition.offset);
                }
            }
        }
    }
}

legacy::encodable_by_version!(Response, 1, body, encode_v0);

pub async fn handle(context: &RequestContext, shard: &Shard, request: Request) -> Response {
    let version = context.version;
    Response {
        body: answer(shard, request.body, version).await,
        max_num_offsets: request.max_num_offsets,
    }
}

async fn answer(shard: &Shard, request: ListOffsetsRequest, version: i16) -> ListOffsetsResponse {
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for wanted in topic.partitions {
            let mut answer = ListOffsetsPartitionResponse::default()
                .with_partition_index(wanted.partition_index)
                .with_timestamp(-1)
                .with_offset(-1);
            // v4+ name the leader epoch the client knows (-1: none).
            match shard.partitions.route_at_epoch(
                &topic.name.0,
                wanted.partition_index,
                wanted.current_leader_epoch,
            ) {
                Route::Elsewhere(code) => answer.error_code = code.0,
                Route::Here(partition)
                    if shows_high_watermark(version, wanted.timestamp)
                        && partition.consumer_high_watermark().is_none() =>
                {
                    answer.error_code = ErrorCode::OFFSET_NOT_AVAILABLE.0;
                }
                Route::Here(partition) => match lookup(&partition, wanted.timestamp).await {
                    Ok((offset, timestamp)) => {
                        answer.offset = offset;
                        answer.timestamp = timestamp;
                        if version >= 4 {
                            // No tiered offset exists, so no epoch either.
                            // Otherwise the current leader's: one replica
                            // has held every record since its epoch began
                            // (what Kafka answers for the latest offset).
                            answer.leader_epoch = if wanted.timestamp == LATEST_TIERED_TIMESTAMP {
                                -1
                            } else {
                                partition.leader_epoch()
                            };
                        }
                    }
                    Err(error) => {
                        tracing::error!(
                            "shard {}: offset lookup in {} failed: {error}",
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

/// Whether a lookup's answer depends on the high watermark, so a new
/// leader whose high watermark has not reached its epoch's start answers
/// OFFSET_NOT_AVAILABLE instead (Kafka's rule, KIP-207: latest, max
/// timestamp and timestamp lookups from v1; v0 predates it).
fn shows_high_watermark(version: i16, timestamp: i64) -> bool {
    version >= 1 && (timestamp == LATEST_TIMESTAMP || timestamp == MAX_TIMESTAMP || timestamp >= 0)
}

/// (offset, timestamp) for a ListOffsets timestamp; (-1, -1) when no record
/// is that late, as Kafka answers.
async fn lookup(partition: &Partition, timestamp: i64) -> std::io::Result<(i64, i64)> {
    match timestamp {
        LATEST_TIMESTAMP => Ok((partition.high_watermark(), -1)),
        // Nothing is tiered: the local log starts where the log starts.
        EARLIEST_TIMESTAMP | EARLIEST_LOCAL_TIMESTAMP => Ok((partition.log_start_offset(), -1)),
        // Kafka's answer when tiered storage is off.
        LATEST_TIERED_TIMESTAMP => Ok((-1, -1)),
        MAX_TIMESTAMP => max_timestamp(partition).await,
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

/// (offset, timestamp) of the first record holding the log's largest
/// timestamp; (-1, -1) for an empty log, as Kafka answers.
///
/// The log answers "the first batch whose max timestamp is at or after t"
/// (from each segment's max timestamp and time index), so the largest
/// timestamp is the largest t that still finds a batch: a binary search of
/// at most 64 lookups. MAX_TIMESTAMP is an admin query (kafka-get-offsets,
/// AdminClient.listOffsets with OffsetSpec.maxTimestamp), not a hot path.
async fn max_timestamp(partition: &Partition) -> std::io::Result<(i64, i64)> {
    let start = partition.log_start_offset();
    let found = |batch: &bytes::Bytes| -> Option<(i64, i64)> {
        let mut bytes = batch.clone();
        let set = RecordBatchDecoder::decode(&mut bytes).ok()?;
        set.records
            .iter()
            .filter(|record| record.offset >= start)
            .max_by_key(|record| (record.timestamp, -record.offset))
            .map(|record| (record.offset, record.timestamp))
    };
    // Invariant: a batch reaches `low`; none reaches `high`.
    let mut low = match partition.log().batch_by_timestamp(i64::MIN).await? {
        Some(_) => i64::MIN,
        None => return Ok((-1, -1)),
    };
    let mut high = i64::MAX;
    if partition.log().batch_by_timestamp(high).await?.is_some() {
        low = high;
    }
    // i128: the span from i64::MIN to i64::MAX does not fit an i64.
    while i128::from(high) - i128::from(low) > 1 {
        let middle = ((i128::from(low) + i128::from(high)) / 2) as i64;
        if partition.log().batch_by_timestamp(middle).await?.is_some() {
            low = middle;
        } else {
            high = middle;
        }
    }
    match partition.log().batch_by_timestamp(low).await? {
        // A batch this build cannot decompress: its first offset, with the
        // batch's max timestamp, is the closest answer.
        Some(batch) => Ok(found(&batch).unwrap_or_else(|| {
            let base_offset =
                i64::from_be_bytes(batch[0..8].try_into().expect("a stored batch has a header"));
            (base_offset.max(start), low)
        })),
        None => Ok((-1, -1)),
    }
}
