//! A follower fetcher: one task and one connection from this shard to one
//! leader broker, fetching every partition this shard follows there in one
//! Kafka Fetch (v12: replica id = this shard's broker id, current leader
//! epoch, fetch offset = the local log end).
//!
//! A round: send the Fetch, read the answer (its frame length checked
//! against `REPLICA_FETCH_FRAME_BYTES_MAX` before anything is allocated),
//! append each partition's batches as given, wait until the group commit
//! synced them, take the leader's high watermark, and only then fetch
//! again, so every fetch offset the leader sees is durable here. On an
//! error the connection is dropped and the next round waits a backoff
//! that doubles up to `REPLICA_FETCH_BACKOFF_MILLISECONDS_MAX`.
//!
//! Invariants: at most one request in flight per fetcher; memory held is
//! one response (bounded above); the task ends once no partition of this
//! shard follows this leader at this address (role changed, partition
//! moved or deleted), and removes itself from the running set.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::rc::Rc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{
    ApiKey, BrokerId, FetchRequest, FetchResponse, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};

use super::Running;
use crate::limits::{
    REPLICA_CONNECT_TIMEOUT_MILLISECONDS, REPLICA_FETCH_BACKOFF_MILLISECONDS,
    REPLICA_FETCH_BACKOFF_MILLISECONDS_MAX, REPLICA_FETCH_FRAME_BYTES_MAX,
    REPLICA_FETCH_PARTITIONS_MAX, REPLICA_FETCH_PARTITION_BYTES_MAX,
    REPLICA_FETCH_RESPONSE_BYTES_MAX, REPLICA_FETCH_WAIT_MILLISECONDS,
};
use crate::partition::Partition;
use crate::rt::net::{ConnectionReader, ConnectionWriter, SocketReader, SocketWriter};
use crate::shard::Shard;

/// The Fetch version followers send: flexible, topics by name, with the
/// replica id in the body and the diverging-epoch answer.
const FETCH_VERSION: i16 = 12;

/// An open connection to the leader.
struct Session {
    reader: ConnectionReader,
    writer: ConnectionWriter,
    correlation_id: i32,
}

/// Fetches from `leader` at `address` until no partition here follows it.
pub async fn run(shard: Rc<Shard>, leader: u32, address: String, running: Running) {
    let key = (leader, address.clone());
    let mut session: Option<Session> = None;
    let mut backoff = REPLICA_FETCH_BACKOFF_MILLISECONDS;
    let mut last_error = String::new();
    loop {
        let partitions = shard.partitions.followed().remove(&key).unwrap_or_default();
        if partitions.is_empty() {
            break;
        }
        match fetch_once(&shard, &address, &mut session, &partitions).await {
            Ok(()) => {
                backoff = REPLICA_FETCH_BACKOFF_MILLISECONDS;
                last_error.clear();
            }
            Err(error) => {
                let message = error.to_string();
                // Logged when it changes, not on every retry.
                if message != last_error {
                    tracing::warn!(
                        "fetching from leader {leader} at {address}: {message}; retrying"
                    );
                    last_error = message;
                }
                if error.kind() != io::ErrorKind::Other {
                    session = None;
                }
                crate::rt::sleep(Duration::from_millis(backoff)).await;
                backoff = (backoff * 2).min(REPLICA_FETCH_BACKOFF_MILLISECONDS_MAX);
            }
        }
    }
    running.borrow_mut().remove(&key);
}

/// One round: request, answer, appends synced. A partition's error makes
/// the round an `Other` error (the connection stays; the fetcher backs
/// off); a connection or protocol failure any other kind.
async fn fetch_once(
    shard: &Shard,
    address: &str,
    session: &mut Option<Session>,
    partitions: &[Rc<Partition>],
) -> io::Result<()> {
    if session.is_none() {
        let limit = Duration::from_millis(REPLICA_CONNECT_TIMEOUT_MILLISECONDS);
        let (reader, writer) = crate::rt::net::connect(address, limit).await?.split();
        *session = Some(Session {
            reader,
            writer,
            correlation_id: 0,
        });
    }
    let session = session.as_mut().expect("connected above");
    let partitions = &partitions[..partitions.len().min(REPLICA_FETCH_PARTITIONS_MAX)];
    let request = fetch_request(shard.broker_id, partitions);
    // Where each partition stood when asked: an answer is for that state.
    let asked: Vec<Asked> = partitions
        .iter()
        .map(|partition| Asked {
            partition: partition.clone(),
            leader_epoch: partition.leader_epoch(),
            fetch_offset: partition.log_end_offset(),
        })
        .collect();
    session.correlation_id = session.correlation_id.wrapping_add(1);
    let frame = encode(&request, session.correlation_id)?;
    session.writer.write_all(&frame).await?;
    let response = read_response(session).await?;
    apply(&asked, response).await
}

