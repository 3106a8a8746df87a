//! Storage under injected faults (deterministic, through `rt::file::faults`,
//! whose `FaultyFile` the logs here are opened over, with a manual clock):
//! full disk and IO errors on write, torn writes, failing syncs, and clock
//! jumps for retention. After each, the log serves only valid batches, keeps
//! what was acknowledged, and recovers to the last valid batch on reopen.

use std::path::PathBuf;

use super::log::LogConfig;
use super::producers::no_producers;
use super::segment::AppendPart;
use crate::protocol::batch::{tests::sample_batch, validate_batches};
use crate::rt::clock::{Clock, ManualClock};
use crate::rt::file::faults::{self, Fault, FaultyFile, Operation};

/// A log whose files fail as `faults::inject` plans and whose clock moves
/// only when a test moves it.
pub(super) type Log = super::log::Log<FaultyFile, ManualClock>;

pub(super) fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 64 * 1024,
        retention_ms: -1,
        segment_ms: i64::MAX,
        ..LogConfig::default()
    }
}

pub(super) async fn append(log: &Log, count: i32, body: &[u8]) -> std::io::Result<i64> {
    let records = sample_batch(count, body);
    let spans = validate_batches(&records, 1 << 20).expect("a valid batch");
    let part = AppendPart {
        records: &records,
        spans: &spans,
    };
    Ok(log.append(&[part], 0, 0, &no_producers()).await?.0[0].base_offset)
}

/// Every batch readable from the start, as (base offset, record count).
pub(super) async fn batches(log: &Log) -> Vec<(i64, i64)> {
    let bytes = log
        .read(0, 1 << 20, log.log_end_offset())
        .await
        .expect("readable");
    let spans = validate_batches(&bytes, 1 << 20).expect("only valid batches are served");
    spans
        .iter()
        .map(|span| {
            let base =
                i64::from_be_bytes(bytes[span.position..span.position + 8].try_into().unwrap());
            (base, span.offset_count)
        })
        .collect()
}

/// Runs one test's future on a local executor with a fresh temp dir.
pub(super) fn run<F: std::future::Future<Output = ()> + 'static>(test: impl FnOnce(PathBuf) -> F) {
    let dir = tempfile::tempdir().unwrap();
    crate::rt::run_local(test(dir.path().to_path_buf()));
}

#[test]
fn a_full_disk_fails_the_append_and_changes_nothing() {
    run(|dir| async move {
        let log = Log::open(&dir, config(), &mut no_producers())
            .await
            .unwrap();
        assert_eq!(append(&log, 3, b"one").await.unwrap(), 0);
        faults::inject(Operation::Write, ".log", Fault::NoSpace, 1);
        let error = append(&log, 2, b"two").await.unwrap_err();
        assert_eq!(error.raw_os_error(), Some(libc::ENOSPC));
        assert_eq!(log.log_end_offset(), 3, "nothing changed");
        // Space came back: the next append goes where the failed one would have.
        assert_eq!(append(&log, 2, b"two").await.unwrap(), 3);
        log.sync().await.unwrap();
        assert_eq!(batches(&log).await, vec![(0, 3), (3, 2)]);
        drop(log);
        let reopened = Log::open(&dir, config(), &mut no_producers())
            .await
            .unwrap();
        assert_eq!(batches(&reopened).await, vec![(0, 3), (3, 2)]);
    });
}

#[test]
fn a_torn_write_is_never_served_and_is_cut_at_recovery() {
    run(|dir| async move {
        let log = Log::open(&dir, config(), &mut no_producers())
            .await
            .unwrap();
        append(&log, 2, &[7; 3000]).await.unwrap();
        // The next append spans three blocks; only the first reaches disk.
        faults::inject(Operation::Write, ".log", Fault::TornWrite { blocks: 1 }, 1);
        assert!(append(&log, 4, &[9; 9000]).await.is_err());
        assert_eq!(log.log_end_offset(), 2);
        assert_eq!(batches(&log).await, vec![(0, 2)]);
        // A crash now: the torn bytes are on disk past the logical end.
        drop(log);
        let reopened = Log::open(&dir, config(), &mut no_producers())
            .await
            .unwrap();
        assert_eq!(reopened.log_end_offset(), 2);
        assert_eq!(batches(&reopened).await, vec![(0, 2)]);
        assert_eq!(append(&reopened, 1, b"after").await.unwrap(), 2);
        assert_eq!(batches(&reopened).await, vec![(0, 2), (2, 1)]);
    });
}

