//! Retention and topic configs: `retention.bytes` and `retention.ms` delete
//! old segments in the background while produce goes on, DeleteRecords
//! moves the log start offset, ListOffsets and Fetch follow it, and
//! DescribeConfigs / AlterConfigs / IncrementalAlterConfigs read and change
//! topic configs through the controller.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{
    batch, create_topic, decode_records, fetch, list_offset, name, produce, Broker, Client,
};
use kafka_protocol::messages::alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::DescribeConfigsResult;
use kafka_protocol::messages::incremental_alter_configs_request as incremental;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;

const OFFSET_OUT_OF_RANGE: i16 = 1;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const INVALID_CONFIG: i16 = 40;
const INVALID_REQUEST: i16 = 42;

fn text(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_string())
}

fn start() -> Broker {
    Broker::start_with(1, &["--log-retention-check-interval-ms", "100"])
}

/// Bytes of the partition's segment files. Retention deletes segments
/// while this runs, so a file listed and then gone counts as nothing.
fn log_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(".log"))
        .filter_map(|entry| entry.metadata().ok())
        .map(|metadata| metadata.len())
        .sum()
}

/// One batch of `count` records of about 100 bytes each.
fn records(first: usize, count: usize, timestamp: i64) -> Bytes {
    let values: Vec<String> = (first..first + count)
        .map(|index| format!("{index:08}-{}", "x".repeat(90)))
        .collect();
    let pairs: Vec<(Option<&str>, &str)> =
        values.iter().map(|value| (None, value.as_str())).collect();
    batch(&pairs, timestamp, Compression::None)
}

fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every record value from `offset` to the end, checking offsets are
/// contiguous.
fn read_from(client: &mut Client, topic: &str, mut offset: i64) -> Vec<String> {
    let mut values = Vec::new();
    loop {
        let (code, bytes, high_watermark) = fetch(client, topic, 0, offset, 11);
        assert_eq!(code, 0);
        for record in decode_records(&bytes) {
            if record.offset >= offset {
                assert_eq!(record.offset, offset, "offsets are contiguous");
                values.push(String::from_utf8_lossy(record.value.as_ref().unwrap()).to_string());
                offset += 1;
            }
        }
        if offset >= high_watermark {
            return values;
        }
    }
}

#[test]
fn retention_bytes_bounds_the_log_under_continuous_produce() {
    let broker = start();
    let mut client = broker.client(0);
    assert_eq!(
        create_topic(
            &mut client,
            "bounded",
            1,
            &[("segment.bytes", "8192"), ("retention.bytes", "32768")]
        ),
        0
    );
    let dir = broker.data_dir().join("bounded-0");
    let now = common::now_milliseconds();
    let mut largest = 0;
    for round in 0..200 {
        assert_eq!(
            produce(
                &mut client,
                "bounded",
                0,
                records(round * 10, 10, now),
                7,
                1
            ),
            (0, round as i64 * 10)
        );
        largest = largest.max(log_bytes(&dir));
        if round % 20 == 19 {
            std::thread::sleep(Duration::from_millis(150));
        }
    }
    // A retention pass removes what is beyond the bound.
    wait_until("retention to catch up", || log_bytes(&dir) <= 32768 + 8192);
    let earliest = list_offset(&mut client, "bounded", 0, -2);
    assert!(earliest > 0, "the log start offset advanced");
    assert!(
        largest < 32768 + 8192 * 8,
        "the log never grew far past its bound ({largest} bytes)"
    );
    let (code, _, _) = fetch(&mut client, "bounded", 0, 0, 11);
    assert_eq!(
        code, OFFSET_OUT_OF_RANGE,
        "deleted records are out of range"
    );
    let values = read_from(&mut client, "bounded", earliest);
    assert_eq!(values.len() as i64, 2000 - earliest);
    assert!(values[0].starts_with(&format!("{earliest:08}")));
    assert!(broker.log().contains("beyond retention.bytes"));
}

