//! The host checks: kernel, io_uring, process limits, and the CPU and
//! memory settings in /sys that make latency less predictable.
//!
//! Invariants: each function returns exactly one `Check` named after it
//! (see `NAMES`), never panics on a missing or odd /sys or /proc file
//! (missing means INFO or the kernel's default), and changes nothing but
//! this process's own RLIMIT_MEMLOCK.

use std::collections::BTreeMap;
use std::fs;
use std::io;

use super::{bytes, Check, Status};
use crate::limits::{CONNECTIONS_PER_SHARD_MAX, IO_MEMORY_PER_SHARD_BYTES, MEMLOCK_BYTES_MIN};
use crate::rt::{executor, os_limits};

/// The oldest kernel glommio (corelog's io_uring runtime) supports: io_uring
/// itself appeared in 5.1, but glommio uses operations added up to 5.8.
pub const KERNEL_VERSION_MIN: (u32, u32) = (5, 8);

/// The first kernel with io_uring at all.
const IO_URING_KERNEL_VERSION: (u32, u32) = (5, 1);

pub fn kernel() -> Check {
    let release = kernel_release();
    let (major, minor) = KERNEL_VERSION_MIN;
    match parse_kernel_version(&release) {
        Some(version) if version >= KERNEL_VERSION_MIN => Check::new(
            "kernel",
            Status::Pass,
            format!("Linux {release} (glommio needs {major}.{minor}+; io_uring itself 5.1+)"),
        ),
        Some(version) => {
            let why = if version < IO_URING_KERNEL_VERSION {
                "has no io_uring at all (5.1+)"
            } else {
                "has io_uring, but not the operations glommio uses"
            };
            Check::new("kernel", Status::Fail, format!("Linux {release} {why}"))
                .fix(format!("upgrade to Linux {major}.{minor} or newer"))
        }
        None => Check::new(
            "kernel",
            Status::Warn,
            format!("cannot read the kernel version from {release:?}"),
        )
        .fix(format!("make sure this is Linux {major}.{minor} or newer")),
    }
}

/// `uname -r`.
fn kernel_release() -> String {
    // SAFETY: uname fills the struct we own; its fields are NUL-terminated.
    let mut name: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut name) } != 0 {
        return String::new();
    }
    let release = unsafe { std::ffi::CStr::from_ptr(name.release.as_ptr()) };
    release.to_string_lossy().into_owned()
}

/// (major, minor) from a release such as `6.1.0-18-amd64` or `5.15.0`.
pub fn parse_kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

pub fn io_uring() -> Check {
    let path = "/proc/sys/kernel/io_uring_disabled";
    let setting = fs::read_to_string(path)
        .ok()
        .and_then(|text| text.trim().parse::<u32>().ok());
    let said = match setting {
        Some(value) => format!("kernel.io_uring_disabled = {value}"),
        None => "no kernel.io_uring_disabled: allowed".into(),
    };
    let error = match executor::probe_io_uring() {
        Ok(()) => return Check::new("io_uring", Status::Pass, format!("allowed ({said})")),
        Err(error) => error,
    };
    let fix = match (error.raw_os_error(), setting) {
        (Some(libc::ENOSYS), _) => "a kernel built with CONFIG_IO_URING (Linux 5.8+)",
        (Some(libc::ENOMEM), _) => "raise the locked-memory limit (see memlock)",
        (Some(libc::EPERM), Some(1)) => {
            "`sysctl kernel.io_uring_disabled=0`, or put the corelog user in the group \
             kernel.io_uring_group names"
        }
        (Some(libc::EPERM), Some(2)) => {
            "`sysctl kernel.io_uring_disabled=0` (and in /etc/sysctl.d/ to keep it)"
        }
        _ => {
            "allow io_uring_setup: a container runtime's seccomp profile may block it \
             (docker: --security-opt seccomp=unconfined or a profile that allows io_uring)"
        }
    };
    Check::new(
        "io_uring",
        Status::Fail,
        format!("cannot create a ring: {error} ({said})"),
    )
    .fix(fix)
}

pub fn memlock(shards: usize) -> Check {
    let wanted = executor::memlock_wanted_bytes(shards, IO_MEMORY_PER_SHARD_BYTES);
    let limit = match executor::raise_memlock_limit(wanted) {
        Ok(limit) => limit,
        Err(error) => {
            return Check::new(
                "memlock",
                Status::Fail,
                format!("cannot read RLIMIT_MEMLOCK: {error}"),
            )
        }
    };
    let found = format!(
        "RLIMIT_MEMLOCK {} (raised as far as allowed); {shards} shards lock {}, rings alone need {}",
        bytes(limit),
        bytes(wanted),
        bytes(MEMLOCK_BYTES_MIN)
    );
    let fix = "`LimitMEMLOCK=infinity` in the systemd unit, `ulimit -l unlimited` in the shell, \
               or a `memlock` line in /etc/security/limits.conf";
    if limit < MEMLOCK_BYTES_MIN {
        Check::new("memlock", Status::Fail, found).fix(fix)
    } else if limit < wanted {
        Check::new(
            "memlock",
            Status::Warn,
            format!("{found}: IO buffers will not be registered (slower)"),
        )
        .fix(fix)
    } else {
        Check::new("memlock", Status::Pass, found)
    }
}

