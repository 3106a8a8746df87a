//! Consumer groups over the wire: FindCoordinator routing, the join/sync/
//! heartbeat/leave protocol in old and flexible versions, static members,
//! offsets that survive restarts and core-count changes, the admin APIs, and
//! the Kafka errors bad requests get. Real broker, blocking test client.

mod common;

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use common::{batch, create_topic, Broker, Client};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};
use kafka_protocol::records::Compression;

const NONE: i16 = 0;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const OFFSET_METADATA_TOO_LARGE: i16 = 12;
const COORDINATOR_NOT_AVAILABLE: i16 = 15;
const NOT_COORDINATOR: i16 = 16;
const INVALID_TOPIC_EXCEPTION: i16 = 17;
const ILLEGAL_GENERATION: i16 = 22;
const INCONSISTENT_GROUP_PROTOCOL: i16 = 23;
const INVALID_GROUP_ID: i16 = 24;
const UNKNOWN_MEMBER_ID: i16 = 25;
const INVALID_SESSION_TIMEOUT: i16 = 26;
const REBALANCE_IN_PROGRESS: i16 = 27;
const INVALID_REQUEST: i16 = 42;
const NON_EMPTY_GROUP: i16 = 68;
const GROUP_ID_NOT_FOUND: i16 = 69;
const MEMBER_ID_REQUIRED: i16 = 79;
const FENCED_INSTANCE_ID: i16 = 82;
const GROUP_SUBSCRIBED_TO_TOPIC: i16 = 86;

fn text(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_string())
}

fn group_id(value: &str) -> GroupId {
    GroupId(text(value))
}

fn topic_name(value: &str) -> TopicName {
    TopicName(text(value))
}

fn start() -> Broker {
    Broker::start_with(2, &["--group-initial-rebalance-delay-ms", "0"])
}

/// The node (shard index) that coordinates `group`.
fn coordinator_of(broker: &Broker, group: &str) -> usize {
    let mut client = broker.client(0);
    let response = client.send(&FindCoordinatorRequest::default().with_key(text(group)), 2);
    assert_eq!(response.error_code, NONE);
    let node = response.node_id.0 as usize;
    assert_eq!(response.port as u16, broker.ports[node]);
    node
}

/// A group coordinated by `node`, named `prefix-N`.
fn group_on(broker: &Broker, node: usize, prefix: &str) -> String {
    (0..)
        .map(|index| format!("{prefix}-{index}"))
        .find(|group| coordinator_of(broker, group) == node)
        .unwrap()
}

/// Consumer-protocol subscription metadata naming `topics`.
fn subscription(topics: &[&str]) -> Bytes {
    let mut bytes = BytesMut::new();
    bytes.put_i16(0);
    ConsumerProtocolSubscription::default()
        .with_topics(topics.iter().map(|topic| text(topic)).collect())
        .encode(&mut bytes, 0)
        .unwrap();
    bytes.freeze()
}

struct Join<'a> {
    group: &'a str,
    member_id: &'a str,
    instance: Option<&'a str>,
    protocol_type: &'a str,
    protocols: Vec<(&'a str, Bytes)>,
    session_timeout_ms: i32,
}

impl<'a> Join<'a> {
    fn new(group: &'a str, member_id: &'a str) -> Join<'a> {
        Join {
            group,
            member_id,
            instance: None,
            protocol_type: "consumer",
            protocols: vec![("range", subscription(&["t"]))],
            session_timeout_ms: 10_000,
        }
    }

    fn send(&self, client: &mut Client, version: i16) -> JoinGroupResponse {
        let mut request = JoinGroupRequest::default()
            .with_group_id(group_id(self.group))
            .with_session_timeout_ms(self.session_timeout_ms)
            .with_member_id(text(self.member_id))
            .with_protocol_type(text(self.protocol_type))
            .with_protocols(
                self.protocols
                    .iter()
                    .map(|(name, metadata)| {
                        JoinGroupRequestProtocol::default()
                            .with_name(text(name))
                            .with_metadata(metadata.clone())
                    })
                    .collect(),
            );
        if version >= 1 {
            request.rebalance_timeout_ms = 20_000;
        }
        if version >= 5 {
            request.group_instance_id = self.instance.map(text);
        }
        client.send(&request, version)
    }
}

