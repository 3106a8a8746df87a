//! One segment file as the shard's descriptor budget sees it: whether it
//! is open, who is using it, when it was last used, and whether everything
//! written through it was synced. [`Handle::use_file`] opens it within the
//! budget; [`Handle::close_if_idle`] closes it when nothing uses it.
//!
//! Invariants: see `file/mod.rs` (a file is closed only when no use holds
//! it and everything written was synced; one task opens a file at a time).

use std::cell::{Cell, OnceCell, RefCell};
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use glommio::io::BufferedFile;

use super::budget::{Budget, BudgetedFile};
use super::{open_direct, FileUse, OpenFile};
use crate::limits::SEGMENT_DESCRIPTOR_WAIT_MILLISECONDS;

/// One segment file as the budget sees it.
pub(super) struct Handle {
    pub(super) me: Weak<Handle>,
    pub(super) path: PathBuf,
    pub(super) budget: Rc<Budget>,
    pub(super) open: RefCell<Option<Rc<OpenFile>>>,
    /// Its key in the budget's recency order while open.
    pub(super) tick: Cell<Option<u64>>,
    pub(super) last_used: Cell<Instant>,
    /// Not sealed: a missing file is created, and reading opens enough to
    /// find out.
    pub(super) writable: Cell<bool>,
    /// A task is opening it (others wait for that instead of opening too).
    pub(super) opening: Cell<bool>,
    /// The budget is syncing it before a close.
    pub(super) closing: Cell<bool>,
    /// Writes (and truncations) started and completed, and how many of
    /// them the last successful sync covered (it covers only writes that
    /// completed before it began). Writes of one file run one at a time.
    pub(super) writes_started: Cell<u64>,
    pub(super) writes_done: Cell<u64>,
    pub(super) synced: Cell<u64>,
    pub(super) sync_failure_logged: Cell<bool>,
}

impl Handle {
    pub(super) fn note_write_started(&self) {
        self.writes_started.set(self.writes_started.get() + 1);
    }

    pub(super) fn note_write_done(&self) {
        self.writes_done.set(self.writes_done.get() + 1);
    }

    /// Nothing written (or being written) since the last sync.
    pub(super) fn is_clean(&self) -> bool {
        self.writes_started.get() == self.synced.get()
    }

    pub(super) fn note_synced(&self, covered: u64) {
        if covered > self.synced.get() {
            self.synced.set(covered);
        }
    }

    pub(super) fn is_idle(&self) -> bool {
        !self.closing.get()
            && self
                .open
                .borrow()
                .as_ref()
                .is_some_and(|open| Rc::strong_count(open) == 1)
    }

    /// Moves the file to the most recently used end.
    pub(super) fn touch(&self) {
        let tick = self.budget.clock.get() + 1;
        self.budget.clock.set(tick);
        let mut recency = self.budget.recency.borrow_mut();
        if let Some(old) = self.tick.replace(Some(tick)) {
            recency.remove(&old);
        }
        recency.insert(tick, self.me.clone());
        self.last_used.set(Instant::now());
    }

    pub(super) fn forget_recency(&self) {
        if let Some(old) = self.tick.take() {
            if let Ok(mut recency) = self.budget.recency.try_borrow_mut() {
                recency.remove(&old);
            }
        }
    }

    pub(super) async fn wait_for_opener(&self) {
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

    pub(super) async fn use_file(self: &Rc<Self>, mut write: bool) -> io::Result<FileUse> {
        loop {
            let current = self.open.borrow().clone();
            let ready = match current {
                Some(open) if !write || open.direct.get().is_some() => Some(open),
                Some(open) => {
                    // Open for reading only: add the O_DIRECT descriptor.
                    // Nothing is held while waiting for the budget (which
                    // may close this very file meanwhile).
                    drop(open);
                    if self.opening.replace(true) {
                        self.wait_for_opener().await;
                        continue;
                    }
                    let added = self.add_direct().await;
                    self.opening.set(false);
                    self.budget.released.notify_all();
                    added?
                }
                None => {
                    if self.opening.replace(true) {
                        self.wait_for_opener().await;
                        continue;
                    }
                    let opened = self.open_now(write).await;
                    self.opening.set(false);
                    self.budget.released.notify_all();
                    match opened {
                        Ok(open) => {
                            let open = Rc::new(open);
                            *self.open.borrow_mut() = Some(open.clone());
                            Some(open)
                        }
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
                    }
                }
            };
            if let Some(open) = ready {
                self.touch();
                return Ok(FileUse {
                    open,
                    handle: self.clone(),
                });
            }
        }
    }

    /// Adds the O_DIRECT descriptor to the file open for reading; `None`
    /// when it was closed or completed meanwhile (the caller starts over).
    async fn add_direct(&self) -> io::Result<Option<Rc<OpenFile>>> {
        let reservation = self.budget.reserve(1).await;
        let current = self.open.borrow().clone();
        match current {
            Some(open) if open.direct.get().is_none() => {
                let direct = open_direct(&self.path).await?;
                let _ = open.direct.set(direct);
                let _ = open.direct_reservation.set(reservation);
                Ok(Some(open))
            }
            _ => Ok(None),
        }
    }

    pub(super) async fn open_now(&self, write: bool) -> io::Result<OpenFile> {
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
    pub(super) async fn close_if_idle(self: &Rc<Self>) -> bool {
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
                        tracing::error!(
                            "{}: sync before closing failed ({error}); the file stays open (logged once)",
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

impl BudgetedFile for Handle {
    fn idle(&self) -> bool {
        self.is_idle()
    }

    fn used_at(&self) -> Instant {
        self.last_used.get()
    }

    fn close_idle(self: Rc<Self>) -> Pin<Box<dyn Future<Output = bool>>> {
        Box::pin(async move { self.close_if_idle().await })
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // The open file (if any) drops with the handle: glommio closes its
        // descriptors in the next IO cycle, and the count is given back.
        self.forget_recency();
    }
}
