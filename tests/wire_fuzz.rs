//! Wire-level fuzzing: hundreds of thousands of seeded random and mutated
//! request frames, over tens of thousands of connections to both shards of a
//! running 2-shard broker, must cost nothing but the connections that sent
//! them. Afterwards the same broker process serves kcat, kafkajs and the Rust
//! test client, and every record acknowledged before and during the fuzzing
//! is still there, once, at its offset.
//!
//! The frames come from `common::frames` (a fixed list of seeds, one worker
//! thread per seed). `WIRE_FUZZ_FRAMES` raises the number of frames for a
//! longer run; `WIRE_FUZZ_SEEDS` (comma-separated) replaces the seeds, to
//! replay one.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::frames::{self, FrameKind, FrameSource, Template};
use common::{batch, create_topic, decode_records, fetch_request, kcat, name, Broker, Client};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiVersionsRequest, FetchRequest, MetadataRequest, ProduceRequest};
use kafka_protocol::records::Compression;

/// One worker thread per seed; each sends its share of the frames.
const SEEDS: [u64; 8] = [
    0x5eed_0000_0000_0001,
    0x5eed_0000_0000_0002,
    0x5eed_0000_0000_0003,
    0x5eed_0000_0000_0004,
    0x5eed_0000_0000_0005,
    0x5eed_0000_0000_0006,
    0x5eed_0000_0000_0007,
    0x5eed_0000_0000_0008,
];

/// Frames sent in all (at least; each worker finishes its last connection).
const FRAMES_TOTAL_DEFAULT: usize = 200_000;

/// Frames one connection pipelines before it closes its sending side. Most
/// mutated frames close the connection, so frames behind them are never
/// read; a small number keeps most frames reaching the decoders while still
/// pipelining.
const FRAMES_PER_CONNECTION_MAX: usize = 4;

/// How long a worker waits for the broker to answer and close a connection
/// after it stopped sending, before dropping it. Valid requests can wait on
/// purpose (a Fetch's max_wait_ms, a JoinGroup's rebalance); dropping them
/// is one more thing the broker must survive.
const CONNECTION_DRAIN_MILLISECONDS: u64 = 500;

/// How often, while the fuzzing runs, each node is asked to serve a new
/// connection, and how long it may take: a broker that lives but no longer
/// accepts or answers stops the fuzzing early, and the test fails.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// The default number of frames takes about 30 s here; far longer means the
/// broker crawls. A longer run (`WIRE_FUZZ_FRAMES`) gets proportionally more.
const FUZZING_TIME_MAX: Duration = Duration::from_secs(240);

/// The broker's open-file limit during the fuzzing (soft and hard).
const OPEN_FILES_MAX: u64 = 20_000;

/// The topic whose acknowledged records must all survive.
const LEDGER_TOPIC: &str = "ledger";

fn seeds() -> Vec<u64> {
    match std::env::var("WIRE_FUZZ_SEEDS") {
        Ok(list) => list
            .split(',')
            .map(|seed| {
                let seed = seed.trim();
                match seed.strip_prefix("0x") {
                    Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16),
                    None => seed.parse(),
                }
                .expect("WIRE_FUZZ_SEEDS: comma-separated u64 seeds")
            })
            .collect(),
        Err(_) => SEEDS.to_vec(),
    }
}

fn frames_total() -> usize {
    std::env::var("WIRE_FUZZ_FRAMES")
        .map(|value| value.parse().expect("WIRE_FUZZ_FRAMES: a number"))
        .unwrap_or(FRAMES_TOTAL_DEFAULT)
}

/// The pid of the broker serving `broker`'s data dir, found through /proc
/// (its command line names the data dir, which is unique to the test).
fn broker_pid(broker: &Broker) -> Option<u32> {
    let data_dir = broker.data_dir();
    let data_dir = data_dir.to_string_lossy();
    std::fs::read_dir("/proc").ok()?.find_map(|entry| {
        let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
        let command_line = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let arguments: Vec<&[u8]> = command_line.split(|byte| *byte == 0).collect();
        let serves = arguments.iter().any(|argument| *argument == b"serve")
            && arguments
                .iter()
                .any(|argument| *argument == data_dir.as_bytes());
        serves.then_some(pid)
    })
}

/// Leader node of each partition, from Metadata, as an index into the
/// broker's ports.
fn leaders(client: &mut Client, topic: &str) -> Vec<usize> {
    common::leaders(client, topic)
        .into_iter()
        .map(|node| node as usize)
        .collect()
}

/// A batch the broker acknowledged: its records must be at `base_offset` on.
#[derive(Clone, Debug)]
struct Acknowledged {
    partition: i32,
    base_offset: i64,
    values: Vec<String>,
}

/// A well-behaved producer: one connection per partition leader, acks=-1,
/// Produce versions cycling through every one advertised.
struct LedgerProducer {
    connections: Vec<Client>,
    leaders: Vec<usize>,
    sent: usize,
}

impl LedgerProducer {
    fn new(broker: &Broker, leaders: Vec<usize>) -> LedgerProducer {
        LedgerProducer {
            connections: (0..broker.ports.len())
                .map(|node| broker.client(node))
                .collect(),
            leaders,
            sent: 0,
        }
    }

