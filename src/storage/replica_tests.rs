//! What a log needs to hold a replica: truncation (`Log::truncate_to`),
//! appends whose offsets the leader assigned (`Log::append_as_given`), the
//! leader epoch stamped on each batch, producer snapshots through
//! `ProducerHistory`, and recovery that keeps the segments after an offset
//! gap (truncation and compaction leave them) while still cutting damage
//! inside a segment.

use std::path::Path;

use super::fault_tests::Log;
use super::fault_tests::{append, config, run};
use super::log::LogConfig;
use super::producers::{no_producers, ProducerBatch, ProducerHistory};
use super::segment::AppendPart;
use crate::protocol::batch::{tests::sample_batch, validate_batches, BatchHeader};

/// Small segments: a few appends make several.
fn small() -> LogConfig {
    LogConfig {
        segment_bytes: 8192,
        ..config()
    }
}

/// Every batch from the log start to its end, across segments and gaps,
/// as (base offset, record count, leader epoch).
async fn every_batch(log: &Log) -> Vec<(i64, i64, i32)> {
    let mut found = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let bytes = log
            .read(offset, 1 << 20, log.log_end_offset())
            .await
            .expect("readable");
        let spans = validate_batches(&bytes, 1 << 20).expect("only valid batches are served");
        assert!(!spans.is_empty(), "a read below the log end finds a batch");
        for span in spans {
            let header = BatchHeader::view(&bytes[span.position..]).unwrap();
            let base_offset = header.base_offset.get();
            found.push((
                base_offset,
                span.offset_count,
                header.partition_leader_epoch.get(),
            ));
            offset = base_offset + span.offset_count;
        }
    }
    found
}

/// The base offset of every batch, as `every_batch` finds them.
async fn base_offsets(log: &Log) -> Vec<i64> {
    every_batch(log).await.iter().map(|batch| batch.0).collect()
}

async fn open(dir: &Path, config: LogConfig) -> Log {
    Log::open(dir, config, &mut no_producers()).await.unwrap()
}

/// Five segments of one 1-record batch each (5000 bytes, 8 KiB segments).
async fn five_segments(dir: &Path) -> Log {
    let log = open(dir, small()).await;
    for _ in 0..5 {
        append(&log, 1, &[4; 5000]).await.unwrap();
    }
    assert_eq!(log.segment_count(), 5);
    log
}

/// A batch whose offsets a leader assigned: `count` records from `base`.
fn replicated(base_offset: i64, count: i32, leader_epoch: i32) -> Vec<u8> {
    let mut records = sample_batch(count, b"copied");
    let header = BatchHeader::view_mut(&mut records).unwrap();
    header.base_offset.set(base_offset);
    header.partition_leader_epoch.set(leader_epoch);
    records
}

async fn append_as_given(log: &Log, records: &[u8]) -> std::io::Result<i64> {
    let spans = validate_batches(records, 1 << 20).expect("a valid batch");
    let part = AppendPart {
        records,
        spans: &spans,
    };
    Ok(log.append_as_given(&[part], &no_producers()).await?.0[0].base_offset)
}

#[test]
fn truncation_drops_later_segments_and_the_tail_of_the_one_holding_the_offset() {
    run(|dir| async move {
        let log = open(&dir, config()).await;
        for count in [2, 3, 4] {
            append(&log, count, b"kept or not").await.unwrap();
        }
        drop(log);
        // Sealed at roll, then more in later segments.
        let log = five_segments(&dir.join("many")).await;
        assert_eq!(log.truncate_to(2).await.unwrap(), 2);
        assert_eq!(log.segment_count(), 2, "segments from offset 2 on are gone");
        assert_eq!(log.log_end_offset(), 2);
        assert_eq!(log.durable_offset(), 2);
        assert_eq!(every_batch(&log).await.len(), 2);
        // Appends continue at the new end, and the log reads the same
        // after a restart.
        assert_eq!(append(&log, 1, &[5; 5000]).await.unwrap(), 2);
        log.close(&no_producers()).await.unwrap();
        drop(log);
        let reopened = open(&dir.join("many"), small()).await;
        assert_eq!(reopened.log_end_offset(), 3);
        assert_eq!(base_offsets(&reopened).await, vec![0, 1, 2]);

        // Within one segment: a batch straddling the offset goes whole.
        let log = open(&dir, config()).await;
        assert_eq!(log.log_end_offset(), 9);
        assert_eq!(
            log.truncate_to(6).await.unwrap(),
            5,
            "batch 5..=8 dropped whole"
        );
        assert_eq!(log.truncate_to(7).await.unwrap(), 5, "nothing past the end");
        assert_eq!(append(&log, 1, b"next").await.unwrap(), 5);
        drop(log);
        // A crash (no seal): the scan finds no trace of the dropped batch.
        let reopened = open(&dir, config()).await;
        assert_eq!(
            every_batch(&reopened).await,
            vec![(0, 2, 0), (2, 3, 0), (5, 1, 0)]
        );
        assert_eq!(reopened.truncate_to(0).await.unwrap(), 0);
        drop(reopened);
        assert_eq!(open(&dir, config()).await.log_end_offset(), 0);
    });
}

