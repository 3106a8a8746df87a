//! The open-file limit (RLIMIT_NOFILE) and how the broker splits it.
//!
//! At start the soft limit is raised to the hard limit (the kernel allows
//! that without privileges), and the descriptors it allows are planned once:
//! a fixed reserve for the process (standard streams, the metadata log),
//! a fixed reserve per shard (its io_uring rings, its listener, short-lived
//! index, seal and marker files), and the rest of each shard's share split
//! between client connections and segment files. Segment files then stay
//! within their share through the shard's LRU of open files (`rt/file/budget.rs`),
//! so no number of partitions can take the descriptors that accepting a
//! connection needs.
//!
//! Invariants: the plan is made once, on the main thread, before any shard
//! starts; shards only read it. Its parts add up to at most the limit.

use std::io;
use std::sync::OnceLock;

use crate::limits::{
    CONNECTIONS_PER_SHARD_MAX, CONNECTIONS_PER_SHARD_MIN, DESCRIPTORS_RESERVED_PER_PROCESS,
    DESCRIPTORS_RESERVED_PER_SHARD, SEGMENT_DESCRIPTORS_PER_SHARD_MIN,
};

/// How the open-file limit is split, per shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DescriptorPlan {
    /// The soft RLIMIT_NOFILE in force after raising it.
    pub limit_descriptors: u64,
    /// Client connections each shard accepts at most.
    pub connections_per_shard: usize,
    /// Descriptors each shard's segment files may hold open at once
    /// (read and write descriptors, and duplicates lent to sendfile).
    pub segment_descriptors_per_shard: usize,
}

/// Why the broker cannot run under this limit, with the fix.
#[derive(Debug)]
pub enum LimitError {
    Unreadable(io::Error),
    TooLow {
        limit_descriptors: u64,
        hard_descriptors: u64,
        needed_descriptors: u64,
        shards: usize,
    },
}

impl std::fmt::Display for LimitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LimitError::Unreadable(error) => {
                write!(f, "cannot read the open-file limit (RLIMIT_NOFILE): {error}")
            }
            LimitError::TooLow {
                limit_descriptors,
                hard_descriptors,
                needed_descriptors,
                shards,
            } => write!(
                f,
                "the open-file limit (RLIMIT_NOFILE) is {limit_descriptors} (hard limit {hard_descriptors}), \
                 and {shards} shards need at least {needed_descriptors} open files (their reserved \
                 descriptors, {CONNECTIONS_PER_SHARD_MIN} connections and {SEGMENT_DESCRIPTORS_PER_SHARD_MIN} \
                 segment files each). Raise it before starting corelog: `LimitNOFILE=1048576` in the \
                 systemd unit, `ulimit -n 1048576` in the shell (the hard limit may need root or a \
                 `nofile` line in /etc/security/limits.conf), or run fewer shards (--cores)."
            ),
        }
    }
}

static PLAN: OnceLock<DescriptorPlan> = OnceLock::new();

/// The plan made at start, if any (tests and tools that open files without
/// a broker get none and use defaults).
pub fn plan() -> Option<DescriptorPlan> {
    PLAN.get().copied()
}

/// Client connections a shard may hold: the plan's share, or the fixed
/// maximum when no plan was made.
pub fn connections_per_shard_max() -> usize {
    plan().map_or(CONNECTIONS_PER_SHARD_MAX, |plan| plan.connections_per_shard)
}

/// Raises the soft open-file limit to the hard one, plans how `shards`
/// share it, says what was done, and keeps the plan for the shards. Fails
/// (with the fix in the message) when the limit is too low to run at all.
pub fn budget_open_files(shards: usize) -> Result<DescriptorPlan, LimitError> {
    let (before, hard) = read_limit().map_err(LimitError::Unreadable)?;
    let limit = if before < hard {
        match set_soft_limit(hard) {
            Ok(()) => read_limit().map_err(LimitError::Unreadable)?.0,
            Err(error) => {
                tracing::warn!(
                    "could not raise the open-file limit from {before} to {hard}: {error}"
                );
                before
            }
        }
    } else {
        before
    };
    let plan = split(limit, shards).ok_or(LimitError::TooLow {
        limit_descriptors: limit,
        hard_descriptors: hard,
        needed_descriptors: needed(shards),
        shards,
    })?;
    if limit > before {
        tracing::info!(
            "raised the open-file limit (RLIMIT_NOFILE) from {before} to {limit}, the hard limit"
        );
    } else {
        tracing::info!("the open-file limit (RLIMIT_NOFILE) is {limit}");
    }
    tracing::info!(
        "open files per shard: {} segment file descriptors, {} connections, {} reserved; {} reserved for the process",
        plan.segment_descriptors_per_shard,
        plan.connections_per_shard,
        DESCRIPTORS_RESERVED_PER_SHARD,
        DESCRIPTORS_RESERVED_PER_PROCESS
    );
    if plan.connections_per_shard < CONNECTIONS_PER_SHARD_MAX {
        tracing::warn!(
            "connections per shard lowered from {CONNECTIONS_PER_SHARD_MAX} to {} to fit the open-file limit \
             (raise it with `LimitNOFILE=` or `ulimit -n` for more)",
            plan.connections_per_shard
        );
    }
    let _ = PLAN.set(plan);
    Ok(plan)
}

