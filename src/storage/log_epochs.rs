//! The log's half of the leader-epoch cache ([`LeaderEpochs`]): recorded
//! ahead of the batches it describes, rebuilt from batch headers when its
//! checkpoint is missing or damaged, cut with the log, clamped to the log
//! start; and the producer state rebuilt after a truncation.
//!
//! Invariants: an epoch is assigned before the write of its first batch,
//! and taken back when that write fails, so every batch in the log has its
//! entry and an entry never starts past the log end for long (open drops
//! any that do).

use std::io;
use std::path::Path;
use std::rc::Rc;

use bytes::Bytes;

use super::Log;
use crate::rt::clock::Clock;
use crate::rt::file::SegmentFile;
use crate::storage::leader_epochs::{EpochEntry, LeaderEpochs};
use crate::storage::producers::ProducerHistory;
use crate::storage::segment::{AppendPart, Appended, Assign, Segment};

impl<F: SegmentFile, C: Clock + Default> Log<F, C> {
    /// The leader-epoch cache.
    pub fn leader_epochs(&self) -> &LeaderEpochs {
        &self.epochs
    }

    /// Where `epoch` ends in this log, by Kafka's rule
    /// ([`LeaderEpochs::end_offset_for`]): `None` is UNDEFINED.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> Option<(i32, i64)> {
        self.epochs.end_offset_for(epoch, self.log_end_offset())
    }

    /// The epoch of the newest entry (the last batch's, or a leader's that
    /// has not appended yet), -1 for none.
    pub fn latest_epoch(&self) -> i32 {
        self.epochs.latest().map_or(-1, |entry| entry.epoch)
    }

    /// A leader taking `epoch` records that it starts at the log end, before
    /// it appends (Kafka does the same when a replica becomes leader), so
    /// followers asking about older epochs learn where those end even
    /// before the new leader writes anything.
    pub fn assign_epoch_start(&self, epoch: i32) -> io::Result<bool> {
        self.epochs.assign(epoch, self.log_end_offset())
    }

    /// Writes `parts` after recording in the cache each `(epoch, offset)`
    /// of `starts` (the epoch of the batch at each offset); undoes what it
    /// recorded when the write fails.
    pub(super) async fn write_with_epochs(
        &self,
        parts: &[AppendPart<'_>],
        assign: Assign,
        starts: &[(i32, i64)],
        producers: &dyn ProducerHistory,
    ) -> io::Result<(Vec<Appended>, Bytes)> {
        let mut added = false;
        for &(epoch, start_offset) in starts {
            added |= self.epochs.assign(epoch, start_offset)?;
        }
        let written = self.write(parts, assign, producers).await;
        if written.is_err() && added {
            self.epochs.truncate_from_end(self.log_end_offset())?;
        }
        written
    }

    /// After retention deleted segments: the first entry starts no earlier
    /// than the log. A failed checkpoint write is only reported: memory is
    /// right, and reopening clamps the file's entries the same way.
    pub(super) fn clamp_epochs_to_log_start(&self) {
        if let Err(error) = self.epochs.truncate_from_start(self.log_start_offset()) {
            eprintln!(
                "corelog: {}: leader-epoch-checkpoint not rewritten after retention: {error}",
                self.dir.display()
            );
        }
    }

    /// Replaces `producers` with the producer state as of the log end: the
    /// newest seal record that still describes its segment, then the
    /// headers of every batch after it (what a truncation needs, since the
    /// state it cut from may hold batches that are gone).
    pub async fn rebuild_producers(&self, producers: &mut dyn ProducerHistory) -> io::Result<()> {
        let segments: Vec<Rc<Segment<F>>> = self.segments.borrow().clone();
        let mut first_unsealed = 0;
        producers.restore(&[]);
        for (index, segment) in segments.iter().enumerate().rev() {
            if let Some(record) = segment.seal_record() {
                producers.restore(&record.producers);
                first_unsealed = index + 1;
                break;
            }
        }
        let last = segments.len() - 1;
        for (index, segment) in segments.iter().enumerate().skip(first_unsealed) {
            segment
                .visit_batches(|summary| {
                    if let Some(producer) = summary.producer {
                        producers.record(producer);
                    }
                })
                .await?;
            if index < last {
                segment.release_file().await;
            }
        }
        Ok(())
    }
}

/// The cache of a log being opened: from its checkpoint, or rebuilt from
/// every batch header when the checkpoint is missing or damaged; then cut
/// to what the recovered log holds, `[log_start_offset, log_end_offset)`.
pub(super) async fn open_epochs<F: SegmentFile>(
    dir: &Path,
    segments: &[Rc<Segment<F>>],
    log_start_offset: i64,
    log_end_offset: i64,
) -> io::Result<LeaderEpochs> {
    let epochs = match LeaderEpochs::load(dir) {
        Some(epochs) => epochs,
        None => LeaderEpochs::rebuilt(dir, epochs_in_batches(segments).await?)?,
    };
    epochs.truncate_from_end(log_end_offset)?;
    epochs.truncate_from_start(log_start_offset)?;
    Ok(epochs)
}

/// Each epoch's first batch, read from the headers of every segment, one
/// file open at a time.
async fn epochs_in_batches<F: SegmentFile>(
    segments: &[Rc<Segment<F>>],
) -> io::Result<Vec<EpochEntry>> {
    let mut entries: Vec<EpochEntry> = Vec::new();
    for segment in segments.iter().filter(|segment| segment.size() > 0) {
        segment
            .visit_batches(|summary| {
                let newer = entries
                    .last()
                    .is_none_or(|latest| summary.leader_epoch != latest.epoch);
                if summary.leader_epoch >= 0 && newer {
                    entries.push(EpochEntry {
                        epoch: summary.leader_epoch,
                        start_offset: summary.base_offset,
                    });
                }
            })
            .await?;
        segment.release_file().await;
    }
    Ok(entries)
}