fn sync(
    client: &mut Client,
    group: &str,
    generation: i32,
    member_id: &str,
    instance: Option<&str>,
    assignments: &[(&str, &[u8])],
    version: i16,
) -> SyncGroupResponse {
    let mut request = SyncGroupRequest::default()
        .with_group_id(group_id(group))
        .with_generation_id(generation)
        .with_member_id(text(member_id))
        .with_assignments(
            assignments
                .iter()
                .map(|(member, assignment)| {
                    SyncGroupRequestAssignment::default()
                        .with_member_id(text(member))
                        .with_assignment(Bytes::copy_from_slice(assignment))
                })
                .collect(),
        );
    if version >= 3 {
        request.group_instance_id = instance.map(text);
    }
    if version >= 5 {
        request.protocol_type = Some(text("consumer"));
        request.protocol_name = Some(text("range"));
    }
    client.send(&request, version)
}

fn heartbeat(
    client: &mut Client,
    group: &str,
    generation: i32,
    member_id: &str,
    instance: Option<&str>,
    version: i16,
) -> i16 {
    let mut request = HeartbeatRequest::default()
        .with_group_id(group_id(group))
        .with_generation_id(generation)
        .with_member_id(text(member_id));
    if version >= 3 {
        request.group_instance_id = instance.map(text);
    }
    client.send(&request, version).error_code
}

/// Commits one offset; returns the partition's error code.
#[allow(clippy::too_many_arguments)]
fn commit(
    client: &mut Client,
    group: &str,
    generation: i32,
    member_id: &str,
    topic: &str,
    partition: i32,
    offset: i64,
    metadata: &str,
    version: i16,
) -> i16 {
    let request = OffsetCommitRequest::default()
        .with_group_id(group_id(group))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(text(member_id))
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(partition)
                .with_committed_offset(offset)
                .with_committed_metadata(Some(text(metadata)))])]);
    client.send(&request, version).topics[0].partitions[0].error_code
}

/// (offset, metadata, partition error, group error) for one partition.
fn fetch_offset(
    client: &mut Client,
    group: &str,
    topic: &str,
    partition: i32,
    version: i16,
) -> (i64, String, i16, i16) {
    if version >= 8 {
        let request =
            OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
                .with_group_id(group_id(group))
                .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                    .with_name(topic_name(topic))
                    .with_partition_indexes(vec![partition])]))]);
        let response = client.send(&request, version);
        let group = &response.groups[0];
        if group.error_code != NONE {
            assert!(group.topics.is_empty());
            return (-1, String::new(), NONE, group.error_code);
        }
        let found = &group.topics[0].partitions[0];
        return (
            found.committed_offset,
            found
                .metadata
                .as_ref()
                .expect("metadata is never null")
                .to_string(),
            found.error_code,
            group.error_code,
        );
    }
    let request = OffsetFetchRequest::default()
        .with_group_id(group_id(group))
        .with_topics(Some(vec![OffsetFetchRequestTopic::default()
            .with_name(topic_name(topic))
            .with_partition_indexes(vec![partition])]));
    let response = client.send(&request, version);
    let found = &response.topics[0].partitions[0];
    (
        found.committed_offset,
        found
            .metadata
            .as_ref()
            .expect("metadata is never null")
            .to_string(),
        found.error_code,
        response.error_code,
    )
}

/// Joins alone (with the MEMBER_ID_REQUIRED round from v4) and syncs as
/// leader; returns (member id, generation).
fn join_alone(
    client: &mut Client,
    group: &str,
    join_version: i16,
    sync_version: i16,
) -> (String, i32) {
    let mut member_id = String::new();
    if join_version >= 4 {
        let first = Join::new(group, "").send(client, join_version);
        assert_eq!(first.error_code, MEMBER_ID_REQUIRED);
        assert!(
            first.member_id.starts_with("corelog-test-"),
            "{:?}",
            first.member_id
        );
        member_id = first.member_id.to_string();
    }
    let joined = Join::new(group, &member_id).send(client, join_version);
    assert_eq!(joined.error_code, NONE, "join v{join_version}");
    let member_id = joined.member_id.to_string();
    assert_eq!(joined.leader.as_str(), member_id);
    assert_eq!(joined.members.len(), 1, "the leader sees every member");
    assert_eq!(joined.members[0].metadata, subscription(&["t"]));
    assert_eq!(joined.protocol_name.as_ref().unwrap().as_str(), "range");
    let synced = sync(
        client,
        group,
        joined.generation_id,
        &member_id,
        None,
        &[(&member_id, b"assignment-1")],
        sync_version,
    );
    assert_eq!(synced.error_code, NONE, "sync v{sync_version}");
    assert_eq!(synced.assignment.as_ref(), b"assignment-1");
    (member_id, joined.generation_id)
}

