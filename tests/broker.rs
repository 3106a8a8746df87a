//! Integration tests: the real broker, driven over loopback by a Rust client.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{
    batch, create_topic, decode_records, fetch, fetch_request, leaders, name, produce, Broker,
    Client,
};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::records::Compression;

#[test]
fn api_versions_advertises_apis_and_answers_a_future_version_in_v0() {
    let broker = Broker::start(1);
    let mut client = broker.client(0);
    for version in 0..=3 {
        let response = client.send(&ApiVersionsRequest::default(), version);
        assert_eq!(response.error_code, 0);
        let produce = response
            .api_keys
            .iter()
            .find(|key| key.api_key == 0)
            .expect("Produce advertised");
        assert_eq!((produce.min_version, produce.max_version), (0, 13));
    }
    // A version from the future: header v2 framing, body answered as v0.
    let frame = common::encode_request(&ApiVersionsRequest::default(), 3, 77);
    let mut patched = frame.to_vec();
    patched[6..8].copy_from_slice(&99i16.to_be_bytes());
    client.stream.write_all(&patched).unwrap();
    let mut body = client.read_frame().unwrap();
    use kafka_protocol::protocol::Decodable;
    let header = ResponseHeader::decode(&mut body, 0).unwrap();
    assert_eq!(header.correlation_id, 77);
    let response = ApiVersionsResponse::decode(&mut body, 0).unwrap();
    assert_eq!(response.error_code, 35, "UNSUPPORTED_VERSION");
    assert!(response.api_keys.iter().any(|key| key.api_key == 18));
}

#[test]
fn produce_and_fetch_round_trip_on_every_shard_across_versions() {
    let broker = Broker::start(2);
    let mut admin = broker.client(1);
    assert_eq!(create_topic(&mut admin, "orders", 2, &[]), 0);
    let placement = leaders(&mut admin, "orders");
    assert_eq!(placement, vec![0, 1], "partitions spread over both shards");
    for (partition, &leader) in placement.iter().enumerate() {
        let partition = partition as i32;
        let mut client = broker.client(leader as usize);
        let mut expected = Vec::new();
        for (round, version) in [3i16, 7, 9].into_iter().enumerate() {
            let values: Vec<String> = (0..3)
                .map(|index| format!("p{partition}-v{version}-{index}"))
                .collect();
            let records: Vec<(Option<&str>, &str)> = values
                .iter()
                .map(|value| (Some("key"), value.as_str()))
                .collect();
            let compression = if round == 1 {
                Compression::Gzip
            } else {
                Compression::None
            };
            let (error, base_offset) = produce(
                &mut client,
                "orders",
                partition,
                batch(&records, 1_000, compression),
                version,
                -1,
            );
            assert_eq!(error, 0);
            assert_eq!(
                base_offset,
                (round * 3) as i64,
                "offsets are assigned by the broker"
            );
            expected.extend(values);
        }
        for version in [4i16, 11, 12] {
            let (error, bytes, high_watermark) =
                fetch(&mut client, "orders", partition, 0, version);
            assert_eq!(error, 0);
            assert_eq!(high_watermark, 9);
            let records = decode_records(&bytes);
            let values: Vec<String> = records
                .iter()
                .map(|record| String::from_utf8(record.value.clone().unwrap().to_vec()).unwrap())
                .collect();
            assert_eq!(values, expected, "fetch v{version}");
            let offsets: Vec<i64> = records.iter().map(|record| record.offset).collect();
            assert_eq!(offsets, (0..9).collect::<Vec<_>>());
        }
        // An offset inside a batch returns that whole batch.
        let (_, bytes, _) = fetch(&mut client, "orders", partition, 4, 12);
        assert_eq!(
            i64::from_be_bytes(bytes[0..8].try_into().unwrap()),
            3,
            "base offset of the batch holding 4"
        );
        assert_eq!(decode_records(&bytes).first().unwrap().offset, 3);
        assert_eq!(decode_records(&bytes).len(), 6);
        // At the end: empty (not null) records.
        let (error, bytes, _) = fetch(&mut client, "orders", partition, 9, 12);
        assert_eq!((error, bytes.len()), (0, 0));
        let (error, _, _) = fetch(&mut client, "orders", partition, 10, 12);
        assert_eq!(error, 1, "OFFSET_OUT_OF_RANGE past the end");
    }
}

