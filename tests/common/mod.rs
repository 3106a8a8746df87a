//! Test harness: the real `corelog` binary on ephemeral loopback ports with a
//! temp data dir, and a small blocking Kafka client built on the same codec
//! crate the broker uses.

#![allow(dead_code)]

pub mod checker;
pub mod cluster;
pub mod frames;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, BrokerId, CreateTopicsRequest, FetchRequest, MetadataRequest, ProduceRequest,
    RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use kafka_protocol::records::{Compression, Record, RecordBatchDecoder};

pub struct Broker {
    pub dir: tempfile::TempDir,
    pub ports: Vec<u16>,
    child: Option<Child>,
    cores: usize,
    extra: Vec<String>,
    /// `--listen`: port 0 (ephemeral ports, new ones at each start) unless
    /// a test needs clients to find the broker again after a restart.
    listen: String,
    /// RLIMIT_NOFILE (soft and hard) set for the broker's process.
    open_files_limit: Option<u64>,
}

impl Broker {
    pub fn start(cores: usize) -> Broker {
        Broker::start_with(cores, &[])
    }

    pub fn start_with(cores: usize, extra: &[&str]) -> Broker {
        Broker::start_prepared(cores, extra, |_| {})
    }

    /// Like `start_with`, after `prepare` ran on the (not yet created)
    /// data dir path: to mount a small filesystem there, say.
    pub fn start_prepared(cores: usize, extra: &[&str], prepare: impl FnOnce(&Path)) -> Broker {
        let dir = tempfile::tempdir().expect("temp dir");
        prepare(&dir.path().join("data"));
        Broker::launched(dir, cores, extra, "127.0.0.1:0".to_string())
    }

    fn launched(dir: tempfile::TempDir, cores: usize, extra: &[&str], listen: String) -> Broker {
        let mut broker = Broker {
            dir,
            ports: Vec::new(),
            child: None,
            cores,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            listen,
            open_files_limit: None,
        };
        broker.launch();
        broker
    }

    /// Like `start_prepared`, with the broker's open-file limit (soft and
    /// hard, so it cannot raise it) set to `limit`, at every start.
    pub fn start_with_open_files_limit(
        cores: usize,
        extra: &[&str],
        limit: u64,
        prepare: impl FnOnce(&Path),
    ) -> Broker {
        let dir = tempfile::tempdir().expect("temp dir");
        prepare(&dir.path().join("data"));
        let mut broker = Broker {
            dir,
            ports: Vec::new(),
            child: None,
            cores,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            listen: "127.0.0.1:0".to_string(),
            open_files_limit: Some(limit),
        };
        broker.launch();
        broker
    }

    /// The broker's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|child| child.id())
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("broker.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_corelog"));
        if let Some(limit) = self.open_files_limit {
            use std::os::unix::process::CommandExt;
            // SAFETY: setrlimit is async-signal-safe and touches only the
            // child between fork and exec.
            unsafe {
                command.pre_exec(move || {
                    let value = libc::rlimit {
                        rlim_cur: limit,
                        rlim_max: limit,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &value) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = command
            .arg("serve")
            .arg("--data-dir")
            .arg(self.data_dir())
            .args([
                "--listen",
                &self.listen,
                "--advertise",
                "127.0.0.1",
                "--cores",
                &self.cores.to_string(),
            ])
            .args(&self.extra)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("corelog starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut ports = Vec::new();
        loop {
            let line = lines
                .next()
                .unwrap_or_else(|| panic!("broker exited before ready: {}", self.log()))
                .expect("line");
            if let Some(rest) = line.strip_prefix("corelog: node ") {
                let port = rest.rsplit(':').next().unwrap().parse::<u16>().unwrap();
                ports.push(port);
            }
            if line.starts_with("corelog: ready") {
                break;
            }
        }
        // Keep draining stdout so the broker never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        self.ports = ports;
        self.child = Some(child);
    }

    /// SIGTERM and wait: a clean shutdown.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            unsafe { libc_kill(child.id() as i32, 15) };
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if let Some(status) = child.try_wait().unwrap() {
                    assert!(
                        status.success(),
                        "broker exited with {status}: {}",
                        self.log()
                    );
                    return;
                }
                assert!(Instant::now() < deadline, "broker did not stop within 20 s");
                // Polled often: tests look at the ports right after exit.
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// A broker on fixed ports (free ones, found by binding), the same at
    /// every restart, so clients outside the test reconnect by themselves.
    pub fn start_on_fixed_ports(cores: usize, extra: &[&str]) -> Broker {
        // Below the kernel's ephemeral range, so no outgoing connection
        // (a client retrying while the broker is down) takes the port.
        let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
            .unwrap_or(32768);
        let start = 10_000 + (std::process::id() as u16 % 97) * 100;
        let base = (start..low.saturating_sub(cores as u16))
            .step_by(7)
            .find(|&port| {
                (0..cores as u16)
                    .all(|offset| std::net::TcpListener::bind(("127.0.0.1", port + offset)).is_ok())
            })
            .expect("free consecutive ports below the ephemeral range");
        let dir = tempfile::tempdir().expect("temp dir");
        Broker::launched(dir, cores, extra, format!("127.0.0.1:{base}"))
    }

    /// SIGKILL: the process dies wherever it is, as in a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the broker again on the same data dir after `kill`.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "the broker is still running");
        self.launch();
    }

    /// Starts the broker again on the same data dir with other options.
    pub fn start_again_with(&mut self, extra: &[&str]) {
        assert!(self.child.is_none(), "the broker is still running");
        self.extra = extra.iter().map(|s| s.to_string()).collect();
        self.launch();
    }

    /// A clean restart with another number of shards (`--cores`).
    pub fn restart_with_cores(&mut self, cores: usize) {
        self.stop();
        self.cores = cores;
        self.launch();
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.ports[0])
    }

    pub fn client(&self, node: usize) -> Client {
        Client::connect(self.ports[node])
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| child.try_wait().unwrap().is_none())
    }
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, signal: i32) -> i32;
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub struct Client {
    pub stream: TcpStream,
    correlation_id: i32,
}

