//! Every advertised version of every API, through the real broker: a valid
//! request at that version, and a response that decodes at that version
//! with the expected content. Versions the codec crate no longer knows
//! (Kafka 3.x only, removed by KIP-896 in Kafka 4.0) are written and read
//! here by hand from Kafka 3.9's schemas.

mod common;

use std::io::Write;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use common::{create_topic, name, Broker, Client};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

const NONE: i16 = 0;
const ILLEGAL_GENERATION: i16 = 22;
const INVALID_CONFIG: i16 = 40;

fn text(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_string())
}

/// Sends a hand-encoded body at `version` (request header v1, which every
/// non-flexible version uses) and returns the response body after its
/// header (v0: the correlation id).
fn send_raw(client: &mut Client, api_key: ApiKey, version: i16, body: &[u8]) -> Bytes {
    let correlation_id = 0x5eed;
    let mut frame = BytesMut::new();
    frame.put_i16(api_key as i16);
    frame.put_i16(version);
    frame.put_i32(correlation_id);
    put_string(&mut frame, "corelog-test");
    frame.put_slice(body);
    let mut framed = BytesMut::new();
    framed.put_i32(frame.len() as i32);
    framed.put_slice(&frame);
    client.stream.write_all(&framed).expect("write request");
    let mut response = client.read_frame().expect("a response");
    assert_eq!(response.get_i32(), correlation_id);
    response
}

fn put_string(out: &mut BytesMut, value: &str) {
    out.put_i16(value.len() as i16);
    out.put_slice(value.as_bytes());
}

fn get_string(input: &mut Bytes) -> String {
    let length = input.get_i16();
    assert!(length >= 0, "a non-null string");
    String::from_utf8(input.split_to(length as usize).to_vec()).unwrap()
}

fn get_nullable_string(input: &mut Bytes) -> Option<String> {
    let length = input.get_i16();
    if length < 0 {
        return None;
    }
    Some(String::from_utf8(input.split_to(length as usize).to_vec()).unwrap())
}

/// The node (shard index) that coordinates `group`.
fn coordinator_of(broker: &Broker, group: &str) -> usize {
    let response = broker
        .client(0)
        .send(&FindCoordinatorRequest::default().with_key(text(group)), 0);
    assert_eq!(response.error_code, NONE);
    response.node_id.0 as usize
}

/// OffsetCommit v0 or v1, one topic: (partition, offset, timestamp for v1,
/// metadata); returns each partition's error code.
fn commit_legacy(
    client: &mut Client,
    version: i16,
    group: &str,
    generation_and_member: Option<(i32, &str)>,
    topic: &str,
    partitions: &[(i32, i64, i64, Option<&str>)],
) -> Vec<(i32, i16)> {
    let mut body = BytesMut::new();
    put_string(&mut body, group);
    if version >= 1 {
        let (generation, member) = generation_and_member.unwrap_or((-1, ""));
        body.put_i32(generation);
        put_string(&mut body, member);
    }
    body.put_i32(1);
    put_string(&mut body, topic);
    body.put_i32(partitions.len() as i32);
    for &(partition, offset, timestamp, metadata) in partitions {
        body.put_i32(partition);
        body.put_i64(offset);
        if version >= 1 {
            body.put_i64(timestamp);
        }
        match metadata {
            Some(metadata) => put_string(&mut body, metadata),
            None => body.put_i16(-1),
        }
    }
    let mut response = send_raw(client, ApiKey::OffsetCommit, version, &body);
    // v0-v2: topics [name, partitions [index, error]], no throttle time.
    assert_eq!(response.get_i32(), 1);
    assert_eq!(get_string(&mut response), topic);
    let count = response.get_i32();
    let answers = (0..count)
        .map(|_| (response.get_i32(), response.get_i16()))
        .collect();
    assert!(!response.has_remaining(), "nothing after the body");
    answers
}

/// OffsetFetch v0 by hand: (partition, offset, metadata, error) per partition.
fn fetch_offsets_v0(
    client: &mut Client,
    group: &str,
    topic: &str,
    partitions: &[i32],
) -> Vec<(i32, i64, String, i16)> {
    let mut body = BytesMut::new();
    put_string(&mut body, group);
    body.put_i32(1);
    put_string(&mut body, topic);
    body.put_i32(partitions.len() as i32);
    for &partition in partitions {
        body.put_i32(partition);
    }
    let mut response = send_raw(client, ApiKey::OffsetFetch, 0, &body);
    assert_eq!(response.get_i32(), 1);
    assert_eq!(get_string(&mut response), topic);
    let count = response.get_i32();
    let found = (0..count)
        .map(|_| {
            let partition = response.get_i32();
            let offset = response.get_i64();
            let metadata = get_nullable_string(&mut response).expect("metadata is never null");
            (partition, offset, metadata, response.get_i16())
        })
        .collect();
    assert!(!response.has_remaining(), "nothing after the body");
    found
}

/// OffsetFetch v1 through the codec: (partition, offset, metadata, error).
fn fetch_offsets_v1(
    client: &mut Client,
    group: &str,
    topic: &str,
    partitions: &[i32],
) -> Vec<(i32, i64, String, i16)> {
    use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
    let request = OffsetFetchRequest::default()
        .with_group_id(GroupId(text(group)))
        .with_topics(Some(vec![OffsetFetchRequestTopic::default()
            .with_name(name(topic))
            .with_partition_indexes(partitions.to_vec())]));
    let response = client.send(&request, 1);
    response.topics[0]
        .partitions
        .iter()
        .map(|partition| {
            (
                partition.partition_index,
                partition.committed_offset,
                partition.metadata.as_ref().unwrap().to_string(),
                partition.error_code,
            )
        })
        .collect()
}