#[test]
fn find_coordinator_names_the_owner_and_other_nodes_answer_not_coordinator() {
    let broker = start();
    let mut client = broker.client(0);
    // v4 batches keys; every answer names a node that really coordinates.
    let keys: Vec<String> = (0..8).map(|index| format!("batch-{index}")).collect();
    let response = client.send(
        &FindCoordinatorRequest::default()
            .with_coordinator_keys(keys.iter().map(|key| text(key)).collect()),
        4,
    );
    assert_eq!(response.coordinators.len(), 8);
    let mut nodes = std::collections::HashSet::new();
    for (key, found) in keys.iter().zip(&response.coordinators) {
        assert_eq!(found.key.as_str(), key);
        assert_eq!(found.error_code, NONE);
        assert_eq!(found.node_id.0 as usize, coordinator_of(&broker, key));
        nodes.insert(found.node_id.0);
    }
    assert_eq!(nodes.len(), 2, "groups spread over both shards");
    for version in [0, 1, 3] {
        let found = client.send(
            &FindCoordinatorRequest::default().with_key(text("batch-0")),
            version,
        );
        assert_eq!(found.node_id.0 as usize, coordinator_of(&broker, "batch-0"));
    }
    let transaction = client.send(
        &FindCoordinatorRequest::default()
            .with_key(text("tx"))
            .with_key_type(1),
        3,
    );
    assert_eq!(transaction.error_code, COORDINATOR_NOT_AVAILABLE);
    let empty = client.send(&FindCoordinatorRequest::default().with_key(text("")), 3);
    assert_eq!(empty.error_code, INVALID_REQUEST);

    // Group requests at the wrong node.
    let group = group_on(&broker, 1, "elsewhere");
    let mut wrong = broker.client(0);
    assert_eq!(
        Join::new(&group, "").send(&mut wrong, 5).error_code,
        NOT_COORDINATOR
    );
    assert_eq!(
        heartbeat(&mut wrong, &group, 1, "m", None, 4),
        NOT_COORDINATOR
    );
    assert_eq!(
        fetch_offset(&mut wrong, &group, "t", 0, 8).3,
        NOT_COORDINATOR
    );
    assert_eq!(
        fetch_offset(&mut wrong, &group, "t", 0, 1).2,
        NOT_COORDINATOR
    );
}

#[test]
fn join_sync_heartbeat_and_commit_in_old_and_flexible_versions() {
    let broker = start();
    let mut admin = broker.client(0);
    assert_eq!(create_topic(&mut admin, "t", 3, &[]), NONE);
    for (join_version, sync_version, heartbeat_version, commit_version, fetch_version) in [
        (0, 0, 0, 2, 1),
        (3, 2, 2, 4, 3),
        (5, 3, 3, 7, 5),
        (7, 4, 4, 8, 7),
        (9, 5, 4, 8, 8),
    ] {
        let group = format!("versions-{join_version}");
        let mut client = broker.client(coordinator_of(&broker, &group));
        let (member_id, generation) = join_alone(&mut client, &group, join_version, sync_version);
        assert_eq!(generation, 1);
        assert_eq!(
            heartbeat(
                &mut client,
                &group,
                generation,
                &member_id,
                None,
                heartbeat_version
            ),
            NONE
        );
        assert_eq!(
            commit(
                &mut client,
                &group,
                generation,
                &member_id,
                "t",
                2,
                42,
                "why",
                commit_version
            ),
            NONE
        );
        let (offset, metadata, code, _) = fetch_offset(&mut client, &group, "t", 2, fetch_version);
        assert_eq!((offset, metadata.as_str(), code), (42, "why", NONE));
        // Never committed: -1 and "" (not null).
        let (offset, metadata, code, _) = fetch_offset(&mut client, &group, "t", 0, fetch_version);
        assert_eq!((offset, metadata.as_str(), code), (-1, "", NONE));
        let leave = if join_version >= 5 {
            client
                .send(
                    &LeaveGroupRequest::default()
                        .with_group_id(group_id(&group))
                        .with_members(vec![
                            MemberIdentity::default().with_member_id(text(&member_id))
                        ]),
                    4,
                )
                .members[0]
                .error_code
        } else {
            client
                .send(
                    &LeaveGroupRequest::default()
                        .with_group_id(group_id(&group))
                        .with_member_id(text(&member_id)),
                    1,
                )
                .error_code
        };
        assert_eq!(leave, NONE);
        assert_eq!(
            heartbeat(
                &mut client,
                &group,
                generation,
                &member_id,
                None,
                heartbeat_version
            ),
            UNKNOWN_MEMBER_ID,
            "gone after LeaveGroup"
        );
    }
}