#[test]
fn retention_ms_deletes_segments_whose_records_are_old() {
    let broker = start();
    let mut client = broker.client(0);
    assert_eq!(
        create_topic(
            &mut client,
            "aging",
            1,
            &[("segment.bytes", "4096"), ("retention.ms", "60000")]
        ),
        0
    );
    let hour_ago = common::now_milliseconds() - 3_600_000;
    for round in 0..20 {
        produce(
            &mut client,
            "aging",
            0,
            records(round * 10, 10, hour_ago),
            7,
            1,
        );
    }
    let fresh = records(200, 10, common::now_milliseconds());
    assert_eq!(produce(&mut client, "aging", 0, fresh, 7, 1).1, 200);
    wait_until("old segments to go", || {
        list_offset(&mut client, "aging", 0, -2) >= 150
    });
    assert!(broker.log().contains("older than retention.ms"));
    let earliest = list_offset(&mut client, "aging", 0, -2);
    let values = read_from(&mut client, "aging", earliest);
    assert!(values.last().unwrap().starts_with("00000209"));
}

fn delete_records(client: &mut Client, topic: &str, offset: i64, version: i16) -> (i16, i64) {
    let request = DeleteRecordsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![DeleteRecordsTopic::default()
            .with_name(name(topic))
            .with_partitions(vec![DeleteRecordsPartition::default()
                .with_partition_index(0)
                .with_offset(offset)])]);
    let response = client.send(&request, version);
    let result = &response.topics[0].partitions[0];
    (result.error_code, result.low_watermark)
}

#[test]
fn delete_records_moves_the_log_start_offset_and_it_survives_a_restart() {
    let mut broker = start();
    let mut client = broker.client(0);
    assert_eq!(
        create_topic(&mut client, "trimmed", 1, &[("segment.bytes", "4096")]),
        0
    );
    let now = common::now_milliseconds();
    for round in 0..10 {
        produce(
            &mut client,
            "trimmed",
            0,
            records(round * 10, 10, now),
            7,
            -1,
        );
    }
    assert_eq!(delete_records(&mut client, "trimmed", 55, 2), (0, 55));
    assert_eq!(
        delete_records(&mut client, "trimmed", 30, 1),
        (0, 55),
        "never moves back"
    );
    assert_eq!(
        delete_records(&mut client, "trimmed", 101, 0).0,
        OFFSET_OUT_OF_RANGE
    );
    assert_eq!(list_offset(&mut client, "trimmed", 0, -2), 55);
    assert_eq!(
        fetch(&mut client, "trimmed", 0, 54, 11).0,
        OFFSET_OUT_OF_RANGE
    );
    let values = read_from(&mut client, "trimmed", 55);
    assert_eq!(values.len(), 45);
    assert!(values[0].starts_with("00000055"));

    broker.restart();
    let mut client = broker.client(0);
    assert_eq!(list_offset(&mut client, "trimmed", 0, -2), 55);
    assert_eq!(
        delete_records(&mut client, "trimmed", -1, 2),
        (0, 100),
        "-1 means the high watermark"
    );
    assert_eq!(list_offset(&mut client, "trimmed", 0, -2), 100);
    assert_eq!(
        produce(&mut client, "trimmed", 0, records(100, 1, now), 7, -1).1,
        100
    );
    let unknown = {
        let request =
            DeleteRecordsRequest::default().with_topics(vec![DeleteRecordsTopic::default()
                .with_name(name("nope"))
                .with_partitions(vec![DeleteRecordsPartition::default().with_offset(1)])]);
        client.send(&request, 2).topics[0].partitions[0].error_code
    };
    assert_eq!(unknown, UNKNOWN_TOPIC_OR_PARTITION);
}

fn describe(
    client: &mut Client,
    resource_type: i8,
    resource: &str,
    version: i16,
) -> DescribeConfigsResult {
    let request = DescribeConfigsRequest::default()
        .with_include_synonyms(true)
        .with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(text(resource))]);
    client.send(&request, version).results.remove(0)
}

/// (value, source) of one config.
fn config_of(result: &DescribeConfigsResult, config: &str) -> (String, i8) {
    let entry = result
        .configs
        .iter()
        .find(|entry| entry.name.as_str() == config)
        .unwrap_or_else(|| panic!("{config} described"));
    (
        entry.value.as_ref().unwrap().to_string(),
        entry.config_source,
    )
}

fn incremental_alter(
    client: &mut Client,
    topic: &str,
    changes: &[(&str, i8, Option<&str>)],
) -> i16 {
    let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
        incremental::AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(text(topic))
            .with_configs(
                changes
                    .iter()
                    .map(|(key, operation, value)| {
                        incremental::AlterableConfig::default()
                            .with_name(text(key))
                            .with_config_operation(*operation)
                            .with_value(value.map(text))
                    })
                    .collect(),
            ),
    ]);
    client.send(&request, 1).responses[0].error_code
}

