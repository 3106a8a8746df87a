//! Shard-local synchronisation: an async lock and a wake-all signal. Neither
//! crosses cores; both cost no atomics.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// Mutual exclusion in a fixed order: `take` hands out turns synchronously,
/// so callers fix their order before anything is awaited, and each turn's
/// `wait` completes once every earlier turn was dropped. A turn dropped
/// before it came up is skipped. One core only; no atomics.
#[derive(Default, Clone)]
pub struct TurnQueue(Rc<TurnState>);

#[derive(Default)]
struct TurnState {
    next: Cell<u64>,
    serving: Cell<u64>,
    /// Turns dropped before they came up.
    abandoned: RefCell<std::collections::BTreeSet<u64>>,
    waiters: RefCell<std::collections::BTreeMap<u64, Waker>>,
}

/// A place in a [`TurnQueue`]; holding it after `wait` is holding the lock.
pub struct Turn {
    state: Rc<TurnState>,
    number: u64,
}

impl TurnQueue {
    pub fn take(&self) -> Turn {
        let number = self.0.next.get();
        self.0.next.set(number + 1);
        Turn {
            state: self.0.clone(),
            number,
        }
    }
}

impl Turn {
    /// Completes when this turn comes up.
    pub fn wait(&self) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(move |context| {
            if self.state.serving.get() == self.number {
                return Poll::Ready(());
            }
            self.state
                .waiters
                .borrow_mut()
                .insert(self.number, context.waker().clone());
            Poll::Pending
        })
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let state = &self.state;
        state.waiters.borrow_mut().remove(&self.number);
        if state.serving.get() != self.number {
            state.abandoned.borrow_mut().insert(self.number);
            return;
        }
        let mut serving = self.number + 1;
        while state.abandoned.borrow_mut().remove(&serving) {
            serving += 1;
        }
        state.serving.set(serving);
        if let Some(waker) = state.waiters.borrow_mut().remove(&serving) {
            waker.wake();
        }
    }
}

/// A budget of bytes shared by one core's tasks: `acquire` waits until the
/// bytes are free, and they return when the permit drops. Requests larger
/// than the whole budget take all of it.
pub struct ByteBudget {
    semaphore: Rc<glommio::sync::Semaphore>,
    total: usize,
}

/// Bytes taken from a [`ByteBudget`], given back on drop.
pub struct BudgetPermit(#[allow(dead_code)] glommio::sync::StaticPermit);

impl ByteBudget {
    pub fn new(total: usize) -> ByteBudget {
        ByteBudget {
            semaphore: Rc::new(glommio::sync::Semaphore::new(total as u64)),
            total,
        }
    }

    pub async fn acquire(&self, bytes: usize) -> BudgetPermit {
        let permit = self
            .semaphore
            .acquire_static_permit(bytes.clamp(1, self.total) as u64)
            .await
            .expect("the budget's semaphore is never closed");
        BudgetPermit(permit)
    }
}

/// Wakes every waiter when something happened (a partition was appended to).
/// Waiters re-check their condition after waking; a generation number makes
/// a notification between check and wait impossible to miss.
#[derive(Default)]
pub struct Signal {
    generation: Cell<u64>,
    waiters: RefCell<Vec<Waker>>,
}

impl Signal {
    pub fn generation(&self) -> u64 {
        self.generation.get()
    }

    pub fn notify_all(&self) {
        self.generation.set(self.generation.get().wrapping_add(1));
        for waker in self.waiters.borrow_mut().drain(..) {
            waker.wake();
        }
    }

    /// Completes once the generation moves past `seen`, or after `limit`.
    pub async fn wait_past(&self, seen: u64, limit: Duration) {
        let changed = SignalChanged { signal: self, seen };
        futures_lite::future::or(changed, glommio::timer::sleep(limit)).await
    }
}

struct SignalChanged<'a> {
    signal: &'a Signal,
    seen: u64,
}

impl Future for SignalChanged<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<()> {
        if self.signal.generation.get() != self.seen {
            return Poll::Ready(());
        }
        self.signal
            .waiters
            .borrow_mut()
            .push(context.waker().clone());
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turns_come_up_in_the_order_taken_and_dropped_ones_are_skipped() {
        crate::rt::run_local(async {
            let queue = TurnQueue::default();
            let order = Rc::new(RefCell::new(Vec::new()));
            let first = queue.take();
            let second = queue.take();
            let skipped = queue.take();
            let fourth = queue.take();
            // Started in reverse order, they still run in turn order.
            let mut tasks = Vec::new();
            for (name, turn) in [("fourth", fourth), ("second", second)] {
                let order = order.clone();
                tasks.push(crate::rt::spawn(async move {
                    turn.wait().await;
                    order.borrow_mut().push(name);
                    crate::rt::sleep(Duration::from_millis(5)).await;
                    drop(turn);
                }));
            }
            drop(skipped);
            crate::rt::sleep(Duration::from_millis(5)).await;
            assert!(
                order.borrow().is_empty(),
                "nothing runs before the first turn ends"
            );
            first.wait().await;
            order.borrow_mut().push("first");
            drop(first);
            for task in tasks {
                task.await;
            }
            assert_eq!(*order.borrow(), vec!["first", "second", "fourth"]);
            // The queue goes on after them.
            let next = queue.take();
            next.wait().await;
        });
    }
}
