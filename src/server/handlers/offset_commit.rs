//! OffsetCommit (key 8), v0-v9: stores a group's consumed positions in the
//! offsets log, durably, before answering. Members commit within their
//! generation; a consumer that assigns partitions itself commits with
//! generation -1 to a group that has no members.
//!
//! Versions, from Kafka 3.9's schema: v0 has no generation or member (a
//! commit outside group management, accepted while the group is empty);
//! v1 adds them and a per-partition commit timestamp (-1: now); v2-v4 carry
//! a retention time, which Kafka 3.x ignores in favour of the broker's
//! offsets retention, as corelog does; v6 adds the leader epoch, v7 the
//! group instance id, v8 is flexible, v9 answers GROUP_ID_NOT_FOUND instead
//! of ILLEGAL_GENERATION for a member commit to a group that does not exist.
//! Kafka 4.0 dropped v0-v1 (KIP-896); they stay here for old clients
//! (sarama 1.22 commits with v1). The codec knows v2+ only, so v0-v1 are
//! read by hand; their response is v2's layout.

use std::ops::RangeInclusive;

use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{GroupId, OffsetCommitRequest, OffsetCommitResponse, TopicName};
use kafka_protocol::protocol::buf::ByteBuf;
use kafka_protocol::protocol::Decodable;

use super::legacy::{CodecResult, Reader, SameAs};
use super::RequestContext;
use crate::group::{CommitPartition, OffsetCommit};
use crate::protocol::ErrorCode;
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 0..=9;

/// The oldest version the codec crate reads and writes.
const CODEC_VERSION_MIN: i16 = 2;

/// An OffsetCommit request of any supported version.
#[derive(Debug, Default)]
pub struct Request {
    pub body: OffsetCommitRequest,
    /// v1 only: each partition's commit timestamp in request order, -1
    /// meaning "now" (empty for other versions).
    pub commit_timestamps: Vec<i64>,
}

impl Decodable for Request {
    fn decode<B: ByteBuf>(buf: &mut B, version: i16) -> CodecResult<Self> {
        if version >= CODEC_VERSION_MIN {
            return Ok(Request {
                body: OffsetCommitRequest::decode(buf, version)?,
                commit_timestamps: Vec::new(),
            });
        }
        let mut reader = Reader::new(buf);
        let mut request = Request::default();
        request.body.group_id = GroupId(reader.string()?);
        if version >= 1 {
            request.body.generation_id_or_member_epoch = reader.i32()?;
            request.body.member_id = reader.string()?;
        } else {
            request.body.generation_id_or_member_epoch = -1;
        }
        // A topic is at least a name length and a partition count; a
        // partition at least its index, offset, (timestamp) and metadata length.
        let topic_count = reader.array_length(6)?;
        let partition_bytes_min = if version >= 1 { 22 } else { 14 };
        for _ in 0..topic_count {
            let name = TopicName(reader.string()?);
            let partition_count = reader.array_length(partition_bytes_min)?;
            let mut partitions = Vec::with_capacity(partition_count);
            for _ in 0..partition_count {
                let partition_index = reader.i32()?;
                let committed_offset = reader.i64()?;
                if version >= 1 {
                    request.commit_timestamps.push(reader.i64()?);
                }
                let committed_metadata = reader.nullable_string()?;
                partitions.push(
                    OffsetCommitRequestPartition::default()
                        .with_partition_index(partition_index)
                        .with_committed_offset(committed_offset)
                        .with_committed_metadata(committed_metadata),
                );
            }
            request.body.topics.push(
                OffsetCommitRequestTopic::default()
                    .with_name(name)
                    .with_partitions(partitions),
            );
        }
        Ok(request)
    }
}

/// The response; v0-v1 have v2's layout (v3 added the throttle time).
pub type Response = SameAs<OffsetCommitResponse, CODEC_VERSION_MIN>;

pub async fn handle(context: &RequestContext, shard: &Shard, request: Request) -> Response {
    let version = context.version;
    let Request {
        body: request,
        commit_timestamps,
    } = request;
    let mut commit_timestamps = commit_timestamps.into_iter();
    let partitions = request
        .topics
        .iter()
        .flat_map(|topic| {
            topic
                .partitions
                .iter()
                .map(move |partition| (topic, partition))
        })
        .map(|(topic, partition)| CommitPartition {
            topic: topic.name.0.to_string(),
            partition: partition.partition_index,
            offset: partition.committed_offset,
            leader_epoch: if version >= 6 {
                partition.committed_leader_epoch
            } else {
                -1
            },
            metadata: partition
                .committed_metadata
                .as_ref()
                .map(|metadata| metadata.to_string()),
            // v1's own timestamp when it gives one (Kafka 3.9 does the same).
            commit_timestamp: commit_timestamps
                .next()
                .filter(|&timestamp| timestamp != -1),
        })
        .collect();
    let commit = OffsetCommit {
        group_id: request.group_id.0.to_string(),
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.as_ref().map(|id| id.to_string()),
        generation_id_or_member_epoch: request.generation_id_or_member_epoch,
        version,
        partitions,
    };
    let codes = shard
        .groups
        .commit_offsets(&shard.metadata.snapshot(), commit)
        .await;
    SameAs(response(request.topics, codes))
}

/// The response: each partition of each topic with its code, in the
/// request's order (`codes` is that order, flattened).
fn response(topics: Vec<OffsetCommitRequestTopic>, codes: Vec<ErrorCode>) -> OffsetCommitResponse {
    let mut codes = codes.into_iter();
    let topics = topics
        .into_iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .zip(codes.by_ref())
                .map(|(partition, code)| {
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(partition.partition_index)
                        .with_error_code(code.0)
                })
                .collect();
            OffsetCommitResponseTopic::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}
