//! The data-dir checks: which filesystem holds the partitions, whether it
//! takes direct IO (segments are written with O_DIRECT), and its free space.
//!
//! Invariants: the three checks are always reported, FAIL all three when
//! the data directory cannot be created or is not a directory; the O_DIRECT
//! probe file is removed whatever happens after it was created.

use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::{bytes, Check, Status};
use crate::limits::{DIRECT_IO_ALIGNMENT_BYTES, SEGMENT_BYTES_DEFAULT};

/// Filesystems by their statfs magic number (linux/magic.h).
const FILESYSTEMS: [(i64, &str); 9] = [
    (0x5846_5342, "xfs"),
    (0xEF53, "ext4"), // ext2 and ext3 share the magic; ext4 mounts them today
    (0x0102_1994, "tmpfs"),
    (0x794C_7630, "overlayfs"),
    (0x9123_683E, "btrfs"),
    (0x2FC1_2FC1, "zfs"),
    (0xF2F5_2010, "f2fs"),
    (0x6969, "nfs"),
    (0xFF53_4D42, "cifs"),
];

/// Below this share of the filesystem free, free_space warns.
const FREE_PERCENT_WARN: u64 = 10;

/// One block written with O_DIRECT: aligned in memory as direct IO requires.
#[repr(C, align(4096))]
struct AlignedBlock([u8; DIRECT_IO_ALIGNMENT_BYTES]);

const _: () = assert!(std::mem::align_of::<AlignedBlock>() == DIRECT_IO_ALIGNMENT_BYTES);

/// filesystem, o_direct and free_space, in that order.
pub fn checks(data_dir: &Path) -> Vec<Check> {
    let usable = match fs::metadata(data_dir) {
        Ok(found) if !found.is_dir() => Err(io::Error::other("it is not a directory")),
        _ => fs::create_dir_all(data_dir),
    };
    if let Err(error) = usable {
        let found = format!("cannot use {} as the data dir: {error}", data_dir.display());
        let fix = "point --data-dir at a directory the broker's user can create and write";
        return ["filesystem", "o_direct", "free_space"]
            .into_iter()
            .map(|name| Check::new(name, Status::Fail, found.clone()).fix(fix))
            .collect();
    }
    vec![
        filesystem(data_dir),
        direct_io(data_dir),
        free_space(data_dir),
    ]
}

fn statfs(path: &Path) -> io::Result<libc::statfs> {
    let path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: statfs writes into the struct we own; path is NUL-terminated.
    let mut result: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(path.as_ptr(), &mut result) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(result)
}

/// The name of a filesystem's statfs magic number.
pub fn filesystem_name(magic: i64) -> Option<&'static str> {
    FILESYSTEMS
        .iter()
        .find(|(known, _)| *known == magic)
        .map(|(_, name)| *name)
}

// statfs's field types differ between targets; the casts are not no-ops on all.
#[allow(clippy::unnecessary_cast)]
fn filesystem(data_dir: &Path) -> Check {
    let magic = match statfs(data_dir) {
        Ok(stat) => stat.f_type as i64,
        Err(error) => {
            return Check::new(
                "filesystem",
                Status::Fail,
                format!("statfs failed: {error}"),
            )
        }
    };
    filesystem_check(magic)
}

pub fn filesystem_check(magic: i64) -> Check {
    let fix = "put the data dir on a local xfs or ext4 filesystem";
    match filesystem_name(magic) {
        Some(name @ ("xfs" | "ext4")) => Check::new("filesystem", Status::Pass, name),
        Some(name @ ("tmpfs" | "overlayfs")) => Check::new(
            "filesystem",
            Status::Warn,
            format!("{name}: O_DIRECT is unsupported or meaningless there, and tmpfs loses data on reboot"),
        )
        .fix(fix),
        Some(name) => Check::new(
            "filesystem",
            Status::Info,
            format!("{name}: not tested with corelog (see o_direct)"),
        ),
        None => Check::new(
            "filesystem",
            Status::Info,
            format!("unknown filesystem (statfs type {magic:#x}): not tested with corelog (see o_direct)"),
        ),
    }
}

fn direct_io(data_dir: &Path) -> Check {
    let path = data_dir.join(format!(".corelog-check-{}", std::process::id()));
    let result = write_direct(&path);
    let _ = fs::remove_file(&path);
    match result {
        Ok(()) => Check::new(
            "o_direct",
            Status::Pass,
            format!("wrote and synced a {DIRECT_IO_ALIGNMENT_BYTES}-byte block with O_DIRECT"),
        ),
        Err(error) => Check::new(
            "o_direct",
            Status::Fail,
            format!("a {DIRECT_IO_ALIGNMENT_BYTES}-byte O_DIRECT write was refused: {error}"),
        )
        .fix("put the data dir on a local xfs or ext4 filesystem the broker's user can write"),
    }
}

/// What a segment write does: create with O_DIRECT, write an aligned
/// block, fsync.
fn write_direct(path: &Path) -> io::Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)?;
    let block = Box::new(AlignedBlock([0x5a; DIRECT_IO_ALIGNMENT_BYTES]));
    file.write_all(&block.0)?;
    file.sync_all()
}

// statfs's field types differ between targets; the casts are not no-ops on all.
#[allow(clippy::unnecessary_cast)]
fn free_space(data_dir: &Path) -> Check {
    match statfs(data_dir) {
        Ok(stat) => {
            let block = stat.f_frsize as u64;
            free_space_check(stat.f_bavail as u64 * block, stat.f_blocks as u64 * block)
        }
        Err(error) => Check::new(
            "free_space",
            Status::Fail,
            format!("statfs failed: {error}"),
        ),
    }
}

pub fn free_space_check(available: u64, total: u64) -> Check {
    let found = format!("{} free of {}", bytes(available), bytes(total));
    let fix = "free space, or retention.ms / retention.bytes on the largest topics";
    if available < SEGMENT_BYTES_DEFAULT {
        Check::new(
            "free_space",
            Status::Fail,
            format!(
                "{found}: less than one default segment ({})",
                bytes(SEGMENT_BYTES_DEFAULT)
            ),
        )
        .fix(fix)
    } else if available.saturating_mul(100) < total.saturating_mul(FREE_PERCENT_WARN) {
        Check::new(
            "free_space",
            Status::Warn,
            format!("{found}: under {FREE_PERCENT_WARN}%"),
        )
        .fix(fix)
    } else {
        Check::new("free_space", Status::Pass, found)
    }
}
