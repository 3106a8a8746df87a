//! Leader epochs on the wire: a partition's placement carries its leader
//! epoch, which Metadata reports, every appended batch carries, ListOffsets
//! answers, and Fetch and ListOffsets check against the epoch a client
//! names (older: FENCED_LEADER_EPOCH, newer: UNKNOWN_LEADER_EPOCH, -1: no
//! check). A restart with fewer `--cores` moves partitions to new leaders,
//! which raises their epochs; the metadata log keeps them.

mod common;

use bytes::Bytes;
use common::{batch, create_topic, fetch_request, name, produce, Broker, Client};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{BrokerId, ListOffsetsRequest, MetadataRequest};
use kafka_protocol::records::Compression;

const NONE: i16 = 0;
const FENCED_LEADER_EPOCH: i16 = 74;
const UNKNOWN_LEADER_EPOCH: i16 = 75;

/// (leader, leader epoch) of each partition, from Metadata v12.
fn placements(client: &mut Client, topic: &str) -> Vec<(i32, i32)> {
    let request = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default().with_name(Some(name(topic))),
    ]));
    let response = client.send(&request, 12);
    response.topics[0]
        .partitions
        .iter()
        .map(|partition| (partition.leader_id.0, partition.leader_epoch))
        .collect()
}

/// (error code, records) of a Fetch v12 from offset 0 naming `epoch`.
fn fetch_at_epoch(client: &mut Client, topic: &str, partition: i32, epoch: i32) -> (i16, Bytes) {
    let mut request = fetch_request(topic, partition, 0, 0, 0);
    request.topics[0].partitions[0].current_leader_epoch = epoch;
    let response = client.send(&request, 12);
    let data = &response.responses[0].partitions[0];
    (data.error_code, data.records.clone().unwrap_or_default())
}

/// (error code, latest offset, its leader epoch) of a ListOffsets v7
/// naming `epoch`.
fn latest_at_epoch(
    client: &mut Client,
    topic: &str,
    partition: i32,
    epoch: i32,
) -> (i16, i64, i32) {
    let wanted = ListOffsetsPartition::default()
        .with_partition_index(partition)
        .with_current_leader_epoch(epoch)
        .with_timestamp(-1);
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(name(topic))
            .with_partitions(vec![wanted])]);
    let answer = &client.send(&request, 7).topics[0].partitions[0];
    (answer.error_code, answer.offset, answer.leader_epoch)
}

/// Fetch and ListOffsets both answer `code` to a request naming `epoch`.
fn check_epochs(client: &mut Client, partition: i32, expected: &[(i32, i16)]) {
    for &(epoch, code) in expected {
        let fetched = fetch_at_epoch(client, "moved", partition, epoch).0;
        let listed = latest_at_epoch(client, "moved", partition, epoch).0;
        assert_eq!((fetched, listed), (code, code), "epoch {epoch}");
    }
}

/// The partitionLeaderEpoch field of each stored batch in `records`.
fn batch_epochs(records: &Bytes) -> Vec<i32> {
    let mut epochs = Vec::new();
    let mut rest = &records[..];
    while rest.len() >= 61 {
        let length = i32::from_be_bytes(rest[8..12].try_into().unwrap()) as usize;
        epochs.push(i32::from_be_bytes(rest[12..16].try_into().unwrap()));
        rest = &rest[(12 + length).min(rest.len())..];
    }
    epochs
}

fn append(broker: &Broker, leader: i32, topic: &str, partition: i32, value: &str) {
    let mut client = broker.client(leader as usize);
    let records = batch(&[(None, value)], 1_000, Compression::None);
    assert_eq!(
        produce(&mut client, topic, partition, records, 9, -1).0,
        NONE
    );
}

#[test]
fn epochs_are_reported_stamped_checked_and_raised_by_a_move() {
    let mut broker = Broker::start(4);
    let mut admin = broker.client(0);
    assert_eq!(create_topic(&mut admin, "moved", 4, &[]), NONE);
    let before = placements(&mut admin, "moved");
    assert!(before.iter().all(|&(_, epoch)| epoch == 0), "{before:?}");
    for (partition, &(leader, _)) in before.iter().enumerate() {
        append(&broker, leader, "moved", partition as i32, "first");
        let mut client = broker.client(leader as usize);
        let partition = partition as i32;
        let (code, records) = fetch_at_epoch(&mut client, "moved", partition, 0);
        assert_eq!(code, NONE);
        assert_eq!(batch_epochs(&records), vec![0]);
        check_epochs(
            &mut client,
            partition,
            &[(-1, NONE), (0, NONE), (1, UNKNOWN_LEADER_EPOCH)],
        );
        assert_eq!(
            latest_at_epoch(&mut client, "moved", partition, 0),
            (NONE, 1, 0)
        );
    }

    broker.restart_with_cores(2);
    let mut admin = broker.client(0);
    let after = placements(&mut admin, "moved");
    let mut moved = 0;
    for (partition, (&(was, _), &(leader, epoch))) in before.iter().zip(&after).enumerate() {
        assert!(leader < 2, "{after:?}");
        let partition = partition as i32;
        let mut client = broker.client(leader as usize);
        if was == leader {
            assert_eq!(epoch, 0, "a partition that stayed keeps its epoch");
            continue;
        }
        moved += 1;
        assert_eq!(epoch, 1, "a new leader raises the epoch");
        check_epochs(
            &mut client,
            partition,
            &[
                (0, FENCED_LEADER_EPOCH),
                (1, NONE),
                (2, UNKNOWN_LEADER_EPOCH),
            ],
        );
        assert_eq!(
            latest_at_epoch(&mut client, "moved", partition, -1),
            (NONE, 1, 1)
        );
        append(&broker, leader, "moved", partition, "second");
        let (code, records) = fetch_at_epoch(&mut client, "moved", partition, 1);
        assert_eq!(code, NONE);
        assert_eq!(
            batch_epochs(&records),
            vec![0, 1],
            "each batch keeps its epoch"
        );
    }
    let on_missing_shards = before.iter().filter(|&&(leader, _)| leader >= 2).count();
    assert_eq!(
        moved, on_missing_shards,
        "the partitions of shards 2 and 3 moved"
    );
    assert!(moved > 0, "{before:?}");

    // The epochs are in the metadata log: a restart finds them again.
    broker.restart_with_cores(2);
    let mut admin = broker.client(0);
    assert_eq!(placements(&mut admin, "moved"), after);
}
