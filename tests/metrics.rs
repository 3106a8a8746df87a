//! The metrics endpoint of a real broker (2 shards): scrapes before and
//! after known traffic move the request, latency, byte, record and error
//! counters by exactly that traffic; a committed group's lag is the high
//! watermark minus the committed offset; /ready and /health answer 200;
//! the Grafana dashboard parses and every metric it queries is scraped.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{batch, create_topic, fetch, leaders, produce, Broker, Client};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::{FindCoordinatorRequest, GroupId, OffsetCommitRequest};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;

const TOPIC: &str = "metered";
const NOT_LEADER_OR_FOLLOWER: i16 = 6;
const NOT_COORDINATOR: i16 = 16;

/// `corelog: metrics on http://ADDR/metrics`, from the broker's log.
fn metrics_address(broker: &Broker) -> String {
    let log = broker.log();
    let line = log
        .lines()
        .find_map(|line| line.strip_prefix("corelog: metrics on http://"))
        .unwrap_or_else(|| panic!("no metrics line in the log: {log}"));
    line.trim_end_matches("/metrics").to_string()
}

/// (status, body) of one HTTP request whose head is `head`.
fn http(address: &str, head: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).expect("connect to the metrics endpoint");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("a response");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|status| status.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {response:?}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default();
    (status, body)
}

fn get(address: &str, path: &str) -> (u16, String) {
    http(
        address,
        &format!("GET {path} HTTP/1.1\r\nHost: test\r\nAccept: */*\r\n\r\n"),
    )
}

/// A scrape as series (name and labels, as written) to value.
struct Scrape(HashMap<String, f64>);

impl Scrape {
    fn take(address: &str) -> Scrape {
        let (status, body) = get(address, "/metrics");
        assert_eq!(status, 200, "{body}");
        let series = body
            .lines()
            .filter(|line| !line.starts_with('#') && !line.is_empty())
            .map(|line| {
                let (series, value) = line.rsplit_once(' ').expect("name and value");
                (series.to_string(), value.parse::<f64>().expect("a number"))
            })
            .collect();
        Scrape(series)
    }

    /// The sum over every series of `name` whose labels include `labels`.
    fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.0
            .iter()
            .filter(|(series, _)| {
                let (series_name, rest) = series.split_once('{').unwrap_or((series, ""));
                series_name == name
                    && labels
                        .iter()
                        .all(|(label, value)| rest.contains(&format!("{label}=\"{value}\"")))
            })
            .map(|(_, value)| value)
            .sum()
    }

    fn has(&self, name: &str) -> bool {
        self.0.keys().any(|series| {
            series
                .split_once('{')
                .map_or(series.as_str(), |(name, _)| name)
                == name
        })
    }
}

/// What moved between two scrapes, summed over shards.
fn moved(before: &Scrape, after: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    after.sum(name, labels) - before.sum(name, labels)
}

fn text(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_string())
}

/// The node that coordinates `group`.
fn coordinator(broker: &Broker, group: &str) -> usize {
    let found = broker
        .client(0)
        .send(&FindCoordinatorRequest::default().with_key(text(group)), 2);
    assert_eq!(found.error_code, 0);
    found.node_id.0 as usize
}

/// Commits `offset` for `partition` of TOPIC as a simple consumer
/// (generation -1) on `node`; returns the error code.
fn commit(broker: &Broker, node: usize, group: &str, partition: i32, offset: i64) -> i16 {
    let mut client = broker.client(node);
    let request = OffsetCommitRequest::default()
        .with_group_id(GroupId(text(group)))
        .with_generation_id_or_member_epoch(-1)
        .with_member_id(text(""))
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(common::name(TOPIC))
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(partition)
                .with_committed_offset(offset)])]);
    client.send(&request, 8).topics[0].partitions[0].error_code
}

