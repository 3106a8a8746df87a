//! Old clients through the real broker: Produce v0-v2 with magic 0 and 1
//! message sets, Fetch v0-v3 reading them back as message sets, and Fetch
//! v4+ reading the same records as the v2 batches they are stored as.
//!
//! The frames and message sets are built here byte by byte (the codec crate
//! cannot encode these versions), with the CRC-32 of the codec crate, so
//! nothing of the broker's own conversion code checks itself.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use common::{create_topic, decode_records, fetch, Broker, Client};
use kafka_protocol::compression::{Compressor, Gzip, Snappy};
use kafka_protocol::records::IEEE;

/// One message: offset, size, CRC-32 over magic..end, magic, attributes,
/// timestamp (magic 1), key, value.
fn message(
    offset: i64,
    magic: i8,
    attributes: i8,
    timestamp: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) -> Vec<u8> {
    let mut body = vec![magic as u8, attributes as u8];
    if magic == 1 {
        body.extend_from_slice(&timestamp.to_be_bytes());
    }
    for field in [key, value] {
        match field {
            Some(bytes) => {
                body.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
                body.extend_from_slice(bytes);
            }
            None => body.extend_from_slice(&(-1i32).to_be_bytes()),
        }
    }
    let mut out = offset.to_be_bytes().to_vec();
    out.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    out.extend_from_slice(&IEEE.checksum(&body).to_be_bytes());
    out.extend(body);
    out
}

fn compressed(codec: i8, bytes: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    let fill = |buffer: &mut BytesMut| {
        buffer.put_slice(bytes);
        Ok(())
    };
    match codec {
        1 => Gzip::compress(&mut out, fill).unwrap(),
        2 => Snappy::compress(&mut out, fill).unwrap(),
        _ => unreachable!(),
    }
    out.to_vec()
}

fn put_string(out: &mut Vec<u8>, value: &str) {
    out.extend_from_slice(&(value.len() as i16).to_be_bytes());
    out.extend_from_slice(value.as_bytes());
}

/// A request frame: length, header v1 (key, version, correlation id,
/// client id), body.
fn request_frame(api_key: i16, version: i16, correlation_id: i32, body: &[u8]) -> Vec<u8> {
    let mut frame = Vec::new();
    frame.extend_from_slice(&api_key.to_be_bytes());
    frame.extend_from_slice(&version.to_be_bytes());
    frame.extend_from_slice(&correlation_id.to_be_bytes());
    put_string(&mut frame, "legacy-test");
    frame.extend_from_slice(body);
    let mut out = (frame.len() as i32).to_be_bytes().to_vec();
    out.extend(frame);
    out
}

fn produce_body(acks: i16, topic: &str, partition: i32, message_set: &[u8]) -> Vec<u8> {
    let mut body = acks.to_be_bytes().to_vec();
    body.extend_from_slice(&5000i32.to_be_bytes());
    body.extend_from_slice(&1i32.to_be_bytes());
    put_string(&mut body, topic);
    body.extend_from_slice(&1i32.to_be_bytes());
    body.extend_from_slice(&partition.to_be_bytes());
    body.extend_from_slice(&(message_set.len() as i32).to_be_bytes());
    body.extend_from_slice(message_set);
    body
}

/// The response frame (after its length) a one-partition Produce expects.
fn expected_produce_response(
    version: i16,
    correlation_id: i32,
    topic: &str,
    error_code: i16,
    base_offset: i64,
) -> Vec<u8> {
    let mut out = correlation_id.to_be_bytes().to_vec();
    out.extend_from_slice(&1i32.to_be_bytes());
    put_string(&mut out, topic);
    out.extend_from_slice(&1i32.to_be_bytes());
    out.extend_from_slice(&0i32.to_be_bytes());
    out.extend_from_slice(&error_code.to_be_bytes());
    out.extend_from_slice(&base_offset.to_be_bytes());
    if version >= 2 {
        out.extend_from_slice(&(-1i64).to_be_bytes()); // CreateTime topic
    }
    if version >= 1 {
        out.extend_from_slice(&0i32.to_be_bytes()); // throttle_time_ms
    }
    out
}

