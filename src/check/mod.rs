//! `corelog check`: whether this host can run corelog well, one line per
//! check (PASS, WARN, FAIL or INFO) with the fix for anything not PASS.
//!
//! The host checks (`host.rs`) read the kernel, the process limits and
//! `/sys`; the data-dir checks (`data_dir.rs`) look at the filesystem that
//! will hold the partitions and write one direct-IO block to it. The limits
//! are judged by the same functions `serve` uses at start
//! (`rt::executor`, `rt::os_limits`), so the check and the broker agree.
//!
//! Invariants: every name in [`NAMES`] is reported exactly once, in that
//! order, whatever fails; only a FAIL makes the exit status non-zero; the
//! check leaves nothing behind but the data directory itself (created as
//! `serve` would create it).

mod data_dir;
mod host;

use std::fmt;
use std::path::Path;

/// Every check, in the order they are reported.
pub const NAMES: [&str; 10] = [
    "kernel",
    "io_uring",
    "memlock",
    "nofile",
    "governor",
    "filesystem",
    "o_direct",
    "free_space",
    "thp",
    "numa",
];

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Fine for production.
    Pass,
    /// Runs, but slower or less predictably than it could.
    Warn,
    /// corelog cannot run (or cannot keep its data safe) like this.
    Fail,
    /// Nothing to judge here (the host does not expose it).
    Info,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
            Status::Info => "INFO",
        })
    }
}

/// One check's outcome: what was found and, unless it passed, how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub found: String,
    pub fix: Option<String>,
}

impl Check {
    fn new(name: &'static str, status: Status, found: impl Into<String>) -> Check {
        Check {
            name,
            status,
            found: found.into(),
            fix: None,
        }
    }

    fn fix(mut self, fix: impl Into<String>) -> Check {
        self.fix = Some(fix.into());
        self
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}  {:<10}  {}", self.status, self.name, self.found)?;
        match &self.fix {
            Some(fix) => write!(f, ". Fix: {fix}"),
            None => Ok(()),
        }
    }
}

/// Runs every check for a broker with `shards` shards keeping its data in
/// `data_dir` (created if missing, as `serve` does). Raises this process's
/// RLIMIT_MEMLOCK and reads RLIMIT_NOFILE the way `serve` would, so the
/// numbers are the ones the broker would get when started the same way.
pub fn run(data_dir: &Path, shards: usize) -> Vec<Check> {
    let shards = shards.max(1);
    let mut checks = vec![
        host::kernel(),
        host::io_uring(),
        host::memlock(shards),
        host::nofile(shards),
        host::governor(),
    ];
    checks.extend(data_dir::checks(data_dir));
    checks.push(host::transparent_huge_pages());
    checks.push(host::numa());
    debug_assert!(checks.iter().map(|check| check.name).eq(NAMES));
    checks
}

/// Whether any check failed (the exit status of `corelog check`).
pub fn failed(checks: &[Check]) -> bool {
    checks.iter().any(|check| check.status == Status::Fail)
}

/// The last line of the report: how many of each.
pub fn summary(checks: &[Check]) -> String {
    let count = |status| checks.iter().filter(|check| check.status == status).count();
    format!(
        "corelog check: {} PASS, {} WARN, {} FAIL, {} INFO",
        count(Status::Pass),
        count(Status::Warn),
        count(Status::Fail),
        count(Status::Info)
    )
}

/// Sizes in the unit an operator types into a limit: MiB or GiB.
fn bytes(amount: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if amount == u64::MAX {
        "unlimited".into()
    } else if amount >= 10 * 1024 * MIB {
        format!("{} GiB", amount / (1024 * MIB))
    } else if amount >= MIB {
        format!("{} MiB", amount / MIB)
    } else {
        format!("{} KiB", amount / 1024)
    }
}

#[cfg(test)]
mod tests;
