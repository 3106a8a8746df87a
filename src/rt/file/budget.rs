//! One shard's budget of segment-file descriptors: how many are open, the
//! open files in order of last use, and the sweeper that closes files left
//! idle. Opening past the budget first closes the least recently used file
//! nothing is using, and when every open file is in use, waits for one.
//!
//! The budget sees an open file only through [`BudgetedFile`] (whether it
//! is idle, when it was last used, close it if idle), which `handle.rs`
//! implements: the handle depends on the budget, not the other way round.
//!
//! Invariants: descriptors counted here never exceed the capacity; a
//! [`Reservation`] is taken before a descriptor opens and given back only
//! after it is closed.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::limits::{
    SEGMENT_DESCRIPTORS_PER_SHARD_DEFAULT, SEGMENT_DESCRIPTOR_WAIT_MILLISECONDS,
    SEGMENT_FILE_IDLE_CHECK_MILLISECONDS, SEGMENT_FILE_IDLE_MILLISECONDS,
};
use crate::rt::sync::Signal;

/// What the budget needs of a file it may close: implemented by the
/// segment file's handle (`handle.rs`).
pub(super) trait BudgetedFile {
    /// Open, and used by nothing but the budget's own slot.
    fn idle(&self) -> bool;
    /// When it was last used (the sweeper closes files unused for long).
    fn used_at(&self) -> Instant;
    /// Closes it if nothing uses it (syncing first); true when closed.
    fn close_idle(self: Rc<Self>) -> Pin<Box<dyn Future<Output = bool>>>;
}

/// Descriptors counted in a shard's budget, given back on drop.
pub(super) struct Reservation {
    pub(super) budget: Rc<Budget>,
    pub(super) count: usize,
}

impl Reservation {
    pub(super) fn split_one(&mut self) -> Reservation {
        assert!(
            self.count >= 2,
            "a reservation splits only when it holds two"
        );
        self.count -= 1;
        Reservation {
            budget: self.budget.clone(),
            count: 1,
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.open.fetch_sub(self.count, Ordering::AcqRel);
        self.budget.released.notify_all();
    }
}

/// One shard's budget of segment-file descriptors and its open files in
/// order of last use.
pub(super) struct Budget {
    pub(super) capacity: Cell<usize>,
    /// Descriptors open now; atomic because a duplicate lent to sendfile
    /// may be closed on a blocking thread.
    pub(super) open: Arc<AtomicUsize>,
    pub(super) recency: RefCell<BTreeMap<u64, Weak<dyn BudgetedFile>>>,
    pub(super) clock: Cell<u64>,
    /// Fired when descriptors are given back or an open completes.
    pub(super) released: Signal,
    pub(super) sweeper_started: Cell<bool>,
    /// How long a file stays open unused, and how often that is checked.
    pub(super) idle_close_after: Cell<Duration>,
    pub(super) idle_check_every: Cell<Duration>,
}

thread_local! {
    /// Each shard is one thread, so its budget is this thread's.
    static BUDGET: RefCell<Option<Rc<Budget>>> = const { RefCell::new(None) };
}

pub(super) fn budget() -> Rc<Budget> {
    BUDGET.with(|slot| {
        slot.borrow_mut()
            .get_or_insert_with(|| {
                let capacity = crate::rt::os_limits::plan()
                    .map_or(SEGMENT_DESCRIPTORS_PER_SHARD_DEFAULT, |plan| {
                        plan.segment_descriptors_per_shard
                    });
                Rc::new(Budget {
                    capacity: Cell::new(capacity),
                    open: Arc::new(AtomicUsize::new(0)),
                    recency: RefCell::new(BTreeMap::new()),
                    clock: Cell::new(0),
                    released: Signal::default(),
                    sweeper_started: Cell::new(false),
                    idle_close_after: Cell::new(Duration::from_millis(
                        SEGMENT_FILE_IDLE_MILLISECONDS,
                    )),
                    idle_check_every: Cell::new(Duration::from_millis(
                        SEGMENT_FILE_IDLE_CHECK_MILLISECONDS,
                    )),
                })
            })
            .clone()
    })
}

/// Sets this shard's budget of segment-file descriptors (at least 2): for
/// tests, before files are opened.
pub fn set_descriptor_budget(descriptors: usize) {
    budget().capacity.set(descriptors.max(2));
}

/// Sets how long this shard's files stay open unused, and how often that
/// is checked: for tests, before files are opened.
pub fn set_idle_close(after: Duration, check_every: Duration) {
    let budget = budget();
    budget.idle_close_after.set(after);
    budget.idle_check_every.set(check_every);
}

/// Descriptors this shard's segment files hold open now.
pub fn descriptors_open() -> usize {
    budget().open.load(Ordering::Acquire)
}

impl Budget {
    pub(super) fn try_reserve(self: &Rc<Self>, count: usize) -> Option<Reservation> {
        if self.open.load(Ordering::Acquire) + count > self.capacity.get() {
            return None;
        }
        // Only this shard's thread adds, so nothing can take the room
        // between the check and the add.
        self.open.fetch_add(count, Ordering::AcqRel);
        Some(Reservation {
            budget: self.clone(),
            count,
        })
    }

    /// Reserves `count` descriptors, closing least recently used idle
    /// files for room, or waiting for some to be given back.
    pub(super) async fn reserve(self: &Rc<Self>, count: usize) -> Reservation {
        if !self.sweeper_started.replace(true) {
            crate::rt::spawn_detached(close_idle_files(Rc::downgrade(self)));
        }
        loop {
            if let Some(reservation) = self.try_reserve(count) {
                return reservation;
            }
            let seen = self.released.generation();
            if let Some(victim) = self.least_recent_idle() {
                if victim.close_idle().await {
                    continue;
                }
            }
            if let Some(reservation) = self.try_reserve(count) {
                return reservation;
            }
            self.released
                .wait_past(
                    seen,
                    Duration::from_millis(SEGMENT_DESCRIPTOR_WAIT_MILLISECONDS),
                )
                .await;
        }
    }

    pub(super) fn least_recent_idle(&self) -> Option<Rc<dyn BudgetedFile>> {
        let mut stale = Vec::new();
        let mut found = None;
        for (&tick, weak) in self.recency.borrow().iter() {
            match weak.upgrade() {
                Some(handle) if handle.idle() => {
                    found = Some(handle);
                    break;
                }
                Some(_) => {}
                None => stale.push(tick),
            }
        }
        if !stale.is_empty() {
            let mut recency = self.recency.borrow_mut();
            for tick in stale {
                recency.remove(&tick);
            }
        }
        found
    }
}

/// Closes files unused for `SEGMENT_FILE_IDLE_MILLISECONDS`, so partitions
/// that went quiet give their descriptors back.
async fn close_idle_files(budget: Weak<Budget>) {
    loop {
        let Some(check_every) = budget.upgrade().map(|budget| budget.idle_check_every.get()) else {
            return;
        };
        crate::rt::sleep(check_every).await;
        let Some(budget) = budget.upgrade() else {
            return;
        };
        let Some(idle_since) = Instant::now().checked_sub(budget.idle_close_after.get()) else {
            continue;
        };
        let idle: Vec<Rc<dyn BudgetedFile>> = budget
            .recency
            .borrow()
            .values()
            .filter_map(Weak::upgrade)
            .take_while(|handle| handle.used_at() <= idle_since)
            .collect();
        for handle in idle {
            handle.close_idle().await;
        }
    }
}
