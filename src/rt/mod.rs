//! The runtime: the only module that names glommio. Everything else sees
//! executors, direct-IO files, sockets, cross-core channels, timers, clocks,
//! a byte budget and a wake-all signal through the small types here.
//!
//! What a test can fake, and how (each an interface with the broker's
//! implementation and a fake beside it):
//! - files: `file::SegmentFile` / `file::OpenSegmentFile`, implemented by
//!   `file::DirectFile` / `file::FileUse`; the fake `file::faults::FaultyFile`
//!   fails planned writes and syncs (full disk, IO error, torn or short
//!   write). The storage log and its segments are generic over it.
//! - sockets: `net::SocketReader` / `net::SocketWriter`, implemented by a
//!   client connection's halves; the fakes in `fake_net` are a scripted peer
//!   that closes or stalls and a recording peer that can fail mid-reply.
//!   The connection loop's reading and reply writing are generic over them.
//! - clocks: `clock::Clock`, implemented by `clock::SystemClock`; the fake
//!   `clock::ManualClock` moves only when told (and its wall clock can jump
//!   either way). The storage log takes its `segment.ms` age from one.
//!
//! All three use static dispatch (generic parameters that default to the
//! broker's implementation), so the seams cost nothing on the hot path.
//! Executors, channels and timers are not behind traits: tests run them for
//! real on a local executor ([`run_local`]).
//!
//! Invariants: every type here is used on the core that created it (they are
//! `!Send`), except the cross-core channel halves, which are created on the
//! main thread and connected on their executor.

pub mod channel;
pub mod clock;
pub mod executor;
pub mod fake_net;
pub mod file;
pub mod net;
pub mod os_limits;
pub mod sync;

pub use glommio::timer::sleep;

/// `future`'s output, or `None` once `limit` passed first.
pub async fn within<T>(
    limit: std::time::Duration,
    future: impl std::future::Future<Output = T>,
) -> Option<T> {
    use futures_lite::FutureExt;
    async { Some(future.await) }
        .or(async {
            sleep(limit).await;
            None
        })
        .await
}

/// Wall-clock milliseconds since the Unix epoch (LogAppendTime, commit
/// timestamps, retention.ms). Code that must be testable against clock
/// jumps takes the value as a parameter instead of calling this.
pub fn now_milliseconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or(0)
}

/// Spawns a task on the current shard's executor and lets it run on its own.
pub fn spawn_detached(future: impl std::future::Future<Output = ()> + 'static) {
    glommio::spawn_local(future).detach();
}

/// Spawns a task on the current shard's executor; awaiting the result
/// gives its output.
pub fn spawn<T: 'static>(
    future: impl std::future::Future<Output = T> + 'static,
) -> impl std::future::Future<Output = T> {
    glommio::spawn_local(future)
}

/// Runs `future` to completion on a fresh single executor: for tests and
/// tools that need the runtime without a whole broker.
pub fn run_local<T: Send + 'static>(future: impl std::future::Future<Output = T> + 'static) -> T {
    glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .io_memory(crate::limits::IO_MEMORY_PER_SHARD_BYTES)
        .make()
        .expect("a local executor starts")
        .run(future)
}
