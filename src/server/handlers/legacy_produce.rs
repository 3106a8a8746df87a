//! Produce (key 0), v0-v2: requests whose records are magic 0 or 1 message
//! sets (kafka-go 0.2.1 and other clients from before Kafka 0.11). Each
//! partition's message set is converted to one RecordBatch v2, as Kafka 3.9
//! does, and appended like any v3+ produce; the reply carries the base
//! offset of the converted batch.
//!
//! Kafka's own request checks come first (acks, internal topics, routing),
//! then the conversion, whose failures answer that partition alone:
//! CORRUPT_MESSAGE for a bad CRC or a truncated set, MESSAGE_TOO_LARGE for
//! a message over `max.message.bytes`, UNSUPPORTED_COMPRESSION_TYPE for lz4.
//! The converted batch goes through the same validation and writer as any
//! other, so the log only ever holds v2 batches.
//!
//! Invariants: as in produce.rs (one answer per partition in request order,
//! staged before `handle` returns, answered as written only once durable);
//! the log receives only the converted v2 batch, never a message set.

use std::future::Future;
use std::ops::RangeInclusive;
use std::pin::Pin;

use bytes::{Bytes, BytesMut};

use super::produce::{answer_unless_acks_zero, check_request, finish, start_write, Started};
use super::RequestContext;
use crate::protocol::legacy_records::{self, UpConversionLimits};
use crate::protocol::legacy_requests::{
    self, LegacyProducePartitionResponse, LegacyProduceRequest, LegacyProduceResponse,
    LegacyProduceTopicResponse,
};
use crate::protocol::ErrorCode;
use crate::shard::{Route, Shard};

pub const VERSIONS: RangeInclusive<i16> = legacy_requests::PRODUCE_VERSIONS;

/// The whole response frame once the writes are done (and durable for
/// acks=all); `None` for acks=0.
pub type PendingFrame = Pin<Box<dyn Future<Output = BytesMut>>>;

pub async fn handle(
    context: &RequestContext,
    shard: &Shard,
    request: LegacyProduceRequest,
) -> Option<PendingFrame> {
    let version = context.version;
    let correlation_id = context.correlation_id;
    let acks = request.acks;
    // Staged in request order, like produce.rs: the writes start now and
    // the reply waits for them.
    let mut started = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for data in topic.partitions {
            let outcome =
                stage_partition(shard, acks, &topic.name, data.index, &data.message_set).await;
            partitions.push((data.index, outcome));
        }
        started.push((topic.name, partitions));
    }
    let reply = async move {
        let response = reply(started).await;
        legacy_requests::encode_produce_response(version, correlation_id, &response)
    };
    answer_unless_acks_zero(acks, reply).await
}

/// Kafka's checks, then the route, then the conversion to a v2 batch, then
/// the write started: the outcome of one partition of a request.
async fn stage_partition(
    shard: &Shard,
    acks: i16,
    name: &str,
    index: i32,
    message_set: &Bytes,
) -> Started {
    // The old versions carry no error message.
    if let Err((code, _)) = check_request(acks, Some(name)) {
        return Started::Refused(code, None);
    }
    let partition = match shard.partitions.route(name, index) {
        Route::Elsewhere(code) => return Started::Refused(code, None),
        Route::Here(partition) => partition,
    };
    let limits = UpConversionLimits {
        message_bytes_max: partition.log().config().max_message_bytes,
        decompressed_bytes_max: crate::limits::LEGACY_DECOMPRESSED_BYTES_MAX,
    };
    match legacy_records::up_convert(message_set, limits) {
        Err(error) => Started::Refused(error.error_code(), None),
        Ok(converted) => start_write(shard, partition, converted.batch, acks).await,
    }
}

/// The response once every write is done and, where a wait was returned,
/// durable.
async fn reply(started: Vec<(String, Vec<(i32, Started)>)>) -> LegacyProduceResponse {
    let mut waits = Vec::new();
    let mut topics = Vec::with_capacity(started.len());
    for (name, partitions) in started {
        let mut responses = Vec::with_capacity(partitions.len());
        for (index, outcome) in partitions {
            let mut response = LegacyProducePartitionResponse {
                index,
                error_code: ErrorCode::NONE.0,
                base_offset: -1,
                log_append_time_ms: -1,
            };
            match finish(outcome).await {
                Ok(written) => {
                    if let Some(wait) = written.wait {
                        waits.push((topics.len(), responses.len(), wait));
                    }
                    response.base_offset = written.base_offset;
                    response.log_append_time_ms = written.log_append_time;
                }
                Err((code, _)) => response.error_code = code.0,
            }
            responses.push(response);
        }
        topics.push(LegacyProduceTopicResponse {
            name,
            partitions: responses,
        });
    }
    for (topic, partition, wait) in waits {
        if wait.await.is_err() {
            let response = &mut topics[topic].partitions[partition];
            response.error_code = ErrorCode::KAFKA_STORAGE_ERROR.0;
            response.base_offset = -1;
        }
    }
    LegacyProduceResponse {
        topics,
        throttle_time_ms: 0,
    }
}