    /// Sends one batch of `count` records to `partition`. `Ok(None)` when
    /// the broker answered with an error code (not acknowledged, nothing to
    /// check); `Err` when the connection itself failed.
    fn produce(
        &mut self,
        phase: &str,
        partition: i32,
        count: usize,
    ) -> Result<Option<Acknowledged>, String> {
        let values: Vec<String> = (0..count)
            .map(|index| format!("{phase}-{partition}-{}-{index}", self.sent))
            .collect();
        self.sent += 1;
        let records: Vec<(Option<&str>, &str)> =
            values.iter().map(|value| (None, value.as_str())).collect();
        let version = 3 + (self.sent % 7) as i16;
        let request = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(5000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(name(LEDGER_TOPIC))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(batch(
                        &records,
                        common::now_milliseconds(),
                        Compression::None,
                    )))])]);
        let client = &mut self.connections[self.leaders[partition as usize]];
        let response = client.try_send(&request, version).ok_or_else(|| {
            format!("the well-behaved producer's connection failed (Produce v{version})")
        })?;
        let answer = &response.responses[0].partition_responses[0];
        Ok((answer.error_code == 0).then(|| Acknowledged {
            partition,
            base_offset: answer.base_offset,
            values,
        }))
    }
}

/// Every record of `partition`, in offset order, read with Fetch v12.
fn read_partition(client: &mut Client, partition: i32) -> Vec<(i64, String)> {
    let mut records = Vec::new();
    let mut offset = 0;
    loop {
        let request: FetchRequest = fetch_request(LEDGER_TOPIC, partition, offset, 0, 0);
        let response = client.send(&request, 12);
        let data = &response.responses[0].partitions[0];
        assert_eq!(
            data.error_code, 0,
            "fetching {LEDGER_TOPIC}/{partition} at {offset}"
        );
        let bytes = data.records.clone().unwrap_or_default();
        let batch_records = decode_records(&bytes);
        for record in &batch_records {
            if record.offset >= offset {
                let value = record.value.clone().unwrap_or_default();
                records.push((record.offset, String::from_utf8_lossy(&value).to_string()));
            }
        }
        match batch_records.last() {
            Some(last) if last.offset + 1 > offset => offset = last.offset + 1,
            _ => break,
        }
        if offset >= data.high_watermark {
            break;
        }
    }
    records
}

/// Checks that every acknowledged record of `partition` is in the ledger
/// exactly once, at its offset; returns the number of records checked.
fn check_ledger(client: &mut Client, partition: i32, acknowledged: &[Acknowledged]) -> usize {
    let stored = read_partition(client, partition);
    let offsets_in_order = stored.windows(2).all(|pair| pair[0].0 < pair[1].0);
    assert!(
        offsets_in_order,
        "partition {partition}: offsets not increasing"
    );
    let mut occurrences = std::collections::HashMap::new();
    for (offset, value) in &stored {
        occurrences
            .entry(value.as_str())
            .or_insert_with(Vec::new)
            .push(*offset);
    }
    let mut checked = 0;
    for batch in acknowledged
        .iter()
        .filter(|batch| batch.partition == partition)
    {
        for (index, value) in batch.values.iter().enumerate() {
            let expected = batch.base_offset + index as i64;
            let found = occurrences.get(value.as_str()).cloned().unwrap_or_default();
            assert_eq!(
                found,
                vec![expected],
                "acknowledged record {value:?} of partition {partition} must be \
                 exactly once at offset {expected}"
            );
            checked += 1;
        }
    }
    checked
}

/// What one seed's worker did.
#[derive(Default)]
struct WorkerReport {
    seed: u64,
    frames_sent: usize,
    frames_by_kind: std::collections::BTreeMap<String, usize>,
    connections: usize,
    connections_dropped_mid_frame: usize,
    connections_drain_timed_out: usize,
    /// Connections whose first frame's length prefix is over the limit, sent
    /// whole: the broker must close each with a log line.
    connections_opening_with_huge_length: usize,
    responses: usize,
    /// Why the worker stopped early (the broker went away).
    failure: Option<String>,
}

/// Writes as much of `bytes` as the broker takes; returns how much it took.
fn write_what_is_taken(stream: &mut TcpStream, bytes: &[u8]) -> usize {
    let mut written = 0;
    while written < bytes.len() {
        match stream.write(&bytes[written..]) {
            Ok(0) | Err(_) => break,
            Ok(count) => written += count,
        }
    }
    written
}

/// Reads until the broker closes or the deadline passes; returns how many
/// whole response frames came, and whether the broker closed in time.
fn drain(stream: &mut TcpStream, deadline: Instant) -> (usize, bool) {
    let mut received = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    let closed = loop {
        let now = Instant::now();
        if now >= deadline {
            break false;
        }
        stream.set_read_timeout(Some(deadline - now)).unwrap();
        match stream.read(&mut buffer) {
            Ok(0) => break true,
            Ok(count) => received.extend_from_slice(&buffer[..count]),
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(_) => break false,
        }
    };
    let mut responses = 0;
    let mut rest = &received[..];
    while rest.len() >= 4 {
        let length = i32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        if rest.len() < 4 + length {
            break;
        }
        responses += 1;
        rest = &rest[4 + length..];
    }
    (responses, closed)
}