#[test]
fn a_partition_led_by_another_shard_answers_not_leader() {
    let broker = Broker::start(2);
    let mut client = broker.client(0);
    assert_eq!(create_topic(&mut client, "split", 2, &[]), 0);
    let placement = leaders(&mut client, "split");
    let elsewhere = placement.iter().position(|&leader| leader != 0).unwrap() as i32;
    let (error, _) = produce(
        &mut client,
        "split",
        elsewhere,
        batch(&[(None, "x")], 1, Compression::None),
        9,
        1,
    );
    assert_eq!(error, 6, "NOT_LEADER_OR_FOLLOWER");
    let (error, _, _) = fetch(&mut client, "split", elsewhere, 0, 12);
    assert_eq!(error, 6);
    let (error, _) = produce(
        &mut client,
        "no-such-topic",
        0,
        batch(&[(None, "x")], 1, Compression::None),
        9,
        1,
    );
    assert_eq!(error, 3, "UNKNOWN_TOPIC_OR_PARTITION");
}

#[test]
fn bad_input_gets_kafka_errors_or_a_closed_connection_and_the_broker_keeps_serving() {
    let mut broker = Broker::start_with(
        1,
        &[
            "--socket-request-max-bytes",
            "1048576",
            "--message-max-bytes",
            "1000",
        ],
    );
    let mut client = broker.client(0);
    assert_eq!(create_topic(&mut client, "checked", 1, &[]), 0);

    // A wrong CRC: CORRUPT_MESSAGE, and the connection stays usable.
    let mut damaged = batch(&[(None, "payload")], 1, Compression::None).to_vec();
    let last = damaged.len() - 1;
    damaged[last] ^= 0xff;
    assert_eq!(
        produce(&mut client, "checked", 0, Bytes::from(damaged), 9, -1).0,
        2
    );
    // A batch over max.message.bytes: MESSAGE_TOO_LARGE.
    let big = "x".repeat(2000);
    assert_eq!(
        produce(
            &mut client,
            "checked",
            0,
            batch(&[(None, big.as_str())], 1, Compression::None),
            9,
            -1
        )
        .0,
        10
    );
    // Truncated batch bytes: CORRUPT_MESSAGE.
    let whole = batch(&[(None, "abc")], 1, Compression::None);
    assert_eq!(
        produce(
            &mut client,
            "checked",
            0,
            whole.slice(..whole.len() - 3),
            9,
            -1
        )
        .0,
        2
    );
    // Invalid acks.
    assert_eq!(
        produce(&mut client, "checked", 0, whole.clone(), 9, 5).0,
        21
    );
    // Nothing of the refused batches reached the log.
    assert_eq!(produce(&mut client, "checked", 0, whole, 9, -1), (0, 0));

    // A length prefix over the limit: closed before reading the body.
    let mut oversized = broker.client(0);
    oversized
        .stream
        .write_all(&(2 * 1024 * 1024i32).to_be_bytes())
        .unwrap();
    assert!(oversized.closed_by_broker());
    // Garbage after a valid header.
    let mut garbage = broker.client(0);
    let mut frame = common::encode_request(&MetadataRequest::default(), 9, 1).to_vec();
    frame.truncate(4 + 8 + 2 + 12);
    frame.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef, 0xff, 0xff, 0xff]);
    let length = (frame.len() - 4) as i32;
    frame[..4].copy_from_slice(&length.to_be_bytes());
    garbage.stream.write_all(&frame).unwrap();
    assert!(garbage.closed_by_broker());
    // An unknown API key.
    let mut unknown = broker.client(0);
    let mut frame = common::encode_request(&ApiVersionsRequest::default(), 0, 1).to_vec();
    frame[4..6].copy_from_slice(&999i16.to_be_bytes());
    unknown.stream.write_all(&frame).unwrap();
    assert!(unknown.closed_by_broker());
    // A client that vanishes mid-frame.
    {
        let mut vanishing = broker.client(0);
        vanishing.stream.write_all(&100i32.to_be_bytes()).unwrap();
        vanishing.stream.write_all(&[0, 3]).unwrap();
    }

    // Everything else keeps working, on old and new connections.
    let (error, base_offset) = produce(
        &mut client,
        "checked",
        0,
        batch(&[(None, "after")], 1, Compression::None),
        9,
        -1,
    );
    assert_eq!((error, base_offset), (0, 1));
    let mut fresh = broker.client(0);
    assert_eq!(fetch(&mut fresh, "checked", 0, 0, 12).2, 2);
    assert!(broker.is_running());
    let log = broker.log();
    assert!(
        log.contains("socket.request.max.bytes"),
        "oversized frame logged: {log}"
    );
    assert!(
        log.contains("unknown API key 999"),
        "unknown key logged: {log}"
    );
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn records_survive_a_restart_at_the_same_offsets_with_the_same_bytes() {
    let mut broker = Broker::start(2);
    let mut client = broker.client(0);
    assert_eq!(
        create_topic(&mut client, "durable", 2, &[("segment.bytes", "8192")]),
        0
    );
    let placement = leaders(&mut client, "durable");
    let mut before = Vec::new();
    for (partition, &leader) in placement.iter().enumerate() {
        let mut client = broker.client(leader as usize);
        for round in 0..40 {
            let value = format!("{partition}-{round}-{}", "y".repeat(300));
            produce(
                &mut client,
                "durable",
                partition as i32,
                batch(&[(Some("k"), value.as_str())], 1, Compression::None),
                9,
                -1,
            );
        }
        let (_, bytes, high_watermark) = fetch(&mut client, "durable", partition as i32, 0, 12);
        assert_eq!(high_watermark, 40);
        before.push(bytes);
    }
    let partition_dir = broker.data_dir().join("durable-0");
    assert!(
        common::segment_files(&partition_dir).len() > 1,
        "segment.bytes=8192 rolled segments"
    );
    assert!(partition_dir.join("00000000000000000000.index").exists());

    broker.restart();
    let mut client = broker.client(0);
    assert_eq!(
        leaders(&mut client, "durable"),
        placement,
        "placement persisted"
    );
    for (partition, &leader) in placement.iter().enumerate() {
        let mut client = broker.client(leader as usize);
        let mut all = Vec::new();
        let mut offset = 0;
        while offset < 40 {
            let (error, bytes, high_watermark) =
                fetch(&mut client, "durable", partition as i32, offset, 12);
            assert_eq!((error, high_watermark), (0, 40));
            let records = decode_records(&bytes);
            offset = records.last().unwrap().offset + 1;
            all.extend(records);
        }
        let before_records = decode_records(&before[partition]);
        assert_eq!(
            all[..before_records.len()]
                .iter()
                .map(|r| (r.offset, r.value.clone()))
                .collect::<Vec<_>>(),
            before_records
                .iter()
                .map(|r| (r.offset, r.value.clone()))
                .collect::<Vec<_>>()
        );
        assert_eq!(all.len(), 40);
        // Appends continue after the restored end.
        assert_eq!(
            produce(
                &mut client,
                "durable",
                partition as i32,
                batch(&[(None, "next")], 1, Compression::None),
                9,
                -1
            ),
            (0, 40)
        );
    }
    // Same bytes: the first fetch after restart (from the first segment
    // file) is the start of the one before (from the tail cache, which is
    // not cut at segment ends).
    let (_, bytes, _) = fetch(
        &mut broker.client(placement[0] as usize),
        "durable",
        0,
        0,
        12,
    );
    assert!(!bytes.is_empty() && bytes.len() < before[0].len());
    assert!(before[0].starts_with(&bytes));
}

