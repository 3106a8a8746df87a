//! The clients of the replication failure tests, each on a thread of the
//! test's scope: Rust producers (one per partition, idempotent or not,
//! retrying through leader changes), Rust tail readers (one per partition,
//! holding their own position), a kafkajs producer and a kafkajs consumer
//! group (`tests/kafkajs/replication.js`), a kcat consumer group, and the
//! final full read. Every one records what it sees in the checker's
//! `Recorder` and nothing else.
//!
//! Invariants: a client never reuses a connection after a failed or
//! timed-out request (replies could then be paired with the wrong request);
//! a value is recorded as sent before it leaves, and as acknowledged only
//! from a success answer.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{InitProducerIdRequest, ProduceRequest};
use kafka_protocol::records::Compression;

use crate::common::checker::Recorder;
use crate::common::cluster::Cluster;
use crate::common::{batch, decode_records, fetch_request, idempotent_batch, name, Client};

/// Values per produce request of the Rust producers.
pub const BATCH_VALUES: usize = 4;
/// Pause between a producer's requests: enough load to see faults, little
/// enough CPU for a 2-core machine running three hosts.
const PRODUCE_PAUSE: Duration = Duration::from_millis(40);
/// How long a producer retries one batch before it gives up on it (the
/// values stay sent, not acknowledged) and starts a new producer id.
const PRODUCE_RETRY: Duration = Duration::from_secs(30);
const RETRY_PAUSE: Duration = Duration::from_millis(250);
/// A request's reply is awaited this long (produce timeout 5 s, plus slack).
const REPLY_TIMEOUT: Duration = Duration::from_secs(8);

/// Kafka error codes a client retries with the same batch.
const RETRIABLE: &[i16] = &[
    3,  // UNKNOWN_TOPIC_OR_PARTITION (a snapshot not installed yet)
    5,  // LEADER_NOT_AVAILABLE
    6,  // NOT_LEADER_OR_FOLLOWER
    7,  // REQUEST_TIMED_OUT
    13, // NETWORK_EXCEPTION
    15, // COORDINATOR_NOT_AVAILABLE
    19, // NOT_ENOUGH_REPLICAS
    20, // NOT_ENOUGH_REPLICAS_AFTER_APPEND
    56, // KAFKA_STORAGE_ERROR
    74, // FENCED_LEADER_EPOCH
    75, // UNKNOWN_LEADER_EPOCH
];
const OFFSET_OUT_OF_RANGE: i16 = 1;

/// A connection to the leader of one partition, dropped on any failure.
struct LeaderLink<'a> {
    cluster: &'a Cluster,
    topic: &'a str,
    partition: i32,
    client: Option<Client>,
}

impl<'a> LeaderLink<'a> {
    fn new(cluster: &'a Cluster, topic: &'a str, partition: i32) -> LeaderLink<'a> {
        LeaderLink {
            cluster,
            topic,
            partition,
            client: None,
        }
    }

    /// The connected client, looking the leader up when there is none.
    fn client(&mut self) -> Option<&mut Client> {
        if self.client.is_none() {
            let states = self.cluster.partitions(self.topic)?;
            let state = states
                .iter()
                .find(|state| state.partition == self.partition)?;
            if state.leader < 0 {
                return None;
            }
            let address = self.cluster.node_address(state.leader);
            let stream =
                std::net::TcpStream::connect_timeout(&address, Duration::from_secs(2)).ok()?;
            stream.set_read_timeout(Some(REPLY_TIMEOUT)).ok()?;
            stream.set_write_timeout(Some(REPLY_TIMEOUT)).ok()?;
            self.client = Some(Client::over(stream));
        }
        self.client.as_mut()
    }

    fn forget(&mut self) {
        self.client = None;
    }
}

/// How a Rust producer writes.
#[derive(Clone, Copy, Debug)]
pub struct ProducerSettings {
    /// The producer's name in the history; its values are
    /// `{label}-{partition}-{n}`, so labels must differ within a run.
    pub label: &'static str,
    /// -1 (all) or 1.
    pub acks: i16,
    pub idempotent: bool,
}

/// Writes batches of unique values `{label}-{partition}-{n}` to
/// `partition` until `stop`, recording each sent and acknowledged value.
pub fn rust_producer(
    cluster: &Cluster,
    recorder: &Recorder,
    topic: &str,
    partition: i32,
    settings: ProducerSettings,
    stop: &AtomicBool,
) {
    let producer = settings.label;
    let mut link = LeaderLink::new(cluster, topic, partition);
    let mut session: Option<(i64, i16)> = None;
    let mut sequence = 0;
    let mut next = 0;
    while !stop.load(Ordering::Relaxed) {
        let values: Vec<String> = (next..next + BATCH_VALUES)
            .map(|index| format!("{producer}-{partition}-{index}"))
            .collect();
        next += BATCH_VALUES;
        values.iter().for_each(|value| recorder.sent(value));
        let answer = send_until_answered(
            cluster,
            &mut link,
            &mut session,
            settings,
            |session| match session {
                Some((id, epoch)) => idempotent_batch(id, epoch, sequence, &values),
                None => plain_batch(&values),
            },
            stop,
        );
        match answer {
            Some(base_offset) => {
                for (index, value) in values.iter().enumerate() {
                    recorder.acknowledged(producer, value, partition, base_offset + index as i64);
                }
                sequence += values.len() as i32;
            }
            // Not known whether it was written: a new producer id, so the
            // next batch is not refused as out of order.
            None => {
                session = None;
                sequence = 0;
            }
        }
        std::thread::sleep(PRODUCE_PAUSE);
    }
}

