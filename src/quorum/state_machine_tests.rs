//! The state machine alone: what apply answers and installs, a snapshot
//! surviving a reopen, a stale snapshot refused, a damaged one refused.

use std::collections::{BTreeMap, BTreeSet};

use futures_lite::future::block_on;
use openraft::testing::log_id;
use openraft::{BasicNode, Membership};

use super::*;
use crate::quorum::types::MetadataChange;

// One recorder of installed snapshot versions for both quorum test files.
use crate::quorum::tests::Recorder;

fn open(dir: &Path) -> (StateMachine, Rc<RefCell<MetadataState>>, Rc<Recorder>) {
    let state = Rc::new(RefCell::new(MetadataState::default()));
    let recorder = Rc::new(Recorder::default());
    let machine = StateMachine::open(dir, state.clone(), recorder.clone()).unwrap();
    (machine, state, recorder)
}

fn created(name: &str) -> MetadataRecord {
    MetadataRecord::TopicCreated {
        id: [1; 16],
        name: name.to_string(),
        placement: vec![crate::metadata::PartitionPlacement::single(0)],
        configs: Vec::new(),
    }
}

fn entries() -> Vec<Entry> {
    let members = BTreeMap::from([(0u64, BasicNode::new("127.0.0.1:9099"))]);
    let membership = Membership::new(vec![BTreeSet::from([0u64])], members);
    vec![
        Entry {
            log_id: log_id(1, 0, 1),
            payload: EntryPayload::Membership(membership),
        },
        Entry {
            log_id: log_id(1, 0, 2),
            payload: EntryPayload::Blank,
        },
        Entry {
            log_id: log_id(1, 0, 3),
            payload: EntryPayload::Normal(MetadataChange(vec![
                created("a"),
                MetadataRecord::TopicDeleted { name: "a".into() },
                created("b"),
            ])),
        },
    ]
}

#[test]
fn apply_answers_versions_installs_once_and_a_snapshot_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (mut machine, state, recorder) = open(dir.path());
    let replies = block_on(machine.apply(entries())).unwrap();
    let versions: Vec<u64> = replies.iter().map(|reply| reply.version).collect();
    assert_eq!(versions, vec![0, 0, 3]);
    assert_eq!(*recorder.versions.borrow(), vec![3]);
    assert!(state.borrow().topics().contains_key("b"));
    let blank = Entry {
        log_id: log_id(2, 0, 4),
        payload: EntryPayload::Blank,
    };
    assert_eq!(block_on(machine.apply([blank])).unwrap()[0].version, 3);
    assert_eq!(
        recorder.versions.borrow().len(),
        1,
        "a blank entry installs nothing"
    );

    let built = block_on(machine.build_snapshot()).unwrap();
    assert_eq!(built.meta.last_log_id, Some(log_id(2, 0, 4)));
    let (mut reopened, state, _) = open(dir.path());
    assert_eq!(state.borrow().version(), 3);
    assert_eq!(
        state.borrow().topics().keys().collect::<Vec<_>>(),
        vec!["b"]
    );
    let (applied, membership) = block_on(reopened.applied_state()).unwrap();
    assert_eq!(applied, Some(log_id(2, 0, 4)));
    assert_eq!(membership.log_id(), &Some(log_id(1, 0, 1)));
    let current = block_on(reopened.get_current_snapshot()).unwrap().unwrap();
    assert_eq!(current.meta, built.meta);
    assert_eq!(current.snapshot.into_inner(), built.snapshot.into_inner());
}

#[test]
fn a_stale_or_damaged_snapshot_is_refused() {
    let old = tempfile::tempdir().unwrap();
    let (mut machine, _, _) = open(old.path());
    let stale = block_on(machine.build_snapshot()).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let (mut machine, state, recorder) = open(dir.path());
    block_on(machine.apply(entries())).unwrap();
    let refused = block_on(machine.install_snapshot(&stale.meta, stale.snapshot));
    assert!(refused.is_err(), "version 0 is behind version 3");
    assert_eq!(state.borrow().version(), 3);
    assert_eq!(recorder.versions.borrow().len(), 1);

    let built = block_on(machine.build_snapshot()).unwrap();
    let mut bytes = built.snapshot.into_inner();
    bytes.pop();
    let (mut fresh, _, _) = open(tempfile::tempdir().unwrap().path());
    let damaged = block_on(fresh.install_snapshot(&built.meta, Box::new(Cursor::new(bytes))));
    assert!(damaged.is_err());

    let path = dir.path().join("__cluster_metadata/quorum.snapshot");
    let mut file = std::fs::read(&path).unwrap();
    let last = file.len() - 1;
    file[last] ^= 1;
    std::fs::write(&path, file).unwrap();
    let state = Rc::new(RefCell::new(MetadataState::default()));
    let error = StateMachine::open(dir.path(), state, Rc::new(Recorder::default()))
        .err()
        .expect("a damaged snapshot file does not open");
    assert_eq!(error.kind(), io::ErrorKind::InvalidData);
}