#[test]
fn scrapes_count_produce_and_fetch_traffic_and_group_lag() {
    let broker = Broker::start_with(2, &["--metrics-listen", "127.0.0.1:0"]);
    let address = metrics_address(&broker);
    assert_eq!(get(&address, "/ready"), (200, "ready\n".to_string()));
    assert_eq!(get(&address, "/health").0, 200);
    let mut admin = broker.client(0);
    assert_eq!(create_topic(&mut admin, TOPIC, 2, &[]), 0);
    let leader = leaders(&mut admin, TOPIC)[0] as usize;
    let other = 1 - leader;
    let mut client: Client = broker.client(leader);
    let before = Scrape::take(&address);

    // 5 batches of 3 records each, acks=all, then one fetch of them all.
    let batches: Vec<_> = (0..5)
        .map(|index| {
            let values: Vec<String> = (0..3).map(|record| format!("v{index}-{record}")).collect();
            let records: Vec<(Option<&str>, &str)> =
                values.iter().map(|value| (None, value.as_str())).collect();
            batch(&records, common::now_milliseconds(), Compression::None)
        })
        .collect();
    let bytes: usize = batches.iter().map(|batch| batch.len()).sum();
    for records in &batches {
        assert_eq!(produce(&mut client, TOPIC, 0, records.clone(), 9, -1).0, 0);
    }
    let (code, fetched, high_watermark) = fetch(&mut client, TOPIC, 0, 0, 12);
    assert_eq!((code, fetched.len(), high_watermark), (0, bytes, 15));
    // One refused produce: the other node does not lead partition 0.
    let mut wrong = broker.client(other);
    let refused = produce(&mut wrong, TOPIC, 0, batches[0].clone(), 9, -1).0;
    assert_eq!(refused, NOT_LEADER_OR_FOLLOWER);
    let coordinating = coordinator(&broker, "lagging");
    assert_eq!(commit(&broker, coordinating, "lagging", 0, 4), 0);
    let elsewhere = commit(&broker, 1 - coordinating, "lagging", 0, 4);
    assert_eq!(elsewhere, NOT_COORDINATOR);

    let after = Scrape::take(&address);
    let produce_api = [("api", "Produce")];
    let fetch_api = [("api", "Fetch")];
    let topic = [("topic", TOPIC)];
    assert_eq!(
        moved(&before, &after, "corelog_requests_total", &produce_api),
        6.0
    );
    assert_eq!(
        moved(&before, &after, "corelog_requests_total", &fetch_api),
        1.0
    );
    for (api, count) in [("Produce", 6.0), ("Fetch", 1.0)] {
        let labels = [("api", api)];
        let histogram = "corelog_request_duration_seconds";
        assert_eq!(
            moved(&before, &after, &format!("{histogram}_count"), &labels),
            count
        );
        let infinite = [("api", api), ("le", "+Inf")];
        let bucket = format!("{histogram}_bucket");
        assert_eq!(moved(&before, &after, &bucket, &infinite), count);
        assert!(after.sum(&format!("{histogram}_sum"), &labels) > 0.0);
    }
    let total =
        |labels: &[(&str, &str)]| moved(&before, &after, "corelog_request_errors_total", labels);
    assert_eq!(total(&[("api", "Produce"), ("error_code", "6")]), 1.0);
    assert_eq!(total(&[("api", "OffsetCommit"), ("error_code", "16")]), 1.0);
    assert_eq!(total(&[]), 2.0, "no other error was answered");
    let bytes = bytes as f64;
    assert_eq!(
        moved(&before, &after, "corelog_topic_bytes_in_total", &topic),
        bytes
    );
    assert_eq!(
        moved(&before, &after, "corelog_topic_records_in_total", &topic),
        15.0
    );
    assert_eq!(
        moved(&before, &after, "corelog_topic_bytes_out_total", &topic),
        bytes
    );
    assert_eq!(
        moved(&before, &after, "corelog_topic_records_out_total", &topic),
        15.0
    );
    assert!(moved(&before, &after, "corelog_tail_cache_hits_total", &[]) >= 1.0);
    let rounds = "corelog_group_commit_round_duration_seconds_count";
    assert!(moved(&before, &after, rounds, &[]) >= 1.0);
    let lag = [("group", "lagging"), ("topic", TOPIC), ("partition", "0")];
    assert_eq!(after.sum("corelog_consumer_group_lag", &lag), 15.0 - 4.0);
    // 50 offsets partitions and the topic's 2, over both shards.
    assert_eq!(after.sum("corelog_partitions_led", &[]), 52.0);
    assert!(after.sum("corelog_connections", &[]) >= 2.0);
    assert!(after.sum("corelog_disk_size_bytes", &[]) > 0.0);
    assert_eq!(after.sum("corelog_metrics_shards_missing", &[]), 0.0);
    for shard in ["0", "1"] {
        assert!(after.sum("corelog_partitions_led", &[("shard", shard)]) > 0.0);
    }
    dashboard_queries_only_scraped_metrics(&after);
}

