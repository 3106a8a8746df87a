//! A partition's replica role, from its placement: leader (serving
//! clients, tracking its followers) or follower (fetching from its
//! leader), and the two data paths that only replication has: a follower's
//! append of batches as the leader wrote them, and a leader's wait for the
//! high watermark to pass an acks=all append.
//!
//! Invariants:
//! - the role changes only when an installed snapshot says so
//!   ([`Partition::apply_placement`]), never on a local guess (KIP-497);
//! - a follower appends only batches that continue its log end, with their
//!   offsets and leader epochs as given, and records their producers, so
//!   a retried idempotent batch after a failover is still recognised;
//! - `replicated` is notified whenever the high watermark may have moved
//!   or the ISR changed, so no acks=all waiter sleeps past either.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{AppendError, Partition};
use crate::metadata::PartitionPlacement;
use crate::protocol::batch::{self, BatchHeader, BatchSpan};
use crate::rt::sync::Signal;
use crate::storage::producers::ProducerBatch;
use crate::storage::segment::AppendPart;

/// Which replica of its partition this one is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    Leader,
    /// Fetches from `leader` at `address` (`None` while that broker's host
    /// is not known, or the partition has no leader).
    Follower {
        leader: u32,
        address: Option<String>,
    },
}

/// The replication state a partition carries (one field of `Partition`).
pub struct ReplicaState {
    role: RefCell<Role>,
    /// Notified when the high watermark may have moved or the ISR changed.
    replicated: Signal,
    /// An AlterPartition for this partition is on its way (one at a time).
    alter_in_flight: Cell<bool>,
    /// Why the last AlterPartition was refused (logged once per reason).
    alter_refusal: RefCell<String>,
}

impl Default for ReplicaState {
    fn default() -> ReplicaState {
        ReplicaState {
            role: RefCell::new(Role::Leader),
            replicated: Signal::default(),
            alter_in_flight: Cell::new(false),
            alter_refusal: RefCell::new(String::new()),
        }
    }
}

/// Why an acks=all append was not answered as committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitWaitError {
    /// The ISR shrank below `min.insync.replicas` after the append.
    NotEnoughReplicasAfterAppend,
    /// The request's timeout passed first.
    TimedOut,
    /// The partition closed, or stopped leading.
    NotLeader,
}

impl Partition {
    /// Takes the role `placement` gives broker `own`: leader (with its ISR
    /// and `min_insync`) or follower of the leader at `leader_address`.
    pub fn apply_placement(
        &self,
        own: u32,
        placement: &PartitionPlacement,
        min_insync: i32,
        leader_address: Option<String>,
    ) {
        let new_epoch = placement.leader_epoch != self.leader_epoch();
        let role = if placement.leader == own {
            // A follower's high watermark (its leader's, capped by what it
            // holds) is the floor of its own as leader: it publishes it
            // now, or a new leader would start from the last one it gave
            // out and answer consumers with less than was committed.
            if !self.is_leader() {
                self.commit.high_watermark(&self.log);
            }
            let isr = if placement.isr.is_empty() {
                vec![own]
            } else {
                placement.isr.clone()
            };
            self.commit.lead(
                own,
                &placement.replicas,
                &isr,
                min_insync.max(1) as usize,
                new_epoch || !self.is_leader(),
                self.log_end_offset(),
            );
            Role::Leader
        } else {
            self.commit.follow();
            Role::Follower {
                leader: placement.leader,
                address: leader_address,
            }
        };
        *self.replica.role.borrow_mut() = role;
        // An ISR change can end a new leader's high watermark hold
        // (`consumer_high_watermark`), so parked fetches look again too.
        self.high_watermark_moved();
    }

    pub fn role(&self) -> Role {
        self.replica.role.borrow().clone()
    }

    pub fn is_leader(&self) -> bool {
        matches!(*self.replica.role.borrow(), Role::Leader)
    }

