//! The log keeps its leader-epoch cache (`log_epochs.rs`): leader appends
//! and appends as given start entries, truncation and retention cut them,
//! a failed write takes its entry back, a crash or a lost checkpoint is
//! recovered from, and the producer state is rebuilt after a truncation.

use std::path::Path;

use super::fault_tests::{config, run, Log};
use super::leader_epochs::CHECKPOINT_FILE;
use super::producers::{no_producers, ProducerBatch, ProducerHistory};
use super::segment::AppendPart;
use crate::protocol::batch::{tests::sample_batch, validate_batches, BatchHeader};
use crate::rt::file::faults::{self, Fault, Operation};

async fn open(dir: &Path) -> Log {
    Log::open(dir, config(), &mut no_producers()).await.unwrap()
}

/// A leader's append of `count` records in `epoch`; its base offset.
async fn lead(log: &Log, epoch: i32, count: i32) -> std::io::Result<i64> {
    let records = sample_batch(count, &[1; 200]);
    let spans = validate_batches(&records, 1 << 20).unwrap();
    let part = AppendPart {
        records: &records,
        spans: &spans,
    };
    Ok(log.append(&[part], epoch, 0, &no_producers()).await?.0[0].base_offset)
}

/// A follower's append of batches the leader made: (base, count, epoch).
async fn follow(log: &Log, batches: &[(i64, i32, i32)]) -> std::io::Result<()> {
    let mut records = Vec::new();
    for &(base_offset, count, epoch) in batches {
        let mut batch = sample_batch(count, b"copied");
        let header = BatchHeader::view_mut(&mut batch).unwrap();
        header.base_offset.set(base_offset);
        header.partition_leader_epoch.set(epoch);
        records.extend_from_slice(&batch);
    }
    let spans = validate_batches(&records, 1 << 20).unwrap();
    let part = AppendPart {
        records: &records,
        spans: &spans,
    };
    log.append_as_given(&[part], &no_producers()).await?;
    Ok(())
}

fn entries(log: &Log) -> Vec<(i32, i64)> {
    log.leader_epochs()
        .entries()
        .iter()
        .map(|entry| (entry.epoch, entry.start_offset))
        .collect()
}

#[test]
fn leader_appends_start_an_entry_per_new_epoch() {
    run(|dir| async move {
        let log = open(&dir).await;
        assert_eq!(entries(&log), vec![]);
        lead(&log, 0, 3).await.unwrap();
        lead(&log, 0, 2).await.unwrap();
        lead(&log, 2, 4).await.unwrap();
        lead(&log, 5, 1).await.unwrap();
        assert_eq!(entries(&log), vec![(0, 0), (2, 5), (5, 9)]);
        assert_eq!(log.end_offset_for_epoch(2), Some((2, 9)));
        assert_eq!(log.end_offset_for_epoch(5), Some((5, 10)));
        assert_eq!(log.latest_epoch(), 5);
        log.close(&no_producers()).await.unwrap();
        drop(log);
        let reopened = open(&dir).await;
        assert_eq!(entries(&reopened), vec![(0, 0), (2, 5), (5, 9)]);
    });
}

#[test]
fn appends_as_given_keep_the_leaders_epochs() {
    run(|dir| async move {
        let log = open(&dir).await;
        follow(&log, &[(0, 2, 1), (2, 3, 1), (5, 1, 3)])
            .await
            .unwrap();
        follow(&log, &[(6, 2, 3), (8, 1, 4)]).await.unwrap();
        assert_eq!(entries(&log), vec![(1, 0), (3, 5), (4, 8)]);
        // A refused append (a gap) records nothing.
        assert!(follow(&log, &[(20, 1, 9)]).await.is_err());
        assert_eq!(entries(&log), vec![(1, 0), (3, 5), (4, 8)]);
    });
}

#[test]
fn truncation_drops_the_epochs_it_cuts() {
    run(|dir| async move {
        let log = open(&dir).await;
        follow(&log, &[(0, 2, 1), (2, 3, 2), (5, 2, 3)])
            .await
            .unwrap();
        assert_eq!(log.truncate_to(5).await.unwrap(), 5);
        assert_eq!(entries(&log), vec![(1, 0), (2, 2)]);
        assert_eq!(log.end_offset_for_epoch(2), Some((2, 5)));
        // The new leader's epoch continues from the cut.
        follow(&log, &[(5, 1, 4)]).await.unwrap();
        assert_eq!(entries(&log), vec![(1, 0), (2, 2), (4, 5)]);
        drop(log);
        assert_eq!(entries(&open(&dir).await), vec![(1, 0), (2, 2), (4, 5)]);
    });
}

#[test]
fn a_failed_write_takes_its_entry_back() {
    run(|dir| async move {
        let log = open(&dir).await;
        lead(&log, 1, 2).await.unwrap();
        faults::inject(Operation::Write, ".log", Fault::NoSpace, 1);
        assert!(lead(&log, 2, 2).await.is_err());
        assert_eq!(entries(&log), vec![(1, 0)]);
        lead(&log, 2, 2).await.unwrap();
        assert_eq!(entries(&log), vec![(1, 0), (2, 2)]);
    });
}

#[test]
fn a_crash_leaves_no_entry_past_the_recovered_log_end() {
    run(|dir| async move {
        let log = open(&dir).await;
        lead(&log, 1, 2).await.unwrap();
        // A leader of epoch 3 records its start, then crashes before any
        // batch of it is written (or before one reached the disk).
        assert!(log.assign_epoch_start(3).unwrap());
        assert_eq!(entries(&log), vec![(1, 0), (3, 2)]);
        assert_eq!(log.end_offset_for_epoch(1), Some((1, 2)));
        drop(log);
        let reopened = open(&dir).await;
        assert_eq!(entries(&reopened), vec![(1, 0)]);
        // And the checkpoint on disk says so too.
        let text = std::fs::read_to_string(dir.join(CHECKPOINT_FILE)).unwrap();
        assert_eq!(text, "0\n1\n1 0\n");
    });
}