/// sarama 1.22 (Debian's) joins with JoinGroup v0-v1 and commits with
/// OffsetCommit v1 whatever the broker advertises; Kafka 3.9 accepts it.
/// Its commits must land, be read back by OffsetFetch v1 (and v0), and
/// survive a restart: otherwise every restart re-reads the topic.
#[test]
fn offset_commit_v0_and_v1_are_read_back_and_survive_a_restart() {
    let mut broker = Broker::start_with(2, &["--group-initial-rebalance-delay-ms", "0"]);
    assert_eq!(create_topic(&mut broker.client(0), "t", 3, &[]), NONE);

    // A member of a group, as sarama: JoinGroup v0, SyncGroup v0, commit v1.
    let group = "sarama-group";
    let mut client = broker.client(coordinator_of(&broker, group));
    let joined = client.send(
        &JoinGroupRequest::default()
            .with_group_id(GroupId(text(group)))
            .with_session_timeout_ms(10_000)
            .with_member_id(text(""))
            .with_protocol_type(text("consumer"))
            .with_protocols(vec![join_group_request::JoinGroupRequestProtocol::default(
            )
            .with_name(text("range"))
            .with_metadata(Bytes::from_static(b"\0\0\0\0\0\x01\0\x01t\0\0\0\0"))]),
        0,
    );
    assert_eq!(joined.error_code, NONE);
    let member = joined.member_id.to_string();
    let synced = client.send(
        &SyncGroupRequest::default()
            .with_group_id(GroupId(text(group)))
            .with_generation_id(joined.generation_id)
            .with_member_id(text(&member))
            .with_assignments(vec![
                sync_group_request::SyncGroupRequestAssignment::default()
                    .with_member_id(text(&member))
                    .with_assignment(Bytes::from_static(b"a")),
            ]),
        0,
    );
    assert_eq!(synced.error_code, NONE);
    let answers = commit_legacy(
        &mut client,
        1,
        group,
        Some((joined.generation_id, &member)),
        "t",
        &[(0, 41, -1, Some("sarama")), (1, 7, 1_600_000_000_000, None)],
    );
    assert_eq!(answers, vec![(0, NONE), (1, NONE)]);
    // A stale generation is refused, as Kafka does.
    let stale = commit_legacy(
        &mut client,
        1,
        group,
        Some((joined.generation_id + 5, &member)),
        "t",
        &[(0, 99, -1, None)],
    );
    assert_eq!(stale, vec![(0, ILLEGAL_GENERATION)]);
    // v0 has no member: refused while the group has members, as Kafka does.
    let memberless = commit_legacy(&mut client, 0, group, None, "t", &[(0, 99, 0, None)]);
    assert_eq!(memberless, vec![(0, 25)], "UNKNOWN_MEMBER_ID");

    // v0: no generation or member, a commit outside group management.
    let simple = "simple-v0";
    let mut simple_client = broker.client(coordinator_of(&broker, simple));
    let answers = commit_legacy(
        &mut simple_client,
        0,
        simple,
        None,
        "t",
        &[(2, 1234, 0, Some("v0"))],
    );
    assert_eq!(answers, vec![(2, NONE)]);

    let check = |broker: &Broker, when: &str| {
        let mut client = broker.client(coordinator_of(broker, group));
        let expected = vec![
            (0, 41, "sarama".to_string(), NONE),
            (1, 7, String::new(), NONE),
            (2, -1, String::new(), NONE),
        ];
        assert_eq!(
            fetch_offsets_v1(&mut client, group, "t", &[0, 1, 2]),
            expected,
            "v1 {when}"
        );
        assert_eq!(
            fetch_offsets_v0(&mut client, group, "t", &[0, 1, 2]),
            expected,
            "v0 {when}"
        );
        let mut client = broker.client(coordinator_of(broker, simple));
        assert_eq!(
            fetch_offsets_v1(&mut client, simple, "t", &[2]),
            vec![(2, 1234, "v0".to_string(), NONE)],
            "simple {when}"
        );
    };
    check(&broker, "before the restart");
    broker.restart();
    check(&broker, "after the restart");
}

/// librdkafka's test 0092 creates a topic with `message.format.version`;
/// Kafka 3.x accepts that deprecated config (and ignores it), as corelog
/// does, with a warning in the log.
#[test]
fn deprecated_topic_configs_are_accepted_stored_and_described() {
    use kafka_protocol::messages::alter_configs_request::{AlterConfigsResource, AlterableConfig};
    use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
    use kafka_protocol::messages::incremental_alter_configs_request::{
        AlterConfigsResource as IncrementalResource, AlterableConfig as IncrementalConfig,
    };
    let broker = Broker::start(1);
    let mut client = broker.client(0);
    assert_eq!(
        create_topic(
            &mut client,
            "old-format",
            1,
            &[("message.format.version", "0.10.0")]
        ),
        NONE
    );
    assert_eq!(
        create_topic(
            &mut client,
            "bad-format",
            1,
            &[("message.format.version", "ten")]
        ),
        INVALID_CONFIG
    );
    let describe = |client: &mut Client, config: &str| -> (String, i8) {
        let response = client.send(
            &DescribeConfigsRequest::default().with_resources(vec![
                DescribeConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(text("old-format"))
                    .with_configuration_keys(Some(vec![text(config)])),
            ]),
            4,
        );
        let entry = &response.results[0].configs[0];
        (
            entry.value.as_ref().unwrap().to_string(),
            entry.config_source,
        )
    };
    assert_eq!(
        describe(&mut client, "message.format.version"),
        ("0.10.0".to_string(), 1),
        "stored as a topic config (DYNAMIC_TOPIC_CONFIG)"
    );
    assert_eq!(
        describe(&mut client, "message.downconversion.enable"),
        ("true".to_string(), 5),
        "Kafka's default (DEFAULT_CONFIG)"
    );

    let altered = client.send(
        &AlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(text("old-format"))
            .with_configs(vec![
                AlterableConfig::default()
                    .with_name(text("message.format.version"))
                    .with_value(Some(text("0.11.0-IV2"))),
                AlterableConfig::default()
                    .with_name(text("message.downconversion.enable"))
                    .with_value(Some(text("false"))),
            ])]),
        2,
    );
    assert_eq!(altered.responses[0].error_code, NONE);
    assert_eq!(
        describe(&mut client, "message.format.version"),
        ("0.11.0-IV2".to_string(), 1)
    );
    assert_eq!(
        describe(&mut client, "message.downconversion.enable"),
        ("false".to_string(), 1)
    );

    let altered = client.send(
        &IncrementalAlterConfigsRequest::default().with_resources(vec![
            IncrementalResource::default()
                .with_resource_type(2)
                .with_resource_name(text("old-format"))
                .with_configs(vec![
                    IncrementalConfig::default()
                        .with_name(text("message.format.version"))
                        .with_config_operation(0)
                        .with_value(Some(text("2.8"))),
                    IncrementalConfig::default()
                        .with_name(text("message.timestamp.difference.max.ms"))
                        .with_config_operation(0)
                        .with_value(Some(text("60000"))),
                ]),
        ]),
        1,
    );
    assert_eq!(altered.responses[0].error_code, NONE);
    assert_eq!(
        describe(&mut client, "message.format.version"),
        ("2.8".to_string(), 1)
    );
    assert_eq!(
        describe(&mut client, "message.timestamp.difference.max.ms"),
        ("60000".to_string(), 1)
    );
    let log = broker.log();
    assert!(
        log.contains("config message.format.version is deprecated"),
        "a warning line: {log}"
    );
    assert!(log.contains("config message.timestamp.difference.max.ms is deprecated"));
}