/// One seed's share of the fuzzing: connections to either shard, each with
/// one to `FRAMES_PER_CONNECTION_MAX` frames pipelined, a tenth of them cut
/// off mid-frame.
fn fuzz_with_seed(
    templates: &[Template],
    seed: u64,
    ports: &[u16],
    frames_quota: usize,
    frames_sent_total: &AtomicUsize,
    stop: &AtomicBool,
) -> WorkerReport {
    let mut report = WorkerReport {
        seed,
        ..WorkerReport::default()
    };
    let mut source = FrameSource::new(templates, seed, corelog::limits::REQUEST_BYTES_MAX_DEFAULT);
    while report.frames_sent < frames_quota && !stop.load(Ordering::Relaxed) {
        let port = ports[source.random.below(ports.len())];
        let mut bytes = Vec::new();
        let mut frame_ends = Vec::new();
        for _ in 0..source.random.between(1, FRAMES_PER_CONNECTION_MAX) {
            let frame = source.next_frame();
            bytes.extend_from_slice(&frame.bytes);
            frame_ends.push((bytes.len(), frame.kind));
            if frame.ends_connection {
                break;
            }
        }
        let cut_mid_frame = source.random.percent(10);
        let sending = if cut_mid_frame {
            source.random.below(bytes.len())
        } else {
            bytes.len()
        };
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let mut stream = match TcpStream::connect_timeout(&address, PROBE_TIMEOUT) {
            Ok(stream) => stream,
            Err(error) => {
                report.failure = Some(format!(
                    "seed {seed:#x}: connection {} to port {port} failed: {error}",
                    report.connections
                ));
                stop.store(true, Ordering::Relaxed);
                break;
            }
        };
        report.connections += 1;
        stream.set_nodelay(true).unwrap();
        // A broker that stops reading (it closed, or it waits on a full
        // reply queue) must not hang the worker.
        stream
            .set_write_timeout(Some(Duration::from_millis(CONNECTION_DRAIN_MILLISECONDS)))
            .unwrap();
        let written = write_what_is_taken(&mut stream, &bytes[..sending]);
        let mut sent_here = 0;
        for (end, kind) in &frame_ends {
            if *end <= written {
                sent_here += 1;
                *report
                    .frames_by_kind
                    .entry(format!("{kind:?}"))
                    .or_default() += 1;
            }
        }
        report.frames_sent += sent_here;
        frames_sent_total.fetch_add(sent_here, Ordering::Relaxed);
        if cut_mid_frame {
            report.connections_dropped_mid_frame += 1;
            continue;
        }
        if frame_ends[0].1 == FrameKind::HugeLength && written >= 4 {
            report.connections_opening_with_huge_length += 1;
        }
        let _ = stream.shutdown(Shutdown::Write);
        let deadline = Instant::now() + Duration::from_millis(CONNECTION_DRAIN_MILLISECONDS);
        let (responses, closed) = drain(&mut stream, deadline);
        report.responses += responses;
        if !closed {
            report.connections_drain_timed_out += 1;
        }
    }
    report
}

/// kcat lists both nodes, produces to both partitions of a new topic and
/// consumes all of it back in order.
fn kcat_still_produces_and_consumes(broker: &Broker) {
    let metadata = kcat(broker, &["-L"], None);
    assert!(metadata.contains("2 brokers:"), "{metadata}");
    let mut client = broker.client(0);
    assert_eq!(create_topic(&mut client, "after-kcat", 2, &[]), 0);
    let mut expected = Vec::new();
    for partition in 0..2 {
        let lines: Vec<String> = (0..20)
            .map(|index| format!("key{index}:kcat-{partition}-{index}"))
            .collect();
        kcat(
            broker,
            &[
                "-P",
                "-t",
                "after-kcat",
                "-p",
                &partition.to_string(),
                "-K:",
            ],
            Some(&(lines.join("\n") + "\n")),
        );
        expected.push(lines);
    }
    let consumed = kcat(
        broker,
        &[
            "-C",
            "-t",
            "after-kcat",
            "-o",
            "beginning",
            "-e",
            "-f",
            "%p %k:%s\n",
        ],
        None,
    );
    for (partition, lines) in expected.iter().enumerate() {
        let got: Vec<String> = consumed
            .lines()
            .filter_map(|line| line.strip_prefix(&format!("{partition} ")))
            .map(str::to_string)
            .collect();
        assert_eq!(
            &got, lines,
            "kcat reads partition {partition} back in order"
        );
    }
}

/// kafkajs creates a topic, produces, and consumes through a group
/// (tests/kafkajs/wire-fuzz-client.js).
fn kafkajs_still_produces_and_consumes(broker: &Broker) {
    let directory = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kafkajs");
    assert!(
        directory.join("node_modules/kafkajs").exists(),
        "kafkajs is not installed: run scripts/test.sh (npm ci in tests/kafkajs)"
    );
    let brokers: Vec<String> = broker
        .ports
        .iter()
        .map(|port| format!("127.0.0.1:{port}"))
        .collect();
    let count = 100;
    let output = Command::new("timeout")
        .arg("90")
        .arg("node")
        .arg(directory.join("wire-fuzz-client.js"))
        .arg(brokers.join(","))
        .arg("after-kafkajs")
        .arg(count.to_string())
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.lines().any(|line| line == "done"),
        "kafkajs failed after the fuzzing: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut received: Vec<String> = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("received "))
        .map(|line| line.splitn(3, ' ').nth(2).unwrap().to_string())
        .collect();
    received.sort();
    let mut expected: Vec<String> = (0..count).map(|index| format!("kafkajs-{index}")).collect();
    expected.sort();
    assert_eq!(
        received, expected,
        "kafkajs reads back exactly what it produced"
    );
}