/// Sends a Produce and returns the response frame's bytes after the length.
fn legacy_produce(client: &mut Client, version: i16, correlation_id: i32, body: &[u8]) -> Bytes {
    client
        .stream
        .write_all(&request_frame(0, version, correlation_id, body))
        .unwrap();
    client.read_frame().expect("a produce response")
}

fn fetch_body(version: i16, topic: &str, offset: i64, max_wait_ms: i32, min_bytes: i32) -> Vec<u8> {
    let mut body = (-1i32).to_be_bytes().to_vec();
    body.extend_from_slice(&max_wait_ms.to_be_bytes());
    body.extend_from_slice(&min_bytes.to_be_bytes());
    if version >= 3 {
        body.extend_from_slice(&(1i32 << 20).to_be_bytes());
    }
    body.extend_from_slice(&1i32.to_be_bytes());
    put_string(&mut body, topic);
    body.extend_from_slice(&1i32.to_be_bytes());
    body.extend_from_slice(&0i32.to_be_bytes());
    body.extend_from_slice(&offset.to_be_bytes());
    body.extend_from_slice(&(1i32 << 20).to_be_bytes());
    body
}

/// A message as read back, its CRC checked.
#[derive(Debug, PartialEq, Eq)]
struct Read {
    offset: i64,
    magic: i8,
    attributes: i8,
    timestamp: Option<i64>,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
}

fn take<'a>(bytes: &mut &'a [u8], count: usize) -> &'a [u8] {
    let (head, rest) = bytes.split_at(count);
    *bytes = rest;
    head
}

fn take_i16(bytes: &mut &[u8]) -> i16 {
    i16::from_be_bytes(take(bytes, 2).try_into().unwrap())
}

fn take_i32(bytes: &mut &[u8]) -> i32 {
    i32::from_be_bytes(take(bytes, 4).try_into().unwrap())
}

fn take_i64(bytes: &mut &[u8]) -> i64 {
    i64::from_be_bytes(take(bytes, 8).try_into().unwrap())
}

fn take_nullable(bytes: &mut &[u8]) -> Option<Vec<u8>> {
    let length = take_i32(bytes);
    (length >= 0).then(|| take(bytes, length as usize).to_vec())
}

fn parse_message_set(mut set: &[u8]) -> Vec<Read> {
    let mut messages = Vec::new();
    while !set.is_empty() {
        let offset = take_i64(&mut set);
        let size = take_i32(&mut set) as usize;
        let mut body = take(&mut set, size);
        let crc = take_i32(&mut body) as u32;
        assert_eq!(crc, IEEE.checksum(body), "message at offset {offset}");
        let magic = take(&mut body, 1)[0] as i8;
        let attributes = take(&mut body, 1)[0] as i8;
        let timestamp = (magic == 1).then(|| take_i64(&mut body));
        let key = take_nullable(&mut body);
        let value = take_nullable(&mut body);
        assert!(body.is_empty());
        messages.push(Read {
            offset,
            magic,
            attributes,
            timestamp,
            key,
            value,
        });
    }
    messages
}

/// (error code, high watermark, messages) of a one-partition Fetch v0-v3.
fn legacy_fetch(
    client: &mut Client,
    version: i16,
    correlation_id: i32,
    body: &[u8],
) -> (i16, i64, Vec<Read>) {
    client
        .stream
        .write_all(&request_frame(1, version, correlation_id, body))
        .unwrap();
    let frame = client.read_frame().expect("a fetch response");
    let mut rest: &[u8] = &frame;
    assert_eq!(take_i32(&mut rest), correlation_id);
    if version >= 1 {
        assert_eq!(take_i32(&mut rest), 0, "throttle_time_ms");
    }
    assert_eq!(take_i32(&mut rest), 1, "one topic");
    let name_length = take_i16(&mut rest) as usize;
    take(&mut rest, name_length);
    assert_eq!(take_i32(&mut rest), 1, "one partition");
    assert_eq!(take_i32(&mut rest), 0, "partition 0");
    let error_code = take_i16(&mut rest);
    let high_watermark = take_i64(&mut rest);
    let set_length = take_i32(&mut rest) as usize;
    let set = take(&mut rest, set_length);
    assert!(rest.is_empty(), "{} bytes after the response", rest.len());
    (error_code, high_watermark, parse_message_set(set))
}

