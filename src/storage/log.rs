//! A partition's log: its segments in offset order, the active one last.
//!
//! Invariants (owned by one partition, on one core):
//! - segments are in offset order and never overlap: each base offset is at
//!   or after the previous segment's next offset. A gap between segments is
//!   legal (truncation and compaction leave them); offsets inside a segment
//!   are contiguous. The log end offset is the last segment's next offset.
//! - offsets are assigned contiguously from the log end (a leader's append),
//!   or taken as given only when they continue it (a follower's).
//! - only the last segment is appended to; the others are sealed.
//! - appends and truncations are serialised by the caller (the partition's
//!   writer task); reads may run beside an append and see the log as of
//!   some moment.
//! - the producer state is not kept here: the partition's state machine is
//!   fed at open and snapshotted into each seal, through
//!   [`ProducerHistory`].
//! - every leader epoch among the batches has its entry in the leader-epoch
//!   cache (`leader-epoch-checkpoint`, see `log_epochs.rs`), recorded before
//!   its first batch is written, cut with the log, clamped to its start.
//! - recovery opens, reads and closes one segment file at a time, so an
//!   opened log holds no descriptors until it is read or appended to (the
//!   shard's descriptor budget, `rt/file/budget.rs`, bounds them from then on).

use std::cell::{Cell, RefCell};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use bytes::Bytes;

use super::leader_epochs::LeaderEpochs;
use super::producers::{ProducerBatch, ProducerHistory};
use super::segment::{AppendPart, Appended, Assign, Segment};
use crate::protocol::batch::{BatchHeader, TimestampType};
use crate::rt::clock::{Clock, SystemClock};
use crate::rt::file::{DirectFile, SegmentFile};
use crate::rt::net::Piece;

/// The topic configs that shape how a log is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogConfig {
    /// `segment.bytes`: roll to a new segment before one grows past this.
    pub segment_bytes: u64,
    /// `max.message.bytes`: largest batch accepted.
    pub max_message_bytes: usize,
    /// `message.timestamp.type`.
    pub timestamp_type: TimestampType,
    /// `retention.ms`: sealed segments whose newest record is older than
    /// this are deleted (-1: never).
    pub retention_ms: i64,
    /// `retention.bytes`: oldest sealed segments are deleted while the log
    /// would stay at least this large without them (-1: no limit).
    pub retention_bytes: i64,
    /// `segment.ms`: roll once the active segment is this old.
    pub segment_ms: i64,
    /// `flush.messages` and `flush.ms`.
    pub flush: FlushPolicy,
}

impl Default for LogConfig {
    /// Kafka's topic defaults (`segment.bytes` 1 GiB, 7-day retention and
    /// roll), with corelog's durable flush policy.
    fn default() -> Self {
        LogConfig {
            segment_bytes: crate::limits::SEGMENT_BYTES_DEFAULT,
            max_message_bytes: crate::limits::MESSAGE_BYTES_MAX_DEFAULT as usize,
            timestamp_type: TimestampType::CreateTime,
            retention_ms: 604_800_000,
            retention_bytes: -1,
            segment_ms: 604_800_000,
            flush: FlushPolicy::Durable,
        }
    }
}

/// When appends are made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushPolicy {
    /// corelog's default: every append is synced by the shard's group
    /// commit; acks=all answers after it, and consumers see only synced
    /// records (the high watermark is the durable offset).
    Durable,
    /// Kafka's unsynced mode: a sync after `messages` appended records or
    /// `milliseconds` since the last one; acks=all answers once written, and
    /// a crash may lose the unsynced tail.
    Interval { messages: u64, milliseconds: u64 },
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