pub fn nofile(shards: usize) -> Check {
    let (soft, hard) = match os_limits::read_limit() {
        Ok(limits) => limits,
        Err(error) => {
            return Check::new(
                "nofile",
                Status::Fail,
                format!("cannot read RLIMIT_NOFILE: {error}"),
            )
        }
    };
    // serve raises the soft limit to the hard one (budget_open_files); an
    // unlimited hard limit cannot be set as the soft one, so the soft stays.
    let limit = if hard == u64::MAX { soft } else { hard };
    let fix = "`LimitNOFILE=1048576` in the systemd unit, or `ulimit -n 1048576` \
               (the hard limit may need root or a `nofile` line in /etc/security/limits.conf)";
    let Some(plan) = os_limits::split(limit, shards) else {
        return Check::new(
            "nofile",
            Status::Fail,
            format!(
                "RLIMIT_NOFILE {limit} (soft {soft}, hard {hard}): {shards} shards need at least {}",
                os_limits::needed(shards)
            ),
        )
        .fix(format!("{fix}, or fewer shards (--cores)"));
    };
    let found = format!(
        "RLIMIT_NOFILE {limit} (soft {soft}, hard {hard}): per shard {} connections, {} segment files",
        plan.connections_per_shard, plan.segment_descriptors_per_shard
    );
    if plan.connections_per_shard < CONNECTIONS_PER_SHARD_MAX {
        Check::new(
            "nofile",
            Status::Warn,
            format!("{found} (connections below the {CONNECTIONS_PER_SHARD_MAX} maximum)"),
        )
        .fix(fix)
    } else {
        Check::new("nofile", Status::Pass, found)
    }
}

pub fn governor() -> Check {
    let mut governors: BTreeMap<String, usize> = BTreeMap::new();
    for cpu in numbered_entries("/sys/devices/system/cpu", "cpu") {
        let path = format!("/sys/devices/system/cpu/{cpu}/cpufreq/scaling_governor");
        if let Some(governor) = fs::read_to_string(path)
            .ok()
            .and_then(|text| parse_governor(&text).map(str::to_owned))
        {
            *governors.entry(governor).or_default() += 1;
        }
    }
    governor_check(&governors)
}

/// The governor named in a `scaling_governor` file.
pub fn parse_governor(text: &str) -> Option<&str> {
    Some(text.trim()).filter(|name| !name.is_empty())
}

/// Judges the governors in use (name → CPUs using it).
pub fn governor_check(governors: &BTreeMap<String, usize>) -> Check {
    let list = governors
        .iter()
        .map(|(name, cpus)| format!("{name} on {cpus} CPUs"))
        .collect::<Vec<_>>()
        .join(", ");
    if governors.is_empty() {
        Check::new(
            "governor",
            Status::Info,
            "no cpufreq scaling_governor (a virtual machine, or no cpufreq driver): skipped",
        )
    } else if governors.keys().all(|name| name == "performance") {
        Check::new("governor", Status::Pass, list)
    } else {
        Check::new(
            "governor",
            Status::Warn,
            format!("{list}: clock ramps add latency to a polling shard"),
        )
        .fix("`cpupower frequency-set -g performance` (or write performance to each scaling_governor)")
    }
}

pub fn transparent_huge_pages() -> Check {
    let path = "/sys/kernel/mm/transparent_hugepage/enabled";
    let Ok(text) = fs::read_to_string(path) else {
        return Check::new("thp", Status::Info, format!("no {path}: skipped"));
    };
    thp_check(parse_bracketed(&text))
}

/// The selected word of a /sys choice file: `always [madvise] never`.
pub fn parse_bracketed(text: &str) -> Option<&str> {
    let start = text.find('[')? + 1;
    let length = text[start..].find(']')?;
    Some(&text[start..start + length])
}

pub fn thp_check(selected: Option<&str>) -> Check {
    match selected {
        Some(mode @ ("never" | "madvise")) => Check::new(
            "thp",
            Status::Pass,
            format!("transparent huge pages: {mode}"),
        ),
        Some("always") => Check::new(
            "thp",
            Status::Warn,
            "transparent huge pages: always (compaction stalls and memory bloat)",
        )
        .fix(
            "`echo madvise > /sys/kernel/mm/transparent_hugepage/enabled` \
             (or transparent_hugepage=madvise on the kernel command line)",
        ),
        other => Check::new(
            "thp",
            Status::Info,
            format!("transparent huge pages: unrecognized setting {other:?}"),
        ),
    }
}

pub fn numa() -> Check {
    let nodes = numbered_entries("/sys/devices/system/node", "node").len();
    match nodes {
        0 => Check::new("numa", Status::Info, "no /sys/devices/system/node: skipped"),
        1 => Check::new("numa", Status::Pass, "one NUMA node"),
        _ => {
            let cpus = fs::read_to_string("/sys/devices/system/node/node0/cpulist")
                .map(|text| text.trim().to_owned())
                .unwrap_or_else(|_| "?".into());
            Check::new(
                "numa",
                Status::Warn,
                format!("{nodes} NUMA nodes: shards on different nodes reach each other's memory remotely"),
            )
            .fix(format!(
                "keep shards on one node: shard i is pinned to CPU i, so use --cores no more than \
                 node0's CPUs ({cpus}), or run one broker per node under `numactl --cpunodebind --membind`"
            ))
        }
    }
}

/// Entries of `directory` named `prefix` followed by digits (`cpu12`, `node1`).
fn numbered_entries(directory: &str, prefix: &str) -> Vec<String> {
    let read = || -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(directory)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if is_numbered(&name, prefix) {
                names.push(name);
            }
        }
        Ok(names)
    };
    read().unwrap_or_default()
}

pub fn is_numbered(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix)
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|byte| byte.is_ascii_digit()))
}