#[test]
fn long_poll_waits_for_data_and_wakes_on_append() {
    let broker = Broker::start(1);
    let mut client = broker.client(0);
    assert_eq!(create_topic(&mut client, "waiting", 1, &[]), 0);
    let started = Instant::now();
    let response = client.send(&fetch_request("waiting", 0, 0, 400, 1), 12);
    assert!(
        started.elapsed() >= Duration::from_millis(350),
        "waited max_wait_ms"
    );
    assert_eq!(
        response.responses[0].partitions[0]
            .records
            .as_ref()
            .unwrap()
            .len(),
        0
    );

    let port = broker.ports[0];
    let producer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        let mut client = Client::connect(port);
        produce(
            &mut client,
            "waiting",
            0,
            batch(&[(None, "wake")], 1, Compression::None),
            9,
            1,
        )
    });
    let started = Instant::now();
    let response = client.send(&fetch_request("waiting", 0, 0, 10_000, 1), 12);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "woken by the append, not the timeout"
    );
    assert_eq!(
        decode_records(
            response.responses[0].partitions[0]
                .records
                .as_ref()
                .unwrap()
        )
        .len(),
        1
    );
    assert_eq!(producer.join().unwrap().0, 0);
}

#[test]
fn list_offsets_earliest_latest_and_by_timestamp() {
    let broker = Broker::start(1);
    let mut client = broker.client(0);
    assert_eq!(create_topic(&mut client, "timed", 1, &[]), 0);
    produce(
        &mut client,
        "timed",
        0,
        batch(&[(None, "a"), (None, "b")], 1_000, Compression::None),
        9,
        -1,
    );
    produce(
        &mut client,
        "timed",
        0,
        batch(&[(None, "c"), (None, "d")], 5_000, Compression::Gzip),
        9,
        -1,
    );
    let query = |client: &mut Client, timestamp: i64, version: i16| {
        let request = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(name("timed"))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(0)
                    .with_timestamp(timestamp)])]);
        let response = client.send(&request, version);
        let answer = &response.topics[0].partitions[0];
        (answer.error_code, answer.offset)
    };
    for version in [1i16, 3, 6] {
        assert_eq!(query(&mut client, -2, version), (0, 0));
        assert_eq!(query(&mut client, -1, version), (0, 4));
        assert_eq!(query(&mut client, 1_001, version), (0, 1));
        assert_eq!(
            query(&mut client, 5_001, version),
            (0, 3),
            "inside a compressed batch"
        );
        assert_eq!(query(&mut client, 9_999, version), (0, -1));
    }
}

