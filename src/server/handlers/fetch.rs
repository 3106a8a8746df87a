//! Fetch (key 1), v4-v18: stored batches served as they are, from the batch
//! holding the fetch offset; long polls park until an append on this shard
//! or `max_wait_ms`.
//!
//! Versions, from Kafka's schema: v5 adds the log start offset, v7 fetch
//! sessions (KIP-227: optional for a broker, so every answer carries
//! session id 0 and clients keep sending full requests), v11 the rack and
//! preferred read replica, v12 is flexible, v13 names topics by id instead
//! of name (KIP-516; an unknown id gets UNKNOWN_TOPIC_ID), v14-v16 only
//! allow new errors or add tagged fields a leader change fills (none are
//! sent), v15 moves the replica id into a tagged replica state, v17 and v18
//! add tagged fields only followers send (directory id, high watermark).
//! v0-v3 are not served: they need records down-converted to message
//! format v0/v1, which corelog does not do (Kafka 4.0 dropped them too).
//!
//! Byte limits follow Kafka: each partition returns at most its
//! `partition_max_bytes`, the response at most `max_bytes`, except that the
//! first partition with data always returns at least one whole batch, so a
//! batch larger than the limits can still be consumed. The broker caps
//! `max_bytes` at `FETCH_RESPONSE_BYTES_MAX` (Kafka's broker `fetch.max.bytes`),
//! whatever the client asks.
//!
//! A follower's fetch (replica id >= 0: the request's `replica_id` before
//! v15, its `replica_state` from v15) reaches only the leader, reads up to
//! the log end instead of the high watermark, and records the follower's
//! fetch offset (durable there) for the high watermark and the ISR.
//! Consumers (replica id < 0) never read above the high watermark, and
//! are not shown a new leader's until it reaches the start of its epoch
//! (see `Partition::consumer_high_watermark`): a consumer's high
//! watermark never goes back across a leader change.
//!
//! Invariants: one answer per requested partition, in request order; a
//! partition's records start at the batch holding the fetch offset and stop
//! at its `partition_max_bytes` and at what is left of the response's
//! bytes, except that the first partition with data gets one whole batch; a
//! partition another shard leads, or an unknown topic id, answers with an
//! error code and no records.

use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::FetchPartition;
use kafka_protocol::messages::{ApiKey, FetchRequest};

use super::RequestContext;
use crate::limits::{FETCH_RESPONSE_BYTES_MAX, FETCH_WAIT_MILLISECONDS_MAX};
use crate::partition::Partition;
use crate::protocol::fetch_response::{FetchedPartition, FetchedTopic};
/// A Fetch response whose records may be regions of segment files.
pub type FetchReply = crate::protocol::fetch_response::FetchReply<crate::rt::file::FileRegion>;
use crate::protocol::piece::Piece;
use crate::protocol::ErrorCode;
use crate::rt::file::FileRegion;
use crate::rt::sync::Woken;
use crate::shard::{Route, Shard};
use crate::storage::ReadError;

pub const VERSIONS: RangeInclusive<i16> = 4..=18;

/// The first version that names topics by id.
const TOPIC_IDS_VERSION: i16 = 13;