// ---------------------------------------------------------------------------
// Every advertised version of every API.

/// The table ApiVersions must advertise: Kafka 3.9's ranges (with the
/// versions Kafka 4.0 dropped, for old clients) and Kafka 4.x's newest
/// where they change nothing corelog lacks.
const ADVERTISED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 0, 13),
    (ApiKey::Fetch, 0, 18),
    (ApiKey::ConsumerGroupHeartbeat, 0, 1),
    (ApiKey::ConsumerGroupDescribe, 0, 1),
    (ApiKey::ListOffsets, 0, 10),
    (ApiKey::Metadata, 0, 13),
    (ApiKey::OffsetCommit, 0, 9),
    (ApiKey::OffsetFetch, 0, 9),
    (ApiKey::FindCoordinator, 0, 6),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::DescribeCluster, 0, 2),
    (ApiKey::OffsetForLeaderEpoch, 0, 4),
    (ApiKey::DescribeGroups, 0, 6),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 0, 7),
    (ApiKey::DeleteTopics, 0, 6),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::DescribeConfigs, 0, 4),
    (ApiKey::DescribeLogDirs, 1, 4),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::OffsetDelete, 0, 0),
    (ApiKey::AlterPartitionReassignments, 0, 0),
    (ApiKey::ListPartitionReassignments, 0, 0),
    (ApiKey::UnregisterBroker, 0, 0),
];

fn versions_of(key: ApiKey) -> std::ops::RangeInclusive<i16> {
    let &(_, min, max) = ADVERTISED
        .iter()
        .find(|(known, _, _)| *known == key)
        .expect("an advertised API");
    min..=max
}

#[test]
fn api_versions_in_every_version_advertises_exactly_the_table() {
    let broker = Broker::start(1);
    let mut client = broker.client(0);
    for version in versions_of(ApiKey::ApiVersions) {
        let mut request = ApiVersionsRequest::default();
        if version >= 3 {
            request.client_software_name = text("corelog-test");
            request.client_software_version = text("1.0");
        }
        let response = client.send(&request, version);
        assert_eq!(response.error_code, NONE, "v{version}");
        let mut advertised: Vec<(i16, i16, i16)> = response
            .api_keys
            .iter()
            .map(|key| (key.api_key, key.min_version, key.max_version))
            .collect();
        advertised.sort();
        let mut expected: Vec<(i16, i16, i16)> = ADVERTISED
            .iter()
            .map(|&(key, min, max)| (key as i16, min, max))
            .collect();
        expected.sort();
        assert_eq!(advertised, expected, "v{version}");
    }
}

/// (topic id, partition count) from Metadata v12.
fn topic_id_of(client: &mut Client, topic: &str) -> (uuid::Uuid, usize) {
    use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
    let response = client.send(
        &MetadataRequest::default()
            .with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(name(topic)))
            ]))
            .with_allow_auto_topic_creation(false),
        12,
    );
    let found = &response.topics[0];
    assert_eq!(found.error_code, NONE);
    (found.topic_id, found.partitions.len())
}

#[test]
fn metadata_in_every_version() {
    use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
    let broker = Broker::start(2);
    let mut client = broker.client(0);
    assert_eq!(create_topic(&mut client, "described", 3, &[]), NONE);
    let (topic_id, _) = topic_id_of(&mut client, "described");
    assert!(!topic_id.is_nil());
    for version in versions_of(ApiKey::Metadata) {
        // One topic by name (v12+ also by id), then every topic: v0 with
        // an empty list, later versions with a null one.
        let mut wanted = vec![MetadataRequestTopic::default().with_name(Some(name("described")))];
        if version >= 12 {
            wanted.push(
                MetadataRequestTopic::default()
                    .with_name(None)
                    .with_topic_id(topic_id),
            );
        }
        let mut request = MetadataRequest::default().with_topics(Some(wanted));
        if version >= 4 {
            request.allow_auto_topic_creation = false;
        }
        let response = client.send(&request, version);
        assert_eq!(response.brokers.len(), 2, "v{version}");
        assert_eq!(response.error_code, NONE, "v{version}");
        assert_eq!(response.topics.len(), if version >= 12 { 2 } else { 1 });
        for topic in &response.topics {
            assert_eq!(topic.error_code, NONE, "v{version}");
            assert_eq!(topic.name.as_ref().unwrap().0.as_str(), "described");
            assert_eq!(topic.partitions.len(), 3, "v{version}");
            if version >= 10 {
                assert_eq!(topic.topic_id, topic_id, "v{version}");
            }
        }
        let all = if version == 0 {
            MetadataRequest::default().with_topics(Some(Vec::new()))
        } else {
            MetadataRequest::default().with_topics(None)
        };
        let response = client.send(&all, version);
        assert!(
            response
                .topics
                .iter()
                .any(|topic| topic.name.as_ref().unwrap().0.as_str() == "described"),
            "v{version}: every topic"
        );
    }
}