#[test]
fn describe_and_alter_topic_configs_take_effect_and_persist() {
    let mut broker = Broker::start_with(
        1,
        &[
            "--log-retention-check-interval-ms",
            "100",
            "--log-retention-ms",
            "86400000",
            "--min-insync-replicas",
            "2",
        ],
    );
    let mut client = broker.client(0);
    assert_eq!(
        create_topic(&mut client, "tuned", 1, &[("segment.bytes", "4096")]),
        0
    );
    assert_eq!(
        create_topic(&mut client, "strict", 1, &[("min.insync.replicas", "3")]),
        0
    );
    let strict = describe(&mut client, 2, "strict", 4);
    assert_eq!(
        config_of(&strict, "min.insync.replicas"),
        ("3".into(), 1),
        "set on the topic"
    );
    for version in [1, 2, 4] {
        let described = describe(&mut client, 2, "tuned", version);
        assert_eq!(described.error_code, 0);
        assert_eq!(
            config_of(&described, "segment.bytes"),
            ("4096".into(), 1),
            "set on the topic"
        );
        assert_eq!(
            config_of(&described, "retention.ms"),
            ("86400000".into(), 4),
            "from the broker flag"
        );
        assert_eq!(
            config_of(&described, "cleanup.policy"),
            ("delete".into(), 5),
            "Kafka's default"
        );
        assert_eq!(
            config_of(&described, "min.insync.replicas"),
            ("2".into(), 4),
            "the broker's min.insync.replicas, not Kafka's default 1"
        );
        let synonyms = &described
            .configs
            .iter()
            .find(|entry| entry.name.as_str() == "retention.ms")
            .unwrap()
            .synonyms;
        assert_eq!(synonyms[0].name.as_str(), "log.retention.ms");
    }
    assert_eq!(
        describe(&mut client, 2, "nope", 1).error_code,
        UNKNOWN_TOPIC_OR_PARTITION
    );
    let broker_configs = describe(&mut client, 4, "0", 4);
    assert_eq!(
        config_of(&broker_configs, "log.retention.check.interval.ms").0,
        "100"
    );

    // Incremental: set retention.bytes; it takes effect on the running log.
    assert_eq!(
        incremental_alter(
            &mut client,
            "tuned",
            &[("retention.bytes", 0, Some("8192"))]
        ),
        0
    );
    assert_eq!(
        incremental_alter(
            &mut client,
            "tuned",
            &[("retention.bytes", 0, Some("lots"))]
        ),
        INVALID_CONFIG
    );
    assert_eq!(
        incremental_alter(&mut client, "tuned", &[("retention.ms", 2, Some("1"))]),
        INVALID_CONFIG
    );
    let described = describe(&mut client, 2, "tuned", 4);
    assert_eq!(config_of(&described, "retention.bytes"), ("8192".into(), 1));
    assert_eq!(
        config_of(&described, "segment.bytes"),
        ("4096".into(), 1),
        "untouched"
    );
    let now = common::now_milliseconds();
    for round in 0..40 {
        produce(&mut client, "tuned", 0, records(round * 10, 10, now), 7, 1);
    }
    wait_until("retention.bytes to apply", || {
        list_offset(&mut client, "tuned", 0, -2) > 0
    });

    // AlterConfigs replaces the whole set: segment.bytes falls back.
    let replace =
        AlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(text("tuned"))
            .with_configs(vec![AlterableConfig::default()
                .with_name(text("retention.ms"))
                .with_value(Some(text("3600000")))])]);
    assert_eq!(client.send(&replace, 1).responses[0].error_code, 0);
    let broker_resource =
        AlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default()
            .with_resource_type(4)
            .with_resource_name(text("0"))]);
    assert_eq!(
        client.send(&broker_resource, 0).responses[0].error_code,
        INVALID_REQUEST
    );

    broker.restart();
    let mut client = broker.client(0);
    let described = describe(&mut client, 2, "tuned", 3);
    assert_eq!(config_of(&described, "retention.ms"), ("3600000".into(), 1));
    assert_eq!(
        config_of(&described, "segment.bytes").1,
        4,
        "back to the broker's value"
    );
    assert_eq!(config_of(&described, "retention.bytes").1, 4);
}
