//! openraft's `AsyncRuntime` on the shard's glommio executor, through
//! `crate::rt` only (spawning and timers), so this module names no glommio
//! type.
//!
//! Invariants: a spawned task runs to completion whether or not its
//! `JoinHandle` is kept (openraft drops many handles and expects the task
//! to go on, as tokio's do); a task that panics ends with
//! `JoinError::Panicked` instead of unwinding through the executor; a
//! timer never fires before its deadline.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_channel::oneshot;
use futures_lite::FutureExt;
use openraft::{AsyncRuntime, OptionalSend};

/// openraft's runtime for the quorum member on shard 0's executor.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct GlommioRuntime;

/// Why a spawned task gave no output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinError {
    /// The task panicked, with the panic's message when it was a string.
    Panicked(String),
    /// The task was dropped before it finished (its executor stopped).
    Dropped,
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Panicked(message) => write!(f, "the task panicked: {message}"),
            JoinError::Dropped => f.write_str("the task was dropped before it finished"),
        }
    }
}

impl std::error::Error for JoinError {}

/// The output of a detached task; dropping it leaves the task running.
pub struct JoinHandle<T>(oneshot::Receiver<Result<T, JoinError>>);

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        match Pin::new(&mut self.0).poll(context) {
            Poll::Ready(Ok(output)) => Poll::Ready(output),
            Poll::Ready(Err(oneshot::Canceled)) => Poll::Ready(Err(JoinError::Dropped)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A boxed timer: glommio's sleep future has no name to put in a type.
pub type Sleep = Pin<Box<dyn Future<Output = ()>>>;

/// The deadline has passed before the future finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

/// `future`, unless the timer fires first. The future is polled first, so
/// one that is ready at the deadline still counts.
pub struct Timeout<R, F: Future<Output = R>> {
    future: Pin<Box<F>>,
    timer: Sleep,
}

impl<R, F: Future<Output = R>> Future for Timeout<R, F> {
    type Output = Result<R, Elapsed>;

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(output) = self.future.as_mut().poll(context) {
            return Poll::Ready(Ok(output));
        }
        match self.timer.as_mut().poll(context) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The sending half of a oneshot channel, as openraft names it.
pub struct OneshotSender<T>(oneshot::Sender<T>);

impl<T> fmt::Debug for OneshotSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OneshotSender")
    }
}

impl<T> openraft::async_runtime::AsyncOneshotSendExt<T> for OneshotSender<T> {
    fn send(self, value: T) -> Result<(), T> {
        self.0.send(value)
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        text.to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "(not a string)".to_string()
    }
}

impl AsyncRuntime for GlommioRuntime {
    type JoinError = JoinError;
    type JoinHandle<T: OptionalSend + 'static> = JoinHandle<T>;
    type Sleep = Sleep;
    type Instant = openraft::TokioInstant;
    type TimeoutError = Elapsed;
    type Timeout<R, T: Future<Output = R> + OptionalSend> = Timeout<R, T>;
    type ThreadLocalRng = rand::rngs::ThreadRng;
    type OneshotSender<T: OptionalSend> = OneshotSender<T>;
    type OneshotReceiverError = oneshot::Canceled;
    type OneshotReceiver<T: OptionalSend> = oneshot::Receiver<T>;

    fn spawn<T>(future: T) -> Self::JoinHandle<T::Output>
    where
        T: Future + OptionalSend + 'static,
        T::Output: OptionalSend + 'static,
    {
        let (sender, receiver) = oneshot::channel();
        crate::rt::spawn_detached(async move {
            let output = AssertUnwindSafe(future)
                .catch_unwind()
                .await
                .map_err(|payload| JoinError::Panicked(panic_message(payload.as_ref())));
            // The handle may be gone: openraft drops most of them.
            let _ = sender.send(output);
        });
        JoinHandle(receiver)
    }

    fn sleep(duration: Duration) -> Self::Sleep {
        Box::pin(crate::rt::sleep(duration))
    }

    fn sleep_until(deadline: Self::Instant) -> Self::Sleep {
        Self::sleep(deadline.saturating_duration_since(Self::Instant::now()))
    }

    fn timeout<R, F: Future<Output = R> + OptionalSend>(
        duration: Duration,
        future: F,
    ) -> Self::Timeout<R, F> {
        Timeout {
            future: Box::pin(future),
            timer: Self::sleep(duration),
        }
    }

    fn timeout_at<R, F: Future<Output = R> + OptionalSend>(
        deadline: Self::Instant,
        future: F,
    ) -> Self::Timeout<R, F> {
        Timeout {
            future: Box::pin(future),
            timer: Self::sleep_until(deadline),
        }
    }

    fn is_panic(error: &Self::JoinError) -> bool {
        matches!(error, JoinError::Panicked(_))
    }

    fn thread_rng() -> Self::ThreadLocalRng {
        rand::thread_rng()
    }

    fn oneshot<T>() -> (Self::OneshotSender<T>, Self::OneshotReceiver<T>)
    where
        T: OptionalSend,
    {
        let (sender, receiver) = oneshot::channel();
        (OneshotSender(sender), receiver)
    }
}
