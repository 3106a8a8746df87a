//! Helpers of tests/tools.rs: running the `corelog` binary and reading
//! what the broker holds through the harness's own client.

#![allow(dead_code)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::common::{decode_records, fetch, leaders, list_offset, Broker, Client};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::{FindCoordinatorRequest, GroupId, OffsetFetchRequest};
use kafka_protocol::protocol::StrBytes;
use serde_json::Value;

/// Runs `corelog ARGS -b BROKER` with `input` on stdin (60 s at most).
pub fn run(broker: &Broker, args: &[&str], input: &str) -> Output {
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
pub fn corelog(broker: &Broker, args: &[&str], input: &str) -> String {
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
pub fn json(broker: &Broker, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.extend(["--format", "json"]);
    let out = corelog(broker, &args, "");
    serde_json::from_str(&out).unwrap_or_else(|error| panic!("{args:?}: {error}: {out}"))
}

/// Sorted lines of `text`.
pub fn sorted_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

/// Committed offsets of `group` on `topic`'s partitions 0..count, read
/// with OffsetFetch from the coordinator (-1: none).
pub fn committed(broker: &Broker, group: &str, topic: &str, count: i32) -> Vec<i64> {
    let find = FindCoordinatorRequest::default()
        .with_key(StrBytes::from_string(group.to_string()))
        .with_key_type(0);
    let coordinator = broker.client(0).send(&find, 3).node_id.0;
    let request = OffsetFetchRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_topics(Some(vec![OffsetFetchRequestTopic::default()
            .with_name(crate::common::name(topic))
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
pub fn high_watermarks(broker: &Broker, topic: &str) -> Vec<i64> {
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

pub fn values_of_partition(broker: &Broker, topic: &str, partition: i32) -> Vec<String> {
    let leader = leaders(&mut broker.client(0), topic)[partition as usize];
    let mut client: Client = broker.client(leader as usize);
    let (error, records, _) = fetch(&mut client, topic, partition, 0, 12);
    assert_eq!(error, 0);
    decode_records(&records)
        .iter()
        .map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap())
        .collect()
}

/// A `consume -G` left running, stopped with SIGTERM.
pub struct Running(pub std::process::Child);

impl Running {
    pub fn start(broker: &Broker, args: &[&str]) -> Running {
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
    pub fn stop(self) -> String {
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
pub fn describe_until(broker: &Broker, group: &str, ready: impl Fn(&Value) -> bool) -> Value {
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