#[test]
fn a_second_member_rebalances_the_group_and_batched_leave_empties_it() {
    let broker = start();
    let group = "pair";
    let node = coordinator_of(&broker, group);
    let mut first = broker.client(node);
    let (leader_id, generation) = join_alone(&mut first, group, 5, 3);

    let mut second = broker.client(node);
    let asked = Join::new(group, "").send(&mut second, 5);
    assert_eq!(asked.error_code, MEMBER_ID_REQUIRED);
    let follower_id = asked.member_id.to_string();
    let waiting = {
        let follower_id = follower_id.clone();
        std::thread::spawn(move || {
            let response = Join::new(group, &follower_id).send(&mut second, 5);
            (second, response)
        })
    };
    // The leader learns of the rebalance from its heartbeat, and rejoins.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while heartbeat(&mut first, group, generation, &leader_id, None, 3) != REBALANCE_IN_PROGRESS {
        assert!(
            std::time::Instant::now() < deadline,
            "no rebalance signalled"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let rejoined = Join::new(group, &leader_id).send(&mut first, 5);
    assert_eq!(rejoined.error_code, NONE);
    assert_eq!(rejoined.generation_id, generation + 1);
    assert_eq!(rejoined.leader.as_str(), leader_id);
    let mut members: Vec<String> = rejoined
        .members
        .iter()
        .map(|m| m.member_id.to_string())
        .collect();
    members.sort();
    let mut expected = vec![leader_id.clone(), follower_id.clone()];
    expected.sort();
    assert_eq!(members, expected);
    let (mut second, followed) = waiting.join().unwrap();
    assert_eq!(followed.error_code, NONE);
    assert_eq!(followed.generation_id, generation + 1);
    assert!(
        followed.members.is_empty(),
        "only the leader gets the members"
    );

    // An old generation is refused; the new one works.
    assert_eq!(
        heartbeat(&mut first, group, generation, &leader_id, None, 3),
        ILLEGAL_GENERATION
    );
    let generation = generation + 1;
    let leader_sync = sync(
        &mut first,
        group,
        generation,
        &leader_id,
        None,
        &[(&leader_id, b"p0"), (&follower_id, b"p1")],
        3,
    );
    assert_eq!(leader_sync.assignment.as_ref(), b"p0");
    let follower_sync = sync(&mut second, group, generation, &follower_id, None, &[], 3);
    assert_eq!(follower_sync.assignment.as_ref(), b"p1");

    let described = first.send(
        &DescribeGroupsRequest::default().with_groups(vec![group_id(group)]),
        5,
    );
    let described = &described.groups[0];
    assert_eq!(described.group_state.as_str(), "Stable");
    assert_eq!(described.protocol_data.as_str(), "range");
    assert_eq!(described.members.len(), 2);
    assert!(described
        .members
        .iter()
        .all(|m| m.client_host.as_str() == "/127.0.0.1"));
    assert!(described
        .members
        .iter()
        .any(|m| m.member_id.as_str() == follower_id && m.member_assignment.as_ref() == b"p1"));

    let left = first.send(
        &LeaveGroupRequest::default()
            .with_group_id(group_id(group))
            .with_members(vec![
                MemberIdentity::default().with_member_id(text(&leader_id)),
                MemberIdentity::default().with_member_id(text(&follower_id)),
                MemberIdentity::default().with_member_id(text("stranger")),
            ]),
        3,
    );
    assert_eq!(
        left.members
            .iter()
            .map(|m| m.error_code)
            .collect::<Vec<_>>(),
        vec![NONE, NONE, UNKNOWN_MEMBER_ID]
    );
    let described = first.send(
        &DescribeGroupsRequest::default().with_groups(vec![group_id(group)]),
        0,
    );
    assert_eq!(described.groups[0].group_state.as_str(), "Empty");
    assert!(described.groups[0].members.is_empty());
}

#[test]
fn a_static_member_rejoins_without_a_rebalance_and_fences_its_old_incarnation() {
    let broker = start();
    let group = "static";
    let mut client = broker.client(coordinator_of(&broker, group));
    let mut join = Join::new(group, "");
    join.instance = Some("instance-1");
    let joined = join.send(&mut client, 5);
    assert_eq!(
        joined.error_code, NONE,
        "static members join without MEMBER_ID_REQUIRED"
    );
    let old_id = joined.member_id.to_string();
    let synced = sync(
        &mut client,
        group,
        1,
        &old_id,
        Some("instance-1"),
        &[(&old_id, b"mine")],
        3,
    );
    assert_eq!(synced.error_code, NONE);

    // The process restarts: same instance id, no member id.
    let again = join.send(&mut client, 5);
    assert_eq!(again.error_code, NONE);
    assert_eq!(again.generation_id, 1, "no rebalance");
    let new_id = again.member_id.to_string();
    assert_ne!(new_id, old_id);
    assert!(
        again.members.is_empty(),
        "a stable group needs no new assignment"
    );
    let resynced = sync(&mut client, group, 1, &new_id, Some("instance-1"), &[], 3);
    assert_eq!(
        resynced.assignment.as_ref(),
        b"mine",
        "keeps its assignment"
    );
    assert_eq!(
        heartbeat(&mut client, group, 1, &old_id, Some("instance-1"), 3),
        FENCED_INSTANCE_ID
    );
    assert_eq!(
        heartbeat(&mut client, group, 1, &new_id, Some("instance-1"), 3),
        NONE
    );

    // Leaving by instance id alone.
    let left = client.send(
        &LeaveGroupRequest::default()
            .with_group_id(group_id(group))
            .with_members(vec![MemberIdentity::default()
                .with_member_id(text(""))
                .with_group_instance_id(Some(text("instance-1")))]),
        4,
    );
    assert_eq!(left.members[0].error_code, NONE);
    assert_eq!(
        heartbeat(&mut client, group, 1, &new_id, Some("instance-1"), 3),
        UNKNOWN_MEMBER_ID
    );
}

#[test]
fn bad_group_requests_get_the_errors_clients_expect() {
    let broker = start();
    let mut admin = broker.client(0);
    assert_eq!(create_topic(&mut admin, "t", 2, &[]), NONE);
    let group = "bad";
    let mut client = broker.client(coordinator_of(&broker, group));

    let mut no_protocols = Join::new(group, "");
    no_protocols.protocols.clear();
    assert_eq!(
        no_protocols.send(&mut client, 5).error_code,
        INCONSISTENT_GROUP_PROTOCOL
    );
    let mut too_short = Join::new(group, "");
    too_short.session_timeout_ms = 10;
    assert_eq!(
        too_short.send(&mut client, 5).error_code,
        INVALID_SESSION_TIMEOUT
    );
    assert_eq!(
        Join::new("", "").send(&mut client, 5).error_code,
        INVALID_GROUP_ID
    );
    assert_eq!(
        Join::new(group, "made-up").send(&mut client, 5).error_code,
        UNKNOWN_MEMBER_ID
    );

    let listed = client.send(&ListGroupsRequest::default(), 4);
    assert!(listed.groups.is_empty(), "refused joins create no group");
    let (member_id, generation) = join_alone(&mut client, group, 5, 3);
    let mut other_type = Join::new(group, "");
    other_type.protocol_type = "connect";
    assert_eq!(
        other_type.send(&mut client, 5).error_code,
        INCONSISTENT_GROUP_PROTOCOL
    );
    let mut other_protocol = Join::new(group, "");
    other_protocol.protocols = vec![("cooperative-sticky", Bytes::new())];
    assert_eq!(
        other_protocol.send(&mut client, 5).error_code,
        INCONSISTENT_GROUP_PROTOCOL
    );

    assert_eq!(
        heartbeat(&mut client, group, generation - 1, &member_id, None, 4),
        ILLEGAL_GENERATION
    );
    assert_eq!(
        heartbeat(&mut client, group, generation, "stranger", None, 4),
        UNKNOWN_MEMBER_ID
    );
    assert_eq!(
        heartbeat(&mut client, "no-such-group", 1, "stranger", None, 4),
        UNKNOWN_MEMBER_ID
    );
    assert_eq!(
        sync(&mut client, group, generation, "stranger", None, &[], 4).error_code,
        UNKNOWN_MEMBER_ID
    );
    assert_eq!(
        commit(&mut client, group, generation, "stranger", "t", 0, 1, "", 8),
        UNKNOWN_MEMBER_ID
    );
    assert_eq!(
        commit(&mut client, group, -1, "", "t", 0, 1, "", 8),
        UNKNOWN_MEMBER_ID,
        "simple commit into a live group"
    );
    assert_eq!(
        commit(
            &mut client,
            group,
            generation + 5,
            &member_id,
            "t",
            0,
            1,
            "",
            8
        ),
        ILLEGAL_GENERATION
    );
    assert_eq!(
        commit(
            &mut client,
            group,
            generation,
            &member_id,
            "nope",
            0,
            1,
            "",
            8
        ),
        UNKNOWN_TOPIC_OR_PARTITION
    );
    assert_eq!(
        commit(&mut client, group, generation, &member_id, "t", 9, 1, "", 8),
        UNKNOWN_TOPIC_OR_PARTITION
    );
    let long = "x".repeat(5000);
    assert_eq!(
        commit(
            &mut client,
            group,
            generation,
            &member_id,
            "t",
            0,
            1,
            &long,
            8
        ),
        OFFSET_METADATA_TOO_LARGE
    );
    let absent = group_on(&broker, coordinator_of(&broker, group), "absent");
    assert_eq!(
        commit(&mut client, &absent, 3, "someone", "t", 0, 1, "", 8),
        ILLEGAL_GENERATION,
        "no such group"
    );

    // Deleting a live group, or one that does not exist.
    let deleted = client.send(
        &DeleteGroupsRequest::default()
            .with_groups_names(vec![group_id(group), group_id("no-such-group")]),
        2,
    );
    let codes: Vec<i16> = deleted.results.iter().map(|r| r.error_code).collect();
    let expected_missing =
        if coordinator_of(&broker, "no-such-group") == coordinator_of(&broker, group) {
            GROUP_ID_NOT_FOUND
        } else {
            NOT_COORDINATOR
        };
    assert_eq!(codes, vec![NON_EMPTY_GROUP, expected_missing]);

    // The offsets topic is the coordinator's alone.
    let internal = admin.send(
        &ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(5000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(topic_name("__consumer_offsets"))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(batch(
                        &[(None, "forged")],
                        0,
                        Compression::None,
                    )))])]),
        7,
    );
    assert_eq!(
        internal.responses[0].partition_responses[0].error_code,
        INVALID_TOPIC_EXCEPTION
    );
    let delete_internal = admin.send(
        &DeleteTopicsRequest::default()
            .with_topic_names(vec![topic_name("__consumer_offsets")])
            .with_timeout_ms(5000),
        4,
    );
    assert_eq!(delete_internal.responses[0].error_code, INVALID_REQUEST);

    // Everything still works.
    assert_eq!(
        heartbeat(&mut client, group, generation, &member_id, None, 4),
        NONE
    );
}

