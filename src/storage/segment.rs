//! One segment file: batches appended with direct IO, read back by offset.
//!
//! Direct IO writes whole aligned blocks, so the segment keeps the bytes of
//! its last partial block (`tail`) in memory and rewrites that block together
//! with the new data on every append. The logical size is kept apart from the
//! file size: past it the file holds only zero padding, which recovery reads
//! as the end of the log (a zero batch has magic 0).
//!
//! Invariants (owned by one partition, on one core):
//! - `size` is the end of the last whole batch written; bytes below it never
//!   change once written, so a read below `size` needs no lock.
//! - `tail == file[align_down(size)..size]`.
//! - batches are contiguous in offset: each `base_offset` is the previous
//!   batch's last offset + 1, the first one is the segment's base offset.
//! - only one append or truncation runs at a time (the partition's writer
//!   task is the only caller).
//! - the file holds no descriptor between uses: each operation takes a
//!   [`OpenSegmentFile`] (opening the file within the shard's descriptor budget)
//!   and keeps it for its whole read, write or sync, so the budget closes
//!   the file only between operations.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::index::{self, OffsetIndex, TimeIndex};
use super::producers::{ProducerBatch, ProducerHistory};
use super::seal::SealRecord;
use crate::limits::{DIRECT_IO_ALIGNMENT_BYTES, INDEX_INTERVAL_BYTES, SEGMENT_SCAN_CHUNK_BYTES};
use crate::protocol::batch::{
    self, BatchHeader, BatchSpan, TimestampType, BATCH_HEADER_BYTES, BATCH_LENGTH_PREFIX_BYTES,
};
use crate::rt::file::{DirectFile, FileRegion, OpenSegmentFile, SegmentFile};

#[path = "segment_truncate.rs"]
mod truncate;

/// What a scan learns about one batch without reading its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSummary {
    pub position: u64,
    pub total_bytes: u64,
    pub base_offset: i64,
    pub last_offset: i64,
    pub max_timestamp: i64,
    /// The batch's `partition_leader_epoch` (-1 when written without one).
    pub leader_epoch: i32,
    /// The idempotent producer that wrote the batch, if any.
    pub producer: Option<ProducerBatch>,
}

/// The records of one append, split into their batches.
#[derive(Debug, Clone, Copy)]
pub struct AppendPart<'a> {
    pub records: &'a [u8],
    pub spans: &'a [BatchSpan],
}

/// How an append's batches get their offsets.
#[derive(Debug, Clone, Copy)]
pub enum Assign {
    /// A leader's append: offsets from the segment's next offset, the
    /// leader epoch and (for `LogAppendTime`) the timestamp stamped.
    Leader {
        leader_epoch: i32,
        timestamp_type: TimestampType,
        now_milliseconds: i64,
    },
    /// A follower's append: the batches keep the offsets and epochs their
    /// leader gave them (the log checked they continue it).
    AsGiven,
}

/// The result of one append.
#[derive(Debug, Clone, Copy)]
pub struct Appended {
    pub base_offset: i64,
    pub next_offset: i64,
    pub max_timestamp: i64,
}

struct SegmentState {
    size: u64,
    tail: Vec<u8>,
    next_offset: i64,
    max_timestamp: i64,
    offset_index: OffsetIndex,
    time_index: TimeIndex,
    bytes_since_index: u64,
}

/// A segment over the file type `F`: the broker's `DirectFile`, or a fake.
pub struct Segment<F: SegmentFile = DirectFile> {
    pub base_offset: i64,
    file: F,
    log_path: PathBuf,
    state: RefCell<SegmentState>,
    /// A seal record describes this segment on disk: it must go before the
    /// segment changes (done by the first append, so a start that opens
    /// many idle partitions deletes nothing).
    sealed_on_disk: Cell<bool>,
}

pub fn file_stem(base_offset: i64) -> String {
    format!("{base_offset:020}")
}

fn align_down(value: u64) -> u64 {
    value - value % DIRECT_IO_ALIGNMENT_BYTES as u64
}

fn align_up(value: usize) -> usize {
    value.div_ceil(DIRECT_IO_ALIGNMENT_BYTES) * DIRECT_IO_ALIGNMENT_BYTES
}

