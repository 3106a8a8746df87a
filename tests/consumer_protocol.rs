//! The consumer group protocol of KIP-848 (ConsumerGroupHeartbeat,
//! ConsumerGroupDescribe, epoch-checked OffsetCommit/OffsetFetch v9) next to
//! the classic one: on the wire, and with real librdkafka consumers
//! (confluent-kafka from tests/clients/.venv, installed by
//! scripts/install-clients.sh) using `group.protocol=consumer`.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{create_topic, Broker, Client};
use kafka_protocol::messages::consumer_group_heartbeat_request::TopicPartitions;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse,
    FindCoordinatorRequest, GroupId, JoinGroupRequest, ListGroupsRequest, MetadataRequest,
    OffsetCommitRequest, OffsetFetchRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

const NONE: i16 = 0;
const NOT_COORDINATOR: i16 = 16;
const INCONSISTENT_GROUP_PROTOCOL: i16 = 23;
const UNKNOWN_MEMBER_ID: i16 = 25;
const UNSUPPORTED_VERSION: i16 = 35;
const GROUP_ID_NOT_FOUND: i16 = 69;
const MEMBER_ID_REQUIRED: i16 = 79;
const FENCED_MEMBER_EPOCH: i16 = 110;
const STALE_MEMBER_EPOCH: i16 = 113;

fn text(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_string())
}

fn coordinator_of(broker: &Broker, group: &str) -> usize {
    let mut client = broker.client(0);
    let response = client.send(&FindCoordinatorRequest::default().with_key(text(group)), 2);
    assert_eq!(response.error_code, NONE);
    response.node_id.0 as usize
}

fn group_on(broker: &Broker, node: usize, prefix: &str) -> String {
    (0..)
        .map(|index| format!("{prefix}-{index}"))
        .find(|group| coordinator_of(broker, group) == node)
        .unwrap()
}

/// A heartbeat: `owned` None sends null (unchanged), `topics` None too.
fn heartbeat(
    client: &mut Client,
    version: i16,
    group: &str,
    member_id: &str,
    epoch: i32,
    topics: Option<&[&str]>,
    owned: Option<(uuid::Uuid, &[i32])>,
) -> ConsumerGroupHeartbeatResponse {
    let mut request = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(text(group)))
        .with_member_id(text(member_id))
        .with_member_epoch(epoch)
        .with_subscribed_topic_names(
            topics.map(|topics| topics.iter().map(|topic| TopicName(text(topic))).collect()),
        )
        .with_topic_partitions(owned.map(|(topic_id, partitions)| {
            if partitions.is_empty() {
                Vec::new()
            } else {
                vec![TopicPartitions::default()
                    .with_topic_id(topic_id)
                    .with_partitions(partitions.to_vec())]
            }
        }));
    request.rebalance_timeout_ms = if epoch == 0 { 30_000 } else { -1 };
    client.send(&request, version)
}

/// The partitions of `topic_id` in a heartbeat's assignment, if one came.
fn assigned(response: &ConsumerGroupHeartbeatResponse, topic_id: uuid::Uuid) -> Option<Vec<i32>> {
    response.assignment.as_ref().map(|assignment| {
        assignment
            .topic_partitions
            .iter()
            .filter(|topic| topic.topic_id == topic_id)
            .flat_map(|topic| topic.partitions.iter().copied())
            .collect()
    })
}

fn commit(client: &mut Client, version: i16, group: &str, member_id: &str, epoch: i32) -> i16 {
    let request = OffsetCommitRequest::default()
        .with_group_id(GroupId(text(group)))
        .with_generation_id_or_member_epoch(epoch)
        .with_member_id(text(member_id))
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(TopicName(text("t")))
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(42)])]);
    client.send(&request, version).topics[0].partitions[0].error_code
}

/// OffsetFetch v9 of partition t-0: (group error, committed offset).
fn fetch_offset(client: &mut Client, group: &str, member_id: &str, epoch: i32) -> (i16, i64) {
    let request =
        OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(text(group)))
            .with_member_id(Some(text(member_id)))
            .with_member_epoch(epoch)
            .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                .with_name(TopicName(text("t")))
                .with_partition_indexes(vec![0])]))]);
    let response = client.send(&request, 9);
    let group = &response.groups[0];
    let offset = group
        .topics
        .first()
        .and_then(|topic| topic.partitions.first())
        .map(|partition| partition.committed_offset)
        .unwrap_or(-1);
    (group.error_code, offset)
}