#[test]
fn log_append_time_topics_stamp_batches_with_the_broker_clock() {
    let broker = Broker::start(1);
    let mut client = broker.client(0);
    assert_eq!(
        create_topic(
            &mut client,
            "stamped",
            1,
            &[("message.timestamp.type", "LogAppendTime")]
        ),
        0
    );
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(name("stamped"))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch(&[(None, "v")], 1, Compression::None)))])]);
    let response = client.send(&request, 9);
    let append_time = response.responses[0].partition_responses[0].log_append_time_ms;
    assert!(
        append_time > 1_600_000_000_000,
        "log_append_time_ms set: {append_time}"
    );
    let (_, bytes, _) = fetch(&mut client, "stamped", 0, 0, 12);
    // The batch header carries the append time and the LogAppendTime flag
    // (attributes bit 3); clients take every record's timestamp from it.
    let max_timestamp = i64::from_be_bytes(bytes[35..43].try_into().unwrap());
    assert_eq!(max_timestamp, append_time);
    let attributes = i16::from_be_bytes(bytes[21..23].try_into().unwrap());
    assert_ne!(attributes & 0x08, 0, "timestamp type flag");
    let records = decode_records(&bytes);
    assert_eq!(
        records[0].timestamp_type,
        kafka_protocol::records::TimestampType::LogAppend
    );
}

