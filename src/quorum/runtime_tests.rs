//! The glommio runtime adapter on a real executor: timers, timeouts,
//! detached tasks, oneshot channels and panics.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant as StdInstant};

use openraft::async_runtime::AsyncOneshotSendExt;
use openraft::AsyncRuntime;

use super::runtime::{GlommioRuntime, JoinError};
use crate::rt::run_local;

type Runtime = GlommioRuntime;

#[test]
fn timers_fire_in_order_and_not_early() {
    let fired = run_local(async {
        let fired = Rc::new(RefCell::new(Vec::new()));
        let start = StdInstant::now();
        let mut handles = Vec::new();
        for milliseconds in [60u64, 20, 40] {
            let fired = fired.clone();
            handles.push(Runtime::spawn(async move {
                Runtime::sleep(Duration::from_millis(milliseconds)).await;
                let elapsed = start.elapsed();
                assert!(
                    elapsed >= Duration::from_millis(milliseconds),
                    "{elapsed:?}"
                );
                fired.borrow_mut().push(milliseconds);
            }));
        }
        let deadline = <Runtime as AsyncRuntime>::Instant::now() + Duration::from_millis(30);
        Runtime::sleep_until(deadline).await;
        assert!(<Runtime as AsyncRuntime>::Instant::now() >= deadline);
        for handle in handles {
            handle.await.unwrap();
        }
        let fired = fired.borrow().clone();
        fired
    });
    assert_eq!(fired, vec![20, 40, 60]);
}

#[test]
fn timeout_expires_or_passes_the_output_through() {
    run_local(async {
        let start = StdInstant::now();
        let slow = Runtime::timeout(
            Duration::from_millis(20),
            Runtime::sleep(Duration::from_secs(5)),
        );
        assert!(slow.await.is_err());
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(20) && elapsed < Duration::from_secs(2));

        let quick = Runtime::timeout(Duration::from_secs(5), async { 7 });
        assert_eq!(quick.await.unwrap(), 7);

        let deadline = <Runtime as AsyncRuntime>::Instant::now() + Duration::from_millis(10);
        let at = Runtime::timeout_at(deadline, Runtime::sleep(Duration::from_secs(5)));
        assert!(at.await.is_err());
        assert!(<Runtime as AsyncRuntime>::Instant::now() >= deadline);
    });
}

#[test]
fn a_task_whose_handle_is_dropped_still_runs_to_completion() {
    let done = run_local(async {
        let done = Rc::new(RefCell::new(false));
        let flag = done.clone();
        drop(Runtime::spawn(async move {
            Runtime::sleep(Duration::from_millis(20)).await;
            *flag.borrow_mut() = true;
        }));
        Runtime::sleep(Duration::from_millis(60)).await;
        let done = *done.borrow();
        done
    });
    assert!(done);
}

#[test]
fn oneshot_delivers_and_reports_a_dropped_sender() {
    run_local(async {
        let (sender, receiver) = Runtime::oneshot::<u32>();
        Runtime::spawn(async move {
            Runtime::sleep(Duration::from_millis(5)).await;
            sender.send(42).unwrap();
        });
        assert_eq!(receiver.await.unwrap(), 42);

        let (sender, receiver) = Runtime::oneshot::<u32>();
        drop(sender);
        assert!(receiver.await.is_err());

        let (sender, receiver) = Runtime::oneshot::<u32>();
        drop(receiver);
        assert_eq!(sender.send(1), Err(1));
    });
}

#[test]
fn thread_rng_draws_in_range() {
    use rand::Rng;
    let mut rng = Runtime::thread_rng();
    assert!((0..100).all(|_| rng.gen_range(150..300) >= 150));
}

#[test]
fn a_panicking_task_is_reported_as_a_panic() {
    run_local(async {
        let handle = Runtime::spawn(async {
            Runtime::sleep(Duration::from_millis(1)).await;
            panic!("on purpose");
        });
        let error = handle.await.unwrap_err();
        assert!(Runtime::is_panic(&error));
        assert_eq!(error, JoinError::Panicked("on purpose".to_string()));
        // The executor goes on after the panic.
        assert_eq!(Runtime::spawn(async { 3 }).await.unwrap(), 3);
    });
}
