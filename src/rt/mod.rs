//! The runtime: the only module that names glommio. Everything else sees
//! executors, direct-IO files, sockets, cross-core channels, timers, a byte
//! budget and a wake-all signal through the small types here, so the
//! runtime can be swapped or faked without touching the broker's logic.
//!
//! Invariants: every type here is used on the core that created it (they are
//! `!Send`), except the cross-core channel halves, which are created on the
//! main thread and connected on their executor.

pub mod channel;
pub mod executor;
pub mod file;
pub mod net;
pub mod os_limits;
pub mod sync;

pub use glommio::timer::sleep;

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
