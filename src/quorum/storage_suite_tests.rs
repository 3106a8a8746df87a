//! openraft's own storage test suite over the quorum log and state
//! machine. The suite drives each case on a tokio runtime of its own; the
//! storage needs no runtime (blocking std::fs, futures-channel oneshots),
//! so the same code runs under it as under glommio.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use openraft::testing::{StoreBuilder, Suite};
use tempfile::TempDir;

use super::state_machine::{Installer, Installing};
use super::types::{StorageError, TypeConfig};
use super::{LogStore, StateMachine};
use crate::metadata::state::MetadataState;

struct NoInstaller;

impl Installer for NoInstaller {
    fn install(&self, _snapshot: Arc<crate::metadata::Snapshot>) -> Installing<'_> {
        Box::pin(async {})
    }
}

struct Builder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, TempDir> for Builder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachine), StorageError> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let log = LogStore::open(dir.path()).expect("the quorum log opens");
        let state = Rc::new(RefCell::new(MetadataState::default()));
        let machine =
            StateMachine::open(dir.path(), state, Rc::new(NoInstaller)).expect("it opens");
        Ok((dir, log, machine))
    }
}

#[test]
fn openraft_storage_suite_passes() {
    Suite::test_all(Builder).expect("every case of the suite passes");
}
