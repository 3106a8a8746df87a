//! Replication's data path on a 3-host cluster (issue 14): a topic with 3
//! replicas takes acks=all produce at its leader, the same records are read
//! back from the leader, and every follower's log on disk holds the same
//! batches, byte for byte; with a follower paused past
//! `replica.lag.time.max.ms`, the ISR shrinks and acks=all with
//! `min.insync.replicas=3` gets NOT_ENOUGH_REPLICAS, and once the follower
//! runs again it catches up, returns to the ISR, and acks=all works again.
//! Needs root (network namespaces); skips (and passes) without it.

mod common;

use std::time::Duration;

use common::cluster::{try_metadata, wait_for, Cluster, NODES_PER_HOST};
use common::{batch, fetch, name, produce, Client};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::CreateTopicsRequest;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;

const TOPIC: &str = "replicated";
const NOT_ENOUGH_REPLICAS: i16 = 19;
const NOT_ENOUGH_REPLICAS_AFTER_APPEND: i16 = 20;
const REQUEST_TIMED_OUT: i16 = 7;

/// (leader, replicas, isr) of partition 0 of `TOPIC`, from Metadata v12.
fn placement(client: &mut Client) -> Option<(i32, Vec<i32>, Vec<i32>)> {
    let metadata = try_metadata(client, Some(&[TOPIC]))?;
    let topic = metadata.topics.first()?;
    let partition = topic.partitions.first().filter(|_| topic.error_code == 0)?;
    Some((
        partition.leader_id.0,
        partition.replica_nodes.iter().map(|node| node.0).collect(),
        partition.isr_nodes.iter().map(|node| node.0).collect(),
    ))
}

fn create(client: &mut Client) -> i16 {
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(name(TOPIC))
            .with_num_partitions(1)
            .with_replication_factor(3)
            .with_configs(vec![CreatableTopicConfig::default()
                .with_name(StrBytes::from_static_str("min.insync.replicas"))
                .with_value(Some(StrBytes::from_static_str("3")))])]);
    client.send(&request, 7).topics[0].error_code
}

/// The bytes of `TOPIC`-0's first segment on host `host`.
fn segment_bytes(cluster: &Cluster, host: usize) -> Vec<u8> {
    let path = cluster
        .dir
        .join(format!("host{host}"))
        .join(format!("{TOPIC}-0"))
        .join("00000000000000000000.log");
    std::fs::read(&path).unwrap_or_default()
}

/// A 3-host cluster with a topic of 3 replicas (min.insync.replicas=3),
/// 20 acks=all records produced at its leader and checked; returns the
/// cluster, the leader and the replicas.
fn replicated_cluster(label: &str) -> Option<(Cluster, i32, Vec<i32>)> {
    let cluster = Cluster::up(
        label,
        3,
        1,
        &[
            "--replica-lag-time-max-ms",
            "3000",
            "--broker-session-timeout-ms",
            "30000",
        ],
    )?;
    let mut admin = cluster.client(0, 0);
    assert_eq!(create(&mut admin), 0, "CreateTopics RF 3");
    let (leader, replicas, _) = wait_for(
        "the topic's placement with 3 replicas",
        Duration::from_secs(20),
        || cluster.logs(),
        || {
            placement(&mut admin)
                .filter(|(leader, replicas, _)| *leader >= 0 && replicas.len() == 3)
        },
    );
    println!("leader {leader}, replicas {replicas:?}");
    let mut producer = cluster.node_client(leader);
    let mut expected = Vec::new();
    for round in 0..20 {
        let value = format!("value-{round}");
        let records = batch(&[(None, value.as_str())], 0, Compression::None);
        let (code, offset) = produce(&mut producer, TOPIC, 0, records, 9, -1);
        assert_eq!(code, 0, "acks=all produce {round}\n{}", cluster.logs());
        assert_eq!(offset, round);
        expected.push(value);
    }
    // Read back from the leader: everything acknowledged is below the HW.
    let (code, records, high_watermark) = fetch(&mut producer, TOPIC, 0, 0, 12);
    assert_eq!(code, 0);
    assert_eq!(high_watermark, 20, "the HW covers every acks=all append");
    let values: Vec<String> = common::decode_records(&records)
        .iter()
        .map(|record| String::from_utf8_lossy(record.value.as_ref().unwrap()).into_owned())
        .collect();
    assert_eq!(values, expected);
    // Every replica's log holds the same batches, byte for byte.
    for replica in &replicas {
        let host = (*replica / NODES_PER_HOST) as usize;
        let on_disk = segment_bytes(&cluster, host);
        assert!(
            on_disk.len() >= records.len() && on_disk[..records.len()] == records[..],
            "host {host}'s log holds the leader's batches"
        );
    }
    Some((cluster, leader, replicas))
}

#[test]
fn acks_all_replicates_to_every_follower() {
    replicated_cluster("replication-basic");
}

#[test]
fn a_paused_follower_leaves_the_isr_and_returns() {
    let Some((cluster, leader, replicas)) = replicated_cluster("replication-isr") else {
        return;
    };
    let mut admin = cluster.client(0, 0);
    let mut producer = cluster.node_client(leader);
    // Pause a follower: the ISR shrinks, and acks=all with
    // min.insync.replicas=3 is refused.
    let follower = *replicas.iter().find(|replica| **replica != leader).unwrap();
    let follower_host = (follower / NODES_PER_HOST) as usize;
    cluster.stop(follower_host);
    let seen = std::cell::RefCell::new(Vec::new());
    wait_for(
        "NOT_ENOUGH_REPLICAS with a follower paused",
        Duration::from_secs(30),
        || format!("codes seen {:?}\n{}", seen.borrow(), cluster.logs()),
        || {
            let records = batch(&[(None, "while-paused")], 0, Compression::None);
            let (code, _) = produce(&mut producer, TOPIC, 0, records, 9, -1);
            seen.borrow_mut().push(code);
            assert!(
                matches!(
                    code,
                    NOT_ENOUGH_REPLICAS | NOT_ENOUGH_REPLICAS_AFTER_APPEND | REQUEST_TIMED_OUT
                ),
                "acks=all without its follower answers {code}"
            );
            (code == NOT_ENOUGH_REPLICAS).then_some(())
        },
    );
    let (_, _, isr) = placement(&mut admin).expect("metadata");
    assert!(
        !isr.contains(&follower),
        "the paused follower left the ISR: {isr:?}"
    );
    // The follower runs again: it catches up, returns, and acks=all works.
    cluster.cont(follower_host);
    wait_for(
        "acks=all once the follower returned to the ISR",
        Duration::from_secs(30),
        || cluster.logs(),
        || {
            let records = batch(&[(None, "after")], 0, Compression::None);
            let (code, _) = produce(&mut producer, TOPIC, 0, records, 9, -1);
            (code == 0).then_some(())
        },
    );
    let (_, _, isr) = placement(&mut admin).expect("metadata");
    assert_eq!(isr.len(), 3, "the follower is back in the ISR");
}
