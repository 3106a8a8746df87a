//! Durability: idempotent producers (retries written once, gaps and fenced
//! epochs refused, state rebuilt after a restart) and a seeded crash test
//! that kills the broker with SIGKILL while idempotent acks=all producers
//! write, and checks every acknowledged record after each restart.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{
    create_topic, decode_records, encode_request, fetch, idempotent_batch, list_offset, name,
    produce, Broker, Client,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::Decodable;

const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
const INVALID_PRODUCER_EPOCH: i16 = 47;

fn init_producer_id(client: &mut Client, version: i16) -> (i64, i16) {
    let response = client.send(
        &InitProducerIdRequest::default().with_transaction_timeout_ms(60_000),
        version,
    );
    assert_eq!(response.error_code, 0);
    (response.producer_id.0, response.producer_epoch)
}

/// Every record of the partition as (offset, value).
fn read_all(client: &mut Client, topic: &str, partition: i32) -> Vec<(i64, String)> {
    let mut records = Vec::new();
    let mut offset = 0;
    loop {
        let (code, bytes, high_watermark) = fetch(client, topic, partition, offset, 11);
        assert_eq!(code, 0);
        for record in decode_records(&bytes) {
            if record.offset >= offset {
                let value = record
                    .value
                    .as_ref()
                    .map(|v| String::from_utf8_lossy(v).to_string());
                records.push((record.offset, value.unwrap_or_default()));
                offset = record.offset + 1;
            }
        }
        if offset >= high_watermark {
            return records;
        }
    }
}

fn values(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|index| format!("{prefix}-{index}")).collect()
}

