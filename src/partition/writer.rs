//! The partition's writer: appends are staged in the order they arrive and
//! a single task writes them. Whatever is staged while a write runs goes
//! into the next write together, so many small batches (many producers,
//! small requests) become one large aligned direct-IO write instead of one
//! partial-block rewrite each.
//!
//! Invariants (one writer task per partition at a time, on its shard):
//! - staged appends are written in the order they were staged; a combined
//!   write holds at most one batch of each idempotent producer, so each
//!   producer check sees the state left by that producer's previous batch.
//! - every staged append gets exactly one reply (counted per write group
//!   and checked).
//! - offsets are assigned contiguously: each append's base offset is the
//!   previous append's next offset (checked here and in the log).
//! - every batch is stamped with the partition's leader epoch as of its
//!   write.
//! - nothing is recorded (producer state, tail cache, counters) unless the
//!   write succeeded.

use std::collections::HashSet;
use std::io;
use std::rc::Rc;

use bytes::Bytes;
use futures_channel::oneshot;

use super::group_commit::SyncWait;
use super::producer_state::Verdict;
use super::{AppendError, Appended, Partition};
use crate::limits::COALESCED_WRITE_BYTES_MAX;
use crate::protocol::batch::BatchSpan;
use crate::rt::sync::BudgetPermit;
use crate::storage::producers::ProducerBatch;
use crate::storage::segment::AppendPart;
use crate::storage::FlushPolicy;

pub(super) type StagedReply = Result<(Appended, Option<SyncWait>), AppendError>;

/// Counts the replies of one write group, to check that each staged
/// append got exactly one.
struct Replies {
    expected: usize,
    sent: usize,
}

impl Replies {
    fn send(&mut self, staged: Staged, reply: StagedReply) {
        self.sent += 1;
        // The receiver may be gone (the request was dropped): the reply
        // still counts as given.
        let _ = staged.reply.send(reply);
    }
}

impl Replies {
    /// Once the group is done.
    fn check(&self) {
        assert_eq!(
            self.sent, self.expected,
            "every staged append gets exactly one reply"
        );
    }
}

/// An append waiting for the writer, already validated.
pub(super) struct Staged {
    pub records: Bytes,
    pub spans: Vec<BatchSpan>,
    pub producer: Option<ProducerBatch>,
    pub acks_all: bool,
    pub now_milliseconds: i64,
    /// Given back (dropped with the append) once it is written or refused.
    pub budget: Option<BudgetPermit>,
    pub reply: oneshot::Sender<StagedReply>,
}

impl Partition {
    /// Queues a validated append and makes sure the writer runs.
    pub(super) fn stage(self: &Rc<Self>, staged: Staged) {
        self.staged.borrow_mut().push_back(staged);
        if !self.writing.replace(true) {
            crate::rt::spawn_detached(self.clone().drain());
        }
    }

    /// Writes staged appends until none are left.
    async fn drain(self: Rc<Self>) {
        loop {
            let group = self.take_combinable();
            if group.is_empty() {
                self.writing.set(false);
                self.writer_idle.notify_all();
                return;
            }
            self.write_group(group).await;
        }
    }

    /// The staged appends at the front that can share one write: at most
    /// `COALESCED_WRITE_BYTES_MAX` (but at least one append), and at most
    /// one batch per idempotent producer.
    fn take_combinable(&self) -> Vec<Staged> {
        let mut staged = self.staged.borrow_mut();
        let mut group: Vec<Staged> = Vec::new();
        let mut bytes = 0usize;
        let mut producers = HashSet::new();
        while let Some(next) = staged.front() {
            if !group.is_empty() && bytes + next.records.len() > COALESCED_WRITE_BYTES_MAX {
                break;
            }
            if let Some(producer) = &next.producer {
                if !producers.insert(producer.producer_id) {
                    break;
                }
            }
            bytes += next.records.len();
            group.push(staged.pop_front().expect("front exists"));
        }
        group
    }

    async fn write_group(self: &Rc<Self>, group: Vec<Staged>) {
        let mut replies = Replies {
            expected: group.len(),
            sent: 0,
        };
        let to_write = self.judge(group, &mut replies);
        if !to_write.is_empty() {
            self.write_judged(to_write, &mut replies).await;
        }
        replies.check();
    }

