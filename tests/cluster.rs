//! A cluster of corelog hosts on one machine (issue 13), each in its own
//! network namespace, started by `scripts/cluster.sh` through
//! `common::cluster::Cluster`: every shard of every host is a Kafka broker
//! (`H * 1024 + shard`), topics and groups span hosts, the metadata quorum
//! survives the loss of its leader's host and refuses changes on an
//! isolated minority. Needs root; skips (and passes) without it.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::cluster::{
    broker_ids, hosts_of, topic_leaders, try_metadata, wait_for, Cluster, NODES_PER_HOST,
};
use common::{batch, fetch, name, produce, Client};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::{
    CreateTopicsRequest, FindCoordinatorRequest, GroupId, OffsetCommitRequest, OffsetFetchRequest,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;

const HOSTS: usize = 3;
const SHARDS: usize = 2;
/// Fencing fast enough for the 15 s the kill test allows.
const FAST_FENCING: &[&str] = &["--broker-session-timeout-ms", "3000"];
const TOPIC_EXISTS: i16 = 36;

#[test]
fn usage_on_bad_arguments() {
    for arguments in [
        &[][..],
        &["frob"],
        &["up"],
        &["up", "three"],
        &["up", "0"],
        &["up", "3", "--cores"],
        &["up", "3", "--shards", "2"],
        &["kill"],
        &["status", "now"],
    ] {
        let output = Command::new("bash")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/cluster.sh"))
            .args(arguments)
            .env("CORELOG_CLUSTER_DIR", "/nonexistent/corelog-cluster-usage")
            .output()
            .expect("bash runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{arguments:?}: {stderr}");
        assert!(stderr.contains("usage:"), "{arguments:?}: {stderr}");
    }
}

/// The script's own promises, which hold with or without the quorum: each
/// host answers on its own address from the root namespace; kill, start,
/// stop, cont, isolate and heal do what they say and `status` reports it;
/// `down` leaves no namespace behind.
#[test]
fn the_script_starts_kills_pauses_and_isolates_hosts() {
    let Some(cluster) = Cluster::up("mechanics", HOSTS, 1, &[]) else {
        return;
    };
    let logs = || cluster.logs();
    for host in 0..HOSTS {
        let metadata = try_metadata(&mut cluster.client(host, 0), None).expect("Metadata");
        let own = metadata
            .brokers
            .iter()
            .any(|broker| broker.host.as_str() == cluster.address(host) && broker.port == 9092);
        assert!(own, "host {host} lists itself: {:?}", metadata.brokers);
    }
    assert!(cluster.kcat(&["-L", "-m", "10"]).contains("brokers:"));
    assert_eq!(cluster.run(&["bootstrap"]).trim(), cluster.bootstrap());
    assert_eq!(states(&cluster), ["running", "running", "running"]);

    cluster.kill(2);
    assert_eq!(states(&cluster)[2], "dead");
    let refused = std::net::TcpStream::connect(cluster.node_address(2 * NODES_PER_HOST));
    assert!(refused.is_err(), "a killed host's port is closed");
    cluster.start(2);
    assert_eq!(states(&cluster)[2], "running");
    assert!(try_metadata(&mut cluster.client(2, 0), None).is_some());

    cluster.stop(1);
    assert_eq!(states(&cluster)[1], "stopped");
    let mut paused = cluster
        .try_client(1, 0, Duration::from_secs(2))
        .expect("the kernel still accepts for a stopped host");
    assert!(
        try_metadata(&mut paused, None).is_none(),
        "a stopped host answers nothing"
    );
    cluster.cont(1);
    assert!(try_metadata(&mut cluster.client(1, 0), None).is_some());

    cluster.isolate(0);
    assert_eq!(states(&cluster)[0], "isolated");
    assert!(
        cluster.try_client(0, 0, Duration::from_secs(2)).is_none(),
        "an isolated host is unreachable from the root namespace"
    );
    let mut inside = cluster.client_inside(0, 0, Duration::from_secs(10));
    assert!(
        try_metadata(&mut inside, None).is_some(),
        "it serves inside"
    );
    cluster.heal();
    assert_eq!(states(&cluster), ["running", "running", "running"]);
    wait_for(
        "host 0 reachable again after heal",
        Duration::from_secs(10),
        logs,
        || try_metadata(&mut cluster.try_client(0, 0, Duration::from_secs(2))?, None),
    );

    let prefix = format!("{}h", cluster.name);
    drop(cluster);
    let namespaces = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let namespaces = String::from_utf8_lossy(&namespaces.stdout);
    assert!(
        !namespaces.contains(&prefix),
        "down removed them: {namespaces}"
    );
}

/// kcat lists every shard of every host; a topic's partitions land on every
/// host; kafkajs produces and consumes through the bootstrap list in a
/// group; a group's commits are read back through another host.
#[test]
fn every_shard_of_every_host_serves_topics_and_groups() {
    let Some(cluster) = Cluster::up("spread", HOSTS, SHARDS, &[]) else {
        return;
    };
    let logs = || cluster.logs();
    let expected: Vec<i32> = (0..HOSTS as i32)
        .flat_map(|host| (0..SHARDS as i32).map(move |shard| host * NODES_PER_HOST + shard))
        .collect();

    for host in 0..HOSTS {
        wait_for(
            &format!("host {host}'s Metadata to list brokers {expected:?}"),
            Duration::from_secs(10),
            logs,
            || {
                let metadata = try_metadata(&mut cluster.client(host, 0), None)?;
                (broker_ids(&metadata) == expected).then_some(())
            },
        );
    }
    println!("kcat -L lists brokers {expected:?}");
    let listing = cluster.kcat(&["-L", "-m", "10"]);
    let mut listed: Vec<(i32, String)> = listing
        .lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix("broker ")?;
            let (id, address) = rest.split_once(" at ")?;
            let address = address.split_whitespace().next()?;
            Some((id.parse().ok()?, address.to_string()))
        })
        .collect();
    listed.sort();
    let wanted: Vec<(i32, String)> = expected
        .iter()
        .map(|&node| (node, cluster.node_address(node).to_string()))
        .collect();
    assert_eq!(listed, wanted, "kcat -L:\n{listing}");

    println!("CreateTopics (Rust client, host 1) places 6 partitions on every host");
    let code = try_create_topic(&mut cluster.client(1, 1), "spread", 6);
    assert_eq!(code, Some(0), "CreateTopics spread\n{}", logs());
    for host in 0..HOSTS {
        let leaders = wait_for(
            &format!("host {host}'s Metadata to list topic spread"),
            Duration::from_secs(10),
            logs,
            || topic_leaders(&try_metadata(&mut cluster.client(host, 0), None)?, "spread"),
        );
        assert_eq!(hosts_of(&leaders), [0, 1, 2], "leaders {leaders:?}");
    }

    println!("kafkajs: a topic, 300 records, a consumer group reading them back");
    let kafkajs = run_kafkajs(&cluster, "kafkajs", "kafkajs-group", 300);
    let leaders: Vec<i32> = line_after(&kafkajs, "leaders ")
        .split(',')
        .map(|node| node.parse().expect("a node id"))
        .collect();
    assert_eq!(
        hosts_of(&leaders),
        [0, 1, 2],
        "kafkajs topic leaders {leaders:?}"
    );
    assert_eq!(line_after(&kafkajs, "produced "), "300");
    assert!(
        line_after(&kafkajs, "consumed ").ends_with("unique 300"),
        "{kafkajs}"
    );
    let committed = read_commits(&cluster, "kafkajs-group", "kafkajs", 6, None);
    assert_eq!(
        committed.iter().sum::<i64>(),
        300,
        "kafkajs-group committed {committed:?}"
    );

    println!("a group coordinated on one host, its commit read back through another");
    let coordinator = find_coordinator(&mut cluster.client(0, 0), "ledger");
    let coordinator_host = (coordinator.0 / NODES_PER_HOST) as usize;
    commit(
        &mut cluster.node_client(coordinator.0),
        "ledger",
        "spread",
        3,
        42,
    );
    let elsewhere = (coordinator_host + 1) % HOSTS;
    let committed = read_commits(&cluster, "ledger", "spread", 6, Some(elsewhere));
    assert_eq!(
        committed[3], 42,
        "ledger's commits read via host {elsewhere}"
    );
}

