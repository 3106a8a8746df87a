//! Shard-local synchronisation: an async lock and a wake-all signal. Neither
//! crosses cores; both cost no atomics.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// An async mutual-exclusion lock for one core (one permit of a semaphore).
pub struct AsyncLock(Rc<glommio::sync::Semaphore>);

/// Held while the lock is; released on drop.
pub struct AsyncLockGuard(#[allow(dead_code)] glommio::sync::StaticPermit);

impl Default for AsyncLock {
    fn default() -> Self {
        AsyncLock(Rc::new(glommio::sync::Semaphore::new(1)))
    }
}

impl AsyncLock {
    pub async fn lock(&self) -> AsyncLockGuard {
        let permit = self
            .0
            .acquire_static_permit(1)
            .await
            .expect("the lock's semaphore is never closed");
        AsyncLockGuard(permit)
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
