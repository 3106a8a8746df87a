//! Crash recovery on real files: a clean shutdown seals every segment so
//! the next start reads none of them; after SIGKILL only the segments
//! written since the last start are scanned; damaged indexes, torn tails and flipped bits are
//! found, cut or rebuilt, and a corrupt batch is never served.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use common::{batch, create_topic, decode_records, fetch, produce, segment_files, Broker, Client};
use kafka_protocol::records::Compression;

fn start() -> Broker {
    Broker::start_with(1, &["--offsets-topic-num-partitions", "1"])
}

/// Produces `count` one-record batches of about 300 bytes, from value `first`.
fn fill(client: &mut Client, topic: &str, first: usize, count: usize) {
    for index in first..first + count {
        let value = format!("{index:06}-{}", "v".repeat(290));
        let records = batch(
            &[(None, value.as_str())],
            1_700_000_000_000,
            Compression::None,
        );
        assert_eq!(produce(client, topic, 0, records, 7, -1), (0, index as i64));
    }
}

/// Every record value, checking offsets run 0.. without gaps.
fn read_values(client: &mut Client, topic: &str) -> Vec<String> {
    let mut values = Vec::new();
    let mut offset = 0i64;
    loop {
        let (code, bytes, high_watermark) = fetch(client, topic, 0, offset, 11);
        assert_eq!(code, 0);
        for record in decode_records(&bytes) {
            if record.offset >= offset {
                assert_eq!(record.offset, offset);
                values.push(String::from_utf8_lossy(record.value.as_ref().unwrap()).to_string());
                offset += 1;
            }
        }
        if offset >= high_watermark {
            return values;
        }
    }
}

fn expected(count: usize) -> Vec<String> {
    (0..count)
        .map(|index| format!("{index:06}-{}", "v".repeat(290)))
        .collect()
}

/// The number in the last "N segments were scanned" line of the log.
fn last_scanned(broker: &Broker) -> usize {
    let log = broker.log();
    let line = log
        .lines()
        .filter(|line| line.contains("segments were scanned"))
        .last()
        .expect("the shard reports its recovery");
    line.split("; ")
        .nth(1)
        .and_then(|part| part.split(' ').next())
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("no count in {line}"))
}

fn partition_dir(broker: &Broker, topic: &str) -> PathBuf {
    broker.data_dir().join(format!("{topic}-0"))
}

fn segment(dir: &Path, index: usize, extension: &str) -> PathBuf {
    let name = &segment_files(dir)[index];
    dir.join(name).with_extension(extension)
}

#[test]
fn a_clean_shutdown_skips_the_scan_and_a_crash_scans_only_written_segments() {
    let mut broker = start();
    let mut client = broker.client(0);
    assert_eq!(
        create_topic(&mut client, "sealed", 1, &[("segment.bytes", "4096")]),
        0
    );
    fill(&mut client, "sealed", 0, 60);
    let segments = segment_files(&partition_dir(&broker, "sealed")).len();
    assert!(segments >= 4, "{segments} segments");

    broker.restart();
    assert_eq!(
        last_scanned(&broker),
        0,
        "every segment was sealed at shutdown"
    );
    let mut client = broker.client(0);
    assert_eq!(read_values(&mut client, "sealed"), expected(60));
    fill(&mut client, "sealed", 60, 10);

    broker.kill();
    broker.start_again();
    // Only the segment written since the last start: the offsets topic's
    // partition was not written, so its seal still holds.
    assert_eq!(last_scanned(&broker), 1);
    let mut client = broker.client(0);
    assert_eq!(read_values(&mut client, "sealed"), expected(70));
}

#[test]
fn damaged_indexes_torn_tails_and_flipped_bits_are_recovered_from() {
    let mut broker = start();
    let mut client = broker.client(0);
    assert_eq!(
        create_topic(&mut client, "damaged", 1, &[("segment.bytes", "4096")]),
        0
    );
    fill(&mut client, "damaged", 0, 60);
    broker.stop();
    let dir = partition_dir(&broker, "damaged");

    // A flipped byte in one sealed index and a truncated other index: both
    // segments are scanned and their indexes rebuilt.
    let index = segment(&dir, 0, "index");
    let mut bytes = std::fs::read(&index).unwrap();
    bytes[0] ^= 0x40;
    std::fs::write(&index, &bytes).unwrap();
    let other = segment(&dir, 1, "index");
    let length = std::fs::metadata(&other).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&other)
        .unwrap()
        .set_len(length.saturating_sub(3))
        .unwrap();
    broker.start_again();
    assert_eq!(last_scanned(&broker), 2);
    let mut client = broker.client(0);
    assert_eq!(read_values(&mut client, "damaged"), expected(60));
    broker.stop();

    // A torn tail: garbage after the last batch of the active segment.
    let active = segment(&dir, segment_files(&dir).len() - 1, "log");
    std::fs::OpenOptions::new()
        .append(true)
        .open(&active)
        .unwrap()
        .write_all(&[0x5a; 100])
        .unwrap();
    broker.start_again();
    assert!(
        broker.log().contains("truncating 100 bytes"),
        "the torn tail is cut with a log line"
    );
    let mut client = broker.client(0);
    assert_eq!(read_values(&mut client, "damaged"), expected(60));
    fill(&mut client, "damaged", 60, 5);

    // A flipped bit in the last batch (after a crash): the batch fails its
    // CRC and is cut; the one before it is the end of the log.
    broker.kill();
    let active = segment(&dir, segment_files(&dir).len() - 1, "log");
    let mut bytes = std::fs::read(&active).unwrap();
    let last_batch = find_last_batch(&bytes);
    bytes[last_batch + 70] ^= 0x01;
    std::fs::write(&active, &bytes).unwrap();
    broker.start_again();
    let mut client = broker.client(0);
    let values = read_values(&mut client, "damaged");
    assert_eq!(values, expected(64), "everything but the corrupt batch");
    fill(&mut client, "damaged", 64, 1);
    assert_eq!(read_values(&mut client, "damaged"), expected(65));
}

/// Position of the last whole batch in a segment file's bytes.
fn find_last_batch(bytes: &[u8]) -> usize {
    let mut position = 0;
    let mut last = 0;
    while position + 12 <= bytes.len() {
        let length = i32::from_be_bytes(bytes[position + 8..position + 12].try_into().unwrap());
        if length <= 0 || position + 12 + length as usize > bytes.len() {
            break;
        }
        last = position;
        position += 12 + length as usize;
    }
    last
}