/// A partition as it was when its fetch went out.
struct Asked {
    partition: Rc<Partition>,
    leader_epoch: i32,
    fetch_offset: i64,
}

impl Asked {
    /// Whether an answer to this fetch still applies: the partition
    /// follows in the same leader epoch, from the same offset. A new epoch
    /// (installed while the fetch was out, as when this leader's host was
    /// paused and resumed) makes it the old leader's records: appended,
    /// they would sit under the new leader's epoch where its log holds
    /// others, and a consumer could read them before the truncation that
    /// follows; a moved log end (a truncation meanwhile) would put them at
    /// the wrong offsets.
    fn still_current(&self) -> bool {
        !self.partition.is_leader()
            && self.partition.leader_epoch() == self.leader_epoch
            && self.partition.log_end_offset() == self.fetch_offset
    }
}

/// The Fetch for `partitions`, each from its log end.
fn fetch_request(broker_id: u32, partitions: &[Rc<Partition>]) -> FetchRequest {
    let mut topics: BTreeMap<&str, Vec<FetchPartition>> = BTreeMap::new();
    for partition in partitions {
        topics.entry(&partition.topic).or_default().push(
            FetchPartition::default()
                .with_partition(partition.index)
                .with_current_leader_epoch(partition.leader_epoch())
                .with_fetch_offset(partition.log_end_offset())
                // The leader checks where this epoch ends on its log.
                .with_last_fetched_epoch(partition.latest_epoch())
                .with_log_start_offset(partition.log_start_offset())
                .with_partition_max_bytes(REPLICA_FETCH_PARTITION_BYTES_MAX),
        );
    }
    let topics = topics
        .into_iter()
        .map(|(name, partitions)| {
            FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_string(name.to_string())))
                .with_partitions(partitions)
        })
        .collect();
    FetchRequest::default()
        .with_replica_id(BrokerId(broker_id as i32))
        .with_max_wait_ms(REPLICA_FETCH_WAIT_MILLISECONDS as i32)
        .with_min_bytes(1)
        .with_max_bytes(REPLICA_FETCH_RESPONSE_BYTES_MAX)
        .with_isolation_level(0)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(topics)
}

fn encode(request: &FetchRequest, correlation_id: i32) -> io::Result<Bytes> {
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::Fetch as i16)
        .with_request_api_version(FETCH_VERSION)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("corelog-replica")));
    let mut frame = BytesMut::new();
    frame.put_i32(0);
    let failed =
        |error: anyhow::Error| io::Error::new(io::ErrorKind::InvalidData, error.to_string());
    header
        .encode(&mut frame, FetchRequest::header_version(FETCH_VERSION))
        .map_err(failed)?;
    request.encode(&mut frame, FETCH_VERSION).map_err(failed)?;
    let length = (frame.len() - 4) as i32;
    frame[..4].copy_from_slice(&length.to_be_bytes());
    Ok(frame.freeze())
}

