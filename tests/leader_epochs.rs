//! OffsetForLeaderEpoch (API 23) on a real broker: where each leader epoch
//! ends, after records were produced under one epoch and then another (a
//! restart with fewer `--cores` moves partitions to new leaders, raising
//! their epochs). Every version a client uses (v0-v4: v0-v1 by hand, as
//! Kafka 4.0's codec no longer has them), the current-epoch fencing, the
//! routing errors, the checkpoint file on disk, and librdkafka (kcat)
//! consuming across the epoch change, which makes it validate its position
//! with this API (KIP-320).

mod common;

use bytes::{Buf, BufMut, BytesMut};
use common::{batch, create_topic, kcat, kcat_available, name, produce, Broker, Client};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, OffsetForLeaderEpochRequest};
use kafka_protocol::records::Compression;
use std::io::Write;

const NONE: i16 = 0;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const NOT_LEADER_OR_FOLLOWER: i16 = 6;
const FENCED_LEADER_EPOCH: i16 = 74;
const UNKNOWN_LEADER_EPOCH: i16 = 75;

/// (leader, leader epoch) of each partition, from Metadata v12.
fn placements(client: &mut Client, topic: &str) -> Vec<(i32, i32)> {
    let request = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default().with_name(Some(name(topic))),
    ]));
    let mut partitions = client.send(&request, 12).topics[0].partitions.clone();
    partitions.sort_by_key(|partition| partition.partition_index);
    partitions
        .iter()
        .map(|partition| (partition.leader_id.0, partition.leader_epoch))
        .collect()
}

fn append(broker: &Broker, leader: i32, partition: i32, value: &str) {
    let mut client = broker.client(leader as usize);
    let records = batch(&[(None, value)], 1_000, Compression::None);
    let (code, _) = produce(&mut client, "epochs", partition, records, 9, -1);
    assert_eq!(code, NONE);
}

/// (error, epoch, end offset) of one partition's OffsetForLeaderEpoch.
fn ask(
    client: &mut Client,
    topic: &str,
    partition: i32,
    current_leader_epoch: i32,
    leader_epoch: i32,
    version: i16,
) -> (i16, i32, i64) {
    let request = OffsetForLeaderEpochRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![OffsetForLeaderTopic::default()
            .with_topic(name(topic))
            .with_partitions(vec![OffsetForLeaderPartition::default()
                .with_partition(partition)
                .with_current_leader_epoch(current_leader_epoch)
                .with_leader_epoch(leader_epoch)])]);
    let response = client.send(&request, version);
    let answer = &response.topics[0].partitions[0];
    assert_eq!(answer.partition, partition);
    (answer.error_code, answer.leader_epoch, answer.end_offset)
}

/// v0 or v1 by hand: (error, epoch (v1; -1 on v0), end offset).
fn ask_old(
    client: &mut Client,
    partition: i32,
    leader_epoch: i32,
    version: i16,
) -> (i16, i32, i64) {
    let mut frame = BytesMut::new();
    frame.put_i16(23);
    frame.put_i16(version);
    frame.put_i32(0x23);
    frame.put_i16(4);
    frame.put_slice(b"test");
    frame.put_i32(1);
    frame.put_i16(6);
    frame.put_slice(b"epochs");
    frame.put_i32(1);
    frame.put_i32(partition);
    frame.put_i32(leader_epoch);
    let mut framed = BytesMut::new();
    framed.put_i32(frame.len() as i32);
    framed.put_slice(&frame);
    client.stream.write_all(&framed).unwrap();
    let mut response = client.read_frame().unwrap();
    assert_eq!(response.get_i32(), 0x23);
    assert_eq!(response.get_i32(), 1, "one topic");
    let length = response.get_i16() as usize;
    assert_eq!(&response.split_to(length)[..], b"epochs");
    assert_eq!(response.get_i32(), 1, "one partition");
    let error = response.get_i16();
    assert_eq!(response.get_i32(), partition);
    let epoch = if version >= 1 { response.get_i32() } else { -1 };
    let end_offset = response.get_i64();
    assert!(!response.has_remaining(), "nothing after the answer");
    (error, epoch, end_offset)
}