/// Produce, Fetch and ListOffsets in every version, by name up to v12 and
/// by topic id from Produce v13 and Fetch v13.
#[test]
fn produce_fetch_and_list_offsets_in_every_version() {
    use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::records::Compression;
    let broker = Broker::start(1);
    let mut client = broker.client(0);
    assert_eq!(create_topic(&mut client, "data", 1, &[]), NONE);
    let (topic_id, _) = topic_id_of(&mut client, "data");
    let unknown_id = uuid::Uuid::from_bytes([7; 16]);

    // Produce: one record per version, each at the next offset. Record
    // timestamps rise except the first version's, which is the largest
    // (for ListOffsets' max-timestamp lookup).
    let mut expected_offset = 0;
    // Produce v0-2 and Fetch v0-3 carry magic 0/1 message sets, which
    // kafka-protocol cannot encode: tests/legacy_clients.rs covers them.
    for version in 3..=*versions_of(ApiKey::Produce).end() {
        let timestamp = if version == 3 {
            9_000_000_000_000
        } else {
            1_700_000_000_000 + i64::from(version)
        };
        let value = format!("v{version}");
        let records = common::batch(&[(None, value.as_str())], timestamp, Compression::None);
        let topic = if version >= 13 {
            TopicProduceData::default().with_topic_id(topic_id)
        } else {
            TopicProduceData::default().with_name(name("data"))
        };
        let request = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(5000)
            .with_topic_data(vec![topic.with_partition_data(vec![
                PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(records)),
            ])]);
        let response = client.send(&request, version);
        let topic = &response.responses[0];
        if version >= 13 {
            assert_eq!(topic.topic_id, topic_id);
        } else {
            assert_eq!(topic.name.0.as_str(), "data");
        }
        let partition = &topic.partition_responses[0];
        assert_eq!(
            (partition.error_code, partition.base_offset),
            (NONE, expected_offset),
            "Produce v{version}"
        );
        expected_offset += 1;
    }
    // An unknown topic id.
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_topic_id(unknown_id)
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(common::batch(
                    &[(None, "x")],
                    1,
                    Compression::None,
                )))])]);
    let response = client.send(&request, 13);
    assert_eq!(response.responses[0].partition_responses[0].error_code, 100);

    // Fetch from offset 0: every record, in every version.
    let produced: Vec<String> = (3..=*versions_of(ApiKey::Produce).end())
        .map(|version| format!("v{version}"))
        .collect();
    for version in 4..=*versions_of(ApiKey::Fetch).end() {
        let mut request = common::fetch_request("data", 0, 0, 0, 0);
        if version >= 13 {
            request.topics[0].topic = Default::default();
            request.topics[0].topic_id = topic_id;
        }
        let response = client.send(&request, version);
        assert_eq!(response.error_code, NONE);
        if version >= 7 {
            assert_eq!(response.session_id, 0, "fetch sessions are not kept");
        }
        let topic = &response.responses[0];
        if version >= 13 {
            assert_eq!(topic.topic_id, topic_id);
        } else {
            assert_eq!(topic.topic.0.as_str(), "data");
        }
        let partition = &topic.partitions[0];
        assert_eq!(partition.error_code, NONE, "Fetch v{version}");
        assert_eq!(partition.high_watermark, expected_offset);
        let values: Vec<String> = common::decode_records(partition.records.as_ref().unwrap())
            .iter()
            .map(|record| String::from_utf8(record.value.clone().unwrap().to_vec()).unwrap())
            .collect();
        assert_eq!(values, produced, "Fetch v{version}");
    }
    let mut request = common::fetch_request("data", 0, 0, 0, 0);
    request.topics[0].topic = Default::default();
    request.topics[0].topic_id = unknown_id;
    let response = client.send(&request, 13);
    assert_eq!(response.responses[0].topic_id, unknown_id);
    assert_eq!(response.responses[0].partitions[0].error_code, 100);

    // ListOffsets: latest, earliest, and (v7+) the largest timestamp,
    // (v8+) the earliest local offset, (v9+) the last tiered one.
    for version in versions_of(ApiKey::ListOffsets) {
        let mut wanted = vec![(-1i64, expected_offset), (-2, 0)];
        if version >= 7 {
            wanted.push((-3, 0));
        }
        if version >= 8 {
            wanted.push((-4, 0));
        }
        if version >= 9 {
            wanted.push((-5, -1));
        }
        for (timestamp, offset) in wanted {
            if version == 0 {
                let mut body = BytesMut::new();
                body.put_i32(-1);
                body.put_i32(1);
                put_string(&mut body, "data");
                body.put_i32(1);
                body.put_i32(0);
                body.put_i64(timestamp);
                body.put_i32(1);
                let mut response = send_raw(&mut client, ApiKey::ListOffsets, 0, &body);
                assert_eq!(response.get_i32(), 1);
                assert_eq!(get_string(&mut response), "data");
                assert_eq!(response.get_i32(), 1);
                assert_eq!(response.get_i32(), 0, "partition");
                assert_eq!(response.get_i16(), NONE);
                assert_eq!(response.get_i32(), 1, "one old-style offset");
                assert_eq!(response.get_i64(), offset, "v0 timestamp {timestamp}");
                assert!(!response.has_remaining());
                continue;
            }
            let request = ListOffsetsRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_topics(vec![ListOffsetsTopic::default()
                    .with_name(name("data"))
                    .with_partitions(vec![ListOffsetsPartition::default()
                        .with_partition_index(0)
                        .with_timestamp(timestamp)])]);
            let response = client.send(&request, version);
            let partition = &response.topics[0].partitions[0];
            assert_eq!(partition.error_code, NONE);
            assert_eq!(
                partition.offset, offset,
                "ListOffsets v{version} timestamp {timestamp}"
            );
            if timestamp == -3 {
                assert_eq!(partition.timestamp, 9_000_000_000_000);
            }
        }
    }
}

/// Joins `group` alone at `version` (with v4+'s MEMBER_ID_REQUIRED round)
/// and syncs as its leader at `sync_version`; returns (member, generation).
fn join_and_sync(
    client: &mut Client,
    group: &str,
    version: i16,
    sync_version: i16,
) -> (String, i32) {
    use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
    use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
    let join = |client: &mut Client, member: &str| {
        let mut request = JoinGroupRequest::default()
            .with_group_id(GroupId(text(group)))
            .with_session_timeout_ms(10_000)
            .with_member_id(text(member))
            .with_protocol_type(text("consumer"))
            .with_protocols(vec![JoinGroupRequestProtocol::default()
                .with_name(text("range"))
                .with_metadata(Bytes::from_static(b"subscription"))]);
        if version >= 1 {
            request.rebalance_timeout_ms = 10_000;
        }
        client.send(&request, version)
    };
    let mut joined = join(client, "");
    if version >= 4 {
        assert_eq!(joined.error_code, 79, "MEMBER_ID_REQUIRED at v{version}");
        let member = joined.member_id.to_string();
        joined = join(client, &member);
    }
    assert_eq!(joined.error_code, NONE, "JoinGroup v{version}");
    let member = joined.member_id.to_string();
    assert_eq!(joined.leader.as_str(), member, "JoinGroup v{version}");
    assert_eq!(joined.members.len(), 1, "JoinGroup v{version}");
    assert_eq!(joined.members[0].metadata.as_ref(), b"subscription");
    if version >= 7 {
        assert_eq!(joined.protocol_type.as_ref().unwrap().as_str(), "consumer");
    }
    assert_eq!(joined.protocol_name.as_ref().unwrap().as_str(), "range");
    let mut request = SyncGroupRequest::default()
        .with_group_id(GroupId(text(group)))
        .with_generation_id(joined.generation_id)
        .with_member_id(text(&member))
        .with_assignments(vec![SyncGroupRequestAssignment::default()
            .with_member_id(text(&member))
            .with_assignment(Bytes::from_static(b"assigned"))]);
    if sync_version >= 5 {
        request.protocol_type = Some(text("consumer"));
        request.protocol_name = Some(text("range"));
    }
    let synced = client.send(&request, sync_version);
    assert_eq!(synced.error_code, NONE, "SyncGroup v{sync_version}");
    assert_eq!(
        synced.assignment.as_ref(),
        b"assigned",
        "SyncGroup v{sync_version}"
    );
    if sync_version >= 5 {
        assert_eq!(synced.protocol_name.as_ref().unwrap().as_str(), "range");
    }
    (member, joined.generation_id)
}