/// Reads and decodes the answer to the request just sent.
async fn read_response(session: &mut Session) -> io::Result<FetchResponse> {
    let limit = Duration::from_millis(
        REPLICA_FETCH_WAIT_MILLISECONDS + REPLICA_CONNECT_TIMEOUT_MILLISECONDS * 2,
    );
    let invalid = |message: String| io::Error::new(io::ErrorKind::InvalidData, message);
    let mut prefix = [0u8; 4];
    session.reader.read_exact_within(&mut prefix, limit).await?;
    let length = i32::from_be_bytes(prefix);
    if length < 0 || length as usize > REPLICA_FETCH_FRAME_BYTES_MAX {
        return Err(invalid(format!("a response frame of {length} bytes")));
    }
    let mut body = vec![0u8; length as usize];
    session.reader.read_exact_within(&mut body, limit).await?;
    let mut body = Bytes::from(body);
    let header = ResponseHeader::decode(&mut body, FetchResponse::header_version(FETCH_VERSION))
        .map_err(|error| invalid(error.to_string()))?;
    if header.correlation_id != session.correlation_id {
        return Err(invalid(format!(
            "correlation id {} answers request {}",
            header.correlation_id, session.correlation_id
        )));
    }
    FetchResponse::decode(&mut body, FETCH_VERSION).map_err(|error| invalid(error.to_string()))
}

/// Appends what the leader sent (all partitions at once, so one group
/// commit round syncs them together), then takes its high watermarks;
/// truncates the partitions whose logs diverge from the leader's.
async fn apply(asked: &[Asked], response: FetchResponse) -> io::Result<()> {
    if response.error_code != 0 {
        return Err(io::Error::other(format!(
            "the fetch failed with error {}",
            response.error_code
        )));
    }
    let by_key: HashMap<(&str, i32), &Asked> = asked
        .iter()
        .map(|asked| {
            (
                (asked.partition.topic.as_str(), asked.partition.index),
                asked,
            )
        })
        .collect();
    let mut errors = Vec::new();
    let mut appends = Vec::new();
    let mut truncations = Vec::new();
    for topic in &response.responses {
        for answer in &topic.partitions {
            let Some(asked) = by_key.get(&(topic.topic.0.as_str(), answer.partition_index)) else {
                continue;
            };
            if !asked.still_current() {
                continue;
            }
            let partition = asked.partition.clone();
            let diverging = &answer.diverging_epoch;
            if answer.error_code != 0 {
                errors.push(format!(
                    "{}-{}: error {}",
                    partition.topic, partition.index, answer.error_code
                ));
            } else if diverging.epoch >= 0 || diverging.end_offset >= 0 {
                truncations.push((partition, diverging.epoch, diverging.end_offset));
            } else {
                let records = answer.records.clone().unwrap_or_default();
                appends.push(crate::rt::spawn(append(
                    partition,
                    records,
                    (asked.leader_epoch, asked.fetch_offset),
                    answer.high_watermark,
                )));
            }
        }
    }
    for append in appends {
        errors.extend(append.await.err());
    }
    for (partition, epoch, end_offset) in truncations {
        errors.extend(truncate(&partition, epoch, end_offset).await.err());
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(io::Error::other(errors.join("; ")))
    }
}

/// One partition's records appended and synced, then its leader's high
/// watermark taken.
async fn append(
    partition: Rc<Partition>,
    records: Bytes,
    fetched_at: (i32, i64),
    high_watermark: i64,
) -> Result<(), String> {
    if !records.is_empty() {
        partition
            .append_replicated(records, fetched_at)
            .await
            .map_err(|error| {
                format!(
                    "{}-{}: append failed: {error:?}",
                    partition.topic, partition.index
                )
            })?;
    }
    partition.record_leader_high_watermark(high_watermark);
    Ok(())
}

/// Cuts a diverging follower to where its log agrees with the leader's
/// (never to its high watermark); the next fetch starts there.
async fn truncate(partition: &Partition, epoch: i32, end_offset: i64) -> Result<(), String> {
    partition.wait_writer_idle().await;
    // The answer of a leader this replica no longer follows: a snapshot
    // made it leader while the fetch was out, and a leader's log is cut by
    // nobody's answer.
    if partition.is_leader() {
        return Ok(());
    }
    let log_end = partition
        .truncate_to_diverging(epoch, end_offset)
        .await
        .map_err(|error| {
            format!(
                "{}-{}: truncation failed: {error}",
                partition.topic, partition.index
            )
        })?;
    tracing::info!(
        "{}-{} diverged from its leader at epoch {epoch} (ends at {end_offset}); truncated to {log_end}",
        partition.topic,
        partition.index
    );
    Ok(())
}