/// Kill -9 the quorum leader's host: a surviving host makes metadata
/// changes within 15 s and fences the dead host's brokers; restarted, the
/// host catches up on what it missed and serves again.
#[test]
fn the_cluster_survives_the_loss_of_the_quorum_leader() {
    let Some(cluster) = Cluster::up("kill", HOSTS, SHARDS, FAST_FENCING) else {
        return;
    };
    let logs = || cluster.logs();
    let leader = wait_for("a quorum leader", Duration::from_secs(30), logs, || {
        cluster.leader()
    });
    let survivor = (leader + 1) % HOSTS;
    cluster.kill(leader);
    let killed = Instant::now();
    let budget = Duration::from_secs(15);
    let mut attempts = 0;
    wait_for(
        &format!("CreateTopics through host {survivor} after host {leader} died"),
        budget,
        logs,
        || {
            attempts += 1;
            let mut client = cluster.try_client(survivor, 0, Duration::from_secs(10))?;
            let code = try_create_topic(&mut client, "while-down", 6)?;
            // A timed-out attempt may still have created it.
            (code == 0 || (code == TOPIC_EXISTS && attempts > 1)).then_some(())
        },
    );
    wait_for(
        &format!("Metadata through host {survivor} without host {leader}'s brokers"),
        budget.saturating_sub(killed.elapsed()),
        logs,
        || {
            let metadata = try_metadata(&mut cluster.client(survivor, 0), None)?;
            let hosts = hosts_of(&broker_ids(&metadata));
            (!hosts.contains(&(leader as i32))).then_some(())
        },
    );
    println!(
        "  ... both within {:.1} s of the kill",
        killed.elapsed().as_secs_f64()
    );

    cluster.start(leader);
    wait_for(
        &format!("restarted host {leader}'s Metadata to list while-down"),
        Duration::from_secs(30),
        logs,
        || {
            topic_leaders(
                &try_metadata(&mut cluster.client(leader, 0), None)?,
                "while-down",
            )
        },
    );
    wait_for(
        &format!("host {survivor}'s Metadata to list host {leader}'s brokers again"),
        Duration::from_secs(30),
        logs,
        || {
            let metadata = try_metadata(&mut cluster.client(survivor, 0), None)?;
            (broker_ids(&metadata).len() == HOSTS * SHARDS).then_some(())
        },
    );
    println!("the restarted host serves: a new topic lands on it, produce and fetch there");
    let code = try_create_topic(&mut cluster.client(leader, 1), "after-restart", 6);
    assert_eq!(
        code,
        Some(0),
        "CreateTopics through the restarted host\n{}",
        logs()
    );
    let leaders = wait_for(
        "after-restart's leaders",
        Duration::from_secs(10),
        logs,
        || {
            topic_leaders(
                &try_metadata(&mut cluster.client(leader, 0), None)?,
                "after-restart",
            )
        },
    );
    let (partition, node) = leaders
        .iter()
        .enumerate()
        .find(|(_, node)| **node / NODES_PER_HOST == leader as i32)
        .unwrap_or_else(|| panic!("no partition on host {leader}: {leaders:?}"));
    let mut client = cluster.node_client(*node);
    let records = batch(
        &[(None, "after restart")],
        common::now_milliseconds(),
        Compression::None,
    );
    let (code, offset) = produce(
        &mut client,
        "after-restart",
        partition as i32,
        records,
        8,
        -1,
    );
    assert_eq!((code, offset), (0, 0), "produce to node {node}");
    let (code, bytes, high_watermark) =
        fetch(&mut client, "after-restart", partition as i32, 0, 11);
    assert_eq!((code, high_watermark), (0, 1));
    assert_eq!(common::decode_records(&bytes).len(), 1);
}

