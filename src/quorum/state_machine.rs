//! The quorum's state machine: committed entries applied to the shared
//! `MetadataState`, and snapshots of it. A snapshot is checksummed frames
//! (`metadata/frame.rs`): a JSON header (openraft's snapshot meta: last
//! applied log id, membership, id; and the metadata version), then one
//! frame per record of `MetadataState::to_records`. The latest one is kept
//! at `data-dir/__cluster_metadata/quorum.snapshot`, replaced atomically,
//! and restored at open.
//!
//! Invariants: only this state machine applies records to the shared
//! state (the controller plans against it, never applies), so the state is
//! always exactly the entries up to `last_applied`; after every apply call
//! that changed the state, and after a snapshot is installed, the new
//! state is handed to the `Installer` before the call returns; a snapshot
//! is on disk before it is reported built or installed, and an install
//! never moves the metadata version back.

use std::cell::RefCell;
use std::future::Future;
use std::io::{self, Cursor};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{AnyError, EntryPayload, OptionalSend, RaftSnapshotBuilder, StorageIOError};
use serde::{Deserialize, Serialize};

use super::types::{
    Applied, Entry, LogId, SnapshotMeta, StorageError, StoredMembership, TypeConfig,
};
use crate::limits::QUORUM_FRAME_BYTES_MAX;
use crate::metadata::frame;
use crate::metadata::record::MetadataRecord;
use crate::metadata::state::MetadataState;

/// The future of one install.
pub type Installing<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

/// Puts a committed metadata snapshot in force on this host (on every
/// local shard, as the single-host controller does after a change).
pub trait Installer {
    fn install(&self, snapshot: Arc<crate::metadata::Snapshot>) -> Installing<'_>;
}

/// The state machine. Clones share everything: the snapshot builder
/// openraft asks for is a clone, reading the state at the moment it runs.
#[derive(Clone)]
pub struct StateMachine {
    state: Rc<RefCell<MetadataState>>,
    installer: Rc<dyn Installer>,
    machine: Rc<RefCell<Machine>>,
}

struct Machine {
    snapshot_path: PathBuf,
    last_applied: Option<LogId>,
    membership: StoredMembership,
    /// The latest snapshot, as its meta and its bytes.
    current: Option<(SnapshotMeta, Vec<u8>)>,
}

/// The first frame of a snapshot.
#[derive(Serialize, Deserialize)]
struct Header {
    meta: SnapshotMeta,
    version: u64,
}

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

fn encode_snapshot(meta: &SnapshotMeta, version: u64, records: &[MetadataRecord]) -> Vec<u8> {
    let header = Header {
        meta: meta.clone(),
        version,
    };
    let mut bytes = Vec::new();
    let header = serde_json::to_vec(&header).expect("a snapshot header encodes as JSON");
    frame::encode(&mut bytes, &header);
    for record in records {
        frame::encode(&mut bytes, &record.encode());
    }
    bytes
}

/// A snapshot's header and records; every byte must be a whole frame.
fn decode_snapshot(bytes: &[u8]) -> io::Result<(Header, Vec<MetadataRecord>)> {
    let mut frames = frame::frames(bytes, QUORUM_FRAME_BYTES_MAX);
    let (first, mut end) = frames
        .next()
        .ok_or_else(|| invalid("a quorum snapshot has no whole header"))?;
    let header: Header = serde_json::from_slice(first)
        .map_err(|error| invalid(format!("a quorum snapshot header: {error}")))?;
    let mut records = Vec::new();
    for (payload, frame_end) in frames {
        let record = MetadataRecord::decode(payload)
            .map_err(|error| invalid(format!("a quorum snapshot record: {}", error.0)))?;
        records.push(record);
        end = frame_end;
    }
    if end != bytes.len() {
        return Err(invalid(format!(
            "a quorum snapshot is damaged at byte {end} of {}",
            bytes.len()
        )));
    }
    Ok((header, records))
}

fn snapshot_error(meta: Option<&SnapshotMeta>, write: bool, error: io::Error) -> StorageError {
    let signature = meta.map(|meta| meta.signature());
    let source = AnyError::new(&error);
    StorageError::IO {
        source: if write {
            StorageIOError::write_snapshot(signature, source)
        } else {
            StorageIOError::read_snapshot(signature, source)
        },
    }
}

