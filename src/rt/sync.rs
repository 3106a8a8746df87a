//! Shard-local synchronisation: a byte budget and a wake-all signal. Neither
//! crosses cores; both cost no atomics.
//!
//! Invariants:
//! - a [`ByteBudget`]'s bytes held by permits plus its free bytes equal its
//!   total: held never goes negative, free never exceeds the total.
//! - a [`Signal`] holds at most one waker per parked waiter, and only while
//!   that waiter is parked: a waiter that completes, times out or is dropped
//!   takes its waker out at once, and `notify_all` takes them all.
//! - a bounded [`Signal`] never holds more than its capacity of wakers; a
//!   waiter that finds it full is told so at once instead of parking.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// A budget of bytes shared by one core's tasks: `acquire` waits until the
/// bytes are free, and they return when the permit drops. Requests larger
/// than the whole budget take all of it.
pub struct ByteBudget {
    semaphore: Rc<glommio::sync::Semaphore>,
    total: usize,
    /// Bytes out in permits; checked against the semaphore's count.
    held: Rc<Cell<usize>>,
}

/// Bytes taken from a [`ByteBudget`], given back on drop.
pub struct BudgetPermit {
    bytes: usize,
    held: Rc<Cell<usize>>,
    #[allow(dead_code)]
    permit: glommio::sync::StaticPermit,
}

impl ByteBudget {
    pub fn new(total: usize) -> ByteBudget {
        ByteBudget {
            semaphore: Rc::new(glommio::sync::Semaphore::new(total as u64)),
            total,
            held: Rc::new(Cell::new(0)),
        }
    }

    pub async fn acquire(&self, bytes: usize) -> BudgetPermit {
        let bytes = bytes.clamp(1, self.total);
        let permit = self
            .semaphore
            .acquire_static_permit(bytes as u64)
            .await
            .expect("the budget's semaphore is never closed");
        let held = self.held.get() + bytes;
        assert!(
            held <= self.total,
            "byte budget over its total: {held} held of {}",
            self.total
        );
        self.held.set(held);
        assert_eq!(
            self.semaphore.available() as usize + held,
            self.total,
            "byte budget: free plus held is the total"
        );
        BudgetPermit {
            bytes,
            held: self.held.clone(),
            permit,
        }
    }

    /// Bytes out in permits now.
    pub fn held_bytes(&self) -> usize {
        self.held.get()
    }
}

impl Drop for BudgetPermit {
    fn drop(&mut self) {
        let held = self.held.get();
        assert!(
            held >= self.bytes,
            "byte budget would go negative: {held} held, {} returned",
            self.bytes
        );
        self.held.set(held - self.bytes);
    }
}

/// How a wait on a [`Signal`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Woken {
    /// The generation moved past the one seen.
    Changed,
    /// The time limit passed first.
    TimedOut,
    /// The signal already holds its capacity of waiters, so this one did
    /// not park (the caller answers at once with what it has).
    Full,
}

/// Wakes every waiter when something happened (a partition was appended to).
/// Waiters re-check their condition after waking; a generation number makes
/// a notification between check and wait impossible to miss.
pub struct Signal {
    generation: Cell<u64>,
    waiters: RefCell<Waiters>,
    /// Most waiters parked at once; `usize::MAX` for a signal whose waiters
    /// are bounded elsewhere (by the tasks that can exist at all).
    capacity: usize,
}

/// The parked wakers: a slab, so a waiter leaving takes out its own waker
/// in constant time and a slot is reused by the next waiter.
#[derive(Default)]
struct Waiters {
    slots: Vec<Option<Waker>>,
    free: Vec<usize>,
    parked: usize,
}

impl Waiters {
    fn insert(&mut self, waker: Waker) -> usize {
        self.parked += 1;
        match self.free.pop() {
            Some(slot) => {
                debug_assert!(self.slots[slot].is_none(), "a free slot is empty");
                self.slots[slot] = Some(waker);
                slot
            }
            None => {
                self.slots.push(Some(waker));
                self.slots.len() - 1
            }
        }
    }

    fn remove(&mut self, slot: usize) {
        let taken = self.slots[slot].take();
        assert!(taken.is_some(), "a parked waiter's slot holds its waker");
        self.parked -= 1;
        self.free.push(slot);
        debug_assert_eq!(self.parked + self.free.len(), self.slots.len());
    }

    fn take_all(&mut self) -> Vec<Waker> {
        let wakers: Vec<Waker> = self.slots.drain(..).flatten().collect();
        assert_eq!(wakers.len(), self.parked, "every parked waiter had a waker");
        self.free.clear();
        self.parked = 0;
        wakers
    }
}

impl Default for Signal {
    fn default() -> Signal {
        Signal::bounded(usize::MAX)
    }
}

impl Signal {
    /// A signal that lets at most `capacity` waiters park at once; the next
    /// gets [`Woken::Full`] without waiting.
    pub fn bounded(capacity: usize) -> Signal {
        Signal {
            generation: Cell::new(0),
            waiters: RefCell::new(Waiters::default()),
            capacity,
        }
    }

    pub fn generation(&self) -> u64 {
        self.generation.get()
    }

    /// Waiters parked now.
    pub fn parked(&self) -> usize {
        self.waiters.borrow().parked
    }

    pub fn notify_all(&self) {
        self.generation.set(self.generation.get().wrapping_add(1));
        // Taken out before waking: a waker may run code that parks again.
        let wakers = self.waiters.borrow_mut().take_all();
        for waker in wakers {
            waker.wake();
        }
    }

    /// Completes once the generation moves past `seen`, or after `limit`,
    /// or at once when the signal is full. The waker is taken out however
    /// the wait ends, so an idle signal holds none for waits that are over.
    pub async fn wait_past(&self, seen: u64, limit: Duration) -> Woken {
        let changed = self.changed_past(seen);
        let timeout = async {
            glommio::timer::sleep(limit).await;
            Woken::TimedOut
        };
        futures_lite::future::or(changed, timeout).await
    }

    fn changed_past(&self, seen: u64) -> SignalChanged<'_> {
        SignalChanged {
            signal: self,
            seen,
            slot: None,
        }
    }
}

struct SignalChanged<'a> {
    signal: &'a Signal,
    seen: u64,
    /// Where this waiter's waker is, while parked in the current generation.
    slot: Option<usize>,
}

impl Future for SignalChanged<'_> {
    type Output = Woken;

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Woken> {
        let signal = self.signal;
        if signal.generation.get() != self.seen {
            // notify_all took every waker: the slot is no longer ours.
            self.slot = None;
            return Poll::Ready(Woken::Changed);
        }
        let mut waiters = signal.waiters.borrow_mut();
        match self.slot {
            Some(slot) => {
                let current = waiters.slots[slot]
                    .as_mut()
                    .expect("a parked waiter's slot holds its waker");
                if !current.will_wake(context.waker()) {
                    *current = context.waker().clone();
                }
            }
            None => {
                if waiters.parked >= signal.capacity {
                    return Poll::Ready(Woken::Full);
                }
                self.slot = Some(waiters.insert(context.waker().clone()));
            }
        }
        assert!(
            waiters.parked <= signal.capacity,
            "a signal over its capacity"
        );
        Poll::Pending
    }
}

impl Drop for SignalChanged<'_> {
    fn drop(&mut self) {
        // Still parked in the generation it saw: take the waker out now
        // rather than leave it until the next notify.
        if let Some(slot) = self.slot {
            if self.signal.generation.get() == self.seen {
                self.signal.waiters.borrow_mut().remove(slot);
            }
        }
    }
}

#[cfg(test)]
#[path = "sync_tests.rs"]
mod tests;