pub async fn handle(context: &RequestContext, shard: &Shard, request: FetchRequest) -> FetchReply {
    let version = context.version;
    // Fetch sessions (KIP-227) are optional for the broker: answering
    // session id 0 tells clients to keep sending full fetch requests.
    if version >= 7 && request.session_id != 0 {
        let code = ErrorCode::FETCH_SESSION_ID_NOT_FOUND.0;
        crate::metrics::count_error(ApiKey::Fetch as i16, code);
        return FetchReply {
            error_code: ErrorCode::FETCH_SESSION_ID_NOT_FOUND.0,
            topics: Vec::new(),
        };
    }
    let wait = Duration::from_millis(
        request
            .max_wait_ms
            .clamp(0, FETCH_WAIT_MILLISECONDS_MAX as i32) as u64,
    );
    let deadline = Instant::now() + wait;
    // Each requested topic's name and id, or None for an unknown id; looked
    // up once, not on every wake of a long poll.
    let snapshot = shard.metadata.snapshot();
    let topics: Vec<Option<(String, [u8; 16])>> = request
        .topics
        .iter()
        .map(|topic| {
            if version >= TOPIC_IDS_VERSION {
                snapshot
                    .topic_by_id(topic.topic_id.as_bytes())
                    .map(|known| (known.name.clone(), known.id))
            } else {
                Some((topic.topic.0.to_string(), [0; 16]))
            }
        })
        .collect();
    drop(snapshot);
    let replica = replica_of(version, &request);
    loop {
        let seen = shard.partitions.appended().generation();
        let (response, bytes, any_error) = read_once(shard, &request, &topics, replica).await;
        let enough = bytes >= request.min_bytes.max(0) as usize || any_error;
        if answer_now(shard, seen, enough, deadline).await {
            count_answer(&topics, &response);
            return response;
        }
    }
}

/// Counts what an answer carries for metrics: record bytes and records out
/// by topic (records only for batches in memory; a sendfile range is not
/// read), and partitions answered with an error.
fn count_answer(names: &[Option<(String, [u8; 16])>], response: &FetchReply) {
    for (topic, name) in response.topics.iter().zip(names) {
        for partition in &topic.partitions {
            if partition.error_code != 0 {
                crate::metrics::count_error(ApiKey::Fetch as i16, partition.error_code);
            }
            let (Some((name, _)), false) = (name, partition.records.is_empty()) else {
                continue;
            };
            let bytes = partition
                .records
                .iter()
                .map(|piece| piece.len() as u64)
                .sum();
            let records = partition
                .records
                .iter()
                .map(|piece| match piece {
                    Piece::Memory(batches) => crate::metrics::records_in_batches(batches),
                    Piece::File(_) => 0,
                })
                .sum();
            crate::metrics::count_out(name, bytes, records);
        }
    }
}

/// Whether a fetch is answered now: once it has `enough` (its `min_bytes`,
/// or an error), at its deadline, or at once when the shard already holds
/// its cap of parked fetches (`PARKED_FETCHES_PER_SHARD_MAX`). Otherwise it
/// waits for the next append or the deadline, and the caller reads again.
pub(super) async fn answer_now(shard: &Shard, seen: u64, enough: bool, deadline: Instant) -> bool {
    let now = Instant::now();
    if enough || now >= deadline {
        return true;
    }
    shard
        .partitions
        .appended()
        .wait_past(seen, deadline - now)
        .await
        == Woken::Full
}

/// The follower broker a replica's fetch comes from; `None` for a
/// consumer.
fn replica_of(version: i16, request: &FetchRequest) -> Option<u32> {
    let id = if version >= 15 {
        request.replica_state.replica_id.0
    } else {
        request.replica_id.0
    };
    u32::try_from(id).ok()
}

async fn read_once(
    shard: &Shard,
    request: &FetchRequest,
    names: &[Option<(String, [u8; 16])>],
    replica: Option<u32>,
) -> (FetchReply, usize, bool) {
    let mut remaining = (request.max_bytes.max(0) as u64).min(FETCH_RESPONSE_BYTES_MAX);
    let mut total = 0usize;
    let mut any_error = false;
    let mut topics = Vec::with_capacity(request.topics.len());
    for (topic, name) in request.topics.iter().zip(names) {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for wanted in &topic.partitions {
            let name = name.as_ref().map(|(name, _)| name.as_str());
            let (data, length, failed) =
                read_partition(shard, name, wanted, remaining, total, replica).await;
            total += length as usize;
            remaining = remaining.saturating_sub(length);
            any_error |= failed;
            partitions.push(data);
        }
        topics.push(FetchedTopic {
            name: Bytes::copy_from_slice(topic.topic.0.as_bytes()),
            // v13+ answer with the id asked for, known or not.
            topic_id: *topic.topic_id.as_bytes(),
            partitions,
        });
    }
    (
        FetchReply {
            error_code: 0,
            topics,
        },
        total,
        any_error,
    )
}

