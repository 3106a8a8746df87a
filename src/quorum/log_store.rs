//! The quorum's Raft log on disk: `data-dir/__cluster_metadata/quorum.log`,
//! checksummed frames (`metadata/frame.rs`) each holding one event as
//! `[kind u8][JSON]`: an entry, the vote, the committed log id, a
//! truncation (entries from log id X's index on are gone) or a purge
//! (entries up to X are gone). Replay at open applies the events in order
//! to rebuild the entries (kept in memory: metadata is small, and snapshots
//! purge the log, see `limits::QUORUM_SNAPSHOT_EVERY_ENTRIES`).
//!
//! Invariants: an append, a vote and a truncation are synced before the
//! call returns or the flush callback fires (openraft counts a vote or an
//! entry as durable once acknowledged). The committed log id is written
//! without a sync of its own: losing it only means re-learning it from the
//! leader. A torn or damaged tail is cut at open, like the metadata log's.
//! After a purge the file is rewritten with only what is still live
//! (temporary file, sync, rename, directory sync), so it never holds more
//! than the live entries plus the events since the last purge.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{AnyError, ErrorSubject, ErrorVerb, OptionalSend, RaftLogReader, StorageIOError};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::types::{Entry, LogId, StorageError, TypeConfig, Vote};
use crate::limits::{
    QUORUM_FRAME_BYTES_MAX, QUORUM_LOG_ENTRIES_MAX, QUORUM_LOG_ENTRIES_WARNING_EVERY,
};
use crate::metadata::frame;

const ENTRY: u8 = 1;
const VOTE: u8 = 2;
const COMMITTED: u8 = 3;
const TRUNCATED: u8 = 4;
const PURGED: u8 = 5;

/// The quorum log. Clones share one log: the clone openraft reads
/// entries through for replication sees every append at once.
#[derive(Clone)]
pub struct LogStore {
    log: Rc<RefCell<Log>>,
}

struct Log {
    path: PathBuf,
    file: File,
    /// Live entries by index: after `last_purged`, contiguous.
    entries: BTreeMap<u64, Entry>,
    vote: Option<Vote>,
    committed: Option<LogId>,
    last_purged: Option<LogId>,
}

fn storage_error(subject: ErrorSubject<u64>, verb: ErrorVerb, error: io::Error) -> StorageError {
    StorageError::IO {
        source: StorageIOError::new(subject, verb, AnyError::new(&error)),
    }
}

fn event<T: Serialize>(kind: u8, value: &T) -> Vec<u8> {
    let mut payload = vec![kind];
    serde_json::to_writer(&mut payload, value).expect("openraft's types encode as JSON");
    payload
}

fn decoded<T: DeserializeOwned>(json: &[u8]) -> Option<T> {
    serde_json::from_slice(json).ok()
}

impl Log {
    /// Applies one replayed event; false when it does not decode.
    fn replay(&mut self, payload: &[u8]) -> bool {
        let Some((&kind, json)) = payload.split_first() else {
            return false;
        };
        match kind {
            ENTRY => match decoded::<Entry>(json) {
                Some(entry) => {
                    self.entries.insert(entry.log_id.index, entry);
                }
                None => return false,
            },
            VOTE => match decoded(json) {
                Some(vote) => self.vote = Some(vote),
                None => return false,
            },
            COMMITTED => match decoded(json) {
                Some(committed) => self.committed = committed,
                None => return false,
            },
            TRUNCATED => match decoded::<LogId>(json) {
                Some(log_id) => self.truncate(log_id),
                None => return false,
            },
            PURGED => match decoded::<LogId>(json) {
                Some(log_id) => self.purge(log_id),
                None => return false,
            },
            _ => return false,
        }
        true
    }

    fn truncate(&mut self, log_id: LogId) {
        self.entries.split_off(&log_id.index);
    }

    fn purge(&mut self, log_id: LogId) {
        self.entries = self.entries.split_off(&(log_id.index + 1));
        if self.last_purged < Some(log_id) {
            self.last_purged = Some(log_id);
        }
    }

    fn write_synced(&mut self, payloads: &[Vec<u8>]) -> io::Result<()> {
        let mut frames = Vec::new();
        for payload in payloads {
            // Replay would stop at a frame over the bound and cut the log
            // there, so such an event is refused before it is written.
            if payload.len() > QUORUM_FRAME_BYTES_MAX {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "a quorum log event of {} bytes is over {QUORUM_FRAME_BYTES_MAX}",
                        payload.len()
                    ),
                ));
            }
            frame::encode(&mut frames, payload);
        }
        frame::append_synced(&mut self.file, &frames)
    }

    /// Rewrites the file with only the live state, atomically.
    fn compact(&mut self) -> io::Result<()> {
        let mut frames = Vec::new();
        if let Some(last_purged) = &self.last_purged {
            frame::encode(&mut frames, &event(PURGED, last_purged));
        }
        if let Some(vote) = &self.vote {
            frame::encode(&mut frames, &event(VOTE, vote));
        }
        frame::encode(&mut frames, &event(COMMITTED, &self.committed));
        for entry in self.entries.values() {
            frame::encode(&mut frames, &event(ENTRY, entry));
        }
        frame::replace_atomically(&self.path, &frames)?;
        self.file = open_append(&self.path)?;
        Ok(())
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
}