#[test]
fn committed_offsets_survive_restarts_and_changes_of_core_count() {
    let mut broker = start();
    let mut admin = broker.client(0);
    assert_eq!(create_topic(&mut admin, "t", 2, &[]), NONE);
    let groups: Vec<String> = (0..10).map(|index| format!("durable-{index}")).collect();
    let mut nodes = std::collections::HashSet::new();
    for (index, group) in groups.iter().enumerate() {
        let node = coordinator_of(&broker, group);
        nodes.insert(node);
        let mut client = broker.client(node);
        // Simple commits (generation -1): a consumer that assigns itself.
        assert_eq!(
            commit(
                &mut client,
                group,
                -1,
                "",
                "t",
                0,
                index as i64 * 10,
                &format!("meta-{index}"),
                8
            ),
            NONE
        );
        assert_eq!(
            commit(
                &mut client,
                group,
                -1,
                "",
                "t",
                1,
                1000 + index as i64,
                "",
                5
            ),
            NONE
        );
    }
    assert_eq!(nodes.len(), 2, "both shards coordinate some of the groups");
    let deleted = broker.client(coordinator_of(&broker, &groups[9])).send(
        &DeleteGroupsRequest::default().with_groups_names(vec![group_id(&groups[9])]),
        2,
    );
    assert_eq!(deleted.results[0].error_code, NONE);

    for cores in [1, 3, 2] {
        broker.restart_with_cores(cores);
        for (index, group) in groups.iter().enumerate() {
            let mut client = broker.client(coordinator_of(&broker, group));
            let expected = if index == 9 {
                (-1, String::new())
            } else {
                (index as i64 * 10, format!("meta-{index}"))
            };
            let (offset, metadata, code, _) = fetch_offset(&mut client, group, "t", 0, 8);
            assert_eq!(
                (offset, metadata, code),
                (expected.0, expected.1, NONE),
                "{group} with {cores} cores"
            );
            let (offset, _, _, _) = fetch_offset(&mut client, group, "t", 1, 3);
            assert_eq!(offset, if index == 9 { -1 } else { 1000 + index as i64 });
        }
    }
}

