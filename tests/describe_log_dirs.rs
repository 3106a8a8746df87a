//! DescribeLogDirs (key 35), v1-v4, against a real broker: each shard lists
//! the partitions it keeps with their size on disk, under the data dir.

mod common;

use common::{batch, create_topic, leaders, produce, Broker};
use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;

/// (partition, size) of `topic` in one shard's answer.
fn sizes(response: &DescribeLogDirsResponse, topic: &str) -> Vec<(i32, i64)> {
    let mut found: Vec<(i32, i64)> = response
        .results
        .iter()
        .flat_map(|result| &result.topics)
        .filter(|entry| entry.name.0.as_str() == topic)
        .flat_map(|entry| &entry.partitions)
        .map(|partition| (partition.partition_index, partition.partition_size))
        .collect();
    found.sort_unstable();
    found
}

#[test]
fn each_shard_reports_the_size_of_the_partitions_it_keeps() {
    let broker = Broker::start(2);
    let mut admin = broker.client(0);
    assert_eq!(create_topic(&mut admin, "sized", 4, &[]), 0);
    let placement = leaders(&mut admin, "sized");
    // Partition 0 gets one batch, the others nothing.
    let leader_of_0 = placement[0] as usize;
    let records = batch(&[(None, "a record of some length")], 1, Compression::None);
    let (error, _) = produce(
        &mut broker.client(leader_of_0),
        "sized",
        0,
        records.clone(),
        9,
        -1,
    );
    assert_eq!(error, 0);
    for version in 1..=4 {
        let mut total = 0;
        for shard in 0..2 {
            let all = broker.client(shard).send(
                &DescribeLogDirsRequest::default().with_topics(None),
                version,
            );
            assert_eq!(all.error_code, 0);
            let result = &all.results[0];
            assert_eq!(result.error_code, 0);
            assert_eq!(
                result.log_dir.as_str(),
                broker.data_dir().display().to_string()
            );
            if version >= 4 {
                assert!(result.total_bytes > 0 && result.usable_bytes > 0);
                assert!(result.usable_bytes <= result.total_bytes);
            }
            let mine: Vec<i32> = (0..4)
                .filter(|&p| placement[p as usize] == shard as i32)
                .collect();
            let listed = sizes(&all, "sized");
            assert_eq!(listed.iter().map(|(p, _)| *p).collect::<Vec<_>>(), mine);
            for (partition, size) in &listed {
                let expected = if *partition == 0 {
                    records.len() as i64
                } else {
                    0
                };
                assert_eq!(*size, expected, "v{version} partition {partition}");
            }
            total += listed.len();
            // Asking for one partition lists only that one, and only where it lives.
            let one = DescribeLogDirsRequest::default().with_topics(Some(vec![
                DescribableLogDirTopic::default()
                    .with_topic(TopicName(StrBytes::from_static_str("sized")))
                    .with_partitions(vec![0]),
            ]));
            let answer = broker.client(shard).send(&one, version);
            let expected = if shard == leader_of_0 {
                vec![(0, records.len() as i64)]
            } else {
                vec![]
            };
            assert_eq!(sizes(&answer, "sized"), expected);
        }
        assert_eq!(total, 4, "every partition is listed by exactly one shard");
    }
}