fn read(offset: i64, magic: i8, timestamp: Option<i64>, key: Option<&str>, value: &str) -> Read {
    Read {
        offset,
        magic,
        attributes: 0,
        timestamp,
        key: key.map(|key| key.as_bytes().to_vec()),
        value: Some(value.as_bytes().to_vec()),
    }
}

/// What the produces of `produce_all` leave in the log, at magic 1.
fn expected_at_magic_1() -> Vec<Read> {
    vec![
        read(0, 1, Some(1_000), Some("k0"), "plain-0"),
        read(1, 1, Some(1_001), None, "plain-1"),
        read(2, 1, Some(1_002), Some("k2"), "plain-2"),
        read(3, 1, Some(2_000), Some("g0"), "gzip-0"),
        read(4, 1, Some(2_001), Some("g1"), "gzip-1"),
        read(5, 1, Some(2_002), None, "snappy-0"),
        read(6, 1, Some(-1), Some("old"), "magic-0"),
    ]
}

/// Produces, in order: three plain magic 1 messages (v2), a gzip wrapper of
/// two magic 1 messages with relative inner offsets (v2), a snappy wrapper
/// of one (v1), one magic 0 message (v0). The last is acks=all, so all are
/// below the high watermark when it returns.
fn produce_all(client: &mut Client, topic: &str) {
    let mut plain = Vec::new();
    plain.extend(message(0, 1, 0, 1_000, Some(b"k0"), Some(b"plain-0")));
    plain.extend(message(1, 1, 0, 1_001, None, Some(b"plain-1")));
    plain.extend(message(2, 1, 0, 1_002, Some(b"k2"), Some(b"plain-2")));
    let response = legacy_produce(client, 2, 11, &produce_body(1, topic, 0, &plain));
    assert_eq!(
        response.to_vec(),
        expected_produce_response(2, 11, topic, 0, 0)
    );

    let mut inner = message(0, 1, 0, 2_000, Some(b"g0"), Some(b"gzip-0"));
    inner.extend(message(1, 1, 0, 2_001, Some(b"g1"), Some(b"gzip-1")));
    let wrapper = message(1, 1, 1, 2_001, None, Some(&compressed(1, &inner)));
    let response = legacy_produce(client, 2, 12, &produce_body(-1, topic, 0, &wrapper));
    assert_eq!(
        response.to_vec(),
        expected_produce_response(2, 12, topic, 0, 3)
    );

    let inner = message(0, 1, 0, 2_002, None, Some(b"snappy-0"));
    let wrapper = message(0, 1, 2, 2_002, None, Some(&compressed(2, &inner)));
    let response = legacy_produce(client, 1, 13, &produce_body(-1, topic, 0, &wrapper));
    assert_eq!(
        response.to_vec(),
        expected_produce_response(1, 13, topic, 0, 5)
    );

    let old = message(0, 0, 0, 0, Some(b"old"), Some(b"magic-0"));
    let response = legacy_produce(client, 0, 14, &produce_body(-1, topic, 0, &old));
    assert_eq!(
        response.to_vec(),
        expected_produce_response(0, 14, topic, 0, 6)
    );
}