#[test]
fn list_describe_fetch_all_and_offset_delete() {
    let broker = start();
    let mut admin = broker.client(0);
    assert_eq!(create_topic(&mut admin, "t", 2, &[]), NONE);
    assert_eq!(create_topic(&mut admin, "u", 1, &[]), NONE);
    let group = "listed";
    let node = coordinator_of(&broker, group);
    let mut client = broker.client(node);
    let (member_id, generation) = join_alone(&mut client, group, 5, 3);
    for (topic, partition, offset) in [("t", 0, 5), ("t", 1, 6), ("u", 0, 7)] {
        assert_eq!(
            commit(
                &mut client,
                group,
                generation,
                &member_id,
                topic,
                partition,
                offset,
                "",
                7
            ),
            NONE
        );
    }

    // ListGroups on the coordinating node, with and without a state filter.
    let listed = client.send(&ListGroupsRequest::default(), 4);
    let found = listed
        .groups
        .iter()
        .find(|g| g.group_id.0.as_str() == group)
        .expect("listed");
    assert_eq!(
        (found.protocol_type.as_str(), found.group_state.as_str()),
        ("consumer", "Stable")
    );
    let empty_only = client.send(
        &ListGroupsRequest::default().with_states_filter(vec![text("Empty")]),
        4,
    );
    assert!(!empty_only
        .groups
        .iter()
        .any(|g| g.group_id.0.as_str() == group));
    let other = broker
        .client(1 - node)
        .send(&ListGroupsRequest::default(), 0);
    assert!(
        !other.groups.iter().any(|g| g.group_id.0.as_str() == group),
        "listed only by its coordinator"
    );

    // OffsetFetch with null topics returns everything committed.
    let all = client.send(
        &OffsetFetchRequest::default()
            .with_group_id(group_id(group))
            .with_topics(None),
        7,
    );
    let mut committed: Vec<(String, i32, i64)> = all
        .topics
        .iter()
        .flat_map(|topic| {
            topic.partitions.iter().map(move |p| {
                (
                    topic.name.0.to_string(),
                    p.partition_index,
                    p.committed_offset,
                )
            })
        })
        .collect();
    committed.sort();
    assert_eq!(
        committed,
        vec![("t".into(), 0, 5), ("t".into(), 1, 6), ("u".into(), 0, 7)]
    );

    // OffsetDelete: the subscribed topic "t" is protected while the group is live.
    let delete = |client: &mut Client, topic: &str, partition: i32| {
        let response = client.send(
            &OffsetDeleteRequest::default()
                .with_group_id(group_id(group))
                .with_topics(vec![OffsetDeleteRequestTopic::default()
                    .with_name(topic_name(topic))
                    .with_partitions(vec![
                        OffsetDeleteRequestPartition::default().with_partition_index(partition)
                    ])]),
            0,
        );
        (
            response.error_code,
            response.topics.first().map(|t| t.partitions[0].error_code),
        )
    };
    assert_eq!(
        delete(&mut client, "t", 0),
        (NONE, Some(GROUP_SUBSCRIBED_TO_TOPIC))
    );
    assert_eq!(delete(&mut client, "u", 0), (NONE, Some(NONE)));
    assert_eq!(
        delete(&mut client, "gone", 0),
        (NONE, Some(UNKNOWN_TOPIC_OR_PARTITION))
    );
    assert_eq!(fetch_offset(&mut client, group, "u", 0, 5).0, -1);
    assert_eq!(fetch_offset(&mut client, group, "t", 0, 5).0, 5);

    // Once the group is empty its offsets can go, and then the group.
    let left = client.send(
        &LeaveGroupRequest::default()
            .with_group_id(group_id(group))
            .with_member_id(text(&member_id)),
        2,
    );
    assert_eq!(left.error_code, NONE);
    assert_eq!(delete(&mut client, "t", 0), (NONE, Some(NONE)));
    assert_eq!(fetch_offset(&mut client, group, "t", 0, 5).0, -1);
    assert_eq!(fetch_offset(&mut client, group, "t", 1, 5).0, 6);
    let deleted = client.send(
        &DeleteGroupsRequest::default().with_groups_names(vec![group_id(group)]),
        0,
    );
    assert_eq!(deleted.results[0].error_code, NONE);
    assert_eq!(fetch_offset(&mut client, group, "t", 1, 5).0, -1);
    let gone = client.send(
        &OffsetDeleteRequest::default().with_group_id(group_id(group)),
        0,
    );
    assert_eq!(gone.error_code, GROUP_ID_NOT_FOUND);
}