impl Client {
    pub fn connect(port: u16) -> Client {
        Client::connect_to(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
    }

    /// A connection to a broker at any address (a cluster host's, say).
    pub fn connect_to(address: std::net::SocketAddr) -> Client {
        let stream = TcpStream::connect(address)
            .unwrap_or_else(|error| panic!("connect to {address}: {error}"));
        Client::over(stream)
    }

    /// A client on a connected stream; replies are awaited 30 s at most.
    pub fn over(stream: TcpStream) -> Client {
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        Client {
            stream,
            correlation_id: 0,
        }
    }

    /// A connection, or `None` when the broker is not there.
    pub fn try_connect(port: u16) -> Option<Client> {
        let stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
        Some(Client::over(stream))
    }

    /// Like `send`, but `None` when the connection fails (a killed broker).
    pub fn try_send<R: Request>(&mut self, request: &R, version: i16) -> Option<R::Response> {
        self.correlation_id += 1;
        let frame = encode_request(request, version, self.correlation_id);
        self.stream.write_all(&frame).ok()?;
        let mut body = self.read_frame().ok()?;
        let header =
            ResponseHeader::decode(&mut body, R::Response::header_version(version)).ok()?;
        assert_eq!(header.correlation_id, self.correlation_id);
        R::Response::decode(&mut body, version).ok()
    }

    /// Sends a typed request at `version` and decodes the typed response.
    pub fn send<R: Request>(&mut self, request: &R, version: i16) -> R::Response {
        self.correlation_id += 1;
        let frame = encode_request(request, version, self.correlation_id);
        self.stream.write_all(&frame).expect("write request");
        let mut body = self.read_frame().expect("a response");
        let header = ResponseHeader::decode(&mut body, R::Response::header_version(version))
            .expect("response header");
        assert_eq!(header.correlation_id, self.correlation_id);
        let response = R::Response::decode(&mut body, version).expect("response body");
        assert!(
            body.is_empty(),
            "{} bytes left after the response",
            body.len()
        );
        response
    }

    pub fn read_frame(&mut self) -> std::io::Result<Bytes> {
        let mut length = [0u8; 4];
        self.stream.read_exact(&mut length)?;
        let mut body = vec![0u8; i32::from_be_bytes(length) as usize];
        self.stream.read_exact(&mut body)?;
        Ok(Bytes::from(body))
    }

    /// True when the broker closed this connection (EOF or reset) within 5 s.
    pub fn closed_by_broker(&mut self) -> bool {
        self.stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut byte = [0u8; 1];
        match self.stream.read(&mut byte) {
            Ok(0) => true,
            Err(error) => error.kind() == std::io::ErrorKind::ConnectionReset,
            Ok(_) => false,
        }
    }
}

/// (error code, base offset) of a one-partition produce.
pub fn produce(
    client: &mut Client,
    topic: &str,
    partition: i32,
    records: Bytes,
    version: i16,
    acks: i16,
) -> (i16, i64) {
    let request = ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(records))])]);
    let response = client.send(&request, version);
    let answer = &response.responses[0].partition_responses[0];
    (answer.error_code, answer.base_offset)
}

pub fn fetch_request(
    topic: &str,
    partition: i32,
    offset: i64,
    max_wait_ms: i32,
    min_bytes: i32,
) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(min_bytes)
        .with_max_bytes(50 * 1024 * 1024)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(name(topic))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(1024 * 1024)])])
}

pub fn fetch(
    client: &mut Client,
    topic: &str,
    partition: i32,
    offset: i64,
    version: i16,
) -> (i16, Bytes, i64) {
    let response = client.send(&fetch_request(topic, partition, offset, 0, 0), version);
    let data = &response.responses[0].partitions[0];
    (
        data.error_code,
        data.records.clone().expect("records are never null"),
        data.high_watermark,
    )
}

pub fn name(value: &str) -> TopicName {
    TopicName(StrBytes::from_string(value.to_string()))
}

