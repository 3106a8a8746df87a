//! The client subcommands (`corelog topic|group|produce|consume|cluster`),
//! run as the built binary against a real broker, their output checked
//! against what the broker says through the test harness's own client.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::{decode_records, fetch, leaders, list_offset, Broker, Client};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::{FindCoordinatorRequest, GroupId, OffsetFetchRequest};
use kafka_protocol::protocol::StrBytes;
use serde_json::Value;

/// Runs `corelog ARGS -b BROKER` with `input` on stdin (60 s at most).
fn run(broker: &Broker, args: &[&str], input: &str) -> Output {
    let mut child = Command::new("timeout")
        .arg("60")
        .arg(env!("CARGO_BIN_EXE_corelog"))
        .args(args)
        .args(["-b", &broker.bootstrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("corelog runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Stdout of a run that must succeed.
fn corelog(broker: &Broker, args: &[&str], input: &str) -> String {
    let output = run(broker, args, input);
    assert!(
        output.status.success(),
        "corelog {args:?} failed: {}\nbroker log:\n{}",
        String::from_utf8_lossy(&output.stderr),
        broker.log()
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The parsed JSON a `--format json` run prints.
fn json(broker: &Broker, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.extend(["--format", "json"]);
    let out = corelog(broker, &args, "");
    serde_json::from_str(&out).unwrap_or_else(|error| panic!("{args:?}: {error}: {out}"))
}

/// Sorted lines of `text`.
fn sorted_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

/// Committed offsets of `group` on `topic`'s partitions 0..count, read
/// with OffsetFetch from the coordinator (-1: none).
fn committed(broker: &Broker, group: &str, topic: &str, count: i32) -> Vec<i64> {
    let find = FindCoordinatorRequest::default()
        .with_key(StrBytes::from_string(group.to_string()))
        .with_key_type(0);
    let coordinator = broker.client(0).send(&find, 3).node_id.0;
    let request = OffsetFetchRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_topics(Some(vec![OffsetFetchRequestTopic::default()
            .with_name(common::name(topic))
            .with_partition_indexes((0..count).collect())]));
    let response = broker.client(coordinator as usize).send(&request, 7);
    assert_eq!(response.error_code, 0);
    let mut offsets: Vec<(i32, i64)> = response.topics[0]
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.committed_offset))
        .collect();
    offsets.sort();
    offsets.into_iter().map(|(_, offset)| offset).collect()
}

/// High watermark of each partition of `topic`, from its leader.
fn high_watermarks(broker: &Broker, topic: &str) -> Vec<i64> {
    let mut client = broker.client(0);
    leaders(&mut client, topic)
        .iter()
        .enumerate()
        .map(|(partition, &leader)| {
            list_offset(
                &mut broker.client(leader as usize),
                topic,
                partition as i32,
                -1,
            )
        })
        .collect()
}

fn values_of_partition(broker: &Broker, topic: &str, partition: i32) -> Vec<String> {
    let leader = leaders(&mut broker.client(0), topic)[partition as usize];
    let mut client: Client = broker.client(leader as usize);
    let (error, records, _) = fetch(&mut client, topic, partition, 0, 12);
    assert_eq!(error, 0);
    decode_records(&records)
        .iter()
        .map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap())
        .collect()
}

#[test]
fn topic_create_list_describe_alter_add_partitions_delete() {
    let broker = Broker::start(2);
    let out = corelog(
        &broker,
        &[
            "topic",
            "create",
            "events",
            "--partitions",
            "3",
            "--replicas",
            "1",
            "--config",
            "retention.ms=123456",
        ],
        "",
    );
    assert!(out.contains("created topic events"), "{out}");
    assert_eq!(leaders(&mut broker.client(0), "events").len(), 3);

    let list = corelog(&broker, &["topic", "list"], "");
    let row = list
        .lines()
        .find(|l| l.starts_with("events "))
        .expect(&list);
    assert_eq!(
        row.split_whitespace().collect::<Vec<_>>(),
        ["events", "3", "1", "false"]
    );
    let listed = json(&broker, &["topic", "list"]);
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["topic"] == "events" && t["partitions"] == 3));

    let described = json(&broker, &["topic", "describe", "events"]);
    let partitions = described["partitions"].as_array().unwrap();
    let expected_leaders = leaders(&mut broker.client(0), "events");
    for (partition, leader) in partitions.iter().zip(&expected_leaders) {
        assert_eq!(partition["leader"], *leader);
        assert_eq!(partition["isr"][0], *leader);
        assert_eq!(partition["latest_offset"], 0);
    }
    let config = |described: &Value, name: &str| -> Value {
        described["configs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()
            .clone()
    };
    let retention = config(&described, "retention.ms");
    assert_eq!(
        (retention["value"].as_str(), retention["source"].as_str()),
        (Some("123456"), Some("DYNAMIC_TOPIC_CONFIG"))
    );
    // corelog does not serve DescribeLogDirs: sizes are left out, and said so.
    assert_eq!(described["sizes_available"], false);
    let table = corelog(&broker, &["topic", "describe", "events"], "");
    assert!(
        table.contains("sizes not shown") && table.contains("DYNAMIC_TOPIC_CONFIG"),
        "{table}"
    );

    corelog(
        &broker,
        &[
            "topic",
            "alter-config",
            "events",
            "--set",
            "retention.ms=999",
            "--set",
            "segment.ms=3600000",
        ],
        "",
    );
    let described = json(&broker, &["topic", "describe", "events"]);
    assert_eq!(config(&described, "retention.ms")["value"], "999");
    assert_eq!(
        config(&described, "segment.ms")["source"],
        "DYNAMIC_TOPIC_CONFIG"
    );
    corelog(
        &broker,
        &[
            "topic",
            "alter-config",
            "events",
            "--delete",
            "retention.ms",
        ],
        "",
    );
    let described = json(&broker, &["topic", "describe", "events"]);
    assert_ne!(
        config(&described, "retention.ms")["source"],
        "DYNAMIC_TOPIC_CONFIG"
    );
    assert_eq!(config(&described, "segment.ms")["value"], "3600000");

    let out = corelog(
        &broker,
        &["topic", "add-partitions", "events", "--count", "2"],
        "",
    );
    assert!(out.contains("now has 5 partitions"), "{out}");
    assert_eq!(leaders(&mut broker.client(0), "events").len(), 5);

    corelog(&broker, &["topic", "delete", "events"], "");
    let listed = json(&broker, &["topic", "list"]);
    assert!(!listed
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["topic"] == "events"));
    // A topic that is not there: exit status 1 and Kafka's error name.
    let missing = run(&broker, &["topic", "describe", "events"], "");
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("UnknownTopicOrPartition"));
}