/// A member whose session ran out is gone when DeleteGroups or
/// DescribeGroups asks, exactly at its deadline as in Kafka, not up to a
/// timer tick later (librdkafka's 0081 DescribeConsumerGroups deletes its
/// groups right after the session timeout).
#[test]
fn a_member_is_gone_at_its_session_deadline() {
    let broker = Broker::start_with(
        1,
        &[
            "--group-initial-rebalance-delay-ms",
            "0",
            "--group-min-session-timeout-ms",
            "100",
        ],
    );
    let mut client = broker.client(0);
    for round in 0..5 {
        let group = format!("expiring-{round}");
        let mut join = Join::new(&group, "");
        join.session_timeout_ms = 300;
        let first = join.send(&mut client, 4);
        assert_eq!(first.error_code, MEMBER_ID_REQUIRED);
        let member_id = first.member_id.to_string();
        let mut join = Join::new(&group, &member_id);
        join.session_timeout_ms = 300;
        let joined = join.send(&mut client, 4);
        assert_eq!(joined.error_code, NONE);
        let synced = sync(
            &mut client,
            &group,
            joined.generation_id,
            &member_id,
            None,
            &[(&member_id, b"assignment".as_slice())],
            3,
        );
        assert_eq!(synced.error_code, NONE);
        // 20 ms past the deadline: the shard's 100 ms group timer has most
        // likely not run since, so only an expiry at the request finds it.
        std::thread::sleep(Duration::from_millis(320));
        let deleted = client.send(
            &DeleteGroupsRequest::default().with_groups_names(vec![group_id(&group)]),
            2,
        );
        assert_eq!(
            deleted.results[0].error_code, NONE,
            "round {round}: the expired member still held the group"
        );
    }
}

