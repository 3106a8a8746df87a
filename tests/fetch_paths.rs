//! The three ways Fetch sends records: from the shard's tail cache, from
//! segment files by sendfile on the blocking threads, and from segment files
//! read into memory (`--fetch-cold-reads copy`). All must send the same
//! records, and a client that stops reading must not hold up the others.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{
    batch, create_topic, decode_records, encode_request, fetch_request, produce, Broker, Client,
};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, ResponseHeader};
use kafka_protocol::protocol::Decodable;
use kafka_protocol::records::Compression;

/// `count` records of `size` bytes whose values name their batch and place.
fn numbered_batch(batch_index: usize, count: usize, size: usize) -> Bytes {
    let values: Vec<String> = (0..count)
        .map(|place| {
            let label = format!("{batch_index}-{place}-");
            format!("{label}{}", "v".repeat(size - label.len()))
        })
        .collect();
    let records: Vec<(Option<&str>, &str)> =
        values.iter().map(|value| (None, value.as_str())).collect();
    batch(&records, 1_700_000_000_000, Compression::None)
}

/// Every record from `offset` on, fetched 1 MiB at a time, as (offset,
/// value). A fetch starts with the whole batch holding the offset, so, as a
/// client does, records before it are dropped.
fn read_all(client: &mut Client, topic: &str, mut offset: i64) -> Vec<(i64, Bytes)> {
    let start = offset;
    let mut all = Vec::new();
    loop {
        let response = client.send(&fetch_request(topic, 0, offset, 0, 0), 12);
        let data = &response.responses[0].partitions[0];
        assert_eq!(data.error_code, 0);
        let records = decode_records(data.records.as_ref().unwrap());
        let Some(last) = records.last() else {
            return all;
        };
        offset = last.offset + 1;
        all.extend(
            records
                .into_iter()
                .filter(|record| record.offset >= start)
                .map(|record| (record.offset, record.value.unwrap())),
        );
    }
}

#[test]
fn the_tail_cache_sendfile_and_copied_reads_send_the_same_records() {
    // A 256 KiB cache holds only the newest ~30 of 200 batches of 8 KiB.
    let mut broker = Broker::start_with(1, &["--tail-cache-bytes", "262144"]);
    let mut client = broker.client(0);
    assert_eq!(create_topic(&mut client, "paths", 1, &[]), 0);
    for index in 0..200 {
        let (error, base_offset) = produce(
            &mut client,
            "paths",
            0,
            numbered_batch(index, 8, 1000),
            9,
            -1,
        );
        assert_eq!((error, base_offset), (0, index as i64 * 8));
    }
    let expected: Vec<(i64, Bytes)> = (0..200usize)
        .flat_map(|index| {
            let bytes = numbered_batch(index, 8, 1000);
            decode_records(&bytes)
                .into_iter()
                .enumerate()
                .map(move |(place, record)| ((index * 8 + place) as i64, record.value.unwrap()))
        })
        .collect();
    // From offset 0: cold (sendfile) until the cached tail takes over.
    assert_eq!(read_all(&mut client, "paths", 0), expected);
    // Only the cached tail.
    assert_eq!(read_all(&mut client, "paths", 1590), expected[1590..]);

    broker.stop();
    broker.start_again_with(&["--tail-cache-bytes", "0", "--fetch-cold-reads", "copy"]);
    let mut client = broker.client(0);
    assert_eq!(read_all(&mut client, "paths", 0), expected);
    assert_eq!(read_all(&mut client, "paths", 1590), expected[1590..]);
}

#[test]
fn a_client_that_stops_reading_does_not_hold_up_the_shard() {
    let broker = Broker::start_with(1, &["--tail-cache-bytes", "1048576"]);
    let mut client = broker.client(0);
    assert_eq!(create_topic(&mut client, "big", 1, &[]), 0);
    assert_eq!(create_topic(&mut client, "small", 1, &[]), 0);
    // 32 MiB, far more than loopback socket buffers hold, mostly cold.
    for index in 0..64 {
        let (error, _) = produce(
            &mut client,
            "big",
            0,
            numbered_batch(index, 32, 16 * 1024),
            9,
            -1,
        );
        assert_eq!(error, 0);
    }
    // A consumer asks for all of it at once and then reads nothing.
    let mut stalled = broker.client(0);
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(64 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(common::name("big"))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(64 << 20)])]);
    stalled
        .stream
        .write_all(&encode_request(&request, 12, 99))
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));

    // Meanwhile other connections of the shard produce, read the tail and
    // read cold data, promptly.
    let mut other = broker.client(0);
    for round in 0..20 {
        let started = Instant::now();
        let (error, offset) = produce(&mut other, "small", 0, numbered_batch(round, 1, 100), 9, -1);
        assert_eq!((error, offset), (0, round as i64));
        assert_eq!(read_all(&mut other, "small", round as i64).len(), 1);
        let cold = other.send(&fetch_request("big", 0, 100, 0, 0), 12);
        assert!(
            !decode_records(cold.responses[0].partitions[0].records.as_ref().unwrap()).is_empty()
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "round {round} took {:?} while another client was not reading",
            started.elapsed()
        );
    }

    // A consumer that asks for the same and vanishes costs only its own
    // connection (the broker logs why it closed it).
    let mut vanishing = broker.client(0);
    vanishing
        .stream
        .write_all(&encode_request(&request, 12, 7))
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    drop(vanishing);
    let (error, _) = produce(&mut other, "small", 0, numbered_batch(99, 1, 100), 9, -1);
    assert_eq!(error, 0);

    // The stalled consumer then gets its whole response, intact.
    let mut body = stalled.read_frame().unwrap();
    let header = ResponseHeader::decode(&mut body, 1).unwrap();
    assert_eq!(header.correlation_id, 99);
    let response = FetchResponse::decode(&mut body, 12).unwrap();
    let records = decode_records(
        response.responses[0].partitions[0]
            .records
            .as_ref()
            .unwrap(),
    );
    assert_eq!(records.len(), 64 * 32);
    assert_eq!(records.last().unwrap().offset, 64 * 32 - 1);
    assert!(broker.log().contains("write failed"), "{}", broker.log());
}