/// Descriptors `shards` shards need at the very least.
pub fn needed(shards: usize) -> u64 {
    (DESCRIPTORS_RESERVED_PER_PROCESS
        + shards
            * (DESCRIPTORS_RESERVED_PER_SHARD
                + CONNECTIONS_PER_SHARD_MIN
                + SEGMENT_DESCRIPTORS_PER_SHARD_MIN)) as u64
}

/// Splits `limit` descriptors among `shards`: after the reserves, each
/// shard's share goes half to connections (at most
/// `CONNECTIONS_PER_SHARD_MAX`) and the rest to segment files. `None` when
/// the limit is below [`needed`].
pub fn split(limit: u64, shards: usize) -> Option<DescriptorPlan> {
    let shards = shards.max(1);
    if limit < needed(shards) {
        return None;
    }
    // A limit beyond what an index can count is as good as unlimited.
    let usable =
        usize::try_from(limit).unwrap_or(usize::MAX / 2) - DESCRIPTORS_RESERVED_PER_PROCESS;
    let share = usable / shards - DESCRIPTORS_RESERVED_PER_SHARD;
    let connections = (share / 2).clamp(CONNECTIONS_PER_SHARD_MIN, CONNECTIONS_PER_SHARD_MAX);
    let segments = share - connections;
    debug_assert!(segments >= SEGMENT_DESCRIPTORS_PER_SHARD_MIN);
    Some(DescriptorPlan {
        limit_descriptors: limit,
        connections_per_shard: connections,
        segment_descriptors_per_shard: segments,
    })
}

/// (soft, hard) RLIMIT_NOFILE; infinity reads as u64::MAX.
pub fn read_limit() -> io::Result<(u64, u64)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let value = |raw: libc::rlim_t| {
        if raw == libc::RLIM_INFINITY {
            u64::MAX
        } else {
            raw
        }
    };
    Ok((value(limit.rlim_cur), value(limit.rlim_max)))
}

fn set_soft_limit(soft: u64) -> io::Result<()> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    limit.rlim_cur = if soft == u64::MAX {
        limit.rlim_max
    } else {
        soft
    };
    // SAFETY: setrlimit reads the struct we own; a soft limit up to the
    // hard one needs no privilege.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_low_limit_is_refused_and_the_parts_add_up() {
        assert_eq!(split(needed(2) - 1, 2), None);
        let plan = split(needed(2), 2).expect("exactly enough");
        assert_eq!(plan.connections_per_shard, CONNECTIONS_PER_SHARD_MIN);
        assert_eq!(
            plan.segment_descriptors_per_shard,
            SEGMENT_DESCRIPTORS_PER_SHARD_MIN
        );
        for limit in [needed(2), 4096, 20_000, 1 << 20] {
            let plan = split(limit, 2).unwrap();
            let used = DESCRIPTORS_RESERVED_PER_PROCESS
                + 2 * (DESCRIPTORS_RESERVED_PER_SHARD
                    + plan.connections_per_shard
                    + plan.segment_descriptors_per_shard);
            assert!(used as u64 <= limit, "{limit}: {used}");
            assert!(plan.connections_per_shard <= CONNECTIONS_PER_SHARD_MAX);
        }
        let large = split(1 << 20, 2).unwrap();
        assert_eq!(large.connections_per_shard, CONNECTIONS_PER_SHARD_MAX);
        assert_eq!(
            split(u64::MAX, 4).unwrap().connections_per_shard,
            CONNECTIONS_PER_SHARD_MAX
        );
    }
}