/// One partition's answer within what is left of the response's bytes
/// (`remaining`), the bytes of records it carries, and whether it is an
/// error. `name` is `None` for a topic id nobody knows.
async fn read_partition(
    shard: &Shard,
    name: Option<&str>,
    wanted: &FetchPartition,
    remaining: u64,
    total: usize,
    replica: Option<u32>,
) -> (FetchedPartition<FileRegion>, u64, bool) {
    let mut data = FetchedPartition {
        partition_index: wanted.partition,
        high_watermark: -1,
        last_stable_offset: -1,
        log_start_offset: -1,
        ..FetchedPartition::default()
    };
    let route = match name {
        // v9+ name the leader epoch the client knows (-1: none).
        Some(name) => {
            shard
                .partitions
                .route_at_epoch(name, wanted.partition, wanted.current_leader_epoch)
        }
        None => Route::Elsewhere(ErrorCode::UNKNOWN_TOPIC_ID),
    };
    let partition = match route {
        Route::Elsewhere(code) => {
            data.error_code = code.0;
            return (data, 0, true);
        }
        Route::Here(partition) => partition,
    };
    let high_watermark = if let Some(replica) = replica {
        // A follower whose log diverges from this one truncates first
        // (KIP-279): no records until it fetches from where they agree.
        if let Some(diverging) =
            partition.diverging_epoch(wanted.last_fetched_epoch, wanted.fetch_offset)
        {
            data.high_watermark = partition.high_watermark();
            data.last_stable_offset = data.high_watermark;
            data.log_start_offset = partition.log_start_offset();
            // "No such epoch here" goes as (-1, 0): (-1, -1) is the
            // field's default, which the wire does not carry.
            data.diverging_epoch = Some(match diverging {
                (epoch, end_offset) if epoch < 0 || end_offset < 0 => (-1, 0),
                known => known,
            });
            return (data, 0, true);
        }
        // Before the high watermark is read: this fetch may move it.
        partition.record_follower_fetch(replica, wanted.fetch_offset);
        partition.high_watermark()
    } else if let Some(high_watermark) = partition.consumer_high_watermark() {
        high_watermark
    } else {
        // A new leader whose high watermark may still be below its
        // predecessor's last: the consumer waits (the long poll wakes when
        // it moves) and, if the wait ends first, gets OFFSET_NOT_AVAILABLE,
        // which clients retry. Not an error for `enough`: other partitions
        // may still fill the answer.
        data.error_code = ErrorCode::OFFSET_NOT_AVAILABLE.0;
        return (data, 0, false);
    };
    data.high_watermark = high_watermark;
    data.last_stable_offset = high_watermark;
    data.log_start_offset = partition.log_start_offset();
    // Once the response is full, later partitions get no data; the first
    // with data gets at least one batch.
    let limit = (wanted.partition_max_bytes.max(0) as u64).min(remaining);
    if limit == 0 && total > 0 {
        return (data, 0, false);
    }
    let cold_reads = shard.config.cold_reads;
    let read = match replica {
        Some(_) => {
            partition
                .read_records_for_replica(wanted.fetch_offset, limit, cold_reads)
                .await
        }
        None => {
            partition
                .read_records(wanted.fetch_offset, limit, cold_reads)
                .await
        }
    };
    match read {
        Ok((records, length)) => {
            data.records = records;
            (data, length, false)
        }
        Err(error) => {
            data.error_code = read_error_code(shard, &partition, error).0;
            (data, 0, true)
        }
    }
}

/// The error a fetch answers for a partition whose read failed; a failed
/// disk read is logged with the partition's directory.
pub(super) fn read_error_code(shard: &Shard, partition: &Partition, error: ReadError) -> ErrorCode {
    match error {
        ReadError::OffsetOutOfRange { .. } => ErrorCode::OFFSET_OUT_OF_RANGE,
        ReadError::Io(error) => {
            tracing::error!(
                "shard {}: read from {} failed: {error}",
                shard.id,
                partition.log().dir().display()
            );
            ErrorCode::KAFKA_STORAGE_ERROR
        }
    }
}
