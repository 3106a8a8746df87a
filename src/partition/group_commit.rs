//! The shard's group commit: appends of many requests and partitions are
//! made durable together, with one sync per file per round. A round starts
//! when the first sync is asked for and none is running; whatever is asked
//! while a round runs joins the next one, so under load each sync covers
//! many appends. After each round parked fetches are woken, since the high
//! watermark of durable partitions moved.
//!
//! Invariants: lives on its shard, and partitions hold an `Rc` to it; one
//! round runs at a time; every waiter gets its partition's result of the
//! round it joined (or a later one), never before that sync completed.

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;

use futures_channel::oneshot;

use super::Partition;
use crate::rt::sync::Signal;

type Waiter = oneshot::Sender<Result<(), String>>;

/// A pending sync: completes with the round's result for one partition.
pub struct SyncWait(oneshot::Receiver<Result<(), String>>);

impl std::future::Future for SyncWait {
    type Output = io::Result<()>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.0)
            .poll(context)
            .map(|result| match result {
                Ok(Ok(())) => Ok(()),
                Ok(Err(message)) => Err(io::Error::other(message)),
                Err(_) => Err(io::Error::other("the group commit stopped")),
            })
    }
}

pub struct GroupCommit {
    /// Partitions to sync in the next round, each with who waits for it.
    pending: RefCell<Vec<(Rc<Partition>, Vec<Waiter>)>>,
    running: Cell<bool>,
    /// Woken after every round (the shard's append signal).
    synced: Rc<Signal>,
    statistics: Cell<Statistics>,
    /// How long each round's syncs took, in microseconds.
    round_microseconds: RefCell<hdrhistogram::Histogram<u64>>,
}

/// Counts since start, reported at shutdown: how well syncs are shared.
#[derive(Debug, Default, Clone, Copy)]
pub struct Statistics {
    pub rounds: u64,
    pub syncs: u64,
    /// Appends that waited for a sync (acks=all under the durable policy).
    pub waiters: u64,
}

impl GroupCommit {
    pub fn new(synced: Rc<Signal>) -> GroupCommit {
        GroupCommit {
            pending: RefCell::new(Vec::new()),
            running: Cell::new(false),
            synced,
            statistics: Cell::new(Statistics::default()),
            round_microseconds: RefCell::new(
                hdrhistogram::Histogram::new_with_bounds(1, 60_000_000, 2)
                    .expect("valid histogram bounds"),
            ),
        }
    }

    pub fn statistics(&self) -> Statistics {
        self.statistics.get()
    }

    /// (p50, p99, max) of the rounds' sync time in milliseconds.
    pub fn round_milliseconds(&self) -> (f64, f64, f64) {
        let histogram = self.round_microseconds.borrow();
        let milliseconds = |value: u64| value as f64 / 1000.0;
        (
            milliseconds(histogram.value_at_quantile(0.5)),
            milliseconds(histogram.value_at_quantile(0.99)),
            milliseconds(histogram.max()),
        )
    }

    /// Wakes the shard's parked fetches: records were written (under the
    /// interval policy they are readable at once). The signal is the one
    /// every round fires.
    pub fn wake_readers(&self) {
        self.synced.notify_all();
    }

    /// Asks for `partition` to be synced soon, without waiting.
    pub fn request(self: &Rc<Self>, partition: &Rc<Partition>) {
        self.enqueue(partition, None);
    }

    /// Joins `partition` to the next round now; the returned wait completes
    /// when that round synced it.
    pub fn join(self: &Rc<Self>, partition: &Rc<Partition>) -> SyncWait {
        let (sender, receiver) = oneshot::channel();
        self.enqueue(partition, Some(sender));
        SyncWait(receiver)
    }

    fn enqueue(self: &Rc<Self>, partition: &Rc<Partition>, waiter: Option<Waiter>) {
        {
            let mut pending = self.pending.borrow_mut();
            match pending
                .iter_mut()
                .find(|(queued, _)| Rc::ptr_eq(queued, partition))
            {
                Some((_, waiters)) => waiters.extend(waiter),
                None => pending.push((partition.clone(), waiter.into_iter().collect())),
            }
        }
        if !self.running.replace(true) {
            crate::rt::spawn_detached(self.clone().run());
        }
    }

    async fn run(self: Rc<Self>) {
        loop {
            let round = std::mem::take(&mut *self.pending.borrow_mut());
            if round.is_empty() {
                self.running.set(false);
                return;
            }
            let mut statistics = self.statistics.get();
            statistics.rounds += 1;
            statistics.syncs += round.len() as u64;
            statistics.waiters += round
                .iter()
                .map(|(_, waiters)| waiters.len() as u64)
                .sum::<u64>();
            self.statistics.set(statistics);
            // One sync per file, all in flight at once.
            let started = std::time::Instant::now();
            let syncs: Vec<_> = round
                .iter()
                .map(|(partition, _)| {
                    let partition = partition.clone();
                    crate::rt::spawn(async move { partition.flush().await })
                })
                .collect();
            for (sync, (partition, waiters)) in syncs.into_iter().zip(round) {
                let result = sync.await.map_err(|error| {
                    tracing::error!(
                        "sync of {} failed: {error}",
                        partition.log().dir().display()
                    );
                    error.to_string()
                });
                for waiter in waiters {
                    let _ = waiter.send(result.clone());
                }
            }
            let elapsed = started.elapsed();
            let _ = self
                .round_microseconds
                .borrow_mut()
                .record(elapsed.as_micros().max(1) as u64);
            crate::metrics::observe_group_commit_round(elapsed);
            self.synced.notify_all();
        }
    }
}
