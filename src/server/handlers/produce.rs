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
//!
//! acks=all on a replicated partition: refused with NOT_ENOUGH_REPLICAS
//! before appending while the ISR is smaller than `min.insync.replicas`;
//! otherwise answered once the high watermark covers the append (every
//! in-sync replica synced it), NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR
//! shrank below that meanwhile, REQUEST_TIMED_OUT at the request's timeout.
//!
//! Invariants: one answer per requested partition, in request order; each
//! partition's write is staged (or refused) before `handle` returns, in
//! request order; a partition is answered as written only once its write is
//! done and, for acks=1 and acks=all, durable; acks=0 gets no answer, and
//! only after the writes finished.

use std::future::Future;
use std::ops::RangeInclusive;
use std::pin::Pin;
use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::now_milliseconds;
use super::RequestContext;

use std::time::{Duration, Instant};

use crate::limits::PRODUCE_TIMEOUT_MILLISECONDS_MAX;
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
    // acks=all waits for the high watermark at most this long.
    let deadline = Instant::now()
        + Duration::from_millis(
            (request.timeout_ms.max(0) as u64).min(PRODUCE_TIMEOUT_MILLISECONDS_MAX),
        );
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
            let records = data.records.unwrap_or_default();
            let outcome =
                stage_partition(shard, acks, deadline, name.as_deref(), data.index, records).await;
            partitions.push((data.index, outcome));
        }
        started.push((topic.name, topic.topic_id, partitions));
    }
    drop(snapshot);
    answer_unless_acks_zero(acks, reply(version, started)).await
}

/// Kafka's checks, then the route, then the write started: the outcome of
/// one partition of a request.
async fn stage_partition(
    shard: &Shard,
    acks: i16,
    deadline: Instant,
    name: Option<&str>,
    index: i32,
    records: Bytes,
) -> Started {
    if let Err((code, message)) = check_request(acks, name) {
        return Started::Refused(code, message);
    }
    let route = match name {
        Some(name) => shard.partitions.route(name, index),
        None => Route::Elsewhere(ErrorCode::UNKNOWN_TOPIC_ID),
    };
    match route {
        Route::Elsewhere(code) => Started::Refused(code, None),
        Route::Here(partition) if acks == -1 && !partition.enough_in_sync() => {
            Started::Refused(NOT_ENOUGH_REPLICAS, None)
        }
        Route::Here(partition) => {
            let started = start_write(shard, partition, records, acks).await;
            if acks == -1 {
                wait_for_replicas(started, deadline)
            } else {
                started
            }
        }
    }
}

/// Kafka's NOT_ENOUGH_REPLICAS: acks=all with fewer in-sync replicas than
/// `min.insync.replicas`, refused before appending.
const NOT_ENOUGH_REPLICAS: ErrorCode = ErrorCode(19);
/// Kafka's NOT_ENOUGH_REPLICAS_AFTER_APPEND: written, but the ISR shrank
/// below `min.insync.replicas` before the append was committed.
const NOT_ENOUGH_REPLICAS_AFTER_APPEND: ErrorCode = ErrorCode(20);

/// An acks=all write whose durable wait goes on until the high watermark
/// covers it (every in-sync replica synced it), or `deadline`.
fn wait_for_replicas(started: Started, deadline: Instant) -> Started {
    let Started::Writing(partition, now, written) = started else {
        return started;
    };
    let waiting = partition.clone();
    let written = async move {
        let (appended, wait) = written.await?;
        let next_offset = appended.next_offset;
        let committed: DurableWait = Box::pin(async move {
            if let Some(wait) = wait {
                wait.await?;
            }
            waiting
                .wait_committed(next_offset, deadline)
                .await
                .map_err(AppendError::from)
        });
        Ok((appended, Some(committed)))
    };
    Started::Writing(partition, now, Box::pin(written))
}

/// Kafka's checks of a partition before it is routed: acks must be -1, 0
/// or 1, and only the group coordinator writes an internal topic (`None`
/// for a topic not known by name, which routing refuses).
pub(super) fn check_request(
    acks: i16,
    name: Option<&str>,
) -> Result<(), (ErrorCode, Option<String>)> {
    if !matches!(acks, -1..=1) {
        return Err((ErrorCode::INVALID_REQUIRED_ACKS, None));
    }
    match name.filter(|name| crate::metadata::is_internal(name)) {
        // Only the group coordinator writes the offsets topic.
        Some(name) => Err((
            ErrorCode::INVALID_TOPIC_EXCEPTION,
            Some(format!("Cannot append to internal topic {name}")),
        )),
        None => Ok(()),
    }
}

/// Stages `records` on `partition` once the shard's budget of unwritten
/// bytes has room for them.
pub(super) async fn start_write(
    shard: &Shard,
    partition: Rc<Partition>,
    records: Bytes,
    acks: i16,
) -> Started {
    let budget = shard
        .partitions
        .produce_budget()
        .acquire(records.len())
        .await;
    let now = now_milliseconds();
    // Staged now; the partition's writer writes it even if this reply is
    // dropped (the client went away). acks=1 waits for durability too:
    // with one replica Kafka's acks=1 answer means the high watermark
    // covers the batch, and here the high watermark is the durable offset.
    let written = partition.write(records, acks != 0, now, Some(budget));
    Started::Writing(partition, now, Box::pin(written))
}

