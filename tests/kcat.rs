//! librdkafka, through kcat: metadata, produce and consume against a broker
//! with two shards, for a topic whose partitions land on both.

mod common;

use common::{kcat, Broker};

#[test]
fn kcat_lists_one_broker_per_shard_produces_and_consumes_in_order() {
    let broker = Broker::start_with(2, &["--num-partitions", "2"]);

    let metadata = kcat(&broker, &["-L"], None);
    assert!(metadata.contains("2 brokers:"), "{metadata}");
    assert!(
        metadata.contains(&format!("broker 0 at 127.0.0.1:{}", broker.ports[0])),
        "{metadata}"
    );
    assert!(
        metadata.contains(&format!("broker 1 at 127.0.0.1:{}", broker.ports[1])),
        "{metadata}"
    );

    // Keyed messages to each partition explicitly (auto-created, 2 partitions).
    let mut expected = Vec::new();
    for partition in 0..2 {
        let lines: Vec<String> = (0..50)
            .map(|index| format!("key{index}:value-{partition}-{index}"))
            .collect();
        kcat(
            &broker,
            &[
                "-P",
                "-t",
                "kcat-topic",
                "-p",
                &partition.to_string(),
                "-K:",
            ],
            Some(&(lines.join("\n") + "\n")),
        );
        expected.push(lines);
    }
    let metadata = kcat(&broker, &["-L", "-t", "kcat-topic"], None);
    assert!(metadata.contains("partition 0, leader 0"), "{metadata}");
    assert!(
        metadata.contains("partition 1, leader 1"),
        "partitions on both shards: {metadata}"
    );

    let consumed = kcat(
        &broker,
        &[
            "-C",
            "-t",
            "kcat-topic",
            "-o",
            "beginning",
            "-e",
            "-f",
            "%p %o %k:%s\n",
        ],
        None,
    );
    for (partition, lines) in expected.iter().enumerate() {
        let got: Vec<String> = consumed
            .lines()
            .filter(|line| line.starts_with(&format!("{partition} ")))
            .map(|line| line.splitn(3, ' ').nth(2).unwrap().to_string())
            .collect();
        assert_eq!(&got, lines, "partition {partition} in order");
        let offsets: Vec<i64> = consumed
            .lines()
            .filter(|line| line.starts_with(&format!("{partition} ")))
            .map(|line| line.split(' ').nth(1).unwrap().parse().unwrap())
            .collect();
        assert_eq!(offsets, (0..50).collect::<Vec<_>>());
    }
}