/// Leader node of each partition, from Metadata.
pub fn leaders(client: &mut Client, topic: &str) -> Vec<i32> {
    let request = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(name(topic)))
        ]))
        .with_allow_auto_topic_creation(false);
    let response = client.send(&request, 12);
    let mut partitions = response.topics[0].partitions.clone();
    partitions.sort_by_key(|partition| partition.partition_index);
    partitions
        .iter()
        .map(|partition| partition.leader_id.0)
        .collect()
}

/// Creates a topic (CreateTopics v7); returns the error code.
pub fn create_topic(
    client: &mut Client,
    topic: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) -> i16 {
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(name(topic))
            .with_num_partitions(partitions)
            .with_replication_factor(1)
            .with_configs(
                configs
                    .iter()
                    .map(|(key, value)| {
                        CreatableTopicConfig::default()
                            .with_name(kafka_protocol::protocol::StrBytes::from_string(
                                key.to_string(),
                            ))
                            .with_value(Some(kafka_protocol::protocol::StrBytes::from_string(
                                value.to_string(),
                            )))
                    })
                    .collect(),
            )]);
    client.send(&request, 7).topics[0].error_code
}

/// The offset ListOffsets v3 gives for `timestamp` (-1 latest, -2 earliest).
pub fn list_offset(client: &mut Client, topic: &str, partition: i32, timestamp: i64) -> i64 {
    use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    let request = kafka_protocol::messages::ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(name(topic))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(partition)
                .with_timestamp(timestamp)])]);
    client.send(&request, 3).topics[0].partitions[0].offset
}

pub fn encode_request<R: Request>(request: &R, version: i16, correlation_id: i32) -> BytesMut {
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("corelog-test")));
    let mut body = BytesMut::new();
    header
        .encode(&mut body, R::header_version(version))
        .unwrap();
    request.encode(&mut body, version).unwrap();
    let mut frame = BytesMut::with_capacity(body.len() + 4);
    frame.put_i32(body.len() as i32);
    frame.put_slice(&body);
    frame
}

pub fn api_key_of<R: Request>() -> ApiKey {
    ApiKey::try_from(R::KEY).unwrap()
}

/// A record batch of (key, value, headers) records, timestamps from `timestamp`.
pub fn batch(records: &[(Option<&str>, &str)], timestamp: i64, compression: Compression) -> Bytes {
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(index, (key, value))| {
            corelog::protocol::records::record(
                index,
                key.map(|key| Bytes::copy_from_slice(key.as_bytes())),
                Some(Bytes::copy_from_slice(value.as_bytes())),
                timestamp + index as i64,
            )
        })
        .collect();
    corelog::protocol::records::encode_batch(&records, compression)
}

/// A batch from an idempotent producer: `values` get sequences from
/// `first_sequence` on.
pub fn idempotent_batch(
    producer_id: i64,
    epoch: i16,
    first_sequence: i32,
    values: &[String],
) -> Bytes {
    let records: Vec<Record> = values
        .iter()
        .enumerate()
        .map(|(index, value)| Record {
            producer_id,
            producer_epoch: epoch,
            sequence: first_sequence + index as i32,
            ..corelog::protocol::records::record(
                index,
                None,
                Some(Bytes::copy_from_slice(value.as_bytes())),
                1_700_000_000_000 + index as i64,
            )
        })
        .collect();
    corelog::protocol::records::encode_batch(&records, Compression::None)
}

/// Every whole record in fetched bytes (a trailing partial batch is skipped,
/// as clients do).
pub fn decode_records(bytes: &Bytes) -> Vec<Record> {
    let mut records = Vec::new();
    let mut rest = bytes.clone();
    while rest.len() >= 12 {
        let length = i32::from_be_bytes(rest[8..12].try_into().unwrap()) as usize + 12;
        if length > rest.len() {
            break;
        }
        let mut one = rest.split_to(length);
        for set in RecordBatchDecoder::decode_all(&mut one).expect("valid batch") {
            records.extend(set.records);
        }
    }
    records
}

/// Runs kcat against `broker` (60 s at most), feeding it `input`, and
/// returns what it printed; fails the test, with the broker's log, if kcat
/// fails.
pub fn kcat(broker: &Broker, args: &[&str], input: Option<&str>) -> String {
    use std::io::Write;
    assert!(
        kcat_available(),
        "kcat is not installed: run scripts/test.sh, which installs it"
    );
    let mut child = Command::new("timeout")
        .arg("60")
        .arg("kcat")
        .args(["-b", &broker.bootstrap()])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kcat runs");
    if let Some(input) = input {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "kcat {args:?} failed: {}\nbroker log:\n{}",
        String::from_utf8_lossy(&output.stderr),
        broker.log()
    );
    String::from_utf8(output.stdout).unwrap()
}

pub fn kcat_available() -> bool {
    Command::new("kcat")
        .arg("-V")
        .output()
        .is_ok_and(|output| output.status.success())
}

pub fn segment_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().to_string())
        .filter(|name| name.ends_with(".log"))
        .collect();
    names.sort();
    names
}

/// Milliseconds since the Unix epoch.
pub fn now_milliseconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}