#[test]
fn old_produce_and_fetch_versions_convert_both_ways() {
    let broker = Broker::start(1);
    let mut client = broker.client(0);
    assert_eq!(create_topic(&mut client, "legacy", 1, &[]), 0);
    produce_all(&mut client, "legacy");

    // Fetch v2 and v3 read magic 1: absolute offsets, timestamps kept.
    for version in [2, 3] {
        let (error_code, high_watermark, messages) = legacy_fetch(
            &mut client,
            version,
            20,
            &fetch_body(version, "legacy", 0, 0, 0),
        );
        assert_eq!((error_code, high_watermark), (0, 7), "Fetch v{version}");
        assert_eq!(messages, expected_at_magic_1(), "Fetch v{version}");
    }
    // Fetch v0 and v1 read magic 0: no timestamps.
    for version in [0, 1] {
        let (error_code, _, messages) = legacy_fetch(
            &mut client,
            version,
            21,
            &fetch_body(version, "legacy", 0, 0, 0),
        );
        assert_eq!(error_code, 0);
        let expected: Vec<Read> = expected_at_magic_1()
            .into_iter()
            .map(|read| Read {
                magic: 0,
                timestamp: None,
                ..read
            })
            .collect();
        assert_eq!(messages, expected, "Fetch v{version}");
    }
    // From inside the gzip batch: offset 4 first, not 3.
    let (_, _, messages) = legacy_fetch(&mut client, 2, 22, &fetch_body(2, "legacy", 4, 0, 0));
    assert_eq!(messages, expected_at_magic_1().split_off(4));

    // Fetch v4 and v12 read the same records as the v2 batches they are.
    for version in [4, 12] {
        let (error_code, records, high_watermark) = fetch(&mut client, "legacy", 0, 0, version);
        assert_eq!((error_code, high_watermark), (0, 7));
        let records = decode_records(&records);
        let got: Vec<Read> = records
            .iter()
            .map(|record| Read {
                offset: record.offset,
                magic: 1,
                attributes: 0,
                timestamp: Some(record.timestamp),
                key: record.key.as_ref().map(|key| key.to_vec()),
                value: record.value.as_ref().map(|value| value.to_vec()),
            })
            .collect();
        assert_eq!(got, expected_at_magic_1(), "Fetch v{version}");
    }
}

#[test]
fn a_bad_crc_is_refused_and_nothing_is_written() {
    let broker = Broker::start(1);
    let mut client = broker.client(0);
    assert_eq!(create_topic(&mut client, "crc", 1, &[]), 0);
    let mut set = message(0, 1, 0, 5, Some(b"k"), Some(b"value"));
    let last = set.len() - 1;
    set[last] ^= 0x01;
    let response = legacy_produce(&mut client, 2, 3, &produce_body(1, "crc", 0, &set));
    assert_eq!(
        response.to_vec(),
        expected_produce_response(2, 3, "crc", 2, -1)
    );
    // A wrapper whose inner message is corrupt, and an lz4 wrapper.
    let mut inner = message(0, 1, 0, 5, None, Some(b"inner"));
    let last = inner.len() - 1;
    inner[last] ^= 0x01;
    let wrapper = message(0, 1, 1, 5, None, Some(&compressed(1, &inner)));
    let response = legacy_produce(&mut client, 2, 4, &produce_body(1, "crc", 0, &wrapper));
    assert_eq!(
        response.to_vec(),
        expected_produce_response(2, 4, "crc", 2, -1)
    );
    let lz4 = message(0, 1, 3, 5, None, Some(b"not really lz4"));
    let response = legacy_produce(&mut client, 2, 5, &produce_body(1, "crc", 0, &lz4));
    assert_eq!(
        response.to_vec(),
        expected_produce_response(2, 5, "crc", 76, -1)
    );
    let (error_code, high_watermark, messages) =
        legacy_fetch(&mut client, 2, 6, &fetch_body(2, "crc", 0, 0, 0));
    assert_eq!((error_code, high_watermark, messages.len()), (0, 0, 0));
    // An unknown topic answers per partition, as Kafka does.
    let set = message(0, 1, 0, 5, None, Some(b"v"));
    let response = legacy_produce(&mut client, 2, 7, &produce_body(1, "missing", 0, &set));
    assert_eq!(
        response.to_vec(),
        expected_produce_response(2, 7, "missing", 3, -1)
    );
}