/// A log over the file type `F` and clock `C`: the broker's `DirectFile`
/// and `SystemClock`, or fakes in tests (static dispatch, no cost).
pub struct Log<F: SegmentFile = DirectFile, C: Clock + Default = SystemClock> {
    dir: PathBuf,
    config: Cell<LogConfig>,
    segments: RefCell<Vec<Rc<Segment<F>>>>,
    /// Set by DeleteRecords (persisted in `log-start-offset`); the log start
    /// offset is the larger of this and the first segment's base offset.
    log_start_floor: Cell<i64>,
    /// When the active segment was opened, for `segment.ms`.
    active_since: Cell<std::time::Instant>,
    /// Where `active_since` and the age of the active segment come from.
    clock: C,
    /// How far the log is known to be on disk: (offset, base offset of the
    /// segment holding it, byte position there). Everything found at open
    /// counts as durable; a sync moves it to what was written before it.
    durable: Cell<Durable>,
    /// Segments read batch by batch at open (not trusted from a seal).
    segments_scanned: usize,
    /// Where each leader epoch starts (`leader-epoch-checkpoint`), kept
    /// ahead of the batches: see `log_epochs.rs`.
    epochs: LeaderEpochs,
    /// Bytes of those segments (start-up progress reports them).
    bytes_scanned: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Durable {
    offset: i64,
    segment_base_offset: i64,
    position: u64,
}

/// A segment that retention deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deleted {
    pub base_offset: i64,
    pub next_offset: i64,
    pub bytes: u64,
    pub reason: &'static str,
}

const LOG_START_OFFSET_FILE: &str = "log-start-offset";