/// With no authorizer, Kafka answers every operation a resource has when a
/// client asks for authorized operations (librdkafka 2.15's DescribeTopics,
/// DescribeCluster and DescribeConsumerGroups count them).
#[test]
fn authorized_operations_are_every_operation_when_asked() {
    let broker = start();
    let mut client = broker.client(0);
    assert_eq!(create_topic(&mut client, "operations", 1, &[]), NONE);
    let metadata = client.send(
        &MetadataRequest::default()
            .with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(topic_name("operations")))
            ]))
            .with_include_cluster_authorized_operations(true)
            .with_include_topic_authorized_operations(true),
        8,
    );
    assert_eq!(metadata.topics[0].topic_authorized_operations, 3576);
    assert_eq!(metadata.cluster_authorized_operations, 8096);
    let plain = client.send(
        &MetadataRequest::default().with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(topic_name("operations")))
        ])),
        8,
    );
    assert_eq!(plain.topics[0].topic_authorized_operations, i32::MIN);

    let group = group_on(&broker, 0, "operations");
    let mut member = broker.client(0);
    join_alone(&mut member, &group, 5, 3);
    let described = member.send(
        &DescribeGroupsRequest::default()
            .with_groups(vec![group_id(&group)])
            .with_include_authorized_operations(true),
        3,
    );
    assert_eq!(described.groups[0].authorized_operations, 328);
}