/// deploy/grafana/corelog.json parses, has a Prometheus datasource
/// variable, and every `corelog_*` name in its queries has a series.
fn dashboard_queries_only_scraped_metrics(scrape: &Scrape) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/grafana/corelog.json");
    let text = std::fs::read_to_string(path).expect("the dashboard");
    let dashboard = json::parse(&text).expect("the dashboard is JSON");
    let mut expressions = Vec::new();
    dashboard.strings_of("expr", &mut expressions);
    assert!(expressions.len() >= 20, "{} queries", expressions.len());
    let mut datasource_types = Vec::new();
    dashboard.strings_of("type", &mut datasource_types);
    assert!(datasource_types.iter().any(|kind| kind == "datasource"));
    let mut names: Vec<String> = expressions
        .iter()
        .flat_map(|expression| metric_names(expression))
        .collect();
    names.sort();
    names.dedup();
    assert!(names.len() >= 20, "{names:?}");
    for name in names {
        assert!(
            scrape.has(&name),
            "the dashboard queries {name}, which no scrape has"
        );
    }
}

/// The `corelog_*` identifiers in a PromQL expression.
fn metric_names(expression: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expression;
    while let Some(at) = rest.find("corelog_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.push(tail[..end].to_string());
        rest = &tail[end..];
    }
    names
}

