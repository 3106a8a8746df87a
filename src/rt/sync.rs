//! Shard-local synchronisation: an async lock and a wake-all signal. Neither
//! crosses cores; both cost no atomics.

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
