//! OffsetFetch (key 9), v0-v9: a group's committed offsets, -1 where none
//! was committed. v2+ may ask for every partition the group committed;
//! v8 asks for several groups at once; v9 adds a member id and epoch,
//! which Kafka checks only for KIP-848 (consumer-protocol) groups, and so
//! does corelog.
//!
//! v0 read offsets from ZooKeeper in Kafka's ZooKeeper mode; a KRaft Kafka
//! 3.9 answers it from the offsets topic like v1, and so does corelog. Its
//! request and response have v1's layout; the codec knows v1+ only, so v0
//! is read and written as v1.
//!
//! Invariants: one answer per group (v8+) or one group (before), with -1,
//! -1 and "" for a partition without a committed offset; a group's error
//! is on the group (v2+) or on every partition asked for (v0-v1).

use std::ops::RangeInclusive;

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::legacy::SameAs;
use super::RequestContext;
use crate::group::offsets_log::CommittedOffset;
use crate::group::{FetchedOffsets as Found, WantedOffsets as Wanted};
use crate::protocol::ErrorCode;
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 0..=9;

pub type Request = SameAs<OffsetFetchRequest, 1>;
pub type Response = SameAs<OffsetFetchResponse, 1>;

pub async fn handle(context: &RequestContext, shard: &Shard, request: Request) -> Response {
    let snapshot = shard.metadata.snapshot();
    let fetch = |group_id: &str, wanted: Wanted, member: (Option<&str>, i32)| {
        shard
            .groups
            .fetch_offsets(&snapshot, group_id, wanted, member)
    };
    SameAs(answer(&fetch, request.0, context.version))
}

/// How a group's offsets are fetched: (group id, partitions wanted,
/// (member id, member epoch)).
type Fetch<'a> = dyn Fn(&str, Wanted, (Option<&str>, i32)) -> Result<Found, ErrorCode> + 'a;

fn answer(fetch: &Fetch<'_>, request: OffsetFetchRequest, version: i16) -> OffsetFetchResponse {
    if version >= 8 {
        answer_groups(fetch, request)
    } else {
        answer_one(fetch, request, version)
    }
}

/// v8+: several groups, each with its own error code.
fn answer_groups(fetch: &Fetch<'_>, request: OffsetFetchRequest) -> OffsetFetchResponse {
    let groups = request
        .groups
        .into_iter()
        .map(|group| {
            let wanted = group.topics.map(|topics| {
                topics
                    .into_iter()
                    .map(|topic| (topic.name.0.to_string(), topic.partition_indexes))
                    .collect()
            });
            // v9: a consumer-protocol member reads with its epoch.
            let member = (group.member_id.as_deref(), group.member_epoch);
            let (found, code) = match fetch(&group.group_id.0, wanted, member) {
                Ok(found) => (found, ErrorCode::NONE),
                Err(code) => (Found::new(), code),
            };
            let topics = found_topics(
                found,
                |name, partitions| {
                    OffsetFetchResponseTopics::default()
                        .with_name(name)
                        .with_partitions(partitions)
                },
                |index, (offset, epoch, metadata)| {
                    OffsetFetchResponsePartitions::default()
                        .with_partition_index(index)
                        .with_committed_offset(offset)
                        .with_committed_leader_epoch(epoch)
                        .with_metadata(Some(metadata))
                },
            );
            OffsetFetchResponseGroup::default()
                .with_group_id(group.group_id)
                .with_error_code(code.0)
                .with_topics(topics)
        })
        .collect();
    OffsetFetchResponse::default().with_groups(groups)
}

/// Before v8: one group; before v2 its error is on every partition.
fn answer_one(fetch: &Fetch<'_>, request: OffsetFetchRequest, version: i16) -> OffsetFetchResponse {
    let wanted: Wanted = request.topics.as_ref().map(|topics| {
        topics
            .iter()
            .map(|topic| (topic.name.0.to_string(), topic.partition_indexes.clone()))
            .collect()
    });
    let (found, code) = match fetch(&request.group_id.0, wanted.clone(), (None, -1)) {
        Ok(found) => (found, ErrorCode::NONE),
        Err(code) => {
            // v1 has no group-level error: each partition asked for carries it.
            let found = wanted
                .unwrap_or_default()
                .into_iter()
                .map(|(topic, partitions)| {
                    (
                        topic,
                        partitions.into_iter().map(|index| (index, None)).collect(),
                    )
                })
                .collect();
            (found, code)
        }
    };
    let partition_code = if version >= 2 { ErrorCode::NONE } else { code };
    let topics = found_topics(
        found,
        |name, partitions| {
            OffsetFetchResponseTopic::default()
                .with_name(name)
                .with_partitions(partitions)
        },
        |index, (offset, epoch, metadata)| {
            let mut partition = OffsetFetchResponsePartition::default()
                .with_partition_index(index)
                .with_committed_offset(offset)
                .with_metadata(Some(metadata))
                .with_error_code(partition_code.0);
            if version >= 5 {
                partition.committed_leader_epoch = epoch;
            }
            partition
        },
    );
    let mut response = OffsetFetchResponse::default().with_topics(topics);
    if version >= 2 {
        response.error_code = code.0;
    }
    response
}

/// What was found, as response topics: `topic` builds one from its name
/// and partitions, `partition` one partition from its index and what
/// `describe` says of its committed offset (the response types of v8+ and
/// of older versions differ, so each version family passes its own).
fn found_topics<T, P>(
    found: Found,
    topic: impl Fn(TopicName, Vec<P>) -> T,
    partition: impl Fn(i32, (i64, i32, StrBytes)) -> P,
) -> Vec<T> {
    found
        .into_iter()
        .map(|(name, partitions)| {
            let partitions = partitions
                .into_iter()
                .map(|(index, committed)| partition(index, describe(committed)))
                .collect();
            topic(TopicName(StrBytes::from_string(name)), partitions)
        })
        .collect()
}

/// (offset, leader epoch, metadata): -1, -1 and "" when nothing was
/// committed (clients expect "" rather than null).
fn describe(committed: Option<CommittedOffset>) -> (i64, i32, StrBytes) {
    match committed {
        Some(committed) => (
            committed.offset,
            committed.leader_epoch,
            StrBytes::from_string(committed.metadata),
        ),
        None => (-1, -1, StrBytes::default()),
    }
}
