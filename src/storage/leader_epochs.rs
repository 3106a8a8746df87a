//! A partition's leader-epoch cache: for each leader epoch that wrote to
//! the log, the offset of its first record (Kafka's `LeaderEpochFileCache`
//! and its `leader-epoch-checkpoint` file). A follower asks its leader where
//! its last epoch ends (OffsetForLeaderEpoch, or the diverging epoch of a
//! Fetch) and truncates there, never to its high watermark (KIP-101,
//! KIP-279).
//!
//! The checkpoint is Kafka's text format: a version line (`0`), a count
//! line, then one `epoch start_offset` line per entry. It is rewritten
//! (temporary file, sync, rename, directory sync) whenever the cache
//! changes, which is once per leader change, truncation or log-start move.
//! The one exception is its first version in a directory that has none
//! (a new partition's first append): written and renamed without syncs, as
//! thousands of partitions may take their first record at once. A crash
//! can then lose it or leave it empty, but never stale (there is no older
//! version to fall back to), and a missing or damaged checkpoint is rebuilt
//! from the batches.
//!
//! Invariants:
//! - entries are strictly increasing in epoch and in start offset; no
//!   epoch is negative.
//! - the log records an epoch here *before* writing the first batch of it
//!   (write-ahead), so every batch in the log has its entry; an entry at or
//!   past the log end (a write that failed, a crash before the batch was
//!   durable, a leader that has not appended yet) is dropped when the log
//!   opens (`truncate_from_end(log_end)`), after the failed write, or when
//!   the replica, now a follower, truncates (even with no record to cut).
//! - the first entry never starts before the log start offset once
//!   `truncate_from_start` ran for it (an entry the log start passed is
//!   clamped to it, not dropped: its epoch still owns the records there).
//! - what is in memory is what the checkpoint says, except after a failed
//!   checkpoint write (reported to the caller); reopening re-derives
//!   anything past the log end as above.

use std::cell::{Cell, RefCell};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::limits::LEADER_EPOCH_CHECKPOINT_BYTES_MAX;

/// Kafka's name for the file, in the partition directory.
pub const CHECKPOINT_FILE: &str = "leader-epoch-checkpoint";
const CHECKPOINT_VERSION: u32 = 0;

/// Kafka's `UNDEFINED_EPOCH` and `UNDEFINED_EPOCH_OFFSET`.
pub const UNDEFINED_EPOCH: i32 = -1;
pub const UNDEFINED_EPOCH_OFFSET: i64 = -1;

/// One leader epoch and the offset of its first record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEntry {
    pub epoch: i32,
    pub start_offset: i64,
}

pub struct LeaderEpochs {
    path: PathBuf,
    entries: RefCell<Vec<EpochEntry>>,
    /// Whether a checkpoint exists on disk (so the next write must be
    /// synced: a crash must not bring an older version back).
    persisted: Cell<bool>,
}

impl LeaderEpochs {
    /// The cache checkpointed in `dir`, or `None` when the file is missing
    /// or does not parse as a valid checkpoint (the caller rebuilds it from
    /// the batches' headers).
    pub fn load(dir: &Path) -> Option<LeaderEpochs> {
        let path = dir.join(CHECKPOINT_FILE);
        let metadata = std::fs::metadata(&path).ok()?;
        if metadata.len() > LEADER_EPOCH_CHECKPOINT_BYTES_MAX {
            return None;
        }
        let text = std::fs::read_to_string(&path).ok()?;
        let entries = parse(&text)?;
        Some(LeaderEpochs {
            path,
            entries: RefCell::new(entries),
            persisted: Cell::new(true),
        })
    }

    /// A cache holding `entries` (found in the log's batches), checkpointed
    /// at once unless it is empty and no checkpoint exists (a new partition
    /// writes nothing until its first epoch).
    pub fn rebuilt(dir: &Path, entries: Vec<EpochEntry>) -> io::Result<LeaderEpochs> {
        let path = dir.join(CHECKPOINT_FILE);
        let epochs = LeaderEpochs {
            persisted: Cell::new(path.exists()),
            path,
            entries: RefCell::new(Vec::new()),
        };
        for entry in entries {
            epochs.insert(entry);
        }
        if !epochs.entries.borrow().is_empty() || epochs.persisted.get() {
            epochs.write_checkpoint()?;
        }
        Ok(epochs)
    }

    pub fn entries(&self) -> Vec<EpochEntry> {
        self.entries.borrow().clone()
    }

    /// The newest entry.
    pub fn latest(&self) -> Option<EpochEntry> {
        self.entries.borrow().last().copied()
    }

    /// Records that `epoch` starts at `start_offset` when it is newer than
    /// the latest entry. A latest entry starting at or after
    /// `start_offset` had no records (a leader that never appended) and is
    /// replaced. An epoch at or below the latest one changes nothing: a
    /// batch of an older epoch after a newer one cannot come from a
    /// correct leader, and letting it cut the newer entries would lose
    /// them (Kafka drops them; corelog keeps the history it has). Negative
    /// epochs (batches written without one) are ignored. Returns whether
    /// the cache changed (and was checkpointed).
    pub fn assign(&self, epoch: i32, start_offset: i64) -> io::Result<bool> {
        let entry = EpochEntry {
            epoch,
            start_offset,
        };
        if !self.insert(entry) {
            return Ok(false);
        }
        self.write_checkpoint()?;
        Ok(true)
    }