fn plain_batch(values: &[String]) -> Bytes {
    let records: Vec<(Option<&str>, &str)> =
        values.iter().map(|value| (None, value.as_str())).collect();
    batch(
        &records,
        crate::common::now_milliseconds(),
        Compression::None,
    )
}

/// Sends one batch (the same producer id and sequence at every retry)
/// until it is answered; its base offset, or `None` when it failed for
/// good, took longer than `PRODUCE_RETRY`, or `stop` came.
fn send_until_answered(
    cluster: &Cluster,
    link: &mut LeaderLink,
    session: &mut Option<(i64, i16)>,
    settings: ProducerSettings,
    records: impl Fn(Option<(i64, i16)>) -> Bytes,
    stop: &AtomicBool,
) -> Option<i64> {
    let deadline = Instant::now() + PRODUCE_RETRY;
    let mut first = true;
    while Instant::now() < deadline && (first || !stop.load(Ordering::Relaxed)) {
        first = false;
        if settings.idempotent && session.is_none() {
            *session = init_producer_id(cluster);
            if session.is_none() {
                std::thread::sleep(RETRY_PAUSE);
                continue;
            }
        }
        let request = ProduceRequest::default()
            .with_acks(settings.acks)
            .with_timeout_ms(5000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(name(link.topic))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(link.partition)
                    .with_records(Some(records(*session)))])]);
        let reply = link
            .client()
            .and_then(|client| client.try_send(&request, 8));
        let Some(reply) = reply else {
            link.forget();
            std::thread::sleep(RETRY_PAUSE);
            continue;
        };
        let answer = &reply.responses[0].partition_responses[0];
        match answer.error_code {
            0 => return Some(answer.base_offset),
            code if RETRIABLE.contains(&code) => {
                link.forget();
                std::thread::sleep(RETRY_PAUSE);
            }
            code => {
                println!(
                    "producer to partition {}: error {code}, batch given up",
                    link.partition
                );
                return None;
            }
        }
    }
    None
}

/// An idempotent producer id from any reachable host.
fn init_producer_id(cluster: &Cluster) -> Option<(i64, i16)> {
    let request = InitProducerIdRequest::default().with_transaction_timeout_ms(60_000);
    cluster.reachable_hosts().into_iter().find_map(|host| {
        let mut client = cluster.try_client(host, 0, REPLY_TIMEOUT)?;
        let reply = client.try_send(&request, 4)?;
        (reply.error_code == 0).then_some((reply.producer_id.0, reply.producer_epoch))
    })
}

/// Tails `partition` from offset 0 until `stop`, as reader `rust-reader`:
/// every record read, every high watermark seen, and its position after
/// each fetch (sent back by OFFSET_OUT_OF_RANGE, the position is recorded
/// going down).
pub fn rust_reader(
    cluster: &Cluster,
    recorder: &Recorder,
    topic: &str,
    partition: i32,
    stop: &AtomicBool,
) {
    let reader = "rust-reader";
    let mut link = LeaderLink::new(cluster, topic, partition);
    let mut position = 0;
    while !stop.load(Ordering::Relaxed) {
        let request = fetch_request(topic, partition, position, 500, 1);
        let Some(reply) = link
            .client()
            .and_then(|client| client.try_send(&request, 11))
        else {
            link.forget();
            std::thread::sleep(RETRY_PAUSE);
            continue;
        };
        let data = &reply.responses[0].partitions[0];
        match data.error_code {
            0 => {
                recorder.watermark(reader, partition, data.high_watermark);
                let bytes = data.records.clone().unwrap_or_default();
                for record in decode_records(&bytes) {
                    if record.offset < position {
                        continue;
                    }
                    let value = record.value.as_deref().unwrap_or_default();
                    recorder.read(
                        reader,
                        partition,
                        record.offset,
                        &String::from_utf8_lossy(value),
                    );
                    position = record.offset + 1;
                }
                recorder.position(reader, partition, position);
            }
            OFFSET_OUT_OF_RANGE => {
                let latest = link
                    .client()
                    .and_then(|client| log_end(client, topic, partition));
                if let Some(latest) = latest {
                    println!("{reader}: partition {partition} offset {position} out of range, log end {latest}");
                    position = latest;
                    recorder.position(reader, partition, position);
                }
                link.forget();
            }
            _ => {
                link.forget();
                std::thread::sleep(RETRY_PAUSE);
            }
        }
    }
}

