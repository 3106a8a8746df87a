//! Produce (key 0), v3-v9: validate each partition's batches, append them on
//! this shard, answer with the base offset of each partition's first batch.
//!
//! The writes happen before this returns, in request order; the answer is a
//! future that completes once the acks=all writes are durable, so the
//! connection can read and write the next request meanwhile (pipelining)
//! and the shard's group commit can sync them together.

use std::future::Future;
use std::ops::RangeInclusive;
use std::pin::Pin;

use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;

use super::now_milliseconds;
use crate::partition::{AppendError, DurableWait};
use crate::protocol::batch::TimestampType;
use crate::protocol::ErrorCode;
use crate::shard::{Route, Shard};

pub const VERSIONS: RangeInclusive<i16> = 3..=9;

/// The answer once durable, as a future; `None` for acks=0, which gets no
/// response at all.
pub type PendingResponse = Pin<Box<dyn Future<Output = ProduceResponse>>>;

pub async fn handle(
    shard: &Shard,
    request: ProduceRequest,
    version: i16,
) -> Option<PendingResponse> {
    let mut waits: Vec<(usize, usize, DurableWait)> = Vec::new();
    let acks = request.acks;
    let acks_valid = matches!(acks, -1..=1);
    let mut responses = Vec::with_capacity(request.topic_data.len());
    let mut appended_any = false;
    for topic in request.topic_data {
        let mut partition_responses = Vec::with_capacity(topic.partition_data.len());
        for data in topic.partition_data {
            let mut response = PartitionProduceResponse::default()
                .with_index(data.index)
                .with_base_offset(-1);
            let outcome = if !acks_valid {
                Err((ErrorCode::INVALID_REQUIRED_ACKS, None))
            } else if crate::metadata::is_internal(&topic.name.0) {
                // Only the group coordinator writes the offsets topic.
                Err((
                    ErrorCode::INVALID_TOPIC_EXCEPTION,
                    Some(format!("Cannot append to internal topic {}", topic.name.0)),
                ))
            } else {
                match shard.route(&topic.name.0, data.index) {
                    Route::Elsewhere(code) => Err((code, None)),
                    Route::Here(partition) => {
                        let records = data.records.unwrap_or_default();
                        let now = now_milliseconds();
                        match partition.write(&records, acks == -1, now).await {
                            Ok((appended, wait)) => {
                                appended_any = true;
                                if let Some(wait) = wait {
                                    waits.push((responses.len(), partition_responses.len(), wait));
                                }
                                let log_append_time = match partition.log().config().timestamp_type
                                {
                                    TimestampType::LogAppendTime => now,
                                    TimestampType::CreateTime => -1,
                                };
                                Ok((
                                    appended.base_offset,
                                    log_append_time,
                                    partition.log_start_offset(),
                                ))
                            }
                            Err(AppendError::Batch(error)) => {
                                Err((error.error_code(), Some(error.to_string())))
                            }
                            // Logged once by the partition.
                            Err(AppendError::Storage(error)) => {
                                Err((ErrorCode::KAFKA_STORAGE_ERROR, Some(error.to_string())))
                            }
                            Err(AppendError::Closed) => {
                                Err((ErrorCode::NOT_LEADER_OR_FOLLOWER, None))
                            }
                            Err(AppendError::FencedEpoch) => {
                                Err((ErrorCode::INVALID_PRODUCER_EPOCH, None))
                            }
                            Err(AppendError::OutOfOrderSequence) => {
                                Err((ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER, None))
                            }
                            Err(AppendError::SeveralIdempotentBatches) => Err((
                                ErrorCode::INVALID_RECORD,
                                Some("an idempotent producer sends one batch per partition".into()),
                            )),
                        }
                    }
                }
            };
            match outcome {
                Ok((base_offset, log_append_time, log_start_offset)) => {
                    response.base_offset = base_offset;
                    response.log_append_time_ms = log_append_time;
                    if version >= 5 {
                        response.log_start_offset = log_start_offset;
                    }
                }
                Err((code, message)) => {
                    response.error_code = code.0;
                    if version >= 8 {
                        response.error_message = message.map(StrBytes::from_string);
                    }
                }
            }
            partition_responses.push(response);
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(topic.name)
                .with_partition_responses(partition_responses),
        );
    }
    if appended_any {
        shard.appended.notify_all();
    }
    if acks == 0 {
        return None;
    }
    Some(Box::pin(async move {
        for (topic, partition, wait) in waits {
            if let Err(error) = wait.await {
                let response = &mut responses[topic].partition_responses[partition];
                response.error_code = ErrorCode::KAFKA_STORAGE_ERROR.0;
                response.base_offset = -1;
                if version >= 8 {
                    let message = match error {
                        AppendError::Storage(error) => error.to_string(),
                        other => format!("{other:?}"),
                    };
                    response.error_message = Some(StrBytes::from_string(message));
                }
            }
        }
        ProduceResponse::default().with_responses(responses)
    }))
}
