//! Deterministic storage faults for tests, through the file interface:
//! [`FaultyFile`] is a [`SegmentFile`] that wraps a [`DirectFile`] and makes
//! the next planned operations on files whose path contains a given part
//! fail as planned (a full disk, an IO error, a torn or short write, a
//! failing sync). A test opens its log over `FaultyFile` instead of the
//! broker's `DirectFile`; the broker's own files never consult a plan.
//!
//! The plan is per thread, so it applies to the shard (or test executor)
//! that set it.
//!
//! Invariants: a planned fault fires at most the number of times it was
//! planned, on the operation and files it names; every other operation
//! goes to the wrapped file unchanged.

use std::cell::RefCell;
use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::{AlignedBuffer, DirectFile, FileRegion, FileUse, OpenSegmentFile, SegmentFile};
use crate::limits::DIRECT_IO_ALIGNMENT_BYTES;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Write,
    Sync,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// ENOSPC: the disk is full.
    NoSpace,
    /// EIO: the device failed.
    Io,
    /// The first `blocks` aligned blocks reach the file, then EIO.
    TornWrite { blocks: usize },
    /// The device takes only the first `blocks` aligned blocks and says
    /// so (a short write, no error); the rest must be written again.
    ShortWrite { blocks: usize },
}

impl Fault {
    pub fn error(self) -> io::Error {
        match self {
            Fault::NoSpace => io::Error::from_raw_os_error(libc::ENOSPC),
            Fault::Io | Fault::TornWrite { .. } | Fault::ShortWrite { .. } => {
                io::Error::from_raw_os_error(libc::EIO)
            }
        }
    }
}

struct Planned {
    operation: Operation,
    path_part: String,
    fault: Fault,
    remaining: usize,
}

thread_local! {
    static PLAN: RefCell<Vec<Planned>> = const { RefCell::new(Vec::new()) };
}

/// The next `times` `operation`s on matching files fail with `fault`.
pub fn inject(operation: Operation, path_part: &str, fault: Fault, times: usize) {
    PLAN.with(|plan| {
        plan.borrow_mut().push(Planned {
            operation,
            path_part: path_part.to_string(),
            fault,
            remaining: times,
        })
    });
}

fn take(operation: Operation, path: &Path) -> Option<Fault> {
    PLAN.with(|plan| {
        let mut plan = plan.borrow_mut();
        if plan.is_empty() {
            return None;
        }
        let path = path.to_string_lossy();
        let found = plan.iter_mut().find(|planned| {
            planned.operation == operation
                && planned.remaining > 0
                && path.contains(&planned.path_part)
        })?;
        found.remaining -= 1;
        let fault = found.fault;
        plan.retain(|planned| planned.remaining > 0);
        Some(fault)
    })
}

/// A segment file whose writes and syncs fail as planned.
#[derive(Clone)]
pub struct FaultyFile {
    file: DirectFile,
}

/// A use of a [`FaultyFile`]: its writes fail as planned.
pub struct FaultyUse {
    inner: FileUse,
    path: PathBuf,
}

impl FaultyFile {
    fn faulty_use(&self, inner: FileUse) -> FaultyUse {
        FaultyUse {
            inner,
            path: self.file.path().to_path_buf(),
        }
    }
}

impl SegmentFile for FaultyFile {
    type Use = FaultyUse;

    fn new(path: &Path) -> FaultyFile {
        FaultyFile {
            file: DirectFile::new(path),
        }
    }

    fn path(&self) -> &Path {
        self.file.path()
    }

    fn allocate(&self, size: usize, filled: usize) -> AlignedBuffer {
        self.file.allocate(size, filled)
    }

    async fn reading(&self) -> io::Result<FaultyUse> {
        Ok(self.faulty_use(self.file.reading().await?))
    }

    async fn writing(&self) -> io::Result<FaultyUse> {
        Ok(self.faulty_use(self.file.writing().await?))
    }

    async fn read_at(&self, position: u64, length: usize) -> io::Result<Bytes> {
        self.file.read_at(position, length).await
    }

    async fn sync(&self) -> io::Result<()> {
        if let Some(fault) = take(Operation::Sync, self.file.path()) {
            return Err(fault.error());
        }
        self.file.sync().await
    }

    fn written(&self) -> bool {
        self.file.written()
    }

    fn set_read_only(&self) {
        self.file.set_read_only()
    }

    async fn release(&self) {
        self.file.release().await
    }
}

impl OpenSegmentFile for FaultyUse {
    async fn read_at(&self, position: u64, length: usize) -> io::Result<Bytes> {
        self.inner.read_at(position, length).await
    }

    async fn write_at(&self, buffer: AlignedBuffer, position: u64) -> io::Result<()> {
        match take(Operation::Write, &self.path) {
            None => self.inner.write_at(buffer, position).await,
            // Beneath the interface: the real file must finish the write.
            Some(Fault::ShortWrite { blocks }) => {
                self.inner
                    .write_at_cut_short(buffer, position, blocks)
                    .await
            }
            // A crash or a failing device puts the first blocks on disk.
            Some(fault @ Fault::TornWrite { blocks }) => {
                let length = (blocks * DIRECT_IO_ALIGNMENT_BYTES).min(buffer.len());
                if length > 0 {
                    let mut part = AlignedBuffer::new(length, length);
                    part.as_mut_slice()
                        .copy_from_slice(&buffer.as_slice()[..length]);
                    self.inner.write_at(part, position).await?;
                }
                Err(fault.error())
            }
            Some(fault) => Err(fault.error()),
        }
    }

    async fn truncate(&self, size: u64) -> io::Result<()> {
        self.inner.truncate(size).await
    }

    async fn size(&self) -> io::Result<u64> {
        self.inner.size().await
    }

    fn region(&self, position: u64, length: u64) -> io::Result<Option<FileRegion>> {
        self.inner.region(position, length)
    }
}