/// Isolate a voter that does not lead, then the leader: each time the
/// other two make metadata changes, the isolated host never acknowledges
/// one (no split brain), and after heal it shows what it missed.
#[test]
fn an_isolated_voter_refuses_changes_and_catches_up() {
    let Some(cluster) = Cluster::up("isolate", HOSTS, SHARDS, FAST_FENCING) else {
        return;
    };
    let logs = || cluster.logs();
    let leader = wait_for("a quorum leader", Duration::from_secs(30), logs, || {
        cluster.leader()
    });
    isolate_and_heal(&cluster, (leader + 1) % HOSTS, "follower");
    let leader = wait_for(
        "a quorum leader after heal",
        Duration::from_secs(30),
        logs,
        || cluster.leader(),
    );
    isolate_and_heal(&cluster, leader, "leader");
}

fn isolate_and_heal(cluster: &Cluster, isolated: usize, round: &str) {
    let logs = || cluster.logs();
    let majority: Vec<usize> = (0..HOSTS).filter(|&host| host != isolated).collect();
    cluster.isolate(isolated);
    let created = format!("majority-{round}");
    let mut attempts = 0;
    wait_for(
        &format!(
            "CreateTopics {created} through host {} while host {isolated} is isolated",
            majority[0]
        ),
        Duration::from_secs(30),
        logs,
        || {
            attempts += 1;
            let mut client = cluster.try_client(majority[0], 0, Duration::from_secs(10))?;
            let code = try_create_topic(&mut client, &created, 6)?;
            (code == 0 || (code == TOPIC_EXISTS && attempts > 1)).then_some(())
        },
    );
    let refused = format!("minority-{round}");
    println!("CreateTopics {refused} through isolated host {isolated} must not succeed");
    let mut inside = cluster.client_inside(isolated, 0, Duration::from_secs(20));
    let answer = try_create_topic(&mut inside, &refused, 6);
    assert_ne!(
        answer,
        Some(0),
        "isolated host {isolated} acknowledged a change\n{}",
        logs()
    );
    println!("  ... answered {answer:?} (None: no reply within 20 s)");
    let metadata = try_metadata(&mut cluster.client(majority[1], 0), None).expect("Metadata");
    assert!(
        topic_leaders(&metadata, &refused).is_none(),
        "the majority never saw {refused}"
    );
    cluster.heal();
    wait_for(
        &format!("healed host {isolated}'s Metadata to list {created}"),
        Duration::from_secs(30),
        logs,
        || {
            let mut client = cluster.try_client(isolated, 0, Duration::from_secs(5))?;
            topic_leaders(&try_metadata(&mut client, None)?, &created)
        },
    );
}