impl<F: SegmentFile, C: Clock + Default> Log<F, C> {
    /// Opens the log in `dir` (creating it when new) and recovers every
    /// segment found there, feeding `producers` the producer state as of
    /// the log end (from seal snapshots and the batches scanned after them).
    pub async fn open(
        dir: &Path,
        config: LogConfig,
        producers: &mut dyn ProducerHistory,
    ) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let (segments, scanned, bytes_scanned) = recover_segments::<F>(dir, producers).await?;
        let active = segments.last().expect("at least one segment");
        let durable = Durable {
            offset: active.next_offset(),
            segment_base_offset: active.base_offset,
            position: active.size(),
        };
        let log_start_floor = read_log_start_floor(dir, durable.offset);
        let log_start_offset = segments[0].base_offset.max(log_start_floor);
        let epochs = open_epochs(dir, &segments, log_start_offset, durable.offset).await?;
        let clock = C::default();
        Ok(Log {
            dir: dir.to_path_buf(),
            config: Cell::new(config),
            log_start_floor: Cell::new(log_start_floor),
            active_since: Cell::new(clock.now()),
            clock,
            segments_scanned: scanned,
            bytes_scanned,
            durable: Cell::new(durable),
            segments: RefCell::new(segments),
            epochs,
        })
    }

    /// Segments that had to be scanned at open (0 after a clean shutdown).
    pub fn segments_scanned(&self) -> usize {
        self.segments_scanned
    }

    /// Bytes of the segments scanned at open.
    pub fn bytes_scanned(&self) -> u64 {
        self.bytes_scanned
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The clock the log measures segment age by (a test moves a manual one).
    pub fn clock(&self) -> &C {
        &self.clock
    }

    pub fn config(&self) -> LogConfig {
        self.config.get()
    }

    pub fn set_config(&self, config: LogConfig) {
        self.config.set(config);
    }

    pub fn log_start_offset(&self) -> i64 {
        self.segments.borrow()[0]
            .base_offset
            .max(self.log_start_floor.get())
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

    fn active(&self) -> Rc<Segment<F>> {
        self.segments
            .borrow()
            .last()
            .expect("a log always has a segment")
            .clone()
    }

    /// A leader's append: validated batches, the `parts` of one or more
    /// appends in one write, get offsets from the log end and
    /// `leader_epoch` stamped. Rolls first when they would push the active
    /// segment past `segment.bytes` (the old segment's seal snapshots
    /// `producers`, the state as of its end). The caller orders appends
    /// (one at a time).
    pub async fn append(
        &self,
        parts: &[AppendPart<'_>],
        leader_epoch: i32,
        now_milliseconds: i64,
        producers: &dyn ProducerHistory,
    ) -> io::Result<(Vec<Appended>, Bytes)> {
        let config = self.config.get();
        let assign = Assign::Leader {
            leader_epoch,
            timestamp_type: config.timestamp_type,
            now_milliseconds,
        };
        let starts = [(leader_epoch, self.log_end_offset())];
        self.write_with_epochs(parts, assign, &starts, producers)
            .await
    }

    /// A follower's append: batches whose offsets (and leader epochs) the
    /// leader assigned are written as they are. Refused (InvalidInput,
    /// nothing written) unless their offsets continue the log end without
    /// gap or overlap.
    pub async fn append_as_given(
        &self,
        parts: &[AppendPart<'_>],
        producers: &dyn ProducerHistory,
    ) -> io::Result<(Vec<Appended>, Bytes)> {
        let mut expected = self.log_end_offset();
        // Each batch's epoch: the cache learns of those that start one.
        let mut starts = Vec::new();
        for part in parts {
            for span in part.spans {
                let header = BatchHeader::view(&part.records[span.position..])
                    .expect("validated batch has a header");
                starts.push((header.partition_leader_epoch.get(), expected));
                if header.base_offset.get() != expected {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!(
                            "a replicated batch starts at offset {} where the log continues at {expected}",
                            header.base_offset.get()
                        ),
                    ));
                }
                expected += span.offset_count;
            }
        }
        self.write_with_epochs(parts, Assign::AsGiven, &starts, producers)
            .await
    }

    async fn write(
        &self,
        parts: &[AppendPart<'_>],
        assign: Assign,
        producers: &dyn ProducerHistory,
    ) -> io::Result<(Vec<Appended>, Bytes)> {
        let config = self.config.get();
        let mut active = self.active();
        let length: u64 = parts.iter().map(|part| part.records.len() as u64).sum();
        let too_big = active.size() + length > config.segment_bytes;
        let age = self
            .clock
            .now()
            .saturating_duration_since(self.active_since.get());
        let too_old = age.as_millis() as i64 >= config.segment_ms;
        if active.size() > 0 && (too_big || too_old) {
            active.seal(producers).await?;
            // Sealing synced the old segment whole.
            self.durable.set(Durable {
                offset: active.next_offset(),
                segment_base_offset: active.next_offset(),
                position: 0,
            });
            // Nothing is recorded in a new segment before its first batch.
            let next = Rc::new(
                Segment::open(
                    &self.dir,
                    active.next_offset(),
                    &mut Vec::<ProducerBatch>::new(),
                )
                .await?,
            );
            self.segments.borrow_mut().push(next.clone());
            self.active_since.set(self.clock.now());
            // Sealed: its O_DIRECT descriptor is not needed again, and
            // readers reopen it when they come.
            active.release_file().await;
            active = next;
        }
        let log_end_offset = active.next_offset();
        let (appended, written) = active.append(parts, assign).await?;
        // Offsets are assigned contiguously: each append continues the last.
        let mut next = log_end_offset;
        for part in &appended {
            assert_eq!(part.base_offset, next, "offsets are assigned contiguously");
            assert!(
                part.next_offset > part.base_offset,
                "an append holds an offset"
            );
            next = part.next_offset;
        }
        debug_assert_eq!(self.log_end_offset(), next);
        Ok((appended, written))
    }

    /// Makes every append so far durable (only the active segment can hold
    /// unsynced data; a segment is synced when sealed).
    pub async fn sync(&self) -> io::Result<()> {
        let active = self.active();
        let reached = Durable {
            offset: active.next_offset(),
            segment_base_offset: active.base_offset,
            position: active.size(),
        };
        active.sync().await?;
        if reached.offset > self.durable.get().offset {
            self.durable.set(reached);
        }
        Ok(())
    }

    /// The end of what is known to be on disk.
    pub fn durable_offset(&self) -> i64 {
        self.durable.get().offset
    }

    /// Seals the active segment (its seal snapshots `producers`, the state
    /// as of the log end) and closes its file: clean shutdown.
    pub async fn close(&self, producers: &dyn ProducerHistory) -> io::Result<()> {
        let active = self.active();
        if self.segment_count() == 1 && active.size() == 0 && !active.written() {
            // Never written (a partition created and left empty): its
            // recovery reads nothing, and a seal would cost four syncs, for
            // each of thousands of new partitions at shutdown.
            active.release_file().await;
            return Ok(());
        }
        active.seal(producers).await?;
        active.release_file().await;
        Ok(())
    }

    /// Reads batches starting with the one that holds `offset`, none at or
    /// past `visible_end` (the high watermark).
    pub async fn read(
        &self,
        offset: i64,
        max_bytes: u64,
        visible_end: i64,
    ) -> Result<Bytes, ReadError> {
        match self.locate(offset, max_bytes, visible_end).await? {
            Some((segment, position, length)) => Ok(segment.read_range(position, length).await?),
            None => Ok(Bytes::new()),
        }
    }

    /// Like `read`, but as a range of a segment file for the kernel to
    /// send (sendfile), with no copy through this process; read into
    /// memory instead when the shard's descriptor budget has no descriptor
    /// to lend to sendfile.
    pub async fn read_region(
        &self,
        offset: i64,
        max_bytes: u64,
        visible_end: i64,
    ) -> Result<Option<Piece>, ReadError> {
        let Some((segment, position, length)) = self.locate(offset, max_bytes, visible_end).await?
        else {
            return Ok(None);
        };
        Ok(Some(match segment.region(position, length).await? {
            Some(region) => Piece::File(region),
            None => Piece::Memory(segment.read_range(position, length).await?),
        }))
    }

    /// Fails with OffsetOutOfRange unless `offset` is within
    /// `[log_start_offset, log_end_offset]`.
    pub fn check_offset(&self, offset: i64) -> Result<(), ReadError> {
        let log_start_offset = self.log_start_offset();
        let log_end_offset = self.log_end_offset();
        if offset < log_start_offset || offset > log_end_offset {
            return Err(ReadError::OffsetOutOfRange {
                log_start_offset,
                log_end_offset,
            });
        }
        Ok(())
    }

    /// The segment, position and length a read from `offset` covers.
    async fn locate(
        &self,
        offset: i64,
        max_bytes: u64,
        visible_end: i64,
    ) -> Result<Option<(Rc<Segment<F>>, u64, u64)>, ReadError> {
        self.check_offset(offset)?;
        let log_end_offset = self.log_end_offset();
        if offset >= log_end_offset || offset >= visible_end {
            return Ok(None);
        }
        // The first segment that ends past `offset`: the one holding it, or
        // the next one after a gap (reads skip gaps, as Kafka's do).
        let segment = {
            let segments = self.segments.borrow();
            let index = segments.partition_point(|segment| segment.next_offset() <= offset);
            segments[index].clone()
        };
        let durable = self.durable.get();
        let end_position = (visible_end < log_end_offset
            && segment.base_offset == durable.segment_base_offset)
            .then_some(durable.position);
        Ok(segment
            .locate(offset, max_bytes, end_position)
            .await?
            .map(|(position, length)| (segment, position, length)))
    }

    /// The first batch (in offset order) whose max timestamp is at or after
    /// `timestamp`, as its bytes, for the caller to find the record in.
    pub async fn batch_by_timestamp(&self, timestamp: i64) -> io::Result<Option<Bytes>> {
        let candidates: Vec<Rc<Segment<F>>> = self.segments.borrow().clone();
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

#[path = "log_epochs.rs"]
mod epochs;
use epochs::open_epochs;

impl<F: SegmentFile, C: Clock + Default> Log<F, C> {
    /// Drops every record at and after `offset`, durably: whole segments
    /// from the newest back, then the tail of the one holding `offset`
    /// (from the start of the batch holding it: a batch is kept or dropped
    /// whole), indexes included. What a follower does before it copies
    /// its leader's log from a point of divergence. Returns the new log
    /// end offset: `offset`, or lower when a batch straddled it, or the
    /// first segment's base offset when `offset` is below it.
    ///
    /// With nothing to cut (`offset` at or past the log end) every record
    /// stays, but an epoch entry starting at the log end goes: it is a
    /// leadership this replica took and never wrote in
    /// (`assign_epoch_start`), which the leader it now follows never had.
    /// Kept, it would stay this log's latest epoch: the follower would
    /// send it as its last fetched epoch again, get the same diverging
    /// epoch back and cut nothing, forever (Kafka's `truncateTo` drops it
    /// the same way).
    pub async fn truncate_to(&self, offset: i64) -> io::Result<i64> {
        if offset >= self.log_end_offset() {
            let log_end_offset = self.log_end_offset();
            self.epochs.truncate_from_end(log_end_offset)?;
            return Ok(log_end_offset);
        }
        let mut removed = false;
        loop {
            let newest = {
                let segments = self.segments.borrow();
                match segments.last() {
                    Some(newest) if segments.len() > 1 && newest.base_offset >= offset => {
                        newest.clone()
                    }
                    _ => break,
                }
            };
            self.segments.borrow_mut().pop();
            remove_segment_files(newest.path());
            removed = true;
        }
        if removed {
            // The removals survive a crash before the cut below does.
            std::fs::File::open(&self.dir)?.sync_all()?;
        }
        let active = self.active();
        let log_end_offset = active.truncate_to(offset).await?;
        // A DeleteRecords floor past the new end would put the log start
        // after the log end (the file keeps it; open clamps it the same).
        self.log_start_floor
            .set(self.log_start_floor.get().min(log_end_offset));
        // After the cut, so a crash between the two leaves entries past
        // the log end, which open drops, never batches without an entry.
        self.epochs.truncate_from_end(log_end_offset)?;
        // The cut was synced: everything left is on disk.
        self.durable.set(Durable {
            offset: log_end_offset,
            segment_base_offset: active.base_offset,
            position: active.size(),
        });
        assert!(log_end_offset <= offset.max(active.base_offset));
        debug_assert_eq!(self.log_end_offset(), log_end_offset);
        Ok(log_end_offset)
    }

    /// DeleteRecords: records below `offset` are no longer served. The
    /// segments wholly below it go at the next retention pass.
    pub fn advance_log_start(&self, offset: i64) -> io::Result<i64> {
        let offset = offset.min(self.log_end_offset());
        if offset > self.log_start_offset() {
            let path = self.dir.join(LOG_START_OFFSET_FILE);
            let temporary = path.with_extension("tmp");
            let mut file = std::fs::File::create(&temporary)?;
            writeln!(file, "{offset}")?;
            file.sync_all()?;
            std::fs::rename(&temporary, &path)?;
            self.log_start_floor.set(offset);
            self.epochs.truncate_from_start(self.log_start_offset())?;
        }
        Ok(self.log_start_offset())
    }

    /// Deletes sealed segments, oldest first, that the log start offset,
    /// `retention.ms` or `retention.bytes` no longer need. The active
    /// segment stays. Readers holding a deleted segment finish reading it
    /// (the file is unlinked, not closed).
    pub fn enforce_retention(&self, now_milliseconds: i64) -> Vec<Deleted> {
        let config = self.config.get();
        let mut deleted = Vec::new();
        loop {
            let (first, total_bytes) = {
                let segments = self.segments.borrow();
                if segments.len() < 2 {
                    break;
                }
                let total: u64 = segments.iter().map(|segment| segment.size()).sum();
                (segments[0].clone(), total)
            };
            let reason = if first.next_offset() <= self.log_start_floor.get() {
                "below the log start offset"
            } else if config.retention_ms >= 0
                && first.max_timestamp() >= 0
                && first.max_timestamp() < now_milliseconds.saturating_sub(config.retention_ms)
            {
                "older than retention.ms"
            } else if config.retention_bytes >= 0
                && total_bytes - first.size() >= config.retention_bytes as u64
            {
                "beyond retention.bytes"
            } else {
                break;
            };
            self.segments.borrow_mut().remove(0);
            remove_segment_files(first.path());
            deleted.push(Deleted {
                base_offset: first.base_offset,
                next_offset: first.next_offset(),
                bytes: first.size(),
                reason,
            });
        }
        if !deleted.is_empty() {
            self.clamp_epochs_to_log_start();
        }
        deleted
    }
}

/// Opens every segment in `dir` in offset order, one file at a time,
/// skipping (and removing) one that overlaps its predecessor. Returns the
/// segments, how many of them had to be scanned, and their bytes.
async fn recover_segments<F: SegmentFile>(
    dir: &Path,
    producers: &mut dyn ProducerHistory,
) -> io::Result<(Vec<Rc<Segment<F>>>, usize, u64)> {
    let mut segments: Vec<Rc<Segment<F>>> = Vec::new();
    let (mut scanned, mut bytes_scanned) = (0usize, 0u64);
    for base_offset in segment_base_offsets(dir)? {
        if let Some(previous) = segments.last() {
            if base_offset < previous.next_offset() {
                remove_overlapping_segment(dir, base_offset, previous.next_offset());
                continue;
            }
        }
        let (segment, was_scanned) = recover_segment(dir, base_offset, producers).await?;
        if was_scanned {
            scanned += 1;
            bytes_scanned += segment.size();
        }
        let segment = Rc::new(segment);
        segment.release_file().await;
        segments.push(segment);
    }
    debug_assert!(
        segments
            .windows(2)
            .all(|pair| pair[0].next_offset() <= pair[1].base_offset),
        "recovered segments are in order and never overlap"
    );
    Ok((segments, scanned, bytes_scanned))
}

/// Overlapping offsets cannot both be right: the earlier segment is the
/// one that was acknowledged in order, so the one at `base_offset`, which
/// starts before the previous one ends at `previous_end`, goes.
fn remove_overlapping_segment(dir: &Path, base_offset: i64, previous_end: i64) {
    tracing::warn!(
        "recovery: {}: segment {base_offset} starts inside the previous one \
         (which ends at offset {previous_end}); removing it",
        dir.display(),
    );
    remove_segment_files(&dir.join(format!("{}.log", super::segment::file_stem(base_offset))));
}

/// Opens one segment, and whether its batches had to be read. A sealed
/// segment is trusted without reading it; its seal record carries the
/// producer state as of its end. Anything else (the active segment after a
/// crash, a damaged index) is scanned batch by batch, its tail cut at the
/// first damage.
async fn recover_segment<F: SegmentFile>(
    dir: &Path,
    base_offset: i64,
    producers: &mut dyn ProducerHistory,
) -> io::Result<(Segment<F>, bool)> {
    if let Some((segment, record)) = Segment::open_sealed(dir, base_offset).await? {
        producers.restore(&record.producers);
        return Ok((segment, false));
    }
    let segment = Segment::open(dir, base_offset, producers).await?;
    // An empty file (a partition never written, whose shutdown wrote no
    // seal) costs nothing to scan.
    let scanned = segment.size() > 0;
    Ok((segment, scanned))
}

/// The DeleteRecords floor persisted in `dir` (0 when there is none),
/// never past `log_end_offset`.
fn read_log_start_floor(dir: &Path, log_end_offset: i64) -> i64 {
    match std::fs::read_to_string(dir.join(LOG_START_OFFSET_FILE)) {
        Ok(text) => text.trim().parse::<i64>().unwrap_or(0).min(log_end_offset),
        Err(_) => 0,
    }
}

/// The base offsets of the segment files in `dir`, in order; one (0) for
/// a new log.
fn segment_base_offsets(dir: &Path) -> io::Result<Vec<i64>> {
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
    Ok(base_offsets)
}

fn remove_segment_files(log_path: &Path) {
    for extension in ["log", "index", "timeindex", "seal"] {
        let _ = std::fs::remove_file(log_path.with_extension(extension));
    }
}
