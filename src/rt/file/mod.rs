//! Segment files: aligned direct-IO writes at aligned positions through
//! io_uring, reads through a second, buffered descriptor, and the shard's
//! budget of open descriptors that keeps any number of partitions within
//! the open-file limit.
//!
//! Why buffered reads: glommio's direct reads always use io_uring's fixed
//! (registered) buffers, and registration is charged to the user's
//! RLIMIT_MEMLOCK, which a host may keep low and cannot always be raised;
//! when it fails, direct reads fail with EOPNOTSUPP while writes still work.
//! Buffered reads need no registration, go through io_uring without blocking
//! the reactor, and let the page cache (which the kernel keeps coherent with
//! direct writes) serve catch-up readers, as DESIGN.md plans for cold data.
//!
//! Why a budget: a [`DirectFile`] is a handle that holds no descriptor until
//! it is used. Using it ([`DirectFile::reading`], [`DirectFile::writing`])
//! opens it (the buffered descriptor, and the O_DIRECT one for writing) and
//! gives a [`FileUse`] that keeps it open while held. Each shard counts the
//! descriptors its files hold; opening past the shard's share of the
//! open-file limit first closes the least recently used file that nothing
//! is using (syncing it first if it holds unsynced writes), and when every
//! open file is in use, waits for one to be given back. Files unused for
//! `SEGMENT_FILE_IDLE_MILLISECONDS` are closed too, so idle partitions hold
//! no descriptors.
//!
//! Invariants (per shard, on its core):
//! - descriptors open for segment files (both kinds, and the duplicates
//!   lent to sendfile until the last region using one is dropped) never
//!   exceed the shard's budget; a reservation is taken before a descriptor
//!   is opened and given back only after it is closed (or handed to
//!   glommio's close on drop, which the next IO cycle submits).
//! - a file is closed only when no [`FileUse`] holds it: never during a
//!   read, a write or a sync. A region lent to sendfile holds its own
//!   descriptor and stays valid after the file is closed.
//! - a file is closed only when everything written through it was synced,
//!   so a sync of a closed file has nothing to do.
//! - only one task opens a given file at a time.
//!
//! The interface: storage is written against the traits [`SegmentFile`]
//! (the handle) and [`OpenSegmentFile`] (a use of it), which [`DirectFile`]
//! and [`FileUse`] implement; a test swaps in `faults::FaultyFile`, which
//! wraps them and fails operations as planned. Static dispatch: the storage
//! log and its segments are generic over the file type (defaulting to
//! `DirectFile`), so the broker's files cost no indirect call per IO.
//!
//! Layout: this file holds the handle, its uses and the interface;
//! `handle.rs` one file's open/close state; `budget.rs` the shard's
//! descriptor budget and idle sweeper, which sees open files only through
//! its `BudgetedFile` trait (so `handle.rs` depends on `budget.rs`, never
//! the reverse); `faults.rs` the faulty file.

mod budget;
pub mod faults;
mod handle;

use std::cell::{Cell, OnceCell, RefCell};
use std::future::Future;
use std::io;
use std::os::unix::io::{AsRawFd, FromRawFd};
use std::path::Path;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use glommio::io::{BufferedFile, DmaBuffer, DmaFile, OpenOptions};

use self::budget::{budget, Reservation};
use self::handle::Handle;
use crate::limits::DIRECT_IO_ALIGNMENT_BYTES;
use crate::protocol::piece::Region;

pub use self::budget::{descriptors_open, set_descriptor_budget, set_idle_close};

/// A segment file as storage uses it: a handle that holds no descriptor
/// until it is used, and opens (and creates) the file when it is.
pub trait SegmentFile: Sized + 'static {
    /// The file kept open while this is held.
    type Use: OpenSegmentFile;

    /// A handle on `path`; nothing is opened yet.
    fn new(path: &Path) -> Self;

    fn path(&self) -> &Path;

    /// A buffer of `size` bytes (a multiple of the alignment) whose bytes
    /// from `filled` on are zero.
    fn allocate(&self, size: usize, filled: usize) -> AlignedBuffer;

    /// The file open for reading, kept open while the use is held.
    fn reading(&self) -> impl Future<Output = io::Result<Self::Use>>;

    /// The file open for writing too, created when missing.
    fn writing(&self) -> impl Future<Output = io::Result<Self::Use>>;

    /// Reads up to `length` bytes at `position` (fewer at end of file).
    fn read_at(&self, position: u64, length: usize) -> impl Future<Output = io::Result<Bytes>>;

    /// Makes everything written so far durable.
    fn sync(&self) -> impl Future<Output = io::Result<()>>;

    /// Whether anything was written (or truncated) through this handle.
    fn written(&self) -> bool;

    /// The file will not be written again (its segment is sealed).
    fn set_read_only(&self);

    /// Gives the file's descriptors back now unless something uses it.
    fn release(&self) -> impl Future<Output = ()>;
}