#[test]
fn offset_for_leader_epoch_answers_where_each_epoch_ends() {
    let mut broker = Broker::start(4);
    let mut admin = broker.client(0);
    assert_eq!(create_topic(&mut admin, "epochs", 4, &[]), NONE);
    let before = placements(&mut admin, "epochs");
    for (partition, &(leader, _)) in before.iter().enumerate() {
        append(&broker, leader, partition as i32, "first");
        append(&broker, leader, partition as i32, "second");
    }
    // Epoch 0 is the latest: it ends at the log end.
    let (leader, _) = before[0];
    let mut client = broker.client(leader as usize);
    for version in 2..=4 {
        assert_eq!(ask(&mut client, "epochs", 0, 0, 0, version), (NONE, 0, 2));
    }

    broker.restart_with_cores(2);
    let mut admin = broker.client(0);
    let after = placements(&mut admin, "epochs");
    let moved: Vec<i32> = (0..4)
        .filter(|&partition| after[partition as usize].1 == 1)
        .collect();
    assert!(!moved.is_empty(), "{before:?} -> {after:?}");
    for &partition in &moved {
        let (leader, epoch) = after[partition as usize];
        append(&broker, leader, partition, "third");
        let mut client = broker.client(leader as usize);
        for version in 2..=4 {
            // Epoch 0 ends where epoch 1 starts; epoch 1 at the log end.
            assert_eq!(
                ask(&mut client, "epochs", partition, epoch, 0, version),
                (NONE, 0, 2)
            );
            assert_eq!(
                ask(&mut client, "epochs", partition, -1, 1, version),
                (NONE, 1, 3)
            );
            // An epoch newer than any the log knows: UNDEFINED.
            assert_eq!(
                ask(&mut client, "epochs", partition, -1, 7, version),
                (NONE, -1, -1)
            );
        }
        for version in 3..=4 {
            // The sender's current epoch is checked (v2+ carry it).
            assert_eq!(
                ask(&mut client, "epochs", partition, 0, 0, version).0,
                FENCED_LEADER_EPOCH
            );
            assert_eq!(
                ask(&mut client, "epochs", partition, 2, 0, version).0,
                UNKNOWN_LEADER_EPOCH
            );
        }
        assert_eq!(ask_old(&mut client, partition, 0, 0), (NONE, -1, 2));
        assert_eq!(ask_old(&mut client, partition, 0, 1), (NONE, 0, 2));
        assert_eq!(ask_old(&mut client, partition, 1, 1), (NONE, 1, 3));
        // Another broker is not the leader; an unknown partition is unknown.
        let mut other = broker.client(1 - leader as usize);
        assert_eq!(
            ask(&mut other, "epochs", partition, -1, 0, 4).0,
            NOT_LEADER_OR_FOLLOWER
        );
        assert_eq!(
            ask(&mut client, "nowhere", partition, -1, 0, 4).0,
            UNKNOWN_TOPIC_OR_PARTITION
        );
        // The cache is checkpointed in Kafka's format beside the log.
        let checkpoint = broker
            .data_dir()
            .join(format!("epochs-{partition}"))
            .join("leader-epoch-checkpoint");
        assert_eq!(
            std::fs::read_to_string(&checkpoint).unwrap(),
            "0\n2\n0 0\n1 2\n"
        );
    }

    // A restart (clean shutdown) keeps every answer.
    broker.restart_with_cores(2);
    for &partition in &moved {
        let (leader, epoch) = after[partition as usize];
        let mut client = broker.client(leader as usize);
        assert_eq!(
            ask(&mut client, "epochs", partition, epoch, 0, 4),
            (NONE, 0, 2)
        );
        assert_eq!(
            ask(&mut client, "epochs", partition, epoch, 1, 4),
            (NONE, 1, 3)
        );
    }

    // librdkafka validates positions with this API after a leader change:
    // kcat still reads every record of a moved partition, in order.
    if kcat_available() {
        let partition = moved[0].to_string();
        let output = kcat(
            &broker,
            &[
                "-C",
                "-t",
                "epochs",
                "-p",
                &partition,
                "-o",
                "beginning",
                "-e",
                "-q",
            ],
            None,
        );
        let values: Vec<&str> = output.lines().collect();
        assert_eq!(values, vec!["first", "second", "third"]);
    }
}