#[test]
fn idempotent_retries_are_written_once_gaps_and_fenced_epochs_are_refused() {
    let mut broker = Broker::start(1);
    let mut client = broker.client(0);
    assert_eq!(create_topic(&mut client, "idem", 1, &[]), 0);
    let (producer_id, epoch) = init_producer_id(&mut client, 1);
    let (other_id, _) = init_producer_id(&mut client, 4);
    assert!(producer_id >= 0 && epoch == 0);
    assert_ne!(producer_id, other_id, "every producer gets its own id");

    let first = idempotent_batch(producer_id, 0, 0, &values("a", 0..5));
    assert_eq!(
        produce(&mut client, "idem", 0, first.clone(), 7, -1),
        (0, 0)
    );
    assert_eq!(
        produce(&mut client, "idem", 0, first.clone(), 7, -1),
        (0, 0),
        "a retry gets its first offset"
    );
    assert_eq!(list_offset(&mut client, "idem", 0, -1), 5);

    // The connection is cut after the broker read the request but before
    // the client read the reply; the client retries on a new connection.
    let second = idempotent_batch(producer_id, 0, 5, &values("a", 5..10));
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(name("idem"))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(second.clone()))])]);
    {
        let mut doomed = broker.client(0);
        doomed
            .stream
            .write_all(&encode_request(&request, 7, 1))
            .unwrap();
        doomed.stream.shutdown(std::net::Shutdown::Both).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while list_offset(&mut client, "idem", 0, -1) < 10 {
        assert!(Instant::now() < deadline, "the cut request was not written");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(produce(&mut client, "idem", 0, second, 7, -1), (0, 5));
    assert_eq!(
        list_offset(&mut client, "idem", 0, -1),
        10,
        "not written twice"
    );

    let gap = idempotent_batch(producer_id, 0, 20, &values("gap", 0..1));
    assert_eq!(
        produce(&mut client, "idem", 0, gap, 7, -1).0,
        OUT_OF_ORDER_SEQUENCE_NUMBER
    );
    let bumped = idempotent_batch(producer_id, 1, 0, &values("b", 0..3));
    assert_eq!(
        produce(&mut client, "idem", 0, bumped.clone(), 7, -1),
        (0, 10)
    );
    let fenced = idempotent_batch(producer_id, 0, 10, &values("old", 0..1));
    assert_eq!(
        produce(&mut client, "idem", 0, fenced, 7, -1).0,
        INVALID_PRODUCER_EPOCH
    );
    let other = idempotent_batch(other_id, 0, 0, &values("c", 0..2));
    assert_eq!(
        produce(&mut client, "idem", 0, other.clone(), 9, -1),
        (0, 13)
    );

    // After a restart the producer state comes back from the log.
    broker.restart();
    let mut client = broker.client(0);
    assert_eq!(produce(&mut client, "idem", 0, bumped, 7, -1), (0, 10));
    assert_eq!(produce(&mut client, "idem", 0, other, 7, -1), (0, 13));
    let next = idempotent_batch(producer_id, 1, 3, &values("b", 3..4));
    assert_eq!(produce(&mut client, "idem", 0, next, 7, -1), (0, 15));
    let expected: Vec<String> = [
        values("a", 0..10),
        values("b", 0..3),
        values("c", 0..2),
        values("b", 3..4),
    ]
    .concat();
    let read = read_all(&mut client, "idem", 0);
    assert_eq!(
        read.iter().map(|(offset, _)| *offset).collect::<Vec<_>>(),
        (0..16).collect::<Vec<i64>>()
    );
    assert_eq!(
        read.into_iter().map(|(_, value)| value).collect::<Vec<_>>(),
        expected
    );
}

/// A small deterministic generator (xorshift64*), so a failing seed replays.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

/// What one producer had acknowledged: base offset -> values.
type Acknowledged = Arc<Mutex<HashMap<i64, Vec<String>>>>;

/// An idempotent acks=all producer on one partition. It keeps the batch it
/// has not seen acknowledged and sends it again after a failure, with the
/// same sequence, as a real idempotent producer does.
struct Producer {
    id: i64,
    partition: i32,
    next_sequence: i32,
    pending: Option<(Bytes, Vec<String>)>,
    next_value: usize,
    acknowledged: Acknowledged,
}

impl Producer {
    /// Produces until the connection fails (the broker was killed) or
    /// `stop` is set.
    fn run(&mut self, port: u16, random: &mut Random, stop: &AtomicBool) {
        let Some(mut client) = Client::try_connect(port) else {
            return;
        };
        while !stop.load(Ordering::Relaxed) {
            if self.pending.is_none() {
                let count = 1 + random.below(20) as usize;
                let batch_values: Vec<String> = (0..count)
                    .map(|index| format!("p{}-{}", self.id, self.next_value + index))
                    .collect();
                self.next_value += count;
                let bytes = idempotent_batch(self.id, 0, self.next_sequence, &batch_values);
                self.pending = Some((bytes, batch_values));
            }
            let (bytes, batch_values) = self.pending.clone().unwrap();
            let request = ProduceRequest::default()
                .with_acks(-1)
                .with_timeout_ms(5000)
                .with_topic_data(vec![TopicProduceData::default()
                    .with_name(name("crash"))
                    .with_partition_data(vec![PartitionProduceData::default()
                        .with_index(self.partition)
                        .with_records(Some(bytes))])]);
            let Some(response) = client.try_send(&request, 7) else {
                return;
            };
            let answer = &response.responses[0].partition_responses[0];
            assert_eq!(answer.error_code, 0, "producer {} rejected", self.id);
            self.acknowledged
                .lock()
                .unwrap()
                .insert(answer.base_offset, batch_values.clone());
            self.next_sequence += batch_values.len() as i32;
            self.pending = None;
        }
    }
}

/// A kafkajs idempotent producer in a child process (tests/kafkajs/
/// crash-producer.js), with what it had acknowledged.
struct KafkajsProducer {
    child: std::process::Child,
    acknowledged: Arc<Mutex<Vec<(i32, i64, Vec<String>)>>>,
}

impl KafkajsProducer {
    fn start(bootstrap: &str, topic: &str) -> KafkajsProducer {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kafkajs");
        assert!(
            dir.join("node_modules/kafkajs").exists(),
            "kafkajs is not installed: run scripts/test.sh (npm ci in tests/kafkajs)"
        );
        let mut child = std::process::Command::new("node")
            .arg("crash-producer.js")
            .arg(bootstrap)
            .arg(topic)
            .current_dir(&dir)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("node runs");
        let stdout = child.stdout.take().unwrap();
        let acknowledged = Arc::new(Mutex::new(Vec::new()));
        let sink = acknowledged.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let partition = json_number(&line, "partition");
                let base_offset = json_number(&line, "baseOffset");
                let values: Vec<String> = line
                    .split("\"values\":[")
                    .nth(1)
                    .map(|rest| {
                        rest.trim_end_matches("]}")
                            .split(',')
                            .map(|value| value.trim_matches('"').to_string())
                            .collect()
                    })
                    .unwrap_or_default();
                sink.lock()
                    .unwrap()
                    .push((partition as i32, base_offset, values));
            }
        });
        KafkajsProducer {
            child,
            acknowledged,
        }
    }
}