/// A segment file held open: what reads, writes and truncates it.
pub trait OpenSegmentFile {
    /// Reads up to `length` bytes at `position` (fewer at end of file).
    fn read_at(&self, position: u64, length: usize) -> impl Future<Output = io::Result<Bytes>>;

    /// Writes the whole buffer at `position` (an aligned position); a
    /// short write is an error.
    fn write_at(
        &self,
        buffer: AlignedBuffer,
        position: u64,
    ) -> impl Future<Output = io::Result<()>>;

    fn truncate(&self, size: u64) -> impl Future<Output = io::Result<()>>;

    fn size(&self) -> impl Future<Output = io::Result<u64>>;

    /// `length` bytes at `position`, to be sent by the kernel; `None` when
    /// there is no descriptor to spare (the caller reads the bytes).
    fn region(&self, position: u64, length: u64) -> io::Result<Option<FileRegion>>;
}

/// An aligned buffer a [`DirectFile`] can write from.
pub struct AlignedBuffer(DmaBuffer);

impl AlignedBuffer {
    /// A buffer of `size` bytes (a multiple of the alignment) whose bytes
    /// from `filled` on are zero; the caller writes the first `filled`
    /// (zeroing those too would cost a pass over every append).
    pub fn new(size: usize, filled: usize) -> AlignedBuffer {
        let mut buffer = glommio::allocate_dma_buffer(size);
        buffer.as_bytes_mut()[filled.min(size)..].fill(0);
        AlignedBuffer(buffer)
    }

    pub fn as_slice(&self) -> &[u8] {
        self.0.as_bytes()
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        self.0.as_bytes_mut()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.len() == 0
    }
}

/// A descriptor of a segment file that another thread may use (sendfile
/// runs on the shard's blocking threads). It counts in its shard's budget
/// until the last region holding it is dropped, wherever that happens.
#[derive(Debug)]
pub struct SharedDescriptor {
    file: std::fs::File,
    open: Arc<AtomicUsize>,
}

impl std::ops::Deref for SharedDescriptor {
    type Target = std::fs::File;

    fn deref(&self) -> &std::fs::File {
        &self.file
    }
}