impl<F: SegmentFile> Segment<F> {
    /// Opens (or creates) the segment at `base_offset` in `dir` and scans it:
    /// every batch is checked (length, CRC-32C, offset continuity) and
    /// whatever follows the last valid batch is cut off, so a torn write
    /// from a crash is never served. The indexes are rebuilt by the scan.
    pub async fn open(
        dir: &Path,
        base_offset: i64,
        producers: &mut dyn ProducerHistory,
    ) -> io::Result<Segment<F>> {
        let log_path = dir.join(format!("{}.log", file_stem(base_offset)));
        let file = F::new(&log_path);
        // Creates the file when missing (a new segment).
        let reading = file.reading().await?;
        let file_size = reading.size().await?;
        let mut state = SegmentState::empty(base_offset);
        let valid_end =
            recover_batches(&reading, file_size, &mut state, base_offset, producers).await?;
        if valid_end < file_size {
            report_cut(&reading, &log_path, valid_end, file_size, state.next_offset).await?;
        }
        state.size = valid_end;
        state.tail = read_tail(&reading, valid_end).await?;
        drop(reading);
        if valid_end < file_size {
            cut_after_last_block(&file, valid_end).await?;
        }
        Ok(Segment {
            base_offset,
            file,
            log_path,
            state: RefCell::new(state),
            sealed_on_disk: Cell::new(false),
        })
    }

    pub fn size(&self) -> u64 {
        self.state.borrow().size
    }

    pub fn next_offset(&self) -> i64 {
        self.state.borrow().next_offset
    }

    pub fn max_timestamp(&self) -> i64 {
        self.state.borrow().max_timestamp
    }

    pub fn path(&self) -> &Path {
        &self.log_path
    }

