//! The shard's budget of segment-file descriptors (`rt/file/budget.rs`) under
//! logs with more segments than it allows: every log stays readable and
//! writable, the descriptors really open (counted in /proc/self/fd) never
//! exceed the budget, recovery leaves none open, and a range lent to
//! sendfile stays valid after its file was closed for room.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::log::{Log, LogConfig};
use super::producers::no_producers;
use super::segment::AppendPart;
use crate::protocol::batch::{tests::sample_batch, validate_batches};
use crate::rt::file::{descriptors_open, set_descriptor_budget, set_idle_close};
use crate::rt::net::Piece;

const BUDGET_DESCRIPTORS: usize = 12;
const LOGS: usize = 40;

fn config() -> LogConfig {
    LogConfig {
        // Small segments: each log rolls, so there are several per log.
        segment_bytes: 8192,
        retention_ms: -1,
        segment_ms: i64::MAX,
        ..LogConfig::default()
    }
}

/// Descriptors this process holds on files under `dir`, as the kernel
/// sees them (whatever other tests in this process hold is elsewhere).
fn descriptors_under(dir: &Path) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd is readable")
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| target.starts_with(dir))
        .count()
}

fn assert_within_budget(dir: &Path, when: &str) {
    let counted = descriptors_open();
    let seen = descriptors_under(dir);
    assert!(
        counted <= BUDGET_DESCRIPTORS,
        "{when}: {counted} descriptors counted, budget {BUDGET_DESCRIPTORS}"
    );
    assert!(
        seen <= BUDGET_DESCRIPTORS,
        "{when}: {seen} descriptors open under {}, budget {BUDGET_DESCRIPTORS}",
        dir.display()
    );
}

async fn append(log: &Log, body: &[u8]) -> i64 {
    let records = sample_batch(1, body);
    let spans = validate_batches(&records, 1 << 20).expect("a valid batch");
    let part = AppendPart {
        records: &records,
        spans: &spans,
    };
    log.append(&[part], 0, 0, &no_producers())
        .await
        .expect("append")
        .0[0]
        .base_offset
}

/// The bodies' first bytes of every batch from offset 0, read through
/// `read_region` (sendfile's path, or the copy it falls back to).
async fn first_bytes(log: &Log) -> Vec<u8> {
    let mut found = Vec::new();
    let mut offset = 0;
    while offset < log.log_end_offset() {
        let piece = log
            .read_region(offset, 1, log.log_end_offset())
            .await
            .expect("readable")
            .expect("data");
        let bytes = match piece {
            Piece::Memory(bytes) => bytes.to_vec(),
            Piece::File(region) => region
                .read_blocking()
                .expect("the region's descriptor is open"),
        };
        let spans = validate_batches(&bytes, 1 << 20).expect("whole batches");
        found.push(*bytes.last().expect("a body"));
        offset += spans.iter().map(|span| span.offset_count).sum::<i64>();
    }
    found
}

fn log_dir(root: &Path, index: usize) -> PathBuf {
    root.join(format!("topic-{index}"))
}

#[test]
fn more_segments_than_descriptors_stay_readable_within_the_budget() {
    let root = tempfile::tempdir().unwrap();
    let root_path = root.path().to_path_buf();
    crate::rt::run_local(async move {
        set_descriptor_budget(BUDGET_DESCRIPTORS);
        let mut logs = Vec::new();
        for index in 0..LOGS {
            logs.push(Rc::new(
                Log::open(&log_dir(&root_path, index), config(), &mut no_producers())
                    .await
                    .unwrap(),
            ));
        }
        assert_eq!(
            descriptors_under(&root_path),
            0,
            "opened logs hold no descriptors"
        );

        // Three rounds of appends to every log, all at once: each append
        // needs its active segment open for writing, and 5000-byte bodies
        // roll an 8 KiB segment every other append.
        for round in 0..3u8 {
            let writes: Vec<_> = logs
                .iter()
                .map(|log| {
                    let log = log.clone();
                    crate::rt::spawn(async move {
                        let mut body = vec![0u8; 5000];
                        *body.last_mut().unwrap() = round;
                        append(&log, &body).await
                    })
                })
                .collect();
            for (write, _) in writes.into_iter().zip(0..) {
                assert_eq!(write.await, i64::from(round));
            }
            assert_within_budget(&root_path, "after a round of appends");
        }
        let segments: usize = logs.iter().map(|log| log.segment_count()).sum();
        assert!(segments > 2 * BUDGET_DESCRIPTORS, "{segments} segments");

        // Syncs need the active files; the budget closed most of them, syncing first.
        for log in &logs {
            log.sync().await.unwrap();
            assert_eq!(log.durable_offset(), 3);
        }
        assert_within_budget(&root_path, "after syncing every log");

        // A range lent to sendfile survives its file being closed for room.
        let Some(Piece::File(region)) = logs[0].read_region(0, 1, 3).await.unwrap() else {
            panic!("a file range while the budget has room");
        };
        for log in &logs[1..] {
            assert_eq!(first_bytes(log).await, vec![0, 1, 2]);
            assert_within_budget(&root_path, "while reading every log");
        }
        let mut bytes = vec![0u8; region.length as usize];
        std::os::unix::fs::FileExt::read_exact_at(&**region.file, &mut bytes, region.position)
            .unwrap();
        assert_eq!(validate_batches(&bytes, 1 << 20).unwrap().len(), 1);
        drop(region);

        // A clean close and a recovery: nothing stays open after either.
        for log in &logs {
            log.close(&no_producers()).await.unwrap();
        }
        drop(logs);
        let mut reopened = Vec::new();
        for index in 0..LOGS {
            reopened.push(
                Log::open(&log_dir(&root_path, index), config(), &mut no_producers())
                    .await
                    .unwrap(),
            );
            assert_within_budget(&root_path, "during recovery");
        }
        assert_eq!(descriptors_open(), 0, "recovered logs hold no descriptors");
        for log in &reopened {
            assert_eq!(first_bytes(log).await, vec![0, 1, 2]);
            assert_eq!(append(log, b"after").await, 3);
        }
        assert_within_budget(&root_path, "after appending to recovered logs");
    });
    drop(root);
}

#[test]
fn files_left_unused_are_closed_and_reopen_on_use() {
    let root = tempfile::tempdir().unwrap();
    let root_path = root.path().to_path_buf();
    crate::rt::run_local(async move {
        set_descriptor_budget(BUDGET_DESCRIPTORS);
        set_idle_close(
            std::time::Duration::from_millis(200),
            std::time::Duration::from_millis(20),
        );
        let logs: Vec<Log> = {
            let mut logs = Vec::new();
            for index in 0..3 {
                logs.push(
                    Log::open(&log_dir(&root_path, index), config(), &mut no_producers())
                        .await
                        .unwrap(),
                );
            }
            logs
        };
        for log in &logs {
            append(log, b"kept").await;
        }
        assert!(descriptors_under(&root_path) > 0, "appended logs are open");
        // Unsynced writes too: the sweep syncs before it closes.
        crate::rt::sleep(std::time::Duration::from_millis(500)).await;
        assert_eq!(descriptors_under(&root_path), 0, "idle files were closed");
        assert_eq!(descriptors_open(), 0);
        for log in &logs {
            log.sync().await.unwrap();
            assert_eq!(first_bytes(log).await, vec![b't']);
            assert_eq!(append(log, b"again").await, 1);
        }
    });
    drop(root);
}