    /// Whether acks=all may append now (|ISR| >= min.insync.replicas).
    pub fn enough_in_sync(&self) -> bool {
        self.commit.enough_in_sync()
    }

    /// The high watermark consumers may be shown, or `None` while this
    /// leader holds it back: until it reaches the start of this leader's
    /// epoch. Before that it can be
    /// below what the previous leader showed, since a follower's high
    /// watermark lags its leader's by one fetch, and a consumer would see
    /// it go back. Every record below the epoch start is on this replica,
    /// so the wait lasts until the in-sync followers have fetched (and
    /// synced) up to it. Kafka answers ListOffsets with OFFSET_NOT_AVAILABLE
    /// meanwhile (KIP-207); corelog holds consumers' fetches the same way.
    /// The hold ends early when the ISR is below `min.insync.replicas`
    /// (see `CommitTracker::caught_up_with_epoch_start`).
    pub fn consumer_high_watermark(&self) -> Option<i64> {
        let high_watermark = self.high_watermark();
        self.commit
            .caught_up_with_epoch_start(high_watermark)
            .then_some(high_watermark)
    }

    /// The ISR this leader has from its installed placement.
    pub fn isr(&self) -> Vec<u32> {
        self.commit.isr()
    }

    /// The ISR this leader should ask the controller for now, if it
    /// differs from the current one and none is on its way.
    pub fn proposed_isr(&self, lag_max: Duration) -> Option<Vec<u32>> {
        if !self.is_leader() || self.replica.alter_in_flight.get() {
            return None;
        }
        self.commit
            .proposed_isr(self.high_watermark(), lag_max, Instant::now())
    }

    /// Marks an AlterPartition for `proposed` as on its way (`Some`) or
    /// answered (`None`). While it is on its way the high watermark waits
    /// for the members it adds too (Kafka's maximal ISR, KIP-497).
    pub fn set_alter_in_flight(&self, proposed: Option<&[u32]>) {
        self.replica.alter_in_flight.set(proposed.is_some());
        self.commit.expanding_to(proposed.unwrap_or_default());
    }

    /// Records why an AlterPartition was refused; true when the reason is
    /// new (worth logging).
    pub fn note_alter_refusal(&self, reason: &str) -> bool {
        let mut last = self.replica.alter_refusal.borrow_mut();
        if *last == reason {
            return false;
        }
        *last = reason.to_string();
        true
    }

    /// A leader records a follower's fetch offset (durable there), and
    /// wakes acks=all waiters and parked fetches if the high watermark
    /// moved.
    pub fn record_follower_fetch(&self, broker: u32, fetch_offset: i64) {
        let before = self.high_watermark();
        self.commit
            .follower_fetched(broker, fetch_offset, self.log_end_offset(), Instant::now());
        if self.high_watermark() != before {
            self.high_watermark_moved();
        }
    }

    /// A follower takes its leader's reported high watermark.
    pub fn record_leader_high_watermark(&self, leader_high_watermark: i64) {
        let before = self.high_watermark();
        self.commit.leader_reported(leader_high_watermark);
        if self.high_watermark() != before {
            self.high_watermark_moved();
        }
    }

    /// Wakes whoever waits for the high watermark: acks=all producers here
    /// and the shard's parked fetches.
    pub(super) fn high_watermark_moved(&self) {
        self.replica.replicated.notify_all();
        self.group_commit.wake_readers();
    }

    /// The log synced, or the partition closed: acks=all waiters look
    /// again.
    pub(super) fn replica_synced(&self) {
        self.replica.replicated.notify_all();
    }

