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

use std::future::Future;
use std::ops::RangeInclusive;
use std::pin::Pin;
use std::rc::Rc;

use bytes::BytesMut;

use super::now_milliseconds;
use super::RequestContext;
use crate::partition::{AppendError, Appended, DurableWait, Partition};
use crate::protocol::batch::TimestampType;
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

type Written = Pin<Box<dyn Future<Output = Result<(Appended, Option<DurableWait>), AppendError>>>>;

enum Started {
    Refused(ErrorCode),
    Writing(Rc<Partition>, i64, Written),
}

pub async fn handle(
    context: &RequestContext,
    shard: &Shard,
    request: LegacyProduceRequest,
) -> Option<PendingFrame> {
    let version = context.version;
    let correlation_id = context.correlation_id;
    let acks = request.acks;
    let acks_valid = matches!(acks, -1..=1);
    // Staged in request order, like produce.rs: the writes start now and
    // the reply waits for them.
    let mut started = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for data in topic.partitions {
            let outcome = if !acks_valid {
                Started::Refused(ErrorCode::INVALID_REQUIRED_ACKS)
            } else if crate::metadata::is_internal(&topic.name) {
                Started::Refused(ErrorCode::INVALID_TOPIC_EXCEPTION)
            } else {
                match shard.partitions.route(&topic.name, data.index) {
                    Route::Elsewhere(code) => Started::Refused(code),
                    Route::Here(partition) => {
                        let limits = UpConversionLimits {
                            message_bytes_max: partition.log().config().max_message_bytes,
                            decompressed_bytes_max: crate::limits::LEGACY_DECOMPRESSED_BYTES_MAX,
                        };
                        match legacy_records::up_convert(&data.message_set, limits) {
                            Err(error) => Started::Refused(error.error_code()),
                            Ok(converted) => {
                                let batch = converted.batch;
                                let budget = shard.partitions.produce_budget().acquire(batch.len()).await;
                                let now = now_milliseconds();
                                // acks=1 waits for durability too: with one replica Kafka's
                                // acks=1 answer means the high watermark covers the batch, and
                                // here the high watermark is the durable offset.
                                let written = partition.write(batch, acks != 0, now, Some(budget));
                                Started::Writing(partition, now, Box::pin(written))
                            }
                        }
                    }
                }
            };
            partitions.push((data.index, outcome));
        }
        started.push((topic.name, partitions));
    }
    let reply = async move {
        let mut waits: Vec<(usize, usize, DurableWait)> = Vec::new();
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
                match outcome {
                    Started::Refused(code) => response.error_code = code.0,
                    Started::Writing(partition, now, written) => match written.await {
                        Ok((appended, wait)) => {
                            if let Some(wait) = wait {
                                waits.push((topics.len(), responses.len(), wait));
                            }
                            response.base_offset = appended.base_offset;
                            response.log_append_time_ms =
                                match partition.log().config().timestamp_type {
                                    TimestampType::LogAppendTime if appended.max_timestamp >= 0 => {
                                        appended.max_timestamp
                                    }
                                    TimestampType::LogAppendTime => now,
                                    TimestampType::CreateTime => -1,
                                };
                        }
                        Err(error) => response.error_code = refusal(&error).0,
                    },
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
        let response = LegacyProduceResponse {
            topics,
            throttle_time_ms: 0,
        };
        legacy_requests::encode_produce_response(version, correlation_id, &response)
    };
    if acks == 0 {
        // No response; the writes still finish before the next request.
        reply.await;
        return None;
    }
    Some(Box::pin(reply))
}

/// The error code for a failed append of a converted batch (the old
/// versions carry no error message).
fn refusal(error: &AppendError) -> ErrorCode {
    match error {
        AppendError::Batch(error) => error.error_code(),
        AppendError::Storage(_) => ErrorCode::KAFKA_STORAGE_ERROR,
        AppendError::Closed => ErrorCode::NOT_LEADER_OR_FOLLOWER,
        // A converted batch is never idempotent; kept for completeness.
        AppendError::FencedEpoch => ErrorCode::INVALID_PRODUCER_EPOCH,
        AppendError::OutOfOrderSequence => ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER,
        AppendError::SeveralIdempotentBatches => ErrorCode::INVALID_RECORD,
    }
}