fn leave(client: &mut Client, group: &str, member: &str, version: i16) {
    use kafka_protocol::messages::leave_group_request::MemberIdentity;
    let mut request = LeaveGroupRequest::default().with_group_id(GroupId(text(group)));
    if version >= 3 {
        request.members = vec![MemberIdentity::default().with_member_id(text(member))];
    } else {
        request.member_id = text(member);
    }
    let response = client.send(&request, version);
    assert_eq!(response.error_code, NONE, "LeaveGroup v{version}");
    if version >= 3 {
        assert_eq!(response.members.len(), 1);
        assert_eq!(response.members[0].member_id.as_str(), member);
        assert_eq!(response.members[0].error_code, NONE);
    }
}

/// FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
/// DescribeGroups and ListGroups in every version.
#[test]
fn group_membership_apis_in_every_version() {
    let broker = Broker::start_with(2, &["--group-initial-rebalance-delay-ms", "0"]);
    // FindCoordinator: the same node in every version; v4+ batch keys.
    let expected_node = coordinator_of(&broker, "member-group");
    let mut any = broker.client(1);
    for version in versions_of(ApiKey::FindCoordinator) {
        let node = if version >= 4 {
            let response = any.send(
                &FindCoordinatorRequest::default()
                    .with_key_type(0)
                    .with_coordinator_keys(vec![text("member-group")]),
                version,
            );
            assert_eq!(response.coordinators.len(), 1);
            let found = &response.coordinators[0];
            assert_eq!(found.key.as_str(), "member-group");
            assert_eq!(found.error_code, NONE, "FindCoordinator v{version}");
            assert_eq!(
                found.port,
                i32::from(broker.ports[found.node_id.0 as usize])
            );
            found.node_id.0
        } else {
            let response = any.send(
                &FindCoordinatorRequest::default().with_key(text("member-group")),
                version,
            );
            assert_eq!(response.error_code, NONE, "FindCoordinator v{version}");
            response.node_id.0
        };
        assert_eq!(node as usize, expected_node, "FindCoordinator v{version}");
    }
    // v6's share-group key type: not supported, said so.
    let response = any.send(
        &FindCoordinatorRequest::default()
            .with_key_type(2)
            .with_coordinator_keys(vec![text("member-group:t:0")]),
        6,
    );
    assert_eq!(response.coordinators[0].error_code, 42, "INVALID_REQUEST");

    // JoinGroup in every version (SyncGroup at v0 to complete it), then
    // Heartbeat, LeaveGroup and SyncGroup in every version of theirs.
    for version in versions_of(ApiKey::JoinGroup) {
        let group = format!("join-v{version}");
        let mut client = broker.client(coordinator_of(&broker, &group));
        let (member, _) = join_and_sync(&mut client, &group, version, 0);
        leave(&mut client, &group, &member, 0);
    }
    for version in versions_of(ApiKey::SyncGroup) {
        let group = format!("sync-v{version}");
        let mut client = broker.client(coordinator_of(&broker, &group));
        let (member, _) = join_and_sync(&mut client, &group, 5, version);
        leave(&mut client, &group, &member, 5);
    }
    let group = "heartbeat-group";
    let mut client = broker.client(coordinator_of(&broker, group));
    let (member, generation) = join_and_sync(&mut client, group, 9, 5);
    for version in versions_of(ApiKey::Heartbeat) {
        let response = client.send(
            &HeartbeatRequest::default()
                .with_group_id(GroupId(text(group)))
                .with_generation_id(generation)
                .with_member_id(text(&member)),
            version,
        );
        assert_eq!(response.error_code, NONE, "Heartbeat v{version}");
    }

    // DescribeGroups: a stable group with its member, and a group nobody
    // knows on the same coordinator (Dead before v6; GROUP_ID_NOT_FOUND
    // from v6).
    let coordinator = coordinator_of(&broker, group);
    let nobody = (0..)
        .map(|index| format!("nobody-{index}"))
        .find(|name| coordinator_of(&broker, name) == coordinator)
        .unwrap();
    for version in versions_of(ApiKey::DescribeGroups) {
        let response = client.send(
            &DescribeGroupsRequest::default()
                .with_groups(vec![GroupId(text(group)), GroupId(text(&nobody))]),
            version,
        );
        let described = &response.groups[0];
        assert_eq!(described.error_code, NONE, "DescribeGroups v{version}");
        assert_eq!(described.group_state.as_str(), "Stable");
        assert_eq!(described.protocol_data.as_str(), "range");
        assert_eq!(described.members.len(), 1);
        assert_eq!(described.members[0].member_id.as_str(), member);
        assert_eq!(described.members[0].member_assignment.as_ref(), b"assigned");
        let unknown = &response.groups[1];
        assert_eq!(unknown.group_state.as_str(), "Dead");
        if version >= 6 {
            assert_eq!(unknown.error_code, 69, "GROUP_ID_NOT_FOUND");
            assert_eq!(
                unknown.error_message.as_ref().unwrap().as_str(),
                format!("Group {nobody} not found.")
            );
        } else {
            assert_eq!(unknown.error_code, NONE, "v{version}");
        }
    }
    // ListGroups on the coordinator: the group, with (v4+) its state and
    // (v5+) its type.
    for version in versions_of(ApiKey::ListGroups) {
        let response = client.send(&ListGroupsRequest::default(), version);
        assert_eq!(response.error_code, NONE, "ListGroups v{version}");
        let listed = response
            .groups
            .iter()
            .find(|listed| listed.group_id.0.as_str() == group)
            .unwrap_or_else(|| panic!("ListGroups v{version}: {:?}", response.groups));
        assert_eq!(listed.protocol_type.as_str(), "consumer");
        if version >= 4 {
            assert_eq!(listed.group_state.as_str(), "Stable");
        }
        if version >= 5 {
            assert_eq!(listed.group_type.as_str(), "classic");
        }
    }
    // LeaveGroup in every version: each a member of its own group.
    for version in versions_of(ApiKey::LeaveGroup) {
        let group = format!("leave-v{version}");
        let mut client = broker.client(coordinator_of(&broker, &group));
        let (member, _) = join_and_sync(&mut client, &group, 5, 3);
        leave(&mut client, &group, &member, version);
        let response = client.send(
            &DescribeGroupsRequest::default().with_groups(vec![GroupId(text(&group))]),
            5,
        );
        assert_eq!(
            response.groups[0].group_state.as_str(),
            "Empty",
            "LeaveGroup v{version}"
        );
    }
}