    /// Answers the appends that need no write (closed, refused by the
    /// producer state, or retries of a batch already written) and returns
    /// the rest, in order.
    fn judge(self: &Rc<Self>, group: Vec<Staged>, replies: &mut Replies) -> Vec<Staged> {
        let mut to_write = Vec::with_capacity(group.len());
        for staged in group {
            if self.closed.get() {
                replies.send(staged, Err(AppendError::Closed));
                continue;
            }
            let verdict = staged
                .producer
                .as_ref()
                .map(|incoming| self.producers.borrow().check(incoming));
            match verdict {
                Some(Verdict::FencedEpoch) => replies.send(staged, Err(AppendError::FencedEpoch)),
                Some(Verdict::OutOfOrder) => {
                    replies.send(staged, Err(AppendError::OutOfOrderSequence))
                }
                // A retry: written before, perhaps not yet synced.
                Some(Verdict::Duplicate {
                    base_offset,
                    last_offset,
                }) => {
                    let appended = Appended {
                        base_offset,
                        next_offset: last_offset + 1,
                        max_timestamp: -1,
                    };
                    let wait = self.sync_wait(staged.acks_all);
                    replies.send(staged, Ok((appended, wait)));
                }
                Some(Verdict::Append) | None => to_write.push(staged),
            }
        }
        to_write
    }

    /// Writes judged appends in one write, then records and answers them.
    async fn write_judged(self: &Rc<Self>, mut to_write: Vec<Staged>, replies: &mut Replies) {
        let parts: Vec<AppendPart<'_>> = to_write
            .iter()
            .map(|staged| AppendPart {
                records: &staged.records,
                spans: &staged.spans,
            })
            .collect();
        let now_milliseconds = to_write[0].now_milliseconds;
        let log_end_offset = self.log.log_end_offset();
        let result = self
            .log
            .append(
                &parts,
                self.leader_epoch.get(),
                now_milliseconds,
                &self.producers,
            )
            .await;
        drop(parts);
        // Written (or failed): their bytes no longer count as unwritten.
        for staged in &mut to_write {
            staged.budget.take();
        }
        let (appended, written) = match result {
            Ok(done) => done,
            Err(error) => {
                self.note_outcome(Err(Some(error.to_string())));
                for staged in to_write {
                    let copy = io::Error::new(error.kind(), error.to_string());
                    replies.send(staged, Err(AppendError::Storage(copy)));
                }
                return;
            }
        };
        assert_eq!(appended.len(), to_write.len(), "one result per append");
        assert_eq!(
            appended.first().map(|first| first.base_offset),
            Some(log_end_offset),
            "offsets continue the log end"
        );
        self.note_outcome(Ok(()));
        self.group_commit.wake_readers();
        self.writes.set(self.writes.get() + 1);
        self.appends.set(self.appends.get() + to_write.len() as u64);
        let bytes_in = to_write
            .iter()
            .map(|staged| staged.records.len() as u64)
            .sum();
        let records_in = appended
            .iter()
            .map(|appended| (appended.next_offset - appended.base_offset) as u64)
            .sum();
        crate::metrics::count_in(&self.topic, bytes_in, records_in);
        self.cache(&to_write, &appended, written);
        for (staged, appended) in to_write.into_iter().zip(appended) {
            if let Some(mut incoming) = staged.producer {
                let shift = appended.base_offset - incoming.base_offset;
                incoming.base_offset += shift;
                incoming.last_offset += shift;
                self.producers.borrow_mut().record(incoming);
            }
            let count = (appended.next_offset - appended.base_offset) as u64;
            self.unflushed_records
                .set(self.unflushed_records.get() + count);
            let wait = self.sync_wait(staged.acks_all);
            replies.send(staged, Ok((appended, wait)));
        }
    }

    /// Puts what was written, batch by batch, into the tail cache.
    fn cache(&self, written_appends: &[Staged], appended: &[Appended], written: Bytes) {
        let batches: Vec<(i64, i64, usize)> = written_appends
            .iter()
            .zip(appended)
            .flat_map(|(staged, appended)| {
                let mut next = appended.base_offset;
                staged.spans.iter().map(move |span| {
                    let base_offset = next;
                    next += span.offset_count;
                    (base_offset, next - 1, span.length)
                })
            })
            .collect();
        self.tail_cache
            .insert(&self.tail, written, batches.into_iter());
    }

    /// What a written append waits for before its reply, under the flush
    /// policy: the next group-commit round for acks=all under the durable
    /// policy; otherwise nothing, though a sync may be asked for.
    fn sync_wait(self: &Rc<Self>, acks_all: bool) -> Option<SyncWait> {
        match self.log.config().flush {
            FlushPolicy::Durable if acks_all => Some(self.group_commit.join(self)),
            FlushPolicy::Durable => {
                self.group_commit.request(self);
                None
            }
            FlushPolicy::Interval { messages, .. } => {
                if self.unflushed_records.get() >= messages {
                    self.group_commit.request(self);
                }
                None
            }
        }
    }
}
