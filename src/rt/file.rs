//! Segment files: aligned direct-IO writes at aligned positions through
//! io_uring, and reads through a second, buffered descriptor.
//!
//! Why buffered reads: glommio's direct reads always use io_uring's fixed
//! (registered) buffers, and registration is charged to the user's
//! RLIMIT_MEMLOCK, which a host may keep low and cannot always be raised;
//! when it fails, direct reads fail with EOPNOTSUPP while writes still work.
//! Buffered reads need no registration, go through io_uring without blocking
//! the reactor, and let the page cache (which the kernel keeps coherent with
//! direct writes) serve catch-up readers, as DESIGN.md plans for cold data.

use std::cell::OnceCell;
use std::io;
use std::os::unix::io::{AsRawFd, FromRawFd};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use glommio::io::{BufferedFile, DmaBuffer, DmaFile, OpenOptions};

/// An aligned buffer a [`DirectFile`] can write from.
pub struct AlignedBuffer(DmaBuffer);

impl AlignedBuffer {
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        self.0.as_bytes_mut()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

/// A range of a file, to be sent to a socket by the kernel (sendfile).
/// It holds the file open, so a segment deleted by retention meanwhile is
/// still sent whole.
#[derive(Debug, Clone)]
pub struct FileRegion {
    pub file: Arc<std::fs::File>,
    pub position: u64,
    pub length: u64,
}

/// A file opened with O_DIRECT. Cloning shares the descriptor.
#[derive(Clone)]
pub struct DirectFile {
    file: Rc<DmaFile>,
    reader: Rc<BufferedFile>,
    /// A duplicate of the buffered descriptor that another thread may use
    /// (sendfile runs on the blocking thread); made at the first cold read.
    shared_reader: Rc<OnceCell<Arc<std::fs::File>>>,
    path: Rc<PathBuf>,
}

impl DirectFile {
    /// Opens for reading and writing, creating the file when missing.
    pub async fn open(path: &Path) -> io::Result<DirectFile> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .dma_open(path)
            .await?;
        let reader = BufferedFile::open(path).await?;
        Ok(DirectFile {
            file: Rc::new(file),
            reader: Rc::new(reader),
            shared_reader: Rc::new(OnceCell::new()),
            path: Rc::new(path.to_path_buf()),
        })
    }

    /// A buffer of `size` bytes (a multiple of the alignment) whose bytes
    /// from `filled` on are zero; the caller writes the first `filled`
    /// (zeroing those too would cost a pass over every append).
    pub fn allocate(&self, size: usize, filled: usize) -> AlignedBuffer {
        let mut buffer = self.file.alloc_dma_buffer(size);
        buffer.as_bytes_mut()[filled.min(size)..].fill(0);
        AlignedBuffer(buffer)
    }

    /// Writes the whole buffer at `position`; a short write is an error.
    pub async fn write_at(&self, buffer: AlignedBuffer, position: u64) -> io::Result<()> {
        let fault = faults::take(faults::Operation::Write, &self.path);
        if let Some(
            fault @ (faults::Fault::NoSpace | faults::Fault::Io | faults::Fault::TornWrite { .. }),
        ) = fault
        {
            return self.fail_write(fault, buffer, position).await;
        }
        let expected = buffer.len();
        let buffer = Rc::new(buffer.0);
        let written = match fault {
            Some(faults::Fault::ShortWrite { blocks }) => {
                let length = (blocks * crate::limits::DIRECT_IO_ALIGNMENT_BYTES).min(expected);
                let mut part = self
                    .file
                    .alloc_dma_buffer(length.max(crate::limits::DIRECT_IO_ALIGNMENT_BYTES));
                part.as_bytes_mut()[..length].copy_from_slice(&buffer.as_bytes()[..length]);
                self.file.write_at(part, position).await?.min(length)
            }
            _ => self.file.write_rc_at(buffer.clone(), position).await?,
        };
        if written == expected {
            return Ok(());
        }
        // A short write (a filling disk writes what fits): writing the rest
        // either completes it or fails with the real cause, such as ENOSPC.
        let alignment = crate::limits::DIRECT_IO_ALIGNMENT_BYTES;
        if written > 0 && written % alignment == 0 {
            let mut rest = self.file.alloc_dma_buffer(expected - written);
            rest.as_bytes_mut()
                .copy_from_slice(&buffer.as_bytes()[written..]);
            let more = self.file.write_at(rest, position + written as u64).await?;
            if written + more == expected {
                return Ok(());
            }
        }
        Err(io::Error::new(
            io::ErrorKind::WriteZero,
            format!("short write: {written} of {expected} bytes at {position}"),
        ))
    }

    /// Reads up to `length` bytes at `position` (fewer at end of file).
    pub async fn read_at(&self, position: u64, length: usize) -> io::Result<Bytes> {
        if length == 0 {
            return Ok(Bytes::new());
        }
        let result = self.reader.read_at(position, length).await?;
        Ok(Bytes::copy_from_slice(&result))
    }

    /// `length` bytes at `position`, to be sent by the kernel.
    pub fn region(&self, position: u64, length: u64) -> io::Result<FileRegion> {
        let file = match self.shared_reader.get() {
            Some(file) => file.clone(),
            None => {
                // SAFETY: dup of a descriptor we hold open; the new one is
                // owned by the File made from it.
                let duplicate = unsafe { libc::dup(self.reader.as_raw_fd()) };
                if duplicate < 0 {
                    return Err(io::Error::last_os_error());
                }
                // SAFETY: `duplicate` is a fresh descriptor nobody else owns.
                let file = Arc::new(unsafe { std::fs::File::from_raw_fd(duplicate) });
                let _ = self.shared_reader.set(file.clone());
                file
            }
        };
        Ok(FileRegion {
            file,
            position,
            length,
        })
    }

    pub async fn sync(&self) -> io::Result<()> {
        if let Some(fault) = faults::take(faults::Operation::Sync, &self.path) {
            return Err(fault.error());
        }
        self.file.fdatasync().await.map_err(io::Error::from)
    }

    /// An injected write fault: a torn write puts the first blocks on disk
    /// before failing, as a crash or a failing device can.
    async fn fail_write(
        &self,
        fault: faults::Fault,
        buffer: AlignedBuffer,
        position: u64,
    ) -> io::Result<()> {
        if let faults::Fault::TornWrite { blocks } = fault {
            let alignment = crate::limits::DIRECT_IO_ALIGNMENT_BYTES;
            let length = (blocks * alignment).min(buffer.len());
            if length > 0 {
                let mut part = self.file.alloc_dma_buffer(length);
                part.as_bytes_mut()
                    .copy_from_slice(&buffer.0.as_bytes()[..length]);
                self.file.write_at(part, position).await?;
            }
        }
        Err(fault.error())
    }

    pub async fn truncate(&self, size: u64) -> io::Result<()> {
        self.file.truncate(size).await.map_err(io::Error::from)
    }

    pub async fn size(&self) -> io::Result<u64> {
        self.file.file_size().await.map_err(io::Error::from)
    }
}

/// Deterministic storage faults for tests: the next planned operations on
/// files whose path contains a given part fail as planned. The plan is per
/// thread, so it applies to the shard (or test executor) that set it.
pub mod faults {
    use std::cell::RefCell;
    use std::io;
    use std::path::Path;

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
    #[allow(dead_code)]
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

    pub(super) fn take(operation: Operation, path: &Path) -> Option<Fault> {
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
}