/// The log end offset ListOffsets v3 gives, or `None` on any failure.
fn log_end(client: &mut Client, topic: &str, partition: i32) -> Option<i64> {
    use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    let request = kafka_protocol::messages::ListOffsetsRequest::default()
        .with_replica_id(kafka_protocol::messages::BrokerId(-1))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(name(topic))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(partition)
                .with_timestamp(-1)])]);
    let reply = client.try_send(&request, 3)?;
    let answer = &reply.topics.first()?.partitions.first()?;
    (answer.error_code == 0).then_some(answer.offset)
}

/// Reads every partition of `topic` from offset 0 to its high watermark
/// through its leader, into the recorder's final read; retries a
/// partition until `timeout`, then panics with the logs.
pub fn final_read(
    cluster: &Cluster,
    recorder: &Recorder,
    topic: &str,
    partitions: i32,
    timeout: Duration,
) {
    for partition in 0..partitions {
        let records = crate::common::cluster::wait_for(
            &format!("a full read of {topic}-{partition}"),
            timeout,
            || cluster.logs(),
            || read_partition(cluster, topic, partition),
        );
        println!(
            "final read: partition {partition} holds {} records",
            records.len()
        );
        recorder.final_partition(partition);
        for (offset, value) in records {
            recorder.final_read(partition, offset, &value);
        }
    }
}

/// (offset, value) of every record from 0 to the high watermark, or
/// `None` on any failure.
fn read_partition(cluster: &Cluster, topic: &str, partition: i32) -> Option<Vec<(i64, String)>> {
    let mut link = LeaderLink::new(cluster, topic, partition);
    let mut records = Vec::new();
    let mut position = 0;
    loop {
        let request = fetch_request(topic, partition, position, 0, 0);
        let reply = link.client()?.try_send(&request, 11)?;
        let data = &reply.responses[0].partitions[0];
        if data.error_code != 0 {
            return None;
        }
        if position >= data.high_watermark {
            return Some(records);
        }
        let before = position;
        let bytes = data.records.clone().unwrap_or_default();
        for record in decode_records(&bytes) {
            if record.offset >= position && record.offset < data.high_watermark {
                let value = record.value.as_deref().unwrap_or_default();
                records.push((record.offset, String::from_utf8_lossy(value).into_owned()));
                position = record.offset + 1;
            }
        }
        if position == before {
            return None;
        }
    }
}

/// `node tests/kafkajs/replication.js ARGUMENTS`, stdin and stdout piped,
/// stderr appended to the cluster directory's `log_name`.
pub fn spawn_kafkajs(cluster: &Cluster, arguments: &[&str], log_name: &str) -> Child {
    let directory = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kafkajs");
    assert!(
        directory.join("node_modules/kafkajs").exists(),
        "kafkajs is not installed: run scripts/test.sh (npm ci in tests/kafkajs)"
    );
    let log = std::fs::File::create(cluster.dir.join(log_name)).expect("kafkajs log");
    Command::new("node")
        .arg("replication.js")
        .args(arguments)
        .current_dir(directory)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("node runs")
}

/// Records what a child (replication.js or kcat with `-f 'read %p %o %s\n'`)
/// prints, until it closes its stdout:
///   `sent V` / `ack V P O` (a producer), `read P O V` / `hw P H` (a
///   consumer), anything else is echoed.
pub fn record_lines(stdout: ChildStdout, who: &str, recorder: &Recorder) {
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        let words: Vec<&str> = line.splitn(4, ' ').collect();
        let number = |index: usize| words.get(index).and_then(|word| word.parse::<i64>().ok());
        match (words[0], words.len()) {
            ("sent", 2) => recorder.sent(words[1]),
            ("ack", 4) => match (number(2), number(3)) {
                (Some(partition), Some(offset)) => {
                    recorder.acknowledged(who, words[1], partition as i32, offset)
                }
                _ => println!("{who}: {line}"),
            },
            ("read", 4) => match (number(1), number(2)) {
                (Some(partition), Some(offset)) => {
                    recorder.read(who, partition as i32, offset, words[3])
                }
                _ => println!("{who}: {line}"),
            },
            ("hw", 3) => match (number(1), number(2)) {
                (Some(partition), Some(high_watermark)) => {
                    recorder.watermark(who, partition as i32, high_watermark)
                }
                _ => println!("{who}: {line}"),
            },
            _ => println!("{who}: {line}"),
        }
    }
}

/// Waits up to `timeout` for `child` to exit by itself, then kills it.
pub fn finish(child: &mut Child, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Stops what it holds when dropped, also while a failed assertion
/// unwinds: sets every flag and kills every child still running. Without
/// it a thread scope would wait forever for clients that never see a stop.
pub struct StopGuard<'a> {
    pub flags: Vec<&'a AtomicBool>,
    pub children: Vec<Child>,
}

impl Drop for StopGuard<'_> {
    fn drop(&mut self) {
        for flag in &self.flags {
            flag.store(true, Ordering::Relaxed);
        }
        for child in &mut self.children {
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}