/// CreateTopics v7 of `partitions` partitions: its error code, or `None`
/// when no reply came (the connection failed or timed out).
fn try_create_topic(client: &mut Client, topic: &str, partitions: i32) -> Option<i16> {
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(name(topic))
            .with_num_partitions(partitions)
            .with_replication_factor(1)]);
    Some(client.try_send(&request, 7)?.topics.first()?.error_code)
}

/// The coordinator of `group` FindCoordinator v3 names: (node id, host, port).
fn find_coordinator(client: &mut Client, group: &str) -> (i32, String, i32) {
    let request = FindCoordinatorRequest::default()
        .with_key(StrBytes::from_string(group.to_string()))
        .with_key_type(0);
    let response = client.send(&request, 3);
    assert_eq!(response.error_code, 0, "FindCoordinator {group}");
    (response.node_id.0, response.host.to_string(), response.port)
}

/// A commit outside any generation (a group with no members), OffsetCommit v8.
fn commit(client: &mut Client, group: &str, topic: &str, partition: i32, offset: i64) {
    let request = OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(name(topic))
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(partition)
                .with_committed_offset(offset)])]);
    let response = client.send(&request, 8);
    let code = response.topics[0].partitions[0].error_code;
    assert_eq!(code, 0, "OffsetCommit {group} {topic}-{partition}");
}

/// `group`'s committed offsets of partitions 0..partitions of `topic` (-1:
/// none), from its coordinator as FindCoordinator through `via` (any host
/// when `None`) names it: a client bootstrapped on that host alone.
fn read_commits(
    cluster: &Cluster,
    group: &str,
    topic: &str,
    partitions: i32,
    via: Option<usize>,
) -> Vec<i64> {
    let via = via.unwrap_or(0);
    let (node, host, port) = find_coordinator(&mut cluster.client(via, 0), group);
    println!("  {group}'s coordinator through host {via}: node {node} at {host}:{port}");
    let address = format!("{host}:{port}")
        .parse()
        .expect("a coordinator address");
    assert_eq!(address, cluster.node_address(node));
    let request = OffsetFetchRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_topics(Some(vec![OffsetFetchRequestTopic::default()
            .with_name(name(topic))
            .with_partition_indexes((0..partitions).collect())]));
    let response = Client::connect_to(address).send(&request, 7);
    assert_eq!(response.error_code, 0, "OffsetFetch {group}");
    let mut offsets = vec![-1; partitions as usize];
    for partition in &response.topics[0].partitions {
        assert_eq!(partition.error_code, 0);
        offsets[partition.partition_index as usize] = partition.committed_offset;
    }
    offsets.into_iter().map(|offset| offset.max(0)).collect()
}

/// Runs tests/kafkajs/cluster.js against the bootstrap list (120 s at most);
/// its stdout, or a panic with its stderr and the hosts' logs.
fn run_kafkajs(cluster: &Cluster, topic: &str, group: &str, count: usize) -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kafkajs");
    assert!(
        dir.join("node_modules/kafkajs").exists(),
        "kafkajs is not installed: run scripts/test.sh (npm ci in tests/kafkajs)"
    );
    let output = Command::new("timeout")
        .args([
            "120",
            "node",
            "cluster.js",
            &cluster.bootstrap(),
            topic,
            group,
        ])
        .arg(count.to_string())
        .current_dir(&dir)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "cluster.js failed ({}):\n{stdout}\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
        cluster.logs()
    );
    stdout
}

fn line_after<'a>(output: &'a str, prefix: &str) -> &'a str {
    output
        .lines()
        .find_map(|line| line.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line {prefix:?} in:\n{output}"))
}

fn states(cluster: &Cluster) -> Vec<String> {
    cluster
        .status()
        .into_iter()
        .map(|host| host.state)
        .collect()
}