impl LogStore {
    /// Opens (or creates) `data-dir/__cluster_metadata/quorum.log` and
    /// replays it.
    pub fn open(data_dir: &Path) -> io::Result<LogStore> {
        let directory = data_dir.join("__cluster_metadata");
        std::fs::create_dir_all(&directory)?;
        let path = directory.join("quorum.log");
        let file = open_append(&path)?;
        let mut log = Log {
            path,
            file,
            entries: BTreeMap::new(),
            vote: None,
            committed: None,
            last_purged: None,
        };
        let mut file = log.file.try_clone()?;
        let path = log.path.clone();
        frame::replay(&mut file, &path, QUORUM_FRAME_BYTES_MAX, |payload| {
            log.replay(payload)
        })?;
        Ok(LogStore {
            log: Rc::new(RefCell::new(log)),
        })
    }

    /// The log id of the last live entry, or of the last purged one.
    pub fn last_log_id(&self) -> Option<LogId> {
        let log = self.log.borrow();
        log.entries
            .values()
            .next_back()
            .map(|entry| entry.log_id)
            .or(log.last_purged)
    }

    /// How many entries the log holds in memory.
    pub fn entry_count(&self) -> usize {
        self.log.borrow().entries.len()
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<R: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: R,
    ) -> Result<Vec<Entry>, StorageError> {
        let start = range.start_bound().cloned();
        let end = range.end_bound().cloned();
        if let (Bound::Included(start), Bound::Excluded(end)) = (start, end) {
            if end <= start {
                return Ok(Vec::new());
            }
        }
        let log = self.log.borrow();
        Ok(log
            .entries
            .range((start, end))
            .map(|(_, entry)| entry.clone())
            .collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        Ok(LogState {
            last_purged_log_id: self.log.borrow().last_purged,
            last_log_id: self.last_log_id(),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let mut log = self.log.borrow_mut();
        log.write_synced(&[event(VOTE, vote)])
            .map_err(|error| storage_error(ErrorSubject::Vote, ErrorVerb::Write, error))?;
        log.vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        Ok(self.log.borrow().vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        let mut log = self.log.borrow_mut();
        let mut frames = Vec::new();
        frame::encode(&mut frames, &event(COMMITTED, &committed));
        // Not synced: see the module's invariants.
        std::io::Write::write_all(&mut log.file, &frames)
            .map_err(|error| storage_error(ErrorSubject::Store, ErrorVerb::Write, error))?;
        log.committed = committed;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.log.borrow().committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let payloads: Vec<Vec<u8>> = entries.iter().map(|entry| event(ENTRY, entry)).collect();
        let mut log = self.log.borrow_mut();
        let written = log.write_synced(&payloads);
        if let Err(error) = &written {
            let error = io::Error::new(error.kind(), error.to_string());
            return Err(storage_error(ErrorSubject::Logs, ErrorVerb::Write, error));
        }
        let before = log.entries.len();
        for entry in entries {
            log.entries.insert(entry.log_id.index, entry);
        }
        let after = log.entries.len();
        if after > QUORUM_LOG_ENTRIES_MAX
            && after / QUORUM_LOG_ENTRIES_WARNING_EVERY != before / QUORUM_LOG_ENTRIES_WARNING_EVERY
        {
            tracing::warn!(
                "quorum log {}: {after} entries in memory, over {QUORUM_LOG_ENTRIES_MAX}: \
                 snapshots are not purging it",
                log.path.display()
            );
        }
        drop(log);
        callback.log_io_completed(written);
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let mut log = self.log.borrow_mut();
        log.write_synced(&[event(TRUNCATED, &log_id)])
            .map_err(|error| storage_error(ErrorSubject::Logs, ErrorVerb::Delete, error))?;
        log.truncate(log_id);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let mut log = self.log.borrow_mut();
        log.purge(log_id);
        log.compact()
            .map_err(|error| storage_error(ErrorSubject::Logs, ErrorVerb::Delete, error))
    }
}

#[cfg(test)]
#[path = "log_store_tests.rs"]
mod tests;