    /// The in-memory half of `assign`.
    fn insert(&self, entry: EpochEntry) -> bool {
        if entry.epoch < 0 || entry.start_offset < 0 {
            return false;
        }
        let mut entries = self.entries.borrow_mut();
        if entries
            .last()
            .is_some_and(|latest| latest.epoch >= entry.epoch)
        {
            return false;
        }
        while let Some(last) = entries.last() {
            if last.start_offset >= entry.start_offset {
                entries.pop();
            } else {
                break;
            }
        }
        entries.push(entry);
        debug_assert!(ordered(&entries));
        true
    }

    /// Drops every entry starting at or after `end_offset` (the log was
    /// cut there, or never reached it).
    pub fn truncate_from_end(&self, end_offset: i64) -> io::Result<()> {
        let changed = {
            let mut entries = self.entries.borrow_mut();
            let keep = entries.partition_point(|entry| entry.start_offset < end_offset);
            let changed = keep < entries.len();
            entries.truncate(keep);
            changed
        };
        if changed {
            self.write_checkpoint()?;
        }
        Ok(())
    }

    /// The log now starts at `log_start_offset`: entries wholly before it
    /// go, and the one holding it starts there.
    pub fn truncate_from_start(&self, log_start_offset: i64) -> io::Result<()> {
        let changed = {
            let mut entries = self.entries.borrow_mut();
            // Entries starting at or before the new start: the last of them
            // holds it.
            let before = entries.partition_point(|entry| entry.start_offset <= log_start_offset);
            if before == 0 || (before == 1 && entries[0].start_offset == log_start_offset) {
                false
            } else {
                let holder = EpochEntry {
                    epoch: entries[before - 1].epoch,
                    start_offset: log_start_offset,
                };
                entries.drain(..before);
                entries.insert(0, holder);
                true
            }
        };
        if changed {
            debug_assert!(ordered(&self.entries.borrow()));
            self.write_checkpoint()?;
        }
        Ok(())
    }

    /// Kafka's answer to "where does `epoch` end?" for a log ending at
    /// `log_end_offset`: the largest epoch at or below the one asked, and
    /// its end (the next epoch's start, or the log end for the latest).
    /// An epoch older than every entry gets itself and the first entry's
    /// start (its records are gone from this log; a follower copies from
    /// there). `None` (Kafka's UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET)
    /// for an epoch newer than every entry, for -1, and for an empty cache.
    pub fn end_offset_for(&self, epoch: i32, log_end_offset: i64) -> Option<(i32, i64)> {
        let entries = self.entries.borrow();
        if epoch < 0 {
            return None;
        }
        let latest = entries.last()?;
        if latest.epoch == epoch {
            return Some((epoch, log_end_offset));
        }
        // The first entry with an epoch above the one asked.
        let higher = entries.partition_point(|entry| entry.epoch <= epoch);
        if higher == entries.len() {
            return None;
        }
        let end_offset = entries[higher].start_offset;
        if higher == 0 {
            return Some((epoch, end_offset));
        }
        Some((entries[higher - 1].epoch, end_offset))
    }

    /// Writes the checkpoint: a temporary file, synced, renamed over the
    /// old one, and the directory synced so the rename survives a crash
    /// (no syncs for the first version, see the module doc).
    fn write_checkpoint(&self) -> io::Result<()> {
        let sync = self.persisted.get();
        let text = format(&self.entries.borrow());
        let temporary = self.path.with_extension("tmp");
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(text.as_bytes())?;
        if sync {
            file.sync_all()?;
        }
        drop(file);
        std::fs::rename(&temporary, &self.path)?;
        self.persisted.set(true);
        if let (true, Some(dir)) = (sync, self.path.parent()) {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

/// Whether entries keep the order invariant.
fn ordered(entries: &[EpochEntry]) -> bool {
    entries.iter().all(|entry| entry.epoch >= 0)
        && entries.windows(2).all(|pair| {
            pair[0].epoch < pair[1].epoch && pair[0].start_offset < pair[1].start_offset
        })
}

fn format(entries: &[EpochEntry]) -> String {
    let mut text = format!("{CHECKPOINT_VERSION}\n{}\n", entries.len());
    for entry in entries {
        text.push_str(&format!("{} {}\n", entry.epoch, entry.start_offset));
    }
    text
}

/// The entries of a checkpoint's text; `None` unless it is exactly a
/// version-0 checkpoint whose count matches and whose entries are ordered.
fn parse(text: &str) -> Option<Vec<EpochEntry>> {
    let mut lines = text.lines();
    if lines.next()?.trim().parse::<u32>().ok()? != CHECKPOINT_VERSION {
        return None;
    }
    let count = lines.next()?.trim().parse::<usize>().ok()?;
    let mut entries = Vec::new();
    for line in lines.by_ref().take(count) {
        let mut fields = line.split_whitespace();
        let epoch = fields.next()?.parse::<i32>().ok()?;
        let start_offset = fields.next()?.parse::<i64>().ok()?;
        if fields.next().is_some() {
            return None;
        }
        entries.push(EpochEntry {
            epoch,
            start_offset,
        });
    }
    if entries.len() != count || lines.any(|line| !line.trim().is_empty()) {
        return None;
    }
    ordered(&entries).then_some(entries)
}

#[cfg(test)]
#[path = "leader_epochs_tests.rs"]
mod tests;
