//! Produce (key 0), v3-v13: validate each partition's batches, append them
//! on this shard, answer with the base offset of each partition's first
//! batch.
//!
//! Versions, from Kafka's schema: v5 adds the log start offset, v7 zstd,
//! v8 record errors and an error message, v9 is flexible, v10 (KIP-951)
//! adds tagged leader hints that only a NOT_LEADER answer after a leader
//! change fills (none are sent: a partition's leader is fixed), v11 and v12
//! only allow new transaction errors, v13 (Kafka 4.1, KIP-516) names topics
//! by id (an unknown id gets UNKNOWN_TOPIC_ID). v0-v2 carry message sets of
//! format v0/v1, which corelog does not convert to v2 batches (and then
//! could not serve to the Fetch v0-v3 readers that go with them); Kafka 4.0
//! dropped them too.
//!
//! The writes start before this returns, in request order, and run on their
//! own; the answer is a future that completes once they are written (and,
//! for acks=all, durable), so the connection reads the next request
//! meanwhile (pipelining), consecutive requests' writes reach the disk
//! together, and the shard's group commit syncs them together.

use std::future::Future;
use std::ops::RangeInclusive;
use std::pin::Pin;
use std::rc::Rc;

use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;

use super::now_milliseconds;
use super::RequestContext;

use crate::partition::{AppendError, Appended, DurableWait, Partition};
use crate::protocol::batch::TimestampType;
use crate::protocol::ErrorCode;
use crate::shard::{Route, Shard};

pub const VERSIONS: RangeInclusive<i16> = 3..=13;

/// The first version that names topics by id.
const TOPIC_IDS_VERSION: i16 = 13;

/// The answer once durable, as a future; `None` for acks=0, which gets no
/// response at all.
pub type PendingResponse = Pin<Box<dyn Future<Output = ProduceResponse>>>;

pub async fn handle(
    context: &RequestContext,
    shard: &Shard,
    request: ProduceRequest,
) -> Option<PendingResponse> {
    let version = context.version;
    let acks = request.acks;
    let acks_valid = matches!(acks, -1..=1);
    // Every partition's append is staged here, in request order (which
    // fixes its place in its partition), and written by that partition's
    // writer task: the writes of one request go to the disk together, and
    // the connection reads the next request while they run. Their outcomes
    // are collected by the reply. Bytes not yet written are bounded per
    // shard; when that budget is spent, this waits, and so does the
    // connection.
    let mut started = Vec::with_capacity(request.topic_data.len());
    let snapshot = shard.metadata.snapshot();
    for topic in request.topic_data {
        // v13+ name the topic by id; None for an id nobody knows.
        let name = if version >= TOPIC_IDS_VERSION {
            snapshot
                .topic_by_id(topic.topic_id.as_bytes())
                .map(|known| known.name.clone())
        } else {
            Some(topic.name.0.to_string())
        };
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        for data in topic.partition_data {
            let outcome = if !acks_valid {
                Started::Refused(ErrorCode::INVALID_REQUIRED_ACKS, None)
            } else if let Some(name) = name
                .as_deref()
                .filter(|name| crate::metadata::is_internal(name))
            {
                // Only the group coordinator writes the offsets topic.
                Started::Refused(
                    ErrorCode::INVALID_TOPIC_EXCEPTION,
                    Some(format!("Cannot append to internal topic {name}")),
                )
            } else {
                let route = match &name {
                    Some(name) => shard.partitions.route(name, data.index),
                    None => Route::Elsewhere(ErrorCode::UNKNOWN_TOPIC_ID),
                };
                match route {
                    Route::Elsewhere(code) => Started::Refused(code, None),
                    Route::Here(partition) => {
                        let records = data.records.unwrap_or_default();
                        let budget = shard.partitions.produce_budget().acquire(records.len()).await;
                        let now = now_milliseconds();
                        // Staged now; the partition's writer writes it even
                        // if this reply is dropped (the client went away).
                        // acks=1 waits for durability too: with one replica Kafka's
                        // acks=1 answer means the high watermark covers the batch, and
                        // here the high watermark is the durable offset.
                        let written = partition.write(records, acks != 0, now, Some(budget));
                        Started::Writing(partition, now, Box::pin(written))
                    }
                }
            };
            partitions.push((data.index, outcome));
        }
        started.push((topic.name, topic.topic_id, partitions));
    }
    drop(snapshot);
    let reply = async move {
        let mut waits: Vec<(usize, usize, DurableWait)> = Vec::new();
        let mut responses = Vec::with_capacity(started.len());
        for (name, topic_id, partitions) in started {
            let mut partition_responses = Vec::with_capacity(partitions.len());
            for (index, outcome) in partitions {
                let mut response = PartitionProduceResponse::default()
                    .with_index(index)
                    .with_base_offset(-1);
                let outcome = match outcome {
                    Started::Refused(code, message) => Err((code, message)),
                    Started::Writing(partition, now, written) => match written.await {
                        Ok((appended, wait)) => {
                            if let Some(wait) = wait {
                                waits.push((responses.len(), partition_responses.len(), wait));
                            }
                            let log_append_time = match partition.log().config().timestamp_type {
                                // The time stored: appends written together
                                // share the first one's clock reading.
                                TimestampType::LogAppendTime if appended.max_timestamp >= 0 => {
                                    appended.max_timestamp
                                }
                                TimestampType::LogAppendTime => now,
                                TimestampType::CreateTime => -1,
                            };
                            Ok((
                                appended.base_offset,
                                log_append_time,
                                partition.log_start_offset(),
                            ))
                        }
                        Err(error) => Err(refusal(error)),
                    },
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
            let topic = TopicProduceResponse::default();
            let topic = if version >= TOPIC_IDS_VERSION {
                topic.with_topic_id(topic_id)
            } else {
                topic.with_name(name)
            };
            responses.push(topic.with_partition_responses(partition_responses));
        }
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
    };
    if acks == 0 {
        // No response; the writes still finish before the next request.
        reply.await;
        return None;
    }
    Some(Box::pin(reply))
}

type Written = Pin<Box<dyn Future<Output = Result<(Appended, Option<DurableWait>), AppendError>>>>;

/// One partition of a request once its write has been started, or refused.
enum Started {
    Refused(ErrorCode, Option<String>),
    Writing(Rc<Partition>, i64, Written),
}

/// The error code (and message) a client gets for a failed append.
fn refusal(error: AppendError) -> (ErrorCode, Option<String>) {
    match error {
        AppendError::Batch(error) => (error.error_code(), Some(error.to_string())),
        // Logged once by the partition.
        AppendError::Storage(error) => (ErrorCode::KAFKA_STORAGE_ERROR, Some(error.to_string())),
        AppendError::Closed => (ErrorCode::NOT_LEADER_OR_FOLLOWER, None),
        AppendError::FencedEpoch => (ErrorCode::INVALID_PRODUCER_EPOCH, None),
        AppendError::OutOfOrderSequence => (ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER, None),
        AppendError::SeveralIdempotentBatches => (
            ErrorCode::INVALID_RECORD,
            Some("an idempotent producer sends one batch per partition".into()),
        ),
    }
}