#[test]
fn truncation_inside_a_sealed_segment_unseals_it() {
    run(|dir| async move {
        let log = open(&dir, small()).await;
        // Two batches per segment: [0, 1], [2, 3], [4].
        for _ in 0..5 {
            append(&log, 1, &[8; 3000]).await.unwrap();
        }
        assert_eq!(log.segment_count(), 3);
        log.close(&no_producers()).await.unwrap();
        drop(log);
        // Every segment trusted from its seal, then cut inside [2, 3].
        let log = open(&dir, small()).await;
        assert_eq!(log.truncate_to(3).await.unwrap(), 3);
        assert_eq!(log.segment_count(), 2);
        assert_eq!(append(&log, 1, &[9; 100]).await.unwrap(), 3);
        drop(log);
        // A crash: the cut segment has no seal to trust, so it is scanned.
        let reopened = open(&dir, small()).await;
        assert_eq!(reopened.segments_scanned(), 1);
        assert_eq!(base_offsets(&reopened).await, vec![0, 1, 2, 3]);
        assert_eq!(reopened.log_end_offset(), 4);
    });
}

#[test]
fn an_append_as_given_must_continue_the_log() {
    run(|dir| async move {
        let log = open(&dir, config()).await;
        assert_eq!(
            append_as_given(&log, &replicated(0, 3, 4)).await.unwrap(),
            0
        );
        let gap = append_as_given(&log, &replicated(5, 1, 4))
            .await
            .unwrap_err();
        assert_eq!(gap.kind(), std::io::ErrorKind::InvalidInput);
        let overlap = append_as_given(&log, &replicated(2, 1, 4))
            .await
            .unwrap_err();
        assert_eq!(overlap.kind(), std::io::ErrorKind::InvalidInput);
        assert_eq!(log.log_end_offset(), 3, "nothing written");
        assert_eq!(
            append_as_given(&log, &replicated(3, 2, 5)).await.unwrap(),
            3
        );
        // The leader's epochs are kept, not restamped.
        assert_eq!(every_batch(&log).await, vec![(0, 3, 4), (3, 2, 5)]);
    });
}

#[test]
fn a_leader_append_stamps_its_epoch() {
    run(|dir| async move {
        let log = open(&dir, config()).await;
        let records = sample_batch(2, b"stamped");
        let spans = validate_batches(&records, 1 << 20).unwrap();
        let part = AppendPart {
            records: &records,
            spans: &spans,
        };
        log.append(&[part], 7, 0, &no_producers()).await.unwrap();
        assert_eq!(every_batch(&log).await, vec![(0, 2, 7)]);
    });
}

#[test]
fn recovery_keeps_the_segments_after_an_offset_gap() {
    run(|dir| async move {
        let log = five_segments(&dir).await;
        log.close(&no_producers()).await.unwrap();
        drop(log);
        // The segment of offset 2 goes (as compaction or a follower's
        // truncation and refetch can leave it): offsets 2 is a gap.
        let gone = dir.join(format!("{}.log", super::segment::file_stem(2)));
        std::fs::remove_file(&gone).unwrap();
        let reopened = open(&dir, small()).await;
        assert_eq!(reopened.segment_count(), 4);
        assert_eq!(reopened.log_end_offset(), 5);
        assert_eq!(
            base_offsets(&reopened).await,
            vec![0, 1, 3, 4],
            "a read skips the gap"
        );
        // A read from inside the gap gets the next batch.
        let bytes = reopened.read(2, 1 << 20, 5).await.unwrap();
        assert_eq!(BatchHeader::view(&bytes).unwrap().base_offset.get(), 3);
        assert_eq!(append(&reopened, 1, &[6; 5000]).await.unwrap(), 5);
    });
}

#[test]
fn damage_inside_a_segment_cuts_its_tail_and_keeps_later_segments() {
    run(|dir| async move {
        let log = open(&dir, small()).await;
        append(&log, 1, &[1; 3000]).await.unwrap();
        append(&log, 1, &[2; 3000]).await.unwrap();
        append(&log, 1, &[3; 5000]).await.unwrap();
        assert_eq!(log.segment_count(), 2);
        drop(log);
        // A flipped byte in the first segment's second batch, and no seal
        // record to trust (as after a crash before the roll's seal).
        let first = dir.join(format!("{}.log", super::segment::file_stem(0)));
        std::fs::remove_file(first.with_extension("seal")).unwrap();
        let mut bytes = std::fs::read(&first).unwrap();
        let second_batch = BatchHeader::view(&bytes).unwrap().total_bytes();
        bytes[second_batch + 100] ^= 0x40;
        std::fs::write(&first, &bytes).unwrap();
        let reopened = open(&dir, small()).await;
        assert_eq!(reopened.segment_count(), 2, "the later segment stays");
        assert_eq!(base_offsets(&reopened).await, vec![0, 2]);
    });
}

#[test]
fn a_seal_snapshots_the_producer_history_and_open_restores_it() {
    run(|dir| async move {
        let log = open(&dir, config()).await;
        append(&log, 1, b"one").await.unwrap();
        let known = ProducerBatch::from_header(9, 2, 0, 0, 0).unwrap();
        let mut history = no_producers();
        history.record(known);
        log.close(&history).await.unwrap();
        drop(log);
        let mut recovered = no_producers();
        Log::open(&dir, config(), &mut recovered).await.unwrap();
        assert_eq!(recovered, vec![known]);
    });
}