fn classic_join(client: &mut Client, group: &str, member_id: &str) -> (i16, String) {
    let request = JoinGroupRequest::default()
        .with_group_id(GroupId(text(group)))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_member_id(text(member_id))
        .with_protocol_type(text("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(text("range"))
            .with_metadata(bytes::Bytes::from_static(&[
                0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ]))]);
    let response = client.send(&request, 5);
    (response.error_code, response.member_id.to_string())
}

#[test]
fn heartbeats_reconcile_epochs_fence_and_keep_classic_and_consumer_groups_apart() {
    let broker = Broker::start_with(2, &["--group-initial-rebalance-delay-ms", "0"]);
    let mut admin = broker.client(0);
    assert_eq!(create_topic(&mut admin, "t", 4, &[]), NONE);
    let metadata = admin.send(&MetadataRequest::default().with_topics(None), 12);
    let topic_id = metadata
        .topics
        .iter()
        .find(|topic| {
            topic
                .name
                .as_ref()
                .is_some_and(|name| name.0.as_str() == "t")
        })
        .expect("topic t in metadata")
        .topic_id;
    let group = group_on(&broker, 0, "next");
    let classic = group_on(&broker, 0, "classic");
    let mut client = broker.client(0);

    // Another node is not the coordinator.
    let mut elsewhere = broker.client(1);
    let response = heartbeat(
        &mut elsewhere,
        1,
        &group,
        "m1",
        0,
        Some(&["t"]),
        Some((topic_id, &[])),
    );
    assert_eq!(response.error_code, NOT_COORDINATOR);

    // m1 (v1: the member names itself) joins and gets everything, by topic id.
    let response = heartbeat(
        &mut client,
        1,
        &group,
        "m1",
        0,
        Some(&["t"]),
        Some((topic_id, &[])),
    );
    assert_eq!(response.error_code, NONE, "{response:?}");
    assert_eq!(response.member_epoch, 1);
    assert_eq!(response.heartbeat_interval_ms, 5000);
    assert_eq!(assigned(&response, topic_id), Some(vec![0, 1, 2, 3]));

    // A v0 member gets its id from the coordinator; m1 still owns all.
    let response = heartbeat(
        &mut client,
        0,
        &group,
        "",
        0,
        Some(&["t"]),
        Some((topic_id, &[])),
    );
    assert_eq!(response.error_code, NONE, "{response:?}");
    let m2 = response.member_id.clone().unwrap().to_string();
    assert!(!m2.is_empty());
    assert_eq!(response.member_epoch, 2);
    assert_eq!(assigned(&response, topic_id), Some(vec![]));

    // m1 is told to give up two partitions first; its epoch waits.
    let response = heartbeat(
        &mut client,
        1,
        &group,
        "m1",
        1,
        None,
        Some((topic_id, &[0, 1, 2, 3])),
    );
    assert_eq!(response.member_epoch, 1);
    let kept = assigned(&response, topic_id).unwrap();
    assert_eq!(kept.len(), 2);
    let response = heartbeat(&mut client, 0, &group, &m2, 2, None, None);
    assert_eq!(assigned(&response, topic_id), None, "nothing released yet");
    let response = heartbeat(
        &mut client,
        1,
        &group,
        "m1",
        1,
        None,
        Some((topic_id, &kept)),
    );
    assert_eq!(response.member_epoch, 2);
    let response = heartbeat(&mut client, 0, &group, &m2, 2, None, None);
    let taken = assigned(&response, topic_id).unwrap();
    assert_eq!(taken.len(), 2);
    assert!(taken.iter().all(|partition| !kept.contains(partition)));

    // Wrong epochs are fenced; unknown members are refused.
    let response = heartbeat(&mut client, 1, &group, "m1", 7, None, None);
    assert_eq!(response.error_code, FENCED_MEMBER_EPOCH);
    let response = heartbeat(&mut client, 1, &group, "nobody", 2, None, None);
    assert_eq!(response.error_code, UNKNOWN_MEMBER_ID);

    // Offsets: the member epoch is checked, commits need v9.
    assert_eq!(commit(&mut client, 9, &group, "m1", 2), NONE);
    assert_eq!(commit(&mut client, 9, &group, "m1", 1), STALE_MEMBER_EPOCH);
    assert_eq!(
        commit(&mut client, 9, &group, "nobody", 2),
        UNKNOWN_MEMBER_ID
    );
    assert_eq!(commit(&mut client, 8, &group, "m1", 2), UNSUPPORTED_VERSION);
    assert_eq!(
        fetch_offset(&mut client, &group, "m1", 1).0,
        STALE_MEMBER_EPOCH
    );
    assert_eq!(fetch_offset(&mut client, &group, "m1", 2), (NONE, 42));

    // A classic member cannot join the consumer group ...
    assert_eq!(
        classic_join(&mut client, &group, "").0,
        INCONSISTENT_GROUP_PROTOCOL
    );
    // ... nor a consumer member a classic group with members.
    let (code, member_id) = classic_join(&mut client, &classic, "");
    assert_eq!(code, MEMBER_ID_REQUIRED);
    assert_eq!(classic_join(&mut client, &classic, &member_id).0, NONE);
    let response = heartbeat(
        &mut client,
        1,
        &classic,
        "m9",
        0,
        Some(&["t"]),
        Some((topic_id, &[])),
    );
    assert_eq!(response.error_code, GROUP_ID_NOT_FOUND);
    assert_eq!(
        response.error_message.as_deref(),
        Some(format!("Cannot upgrade classic group {classic} to consumer group because online upgrade is disabled.").as_str())
    );

    // ConsumerGroupDescribe: the consumer group, and not the others.
    let response = client.send(
        &ConsumerGroupDescribeRequest::default().with_group_ids(vec![
            GroupId(text(&group)),
            GroupId(text(&classic)),
            GroupId(text("never-seen")),
        ]),
        1,
    );
    let described = &response.groups[0];
    assert_eq!(described.error_code, NONE);
    assert_eq!(described.group_state.as_str(), "Stable");
    assert_eq!((described.group_epoch, described.assignment_epoch), (2, 2));
    assert_eq!(described.assignor_name.as_str(), "uniform");
    assert_eq!(described.members.len(), 2);
    for member in &described.members {
        let topic = &member.assignment.topic_partitions[0];
        assert_eq!(
            (topic.topic_id, topic.topic_name.0.as_str()),
            (topic_id, "t")
        );
        assert_eq!(topic.partitions.len(), 2);
        assert_eq!(member.member_type, 1);
    }
    assert_eq!(response.groups[1].error_code, GROUP_ID_NOT_FOUND);
    assert_eq!(response.groups[2].error_code, GROUP_ID_NOT_FOUND);

    // ListGroups v5 tells the two kinds apart.
    for (kind, expected) in [("consumer", &group), ("classic", &classic)] {
        let response = client.send(
            &ListGroupsRequest::default().with_types_filter(vec![text(kind)]),
            5,
        );
        let listed: Vec<(&str, &str)> = response
            .groups
            .iter()
            .map(|listed| (listed.group_id.0.as_str(), listed.group_type.as_str()))
            .collect();
        assert_eq!(listed, vec![(expected.as_str(), kind)]);
    }

    // m2 leaves: m1 gets everything at the next epoch.
    let response = heartbeat(&mut client, 0, &group, &m2, -1, None, None);
    assert_eq!((response.error_code, response.member_epoch), (NONE, -1));
    let response = heartbeat(&mut client, 1, &group, "m1", 2, None, None);
    assert_eq!(response.member_epoch, 3);
    assert_eq!(assigned(&response, topic_id), Some(vec![0, 1, 2, 3]));
    // The last member leaves; the empty group becomes classic on a join
    // and keeps its offsets.
    heartbeat(&mut client, 1, &group, "m1", -1, None, None);
    let (code, member_id) = classic_join(&mut client, &group, "");
    assert_eq!(code, MEMBER_ID_REQUIRED);
    assert_eq!(classic_join(&mut client, &group, &member_id).0, NONE);
    assert_eq!(fetch_offset(&mut client, &group, "", -1).1, 42);
}

fn python() -> PathBuf {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients/.venv/bin/python");
    let usable = Command::new(&python)
        .args(["-c", "import confluent_kafka"])
        .status()
        .is_ok_and(|status| status.success());
    assert!(
        usable,
        "{} with confluent-kafka is missing: run scripts/install-clients.sh first",
        python.display()
    );
    python
}

fn run_phase(python: &PathBuf, phase: &str, broker: &Broker) {
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/consumer_protocol/scenario.py");
    let output = Command::new("timeout")
        .args(["--kill-after=5", "180"])
        .arg(python)
        .arg(&script)
        .args([
            phase,
            &broker.bootstrap(),
            "kip848",
            "kip848-group",
            "kip848-classic",
        ])
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{phase}:\n{stdout}");
    assert!(
        output.status.success() && stdout.trim_end().ends_with("ok"),
        "phase {phase} failed ({}):\n{stdout}\n{stderr}\nbroker log:\n{}",
        output.status,
        broker.log()
    );
}

#[test]
fn librdkafka_consumers_split_hand_over_and_resume_after_a_restart() {
    let python = python();
    let mut broker = Broker::start(2);
    run_phase(&python, "first", &broker);
    broker.restart();
    run_phase(&python, "second", &broker);
}