impl StateMachine {
    /// A state machine over `state`, restored from the snapshot file in
    /// `data-dir/__cluster_metadata` when there is one (the caller installs
    /// `state.snapshot()` itself after open).
    pub fn open(
        data_dir: &Path,
        state: Rc<RefCell<MetadataState>>,
        installer: Rc<dyn Installer>,
    ) -> io::Result<StateMachine> {
        let directory = data_dir.join("__cluster_metadata");
        std::fs::create_dir_all(&directory)?;
        let snapshot_path = directory.join("quorum.snapshot");
        let mut machine = Machine {
            snapshot_path,
            last_applied: None,
            membership: StoredMembership::default(),
            current: None,
        };
        match std::fs::read(&machine.snapshot_path) {
            Ok(bytes) => {
                let (header, records) = decode_snapshot(&bytes).map_err(|error| {
                    invalid(format!("{}: {error}", machine.snapshot_path.display()))
                })?;
                state
                    .borrow_mut()
                    .restore(&records, header.version)
                    .map_err(|error| invalid(error.to_string()))?;
                machine.last_applied = header.meta.last_log_id;
                machine.membership = header.meta.last_membership.clone();
                machine.current = Some((header.meta, bytes));
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
        Ok(StateMachine {
            state,
            installer,
            machine: Rc::new(RefCell::new(machine)),
        })
    }

    /// The log id of the last entry applied (or restored from a snapshot).
    pub fn last_applied(&self) -> Option<LogId> {
        self.machine.borrow().last_applied
    }

    /// Applies `entries` and says, per entry, the version after it.
    fn apply_entries(&self, entries: impl IntoIterator<Item = Entry>) -> Vec<Applied> {
        let mut state = self.state.borrow_mut();
        let mut machine = self.machine.borrow_mut();
        let mut replies = Vec::new();
        for entry in entries {
            machine.last_applied = Some(entry.log_id);
            match entry.payload {
                EntryPayload::Blank => {}
                EntryPayload::Normal(change) => {
                    for record in &change.0 {
                        state.apply(record);
                    }
                }
                EntryPayload::Membership(membership) => {
                    machine.membership = StoredMembership::new(Some(entry.log_id), membership);
                }
            }
            replies.push(Applied {
                version: state.version(),
            });
        }
        replies
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let state = self.state.borrow();
        let mut machine = self.machine.borrow_mut();
        let snapshot_id = match machine.last_applied {
            Some(log_id) => format!(
                "{}-{}-{}",
                log_id.leader_id.term,
                log_id.index,
                crate::rt::now_milliseconds()
            ),
            None => format!("none-{}", crate::rt::now_milliseconds()),
        };
        let meta = SnapshotMeta {
            last_log_id: machine.last_applied,
            last_membership: machine.membership.clone(),
            snapshot_id,
        };
        let bytes = encode_snapshot(&meta, state.version(), &state.to_records());
        frame::replace_atomically(&machine.snapshot_path, &bytes)
            .map_err(|error| snapshot_error(Some(&meta), true, error))?;
        machine.current = Some((meta.clone(), bytes.clone()));
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let machine = self.machine.borrow();
        Ok((machine.last_applied, machine.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Applied>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let version_before = self.state.borrow().version();
        let replies = self.apply_entries(entries);
        let snapshot = self.state.borrow().snapshot();
        if snapshot.version != version_before {
            self.installer.install(snapshot).await;
        }
        Ok(replies)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let bytes = snapshot.into_inner();
        let (header, records) =
            decode_snapshot(&bytes).map_err(|error| snapshot_error(Some(meta), false, error))?;
        let current = self.state.borrow().version();
        if header.version < current {
            let error = invalid(format!(
                "snapshot {} is at metadata version {}, behind this node's {current}",
                meta.snapshot_id, header.version
            ));
            return Err(snapshot_error(Some(meta), false, error));
        }
        {
            let mut machine = self.machine.borrow_mut();
            frame::replace_atomically(&machine.snapshot_path, &bytes)
                .map_err(|error| snapshot_error(Some(meta), true, error))?;
            self.state
                .borrow_mut()
                .restore(&records, header.version)
                .expect("the version was checked above");
            machine.last_applied = meta.last_log_id;
            machine.membership = meta.last_membership.clone();
            machine.current = Some((meta.clone(), bytes));
        }
        let snapshot = self.state.borrow().snapshot();
        self.installer.install(snapshot).await;
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        Ok(self
            .machine
            .borrow()
            .current
            .clone()
            .map(|(meta, bytes)| Snapshot {
                meta,
                snapshot: Box::new(Cursor::new(bytes)),
            }))
    }
}

#[cfg(test)]
#[path = "state_machine_tests.rs"]
mod tests;