impl Drop for KafkajsProducer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn json_number(line: &str, field: &str) -> i64 {
    line.split(&format!("\"{field}\":"))
        .nth(1)
        .and_then(|rest| rest.split([',', '}']).next())
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in {line}"))
}

#[test]
fn acknowledged_records_survive_sigkill_exactly_once_at_their_offsets() {
    let seed: u64 = std::env::var("CORELOG_CRASH_SEED")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(0x5eed_c0de);
    let cycles = 6;
    let mut random = Random(seed);
    // Fixed ports: the kafkajs producer reconnects by itself after each crash.
    let mut broker = Broker::start_on_fixed_ports(2, &[]);
    let mut admin = broker.client(0);
    assert_eq!(create_topic(&mut admin, "crash", 2, &[]), 0);
    let mut producers: Vec<Producer> = (0..4)
        .map(|index| Producer {
            id: init_producer_id(&mut admin, 1).0,
            partition: index % 2,
            next_sequence: 0,
            pending: None,
            next_value: 0,
            acknowledged: Arc::new(Mutex::new(HashMap::new())),
        })
        .collect();
    let leaders: Vec<usize> = (0..2)
        .map(|partition| leader_of(&mut admin, partition))
        .collect();
    drop(admin);
    let bootstrap: Vec<String> = broker
        .ports
        .iter()
        .map(|port| format!("127.0.0.1:{port}"))
        .collect();
    let kafkajs = KafkajsProducer::start(&bootstrap.join(","), "crash");
    // Start killing only once the kafkajs producer is connected and writing.
    let deadline = Instant::now() + Duration::from_secs(60);
    while kafkajs.acknowledged.lock().unwrap().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the kafkajs producer never got a send acknowledged"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut kafkajs_counts = Vec::new();

    for cycle in 0..cycles {
        let stop = Arc::new(AtomicBool::new(false));
        let threads: Vec<_> = producers
            .drain(..)
            .map(|mut producer| {
                let stop = stop.clone();
                let port = broker.ports[leaders[producer.partition as usize]];
                let mut random =
                    Random(seed ^ ((producer.id as u64 + 1) << 8) ^ ((cycle as u64) << 32));
                std::thread::spawn(move || {
                    producer.run(port, &mut random, &stop);
                    producer
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(300 + random.below(500)));
        broker.kill();
        stop.store(true, Ordering::Relaxed);
        producers = threads
            .into_iter()
            .map(|thread| thread.join().unwrap())
            .collect();
        broker.start_again();

        // Every acknowledged record is present exactly once, at its
        // acknowledged offset, and offsets have no gaps.
        let kafkajs_acknowledged = kafkajs.acknowledged.lock().unwrap().clone();
        kafkajs_counts.push(kafkajs_acknowledged.len());
        for partition in 0..2 {
            let mut reader = broker.client(leaders[partition as usize]);
            let read = read_all(&mut reader, "crash", partition);
            let offsets: Vec<i64> = read.iter().map(|(offset, _)| *offset).collect();
            assert_eq!(
                offsets,
                (0..read.len() as i64).collect::<Vec<_>>(),
                "cycle {cycle} (seed {seed}): gap in partition {partition}"
            );
            let mut seen = std::collections::HashSet::new();
            for (_, value) in &read {
                assert!(
                    seen.insert(value.clone()),
                    "cycle {cycle} (seed {seed}): {value} written twice"
                );
            }
            let by_offset: HashMap<i64, &String> = read
                .iter()
                .map(|(offset, value)| (*offset, value))
                .collect();
            let rust_batches = producers
                .iter()
                .filter(|producer| producer.partition == partition)
                .flat_map(|producer| {
                    producer
                        .acknowledged
                        .lock()
                        .unwrap()
                        .iter()
                        .map(|(base, values)| (*base, values.clone()))
                        .collect::<Vec<_>>()
                });
            let kafkajs_batches = kafkajs_acknowledged
                .iter()
                .filter(|(acknowledged_partition, _, _)| *acknowledged_partition == partition)
                .map(|(_, base, values)| (*base, values.clone()));
            for (base_offset, batch_values) in rust_batches.chain(kafkajs_batches) {
                for (index, value) in batch_values.iter().enumerate() {
                    assert_eq!(
                        by_offset
                            .get(&(base_offset + index as i64))
                            .map(|v| v.as_str()),
                        Some(value.as_str()),
                        "cycle {cycle} (seed {seed}): acknowledged record lost or moved"
                    );
                }
            }
        }
    }
    let total: usize = producers
        .iter()
        .map(|producer| {
            producer
                .acknowledged
                .lock()
                .unwrap()
                .values()
                .map(Vec::len)
                .sum::<usize>()
        })
        .sum();
    eprintln!("seed {seed}: Rust producers acknowledged {total} records; kafkajs sends acknowledged by cycle: {kafkajs_counts:?}");
    assert!(
        total > 100,
        "the Rust producers acknowledged only {total} records"
    );
    assert!(
        kafkajs_counts[cycles - 1] > kafkajs_counts[0],
        "the kafkajs producer kept going across restarts: {kafkajs_counts:?}"
    );
}

fn leader_of(client: &mut Client, partition: i32) -> usize {
    let response = client.send(
        &MetadataRequest::default().with_topics(Some(vec![
            kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
                .with_name(Some(name("crash"))),
        ])),
        9,
    );
    response.topics[0]
        .partitions
        .iter()
        .find(|p| p.partition_index == partition)
        .unwrap()
        .leader_id
        .0 as usize
}

#[test]
fn acks_all_appends_share_syncs_in_the_group_commit() {
    let mut broker = Broker::start(1);
    let mut admin = broker.client(0);
    assert_eq!(create_topic(&mut admin, "shared", 2, &[]), 0);
    let port = broker.ports[0];
    let threads: Vec<_> = (0..8)
        .map(|thread| {
            std::thread::spawn(move || {
                // Pipelined, as librdkafka and the Java client send: all 40
                // requests go out before the first reply is read.
                let mut client = Client::connect(port);
                let mut frames = Vec::new();
                for round in 0..40 {
                    let value = format!("t{thread}-r{round}");
                    let records = common::batch(
                        &[(None, value.as_str())],
                        0,
                        kafka_protocol::records::Compression::None,
                    );
                    let request = ProduceRequest::default()
                        .with_acks(-1)
                        .with_timeout_ms(5000)
                        .with_topic_data(vec![TopicProduceData::default()
                            .with_name(name("shared"))
                            .with_partition_data(vec![PartitionProduceData::default()
                                .with_index(thread % 2)
                                .with_records(Some(records))])]);
                    frames.extend_from_slice(&encode_request(&request, 7, round + 1));
                }
                client.stream.write_all(&frames).unwrap();
                for round in 0..40 {
                    let mut body = client.read_frame().unwrap();
                    let header =
                        kafka_protocol::messages::ResponseHeader::decode(&mut body, 0).unwrap();
                    assert_eq!(header.correlation_id, round + 1, "replies in request order");
                    let response = ProduceResponse::decode(&mut body, 7).unwrap();
                    assert_eq!(response.responses[0].partition_responses[0].error_code, 0);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(
        list_offset(&mut admin, "shared", 0, -1) + list_offset(&mut admin, "shared", 1, -1),
        320
    );
    broker.stop();
    let log = broker.log();
    // "shard 0: group commit: R rounds, S file syncs for W acks=all appends"
    let (line, numbers) = report_line(&log, "group commit:");
    let (syncs, waiters) = (numbers[2], numbers[3]);
    assert_eq!(waiters, 320, "{line}");
    assert!(syncs < waiters, "every append synced on its own: {line}");
    eprintln!("{line}");
    // Appends staged while a write ran went out together in the next one.
    let (line, numbers) = report_line(&log, "writer:");
    // "shard 0: writer: A appends in W writes"
    let (appends, writes) = (numbers[1], numbers[2]);
    assert_eq!(appends, 320, "{line}");
    assert!(
        writes < appends / 2,
        "small appends were not combined: {line}"
    );
    eprintln!("{line}");
}

/// The shard's shutdown report line containing `marker`, and its numbers.
fn report_line<'a>(log: &'a str, marker: &str) -> (&'a str, Vec<u64>) {
    let line = log
        .lines()
        .find(|line| line.contains(marker))
        .unwrap_or_else(|| panic!("no \"{marker}\" line in the broker log"));
    let numbers = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|word| word.parse().ok())
        .collect();
    (line, numbers)
}

#[test]
fn the_interval_flush_policy_answers_acks_all_without_waiting_for_a_sync() {
    let mut broker = Broker::start_with(1, &["--log-flush-interval-ms", "50"]);
    let mut client = broker.client(0);
    assert_eq!(create_topic(&mut client, "unsynced", 1, &[]), 0);
    for round in 0..20 {
        let value = format!("r{round}");
        let records = common::batch(
            &[(None, value.as_str())],
            0,
            kafka_protocol::records::Compression::None,
        );
        assert_eq!(
            produce(&mut client, "unsynced", 0, records, 7, -1),
            (0, round)
        );
    }
    // Kafka-like: consumers see everything written.
    assert_eq!(read_all(&mut client, "unsynced", 0).len(), 20);
    std::thread::sleep(Duration::from_millis(200));
    broker.stop();
    let log = broker.log();
    let line = log
        .lines()
        .find(|line| line.contains("group commit:"))
        .unwrap();
    assert!(line.contains("for 0 acks=all appends"), "{line}");
    assert!(
        !line.contains(" 0 file syncs"),
        "flush.ms synced in the background: {line}"
    );
}

#[test]
fn pipelined_produce_requests_are_written_in_request_order_in_every_partition() {
    let broker = Broker::start(1);
    let mut admin = broker.client(0);
    assert_eq!(create_topic(&mut admin, "ordered", 3, &[]), 0);
    // 90 requests sent before any reply is read; each writes to one or
    // two partitions, so consecutive requests' writes run together.
    let mut client = broker.client(0);
    let mut frames = Vec::new();
    let mut expected: Vec<Vec<String>> = vec![Vec::new(); 3];
    let mut partitions_of = Vec::new();
    for round in 0..90usize {
        let targets: Vec<i32> = if round % 4 == 3 {
            vec![(round % 3) as i32, ((round + 1) % 3) as i32]
        } else {
            vec![(round % 3) as i32]
        };
        let mut partition_data = Vec::new();
        for &partition in &targets {
            let value = format!("r{round}-p{partition}");
            expected[partition as usize].push(value.clone());
            let records = common::batch(
                &[(None, value.as_str()), (None, value.as_str())],
                0,
                kafka_protocol::records::Compression::None,
            );
            partition_data.push(
                PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(records)),
            );
        }
        partitions_of.push(targets);
        let request = ProduceRequest::default()
            .with_acks(if round % 2 == 0 { -1 } else { 1 })
            .with_timeout_ms(5000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(name("ordered"))
                .with_partition_data(partition_data)]);
        frames.extend_from_slice(&encode_request(&request, 9, round as i32 + 1));
    }
    client.stream.write_all(&frames).unwrap();
    let mut next_offset = [0i64; 3];
    for (round, targets) in partitions_of.iter().enumerate() {
        let mut body = client.read_frame().unwrap();
        let header = kafka_protocol::messages::ResponseHeader::decode(&mut body, 1).unwrap();
        assert_eq!(
            header.correlation_id,
            round as i32 + 1,
            "replies in request order"
        );
        let response = ProduceResponse::decode(&mut body, 9).unwrap();
        for (answer, &partition) in response.responses[0]
            .partition_responses
            .iter()
            .zip(targets)
        {
            assert_eq!(answer.error_code, 0);
            assert_eq!(
                answer.base_offset, next_offset[partition as usize],
                "request {round} written in its turn in partition {partition}"
            );
            next_offset[partition as usize] += 2;
        }
    }
    for partition in 0..3 {
        let stored: Vec<String> = read_all(&mut admin, "ordered", partition)
            .into_iter()
            .map(|(_, value)| value)
            .collect();
        let wanted: Vec<String> = expected[partition as usize]
            .iter()
            .flat_map(|value| [value.clone(), value.clone()])
            .collect();
        assert_eq!(stored, wanted, "partition {partition}");
    }
}