#[test]
fn the_endpoint_answers_only_what_it_serves() {
    let broker = Broker::start_with(1, &["--metrics-listen", "127.0.0.1:0"]);
    let address = metrics_address(&broker);
    assert_eq!(get(&address, "/nothing").0, 404);
    assert_eq!(get(&address, "/metrics?x=1").0, 200);
    let (status, _) = http(&address, "POST /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(status, 405);
    let huge = format!("GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(20_000));
    assert_eq!(http(&address, &huge).0, 431);
    // The broker still serves Kafka clients and scrapes after all that.
    assert_eq!(get(&address, "/health").0, 200);
    let mut client = broker.client(0);
    assert_eq!(create_topic(&mut client, "still", 1, &[]), 0);
    let off = Broker::start_with(1, &["--metrics-listen", "none"]);
    assert!(!off.log().contains("corelog: metrics on"));
}

/// /ready answers 503 while the shards open their partitions (2,000 of
/// them here, a fraction of a second) and 200 from then on; /health is
/// 200 throughout.
#[test]
fn ready_is_503_until_every_shard_serves() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("broker.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_corelog"))
        .args(["serve", "--listen", "127.0.0.1:0", "--cores", "2"])
        .args(["--metrics-listen", "127.0.0.1:0"])
        .args(["--offsets-topic-num-partitions", "2000"])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .expect("corelog starts");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let address = loop {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        if let Some(line) = text
            .lines()
            .find_map(|line| line.strip_prefix("corelog: metrics on http://"))
        {
            break line.trim_end_matches("/metrics").to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no metrics line: {text}"
        );
        std::thread::sleep(Duration::from_millis(1));
    };
    let mut statuses = Vec::new();
    while statuses.last() != Some(&200) {
        assert!(
            std::time::Instant::now() < deadline,
            "never ready: {statuses:?}"
        );
        statuses.push(get(&address, "/ready").0);
        assert_eq!(get(&address, "/health").0, 200);
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(statuses[0], 503, "{statuses:?}");
    assert!(statuses[..statuses.len() - 1]
        .iter()
        .all(|status| *status == 503));
}

/// Just enough JSON to read a dashboard: objects, arrays, strings,
/// numbers, booleans and null.
mod json {
    pub enum Value {
        Object(Vec<(String, Value)>),
        Array(Vec<Value>),
        String(String),
        Other,
    }

    impl Value {
        /// Every string value of a key named `key`, anywhere.
        pub fn strings_of(&self, key: &str, found: &mut Vec<String>) {
            match self {
                Value::Object(fields) => {
                    for (name, value) in fields {
                        if let (true, Value::String(text)) = (name == key, value) {
                            found.push(text.clone());
                        }
                        value.strings_of(key, found);
                    }
                }
                Value::Array(items) => items.iter().for_each(|item| item.strings_of(key, found)),
                _ => {}
            }
        }
    }

    pub fn parse(text: &str) -> Result<Value, String> {
        let mut parser = Parser {
            bytes: text.as_bytes(),
            at: 0,
        };
        let value = parser.value()?;
        parser.space();
        match parser.at == parser.bytes.len() {
            true => Ok(value),
            false => Err(format!("trailing bytes at {}", parser.at)),
        }
    }

    struct Parser<'a> {
        bytes: &'a [u8],
        at: usize,
    }

    impl Parser<'_> {
        fn space(&mut self) {
            while self.bytes.get(self.at).is_some_and(u8::is_ascii_whitespace) {
                self.at += 1;
            }
        }

        fn expect(&mut self, byte: u8) -> Result<(), String> {
            self.space();
            match self.bytes.get(self.at) == Some(&byte) {
                true => {
                    self.at += 1;
                    Ok(())
                }
                false => Err(format!("expected '{}' at {}", byte as char, self.at)),
            }
        }

        fn value(&mut self) -> Result<Value, String> {
            self.space();
            match self.bytes.get(self.at) {
                Some(b'{') => self.object(),
                Some(b'[') => self.array(),
                Some(b'"') => self.string().map(Value::String),
                Some(_) => self.scalar(),
                None => Err("unexpected end".into()),
            }
        }

        fn object(&mut self) -> Result<Value, String> {
            self.expect(b'{')?;
            let mut fields = Vec::new();
            self.space();
            if self.bytes.get(self.at) == Some(&b'}') {
                self.at += 1;
                return Ok(Value::Object(fields));
            }
            loop {
                self.space();
                let key = self.string()?;
                self.expect(b':')?;
                fields.push((key, self.value()?));
                self.space();
                match self.bytes.get(self.at) {
                    Some(b',') => self.at += 1,
                    Some(b'}') => {
                        self.at += 1;
                        return Ok(Value::Object(fields));
                    }
                    _ => return Err(format!("bad object at {}", self.at)),
                }
            }
        }

        fn array(&mut self) -> Result<Value, String> {
            self.expect(b'[')?;
            let mut items = Vec::new();
            self.space();
            if self.bytes.get(self.at) == Some(&b']') {
                self.at += 1;
                return Ok(Value::Array(items));
            }
            loop {
                items.push(self.value()?);
                self.space();
                match self.bytes.get(self.at) {
                    Some(b',') => self.at += 1,
                    Some(b']') => {
                        self.at += 1;
                        return Ok(Value::Array(items));
                    }
                    _ => return Err(format!("bad array at {}", self.at)),
                }
            }
        }

        fn string(&mut self) -> Result<String, String> {
            self.expect(b'"')?;
            let mut text = Vec::new();
            loop {
                let byte = *self.bytes.get(self.at).ok_or("unterminated string")?;
                self.at += 1;
                match byte {
                    b'"' => return String::from_utf8(text).map_err(|error| error.to_string()),
                    b'\\' => {
                        let escaped = *self.bytes.get(self.at).ok_or("bad escape")?;
                        self.at += 1;
                        match escaped {
                            b'n' => text.push(b'\n'),
                            b't' => text.push(b'\t'),
                            b'u' => {
                                let hex = self.bytes.get(self.at..self.at + 4).ok_or("bad \\u")?;
                                let code =
                                    u32::from_str_radix(std::str::from_utf8(hex).unwrap(), 16)
                                        .map_err(|error| error.to_string())?;
                                let character = char::from_u32(code).unwrap_or('?');
                                text.extend_from_slice(character.to_string().as_bytes());
                                self.at += 4;
                            }
                            other => text.push(other),
                        }
                    }
                    other => text.push(other),
                }
            }
        }

        fn scalar(&mut self) -> Result<Value, String> {
            let start = self.at;
            while self
                .bytes
                .get(self.at)
                .is_some_and(|byte| byte.is_ascii_alphanumeric() || b"+-.".contains(byte))
            {
                self.at += 1;
            }
            let word = std::str::from_utf8(&self.bytes[start..self.at]).unwrap();
            match word {
                "true" | "false" | "null" => Ok(Value::Other),
                number if number.parse::<f64>().is_ok() => Ok(Value::Other),
                _ => Err(format!("bad value {word:?} at {start}")),
            }
        }
    }
}
