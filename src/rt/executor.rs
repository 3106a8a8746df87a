//! One pinned executor per shard, and the start-up checks io_uring needs.
//!
//! Invariants: `check_host` (and `corelog check`, through the same
//! `memlock_wanted_bytes` and `probe_io_uring`) runs before any shard is
//! spawned; each shard thread runs one executor, pinned to its CPU when one
//! is given.

use std::io;

use crate::limits::{IO_RING_MEMORY_PER_SHARD_BYTES, MEMLOCK_BYTES_MIN};

/// Raises RLIMIT_MEMLOCK as far as this process may, so io_uring can lock its
/// rings and registered buffers. Returns the limit now in force.
pub fn raise_memlock_limit(wanted_bytes: u64) -> io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if limit.rlim_cur != libc::RLIM_INFINITY && limit.rlim_cur < wanted_bytes {
        let mut raised = libc::rlimit {
            rlim_cur: wanted_bytes,
            rlim_max: limit.rlim_max.max(wanted_bytes),
        };
        if limit.rlim_max == libc::RLIM_INFINITY {
            raised.rlim_max = libc::RLIM_INFINITY;
        }
        // SAFETY: setrlimit reads the struct we own. Raising the hard limit
        // needs CAP_SYS_RESOURCE; without it, try the soft limit alone.
        if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &raised) } != 0 {
            let soft_only = libc::rlimit {
                rlim_cur: wanted_bytes.min(limit.rlim_max),
                rlim_max: limit.rlim_max,
            };
            // SAFETY: as above.
            unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &soft_only) };
        }
        // SAFETY: as above.
        if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(if limit.rlim_cur == libc::RLIM_INFINITY {
        u64::MAX
    } else {
        limit.rlim_cur
    })
}

/// Why the runtime cannot start, with the fix an operator can apply.
#[derive(Debug)]
pub enum StartError {
    MemlockTooLow { limit_bytes: u64, needed_bytes: u64 },
    IoUringUnavailable(io::Error),
    Spawn(io::Error),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::MemlockTooLow { limit_bytes, needed_bytes } => write!(
                f,
                "the locked-memory limit (RLIMIT_MEMLOCK) is {limit_bytes} bytes, and io_uring needs at least \
                 {needed_bytes}. Raise it before starting corelog: `ulimit -l unlimited` in the shell (as root), \
                 `LimitMEMLOCK=infinity` in a systemd unit, or a `memlock` line in /etc/security/limits.conf."
            ),
            StartError::IoUringUnavailable(error) => write!(
                f,
                "io_uring is not available ({error}). corelog needs Linux 5.8 or newer with io_uring enabled \
                 (check /proc/sys/kernel/io_uring_disabled is 0, and that no seccomp profile blocks io_uring_setup)."
            ),
            StartError::Spawn(error) => write!(f, "could not start a shard executor: {error}"),
        }
    }
}

/// Checks that this process can lock enough memory and create an io_uring,
/// before any shard starts, so a misconfigured host gets a sentence rather
/// than a panic from inside an executor thread.
pub fn check_host(shards: usize, io_memory_per_shard_bytes: usize) -> Result<(), StartError> {
    let wanted = memlock_wanted_bytes(shards, io_memory_per_shard_bytes);
    let limit = raise_memlock_limit(wanted).map_err(StartError::IoUringUnavailable)?;
    if limit < MEMLOCK_BYTES_MIN {
        return Err(StartError::MemlockTooLow {
            limit_bytes: limit,
            needed_bytes: wanted,
        });
    }
    if limit < wanted {
        tracing::warn!(
            "RLIMIT_MEMLOCK is {limit} bytes, below the {wanted} bytes that {shards} shards \
             would lock; IO buffers will not be registered with io_uring (slower). Fix: `ulimit -l unlimited`."
        );
    }
    if let Err(error) = probe_io_uring() {
        if error.raw_os_error() == Some(libc::ENOMEM)
            || error.raw_os_error() == Some(libc::EPERM) && limit < wanted
        {
            return Err(StartError::MemlockTooLow {
                limit_bytes: limit,
                needed_bytes: wanted,
            });
        }
        return Err(StartError::IoUringUnavailable(error));
    }
    Ok(())
}

/// Locked memory `shards` shards ask for: rings for three queues per shard
/// plus registered buffers; the buffers may fall back to unregistered
/// memory, the rings may not.
pub fn memlock_wanted_bytes(shards: usize, io_memory_per_shard_bytes: usize) -> u64 {
    (shards as u64) * (io_memory_per_shard_bytes as u64 + IO_RING_MEMORY_PER_SHARD_BYTES)
}

/// Creates a small io_uring and closes it at once: the error says why this
/// process may not use io_uring (ENOSYS, EPERM, ENOMEM).
pub fn probe_io_uring() -> io::Result<()> {
    // SAFETY: io_uring_setup with zeroed params either returns a new fd, which
    // we close at once, or fails with errno; no memory is shared with us.
    let mut params = [0u8; 120];
    let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, 2u32, params.as_mut_ptr()) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd came from io_uring_setup above and is closed exactly once.
    unsafe { libc::close(fd as i32) };
    Ok(())
}

/// A running shard's thread; `join` waits for its main future to finish.
pub struct ShardThread<T: Send + 'static>(glommio::ExecutorJoinHandle<T>);

impl<T: Send + 'static> ShardThread<T> {
    pub fn join(self) -> io::Result<T> {
        self.0.join().map_err(io::Error::from)
    }
}

/// Starts shard `index` on its own thread with its own io_uring executor,
/// pinned to `cpu` when given (unpinned when the host has fewer CPUs).
/// `idle_spin`: how long the shard polls for more work before it parks
/// in the kernel (see `--idle-spin-microseconds`).
pub fn spawn_shard<G, F, T>(
    index: usize,
    cpu: Option<usize>,
    idle_spin: std::time::Duration,
    main: G,
) -> Result<ShardThread<T>, StartError>
where
    G: FnOnce() -> F + Send + 'static,
    F: std::future::Future<Output = T> + 'static,
    T: Send + 'static,
{
    let threads = crate::limits::BLOCKING_THREADS_PER_SHARD;
    let (placement, blocking) = match cpu {
        Some(cpu) => {
            let cpus = glommio::CpuSet::online()
                .map_err(|error| StartError::Spawn(io::Error::from(error)))?
                .filter(|location| location.cpu == cpu);
            (
                glommio::Placement::Fixed(cpu),
                glommio::PoolPlacement::Custom(vec![cpus; threads]),
            )
        }
        None => (
            glommio::Placement::Unbound,
            glommio::PoolPlacement::Unbound(threads),
        ),
    };
    glommio::LocalExecutorBuilder::new(placement)
        .name(&format!("corelog-shard-{index}"))
        .blocking_thread_pool_placement(blocking)
        .spin_before_park(idle_spin)
        .io_memory(crate::limits::IO_MEMORY_PER_SHARD_BYTES)
        .spawn(move || {
            // Entered for the thread's whole life, so every line logged on
            // this shard names it (see logging.rs).
            let span = crate::logging::shard_span(index);
            async move {
                let _entered = span.entered();
                main().await
            }
        })
        .map(ShardThread)
        .map_err(|error| StartError::Spawn(io::Error::from(error)))
}
