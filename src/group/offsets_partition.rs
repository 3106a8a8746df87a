//! One offsets partition the coordinator leads: the log its group changes
//! are written to, and the order in which written changes are applied.
//!
//! Every change to a group's committed offsets or stored form goes through
//! [`OffsetsPartition::append_then_apply`]: the records are staged for the
//! partition's writer at once, waited for until durable, and only then,
//! in the order they were staged, is the in-memory change applied. Two
//! commands whose appends complete in another order than they were staged
//! still apply in the order of the log.
//!
//! Invariants:
//! - appends are staged in ticket order, so the log gives them offsets in
//!   that order; they are applied in the same order, one at a time;
//! - every applied append starts at or after the end of the previous one
//!   (or of what the load read), checked as it is applied;
//! - a ticket is always given back (applied, failed or abandoned), so a
//!   dropped request cannot stall the ones staged after it.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::Duration;

use super::offsets_log::{self, OffsetsRecord};
use crate::partition::{AppendError, Appended, Partition};
use crate::protocol::ErrorCode;
use crate::rt::sync::Signal;

/// How long a waiter sleeps before it looks at the turn again, should a
/// notification be missed (it is not: this only bounds the wait).
const TURN_RECHECK: Duration = Duration::from_secs(1);

pub(super) struct OffsetsPartition {
    pub(super) index: i32,
    pub(super) log: Rc<Partition>,
    shard_id: u32,
    /// The ticket the next staged append gets.
    next_ticket: Cell<u64>,
    /// The ticket whose turn it is to apply.
    turn: Cell<u64>,
    /// Tickets given back before their turn (their request was dropped).
    abandoned: RefCell<BTreeSet<u64>>,
    turn_moved: Signal,
    /// Where the last applied append ended (at load: the log end read).
    applied_end: Cell<i64>,
}

impl OffsetsPartition {
    pub(super) fn new(shard_id: u32, index: i32, log: Rc<Partition>, loaded_end: i64) -> Self {
        OffsetsPartition {
            index,
            log,
            shard_id,
            next_ticket: Cell::new(0),
            turn: Cell::new(0),
            abandoned: RefCell::new(BTreeSet::new()),
            turn_moved: Signal::default(),
            applied_end: Cell::new(loaded_end),
        }
    }

    /// Writes `records` to the partition, durably, then runs `apply` with
    /// the outcome: after every append staged before this one was applied,
    /// and before any staged after it. Nothing is written for no records.
    pub(super) async fn append_then_apply<T>(
        &self,
        records: &[OffsetsRecord],
        apply: impl FnOnce(Result<(), ErrorCode>) -> T,
    ) -> T {
        if records.is_empty() {
            return apply(Ok(()));
        }
        let now = crate::rt::now_milliseconds();
        let batch = offsets_log::encode_batch(records, now);
        let batch_bytes = batch.len();
        let ticket = Ticket::take(self);
        // Staged here, before anything awaits: the ticket order is the
        // order of the log.
        let written = self.log.write(batch, true, now, None);
        let outcome = async {
            let (appended, durable) = written.await?;
            if let Some(durable) = durable {
                durable.await?;
            }
            // Committed offsets survive a failover only once the offsets
            // partition's in-sync replicas hold them (Kafka's
            // offsets.commit.timeout.ms bounds the wait).
            let deadline = std::time::Instant::now()
                + std::time::Duration::from_millis(
                    crate::limits::OFFSETS_COMMIT_TIMEOUT_MILLISECONDS,
                );
            self.log
                .wait_committed(appended.next_offset, deadline)
                .await
                .map_err(AppendError::from)?;
            Ok::<Appended, AppendError>(appended)
        }
        .await;
        ticket.wait_turn().await;
        let outcome = match outcome {
            Ok(appended) => {
                self.check_follows(&appended);
                Ok(())
            }
            Err(error) => Err(self.refusal(batch_bytes, error)),
        };
        apply(outcome)
        // The ticket goes back here, after the change is applied.
    }

    /// The append about to be applied follows the last one applied.
    fn check_follows(&self, appended: &Appended) {
        assert!(
            appended.base_offset >= self.applied_end.get()
                && appended.next_offset > appended.base_offset,
            "shard {}: offsets partition {}: append at {}..{} applied after {}",
            self.shard_id,
            self.index,
            appended.base_offset,
            appended.next_offset,
            self.applied_end.get()
        );
        self.applied_end.set(appended.next_offset);
    }

    /// The error code a failed append answers with (logged when it is the
    /// broker's fault).
    fn refusal(&self, batch_bytes: usize, error: AppendError) -> ErrorCode {
        let shard_id = self.shard_id;
        match error {
            AppendError::Batch(error) => {
                tracing::warn!(
                    "shard {shard_id}: offsets commit of {batch_bytes} bytes refused: {error}"
                );
                ErrorCode::INVALID_COMMIT_OFFSET_SIZE
            }
            AppendError::Storage(error) => {
                tracing::error!(
                    "shard {shard_id}: write to {} failed: {error}",
                    self.log.log().dir().display()
                );
                ErrorCode::COORDINATOR_NOT_AVAILABLE
            }
            AppendError::Closed => ErrorCode::NOT_COORDINATOR,
            // Not returned by the coordinator's appends (they do not wait
            // for replicas); a retry is the answer.
            AppendError::NotEnoughReplicasAfterAppend | AppendError::TimedOut => {
                ErrorCode::COORDINATOR_NOT_AVAILABLE
            }
            // The coordinator's own batches carry no producer id.
            AppendError::FencedEpoch
            | AppendError::OutOfOrderSequence
            | AppendError::SeveralIdempotentBatches => ErrorCode::UNKNOWN_SERVER_ERROR,
        }
    }

    /// Gives ticket `number` back: the turn moves past it and past every
    /// abandoned ticket after it, or, before its turn, it is skipped when
    /// the turn comes.
    fn give_back(&self, number: u64) {
        if self.turn.get() != number {
            self.abandoned.borrow_mut().insert(number);
            return;
        }
        let mut turn = number + 1;
        let mut abandoned = self.abandoned.borrow_mut();
        while abandoned.remove(&turn) {
            turn += 1;
        }
        drop(abandoned);
        self.turn.set(turn);
        self.turn_moved.notify_all();
    }
}

/// A place in the order of applies; given back when dropped.
struct Ticket<'a> {
    partition: &'a OffsetsPartition,
    number: u64,
}

impl<'a> Ticket<'a> {
    fn take(partition: &'a OffsetsPartition) -> Ticket<'a> {
        let number = partition.next_ticket.get();
        partition.next_ticket.set(number + 1);
        Ticket { partition, number }
    }

    async fn wait_turn(&self) {
        loop {
            let seen = self.partition.turn_moved.generation();
            if self.partition.turn.get() == self.number {
                return;
            }
            self.partition
                .turn_moved
                .wait_past(seen, TURN_RECHECK)
                .await;
        }
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        self.partition.give_back(self.number);
    }
}