    /// Appends validated batches in one write: `parts` are the records of
    /// one or more appends, each split by its spans, written back to back
    /// with offsets assigned from the segment's next offset. Returns what
    /// each part got, and the stored bytes of them all (for the tail
    /// cache). Nothing in memory changes unless the write succeeded, so a
    /// failed append leaves the segment as it was and can be retried.
    pub async fn append(
        &self,
        parts: &[AppendPart<'_>],
        assign: Assign,
    ) -> io::Result<(Vec<Appended>, Bytes)> {
        self.unseal()?;
        // Held until the write is done: the file is not closed under it.
        let file = self.file.writing().await?;
        let (write_position, tail_length, first_offset) = {
            let state = self.state.borrow();
            (align_down(state.size), state.tail.len(), state.next_offset)
        };
        let records_length: usize = parts.iter().map(|part| part.records.len()).sum();
        let used = tail_length + records_length;
        let mut buffer = self.file.allocate(align_up(used), used);
        let mut summaries = Vec::new();
        let mut appended = Vec::with_capacity(parts.len());
        {
            let bytes = buffer.as_mut_slice();
            bytes[..tail_length].copy_from_slice(&self.state.borrow().tail);
            let mut offset = first_offset;
            let mut part_start = tail_length;
            for part in parts {
                bytes[part_start..part_start + part.records.len()].copy_from_slice(part.records);
                let part_first_offset = offset;
                let mut part_max_timestamp = -1;
                for span in part.spans {
                    let start = part_start + span.position;
                    let max_timestamp =
                        stamp(&mut bytes[start..start + span.length], offset, assign);
                    part_max_timestamp = part_max_timestamp.max(max_timestamp);
                    summaries.push(BatchSummary {
                        position: write_position + start as u64,
                        total_bytes: span.length as u64,
                        base_offset: offset,
                        last_offset: offset + span.offset_count - 1,
                        max_timestamp,
                        leader_epoch: BatchHeader::view(&bytes[start..])
                            .expect("validated batch has a header")
                            .partition_leader_epoch
                            .get(),
                        // Producer state is the partition's to record.
                        producer: None,
                    });
                    offset += span.offset_count;
                }
                appended.push(Appended {
                    base_offset: part_first_offset,
                    next_offset: offset,
                    max_timestamp: part_max_timestamp,
                });
                part_start += part.records.len();
            }
        }
        let new_tail_start = align_down(used as u64) as usize;
        let new_tail = buffer.as_mut_slice()[new_tail_start..used].to_vec();
        // The batches as stored, for the tail cache.
        let written = Bytes::copy_from_slice(&buffer.as_mut_slice()[tail_length..used]);
        file.write_at(buffer, write_position).await?;
        drop(file);

        let mut state = self.state.borrow_mut();
        debug_assert_eq!(
            state.size,
            write_position + tail_length as u64,
            "appends are serialised"
        );
        for summary in &summaries {
            record_batch(&mut state, self.base_offset, *summary);
        }
        state.tail = new_tail;
        debug_assert_eq!(state.size, write_position + used as u64);
        Ok((appended, written))
    }

    /// Makes everything appended so far durable.
    pub async fn sync(&self) -> io::Result<()> {
        self.file.sync().await
    }

    /// Trims the zero padding after the last batch, syncs, writes both
    /// indexes and then the seal record (last, so its presence means the
    /// rest is complete): called when the segment is rolled and at clean
    /// shutdown. `producers` is the log's producer state as of this
    /// segment's end.
    pub async fn seal(&self, producers: &dyn ProducerHistory) -> io::Result<()> {
        if self.sealed_on_disk.get() {
            // Unchanged since its seal record was written (an append
            // removes it first): a partition that stayed idle since start
            // is neither opened nor rewritten at shutdown.
            return Ok(());
        }
        let size = self.size();
        self.file.writing().await?.truncate(size).await?;
        self.file.sync().await?;
        let (offsets, times, next_offset, max_timestamp) = {
            let state = self.state.borrow();
            (
                state.offset_index.encode(),
                state.time_index.encode(),
                state.next_offset,
                state.max_timestamp,
            )
        };
        index::write_file(&self.log_path.with_extension("index"), &offsets)?;
        index::write_file(&self.log_path.with_extension("timeindex"), &times)?;
        let record = SealRecord {
            size,
            next_offset,
            max_timestamp,
            offset_index_crc: crc32c::crc32c(&offsets),
            time_index_crc: crc32c::crc32c(&times),
            producers: producers.snapshot(),
        };
        index::write_file(&self.log_path.with_extension("seal"), &record.encode())?;
        self.sealed_on_disk.set(true);
        self.file.set_read_only();
        Ok(())
    }

    /// Opens a segment from its seal record without reading its batches.
    /// `None` when there is no valid seal record, the file size differs
    /// from it, or an index does not match its CRC: the caller scans.
    pub async fn open_sealed(
        dir: &Path,
        base_offset: i64,
    ) -> io::Result<Option<(Segment<F>, SealRecord)>> {
        let log_path = dir.join(format!("{}.log", file_stem(base_offset)));
        let Some(record) = std::fs::read(log_path.with_extension("seal"))
            .ok()
            .and_then(|bytes| SealRecord::decode(&bytes))
        else {
            return Ok(None);
        };
        let file = F::new(&log_path);
        let reading = file.reading().await?;
        if reading.size().await? != record.size || record.next_offset < base_offset {
            return Ok(None);
        }
        let read_index = |extension: &str, crc: u32| {
            std::fs::read(log_path.with_extension(extension))
                .ok()
                .filter(|bytes| crc32c::crc32c(bytes) == crc)
        };
        let offset_index = read_index("index", record.offset_index_crc)
            .and_then(|bytes| OffsetIndex::decode(&bytes, record.size.max(1)));
        let time_index = read_index("timeindex", record.time_index_crc)
            .and_then(|bytes| TimeIndex::decode(&bytes));
        let (Some(offset_index), Some(time_index)) = (offset_index, time_index) else {
            return Ok(None);
        };
        let tail = read_tail(&reading, record.size).await?;
        drop(reading);
        let state = SegmentState {
            size: record.size,
            tail,
            next_offset: record.next_offset,
            max_timestamp: record.max_timestamp,
            offset_index,
            time_index,
            bytes_since_index: 0,
        };
        Ok(Some((
            Segment {
                base_offset,
                file,
                log_path,
                state: RefCell::new(state),
                sealed_on_disk: Cell::new(true),
            },
            record,
        )))
    }

    /// Removes the seal record before the segment changes, so that a crash
    /// from here on makes the next start scan it. The removal need not be
    /// synced: should a crash bring the seal back, the file size no longer
    /// matches it once any append reached the disk (every sync persists the
    /// size), and without such an append it is still true.
    fn unseal(&self) -> io::Result<()> {
        if !self.sealed_on_disk.get() {
            return Ok(());
        }
        match std::fs::remove_file(self.log_path.with_extension("seal")) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
        self.sealed_on_disk.set(false);
        Ok(())
    }

    /// The first batch holding an offset at or after `offset`, if any.
    pub async fn find_batch(&self, offset: i64) -> io::Result<Option<BatchSummary>> {
        let (start, end) = {
            let state = self.state.borrow();
            if offset >= state.next_offset {
                return Ok(None);
            }
            let relative = (offset - self.base_offset).clamp(0, i64::from(u32::MAX)) as u32;
            (
                u64::from(state.offset_index.position_at_or_before(relative)),
                state.size,
            )
        };
        self.first_batch(start, end, |summary| summary.last_offset >= offset)
            .await
    }

    /// Calls `visit` with every batch of the segment, in order, from their
    /// headers (what rebuilding the leader-epoch cache and the producer
    /// state after a truncation reads).
    pub async fn visit_batches(&self, mut visit: impl FnMut(&BatchSummary)) -> io::Result<()> {
        let file = self.file.reading().await?;
        scan(&file, 0, self.size(), false, |summary| {
            visit(&summary);
            true
        })
        .await?;
        Ok(())
    }

    /// The seal record beside this segment, when it still describes it
    /// (the producer state as of its end, for a rebuild after truncation).
    pub fn seal_record(&self) -> Option<SealRecord> {
        let record = std::fs::read(self.log_path.with_extension("seal"))
            .ok()
            .and_then(|bytes| SealRecord::decode(&bytes))?;
        (self.sealed_on_disk.get()
            && record.size == self.size()
            && record.next_offset == self.next_offset())
        .then_some(record)
    }

    /// The first batch whose max timestamp is at or after `timestamp`.
    pub async fn find_batch_by_timestamp(
        &self,
        timestamp: i64,
    ) -> io::Result<Option<BatchSummary>> {
        self.first_batch(0, self.size(), |summary| summary.max_timestamp >= timestamp)
            .await
    }

    /// The first batch between positions `start` and `end` that `wanted`
    /// picks.
    async fn first_batch(
        &self,
        start: u64,
        end: u64,
        wanted: impl Fn(&BatchSummary) -> bool,
    ) -> io::Result<Option<BatchSummary>> {
        let mut found = None;
        let file = self.file.reading().await?;
        scan(&file, start, end, false, |summary| {
            if wanted(&summary) {
                found = Some(summary);
                return false;
            }
            true
        })
        .await?;
        Ok(found)
    }

    /// The range a read from `offset` covers, as (position, length), None
    /// for nothing: from the batch holding `offset`, at most `max_bytes`, cut
    /// at the segment's end (the last batch may be partial, as in Kafka),
    /// but never less than that first whole batch, so a batch larger than
    /// `max_bytes` can still be consumed. `end_position` (when given) is
    /// where visible data ends: records past the high watermark are not
    /// served.
    pub async fn locate(
        &self,
        offset: i64,
        max_bytes: u64,
        end_position: Option<u64>,
    ) -> io::Result<Option<(u64, u64)>> {
        let Some(first) = self.find_batch(offset).await? else {
            return Ok(None);
        };
        let end = end_position.unwrap_or(u64::MAX).min(self.size());
        if first.position >= end {
            return Ok(None);
        }
        let available = end - first.position;
        let length = max_bytes.min(available).max(first.total_bytes);
        Ok(Some((first.position, length)))
    }

    pub async fn read_range(&self, position: u64, length: u64) -> io::Result<Bytes> {
        self.file.read_at(position, length as usize).await
    }

    /// A range of the segment file for the kernel to send (sendfile);
    /// `None` when the shard's descriptor budget has none to spare for it
    /// (the caller reads the range instead).
    pub async fn region(&self, position: u64, length: u64) -> io::Result<Option<FileRegion>> {
        self.file.reading().await?.region(position, length)
    }

    /// Whether anything was written to the file since it was opened here.
    pub fn written(&self) -> bool {
        self.file.written()
    }

    /// Closes the segment's file unless something is using it: it opens
    /// again on its next use. Recovery calls this after each segment so a
    /// start opens files one at a time, and idle partitions hold none.
    pub async fn release_file(&self) {
        self.file.release().await
    }
}

/// Gives a batch its place at `offset` (see [`Assign`]); its max timestamp
/// as stored.
fn stamp(batch: &mut [u8], offset: i64, assign: Assign) -> i64 {
    match assign {
        Assign::Leader {
            leader_epoch,
            timestamp_type,
            now_milliseconds,
        } => batch::assign_offset(
            batch,
            offset,
            leader_epoch,
            timestamp_type,
            now_milliseconds,
        ),
        Assign::AsGiven => {
            let header = BatchHeader::view(batch).expect("validated batch has a header");
            assert_eq!(
                header.base_offset.get(),
                offset,
                "offsets as given continue the log"
            );
            header.max_timestamp.get()
        }
    }
}

fn record_batch(state: &mut SegmentState, base_offset: i64, summary: BatchSummary) {
    debug_assert!(
        summary.base_offset == state.next_offset,
        "offsets are contiguous within a segment"
    );
    let relative = (summary.base_offset - base_offset) as u32;
    if state.offset_index.is_empty() || state.bytes_since_index >= INDEX_INTERVAL_BYTES {
        state.offset_index.push(relative, summary.position as u32);
        state
            .time_index
            .push(summary.max_timestamp.max(state.max_timestamp), relative);
        state.bytes_since_index = 0;
    }
    state.bytes_since_index += summary.total_bytes;
    state.size = summary.position + summary.total_bytes;
    state.next_offset = summary.last_offset + 1;
    state.max_timestamp = state.max_timestamp.max(summary.max_timestamp);
}

fn is_zero(bytes: &[u8]) -> bool {
    bytes.iter().all(|&byte| byte == 0)
}

impl SegmentState {
    /// A segment holding nothing yet, its first offset `base_offset`.
    fn empty(base_offset: i64) -> SegmentState {
        SegmentState {
            size: 0,
            tail: Vec::new(),
            next_offset: base_offset,
            max_timestamp: -1,
            offset_index: OffsetIndex::default(),
            time_index: TimeIndex::default(),
            bytes_since_index: 0,
        }
    }
}

/// Recovery's scan of a whole segment file: every batch checked (CRC and
/// offset continuity from `base_offset`) and recorded in `state` and
/// `producers`. Returns where the valid batches end.
async fn recover_batches(
    reading: &impl ScanSource,
    file_size: u64,
    state: &mut SegmentState,
    base_offset: i64,
    producers: &mut dyn ProducerHistory,
) -> io::Result<u64> {
    scan(reading, 0, file_size, true, |summary| {
        if summary.base_offset != state.next_offset {
            return false;
        }
        if let Some(producer) = summary.producer {
            producers.record(producer);
        }
        record_batch(state, base_offset, summary);
        true
    })
    .await
}

/// Says what recovery cuts after the last valid batch, unless it is only
/// the zero padding of the last block (which is no damage).
async fn report_cut(
    reading: &impl OpenSegmentFile,
    log_path: &Path,
    valid_end: u64,
    file_size: u64,
    next_offset: i64,
) -> io::Result<()> {
    let past_end = reading
        .read_at(valid_end, (file_size - valid_end) as usize)
        .await?;
    if !is_zero(&past_end) {
        eprintln!(
            "corelog: recovery: {}: truncating {} bytes after the last valid batch at position {} \
             (offsets from {} on were never acknowledged as durable or were torn)",
            log_path.display(),
            file_size - valid_end,
            valid_end,
            next_offset
        );
    }
    Ok(())
}

/// The bytes of the last partial block before `size`: what the next
/// append rewrites with its data.
async fn read_tail(reading: &impl OpenSegmentFile, size: u64) -> io::Result<Vec<u8>> {
    let block_start = align_down(size);
    Ok(reading
        .read_at(block_start, (size - block_start) as usize)
        .await?
        .to_vec())
}

/// Cuts what is past the block holding the logical end `valid_end`, and
/// syncs; the block itself is rewritten (padded with zeros) by the next
/// append.
async fn cut_after_last_block(file: &impl SegmentFile, valid_end: u64) -> io::Result<()> {
    file.writing()
        .await?
        .truncate(align_up(valid_end as usize) as u64)
        .await?;
    file.sync().await
}

/// Where [`scan`] reads from: the segment file, or bytes in memory (the
/// `segment_recovery` fuzz target walks arbitrary bytes with the same code).
pub trait ScanSource {
    fn read_chunk(&self, position: u64, length: usize) -> impl Future<Output = io::Result<Bytes>>;
}

impl<U: OpenSegmentFile> ScanSource for U {
    fn read_chunk(&self, position: u64, length: usize) -> impl Future<Output = io::Result<Bytes>> {
        OpenSegmentFile::read_at(self, position, length)
    }
}

impl ScanSource for Bytes {
    async fn read_chunk(&self, position: u64, length: usize) -> io::Result<Bytes> {
        let start = usize::try_from(position).map_or(self.len(), |start| start.min(self.len()));
        Ok(self.slice(start..start.saturating_add(length).min(self.len())))
    }
}

/// Walks batch headers from `start` to `end`, calling `visit` for each
/// complete batch until it returns false. With `verify`, every batch's CRC is
/// checked too. Returns the position after the last batch visited and
/// accepted: the end of the valid log when the walk reached damage.
pub async fn scan(
    file: &impl ScanSource,
    start: u64,
    end: u64,
    verify: bool,
    mut visit: impl FnMut(BatchSummary) -> bool,
) -> io::Result<u64> {
    let mut position = start;
    let mut chunk = Bytes::new();
    let mut chunk_start = start;
    loop {
        if position + BATCH_HEADER_BYTES as u64 > end {
            return Ok(position);
        }
        if position + BATCH_HEADER_BYTES as u64 > chunk_start + chunk.len() as u64 {
            let length = (SEGMENT_SCAN_CHUNK_BYTES as u64).min(end - position);
            chunk = file.read_chunk(position, length as usize).await?;
            chunk_start = position;
        }
        let within = (position - chunk_start) as usize;
        let Some(header) = BatchHeader::view(&chunk[within..]) else {
            return Ok(position);
        };
        let Some(summary) = summarize(header, position) else {
            return Ok(position);
        };
        if position + summary.total_bytes > end {
            return Ok(position);
        }
        if verify && !crc_matches(file, &chunk, within, &summary, header.crc.get()).await? {
            return Ok(position);
        }
        if !visit(summary) {
            return Ok(position);
        }
        position += summary.total_bytes;
    }
}

/// What a batch header at `position` says of its batch; `None` when the
/// header cannot be one (not magic 2, too short, or offsets that overflow).
fn summarize(header: &BatchHeader, position: u64) -> Option<BatchSummary> {
    let length = header.batch_length.get();
    if header.magic != 2 || length < (BATCH_HEADER_BYTES - BATCH_LENGTH_PREFIX_BYTES) as i32 {
        return None;
    }
    // Offsets come off the disk: a damaged or hostile header whose last
    // offset overflows, or whose delta is negative, ends the valid log.
    let last_offset_delta = header.last_offset_delta.get();
    let last_offset = header
        .base_offset
        .get()
        .checked_add(i64::from(last_offset_delta))
        .filter(|&last| last_offset_delta >= 0 && last < i64::MAX)?;
    Some(BatchSummary {
        position,
        total_bytes: header.total_bytes() as u64,
        base_offset: header.base_offset.get(),
        last_offset,
        max_timestamp: header.max_timestamp.get(),
        leader_epoch: header.partition_leader_epoch.get(),
        producer: ProducerBatch::from_header(
            header.producer_id.get(),
            header.producer_epoch.get(),
            header.base_sequence.get(),
            header.last_offset_delta.get(),
            header.base_offset.get(),
        ),
    })
}

/// Whether the whole batch `summary` describes (from `chunk` at `within`
/// when it is all there, else read from `file`) matches its `stored` CRC.
async fn crc_matches(
    file: &impl ScanSource,
    chunk: &Bytes,
    within: usize,
    summary: &BatchSummary,
    stored: u32,
) -> io::Result<bool> {
    let whole = if within as u64 + summary.total_bytes <= chunk.len() as u64 {
        chunk.slice(within..within + summary.total_bytes as usize)
    } else {
        file.read_chunk(summary.position, summary.total_bytes as usize)
            .await?
    };
    Ok(whole.len() as u64 == summary.total_bytes && batch::compute_crc(&whole) == stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `segment_recovery` fuzz target: a header whose last
    /// offset overflows, or whose delta is negative, panicked in
    /// overflow-checked builds and was accepted (wrapped) in release ones.
    #[test]
    fn scan_stops_at_a_header_whose_offsets_overflow() {
        let inputs: [&[u8]; 2] = [
            include_bytes!("../../fuzz/regressions/segment_recovery/last-offset-overflow"),
            include_bytes!("../../fuzz/regressions/segment_recovery/negative-delta-wraps"),
        ];
        for input in inputs {
            let bytes = Bytes::copy_from_slice(input);
            let end =
                futures_lite::future::block_on(scan(&bytes, 0, bytes.len() as u64, true, |_| true))
                    .unwrap();
            assert_eq!(end, 0, "a batch with impossible offsets was accepted");
        }
    }
}
