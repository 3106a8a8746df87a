//! Decommissioning a host (issue 13): on a 3-host cluster with a topic of
//! 2 replicas and one of 1 (spread over the hosts), records produced with
//! acks=all; `corelog cluster decommission --host H` for a host that leads
//! partitions moves every replica off H (AlterPartitionReassignments),
//! waits for the moves, waits for H to stop, and removes it. Afterwards
//! Metadata names no replica and no broker of H, DescribeCluster no broker
//! of H, and every acknowledged record reads back from the new leaders.
//! Needs root (network namespaces); skips (and passes) without it.

mod common;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::cluster::{
    try_metadata, wait_for, Cluster, PartitionState, KAFKA_PORT, NODES_PER_HOST,
};
use common::{batch, fetch, produce};
use kafka_protocol::messages::DescribeClusterRequest;
use kafka_protocol::records::Compression;

const TOPICS: [(&str, i16); 2] = [("spread", 2), ("single", 1)];
const PARTITIONS: i32 = 3;
const RECORDS_PER_PARTITION: usize = 10;

fn host_of(node: i32) -> usize {
    (node / NODES_PER_HOST) as usize
}

/// Produces acks=all records to every partition of `topic` at its leader;
/// the values acknowledged, by partition.
fn produce_all(
    cluster: &Cluster,
    topic: &str,
    states: &[PartitionState],
) -> BTreeMap<i32, Vec<String>> {
    let mut acknowledged = BTreeMap::new();
    for state in states {
        let mut client = cluster.node_client(state.leader);
        let mut values = Vec::new();
        for round in 0..RECORDS_PER_PARTITION {
            let value = format!("{topic}-{}-{round}", state.partition);
            let records = batch(&[(None, value.as_str())], 0, Compression::None);
            let (code, _) = produce(&mut client, topic, state.partition, records, 9, -1);
            assert_eq!(
                code,
                0,
                "acks=all to {topic}-{}\n{}",
                state.partition,
                cluster.logs()
            );
            values.push(value);
        }
        acknowledged.insert(state.partition, values);
    }
    acknowledged
}

/// Every value of `topic`-`partition` read from its leader.
fn read_back(cluster: &Cluster, topic: &str, state: &PartitionState) -> Vec<String> {
    let mut client = cluster.node_client(state.leader);
    let (code, records, _) = fetch(&mut client, topic, state.partition, 0, 12);
    assert_eq!(
        code, 0,
        "fetch {topic}-{} from its new leader",
        state.partition
    );
    common::decode_records(&records)
        .iter()
        .map(|record| String::from_utf8_lossy(record.value.as_ref().unwrap()).into_owned())
        .collect()
}

#[test]
fn decommissioning_a_host_moves_its_replicas_and_removes_it() {
    let Some(cluster) = Cluster::up(
        "decommission",
        3,
        1,
        &[
            "--replica-lag-time-max-ms",
            "3000",
            "--broker-session-timeout-ms",
            "6000",
        ],
    ) else {
        return;
    };
    let mut acknowledged = BTreeMap::new();
    let mut leaders_before = Vec::new();
    for (topic, factor) in TOPICS {
        assert_eq!(
            cluster.create_topic(topic, PARTITIONS, factor, &[]),
            Some(0)
        );
        let states = cluster.wait_in_sync(topic, Duration::from_secs(30));
        leaders_before.extend(states.iter().map(|state| state.leader));
        acknowledged.insert(topic, produce_all(&cluster, topic, &states));
    }
    let host = host_of(leaders_before[0]);
    let others: Vec<usize> = (0..cluster.hosts).filter(|&other| other != host).collect();
    let bootstrap = others
        .iter()
        .map(|&other| format!("{}:{KAFKA_PORT}", cluster.address(other)))
        .collect::<Vec<_>>()
        .join(",");
    println!("decommissioning host {host}, which leads {leaders_before:?} in part");
    let tool = Command::new(env!("CARGO_BIN_EXE_corelog"))
        .args(["cluster", "decommission", "--host", &host.to_string()])
        .args(["--timeout-seconds", "120", "--brokers", &bootstrap])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("corelog runs");
    // The moves complete: no partition names a replica on the host.
    let on_host = |metadata: &kafka_protocol::messages::MetadataResponse| {
        metadata.topics.iter().any(|topic| {
            topic.partitions.iter().any(|partition| {
                partition
                    .replica_nodes
                    .iter()
                    .any(|node| host_of(node.0) == host)
            })
        })
    };
    wait_for(
        "no replica left on the decommissioned host",
        Duration::from_secs(90),
        || cluster.logs(),
        || {
            let mut client = cluster.try_client(others[0], 0, Duration::from_secs(5))?;
            let metadata = try_metadata(&mut client, None)?;
            (!on_host(&metadata)).then_some(())
        },
    );
    // The operator stops the host; the tool then removes it.
    cluster.kill(host);
    let output = tool.wait_with_output().expect("the tool ends");
    assert!(
        output.status.success(),
        "decommission failed:\n{}\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        cluster.logs()
    );
    println!("{}", String::from_utf8_lossy(&output.stdout));
    let mut client = cluster.client(others[0], 0);
    let metadata = try_metadata(&mut client, None).expect("metadata");
    assert!(!on_host(&metadata), "no replica on host {host}");
    assert!(
        metadata
            .brokers
            .iter()
            .all(|broker| host_of(broker.node_id.0) != host),
        "Metadata lists no broker of host {host}"
    );
    let described = client.send(
        &DescribeClusterRequest::default().with_include_fenced_brokers(true),
        2,
    );
    assert!(
        described
            .brokers
            .iter()
            .all(|broker| host_of(broker.broker_id.0) != host),
        "DescribeCluster lists no broker of host {host}, fenced or not"
    );
    // Every acknowledged record reads back from the new leaders.
    for (topic, factor) in TOPICS {
        let states = wait_for(
            &format!("every partition of {topic} led and in sync"),
            Duration::from_secs(30),
            || cluster.logs(),
            || {
                let states = cluster.partitions(topic)?;
                states
                    .iter()
                    .all(PartitionState::fully_in_sync)
                    .then_some(states)
            },
        );
        for state in &states {
            assert_eq!(
                state.replicas.len(),
                factor as usize,
                "{topic}-{}",
                state.partition
            );
            let values = read_back(&cluster, topic, state);
            assert_eq!(
                values, acknowledged[topic][&state.partition],
                "{topic}-{}",
                state.partition
            );
        }
    }
}
