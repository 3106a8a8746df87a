//! OffsetForLeaderEpoch (key 23), v0-v4: where a leader epoch ends on the
//! partition's leader (KIP-101). Followers ask it after a leader change to
//! find how far their log agrees with the leader's; consumers (librdkafka,
//! the Java client) ask it after a leader change or a reset to validate
//! their position (KIP-320): an end offset below their position means the
//! log they read from was truncated.
//!
//! v2 adds `current_leader_epoch` (FENCED_LEADER_EPOCH for an older one,
//! UNKNOWN_LEADER_EPOCH for a newer one, -1 for no check) and the throttle
//! time, v3 `replica_id` (-1 a consumer, -2 a debugging tool, a broker id
//! a follower: all answered the same way, by the leader), v4 is flexible.
//! v0 and v1 (Kafka 3.9 accepts them, 4.0 removed them, so the codec does
//! not know them) are read and written here; v1 adds the epoch found.
//!
//! Invariants: only the partition's leader answers (others
//! NOT_LEADER_OR_FOLLOWER); the answer is the leader-epoch cache's, by
//! Kafka's rule (storage/leader_epochs.rs), (-1, -1) for an epoch newer
//! than the log knows.

use std::ops::RangeInclusive;

use bytes::BufMut;
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{
    OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse, TopicName,
};
use kafka_protocol::protocol::buf::ByteBuf;
use kafka_protocol::protocol::Decodable;

use super::legacy::{self, CodecResult, Reader};
use super::RequestContext;
use crate::shard::{Route, Shard};

pub const VERSIONS: RangeInclusive<i16> = 0..=4;

/// The oldest version the codec reads and writes.
const CODEC_VERSION_MIN: i16 = 2;

/// A request of any supported version.
#[derive(Debug, Default)]
pub struct Request(pub OffsetForLeaderEpochRequest);

impl Decodable for Request {
    fn decode<B: ByteBuf>(buf: &mut B, version: i16) -> CodecResult<Self> {
        if version >= CODEC_VERSION_MIN {
            return Ok(Request(OffsetForLeaderEpochRequest::decode(buf, version)?));
        }
        // v0-v1: topics [name, partitions [partition, leader_epoch]].
        let mut reader = Reader::new(buf);
        let mut request = OffsetForLeaderEpochRequest::default();
        let topic_count = reader.array_length(6)?;
        for _ in 0..topic_count {
            let name = TopicName(reader.string()?);
            let partition_count = reader.array_length(8)?;
            let mut partitions = Vec::with_capacity(partition_count);
            for _ in 0..partition_count {
                let partition = reader.i32()?;
                let leader_epoch = reader.i32()?;
                partitions.push(
                    OffsetForLeaderPartition::default()
                        .with_partition(partition)
                        .with_current_leader_epoch(-1)
                        .with_leader_epoch(leader_epoch),
                );
            }
            request.topics.push(
                OffsetForLeaderTopic::default()
                    .with_topic(name)
                    .with_partitions(partitions),
            );
        }
        Ok(Request(request))
    }
}

/// The response of any supported version.
#[derive(Debug, Default)]
pub struct Response(pub OffsetForLeaderEpochResponse);

impl Response {
    /// v0-v1: topics [name, partitions [error, partition, (v1) epoch,
    /// end_offset]].
    fn encode_old(&self, out: &mut impl BufMut, version: i16) {
        legacy::put_array_length(out, self.0.topics.len());
        for topic in &self.0.topics {
            legacy::put_string(out, &topic.topic.0);
            legacy::put_array_length(out, topic.partitions.len());
            for partition in &topic.partitions {
                out.put_i16(partition.error_code);
                out.put_i32(partition.partition);
                if version >= 1 {
                    out.put_i32(partition.leader_epoch);
                }
                out.put_i64(partition.end_offset);
            }
        }
    }
}

legacy::encodable_by_version!(Response, CODEC_VERSION_MIN, 0, encode_old);

pub async fn handle(_context: &RequestContext, shard: &Shard, request: Request) -> Response {
    let mut topics = Vec::with_capacity(request.0.topics.len());
    for topic in request.0.topics {
        let partitions = topic
            .partitions
            .iter()
            .map(|wanted| answer(shard, &topic.topic.0, wanted))
            .collect();
        topics.push(
            OffsetForLeaderTopicResult::default()
                .with_topic(topic.topic)
                .with_partitions(partitions),
        );
    }
    Response(OffsetForLeaderEpochResponse::default().with_topics(topics))
}

/// One partition's answer: routed to its leader at the sender's epoch,
/// then the end of the asked epoch from the leader's cache.
fn answer(shard: &Shard, topic: &str, wanted: &OffsetForLeaderPartition) -> EpochEndOffset {
    let answer = EpochEndOffset::default()
        .with_partition(wanted.partition)
        .with_leader_epoch(-1)
        .with_end_offset(-1);
    match shard
        .partitions
        .route_at_epoch(topic, wanted.partition, wanted.current_leader_epoch)
    {
        Route::Elsewhere(code) => answer.with_error_code(code.0),
        Route::Here(partition) => {
            let (epoch, end_offset) = partition.end_offset_for_epoch(wanted.leader_epoch);
            answer.with_leader_epoch(epoch).with_end_offset(end_offset)
        }
    }
}
