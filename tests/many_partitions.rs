//! Many partitions under a low open-file limit: 20,000 partitions on two
//! shards whose process may open only 4,096 files. After a clean restart
//! every partition takes a produce and serves a fetch, and new connections
//! are accepted: segment files stay within each shard's descriptor budget
//! and never take the descriptors that connections need.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{batch, decode_records, name, Broker, Client};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::records::Compression;

const TOPICS: usize = 200;
const PARTITIONS_PER_TOPIC: i32 = 100;
const TOPICS_PER_CREATE_REQUEST: usize = 20;
const OPEN_FILES_LIMIT: u64 = 4096;
/// Partitions per Produce or Fetch request.
const PARTITIONS_PER_REQUEST: usize = 1000;
const CONNECTIONS: usize = 200;

fn topic_name(index: usize) -> String {
    format!("many-{index:03}")
}

fn value_of(topic: &str, partition: i32) -> String {
    format!("{topic}/{partition}")
}

/// Leader node of every partition, from one Metadata request for all topics.
fn leaders(client: &mut Client) -> BTreeMap<(String, i32), i32> {
    let request = MetadataRequest::default()
        .with_topics(None)
        .with_allow_auto_topic_creation(false);
    let response = client.send(&request, 12);
    let mut leaders = BTreeMap::new();
    for topic in response.topics {
        let topic_name = topic.name.expect("a name").0.to_string();
        if !topic_name.starts_with("many-") {
            continue;
        }
        for partition in topic.partitions {
            assert_eq!(
                partition.error_code, 0,
                "{topic_name}-{}",
                partition.partition_index
            );
            leaders.insert(
                (topic_name.clone(), partition.partition_index),
                partition.leader_id.0,
            );
        }
    }
    leaders
}

/// Partitions grouped by topic, as requests list them.
fn by_topic(partitions: &[(String, i32)]) -> BTreeMap<&str, Vec<i32>> {
    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (topic, partition) in partitions {
        topics.entry(topic.as_str()).or_default().push(*partition);
    }
    topics
}

fn produce_all(client: &mut Client, partitions: &[(String, i32)]) {
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(
            by_topic(partitions)
                .into_iter()
                .map(|(topic, indexes)| {
                    TopicProduceData::default()
                        .with_name(name(topic))
                        .with_partition_data(
                            indexes
                                .into_iter()
                                .map(|index| {
                                    let value = value_of(topic, index);
                                    PartitionProduceData::default()
                                        .with_index(index)
                                        .with_records(Some(batch(
                                            &[(None, &value)],
                                            common::now_milliseconds(),
                                            Compression::None,
                                        )))
                                })
                                .collect(),
                        )
                })
                .collect(),
        );
    let response = client.send(&request, 8);
    let mut answered = 0;
    for topic in &response.responses {
        for partition in &topic.partition_responses {
            assert_eq!(
                (partition.error_code, partition.base_offset),
                (0, 0),
                "produce to {}-{}",
                topic.name.0,
                partition.index
            );
            answered += 1;
        }
    }
    assert_eq!(answered, partitions.len());
}

fn fetch_all(client: &mut Client, partitions: &[(String, i32)]) {
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(64 * 1024 * 1024)
        .with_session_epoch(-1)
        .with_topics(
            by_topic(partitions)
                .into_iter()
                .map(|(topic, indexes)| {
                    FetchTopic::default()
                        .with_topic(name(topic))
                        .with_partitions(
                            indexes
                                .into_iter()
                                .map(|index| {
                                    FetchPartition::default()
                                        .with_partition(index)
                                        .with_fetch_offset(0)
                                        .with_partition_max_bytes(1024 * 1024)
                                })
                                .collect(),
                        )
                })
                .collect(),
        );
    let response = client.send(&request, 11);
    assert_eq!(response.error_code, 0);
    let mut answered = 0;
    for topic in &response.responses {
        let topic_name = topic.topic.0.to_string();
        for partition in &topic.partitions {
            let what = format!("fetch from {topic_name}-{}", partition.partition_index);
            assert_eq!(partition.error_code, 0, "{what}");
            let records = decode_records(partition.records.as_ref().expect("records"));
            let values: Vec<String> = records
                .iter()
                .map(|record| {
                    String::from_utf8(record.value.clone().expect("a value").to_vec()).unwrap()
                })
                .collect();
            assert_eq!(
                values,
                vec![value_of(&topic_name, partition.partition_index)],
                "{what}"
            );
            answered += 1;
        }
    }
    assert_eq!(answered, partitions.len());
}

/// Unmounts the tmpfs when the test ends, however it ends.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// The data dir on a tmpfs (as root; direct IO works there since Linux
/// 6.6): the test is about descriptors, and the files of 20,000 partitions
/// take minutes to create, sync and delete on a disk shared with other work.
fn mount_tmpfs(path: &Path) -> Result<Mount, String> {
    std::fs::create_dir_all(path).map_err(|error| error.to_string())?;
    let output = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2g", "tmpfs"])
        .arg(path)
        .output()
        .map_err(|error| error.to_string())?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).trim().to_string());
    }
    Ok(Mount(path.to_path_buf()))
}

fn resident_mebibytes(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let kibibytes: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .expect("VmRSS");
    kibibytes / 1024.0
}

fn open_descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|entries| entries.count())
        .unwrap_or(0)
}