#[test]
fn a_short_write_is_completed() {
    run(|dir| async move {
        let log = Log::open(&dir, config(), &mut no_producers())
            .await
            .unwrap();
        // Three blocks to write; the device takes one, then the rest.
        faults::inject(Operation::Write, ".log", Fault::ShortWrite { blocks: 1 }, 1);
        assert_eq!(append(&log, 3, &[5; 10_000]).await.unwrap(), 0);
        assert_eq!(batches(&log).await, vec![(0, 3)]);
        drop(log);
        let reopened = Log::open(&dir, config(), &mut no_producers())
            .await
            .unwrap();
        assert_eq!(
            batches(&reopened).await,
            vec![(0, 3)],
            "all of it reached the file"
        );
    });
}

#[test]
fn a_failed_sync_keeps_the_durable_offset_where_it_was() {
    run(|dir| async move {
        let log = Log::open(&dir, config(), &mut no_producers())
            .await
            .unwrap();
        append(&log, 2, b"a").await.unwrap();
        log.sync().await.unwrap();
        assert_eq!(log.durable_offset(), 2);
        append(&log, 3, b"b").await.unwrap();
        faults::inject(Operation::Sync, ".log", Fault::Io, 1);
        assert!(log.sync().await.is_err());
        assert_eq!(
            log.durable_offset(),
            2,
            "not durable, so not visible under the durable policy"
        );
        let visible = log.read(0, 1 << 20, log.durable_offset()).await.unwrap();
        assert_eq!(validate_batches(&visible, 1 << 20).unwrap().len(), 1);
        log.sync().await.unwrap();
        assert_eq!(log.durable_offset(), 5);
    });
}

#[test]
fn an_io_error_on_roll_leaves_the_log_usable() {
    run(|dir| async move {
        let mut small = config();
        small.segment_bytes = 8192;
        let log = Log::open(&dir, small, &mut no_producers()).await.unwrap();
        append(&log, 1, &[1; 5000]).await.unwrap();
        // The roll seals the full segment (a sync), which fails.
        faults::inject(Operation::Sync, ".log", Fault::Io, 1);
        assert!(append(&log, 1, &[2; 5000]).await.is_err());
        assert_eq!(log.log_end_offset(), 1);
        assert_eq!(append(&log, 1, &[2; 5000]).await.unwrap(), 1);
        assert_eq!(batches(&log).await.len(), 1, "the first segment's batch");
        drop(log);
        let reopened = Log::open(&dir, small, &mut no_producers()).await.unwrap();
        assert_eq!(reopened.log_end_offset(), 2);
    });
}

#[test]
fn retention_follows_the_clock_it_is_given_even_when_it_jumps() {
    run(|dir| async move {
        let mut aging = config();
        aging.segment_bytes = 8192;
        aging.retention_ms = 60_000;
        let log = Log::open(&dir, aging, &mut no_producers()).await.unwrap();
        for _ in 0..4 {
            append(&log, 1, &[3; 5000]).await.unwrap();
        }
        // sample_batch stamps its records at 2_000 ms after the epoch.
        assert!(
            log.enforce_retention(-10_000_000).is_empty(),
            "a clock jumped backwards deletes nothing"
        );
        assert!(
            log.enforce_retention(30_000).is_empty(),
            "not old enough yet"
        );
        let deleted = log.enforce_retention(10_000_000);
        assert_eq!(
            deleted.len(),
            3,
            "every sealed segment; the active one stays"
        );
        assert_eq!(log.log_start_offset(), 3);
    });
}

#[test]
fn a_segment_rolls_when_its_clock_says_it_is_old_and_not_before() {
    run(|dir| async move {
        let mut aging = config();
        aging.segment_ms = 60_000;
        let log = Log::open(&dir, aging, &mut no_producers()).await.unwrap();
        append(&log, 1, b"first").await.unwrap();
        log.clock().advance(std::time::Duration::from_secs(59));
        append(&log, 1, b"young").await.unwrap();
        assert_eq!(log.segment_count(), 1, "not old enough yet");
        // The wall clock jumping back does not make a segment younger.
        log.clock().set_wall_milliseconds(0);
        log.clock().advance(std::time::Duration::from_secs(1));
        append(&log, 1, b"old").await.unwrap();
        assert_eq!(log.segment_count(), 2, "rolled at segment.ms");
        assert!(log.clock().now_milliseconds() < 10_000);
        assert_eq!(batches(&log).await.len(), 2, "read from the first segment");
        assert_eq!(log.log_end_offset(), 3);
    });
}
