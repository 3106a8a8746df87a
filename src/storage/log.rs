//! A partition's log: its segments in offset order, the active one last.
//!
//! Invariants (owned by one partition, on one core):
//! - segments are contiguous: each base offset is the previous segment's next
//!   offset; the log end offset is the last segment's next offset.
//! - only the last segment is appended to; the others are sealed.
//! - appends are serialised by the caller (the partition's append lock);
//!   reads may run beside an append and see the log as of some moment.

use std::cell::{Cell, RefCell};
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use bytes::Bytes;

use super::producers::ProducerState;
use super::segment::{Appended, Segment};
use crate::protocol::batch::{BatchSpan, TimestampType};

/// The topic configs that shape how a log is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogConfig {
    /// `segment.bytes`: roll to a new segment before one grows past this.
    pub segment_bytes: u64,
    /// `max.message.bytes`: largest batch accepted.
    pub max_message_bytes: usize,
    /// `message.timestamp.type`.
    pub timestamp_type: TimestampType,
}

#[derive(Debug)]
pub enum ReadError {
    /// The offset is outside `[log_start_offset, log_end_offset]`.
    OffsetOutOfRange {
        log_start_offset: i64,
        log_end_offset: i64,
    },
    Io(io::Error),
}

impl From<io::Error> for ReadError {
    fn from(error: io::Error) -> Self {
        ReadError::Io(error)
    }
}

pub struct Log {
    dir: PathBuf,
    config: Cell<LogConfig>,
    segments: RefCell<Vec<Rc<Segment>>>,
    /// Idempotent producers seen in this log; the partition's append path
    /// checks and updates it under its append lock.
    producers: RefCell<ProducerState>,
}

impl Log {
    /// Opens the log in `dir` (creating it when new) and recovers every
    /// segment found there.
    pub async fn open(dir: &Path, config: LogConfig) -> io::Result<Log> {
        std::fs::create_dir_all(dir)?;
        let mut base_offsets = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            if let Some(stem) = name.strip_suffix(".log") {
                if let Ok(base_offset) = stem.parse::<i64>() {
                    base_offsets.push(base_offset);
                }
            }
        }
        base_offsets.sort_unstable();
        if base_offsets.is_empty() {
            base_offsets.push(0);
        }
        let mut segments: Vec<Rc<Segment>> = Vec::with_capacity(base_offsets.len());
        let mut producers = ProducerState::default();
        for base_offset in base_offsets {
            let mut found = ProducerState::default();
            let segment = Rc::new(Segment::open(dir, base_offset, &mut found).await?);
            if let Some(previous) = segments.last() {
                if previous.next_offset() != base_offset {
                    // A gap means the earlier segment lost its tail: the later
                    // segments were never acknowledged past that loss either.
                    eprintln!(
                        "corelog: recovery: {}: segment {} ends at offset {} but the next starts at {}; \
                         keeping the earlier segments only",
                        dir.display(),
                        previous.base_offset,
                        previous.next_offset(),
                        base_offset
                    );
                    remove_segment_files(segment.path());
                    continue;
                }
            }
            producers.absorb(found);
            segments.push(segment);
        }
        Ok(Log {
            dir: dir.to_path_buf(),
            config: Cell::new(config),
            segments: RefCell::new(segments),
            producers: RefCell::new(producers),
        })
    }

    pub fn producers(&self) -> &RefCell<ProducerState> {
        &self.producers
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config(&self) -> LogConfig {
        self.config.get()
    }

    pub fn set_config(&self, config: LogConfig) {
        self.config.set(config);
    }

    pub fn log_start_offset(&self) -> i64 {
        self.segments.borrow()[0].base_offset
    }

    pub fn log_end_offset(&self) -> i64 {
        self.active().next_offset()
    }

    pub fn size_bytes(&self) -> u64 {
        self.segments
            .borrow()
            .iter()
            .map(|segment| segment.size())
            .sum()
    }

    pub fn segment_count(&self) -> usize {
        self.segments.borrow().len()
    }

    fn active(&self) -> Rc<Segment> {
        self.segments
            .borrow()
            .last()
            .expect("a log always has a segment")
            .clone()
    }

    /// Appends validated batches. Rolls first when they would push the active
    /// segment past `segment.bytes`. The caller holds the append lock.
    pub async fn append(
        &self,
        records: &[u8],
        spans: &[BatchSpan],
        now_milliseconds: i64,
    ) -> io::Result<Appended> {
        let config = self.config.get();
        let mut active = self.active();
        if active.size() > 0 && active.size() + records.len() as u64 > config.segment_bytes {
            active.seal().await?;
            let next = Rc::new(
                Segment::open(&self.dir, active.next_offset(), &mut ProducerState::default()).await?,
            );
            self.segments.borrow_mut().push(next.clone());
            active = next;
        }
        active
            .append(records, spans, config.timestamp_type, now_milliseconds)
            .await
    }

    /// Makes every append so far durable (only the active segment can hold
    /// unsynced data; a segment is synced when sealed).
    pub async fn sync(&self) -> io::Result<()> {
        self.active().sync().await
    }

    /// Seals the active segment: clean shutdown.
    pub async fn close(&self) -> io::Result<()> {
        self.active().seal().await
    }

    /// Reads batches starting with the one that holds `offset`.
    pub async fn read(&self, offset: i64, max_bytes: u64) -> Result<Bytes, ReadError> {
        let log_start_offset = self.log_start_offset();
        let log_end_offset = self.log_end_offset();
        if offset < log_start_offset || offset > log_end_offset {
            return Err(ReadError::OffsetOutOfRange {
                log_start_offset,
                log_end_offset,
            });
        }
        if offset == log_end_offset {
            return Ok(Bytes::new());
        }
        let segment = {
            let segments = self.segments.borrow();
            let index = segments.partition_point(|segment| segment.base_offset <= offset) - 1;
            segments[index].clone()
        };
        Ok(segment.read(offset, max_bytes).await?)
    }

    /// The first batch (in offset order) whose max timestamp is at or after
    /// `timestamp`, as its bytes, for the caller to find the record in.
    pub async fn batch_by_timestamp(&self, timestamp: i64) -> io::Result<Option<Bytes>> {
        let candidates: Vec<Rc<Segment>> = self.segments.borrow().clone();
        for segment in candidates {
            if segment.max_timestamp() < timestamp {
                continue;
            }
            if let Some(summary) = segment.find_batch_by_timestamp(timestamp).await? {
                return Ok(Some(
                    segment
                        .read_range(summary.position, summary.total_bytes)
                        .await?,
                ));
            }
        }
        Ok(None)
    }
}

fn remove_segment_files(log_path: &Path) {
    for extension in ["log", "index", "timeindex"] {
        let _ = std::fs::remove_file(log_path.with_extension(extension));
    }
}