#[test]
fn twenty_thousand_partitions_restart_and_serve_within_a_low_open_file_limit() {
    let test_started = Instant::now();
    let mut mount = None;
    // No tail cache: every fetch reads the segment files (sendfile, or a
    // copy when no descriptor is spare), so their budget is exercised.
    let mut broker = Broker::start_with_open_files_limit(
        2,
        &["--tail-cache-bytes", "0"],
        OPEN_FILES_LIMIT,
        |data| match mount_tmpfs(data) {
            Ok(mounted) => mount = Some(mounted),
            Err(why) => println!("data on the test's disk (mounting a tmpfs failed: {why})"),
        },
    );
    let mut client = broker.client(0);
    let creating = Instant::now();
    for first in (0..TOPICS).step_by(TOPICS_PER_CREATE_REQUEST) {
        let request = CreateTopicsRequest::default()
            .with_timeout_ms(60_000)
            .with_topics(
                (first..(first + TOPICS_PER_CREATE_REQUEST).min(TOPICS))
                    .map(|index| {
                        CreatableTopic::default()
                            .with_name(name(&topic_name(index)))
                            .with_num_partitions(PARTITIONS_PER_TOPIC)
                            .with_replication_factor(1)
                    })
                    .collect(),
            );
        for topic in client.send(&request, 7).topics {
            assert_eq!(topic.error_code, 0, "creating {}", topic.name.0);
        }
    }
    let partitions = TOPICS * PARTITIONS_PER_TOPIC as usize;
    println!(
        "created {partitions} partitions on 2 shards in {:?}; broker RSS {:.1} MiB, {} descriptors open",
        creating.elapsed(),
        resident_mebibytes(broker.pid().unwrap()),
        open_descriptors(broker.pid().unwrap())
    );
    drop(client);

    broker.stop();
    let starting = Instant::now();
    broker.start_again();
    let startup = starting.elapsed();
    let pid = broker.pid().unwrap();
    println!(
        "restart with {partitions} partitions: ready in {startup:?}; RSS {:.1} MiB; {} descriptors open (limit {OPEN_FILES_LIMIT})",
        resident_mebibytes(pid),
        open_descriptors(pid)
    );

    let mut clients: Vec<Client> = (0..2).map(|node| broker.client(node)).collect();
    let leaders = leaders(&mut clients[0]);
    assert_eq!(leaders.len(), partitions);
    let mut per_node: Vec<Vec<(String, i32)>> = vec![Vec::new(), Vec::new()];
    for ((topic, partition), leader) in &leaders {
        per_node[*leader as usize].push((topic.clone(), *partition));
    }
    assert!(
        per_node.iter().all(|led| !led.is_empty()),
        "both shards lead partitions"
    );

    let producing = Instant::now();
    for (node, led) in per_node.iter().enumerate() {
        for chunk in led.chunks(PARTITIONS_PER_REQUEST) {
            produce_all(&mut clients[node], chunk);
        }
    }
    println!(
        "produced (acks=all) to every partition in {:?}",
        producing.elapsed()
    );
    let fetching = Instant::now();
    for (node, led) in per_node.iter().enumerate() {
        for chunk in led.chunks(PARTITIONS_PER_REQUEST) {
            fetch_all(&mut clients[node], chunk);
        }
    }
    println!(
        "fetched every partition from its segment file in {:?}; {} descriptors open",
        fetching.elapsed(),
        open_descriptors(pid)
    );

    // New connections are accepted and served while every partition has
    // been used: all of them open at once, each asked for a partition.
    let mut connections: Vec<(usize, Client)> = (0..CONNECTIONS)
        .map(|index| (index % 2, broker.client(index % 2)))
        .collect();
    for (index, (node, connection)) in connections.iter_mut().enumerate() {
        let versions = connection.send(&ApiVersionsRequest::default(), 3);
        assert_eq!(versions.error_code, 0);
        let led = &per_node[*node];
        let one = &led[index * 37 % led.len()];
        fetch_all(connection, std::slice::from_ref(one));
    }
    println!(
        "{CONNECTIONS} more connections served; {} descriptors open",
        open_descriptors(pid)
    );
    drop(connections);

    let log = broker.log();
    assert!(
        !log.contains("Too many open files") && !log.contains("cannot open partition"),
        "the broker ran out of descriptors:\n{}",
        log.lines()
            .filter(|line| line.contains("open"))
            .take(20)
            .collect::<Vec<_>>()
            .join("\n")
    );
    for line in log
        .lines()
        .filter(|line| line.contains("open-file limit") || line.contains("open files per shard"))
    {
        println!("broker: {line}");
    }
    println!(
        "RSS after the whole workload: {:.1} MiB; test took {:?}",
        resident_mebibytes(pid),
        test_started.elapsed()
    );
    // The files go with the tmpfs at once; removing 20,000 directories
    // from a busy disk can take minutes.
    broker.kill();
    drop(mount);
    drop(broker);
    assert!(
        test_started.elapsed() < Duration::from_secs(180),
        "took {:?}",
        test_started.elapsed()
    );
}

#[test]
fn an_open_file_limit_too_low_to_run_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_corelog"));
    command
        .arg("serve")
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["--listen", "127.0.0.1:0", "--cores", "2"]);
    use std::os::unix::process::CommandExt;
    // SAFETY: setrlimit is async-signal-safe and touches only the child.
    unsafe {
        command.pre_exec(|| {
            let value = libc::rlimit {
                rlim_cur: 100,
                rlim_max: 100,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &value) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("corelog runs");
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("open-file limit (RLIMIT_NOFILE) is 100")
            && stderr.contains("LimitNOFILE=")
            && stderr.contains("ulimit -n"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!String::from_utf8_lossy(&output.stdout).contains("ready"));
}