/// OffsetCommit and OffsetFetch in every version (v0-v1 and OffsetFetch v0
/// by hand), DeleteGroups and OffsetDelete in every version.
#[test]
fn offset_apis_in_every_version() {
    use kafka_protocol::messages::offset_commit_request::{
        OffsetCommitRequestPartition, OffsetCommitRequestTopic,
    };
    use kafka_protocol::messages::offset_delete_request::{
        OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
    };
    use kafka_protocol::messages::offset_fetch_request::{
        OffsetFetchRequestGroup, OffsetFetchRequestTopics,
    };
    let broker = Broker::start_with(2, &["--group-initial-rebalance-delay-ms", "0"]);
    assert_eq!(create_topic(&mut broker.client(0), "t", 10, &[]), NONE);
    // Each OffsetCommit version commits partition `version` of its own
    // simple group (generation -1) and of a shared one.
    let shared = "offsets-shared";
    for version in versions_of(ApiKey::OffsetCommit) {
        let partition = i32::from(version);
        let offset = 100 + i64::from(version);
        let metadata = format!("m{version}");
        for group in [format!("offsets-v{version}"), shared.to_string()] {
            let mut client = broker.client(coordinator_of(&broker, &group));
            if version <= 1 {
                let answers = commit_legacy(
                    &mut client,
                    version,
                    &group,
                    None,
                    "t",
                    &[(partition, offset, -1, Some(&metadata))],
                );
                assert_eq!(answers, vec![(partition, NONE)], "OffsetCommit v{version}");
                continue;
            }
            let mut request = OffsetCommitRequest::default()
                .with_group_id(GroupId(text(&group)))
                .with_generation_id_or_member_epoch(-1)
                .with_topics(vec![OffsetCommitRequestTopic::default()
                    .with_name(name("t"))
                    .with_partitions(vec![OffsetCommitRequestPartition::default()
                        .with_partition_index(partition)
                        .with_committed_offset(offset)
                        .with_committed_metadata(Some(text(&metadata)))])]);
            if version <= 4 {
                request.retention_time_ms = -1;
            }
            let response = client.send(&request, version);
            let answer = &response.topics[0].partitions[0];
            assert_eq!(
                (answer.partition_index, answer.error_code),
                (partition, NONE),
                "OffsetCommit v{version}"
            );
        }
    }
    // A member commit to a group that does not exist: ILLEGAL_GENERATION
    // before v9, GROUP_ID_NOT_FOUND from v9.
    for (version, expected) in [(8, ILLEGAL_GENERATION), (9, 69)] {
        let group = format!("never-joined-{version}");
        let mut client = broker.client(coordinator_of(&broker, &group));
        let response = client.send(
            &OffsetCommitRequest::default()
                .with_group_id(GroupId(text(&group)))
                .with_generation_id_or_member_epoch(3)
                .with_member_id(text("someone"))
                .with_topics(vec![OffsetCommitRequestTopic::default()
                    .with_name(name("t"))
                    .with_partitions(vec![OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(1)])]),
            version,
        );
        assert_eq!(
            response.topics[0].partitions[0].error_code, expected,
            "v{version}"
        );
    }

    // OffsetFetch in every version reads back every commit of the shared
    // group; partition 0..=9 committed by OffsetCommit v0..=v9.
    let committed: Vec<i32> = versions_of(ApiKey::OffsetCommit).map(i32::from).collect();
    let expected: Vec<(i32, i64, String, i16)> = committed
        .iter()
        .map(|&partition| {
            (
                partition,
                100 + i64::from(partition),
                format!("m{partition}"),
                NONE,
            )
        })
        .collect();
    let mut client = broker.client(coordinator_of(&broker, shared));
    for version in versions_of(ApiKey::OffsetFetch) {
        let found: Vec<(i32, i64, String, i16)> = if version == 0 {
            fetch_offsets_v0(&mut client, shared, "t", &committed)
        } else if version >= 8 {
            let mut group = OffsetFetchRequestGroup::default()
                .with_group_id(GroupId(text(shared)))
                .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                    .with_name(name("t"))
                    .with_partition_indexes(committed.clone())]));
            if version >= 9 {
                group.member_id = None;
                group.member_epoch = -1;
            }
            let response = client.send(
                &OffsetFetchRequest::default().with_groups(vec![group]),
                version,
            );
            assert_eq!(response.groups[0].error_code, NONE);
            response.groups[0].topics[0]
                .partitions
                .iter()
                .map(|partition| {
                    (
                        partition.partition_index,
                        partition.committed_offset,
                        partition.metadata.as_ref().unwrap().to_string(),
                        partition.error_code,
                    )
                })
                .collect()
        } else {
            use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
            let response = client.send(
                &OffsetFetchRequest::default()
                    .with_group_id(GroupId(text(shared)))
                    .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                        .with_name(name("t"))
                        .with_partition_indexes(committed.clone())])),
                version,
            );
            assert_eq!(response.error_code, NONE);
            response.topics[0]
                .partitions
                .iter()
                .map(|partition| {
                    (
                        partition.partition_index,
                        partition.committed_offset,
                        partition.metadata.as_ref().unwrap().to_string(),
                        partition.error_code,
                    )
                })
                .collect()
        };
        assert_eq!(found, expected, "OffsetFetch v{version}");
    }

    // OffsetDelete v0: partition 0's offset goes, the others stay.
    for version in versions_of(ApiKey::OffsetDelete) {
        let response = client.send(
            &OffsetDeleteRequest::default()
                .with_group_id(GroupId(text(shared)))
                .with_topics(vec![OffsetDeleteRequestTopic::default()
                    .with_name(name("t"))
                    .with_partitions(vec![
                        OffsetDeleteRequestPartition::default().with_partition_index(0)
                    ])]),
            version,
        );
        assert_eq!(response.error_code, NONE, "OffsetDelete v{version}");
        assert_eq!(response.topics[0].partitions[0].error_code, NONE);
        assert_eq!(fetch_offsets_v1(&mut client, shared, "t", &[0, 1])[0].1, -1);
    }
    // DeleteGroups in every version: each deletes one of the simple groups.
    for version in versions_of(ApiKey::DeleteGroups) {
        let group = format!("offsets-v{version}");
        let mut client = broker.client(coordinator_of(&broker, &group));
        let response = client.send(
            &DeleteGroupsRequest::default().with_groups_names(vec![GroupId(text(&group))]),
            version,
        );
        assert_eq!(
            response.results[0].error_code, NONE,
            "DeleteGroups v{version}"
        );
        let partition = i32::from(version);
        assert_eq!(
            fetch_offsets_v1(&mut client, &group, "t", &[partition])[0].1,
            -1,
            "DeleteGroups v{version} removed the offsets"
        );
    }
}

