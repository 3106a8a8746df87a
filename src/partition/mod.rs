//! One partition on the shard that leads it: its log, the lock that orders
//! its appends, and the checks a produce request passes before it is written.
//!
//! Invariants: lives on exactly one shard (the one its placement names) from
//! the snapshot that placed it there until one that removes or moves it;
//! appends run one at a time; with a single replica the high watermark is the
//! log end offset once the write completed (and was synced, for acks=all).

use std::cell::Cell;
use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::protocol::batch::{self, BatchError, BatchHeader, BatchSpan};
use crate::storage::producers::{ProducerBatch, Verdict};
use crate::rt::sync::AsyncLock;
use crate::storage::{Log, LogConfig, ReadError};

pub use crate::storage::segment::Appended;

#[derive(Debug)]
pub enum AppendError {
    Batch(BatchError),
    Storage(io::Error),
    /// The partition was closed (shutdown, deletion or move) while waiting.
    Closed,
    /// An idempotent producer's epoch is older than the one the log knows.
    FencedEpoch,
    /// An idempotent producer's sequence does not follow its last batch.
    OutOfOrderSequence,
    /// An idempotent producer's request held more than one batch (Kafka
    /// requires exactly one per partition, so retries can be recognised).
    SeveralIdempotentBatches,
}

pub struct Partition {
    pub topic: String,
    pub index: i32,
    pub topic_id: [u8; 16],
    log: Log,
    append_lock: AsyncLock,
    closed: Cell<bool>,
}

/// `data-dir/<topic>-<partition>`, as Kafka lays it out.
pub fn directory(data_dir: &Path, topic: &str, index: i32) -> PathBuf {
    data_dir.join(format!("{topic}-{index}"))
}

impl Partition {
    pub async fn open(
        data_dir: &Path,
        topic: &str,
        topic_id: [u8; 16],
        index: i32,
        config: LogConfig,
    ) -> io::Result<Partition> {
        let log = Log::open(&directory(data_dir, topic, index), config).await?;
        Ok(Partition {
            topic: topic.to_string(),
            index,
            topic_id,
            log,
            append_lock: AsyncLock::default(),
            closed: Cell::new(false),
        })
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log.log_start_offset()
    }

    pub fn log_end_offset(&self) -> i64 {
        self.log.log_end_offset()
    }

    pub fn high_watermark(&self) -> i64 {
        self.log.log_end_offset()
    }

    pub fn log(&self) -> &Log {
        &self.log
    }

    pub fn set_config(&self, config: LogConfig) {
        self.log.set_config(config);
    }

    /// Validates and appends a produce request's records. With `durable`
    /// (acks=all) the write is synced before this returns.
    pub async fn append(
        &self,
        records: &[u8],
        durable: bool,
        now_milliseconds: i64,
    ) -> Result<Appended, AppendError> {
        let spans = batch::validate_batches(records, self.log.config().max_message_bytes)
            .map_err(AppendError::Batch)?;
        let producer = idempotent_batch(records, &spans)?;
        let _guard = self.append_lock.lock().await;
        if self.closed.get() {
            return Err(AppendError::Closed);
        }
        if let Some(incoming) = &producer {
            let verdict = self.log.producers().borrow().check(incoming);
            match verdict {
                Verdict::Append => {}
                Verdict::FencedEpoch => return Err(AppendError::FencedEpoch),
                Verdict::OutOfOrder => return Err(AppendError::OutOfOrderSequence),
                Verdict::Duplicate {
                    base_offset,
                    last_offset,
                } => {
                    // A retry: it was written before (perhaps not synced,
                    // if the first attempt was acks=1).
                    if durable {
                        self.log.sync().await.map_err(AppendError::Storage)?;
                    }
                    return Ok(Appended {
                        base_offset,
                        next_offset: last_offset + 1,
                        max_timestamp: -1,
                    });
                }
            }
        }
        let appended = self
            .log
            .append(records, &spans, now_milliseconds)
            .await
            .map_err(AppendError::Storage)?;
        if let Some(mut incoming) = producer {
            let shift = appended.base_offset - incoming.base_offset;
            incoming.base_offset += shift;
            incoming.last_offset += shift;
            self.log.producers().borrow_mut().record(incoming);
        }
        if durable {
            self.log.sync().await.map_err(AppendError::Storage)?;
        }
        Ok(appended)
    }

    pub async fn read(&self, offset: i64, max_bytes: u64) -> Result<Bytes, ReadError> {
        self.log.read(offset, max_bytes).await
    }

    /// Waits for any append in progress, then seals the log. Later appends
    /// get [`AppendError::Closed`].
    pub async fn close(&self) -> io::Result<()> {
        let _guard = self.append_lock.lock().await;
        if self.closed.replace(true) {
            return Ok(());
        }
        self.log.close().await
    }
}

/// The idempotent producer batch among `records`, if any: there may then be
/// only that one batch.
fn idempotent_batch(records: &[u8], spans: &[BatchSpan]) -> Result<Option<ProducerBatch>, AppendError> {
    let mut found = None;
    for span in spans {
        let Some(header) = BatchHeader::view(&records[span.position..]) else {
            continue;
        };
        if let Some(producer) = ProducerBatch::from_header(
            header.producer_id.get(),
            header.producer_epoch.get(),
            header.base_sequence.get(),
            header.last_offset_delta.get(),
            header.base_offset.get(),
        ) {
            found = Some(producer);
        }
    }
    if found.is_some() && spans.len() > 1 {
        return Err(AppendError::SeveralIdempotentBatches);
    }
    Ok(found)
}