#[test]
fn produce_then_consume_round_trips_keys_headers_and_templates() {
    let broker = Broker::start(2);
    corelog(
        &broker,
        &["topic", "create", "lines", "--partitions", "2"],
        "",
    );
    let input: String = (0..10).map(|i| format!("key{i}:value{i}\n")).collect();
    let out = corelog(
        &broker,
        &[
            "produce",
            "lines",
            "-K",
            ":",
            "-H",
            "origin=test",
            "-H",
            "n=1",
        ],
        &input,
    );
    assert!(out.contains("produced 10 records"), "{out}");

    // Every record, through a template naming every field.
    let printed = corelog(
        &broker,
        &["consume", "lines", "-e", "-f", "%t|%p|%o|%k|%s|%S|%h\\n"],
        "",
    );
    let mut seen = Vec::new();
    for line in printed.lines() {
        let fields: Vec<&str> = line.split('|').collect();
        assert_eq!(fields[0], "lines");
        let partition: i32 = fields[1].parse().unwrap();
        // Kafka's default partitioner: murmur2 of the key.
        assert_eq!(
            partition,
            corelog::tools::produce::murmur2_partition(fields[3].as_bytes(), 2),
            "{line}"
        );
        assert_eq!(fields[4], fields[3].replace("key", "value"));
        assert_eq!(fields[5], fields[4].len().to_string());
        assert_eq!(fields[6], "origin=test,n=1");
        seen.push(fields[4].to_string());
    }
    seen.sort();
    let mut expected: Vec<String> = (0..10).map(|i| format!("value{i}")).collect();
    expected.sort();
    assert_eq!(seen, expected);
    // What the consumer printed is what the broker holds.
    let mut held: Vec<String> = (0..2)
        .flat_map(|p| values_of_partition(&broker, "lines", p))
        .collect();
    held.sort();
    assert_eq!(held, expected);

    // One partition, compressed, idempotent; the offsets continue.
    let before = high_watermarks(&broker, "lines")[1];
    let out = corelog(
        &broker,
        &[
            "produce",
            "lines",
            "-p",
            "1",
            "--compression",
            "gzip",
            "--idempotent",
            "--format",
            "json",
        ],
        "x\ny\nz\n",
    );
    let produced: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(produced["records"], 3);
    assert_eq!(produced["partitions"][0]["first_offset"], before);
    let tail = corelog(
        &broker,
        &[
            "consume", "lines", "-p", "1", "-o", "-3", "-e", "-f", "%o %s\\n",
        ],
        "",
    );
    assert_eq!(
        tail,
        format!("{} x\n{} y\n{} z\n", before, before + 1, before + 2)
    );
    let snappy = corelog(
        &broker,
        &[
            "produce",
            "lines",
            "-p",
            "0",
            "--compression",
            "snappy",
            "--acks",
            "1",
        ],
        "s\n",
    );
    assert!(snappy.contains("produced 1 records"), "{snappy}");

    // A line past the bound is refused, and nothing of it is sent.
    let long = "x".repeat(corelog::limits::TOOL_LINE_BYTES_MAX + 1);
    let refused = run(&broker, &["produce", "lines", "-p", "0"], &long);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("longer than"));

    // --format json: one object per record and line.
    let lines = corelog(
        &broker,
        &[
            "consume", "lines", "-p", "1", "-o", "-3", "-e", "--format", "json",
        ],
        "",
    );
    let records: Vec<Value> = lines
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(records.len(), 3);
    assert_eq!(records[0]["offset"], before);
    assert_eq!(
        (
            records[2]["value"].as_str(),
            records[2]["partition"].as_i64()
        ),
        (Some("z"), Some(1))
    );
    assert_eq!(records[0]["key"], Value::Null);

    // -n stops after N; -o end reads nothing; -o @future reads nothing.
    let three = corelog(&broker, &["consume", "lines", "-n", "3"], "");
    assert_eq!(three.lines().count(), 3);
    assert_eq!(
        corelog(&broker, &["consume", "lines", "-o", "end", "-e"], ""),
        ""
    );
    assert_eq!(
        corelog(
            &broker,
            &["consume", "lines", "-o", "@2100-01-01T00:00:00Z", "-e"],
            ""
        ),
        ""
    );
    let from_start = corelog(
        &broker,
        &[
            "consume",
            "lines",
            "-p",
            "1",
            "-o",
            &before.to_string(),
            "-e",
        ],
        "",
    );
    assert_eq!(from_start, "x\ny\nz\n");
}

