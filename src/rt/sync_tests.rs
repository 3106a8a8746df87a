use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use super::*;

struct Counting(AtomicUsize);

impl Wake for Counting {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

fn poll_with<F: Future + Unpin>(future: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(future).poll(&mut Context::from_waker(waker))
}

#[test]
fn dropped_waiters_take_their_wakers_out_and_the_count_stays_bounded() {
    let signal = Signal::bounded(8);
    let seen = signal.generation();
    for _round in 0..10 {
        let mut waiters: Vec<_> = (0..100).map(|_| signal.changed_past(seen)).collect();
        let outcomes: Vec<_> = waiters
            .iter_mut()
            .map(|waiter| poll_with(waiter, Waker::noop()))
            .collect();
        let parked = outcomes
            .iter()
            .filter(|outcome| outcome.is_pending())
            .count();
        let full = outcomes
            .iter()
            .filter(|outcome| **outcome == Poll::Ready(Woken::Full))
            .count();
        assert_eq!((parked, full), (8, 92));
        assert_eq!(signal.parked(), 8);
        drop(waiters);
        assert_eq!(signal.parked(), 0);
        // Slots are reused, never grown past the capacity.
        assert!(signal.waiters.borrow().slots.len() <= 8);
    }
}

#[test]
fn a_waiter_polled_again_keeps_one_waker() {
    let signal = Signal::default();
    let mut waiter = signal.changed_past(signal.generation());
    let counter = Arc::new(Counting(AtomicUsize::new(0)));
    let waker = Waker::from(counter.clone());
    for _ in 0..5 {
        assert!(poll_with(&mut waiter, &waker).is_pending());
        assert!(poll_with(&mut waiter, Waker::noop()).is_pending());
    }
    assert_eq!(signal.parked(), 1);
    signal.notify_all();
    assert_eq!(signal.parked(), 0);
    assert_eq!(poll_with(&mut waiter, &waker), Poll::Ready(Woken::Changed));
    // The last waker given was the no-op one: the counting one was replaced.
    assert_eq!(counter.0.load(Ordering::Relaxed), 0);
}

#[test]
fn notify_all_wakes_every_parked_waiter_once_and_frees_the_signal() {
    let signal = Signal::bounded(3);
    let counter = Arc::new(Counting(AtomicUsize::new(0)));
    let waker = Waker::from(counter.clone());
    let seen = signal.generation();
    let mut waiters: Vec<_> = (0..3).map(|_| signal.changed_past(seen)).collect();
    for waiter in &mut waiters {
        assert!(poll_with(waiter, &waker).is_pending());
    }
    signal.notify_all();
    assert_eq!(counter.0.load(Ordering::Relaxed), 3);
    assert_eq!(signal.parked(), 0);
    // A waiter from before the notify leaves nothing behind when dropped,
    // even though a new waiter took its old slot.
    let mut later = signal.changed_past(signal.generation());
    assert!(poll_with(&mut later, &waker).is_pending());
    drop(waiters);
    assert_eq!(signal.parked(), 1);
    drop(later);
    assert_eq!(signal.parked(), 0);
}

#[test]
fn expired_waits_take_their_wakers_out_without_a_notify() {
    crate::rt::run_local(async {
        let signal = Rc::new(Signal::bounded(4));
        let seen = signal.generation();
        // Many waits at once: four park, the rest are told the signal is
        // full; every one that parked times out, and none stays behind.
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let signal = signal.clone();
                crate::rt::spawn(
                    async move { signal.wait_past(seen, Duration::from_millis(5)).await },
                )
            })
            .collect();
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await);
        }
        let timed_out = outcomes
            .iter()
            .filter(|outcome| **outcome == Woken::TimedOut)
            .count();
        let full = outcomes
            .iter()
            .filter(|outcome| **outcome == Woken::Full)
            .count();
        assert_eq!((timed_out, full), (4, 16));
        assert_eq!(signal.parked(), 0);
        // One after another, on an idle signal: the count never grows.
        for _ in 0..50 {
            assert_eq!(
                signal.wait_past(seen, Duration::from_millis(1)).await,
                Woken::TimedOut
            );
            assert_eq!(signal.parked(), 0);
        }
        assert!(signal.waiters.borrow().slots.len() <= 4);
    });
}

#[test]
fn byte_budget_counts_what_permits_hold() {
    crate::rt::run_local(async {
        let budget = ByteBudget::new(100);
        let first = budget.acquire(30).await;
        let second = budget.acquire(70).await;
        assert_eq!(budget.held_bytes(), 100);
        drop((first, second));
        assert_eq!(budget.held_bytes(), 0);
        // More than the whole budget takes all of it.
        let all = budget.acquire(500).await;
        assert_eq!((all.bytes, budget.held_bytes()), (100, 100));
        drop(all);
        assert_eq!(budget.held_bytes(), 0);
    });
}
