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

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::BTreeMap;
use std::io;
use std::os::unix::io::{AsRawFd, FromRawFd};
use std::path::{Path, PathBuf};
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use glommio::io::{BufferedFile, DmaBuffer, DmaFile, OpenOptions};

use super::sync::Signal;
use crate::limits::{
    DIRECT_IO_ALIGNMENT_BYTES, SEGMENT_DESCRIPTORS_PER_SHARD_DEFAULT,
    SEGMENT_DESCRIPTOR_WAIT_MILLISECONDS, SEGMENT_FILE_IDLE_CHECK_MILLISECONDS,
    SEGMENT_FILE_IDLE_MILLISECONDS,
};

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

/// A segment file: a handle that opens its descriptors when used, within
/// the shard's budget. Cloning shares the handle.
#[derive(Clone)]
pub struct DirectFile {
    handle: Rc<Handle>,
}

impl DirectFile {
    /// A handle on `path`; nothing is opened yet. The file is created by
    /// its first [`DirectFile::writing`] when missing.
    pub fn new(path: &Path) -> DirectFile {
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

    pub fn path(&self) -> &Path {
        &self.handle.path
    }

    /// A buffer of `size` bytes (a multiple of the alignment) whose bytes
    /// from `filled` on are zero; the caller writes the first `filled`
    /// (zeroing those too would cost a pass over every append).
    pub fn allocate(&self, size: usize, filled: usize) -> AlignedBuffer {
        let mut buffer = glommio::allocate_dma_buffer(size);
        buffer.as_bytes_mut()[filled.min(size)..].fill(0);
        AlignedBuffer(buffer)
    }

    /// The file open for reading (the buffered descriptor), kept open
    /// while the returned use is held.
    pub async fn reading(&self) -> io::Result<FileUse> {
        self.handle.use_file(false).await
    }

    /// The file open for writing too (the O_DIRECT descriptor), created
    /// when missing, kept open while the returned use is held.
    pub async fn writing(&self) -> io::Result<FileUse> {
        self.handle.use_file(true).await
    }

    /// Reads up to `length` bytes at `position` (fewer at end of file).
    pub async fn read_at(&self, position: u64, length: usize) -> io::Result<Bytes> {
        if length == 0 {
            return Ok(Bytes::new());
        }
        self.reading().await?.read_at(position, length).await
    }

    /// Makes everything written so far durable. A file with nothing
    /// written since its last sync (every closed file) needs no call.
    pub async fn sync(&self) -> io::Result<()> {
        if let Some(fault) = faults::take(faults::Operation::Sync, &self.handle.path) {
            return Err(fault.error());
        }
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

    /// Whether anything was written (or truncated) through this handle.
    pub fn written(&self) -> bool {
        self.handle.writes_started.get() > 0
    }

    /// The file will not be written again (its segment is sealed): later
    /// opens take only the buffered descriptor.
    pub fn set_read_only(&self) {
        self.handle.writable.set(false);
    }

    /// Closes the file now unless something uses it (after a sync when it
    /// holds unsynced writes): at recovery, so that opening many partitions
    /// leaves none of them holding descriptors.
    pub async fn release(&self) {
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

    /// Reads up to `length` bytes at `position` (fewer at end of file).
    pub async fn read_at(&self, position: u64, length: usize) -> io::Result<Bytes> {
        if length == 0 {
            return Ok(Bytes::new());
        }
        let result = self.open.reader.read_at(position, length).await?;
        Ok(Bytes::copy_from_slice(&result))
    }

    /// Writes the whole buffer at `position`; a short write is an error.
    pub async fn write_at(&self, buffer: AlignedBuffer, position: u64) -> io::Result<()> {
        // Counted even when it fails: a failed write may have changed the
        // file, and only a later sync makes it safe to close.
        self.handle.note_write_started();
        let result = self.write_whole(buffer, position).await;
        self.handle.note_write_done();
        result
    }

    async fn write_whole(&self, buffer: AlignedBuffer, position: u64) -> io::Result<()> {
        let file = self.direct()?;
        let fault = faults::take(faults::Operation::Write, &self.handle.path);
        if let Some(
            fault @ (faults::Fault::NoSpace | faults::Fault::Io | faults::Fault::TornWrite { .. }),
        ) = fault
        {
            return fail_write(file, fault, buffer, position).await;
        }
        let expected = buffer.len();
        let buffer = Rc::new(buffer.0);
        let written = match fault {
            Some(faults::Fault::ShortWrite { blocks }) => {
                let length = (blocks * DIRECT_IO_ALIGNMENT_BYTES).min(expected);
                let mut part = file.alloc_dma_buffer(length.max(DIRECT_IO_ALIGNMENT_BYTES));
                part.as_bytes_mut()[..length].copy_from_slice(&buffer.as_bytes()[..length]);
                file.write_at(part, position).await?.min(length)
            }
            _ => file.write_rc_at(buffer.clone(), position).await?,
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

    pub async fn truncate(&self, size: u64) -> io::Result<()> {
        self.handle.note_write_started();
        let result = match self.direct() {
            Ok(file) => file.truncate(size).await.map_err(io::Error::from),
            Err(error) => Err(error),
        };
        self.handle.note_write_done();
        result
    }

    pub async fn size(&self) -> io::Result<u64> {
        self.open.reader.file_size().await.map_err(io::Error::from)
    }

    /// `length` bytes at `position`, to be sent by the kernel; `None` when
    /// the shard's budget has no descriptor to spare for sendfile (the
    /// caller then reads the bytes instead).
    pub fn region(&self, position: u64, length: u64) -> io::Result<Option<FileRegion>> {
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

/// An injected write fault: a torn write puts the first blocks on disk
/// before failing, as a crash or a failing device can.
async fn fail_write(
    file: &DmaFile,
    fault: faults::Fault,
    buffer: AlignedBuffer,
    position: u64,
) -> io::Result<()> {
    if let faults::Fault::TornWrite { blocks } = fault {
        let length = (blocks * DIRECT_IO_ALIGNMENT_BYTES).min(buffer.len());
        if length > 0 {
            let mut part = file.alloc_dma_buffer(length);
            part.as_bytes_mut()
                .copy_from_slice(&buffer.0.as_bytes()[..length]);
            file.write_at(part, position).await?;
        }
    }
    Err(fault.error())
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

/// One segment file as the budget sees it.
struct Handle {
    me: Weak<Handle>,
    path: PathBuf,
    budget: Rc<Budget>,
    open: RefCell<Option<Rc<OpenFile>>>,
    /// Its key in the budget's recency order while open.
    tick: Cell<Option<u64>>,
    last_used: Cell<Instant>,
    /// Not sealed: a missing file is created, and reading opens enough to
    /// find out.
    writable: Cell<bool>,
    /// A task is opening it (others wait for that instead of opening too).
    opening: Cell<bool>,
    /// The budget is syncing it before a close.
    closing: Cell<bool>,
    /// Writes (and truncations) started and completed, and how many of
    /// them the last successful sync covered (it covers only writes that
    /// completed before it began). Writes of one file run one at a time.
    writes_started: Cell<u64>,
    writes_done: Cell<u64>,
    synced: Cell<u64>,
    sync_failure_logged: Cell<bool>,
}

impl Handle {
    fn note_write_started(&self) {
        self.writes_started.set(self.writes_started.get() + 1);
    }

    fn note_write_done(&self) {
        self.writes_done.set(self.writes_done.get() + 1);
    }

    /// Nothing written (or being written) since the last sync.
    fn is_clean(&self) -> bool {
        self.writes_started.get() == self.synced.get()
    }

    fn note_synced(&self, covered: u64) {
        if covered > self.synced.get() {
            self.synced.set(covered);
        }
    }

    fn is_idle(&self) -> bool {
        !self.closing.get()
            && self
                .open
                .borrow()
                .as_ref()
                .is_some_and(|open| Rc::strong_count(open) == 1)
    }

    /// Moves the file to the most recently used end.
    fn touch(&self) {
        let tick = self.budget.clock.get() + 1;
        self.budget.clock.set(tick);
        let mut recency = self.budget.recency.borrow_mut();
        if let Some(old) = self.tick.replace(Some(tick)) {
            recency.remove(&old);
        }
        recency.insert(tick, self.me.clone());
        self.last_used.set(Instant::now());
    }

    fn forget_recency(&self) {
        if let Some(old) = self.tick.take() {
            if let Ok(mut recency) = self.budget.recency.try_borrow_mut() {
                recency.remove(&old);
            }
        }
    }

    async fn wait_for_opener(&self) {
        let seen = self.budget.released.generation();
        if self.opening.get() {
            self.budget
                .released
                .wait_past(
                    seen,
                    Duration::from_millis(SEGMENT_DESCRIPTOR_WAIT_MILLISECONDS),
                )
                .await;
        }
    }

    async fn use_file(self: &Rc<Self>, mut write: bool) -> io::Result<FileUse> {
        loop {
            let current = self.open.borrow().clone();
            match current {
                Some(open) if !write || open.direct.get().is_some() => {
                    self.touch();
                    return Ok(FileUse {
                        open,
                        handle: self.clone(),
                    });
                }
                Some(open) => {
                    // Open for reading only: add the O_DIRECT descriptor.
                    // Nothing is held while waiting for the budget (which
                    // may close this very file meanwhile).
                    drop(open);
                    if self.opening.replace(true) {
                        self.wait_for_opener().await;
                        continue;
                    }
                    let reservation = self.budget.reserve(1).await;
                    let current = self.open.borrow().clone();
                    let added = match current {
                        Some(open) if open.direct.get().is_none() => {
                            match open_direct(&self.path).await {
                                Ok(direct) => {
                                    let _ = open.direct.set(direct);
                                    let _ = open.direct_reservation.set(reservation);
                                    Ok(Some(open))
                                }
                                Err(error) => Err(error),
                            }
                        }
                        // Closed or completed meanwhile: start over.
                        _ => Ok(None),
                    };
                    self.opening.set(false);
                    self.budget.released.notify_all();
                    if let Some(open) = added? {
                        self.touch();
                        return Ok(FileUse {
                            open,
                            handle: self.clone(),
                        });
                    }
                }
                None => {
                    if self.opening.replace(true) {
                        self.wait_for_opener().await;
                        continue;
                    }
                    let opened = self.open_now(write).await;
                    self.opening.set(false);
                    self.budget.released.notify_all();
                    let open = match opened {
                        Ok(open) => Rc::new(open),
                        // A segment not written yet: create it.
                        Err(error)
                            if !write
                                && error.kind() == io::ErrorKind::NotFound
                                && self.writable.get() =>
                        {
                            write = true;
                            continue;
                        }
                        Err(error) => return Err(error),
                    };
                    *self.open.borrow_mut() = Some(open.clone());
                    self.touch();
                    return Ok(FileUse {
                        open,
                        handle: self.clone(),
                    });
                }
            }
        }
    }

    async fn open_now(&self, write: bool) -> io::Result<OpenFile> {
        if write {
            let mut reservation = self.budget.reserve(2).await;
            let direct = open_direct(&self.path).await?;
            let reader = BufferedFile::open(&self.path).await?;
            let direct_reservation = reservation.split_one();
            Ok(OpenFile {
                reader,
                direct: OnceCell::from(direct),
                shared: OnceCell::new(),
                reader_reservation: reservation,
                direct_reservation: OnceCell::from(direct_reservation),
            })
        } else {
            let reservation = self.budget.reserve(1).await;
            let reader = BufferedFile::open(&self.path).await?;
            Ok(OpenFile {
                reader,
                direct: OnceCell::new(),
                shared: OnceCell::new(),
                reader_reservation: reservation,
                direct_reservation: OnceCell::new(),
            })
        }
    }

    /// Closes the file if nothing uses it, syncing it first when it holds
    /// unsynced writes. True when it was closed.
    async fn close_if_idle(self: &Rc<Self>) -> bool {
        if !self.is_idle() {
            return false;
        }
        let Some(open) = self.open.borrow().clone() else {
            return false;
        };
        if !self.is_clean() {
            let target = self.writes_done.get();
            self.closing.set(true);
            let synced = open.fdatasync().await;
            self.closing.set(false);
            match synced {
                Ok(()) => self.note_synced(target),
                Err(error) => {
                    if !self.sync_failure_logged.replace(true) {
                        eprintln!(
                            "corelog: {}: sync before closing failed ({error}); the file stays open (logged once)",
                            self.path.display()
                        );
                    }
                    // Let the next look for a file to close try another.
                    self.touch();
                    return false;
                }
            }
        }
        // Used or written again while it was syncing: keep it.
        if Rc::strong_count(&open) > 2 || !self.is_clean() {
            return false;
        }
        let in_slot = self.open.borrow_mut().take();
        drop(in_slot);
        self.forget_recency();
        if let Ok(open) = Rc::try_unwrap(open) {
            open.close().await;
        }
        true
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // The open file (if any) drops with the handle: glommio closes its
        // descriptors in the next IO cycle, and the count is given back.
        self.forget_recency();
    }
}

/// Descriptors counted in a shard's budget, given back on drop.
struct Reservation {
    budget: Rc<Budget>,
    count: usize,
}

impl Reservation {
    fn split_one(&mut self) -> Reservation {
        assert!(
            self.count >= 2,
            "a reservation splits only when it holds two"
        );
        self.count -= 1;
        Reservation {
            budget: self.budget.clone(),
            count: 1,
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.open.fetch_sub(self.count, Ordering::AcqRel);
        self.budget.released.notify_all();
    }
}

/// One shard's budget of segment-file descriptors and its open files in
/// order of last use.
struct Budget {
    capacity: Cell<usize>,
    /// Descriptors open now; atomic because a duplicate lent to sendfile
    /// may be closed on a blocking thread.
    open: Arc<AtomicUsize>,
    recency: RefCell<BTreeMap<u64, Weak<Handle>>>,
    clock: Cell<u64>,
    /// Fired when descriptors are given back or an open completes.
    released: Signal,
    sweeper_started: Cell<bool>,
    /// How long a file stays open unused, and how often that is checked.
    idle_close_after: Cell<Duration>,
    idle_check_every: Cell<Duration>,
}

thread_local! {
    /// Each shard is one thread, so its budget is this thread's.
    static BUDGET: RefCell<Option<Rc<Budget>>> = const { RefCell::new(None) };
}

fn budget() -> Rc<Budget> {
    BUDGET.with(|slot| {
        slot.borrow_mut()
            .get_or_insert_with(|| {
                let capacity = super::os_limits::plan()
                    .map_or(SEGMENT_DESCRIPTORS_PER_SHARD_DEFAULT, |plan| {
                        plan.segment_descriptors_per_shard
                    });
                Rc::new(Budget {
                    capacity: Cell::new(capacity),
                    open: Arc::new(AtomicUsize::new(0)),
                    recency: RefCell::new(BTreeMap::new()),
                    clock: Cell::new(0),
                    released: Signal::default(),
                    sweeper_started: Cell::new(false),
                    idle_close_after: Cell::new(Duration::from_millis(
                        SEGMENT_FILE_IDLE_MILLISECONDS,
                    )),
                    idle_check_every: Cell::new(Duration::from_millis(
                        SEGMENT_FILE_IDLE_CHECK_MILLISECONDS,
                    )),
                })
            })
            .clone()
    })
}

/// Sets this shard's budget of segment-file descriptors (at least 2): for
/// tests, before files are opened.
pub fn set_descriptor_budget(descriptors: usize) {
    budget().capacity.set(descriptors.max(2));
}

/// Sets how long this shard's files stay open unused, and how often that
/// is checked: for tests, before files are opened.
pub fn set_idle_close(after: Duration, check_every: Duration) {
    let budget = budget();
    budget.idle_close_after.set(after);
    budget.idle_check_every.set(check_every);
}

/// Descriptors this shard's segment files hold open now.
pub fn descriptors_open() -> usize {
    budget().open.load(Ordering::Acquire)
}

impl Budget {
    fn try_reserve(self: &Rc<Self>, count: usize) -> Option<Reservation> {
        if self.open.load(Ordering::Acquire) + count > self.capacity.get() {
            return None;
        }
        // Only this shard's thread adds, so nothing can take the room
        // between the check and the add.
        self.open.fetch_add(count, Ordering::AcqRel);
        Some(Reservation {
            budget: self.clone(),
            count,
        })
    }

    /// Reserves `count` descriptors, closing least recently used idle
    /// files for room, or waiting for some to be given back.
    async fn reserve(self: &Rc<Self>, count: usize) -> Reservation {
        if !self.sweeper_started.replace(true) {
            super::spawn_detached(close_idle_files(Rc::downgrade(self)));
        }
        loop {
            if let Some(reservation) = self.try_reserve(count) {
                return reservation;
            }
            let seen = self.released.generation();
            if let Some(victim) = self.least_recent_idle() {
                if victim.close_if_idle().await {
                    continue;
                }
            }
            if let Some(reservation) = self.try_reserve(count) {
                return reservation;
            }
            self.released
                .wait_past(
                    seen,
                    Duration::from_millis(SEGMENT_DESCRIPTOR_WAIT_MILLISECONDS),
                )
                .await;
        }
    }

    fn least_recent_idle(&self) -> Option<Rc<Handle>> {
        let mut stale = Vec::new();
        let mut found = None;
        for (&tick, weak) in self.recency.borrow().iter() {
            match weak.upgrade() {
                Some(handle) if handle.is_idle() => {
                    found = Some(handle);
                    break;
                }
                Some(_) => {}
                None => stale.push(tick),
            }
        }
        if !stale.is_empty() {
            let mut recency = self.recency.borrow_mut();
            for tick in stale {
                recency.remove(&tick);
            }
        }
        found
    }
}

/// Closes files unused for `SEGMENT_FILE_IDLE_MILLISECONDS`, so partitions
/// that went quiet give their descriptors back.
async fn close_idle_files(budget: Weak<Budget>) {
    loop {
        let Some(check_every) = budget.upgrade().map(|budget| budget.idle_check_every.get()) else {
            return;
        };
        super::sleep(check_every).await;
        let Some(budget) = budget.upgrade() else {
            return;
        };
        let Some(idle_since) = Instant::now().checked_sub(budget.idle_close_after.get()) else {
            continue;
        };
        let idle: Vec<Rc<Handle>> = budget
            .recency
            .borrow()
            .values()
            .filter_map(Weak::upgrade)
            .take_while(|handle| handle.last_used.get() <= idle_since)
            .collect();
        for handle in idle {
            handle.close_if_idle().await;
        }
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