impl Drop for SharedDescriptor {
    fn drop(&mut self) {
        // The descriptor itself closes right after this, on this thread.
        self.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A range of a file, to be sent to a socket by the kernel (sendfile).
/// It holds its descriptor open, so a segment deleted by retention or
/// closed by the descriptor budget meanwhile is still sent whole.
#[derive(Debug, Clone)]
pub struct FileRegion {
    pub file: Arc<SharedDescriptor>,
    pub position: u64,
    pub length: u64,
}

impl FileRegion {
    /// The region's bytes, read with a blocking pread: for tests and fakes
    /// (the broker sends regions with sendfile and never reads them).
    pub fn read_blocking(&self) -> io::Result<Vec<u8>> {
        let mut bytes = vec![0u8; self.length as usize];
        std::os::unix::fs::FileExt::read_exact_at(&**self.file, &mut bytes, self.position)?;
        Ok(bytes)
    }
}

impl Region for FileRegion {
    fn length(&self) -> u64 {
        self.length
    }
}

/// A segment file: a handle that opens its descriptors when used, within
/// the shard's budget. Cloning shares the handle.
#[derive(Clone)]
pub struct DirectFile {
    handle: Rc<Handle>,
}

impl SegmentFile for DirectFile {
    type Use = FileUse;

    /// A handle on `path`; nothing is opened yet. The file is created by
    /// its first [`SegmentFile::writing`] when missing.
    fn new(path: &Path) -> DirectFile {
        let budget = budget();
        DirectFile {
            handle: Rc::new_cyclic(|me| Handle {
                me: me.clone(),
                path: path.to_path_buf(),
                budget,
                open: RefCell::new(None),
                tick: Cell::new(None),
                last_used: Cell::new(Instant::now()),
                writable: Cell::new(true),
                opening: Cell::new(false),
                closing: Cell::new(false),
                writes_started: Cell::new(0),
                writes_done: Cell::new(0),
                synced: Cell::new(0),
                sync_failure_logged: Cell::new(false),
            }),
        }
    }

    fn path(&self) -> &Path {
        &self.handle.path
    }

    fn allocate(&self, size: usize, filled: usize) -> AlignedBuffer {
        AlignedBuffer::new(size, filled)
    }

    /// The file open for reading (the buffered descriptor), kept open
    /// while the returned use is held.
    async fn reading(&self) -> io::Result<FileUse> {
        self.handle.use_file(false).await
    }

    /// The file open for writing too (the O_DIRECT descriptor), created
    /// when missing, kept open while the returned use is held.
    async fn writing(&self) -> io::Result<FileUse> {
        self.handle.use_file(true).await
    }

    async fn read_at(&self, position: u64, length: usize) -> io::Result<Bytes> {
        if length == 0 {
            return Ok(Bytes::new());
        }
        self.reading().await?.read_at(position, length).await
    }

    /// A file with nothing written since its last sync (every closed file)
    /// needs no call.
    async fn sync(&self) -> io::Result<()> {
        if self.handle.is_clean() {
            return Ok(());
        }
        let file = self.writing().await?;
        // A sync covers the writes that completed before it started, not
        // one still in flight beside it.
        let target = self.handle.writes_done.get();
        file.open.fdatasync().await?;
        self.handle.note_synced(target);
        Ok(())
    }

    fn written(&self) -> bool {
        self.handle.writes_started.get() > 0
    }

    /// Later opens take only the buffered descriptor.
    fn set_read_only(&self) {
        self.handle.writable.set(false);
    }

    /// Closes the file now unless something uses it (after a sync when it
    /// holds unsynced writes): at recovery, so that opening many partitions
    /// leaves none of them holding descriptors.
    async fn release(&self) {
        self.handle.close_if_idle().await;
    }
}

/// A file kept open for as long as this is held: the budget never closes
/// a file during a read, a write or a sync.
pub struct FileUse {
    open: Rc<OpenFile>,
    handle: Rc<Handle>,
}

impl FileUse {
    fn direct(&self) -> io::Result<&DmaFile> {
        self.open.direct.get().ok_or_else(|| {
            io::Error::other(format!(
                "{} is open for reading only",
                self.handle.path.display()
            ))
        })
    }

    /// Like [`OpenSegmentFile::write_at`], but the device takes only the
    /// first `blocks` aligned blocks of the first write and says so (a
    /// short write, no error), as a filling disk can: the rest must be
    /// written again. For tests of that path (`faults::FaultyFile`).
    pub async fn write_at_cut_short(
        &self,
        buffer: AlignedBuffer,
        position: u64,
        blocks: usize,
    ) -> io::Result<()> {
        self.handle.note_write_started();
        let result = self.write_whole(buffer, position, Some(blocks)).await;
        self.handle.note_write_done();
        result
    }

    /// Writes all of `buffer`, the first write cut to `first_blocks` when
    /// given (a simulated short write).
    async fn write_whole(
        &self,
        buffer: AlignedBuffer,
        position: u64,
        first_blocks: Option<usize>,
    ) -> io::Result<()> {
        let file = self.direct()?;
        let expected = buffer.len();
        let buffer = Rc::new(buffer.0);
        let written = match first_blocks {
            Some(blocks) => {
                let length = (blocks * DIRECT_IO_ALIGNMENT_BYTES).min(expected);
                let mut part = file.alloc_dma_buffer(length.max(DIRECT_IO_ALIGNMENT_BYTES));
                part.as_bytes_mut()[..length].copy_from_slice(&buffer.as_bytes()[..length]);
                file.write_at(part, position).await?.min(length)
            }
            None => file.write_rc_at(buffer.clone(), position).await?,
        };
        if written == expected {
            return Ok(());
        }
        // A short write (a filling disk writes what fits): writing the rest
        // either completes it or fails with the real cause, such as ENOSPC.
        if written > 0 && written % DIRECT_IO_ALIGNMENT_BYTES == 0 {
            let mut rest = file.alloc_dma_buffer(expected - written);
            rest.as_bytes_mut()
                .copy_from_slice(&buffer.as_bytes()[written..]);
            let more = file.write_at(rest, position + written as u64).await?;
            if written + more == expected {
                return Ok(());
            }
        }
        Err(io::Error::new(
            io::ErrorKind::WriteZero,
            format!("short write: {written} of {expected} bytes at {position}"),
        ))
    }
}

impl OpenSegmentFile for FileUse {
    async fn read_at(&self, position: u64, length: usize) -> io::Result<Bytes> {
        if length == 0 {
            return Ok(Bytes::new());
        }
        let result = self.open.reader.read_at(position, length).await?;
        Ok(Bytes::copy_from_slice(&result))
    }

    async fn write_at(&self, buffer: AlignedBuffer, position: u64) -> io::Result<()> {
        // Counted even when it fails: a failed write may have changed the
        // file, and only a later sync makes it safe to close.
        self.handle.note_write_started();
        let result = self.write_whole(buffer, position, None).await;
        self.handle.note_write_done();
        result
    }

    async fn truncate(&self, size: u64) -> io::Result<()> {
        self.handle.note_write_started();
        let result = match self.direct() {
            Ok(file) => file.truncate(size).await.map_err(io::Error::from),
            Err(error) => Err(error),
        };
        self.handle.note_write_done();
        result
    }

    async fn size(&self) -> io::Result<u64> {
        self.open.reader.file_size().await.map_err(io::Error::from)
    }

    /// A duplicate of the buffered descriptor (made once per open file)
    /// holds the region's bytes; it counts in the budget until the last
    /// region holding it drops.
    fn region(&self, position: u64, length: u64) -> io::Result<Option<FileRegion>> {
        let file = match self.open.shared.get() {
            Some(file) => file.clone(),
            None => {
                let budget = &self.handle.budget;
                let Some(mut reservation) = budget.try_reserve(1) else {
                    return Ok(None);
                };
                // SAFETY: dup of a descriptor we hold open; the new one is
                // owned by the File made from it.
                let duplicate = unsafe { libc::dup(self.open.reader.as_raw_fd()) };
                if duplicate < 0 {
                    return Err(io::Error::last_os_error());
                }
                // The count now belongs to the descriptor, given back when
                // the last region holding it drops, on whatever thread.
                reservation.count = 0;
                drop(reservation);
                let file = Arc::new(SharedDescriptor {
                    // SAFETY: `duplicate` is a fresh descriptor nobody else owns.
                    file: unsafe { std::fs::File::from_raw_fd(duplicate) },
                    open: budget.open.clone(),
                });
                let _ = self.open.shared.set(file.clone());
                file
            }
        };
        Ok(Some(FileRegion {
            file,
            position,
            length,
        }))
    }
}

/// The descriptors of one open segment file.
struct OpenFile {
    reader: BufferedFile,
    /// Opened at the first write.
    direct: OnceCell<DmaFile>,
    /// A duplicate of the buffered descriptor for sendfile, made at the
    /// first cold read that has a descriptor to spare.
    shared: OnceCell<Arc<SharedDescriptor>>,
    reader_reservation: Reservation,
    direct_reservation: OnceCell<Reservation>,
}

impl OpenFile {
    async fn fdatasync(&self) -> io::Result<()> {
        match self.direct.get() {
            Some(direct) => direct.fdatasync().await,
            None => self.reader.fdatasync().await,
        }
        .map_err(io::Error::from)
    }

    /// Closes both descriptors and only then gives their count back. Close
    /// errors are ignored: the file was synced before (see `close_if_idle`)
    /// and nothing written depends on the close.
    async fn close(self) {
        let OpenFile {
            reader,
            direct,
            shared,
            reader_reservation,
            direct_reservation,
        } = self;
        // The duplicate closes with its last region.
        drop(shared);
        let _ = reader.close().await;
        if let Some(direct) = direct.into_inner() {
            let _ = direct.close().await;
        }
        drop(reader_reservation);
        drop(direct_reservation);
    }
}

async fn open_direct(path: &Path) -> io::Result<DmaFile> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .dma_open(path)
        .await
        .map_err(io::Error::from)
}