#[test]
fn malformed_requests_close_the_connection_and_the_broker_serves_on() {
    let broker = Broker::start(1);
    let mut setup = broker.client(0);
    assert_eq!(create_topic(&mut setup, "bounds", 1, &[]), 0);
    // A Produce v2 claiming 2^31-1 topics in a few bytes.
    let mut body = 1i16.to_be_bytes().to_vec();
    body.extend_from_slice(&5000i32.to_be_bytes());
    body.extend_from_slice(&i32::MAX.to_be_bytes());
    body.extend_from_slice(&[0; 8]);
    let mut client = broker.client(0);
    client
        .stream
        .write_all(&request_frame(0, 2, 1, &body))
        .unwrap();
    assert!(client.closed_by_broker());
    // A Fetch v1 cut off inside its partition.
    let body = fetch_body(1, "bounds", 0, 0, 0);
    let mut client = broker.client(0);
    client
        .stream
        .write_all(&request_frame(1, 1, 1, &body[..body.len() - 3]))
        .unwrap();
    assert!(client.closed_by_broker());
    // Records whose length runs past the request.
    let mut body = produce_body(1, "bounds", 0, b"");
    let at = body.len() - 4;
    body[at..].copy_from_slice(&(1i32 << 30).to_be_bytes());
    let mut client = broker.client(0);
    client
        .stream
        .write_all(&request_frame(0, 0, 1, &body))
        .unwrap();
    assert!(client.closed_by_broker());
    // The broker still works.
    let set = message(0, 1, 0, 9, None, Some(b"after"));
    let response = legacy_produce(&mut setup, 2, 2, &produce_body(1, "bounds", 0, &set));
    assert_eq!(
        response.to_vec(),
        expected_produce_response(2, 2, "bounds", 0, 0)
    );
}

#[test]
fn acks_0_gets_no_reply_and_a_long_poll_wakes_on_an_old_produce() {
    let broker = Broker::start(1);
    let mut client = broker.client(0);
    assert_eq!(create_topic(&mut client, "poll", 1, &[]), 0);
    // acks=0: no response, so the next reply on the connection is the fetch's.
    let set = message(0, 1, 0, 1, None, Some(b"unacknowledged"));
    client
        .stream
        .write_all(&request_frame(0, 2, 1, &produce_body(0, "poll", 0, &set)))
        .unwrap();
    let (_, high_watermark, messages) =
        legacy_fetch(&mut client, 2, 2, &fetch_body(2, "poll", 0, 5_000, 1));
    assert_eq!(high_watermark, 1);
    assert_eq!(messages[0].value.as_deref(), Some(&b"unacknowledged"[..]));

    // A Fetch v2 parked at the end wakes when another connection produces.
    let port = broker.ports[0];
    let producer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        let mut other = Client::connect(port);
        let set = message(0, 1, 0, 2, None, Some(b"woke"));
        legacy_produce(&mut other, 2, 1, &produce_body(1, "poll", 0, &set))
    });
    let started = Instant::now();
    let (error_code, _, messages) =
        legacy_fetch(&mut client, 2, 3, &fetch_body(2, "poll", 1, 10_000, 1));
    assert_eq!(error_code, 0);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "woke before max_wait"
    );
    assert_eq!(messages[0].offset, 1);
    assert_eq!(messages[0].value.as_deref(), Some(&b"woke"[..]));
    producer.join().unwrap();
}

#[test]
fn api_versions_advertises_the_message_set_versions() {
    use kafka_protocol::messages::ApiVersionsRequest;
    let broker = Broker::start(1);
    let mut client = broker.client(0);
    let response = client.send(&ApiVersionsRequest::default(), 0);
    let range = |key: i16| {
        let api = response
            .api_keys
            .iter()
            .find(|api| api.api_key == key)
            .expect("advertised");
        (api.min_version, api.max_version)
    };
    assert_eq!(range(0), (0, 13), "Produce");
    assert_eq!(range(1), (0, 18), "Fetch");
}