/// The Rust test client produces to and fetches from a partition on each
/// shard, over fresh connections.
fn rust_client_still_produces_and_consumes(broker: &Broker) {
    let mut client = broker.client(1);
    assert_eq!(create_topic(&mut client, "after-rust", 2, &[]), 0);
    let leaders = leaders(&mut client, "after-rust");
    for partition in 0..2 {
        let mut leader = broker.client(leaders[partition as usize]);
        let value = format!("rust-{partition}");
        let records = batch(
            &[(None, value.as_str())],
            1_700_000_000_000,
            Compression::None,
        );
        let (error, base_offset) =
            common::produce(&mut leader, "after-rust", partition, records, 9, -1);
        assert_eq!((error, base_offset), (0, 0));
        let (error, bytes, high_watermark) =
            common::fetch(&mut leader, "after-rust", partition, 0, 12);
        assert_eq!((error, high_watermark), (0, 1));
        let records = decode_records(&bytes);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].value, Some(Bytes::from(value)));
    }
}

/// Why the broker closed connections: the reason's first words, numbers
/// replaced by N, and every undecodable request (whatever its API) as one.
fn close_reasons(log: &str) -> std::collections::BTreeMap<String, usize> {
    let mut reasons = std::collections::BTreeMap::new();
    for line in log.lines() {
        if let Some((_, reason)) = line.split_once("closing connection from ") {
            let reason = reason.split_once(": ").map_or(reason, |(_, why)| why);
            let reason = if reason.contains("undecodable request") {
                "undecodable request".to_string()
            } else {
                reason
                    .split_whitespace()
                    .take(3)
                    .map(|word| {
                        if word.chars().any(|character| character.is_ascii_digit()) {
                            "N"
                        } else {
                            word
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            *reasons.entry(reason).or_default() += 1;
        }
    }
    reasons
}

/// Topics and partitions that exist, from Metadata (the fuzzing creates
/// some: mutated names in valid Metadata, CreateTopics and CreatePartitions).
fn topics_and_partitions(client: &mut Client) -> (usize, usize) {
    let response = client.send(&MetadataRequest::default().with_topics(None), 12);
    let partitions = response
        .topics
        .iter()
        .map(|topic| topic.partitions.len())
        .sum();
    (response.topics.len(), partitions)
}

/// Log lines that mean the broker no longer keeps its promise, whether or
/// not it still answers: stop the fuzzing at the first one.
const FATAL_LOG_TEXTS: [&str; 2] = ["panicked", "Too many open files"];

/// Reads what the broker logged since the last look.
struct LogWatch {
    path: std::path::PathBuf,
    offset: u64,
}

impl LogWatch {
    fn new(path: std::path::PathBuf) -> LogWatch {
        LogWatch { path, offset: 0 }
    }

    /// The first new whole line containing one of `texts`.
    fn first_new_line_with(&mut self, texts: &[&str]) -> Option<String> {
        use std::io::{Seek, SeekFrom};
        let mut file = std::fs::File::open(&self.path).ok()?;
        file.seek(SeekFrom::Start(self.offset)).ok()?;
        let mut fresh = Vec::new();
        file.read_to_end(&mut fresh).ok()?;
        // Only whole lines; a partial last line is read again next time.
        let whole = fresh
            .iter()
            .rposition(|byte| *byte == b'\n')
            .map_or(0, |end| end + 1);
        self.offset += whole as u64;
        String::from_utf8_lossy(&fresh[..whole])
            .lines()
            .find(|line| texts.iter().any(|text| line.contains(text)))
            .map(str::to_string)
    }
}

/// Asks the broker at `port` for ApiVersions over a new connection.
fn serves_a_new_connection(port: u16) -> Result<(), String> {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&address, PROBE_TIMEOUT)
        .map_err(|error| format!("connect: {error}"))?;
    stream.set_read_timeout(Some(PROBE_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(PROBE_TIMEOUT)).unwrap();
    let request = common::encode_request(&ApiVersionsRequest::default(), 3, 42);
    stream
        .write_all(&request)
        .map_err(|error| format!("send ApiVersions: {error}"))?;
    let mut length = [0u8; 4];
    stream
        .read_exact(&mut length)
        .map_err(|error| format!("read the ApiVersions answer: {error}"))?;
    let mut body = vec![0u8; i32::from_be_bytes(length).max(0) as usize];
    stream
        .read_exact(&mut body)
        .map_err(|error| format!("read the ApiVersions answer: {error}"))?;
    match body.get(..4) {
        Some(correlation_id) if correlation_id == 42i32.to_be_bytes() => Ok(()),
        _ => Err("an answer that is not ApiVersions'".to_string()),
    }
}

/// Partition directories in the broker's data dir (`topic-N`).
fn partition_directories(broker: &Broker) -> usize {
    std::fs::read_dir(broker.data_dir())
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|entry| {
                    let name = entry.file_name().to_string_lossy().to_string();
                    name.rsplit_once('-')
                        .is_some_and(|(_, index)| index.parse::<u32>().is_ok())
                })
                .count()
        })
        .unwrap_or(0)
}

/// The distinct lines among the log's last thousand, at most `count` of
/// them, each with how often it came (a broker in a loop repeats itself).
fn log_tail(log: &str, count: usize) -> String {
    let lines: Vec<&str> = log.lines().collect();
    let recent = &lines[lines.len().saturating_sub(1000)..];
    let mut distinct: Vec<(&str, usize)> = Vec::new();
    for line in recent {
        match distinct.iter_mut().find(|(seen, _)| seen == line) {
            Some((_, repeats)) => *repeats += 1,
            None => distinct.push((line, 1)),
        }
    }
    let start = distinct.len().saturating_sub(count);
    distinct[start..]
        .iter()
        .map(|(line, repeats)| match repeats {
            1 => line.to_string(),
            _ => format!("{line} (x{repeats} in the last {} lines)", recent.len()),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Pins the broker's open-file limit (soft and hard) at `limit`, or at its
/// hard limit if that is lower (raising it takes a privilege tests may not
/// have), so what the fuzzing can do to descriptors depends little on the
/// machine's `ulimit -n` (20,000 where issue 10 was found). Returns the limit.
fn pin_open_file_limit(broker: &Broker, limit: u64) -> u64 {
    let pid = broker_pid(broker).expect("the broker's pid") as libc::pid_t;
    let mut current = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    let read = unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, std::ptr::null(), &mut current) };
    assert_eq!(read, 0, "{}", std::io::Error::last_os_error());
    let limit = limit.min(current.rlim_max);
    let pinned = libc::rlimit {
        rlim_cur: limit,
        rlim_max: limit,
    };
    let result = unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, &pinned, std::ptr::null_mut()) };
    assert_eq!(
        result,
        0,
        "setting the broker's open-file limit to {limit}: {}",
        std::io::Error::last_os_error()
    );
    limit
}