#[test]
fn group_describe_lag_reset_offsets_and_delete() {
    let broker = Broker::start_with(2, &["--group-initial-rebalance-delay-ms", "0"]);
    corelog(
        &broker,
        &["topic", "create", "orders", "--partitions", "2"],
        "",
    );
    corelog(&broker, &["produce", "orders", "-p", "0"], "a\nb\nc\nd\n");
    corelog(&broker, &["produce", "orders", "-p", "1"], "e\nf\n");

    // A group member reads everything and commits on exit.
    let read = corelog(&broker, &["consume", "orders", "-G", "billing", "-e"], "");
    assert_eq!(sorted_lines(&read), ["a", "b", "c", "d", "e", "f"]);
    assert_eq!(committed(&broker, "billing", "orders", 2), [4, 2]);
    // More records after the commit: lag.
    corelog(&broker, &["produce", "orders", "-p", "0"], "g\nh\ni\n");
    let described = json(&broker, &["group", "describe", "billing"]);
    assert_eq!(described["state"], "Empty");
    let high = high_watermarks(&broker, "orders");
    let rows = described["partitions"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for row in rows {
        let partition = row["partition"].as_u64().unwrap() as usize;
        let committed = row["committed_offset"].as_i64().unwrap();
        assert_eq!(row["high_watermark"], high[partition]);
        assert_eq!(row["lag"], high[partition] - committed);
    }
    assert_eq!(rows[0]["lag"], 3);
    assert_eq!(rows[1]["lag"], 0);
    let table = corelog(&broker, &["group", "describe", "billing"], "");
    let row = table
        .lines()
        .find(|l| l.starts_with("orders  0"))
        .expect(&table);
    assert_eq!(
        row.split_whitespace().collect::<Vec<_>>()[..5],
        ["orders", "0", "4", "7", "3"]
    );

    // --dry-run prints the plan and changes nothing.
    let plan = corelog(
        &broker,
        &[
            "group",
            "reset-offsets",
            "billing",
            "--topic",
            "orders",
            "--to-earliest",
            "--dry-run",
        ],
        "",
    );
    assert!(plan.contains("dry run: nothing changed"), "{plan}");
    assert_eq!(committed(&broker, "billing", "orders", 2), [4, 2]);
    // The real runs move the offsets.
    corelog(
        &broker,
        &[
            "group",
            "reset-offsets",
            "billing",
            "--topic",
            "orders",
            "--to-earliest",
        ],
        "",
    );
    assert_eq!(committed(&broker, "billing", "orders", 2), [0, 0]);
    corelog(
        &broker,
        &[
            "group",
            "reset-offsets",
            "billing",
            "--topic",
            "orders",
            "--shift-by",
            "1",
        ],
        "",
    );
    assert_eq!(committed(&broker, "billing", "orders", 2), [1, 1]);
    corelog(
        &broker,
        &[
            "group",
            "reset-offsets",
            "billing",
            "--topic",
            "orders",
            "--to-offset",
            "5",
        ],
        "",
    );
    assert_eq!(committed(&broker, "billing", "orders", 2), [5, 2]);
    corelog(
        &broker,
        &[
            "group",
            "reset-offsets",
            "billing",
            "--topic",
            "orders",
            "--to-datetime",
            "2000-01-01T00:00:00Z",
        ],
        "",
    );
    assert_eq!(committed(&broker, "billing", "orders", 2), [0, 0]);
    corelog(
        &broker,
        &[
            "group",
            "reset-offsets",
            "billing",
            "--topic",
            "orders",
            "--to-latest",
        ],
        "",
    );
    assert_eq!(committed(&broker, "billing", "orders", 2), [7, 2]);
    // The group resumes where the reset put it.
    corelog(
        &broker,
        &[
            "group",
            "reset-offsets",
            "billing",
            "--topic",
            "orders",
            "--to-offset",
            "6",
        ],
        "",
    );
    let resumed = corelog(&broker, &["consume", "orders", "-G", "billing", "-e"], "");
    assert_eq!(resumed, "i\n");

    let listed = json(&broker, &["group", "list"]);
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g["group"] == "billing"));
    corelog(&broker, &["group", "delete", "billing"], "");
    let listed = json(&broker, &["group", "list"]);
    assert!(!listed
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g["group"] == "billing"));
    assert_eq!(committed(&broker, "billing", "orders", 2), [-1, -1]);
}