#[test]
fn topic_admin_create_validate_delete_and_add_partitions_on_every_shard() {
    let broker = Broker::start(2);
    let mut client = broker.client(1);
    assert_eq!(create_topic(&mut client, "admin", 1, &[]), 0);
    assert_eq!(
        create_topic(&mut client, "admin", 1, &[]),
        36,
        "TOPIC_ALREADY_EXISTS"
    );
    assert_eq!(
        create_topic(&mut client, "bad/name", 1, &[]),
        17,
        "INVALID_TOPIC_EXCEPTION"
    );
    assert_eq!(
        create_topic(&mut client, "badconf", 1, &[("retention.ms", "soon")]),
        40,
        "INVALID_CONFIG"
    );
    // Replication factor 3 on one node.
    let request = CreateTopicsRequest::default().with_topics(vec![CreatableTopic::default()
        .with_name(name("rf3"))
        .with_num_partitions(1)
        .with_replication_factor(3)]);
    assert_eq!(client.send(&request, 4).topics[0].error_code, 38);
    // Validate-only creates nothing; -1 partitions uses num.partitions.
    let request = CreateTopicsRequest::default()
        .with_validate_only(true)
        .with_topics(vec![CreatableTopic::default()
            .with_name(name("dry"))
            .with_num_partitions(-1)
            .with_replication_factor(-1)]);
    let response = client.send(&request, 7);
    assert_eq!(
        (
            response.topics[0].error_code,
            response.topics[0].num_partitions
        ),
        (0, 1)
    );
    assert_eq!(leaders(&mut client, "dry").len(), 0);

    let request = CreatePartitionsRequest::default().with_topics(vec![
        create_partitions_request::CreatePartitionsTopic::default()
            .with_name(name("admin"))
            .with_count(3),
    ]);
    assert_eq!(client.send(&request, 3).results[0].error_code, 0);
    // Visible on the other node at once, and each new partition works.
    let mut other = broker.client(0);
    let placement = leaders(&mut other, "admin");
    assert_eq!(placement.len(), 3);
    for (partition, &leader) in placement.iter().enumerate() {
        let mut owner = broker.client(leader as usize);
        assert_eq!(
            produce(
                &mut owner,
                "admin",
                partition as i32,
                batch(&[(None, "x")], 1, Compression::None),
                9,
                1
            ),
            (0, 0)
        );
    }
    let request =
        DeleteTopicsRequest::default().with_topic_names(vec![name("admin"), name("ghost")]);
    let response = client.send(&request, 4);
    assert_eq!(
        response
            .responses
            .iter()
            .map(|r| r.error_code)
            .collect::<Vec<_>>(),
        vec![0, 3]
    );
    assert!(
        !broker.data_dir().join("admin-0").exists(),
        "partition files removed"
    );
    assert_eq!(
        produce(
            &mut other,
            "admin",
            0,
            batch(&[(None, "x")], 1, Compression::None),
            9,
            1
        )
        .0,
        3
    );
    // A topic recreated under the same name starts empty.
    assert_eq!(create_topic(&mut client, "admin", 1, &[]), 0);
    let leader = leaders(&mut client, "admin")[0] as usize;
    assert_eq!(fetch(&mut broker.client(leader), "admin", 0, 0, 12).2, 0);
}