fn closed_connection_lines(log: &str) -> usize {
    log.lines()
        .filter(|line| line.contains("closing connection from"))
        .count()
}

#[test]
fn hundreds_of_thousands_of_fuzzed_frames_cost_only_their_connections() {
    let started = Instant::now();
    let mut broker = Broker::start_with(2, &["--group-initial-rebalance-delay-ms", "100"]);
    let pid = broker_pid(&broker).expect("the broker's pid");
    let open_files_max = pin_open_file_limit(&broker, OPEN_FILES_MAX);
    let templates = frames::templates();

    // The ledger: records acknowledged before the fuzzing starts.
    let mut client = broker.client(0);
    let ledger_configs = [("retention.ms", "-1"), ("retention.bytes", "-1")];
    assert_eq!(
        create_topic(&mut client, LEDGER_TOPIC, 2, &ledger_configs),
        0
    );
    let ledger_leaders = leaders(&mut client, LEDGER_TOPIC);
    assert_eq!(
        ledger_leaders,
        vec![0, 1],
        "one ledger partition on each shard"
    );
    let mut producer = LedgerProducer::new(&broker, ledger_leaders.clone());
    let mut acknowledged = Vec::new();
    for round in 0..100 {
        let batch = producer
            .produce("before", round % 2, 1 + round as usize % 5)
            .expect("produce before the fuzzing");
        acknowledged.push(batch.expect("acknowledged before the fuzzing"));
    }

    let seeds = seeds();
    let frames_quota = frames_total().div_ceil(seeds.len());
    let fuzzing_time_max =
        FUZZING_TIME_MAX * frames_total().div_ceil(FRAMES_TOTAL_DEFAULT).max(1) as u32;
    eprintln!(
        "wire fuzz: {} templates (every advertised API and version), seeds {:x?}, \
         {frames_quota} frames per seed, at most {FRAMES_PER_CONNECTION_MAX} per connection; \
         broker pid {pid}, open-file limit {open_files_max}",
        templates.len(),
        seeds
    );
    let frames_sent_total = AtomicUsize::new(0);
    let stop_fuzzing = AtomicBool::new(false);
    let stop_producing = AtomicBool::new(false);
    let during = Mutex::new((Vec::new(), None::<String>));
    let ports = broker.ports.clone();
    let fuzz_started = Instant::now();
    let mut stopped_serving: Option<(usize, String)> = None;
    let reports: Vec<WorkerReport> = std::thread::scope(|scope| {
        // Records acknowledged while the fuzzing runs, from a well-behaved
        // connection per shard.
        let producing = scope.spawn(|| {
            let mut round = 0usize;
            while !stop_producing.load(Ordering::Relaxed) {
                match producer.produce("during", (round % 2) as i32, 1 + round % 4) {
                    Ok(Some(batch)) => during.lock().unwrap().0.push(batch),
                    Ok(None) => {}
                    Err(error) => {
                        during.lock().unwrap().1 = Some(error);
                        break;
                    }
                }
                round += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let workers: Vec<_> = seeds
            .iter()
            .map(|seed| {
                let (templates, ports) = (&templates, &ports);
                let (frames_sent_total, stop_fuzzing) = (&frames_sent_total, &stop_fuzzing);
                scope.spawn(move || {
                    fuzz_with_seed(
                        templates,
                        *seed,
                        ports,
                        frames_quota,
                        frames_sent_total,
                        stop_fuzzing,
                    )
                })
            })
            .collect();
        let mut next_probe = Instant::now() + PROBE_INTERVAL;
        let mut log_watch = LogWatch::new(broker.log_path());
        while !workers.iter().all(|worker| worker.is_finished()) {
            if stopped_serving.is_none() {
                let why = if !broker.is_running() {
                    Some("the broker process exited".to_string())
                } else if fuzz_started.elapsed() > fuzzing_time_max {
                    Some(format!(
                        "the fuzzing did not end within {fuzzing_time_max:?}"
                    ))
                } else if Instant::now() >= next_probe {
                    next_probe = Instant::now() + PROBE_INTERVAL;
                    log_watch
                        .first_new_line_with(&FATAL_LOG_TEXTS)
                        .map(|line| format!("the broker logged: {line}"))
                        .or_else(|| {
                            ports.iter().enumerate().find_map(|(node, port)| {
                                serves_a_new_connection(*port).err().map(|error| {
                                    format!("node {node} did not serve a new connection: {error}")
                                })
                            })
                        })
                } else {
                    None
                };
                if let Some(why) = why {
                    stopped_serving = Some((frames_sent_total.load(Ordering::Relaxed), why));
                    stop_fuzzing.store(true, Ordering::Relaxed);
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        stop_producing.store(true, Ordering::Relaxed);
        producing.join().unwrap();
        workers
            .into_iter()
            .map(|worker| worker.join().unwrap())
            .collect()
    });
    let fuzz_elapsed = fuzz_started.elapsed();
    let frames_sent: usize = reports.iter().map(|report| report.frames_sent).sum();
    let connections: usize = reports.iter().map(|report| report.connections).sum();
    let mut by_kind = std::collections::BTreeMap::<String, usize>::new();
    for report in &reports {
        for (kind, count) in &report.frames_by_kind {
            *by_kind.entry(kind.clone()).or_default() += count;
        }
    }
    for report in &reports {
        eprintln!(
            "wire fuzz: seed {:#x}: {} frames, {} connections, {} responses",
            report.seed, report.frames_sent, report.connections, report.responses
        );
    }
    eprintln!(
        "wire fuzz: {frames_sent} frames sent over {connections} connections in {:.1} s \
         ({} dropped mid-frame, {} still open after {CONNECTION_DRAIN_MILLISECONDS} ms and \
         dropped, {} responses); by kind {by_kind:?}",
        fuzz_elapsed.as_secs_f64(),
        reports
            .iter()
            .map(|report| report.connections_dropped_mid_frame)
            .sum::<usize>(),
        reports
            .iter()
            .map(|report| report.connections_drain_timed_out)
            .sum::<usize>(),
        reports.iter().map(|report| report.responses).sum::<usize>(),
    );

    // Alive: the same process, which never stopped serving.
    let log = broker.log();
    let failures: Vec<&String> = reports
        .iter()
        .filter_map(|report| report.failure.as_ref())
        .collect();
    if stopped_serving.is_some() || !failures.is_empty() || !broker.is_running() {
        let (frames, why) = stopped_serving.unwrap_or((frames_sent, "a worker failed".to_string()));
        panic!(
            "after {:.1} s and about {frames} frames the broker failed (seeds {seeds:x?}): {why}; \
             worker failures: {failures:?}; the data dir holds {} partitions\nbroker log tail:\n{}",
            fuzz_started.elapsed().as_secs_f64(),
            partition_directories(&broker),
            log_tail(&log, 20)
        );
    }
    assert_eq!(
        broker_pid(&broker),
        Some(pid),
        "the same broker process serves"
    );
    let (during_acknowledged, producer_failure) = during.into_inner().unwrap();
    assert_eq!(
        producer_failure, None,
        "the well-behaved connections kept working"
    );
    assert!(
        frames_sent >= frames_total(),
        "{frames_sent} frames sent, fewer than {}",
        frames_total()
    );

    // The log names the connections the fuzzing cost, on both shards, and
    // no panic.
    let closed = closed_connection_lines(&log);
    for shard in 0..2 {
        assert!(
            log.contains(&format!("shard {shard}: closing connection from")),
            "shard {shard} logged its closed connections"
        );
    }
    let (topics, partitions) = topics_and_partitions(&mut broker.client(0));
    eprintln!(
        "wire fuzz: broker pid {pid} alive; {topics} topics with {partitions} partitions exist; \
         closed connections by reason: {:?}",
        close_reasons(&log)
    );
    assert!(
        closed >= connections / 2,
        "{closed} closed connections logged for {connections} fuzzing connections"
    );
    assert!(
        !log.contains("panicked"),
        "a panic in the broker log:\n{}",
        log_tail(&log, 40)
    );
    // Every connection that opened with a length prefix over the limit was
    // closed for it.
    let opening_with_huge_length: usize = reports
        .iter()
        .map(|report| report.connections_opening_with_huge_length)
        .sum();
    let closed_for_length = log
        .lines()
        .filter(|line| line.contains("closing connection from") && line.contains("request length"))
        .count();
    assert!(
        closed_for_length >= opening_with_huge_length,
        "{opening_with_huge_length} connections opened with a huge length prefix, \
         {closed_for_length} closed for one"
    );
    eprintln!(
        "wire fuzz: {opening_with_huge_length} connections opened with a length prefix over the \
         limit; {closed_for_length} closed for their length"
    );
    // Partitions the fuzzing created are within what a client may ask for;
    // the node must cope with them, not run out of descriptors (issue 10,
    // item 4).
    assert!(
        !log.contains("Too many open files"),
        "the broker ran out of file descriptors ({} partition directories):\n{}",
        partition_directories(&broker),
        log_tail(&log, 20)
    );

    // Nothing acknowledged was lost, duplicated or moved.
    let during_count = during_acknowledged.len();
    assert!(
        during_count >= 10,
        "only {during_count} batches were acknowledged while the fuzzing ran"
    );
    acknowledged.extend(during_acknowledged);
    let mut checked = 0;
    for (partition, leader) in ledger_leaders.iter().enumerate() {
        checked += check_ledger(&mut broker.client(*leader), partition as i32, &acknowledged);
    }
    eprintln!(
        "wire fuzz: {checked} acknowledged records ({} batches, {during_count} of them during \
         the fuzzing) all present once at their offsets; {closed} closed connections logged",
        acknowledged.len()
    );

    // Real clients are still served.
    rust_client_still_produces_and_consumes(&broker);
    kcat_still_produces_and_consumes(&broker);
    kafkajs_still_produces_and_consumes(&broker);
    eprintln!(
        "wire fuzz: afterwards the Rust client, kcat (40 records) and kafkajs (100 records, \
         through a group) produced and consumed"
    );
    let mut client = broker.client(0);
    assert_eq!(client.send(&ApiVersionsRequest::default(), 3).error_code, 0);
    assert!(broker.is_running());
    assert_eq!(broker_pid(&broker), Some(pid));
    eprintln!(
        "wire fuzz: total {:.1} s (fuzzing {:.1} s)",
        started.elapsed().as_secs_f64(),
        fuzz_elapsed.as_secs_f64()
    );
}

/// A frame of Fetch `version` with an empty topics array whose count then
/// claims 2^31-1 entries: the first crash the fuzzing found (kafka-protocol
/// 0.18.0 reserved memory for that many topics before decoding one, and the
/// failed allocation aborted the process).
fn fetch_claiming_huge_topics_array(version: i16) -> Vec<u8> {
    let request = FetchRequest::default().with_replica_id(kafka_protocol::messages::BrokerId(-1));
    let frame = common::encode_request(&request, version, 7);
    let mut body = frame[4..].to_vec();
    let end = body.len();
    if version >= 12 {
        // Compact: topics, forgotten topics and rack id empty (varint 1
        // each), no tagged fields (0); topics becomes 2^31, i.e. 2^31-1
        // entries.
        assert_eq!(body[end - 4..], [1, 1, 1, 0], "Fetch v{version} layout");
        body.splice(end - 4..end - 3, [0x80, 0x80, 0x80, 0x80, 0x08]);
    } else {
        // Up to v6 the topics array is the last field.
        assert!(version <= 6);
        assert_eq!(body[end - 4..], [0, 0, 0, 0], "Fetch v{version} layout");
        body[end - 4..].copy_from_slice(&i32::MAX.to_be_bytes());
    }
    let mut bytes = (body.len() as i32).to_be_bytes().to_vec();
    bytes.extend_from_slice(&body);
    bytes
}

#[test]
fn a_fetch_whose_topics_array_claims_2_pow_31_minus_1_entries_closes_only_its_connection() {
    let mut broker = Broker::start(2);
    let pid = broker_pid(&broker).expect("the broker's pid");
    for node in 0..2 {
        for version in [4, 12] {
            let mut bystander = broker.client(node);
            assert_eq!(
                bystander.send(&ApiVersionsRequest::default(), 3).error_code,
                0
            );
            let mut hostile = broker.client(node);
            hostile
                .stream
                .write_all(&fetch_claiming_huge_topics_array(version))
                .unwrap();
            assert!(
                hostile.closed_by_broker(),
                "node {node}: the Fetch v{version} connection is closed"
            );
            let answer = bystander.try_send(&ApiVersionsRequest::default(), 3);
            assert!(
                answer.is_some_and(|answer| answer.error_code == 0),
                "node {node}: after Fetch v{version}, a connection opened before still works; \
                 broker log:\n{}",
                broker.log()
            );
            assert!(broker.is_running(), "broker log:\n{}", broker.log());
            let mut newcomer = broker.client(node);
            assert_eq!(
                newcomer.send(&ApiVersionsRequest::default(), 3).error_code,
                0
            );
        }
    }
    // Still a working broker, in the same process, that said what it closed.
    rust_client_still_produces_and_consumes(&broker);
    assert_eq!(broker_pid(&broker), Some(pid));
    let log = broker.log();
    assert!(closed_connection_lines(&log) >= 4, "{log}");
    assert!(!log.contains("panicked"), "{log}");
}

/// The generator's templates are valid frames: sent as they are, each is
/// answered, with its correlation id, on a connection that stays open.
#[test]
fn every_template_is_a_frame_the_broker_answers() {
    let broker = Broker::start_with(2, &["--group-initial-rebalance-delay-ms", "100"]);
    let templates = frames::templates();
    // Every advertised version the codec can write (the older ones, read
    // by hand, have tests of their own).
    let advertised: usize = corelog::server::api::SUPPORTED
        .iter()
        .map(|(api_key, versions)| {
            let codec_min = api_key.valid_versions().min;
            versions
                .clone()
                .filter(|version| *version >= codec_min)
                .count()
        })
        .sum();
    assert_eq!(
        templates.len(),
        advertised,
        "one template per advertised version"
    );
    for (index, template) in templates.iter().enumerate() {
        let mut client = broker.client(index % 2);
        let mut frame = (template.body.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(&template.body);
        client.stream.write_all(&frame).unwrap();
        let response = client.read_frame().unwrap_or_else(|error| {
            panic!(
                "{:?} v{}: no answer ({error}); broker log:\n{}",
                template.api_key,
                template.version,
                broker.log()
            )
        });
        assert_eq!(
            i32::from_be_bytes(response[..4].try_into().unwrap()),
            1,
            "{:?} v{}: correlation id",
            template.api_key,
            template.version
        );
        assert_eq!(client.send(&ApiVersionsRequest::default(), 0).error_code, 0);
    }
    assert_eq!(
        closed_connection_lines(&broker.log()),
        0,
        "{}",
        broker.log()
    );
}

/// Found by the fuzzing: one valid CreatePartitions whose count had a
/// flipped bit (3 became 8195) gave a topic thousands of partitions, each
/// holding its files open, until `accept` failed with "Too many open files"
/// on every shard: the process lived, logging in a loop, and served no new
/// client. Partitions a client may legitimately create must not cost the
/// node its ability to accept connections (issue 10, item 4).
#[test]
fn ten_thousand_partitions_from_one_request_leave_the_broker_accepting() {
    use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
    use kafka_protocol::messages::CreatePartitionsRequest;
    let broker = Broker::start(2);
    let open_files_max = pin_open_file_limit(&broker, 8192);
    eprintln!("open-file limit {open_files_max}");
    let mut client = broker.client(0);
    assert_eq!(create_topic(&mut client, "many", 1, &[]), 0);
    let count = corelog::limits::PARTITIONS_PER_TOPIC_MAX;
    let request = CreatePartitionsRequest::default()
        .with_timeout_ms(60_000)
        .with_topics(vec![CreatePartitionsTopic::default()
            .with_name(name("many"))
            .with_count(count)]);
    let started = Instant::now();
    let response = client.send(&request, 3);
    eprintln!(
        "CreatePartitions to {count}: error {} after {:.1} s",
        response.results[0].error_code,
        started.elapsed().as_secs_f64()
    );
    for (node, port) in broker.ports.iter().enumerate() {
        assert_eq!(
            serves_a_new_connection(*port),
            Ok(()),
            "node {node} serves a new connection after CreatePartitions to {count}; \
             broker log tail:\n{}",
            log_tail(&broker.log(), 10)
        );
    }
    // Whatever it answered, every partition that exists answers a Fetch
    // (one request per leader), and the first and last take a produce.
    let leaders = leaders(&mut client, "many");
    for node in 0..broker.ports.len() {
        let partitions: Vec<i32> = (0..leaders.len() as i32)
            .filter(|partition| leaders[*partition as usize] == node)
            .collect();
        let request = FetchRequest::default()
            .with_replica_id(kafka_protocol::messages::BrokerId(-1))
            .with_max_bytes(1024 * 1024)
            .with_session_epoch(-1)
            .with_topics(vec![
                kafka_protocol::messages::fetch_request::FetchTopic::default()
                    .with_topic(name("many"))
                    .with_partitions(
                        partitions
                            .iter()
                            .map(|partition| {
                                kafka_protocol::messages::fetch_request::FetchPartition::default()
                                    .with_partition(*partition)
                                    .with_partition_max_bytes(1024)
                            })
                            .collect(),
                    ),
            ]);
        let response = broker.client(node).send(&request, 12);
        let failed: Vec<i32> = response.responses[0]
            .partitions
            .iter()
            .filter(|partition| partition.error_code != 0)
            .map(|partition| partition.partition_index)
            .collect();
        assert!(
            failed.is_empty(),
            "node {node}: {} of its {} partitions fail a Fetch (first: {:?}); broker log tail:\n{}",
            failed.len(),
            partitions.len(),
            &failed[..failed.len().min(5)],
            log_tail(&broker.log(), 10)
        );
    }
    for partition in [0, leaders.len() as i32 - 1] {
        let mut leader = broker.client(leaders[partition as usize]);
        let records = batch(&[(None, "one")], 1_700_000_000_000, Compression::None);
        let (error, _) = common::produce(&mut leader, "many", partition, records, 9, -1);
        assert_eq!(error, 0, "produce to partition {partition}");
        let (error, bytes, _) = common::fetch(&mut leader, "many", partition, 0, 12);
        assert_eq!(error, 0);
        assert_eq!(decode_records(&bytes).len(), 1);
    }
    let log = broker.log();
    assert!(
        !log.contains("Too many open files"),
        "{}",
        log_tail(&log, 10)
    );
}