    /// Waits until the high watermark reaches `next_offset` (an acks=all
    /// append's end), or `deadline`.
    pub async fn wait_committed(
        &self,
        next_offset: i64,
        deadline: Instant,
    ) -> Result<(), CommitWaitError> {
        loop {
            let seen = self.replica.replicated.generation();
            if self.closed.get() || !self.is_leader() {
                return Err(CommitWaitError::NotLeader);
            }
            if self.high_watermark() >= next_offset {
                return Ok(());
            }
            if !self.enough_in_sync() {
                return Err(CommitWaitError::NotEnoughReplicasAfterAppend);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(CommitWaitError::TimedOut);
            }
            self.replica
                .replicated
                .wait_past(seen, deadline - now)
                .await;
        }
    }

    /// A follower's append: `records` as a leader's Fetch answered them
    /// (a partial batch at the end is left for the next fetch), written
    /// with their offsets and epochs, producers recorded, then synced by
    /// the group commit before this returns, so the next fetch offset is
    /// durable. `fetched_at` is the (leader epoch, log end) the fetch was
    /// sent from: an answer to another state is refused. Returns the new
    /// log end.
    pub async fn append_replicated(
        self: &Rc<Self>,
        records: Bytes,
        fetched_at: (i32, i64),
    ) -> Result<i64, AppendError> {
        let whole = whole_batches(&records);
        if whole == 0 {
            return Ok(self.log_end_offset());
        }
        let records = records.slice(..whole);
        self.wait_writer_idle().await;
        // A fetch answered after a snapshot made this replica leader, or
        // follower in a newer epoch (installed while the fetch was out),
        // carries the old leader's batches: written after the new epoch's
        // start they would put records of an older epoch under it.
        if self.closed.get()
            || self.is_leader()
            || (self.leader_epoch(), self.log_end_offset()) != fetched_at
        {
            return Err(AppendError::Closed);
        }
        let spans = batch::validate_batches(&records, usize::MAX).map_err(AppendError::Batch)?;
        let part = AppendPart {
            records: &records,
            spans: &spans,
        };
        let (appended, written) = self
            .log
            .append_as_given(&[part], &self.producers)
            .await
            .map_err(AppendError::Storage)?;
        self.record_replicated(&records, &spans, written);
        let count: i64 = appended.iter().map(|a| a.next_offset - a.base_offset).sum();
        self.unflushed_records
            .set(self.unflushed_records.get() + count as u64);
        self.group_commit
            .join(self)
            .await
            .map_err(AppendError::Storage)?;
        Ok(self.log_end_offset())
    }

    /// Waits until the leader's writer is idle: a demoted leader's writer
    /// may still be finishing, and a follower's appends and truncations
    /// must never interleave with it.
    pub async fn wait_writer_idle(&self) {
        while self.writing.get() {
            let seen = self.writer_idle.generation();
            if self.writing.get() {
                self.writer_idle
                    .wait_past(seen, Duration::from_millis(100))
                    .await;
            }
        }
    }

    /// Producers and tail cache after a follower's append.
    fn record_replicated(&self, records: &Bytes, spans: &[BatchSpan], written: Bytes) {
        let mut cached = Vec::with_capacity(spans.len());
        for span in spans {
            let header =
                BatchHeader::view(&records[span.position..]).expect("validated batch has a header");
            let base_offset = header.base_offset.get();
            cached.push((
                base_offset,
                base_offset + span.offset_count - 1,
                span.length,
            ));
            if let Some(producer) = ProducerBatch::from_header(
                header.producer_id.get(),
                header.producer_epoch.get(),
                header.base_sequence.get(),
                header.last_offset_delta.get(),
                base_offset,
            ) {
                self.producers.borrow_mut().record(producer);
            }
        }
        self.tail_cache
            .insert(&self.tail, written, cached.into_iter());
        self.group_commit.wake_readers();
    }
}

/// How many leading bytes of `records` are whole batches.
fn whole_batches(records: &[u8]) -> usize {
    let mut position = 0;
    while let Some(header) = BatchHeader::view(&records[position..]) {
        let total = header.total_bytes();
        if total == 0 || position + total > records.len() {
            break;
        }
        position += total;
    }
    position
}