#[test]
fn truncation_at_the_log_end_drops_an_epoch_that_wrote_nothing() {
    run(|dir| async move {
        let log = open(&dir).await;
        lead(&log, 1, 2).await.unwrap();
        // This replica led epoch 3 from offset 2 and wrote nothing; its
        // new leader says epoch 1 ends at 2, where this log ends too.
        assert!(log.assign_epoch_start(3).unwrap());
        assert_eq!(log.latest_epoch(), 3);
        assert_eq!(log.truncate_to(2).await.unwrap(), 2);
        // No record went, but epoch 3 did: the next fetch names epoch 1.
        assert_eq!(log.log_end_offset(), 2);
        assert_eq!(entries(&log), vec![(1, 0)]);
        assert_eq!(log.latest_epoch(), 1);
        // Past the end too, and the checkpoint says so.
        assert!(log.assign_epoch_start(4).unwrap());
        assert_eq!(log.truncate_to(7).await.unwrap(), 2);
        assert_eq!(entries(&log), vec![(1, 0)]);
        let text = std::fs::read_to_string(dir.join(CHECKPOINT_FILE)).unwrap();
        assert_eq!(text, "0\n1\n1 0\n");
    });
}

#[test]
fn a_missing_or_damaged_checkpoint_is_rebuilt_from_the_batches() {
    run(|dir| async move {
        let log = open(&dir).await;
        follow(&log, &[(0, 2, 1), (2, 3, 1), (5, 1, 3), (6, 1, 7)])
            .await
            .unwrap();
        log.close(&no_producers()).await.unwrap();
        drop(log);
        let path = dir.join(CHECKPOINT_FILE);
        std::fs::remove_file(&path).unwrap();
        let rebuilt = open(&dir).await;
        assert_eq!(entries(&rebuilt), vec![(1, 0), (3, 5), (7, 6)]);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "0\n3\n1 0\n3 5\n7 6\n"
        );
        drop(rebuilt);
        std::fs::write(&path, "0\n3\n1 0\n3 5\n").unwrap();
        assert_eq!(
            entries(&open(&dir).await),
            vec![(1, 0), (3, 5), (7, 6)],
            "a count that does not match is damage"
        );
    });
}

#[test]
fn retention_and_delete_records_clamp_the_first_entry() {
    run(|dir| async move {
        let small = super::log::LogConfig {
            segment_bytes: 8192,
            retention_bytes: 1,
            ..config()
        };
        let log = Log::open(&dir, small, &mut no_producers()).await.unwrap();
        // One 1-record batch per segment: epochs 1, 1, 2, 2, 3.
        for epoch in [1, 1, 2, 2, 3] {
            let records = sample_batch(1, &[3; 5000]);
            let spans = validate_batches(&records, 1 << 20).unwrap();
            let part = AppendPart {
                records: &records,
                spans: &spans,
            };
            log.append(&[part], epoch, 0, &no_producers())
                .await
                .unwrap();
        }
        assert_eq!(entries(&log), vec![(1, 0), (2, 2), (3, 4)]);
        assert_eq!(log.advance_log_start(1).unwrap(), 1);
        assert_eq!(entries(&log), vec![(1, 1), (2, 2), (3, 4)]);
        // Retention keeps only the active segment (offset 4).
        assert_eq!(log.enforce_retention(0).len(), 4);
        assert_eq!(log.log_start_offset(), 4);
        assert_eq!(entries(&log), vec![(3, 4)]);
        drop(log);
        assert_eq!(entries(&open(&dir).await), vec![(3, 4)]);
    });
}

#[test]
fn truncation_rebuilds_the_producer_state_from_what_is_left() {
    run(|dir| async move {
        let small = super::log::LogConfig {
            segment_bytes: 8192,
            ..config()
        };
        let log = Log::open(&dir, small, &mut no_producers()).await.unwrap();
        // Producer 9 writes sequences 0, 1, 2, 3 (offsets 0..4), two
        // batches per segment, so segment 0 is sealed with a snapshot.
        let mut history = no_producers();
        for sequence in 0..4 {
            let mut records = sample_batch(1, &[5; 3000]);
            let header = BatchHeader::view_mut(&mut records).unwrap();
            header.producer_id.set(9);
            header.base_sequence.set(sequence);
            let crc = crate::protocol::batch::compute_crc(&records);
            BatchHeader::view_mut(&mut records).unwrap().crc.set(crc);
            let spans = validate_batches(&records, 1 << 20).unwrap();
            let part = AppendPart {
                records: &records,
                spans: &spans,
            };
            let base = log.append(&[part], 1, 0, &history).await.unwrap().0[0].base_offset;
            history.record(ProducerBatch::from_header(9, 0, sequence, 0, base).unwrap());
        }
        assert_eq!(log.segment_count(), 2);
        log.truncate_to(3).await.unwrap();
        let mut rebuilt = no_producers();
        log.rebuild_producers(&mut rebuilt).await.unwrap();
        let sequences: Vec<i32> = rebuilt.iter().map(|batch| batch.first_sequence).collect();
        assert_eq!(sequences, vec![0, 1, 2], "the seal's two, then batch 2");
        log.truncate_to(1).await.unwrap();
        log.rebuild_producers(&mut rebuilt).await.unwrap();
        assert_eq!(rebuilt.len(), 1);
        assert_eq!(rebuilt[0].first_sequence, 0);
    });
}