#[test]
fn metadata_auto_creates_unknown_topics_unless_disabled() {
    let broker = Broker::start_with(2, &["--num-partitions", "3"]);
    let mut client = broker.client(0);
    for version in [1i16, 4, 9, 12] {
        let topic = format!("auto-{version}");
        let request = MetadataRequest::default()
            .with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(name(&topic)))
            ]))
            .with_allow_auto_topic_creation(true);
        let response = client.send(&request, version);
        assert_eq!(response.brokers.len(), 2, "one node per shard");
        assert_eq!(
            (
                response.topics[0].error_code,
                response.topics[0].partitions.len()
            ),
            (0, 3)
        );
    }
    let all = client.send(&MetadataRequest::default().with_topics(None), 9);
    assert_eq!(all.topics.len(), 5, "four topics and the offsets topic");
    let internal: Vec<bool> = all.topics.iter().map(|topic| topic.is_internal).collect();
    assert_eq!(internal.iter().filter(|&&flag| flag).count(), 1);
    assert!(all.topics.iter().any(|topic| topic.is_internal
        && topic.name.as_ref().unwrap().0.as_str() == "__consumer_offsets"));

    let fixed = Broker::start_with(1, &["--auto-create-topics", "false"]);
    let mut client = fixed.client(0);
    let request = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(name("nope")))
        ]))
        .with_allow_auto_topic_creation(true);
    assert_eq!(client.send(&request, 9).topics[0].error_code, 3);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let broker = Broker::start(1);
    let mut client = broker.client(0);
    assert_eq!(create_topic(&mut client, "piped", 1, &[]), 0);
    let mut frames = Vec::new();
    for correlation_id in 100..120 {
        let request = ProduceRequest::default()
            .with_acks(1)
            .with_timeout_ms(5000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(name("piped"))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(batch(&[(None, "p")], 1, Compression::None)))])]);
        frames.extend_from_slice(&common::encode_request(&request, 9, correlation_id));
    }
    client.stream.write_all(&frames).unwrap();
    use kafka_protocol::protocol::Decodable;
    for (index, correlation_id) in (100..120).enumerate() {
        let mut body = client.read_frame().unwrap();
        let header = ResponseHeader::decode(&mut body, 1).unwrap();
        assert_eq!(header.correlation_id, correlation_id);
        let response = ProduceResponse::decode(&mut body, 9).unwrap();
        assert_eq!(
            response.responses[0].partition_responses[0].base_offset,
            index as i64
        );
    }
}

/// With one replica, Kafka answers acks=1 once the high watermark covers
/// the batch: ListOffsets right after the answer sees it (kafkajs's own
/// suite relies on this). Here the high watermark is the durable offset,
/// so acks=1 waits for the group commit like acks=-1.
#[test]
fn an_answered_acks_1_produce_is_visible_at_once() {
    let broker = Broker::start(1);
    let mut client = broker.client(0);
    assert_eq!(common::create_topic(&mut client, "visible", 1, &[]), 0);
    for round in 0..20 {
        let records = common::batch(
            &[(None, "one"), (None, "two")],
            common::now_milliseconds(),
            kafka_protocol::records::Compression::None,
        );
        let (error, _) = common::produce(&mut client, "visible", 0, records, 7, 1);
        assert_eq!(error, 0);
        let latest = common::list_offset(&mut client, "visible", 0, -1);
        assert_eq!(
            latest,
            2 * (round + 1),
            "round {round}: acks=1 answered before the high watermark"
        );
    }
}

/// A successful CreateTopics, DescribeConfigs or FindCoordinator carries a
/// null error message, as Kafka's does (not ""; kafkajs's tests compare).
#[test]
fn no_error_means_a_null_error_message() {
    use kafka_protocol::messages::create_topics_request::CreatableTopic;
    use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
    use kafka_protocol::messages::{
        CreateTopicsRequest, DescribeConfigsRequest, FindCoordinatorRequest,
    };
    let broker = Broker::start(1);
    let mut client = broker.client(0);
    let created = client.send(
        &CreateTopicsRequest::default()
            .with_timeout_ms(5000)
            .with_topics(vec![CreatableTopic::default()
                .with_name(common::name("nulls"))
                .with_num_partitions(1)
                .with_replication_factor(1)]),
        5,
    );
    assert_eq!(created.topics[0].error_code, 0);
    assert_eq!(created.topics[0].error_message, None);
    let described = client.send(
        &DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(kafka_protocol::protocol::StrBytes::from_static_str("nulls"))]),
        4,
    );
    assert_eq!(described.results[0].error_code, 0);
    assert_eq!(described.results[0].error_message, None);
    let found = client.send(
        &FindCoordinatorRequest::default().with_key(
            kafka_protocol::protocol::StrBytes::from_static_str("some-group"),
        ),
        2,
    );
    assert_eq!(found.error_code, 0);
    assert_eq!(found.error_message, None);
}
