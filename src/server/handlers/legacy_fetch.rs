//! Fetch (key 1), v0-v3: the stored v2 batches converted to the message
//! format the version can carry (magic 0 for v0-v1, magic 1 for v2-v3), as
//! Kafka 3.9 converts for old consumers. Long polls and byte limits work as
//! in fetch.rs; the limits apply to the converted messages, and the first
//! partition with data always gets at least one whole message.
//!
//! Converted data is built in memory (it cannot be sent from the segment
//! files as it is), so each partition's read is bounded by its
//! `partition_max_bytes` and the response by `max_bytes` (v3) and
//! `FETCH_RESPONSE_BYTES_MAX`.
//!
//! Invariants: only converted magic 0/1 messages are sent, never a v2
//! batch; one answer per requested partition, in request order; a partition
//! whose data cannot be converted answers with an error code and no data.

use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::fetch::read_error_code;
use super::RequestContext;
use crate::limits::{FETCH_RESPONSE_BYTES_MAX, FETCH_WAIT_MILLISECONDS_MAX};
use crate::partition::{ColdReads, Partition};
use crate::protocol::legacy_records::{self, DownConversionLimits};
use crate::protocol::legacy_requests::{
    self, LegacyFetchPartition, LegacyFetchPartitionResponse, LegacyFetchRequest,
    LegacyFetchResponse, LegacyFetchTopicResponse,
};
use crate::protocol::ErrorCode;
use crate::rt::net::Piece;
use crate::shard::{Route, Shard};

pub const VERSIONS: RangeInclusive<i16> = legacy_requests::FETCH_VERSIONS;

/// The whole response frame.
pub async fn handle(
    context: &RequestContext,
    shard: &Shard,
    request: LegacyFetchRequest,
) -> BytesMut {
    let version = context.version;
    let correlation_id = context.correlation_id;
    let wait = Duration::from_millis(
        request
            .max_wait_ms
            .clamp(0, FETCH_WAIT_MILLISECONDS_MAX as i32) as u64,
    );
    let deadline = Instant::now() + wait;
    let magic = legacy_records::magic_for_fetch_version(version);
    loop {
        let seen = shard.partitions.appended().generation();
        let (response, bytes, any_error) = read_once(shard, &request, magic).await;
        let enough = bytes >= request.min_bytes.max(0) as usize || any_error;
        if super::fetch::answer_now(shard, seen, enough, deadline).await {
            return legacy_requests::encode_fetch_response(version, correlation_id, &response);
        }
    }
}

async fn read_once(
    shard: &Shard,
    request: &LegacyFetchRequest,
    magic: i8,
) -> (LegacyFetchResponse, usize, bool) {
    let mut remaining = (request.max_bytes.max(0) as u64).min(FETCH_RESPONSE_BYTES_MAX);
    let mut total = 0usize;
    let mut any_error = false;
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for wanted in &topic.partitions {
            let (data, failed) =
                read_partition(shard, &topic.name, wanted, magic, remaining, total).await;
            total += data.message_set.len();
            remaining = remaining.saturating_sub(data.message_set.len() as u64);
            any_error |= failed;
            partitions.push(data);
        }
        topics.push(LegacyFetchTopicResponse {
            name: topic.name.clone(),
            partitions,
        });
    }
    (
        LegacyFetchResponse {
            throttle_time_ms: 0,
            topics,
        },
        total,
        any_error,
    )
}

/// One partition's answer within what is left of the response's bytes
/// (`remaining`; the first partition with data gets at least one message),
/// and whether it is an error.
async fn read_partition(
    shard: &Shard,
    name: &str,
    wanted: &LegacyFetchPartition,
    magic: i8,
    remaining: u64,
    total: usize,
) -> (LegacyFetchPartitionResponse, bool) {
    let mut data = LegacyFetchPartitionResponse {
        partition_index: wanted.partition,
        error_code: ErrorCode::NONE.0,
        high_watermark: -1,
        message_set: Bytes::new(),
    };
    let partition = match shard.partitions.route(name, wanted.partition) {
        Route::Elsewhere(code) => {
            data.error_code = code.0;
            return (data, true);
        }
        Route::Here(partition) => partition,
    };
    let Some(high_watermark) = partition.consumer_high_watermark() else {
        // A new leader's high watermark may still be below its
        // predecessor's (see `fetch.rs`): wait, and if the wait ends first
        // answer NOT_LEADER_FOR_PARTITION, which these old clients retry
        // (OFFSET_NOT_AVAILABLE is newer than they are).
        data.error_code = ErrorCode::NOT_LEADER_OR_FOLLOWER.0;
        return (data, false);
    };
    data.high_watermark = high_watermark;
    let limit = (wanted.partition_max_bytes.max(0) as u64).min(remaining);
    if limit == 0 && total > 0 {
        return (data, false);
    }
    match converted(shard, name, wanted, magic, limit, &partition).await {
        Ok(set) => {
            data.message_set = set;
            (data, false)
        }
        Err(code) => {
            data.error_code = code.0;
            (data, true)
        }
    }
}

/// The partition's batches from the fetch offset, read into memory (they
/// are rewritten) and converted to a message set of `magic` within `limit`.
async fn converted(
    shard: &Shard,
    name: &str,
    wanted: &LegacyFetchPartition,
    magic: i8,
    limit: u64,
    partition: &Partition,
) -> Result<Bytes, ErrorCode> {
    let pieces = match partition
        .read_records(wanted.fetch_offset, limit, ColdReads::Copy)
        .await
    {
        Ok((pieces, _)) => pieces,
        Err(error) => return Err(read_error_code(shard, partition, error)),
    };
    let batches = joined(pieces);
    let limits = DownConversionLimits {
        max_bytes: limit as usize,
        decompressed_bytes_max: crate::limits::LEGACY_DECOMPRESSED_BYTES_MAX,
    };
    legacy_records::down_convert(&batches, magic, wanted.fetch_offset, limits).map_err(|error| {
        tracing::warn!(
            "shard {}: {}-{} from offset {} cannot be converted for an old fetch: {error}",
            shard.id,
            name,
            wanted.partition,
            wanted.fetch_offset
        );
        error.error_code()
    })
}

/// The pieces of a `ColdReads::Copy` read as one buffer (the tail cache
/// returns one piece per batch).
fn joined(pieces: Vec<Piece>) -> Bytes {
    if pieces.len() == 1 {
        if let Piece::Memory(bytes) = &pieces[0] {
            return bytes.clone();
        }
    }
    let mut out = BytesMut::with_capacity(pieces.iter().map(Piece::len).sum());
    for piece in pieces {
        match piece {
            Piece::Memory(bytes) => out.extend_from_slice(&bytes),
            Piece::File(_) => unreachable!("ColdReads::Copy reads into memory"),
        }
    }
    out.freeze()
}