/// The reply of an acks=1 or acks=all request, as a future; for acks=0,
/// waits for the writes (so they finish before the next request) and gives
/// no reply, as Kafka sends none.
pub(super) async fn answer_unless_acks_zero<T: 'static>(
    acks: i16,
    reply: impl Future<Output = T> + 'static,
) -> Option<Pin<Box<dyn Future<Output = T>>>> {
    if acks == 0 {
        reply.await;
        return None;
    }
    Some(Box::pin(reply))
}

type StartedTopic = (TopicName, Uuid, Vec<(i32, Started)>);

/// The response once every write is done and, where a wait was returned,
/// durable.
async fn reply(version: i16, started: Vec<StartedTopic>) -> ProduceResponse {
    let mut waits = Vec::new();
    let mut responses = Vec::with_capacity(started.len());
    for (name, topic_id, partitions) in started {
        let mut partition_responses = Vec::with_capacity(partitions.len());
        for (index, outcome) in partitions {
            let response = match finish(outcome).await {
                Ok(written) => {
                    if let Some(wait) = written.wait {
                        waits.push((responses.len(), partition_responses.len(), wait));
                    }
                    let response = PartitionProduceResponse::default()
                        .with_index(index)
                        .with_base_offset(written.base_offset)
                        .with_log_append_time_ms(written.log_append_time);
                    if version >= 5 {
                        response.with_log_start_offset(written.log_start_offset)
                    } else {
                        response
                    }
                }
                Err((code, message)) => refused(version, index, code, message),
            };
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
            let (code, message) = refusal(error);
            response.error_code = code.0;
            response.base_offset = -1;
            if version >= 8 {
                response.error_message = message.map(StrBytes::from_string);
            }
        }
    }
    for partition in responses
        .iter()
        .flat_map(|topic| &topic.partition_responses)
        .filter(|partition| partition.error_code != 0)
    {
        crate::metrics::count_error(
            kafka_protocol::messages::ApiKey::Produce as i16,
            partition.error_code,
        );
    }
    ProduceResponse::default().with_responses(responses)
}

/// A partition's answer when its append was refused or failed.
fn refused(
    version: i16,
    index: i32,
    code: ErrorCode,
    message: Option<String>,
) -> PartitionProduceResponse {
    let response = PartitionProduceResponse::default()
        .with_index(index)
        .with_base_offset(-1)
        .with_error_code(code.0);
    if version >= 8 {
        response.with_error_message(message.map(StrBytes::from_string))
    } else {
        response
    }
}

type Written = Pin<Box<dyn Future<Output = Result<(Appended, Option<DurableWait>), AppendError>>>>;

/// One partition of a request once its write has been started, or refused.
pub(super) enum Started {
    Refused(ErrorCode, Option<String>),
    Writing(Rc<Partition>, i64, Written),
}

/// A partition's write once it is written (and not yet known durable).
pub(super) struct Finished {
    pub(super) base_offset: i64,
    /// The time stored for LogAppendTime topics, -1 for CreateTime.
    pub(super) log_append_time: i64,
    pub(super) log_start_offset: i64,
    /// Resolves once the write is durable (acks other than 0).
    pub(super) wait: Option<DurableWait>,
}

/// Waits for a started write; a refusal or failure as its error code and
/// message.
pub(super) async fn finish(started: Started) -> Result<Finished, (ErrorCode, Option<String>)> {
    let (partition, now, written) = match started {
        Started::Refused(code, message) => return Err((code, message)),
        Started::Writing(partition, now, written) => (partition, now, written),
    };
    let (appended, wait) = written.await.map_err(refusal)?;
    let log_append_time = match partition.log().config().timestamp_type {
        // The time stored: appends written together share the first one's
        // clock reading.
        TimestampType::LogAppendTime if appended.max_timestamp >= 0 => appended.max_timestamp,
        TimestampType::LogAppendTime => now,
        TimestampType::CreateTime => -1,
    };
    Ok(Finished {
        base_offset: appended.base_offset,
        log_append_time,
        log_start_offset: partition.log_start_offset(),
        wait,
    })
}

/// The error code (and message) a client gets for a failed append.
pub(super) fn refusal(error: AppendError) -> (ErrorCode, Option<String>) {
    match error {
        AppendError::Batch(error) => (error.error_code(), Some(error.to_string())),
        // Logged once by the partition.
        AppendError::Storage(error) => (ErrorCode::KAFKA_STORAGE_ERROR, Some(error.to_string())),
        AppendError::Closed => (ErrorCode::NOT_LEADER_OR_FOLLOWER, None),
        AppendError::NotEnoughReplicasAfterAppend => (NOT_ENOUGH_REPLICAS_AFTER_APPEND, None),
        AppendError::TimedOut => (ErrorCode::REQUEST_TIMED_OUT, None),
        AppendError::FencedEpoch => (ErrorCode::INVALID_PRODUCER_EPOCH, None),
        AppendError::OutOfOrderSequence => (ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER, None),
        AppendError::SeveralIdempotentBatches => (
            ErrorCode::INVALID_RECORD,
            Some("an idempotent producer sends one batch per partition".into()),
        ),
    }
}