#[test]
fn cluster_info_lists_every_broker_and_its_api_versions() {
    let broker = Broker::start(2);
    let info = corelog(&broker, &["cluster", "info"], "");
    for port in &broker.ports {
        assert!(info.contains(&format!("127.0.0.1  {port}")), "{info}");
    }
    assert!(
        info.contains("controller: 0") && info.contains("Produce"),
        "{info}"
    );
    let info = json(&broker, &["cluster", "info"]);
    let brokers = info["brokers"].as_array().unwrap();
    assert_eq!(brokers.len(), 2);
    for (node, entry) in brokers.iter().enumerate() {
        assert_eq!(entry["node"], node);
        assert_eq!(entry["port"], broker.ports[node]);
        let fetch = entry["api_versions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["api"] == "Fetch")
            .unwrap();
        assert_eq!(fetch["max"], 18);
    }
    assert!(info["cluster_id"].as_str().is_some_and(|id| !id.is_empty()));
}

/// A `consume -G` left running, stopped with SIGTERM.
struct Running(std::process::Child);

impl Running {
    fn start(broker: &Broker, args: &[&str]) -> Running {
        let child = Command::new(env!("CARGO_BIN_EXE_corelog"))
            .args(args)
            .args(["-b", &broker.bootstrap()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("corelog runs");
        Running(child)
    }

    /// SIGTERM, then what it printed; it must exit cleanly.
    fn stop(self) -> String {
        // SAFETY: kill only sends a signal to the child this test started.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let output = self.0.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }
}

/// Polls `group describe` until `ready` holds for it (30 s at most).
fn describe_until(broker: &Broker, group: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let described = json(broker, &["group", "describe", group]);
        if ready(&described) {
            return described;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "group never got there: {described}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn two_group_consumers_split_the_partitions_by_range_and_commit_on_sigterm() {
    let broker = Broker::start_with(2, &["--group-initial-rebalance-delay-ms", "0"]);
    corelog(
        &broker,
        &["topic", "create", "split", "--partitions", "4"],
        "",
    );
    for partition in 0..4 {
        let input = format!("p{partition}-a\np{partition}-b\n");
        corelog(
            &broker,
            &["produce", "split", "-p", &partition.to_string()],
            &input,
        );
    }
    let first = Running::start(&broker, &["consume", "split", "-G", "pair"]);
    describe_until(&broker, "pair", |d| {
        d["state"] == "Stable" && d["members"].as_array().unwrap().len() == 1
    });
    let second = Running::start(&broker, &["consume", "split", "-G", "pair"]);
    // The leader's range assignment: two consecutive partitions each.
    let described = describe_until(&broker, "pair", |d| {
        let members = d["members"].as_array().unwrap();
        d["state"] == "Stable"
            && members.len() == 2
            && members
                .iter()
                .all(|m| m["assignment"].as_array().unwrap().len() == 2)
    });
    let mut assignments: Vec<Vec<u64>> = described["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            m["assignment"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["partition"].as_u64().unwrap())
                .collect()
        })
        .collect();
    assignments.sort();
    assert_eq!(assignments, [[0, 1], [2, 3]]);
    let mut printed = first.stop();
    printed.push_str(&second.stop());
    let printed: std::collections::BTreeSet<String> = printed.lines().map(str::to_string).collect();
    let expected: std::collections::BTreeSet<String> = (0..4)
        .flat_map(|p| [format!("p{p}-a"), format!("p{p}-b")])
        .collect();
    assert_eq!(printed, expected);
    // Both committed on SIGTERM and left.
    assert_eq!(committed(&broker, "pair", "split", 4), [2, 2, 2, 2]);
    let described = json(&broker, &["group", "describe", "pair"]);
    assert_eq!(described["state"], "Empty");
}

#[test]
fn kcat_reads_what_produce_wrote_and_consume_reads_what_kcat_wrote() {
    let broker = Broker::start(1);
    corelog(
        &broker,
        &["topic", "create", "mixed", "--partitions", "1"],
        "",
    );
    for compression in ["none", "gzip", "snappy"] {
        let input = format!("k-{compression}=v-{compression}\n");
        let args = [
            "produce",
            "mixed",
            "-K",
            "=",
            "-H",
            "via=corelog",
            "--compression",
            compression,
        ];
        corelog(&broker, &args, &input);
    }
    // librdkafka decodes the batches, compressed ones too.
    let read = common::kcat(
        &broker,
        &[
            "-C",
            "-t",
            "mixed",
            "-o",
            "beginning",
            "-e",
            "-f",
            "%o %k %s %h\\n",
        ],
        None,
    );
    assert_eq!(
        read,
        "0 k-none v-none via=corelog\n1 k-gzip v-gzip via=corelog\n2 k-snappy v-snappy via=corelog\n"
    );
    common::kcat(
        &broker,
        &[
            "-P", "-t", "mixed", "-K", ":", "-z", "gzip", "-H", "via=kcat",
        ],
        Some("a:1\nb:2\n"),
    );
    let read = corelog(
        &broker,
        &["consume", "mixed", "-o", "3", "-e", "-f", "%o %k %s %h\\n"],
        "",
    );
    assert_eq!(read, "3 a 1 via=kcat\n4 b 2 via=kcat\n");
}

#[test]
fn consume_carries_on_across_a_broker_restart() {
    let mut broker = Broker::start_on_fixed_ports(1, &[]);
    corelog(
        &broker,
        &["topic", "create", "steady", "--partitions", "1"],
        "",
    );
    corelog(&broker, &["produce", "steady"], "before\n");
    let mut child = Command::new(env!("CARGO_BIN_EXE_corelog"))
        .args(["consume", "steady", "-b", &broker.bootstrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("corelog runs");
    let (lines, received) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            let _ = lines.send(line.unwrap());
        }
    });
    let next = || {
        received
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("a line within 30 s")
    };
    assert_eq!(next(), "before");
    broker.restart();
    corelog(&broker, &["produce", "steady"], "after\n");
    assert_eq!(next(), "after");
    // SAFETY: kill only sends a signal to the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
}
