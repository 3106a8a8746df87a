//! The client subcommands (`corelog topic|group|produce|consume|cluster`),
//! run as the built binary against a real broker, their output checked
//! against what the broker says through the test harness's own client.

mod common;
#[path = "tools/support.rs"]
mod support;

use std::process::{Command, Stdio};

use common::{leaders, Broker};
use serde_json::Value;
use support::*;

/// The config `name` in `topic describe --format json` output.
fn config(described: &Value, name: &str) -> Value {
    described["configs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap()
        .clone()
}

#[test]
fn topic_create_list_and_describe() {
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
    let retention = config(&described, "retention.ms");
    assert_eq!(
        (retention["value"].as_str(), retention["source"].as_str()),
        (Some("123456"), Some("DYNAMIC_TOPIC_CONFIG"))
    );
    // Sizes come from each leader's DescribeLogDirs: empty partitions
    // take no bytes; once written, a partition's size is its log's.
    assert_eq!(described["sizes_available"], true);
    for partition in partitions {
        assert_eq!(partition["size_bytes"], 0, "{described}");
    }
    let input: String = (0..30).map(|i| format!("record {i}\n")).collect();
    corelog(&broker, &["produce", "events"], &input);
    let described = json(&broker, &["topic", "describe", "events"]);
    let mut written = 0;
    for partition in described["partitions"].as_array().unwrap() {
        let size = partition["size_bytes"].as_i64().unwrap();
        let records = partition["latest_offset"].as_i64().unwrap();
        // A batch of n short records takes more than n bytes, and less
        // than 100 bytes each.
        assert!(
            (records == 0 && size == 0) || (size > records && size < 100 * records + 100),
            "{partition}"
        );
        written += size;
    }
    assert!(written > 0, "{described}");
    let table = corelog(&broker, &["topic", "describe", "events"], "");
    assert!(
        !table.contains("sizes not shown") && table.contains("DYNAMIC_TOPIC_CONFIG"),
        "{table}"
    );
}

#[test]
fn topic_alter_config_add_partitions_and_delete() {
    let broker = Broker::start(2);
    corelog(
        &broker,
        &["topic", "create", "events", "--partitions", "3"],
        "",
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
}

#[test]
fn produce_to_one_partition_compressed_and_consume_from_offsets() {
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

/// A group `billing` on topic `orders` (2 partitions) that committed
/// [4, 2] and then fell behind by 3 records on partition 0.
fn group_with_lag() -> Broker {
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
    broker
}

#[test]
fn group_describe_shows_lag_of_high_watermark_minus_committed() {
    let broker = group_with_lag();
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
}

#[test]
fn group_reset_offsets_dry_run_changes_nothing_then_resets_and_delete() {
    let broker = group_with_lag();
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

#[test]
fn bench_produces_and_consumes_the_records_it_reports() {
    let broker = Broker::start(2);
    corelog(
        &broker,
        &["topic", "create", "load", "--partitions", "2"],
        "",
    );
    let args = [
        "bench",
        "produce",
        "load",
        "--records",
        "5000",
        "--record-bytes",
        "50",
        "--batch-records",
        "300",
    ];
    let produced = json(&broker, &args);
    assert_eq!(produced["records"], 5000);
    assert_eq!(produced["bytes"], 5000 * 50);
    assert!(produced["latency"]["p50_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(high_watermarks(&broker, "load").iter().sum::<i64>(), 5000);
    let consumed = json(&broker, &["bench", "consume", "load"]);
    assert_eq!(consumed["records"], 5000);
    assert!(consumed["records_per_second"].as_f64().unwrap() > 0.0);
    let table = corelog(
        &broker,
        &["bench", "consume", "load", "--records", "100"],
        "",
    );
    assert!(
        table.starts_with("WORKLOAD") && table.contains("consume"),
        "{table}"
    );
}