/// CreateTopics v0-v1 by hand: (name, partitions, configs); returns
/// (error code, error message for v1).
fn create_topic_legacy(
    client: &mut Client,
    version: i16,
    topic: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) -> (i16, Option<String>) {
    let mut body = BytesMut::new();
    body.put_i32(1);
    put_string(&mut body, topic);
    body.put_i32(partitions);
    body.put_i16(1);
    body.put_i32(0); // no assignments
    body.put_i32(configs.len() as i32);
    for (key, value) in configs {
        put_string(&mut body, key);
        put_string(&mut body, value);
    }
    body.put_i32(5000); // timeout
    if version >= 1 {
        body.put_u8(0); // validate_only
    }
    let mut response = send_raw(client, ApiKey::CreateTopics, version, &body);
    assert_eq!(response.get_i32(), 1);
    assert_eq!(get_string(&mut response), topic);
    let code = response.get_i16();
    let message = if version >= 1 {
        get_nullable_string(&mut response)
    } else {
        None
    };
    assert!(!response.has_remaining(), "nothing after the body");
    (code, message)
}

/// The admin APIs in every version: CreateTopics, CreatePartitions,
/// DescribeConfigs, AlterConfigs, IncrementalAlterConfigs, DeleteRecords,
/// InitProducerId, DeleteTopics.
#[test]
fn admin_apis_in_every_version() {
    use kafka_protocol::messages::alter_configs_request::{AlterConfigsResource, AlterableConfig};
    use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
    use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
    use kafka_protocol::messages::delete_records_request::{
        DeleteRecordsPartition, DeleteRecordsTopic,
    };
    use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
    use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
    use kafka_protocol::messages::incremental_alter_configs_request::{
        AlterConfigsResource as IncrementalResource, AlterableConfig as IncrementalConfig,
    };
    use kafka_protocol::records::Compression;
    let broker = Broker::start(1);
    let mut client = broker.client(0);

    // CreateTopics: topic `created-vN` with 2 partitions and a config; a
    // second creation is refused (with a message from v1).
    for version in versions_of(ApiKey::CreateTopics) {
        let topic = format!("created-v{version}");
        if version <= 1 {
            let (code, _) = create_topic_legacy(
                &mut client,
                version,
                &topic,
                2,
                &[("retention.ms", "3600000")],
            );
            assert_eq!(code, NONE, "CreateTopics v{version}");
            let (code, message) = create_topic_legacy(&mut client, version, &topic, 2, &[]);
            assert_eq!(code, 36, "TOPIC_ALREADY_EXISTS at v{version}");
            if version == 1 {
                assert!(message.unwrap().contains("already exists"));
            }
        } else {
            let request = CreateTopicsRequest::default()
                .with_timeout_ms(5000)
                .with_topics(vec![CreatableTopic::default()
                    .with_name(name(&topic))
                    .with_num_partitions(2)
                    .with_replication_factor(1)
                    .with_configs(vec![CreatableTopicConfig::default()
                        .with_name(text("retention.ms"))
                        .with_value(Some(text("3600000")))])]);
            let response = client.send(&request, version);
            let created = &response.topics[0];
            assert_eq!(created.error_code, NONE, "CreateTopics v{version}");
            if version >= 5 {
                assert_eq!(created.num_partitions, 2);
                assert!(created.configs.as_ref().unwrap().iter().any(|config| {
                    config.name.as_str() == "retention.ms"
                        && config.value.as_ref().unwrap().as_str() == "3600000"
                }));
            }
            if version >= 7 {
                assert_eq!(created.topic_id, topic_id_of(&mut client, &topic).0);
            }
        }
        assert_eq!(
            topic_id_of(&mut client, &topic).1,
            2,
            "CreateTopics v{version}"
        );
    }

    // CreatePartitions: each version grows its own topic to 3.
    for version in versions_of(ApiKey::CreatePartitions) {
        let topic = format!("created-v{version}");
        let response = client.send(
            &CreatePartitionsRequest::default()
                .with_timeout_ms(5000)
                .with_topics(vec![CreatePartitionsTopic::default()
                    .with_name(name(&topic))
                    .with_count(3)]),
            version,
        );
        assert_eq!(
            response.results[0].error_code, NONE,
            "CreatePartitions v{version}"
        );
        assert_eq!(
            topic_id_of(&mut client, &topic).1,
            3,
            "CreatePartitions v{version}"
        );
    }

    // DescribeConfigs: the topic's own retention.ms and a default.
    for version in versions_of(ApiKey::DescribeConfigs) {
        let keys = ["retention.ms", "segment.jitter.ms"];
        let configs: Vec<(String, String, bool)> = if version == 0 {
            let mut body = BytesMut::new();
            body.put_i32(1);
            body.put_i8(2);
            put_string(&mut body, "created-v0");
            body.put_i32(keys.len() as i32);
            for key in keys {
                put_string(&mut body, key);
            }
            let mut response = send_raw(&mut client, ApiKey::DescribeConfigs, 0, &body);
            let _throttle = response.get_i32();
            assert_eq!(response.get_i32(), 1);
            assert_eq!(response.get_i16(), NONE);
            let _message = get_nullable_string(&mut response);
            assert_eq!(response.get_i8(), 2);
            assert_eq!(get_string(&mut response), "created-v0");
            let count = response.get_i32();
            let configs = (0..count)
                .map(|_| {
                    let name = get_string(&mut response);
                    let value = get_nullable_string(&mut response).unwrap();
                    let _read_only = response.get_u8();
                    let is_default = response.get_u8() == 1;
                    let _sensitive = response.get_u8();
                    (name, value, is_default)
                })
                .collect();
            assert!(!response.has_remaining());
            configs
        } else {
            let response = client.send(
                &DescribeConfigsRequest::default()
                    .with_include_synonyms(true)
                    .with_resources(vec![DescribeConfigsResource::default()
                        .with_resource_type(2)
                        .with_resource_name(text("created-v0"))
                        .with_configuration_keys(Some(
                            keys.iter().map(|key| text(key)).collect(),
                        ))]),
                version,
            );
            assert_eq!(response.results[0].error_code, NONE);
            response.results[0]
                .configs
                .iter()
                .map(|config| {
                    assert!(!config.synonyms.is_empty(), "v{version} synonyms");
                    (
                        config.name.to_string(),
                        config.value.as_ref().unwrap().to_string(),
                        config.config_source == 5,
                    )
                })
                .collect()
        };
        assert_eq!(
            configs,
            vec![
                ("retention.ms".to_string(), "3600000".to_string(), false),
                ("segment.jitter.ms".to_string(), "0".to_string(), true),
            ],
            "DescribeConfigs v{version}"
        );
    }

    // AlterConfigs and IncrementalAlterConfigs set retention.bytes.
    let retention_bytes = |client: &mut Client, topic: &str| {
        let response = client.send(
            &DescribeConfigsRequest::default().with_resources(vec![
                DescribeConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(text(topic))
                    .with_configuration_keys(Some(vec![text("retention.bytes")])),
            ]),
            4,
        );
        response.results[0].configs[0]
            .value
            .as_ref()
            .unwrap()
            .to_string()
    };
    for version in versions_of(ApiKey::AlterConfigs) {
        let value = format!("{}", 1_000_000 + i64::from(version));
        let response = client.send(
            &AlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(text("created-v1"))
                .with_configs(vec![AlterableConfig::default()
                    .with_name(text("retention.bytes"))
                    .with_value(Some(text(&value)))])]),
            version,
        );
        assert_eq!(
            response.responses[0].error_code, NONE,
            "AlterConfigs v{version}"
        );
        assert_eq!(retention_bytes(&mut client, "created-v1"), value);
    }
    for version in versions_of(ApiKey::IncrementalAlterConfigs) {
        let value = format!("{}", 2_000_000 + i64::from(version));
        let response = client.send(
            &IncrementalAlterConfigsRequest::default().with_resources(vec![
                IncrementalResource::default()
                    .with_resource_type(2)
                    .with_resource_name(text("created-v2"))
                    .with_configs(vec![IncrementalConfig::default()
                        .with_name(text("retention.bytes"))
                        .with_config_operation(0)
                        .with_value(Some(text(&value)))]),
            ]),
            version,
        );
        assert_eq!(
            response.responses[0].error_code, NONE,
            "IncrementalAlterConfigs v{version}"
        );
        assert_eq!(retention_bytes(&mut client, "created-v2"), value);
    }

    // DeleteRecords: each version moves partition 0 of its topic past 2 of
    // its 3 records.
    for version in versions_of(ApiKey::DeleteRecords) {
        let topic = format!("created-v{version}");
        let records = common::batch(
            &[(None, "a"), (None, "b"), (None, "c")],
            1_700_000_000_000,
            Compression::None,
        );
        assert_eq!(
            common::produce(&mut client, &topic, 0, records, 9, -1),
            (NONE, 0)
        );
        let response = client.send(
            &DeleteRecordsRequest::default()
                .with_timeout_ms(5000)
                .with_topics(vec![DeleteRecordsTopic::default()
                    .with_name(name(&topic))
                    .with_partitions(vec![DeleteRecordsPartition::default()
                        .with_partition_index(0)
                        .with_offset(2)])]),
            version,
        );
        let result = &response.topics[0].partitions[0];
        assert_eq!(
            (result.error_code, result.low_watermark),
            (NONE, 2),
            "DeleteRecords v{version}"
        );
    }

    // InitProducerId: an idempotent producer's id and epoch 0.
    for version in versions_of(ApiKey::InitProducerId) {
        let mut request = InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60_000);
        if version >= 3 {
            request.producer_id = ProducerId(-1);
            request.producer_epoch = -1;
        }
        let response = client.send(&request, version);
        assert_eq!(response.error_code, NONE, "InitProducerId v{version}");
        assert!(response.producer_id.0 >= 0);
        assert_eq!(response.producer_epoch, 0);
    }

    // DeleteTopics: v0 by hand, v1-v5 by name, v6 by id.
    for version in versions_of(ApiKey::DeleteTopics) {
        let topic = format!("created-v{version}");
        if version == 0 {
            let mut body = BytesMut::new();
            body.put_i32(1);
            put_string(&mut body, &topic);
            body.put_i32(5000);
            let mut response = send_raw(&mut client, ApiKey::DeleteTopics, 0, &body);
            assert_eq!(response.get_i32(), 1);
            assert_eq!(get_string(&mut response), topic);
            assert_eq!(response.get_i16(), NONE, "DeleteTopics v0");
            assert!(!response.has_remaining());
        } else {
            let mut request = DeleteTopicsRequest::default().with_timeout_ms(5000);
            if version >= 6 {
                let (topic_id, _) = topic_id_of(&mut client, &topic);
                request.topics = vec![DeleteTopicState::default()
                    .with_name(None)
                    .with_topic_id(topic_id)];
            } else {
                request.topic_names = vec![name(&topic)];
            }
            let response = client.send(&request, version);
            assert_eq!(
                response.responses[0].error_code, NONE,
                "DeleteTopics v{version}"
            );
        }
        let gone = client.send(
            &MetadataRequest::default()
                .with_topics(Some(vec![
                    kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
                        .with_name(Some(name(&topic))),
                ]))
                .with_allow_auto_topic_creation(false),
            4,
        );
        assert_eq!(gone.topics[0].error_code, 3, "DeleteTopics v{version}");
    }
}
