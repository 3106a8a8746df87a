//! Three quorum members on one glommio executor over the in-memory network
//! (`network_tests.rs`): election, replication of metadata changes to every
//! member's state, fail-over when the leader is cut off, catch-up of the
//! old leader by snapshot, and a restart from the files.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use openraft::BasicNode;
use tempfile::TempDir;

use super::network_tests::{Network, Router};
use super::state_machine::{Installer, Installing};
use super::types::{LogId, MetadataChange, NodeId, Raft};
use super::{config, LogStore, OpenraftElects, StateMachine, Timing};
use crate::metadata::record::MetadataRecord;
use crate::metadata::state::MetadataState;
use crate::metadata::PartitionPlacement;
use crate::rt::run_local;

const WAIT: Option<Duration> = Some(Duration::from_secs(10));

/// Remembers the version of every snapshot installed through it.
#[derive(Default)]
pub(super) struct Recorder {
    pub(super) versions: RefCell<Vec<u64>>,
}

impl Installer for Recorder {
    fn install(&self, snapshot: Arc<crate::metadata::Snapshot>) -> Installing<'_> {
        self.versions.borrow_mut().push(snapshot.version);
        Box::pin(async {})
    }
}

struct Member {
    raft: Raft,
    state: Rc<RefCell<MetadataState>>,
    installed: Rc<Recorder>,
}

async fn start(id: NodeId, dir: &Path, router: &Rc<Router>) -> Member {
    let timing = Timing {
        heartbeat: 50,
        election_min: 150,
        election_max: 300,
    };
    let state = Rc::new(RefCell::new(MetadataState::default()));
    let installed = Rc::new(Recorder::default());
    let log = LogStore::open(dir).unwrap();
    let machine = StateMachine::open(dir, state.clone(), installed.clone()).unwrap();
    let network = Network {
        router: router.clone(),
        from: id,
    };
    let raft = Raft::new(
        id,
        config(&timing, OpenraftElects::Yes).unwrap(),
        network,
        log,
        machine,
    )
    .await
    .unwrap();
    router.add(id, raft.clone());
    Member {
        raft,
        state,
        installed,
    }
}

fn topic(name: &str) -> MetadataChange {
    MetadataChange(vec![MetadataRecord::TopicCreated {
        id: [name.len() as u8; 16],
        name: name.to_string(),
        placement: vec![PartitionPlacement::single(0)],
        configs: Vec::new(),
    }])
}

/// The leader every member in `members` agrees on, other than `not`.
async fn leader(members: &BTreeMap<NodeId, Member>, asked: NodeId, not: Option<NodeId>) -> NodeId {
    let metrics = members[&asked]
        .raft
        .wait(WAIT)
        .metrics(
            |metrics| metrics.current_leader.is_some() && metrics.current_leader != not,
            "a leader is known",
        )
        .await
        .unwrap();
    metrics.current_leader.unwrap()
}

async fn applied(member: &Member, log_id: LogId) {
    member
        .raft
        .wait(WAIT)
        .applied_index_at_least(Some(log_id.index), "the write is applied")
        .await
        .unwrap();
}

fn has(member: &Member, name: &str) -> bool {
    member.state.borrow().topics().contains_key(name)
}

#[test]
fn three_members_replicate_fail_over_catch_up_and_restart() {
    run_local(async {
        let dirs: Vec<TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let router = Rc::new(Router::default());
        let mut members = BTreeMap::new();
        for id in 0..3u64 {
            members.insert(id, start(id, dirs[id as usize].path(), &router).await);
        }
        let voters: BTreeMap<NodeId, BasicNode> = (0..3u64)
            .map(|id| (id, BasicNode::new(format!("127.0.0.1:{}", 9099 + id))))
            .collect();
        members[&0].raft.initialize(voters).await.unwrap();

        // Elected, and a write applied on all three.
        let first = leader(&members, 0, None).await;
        let written = members[&first].raft.client_write(topic("a")).await.unwrap();
        assert_eq!(written.data.version, 1);
        for member in members.values() {
            applied(member, written.log_id).await;
            assert!(has(member, "a"));
            assert_eq!(member.installed.versions.borrow().last(), Some(&1));
        }

        // The leader is cut off: the other two elect one and go on.
        router.cut_off(first);
        let survivor = (0..3u64).find(|&id| id != first).unwrap();
        let second = leader(&members, survivor, Some(first)).await;
        assert_ne!(second, first);
        let written = members[&second]
            .raft
            .client_write(topic("bb"))
            .await
            .unwrap();
        assert_eq!(written.data.version, 2);
        for (id, member) in &members {
            if *id != first {
                applied(member, written.log_id).await;
                assert!(has(member, "bb"));
            }
        }
        assert!(
            !has(&members[&first], "bb"),
            "the cut-off member saw nothing"
        );

        // The new leader snapshots and purges its log, so the old one can
        // only catch up by installing the snapshot.
        let leader_raft = &members[&second].raft;
        leader_raft.trigger().snapshot().await.unwrap();
        leader_raft
            .wait(WAIT)
            .snapshot(written.log_id, "the snapshot is built")
            .await
            .unwrap();
        leader_raft
            .trigger()
            .purge_log(written.log_id.index)
            .await
            .unwrap();
        leader_raft
            .wait(WAIT)
            .purged(Some(written.log_id), "the log is purged")
            .await
            .unwrap();
        router.heal();
        applied(&members[&first], written.log_id).await;
        assert!(has(&members[&first], "bb"));
        assert_eq!(members[&first].state.borrow().version(), 2);
        assert_eq!(members[&first].installed.versions.borrow().last(), Some(&2));
        let snapshot_file = |id: NodeId| {
            dirs[id as usize]
                .path()
                .join("__cluster_metadata/quorum.snapshot")
        };
        assert!(
            snapshot_file(first).exists(),
            "the old leader caught up by installing the snapshot, and kept it"
        );

        // One more write, then a follower restarts from its files: the
        // snapshot (if it has one) and the log bring its state back.
        let third = leader(&members, first, None).await;
        let written = members[&third]
            .raft
            .client_write(topic("ccc"))
            .await
            .unwrap();
        let restarted = (0..3u64).find(|&id| id != third).unwrap();
        applied(&members[&restarted], written.log_id).await;
        let member = members.remove(&restarted).unwrap();
        router.remove(restarted);
        member.raft.shutdown().await.unwrap();
        drop(member);
        let member = start(restarted, dirs[restarted as usize].path(), &router).await;
        applied(&member, written.log_id).await;
        for name in ["a", "bb", "ccc"] {
            assert!(has(&member, name), "{name} is back after the restart");
        }
        assert_eq!(member.state.borrow().version(), 3);
        members.insert(restarted, member);

        for member in members.values() {
            member.raft.shutdown().await.unwrap();
        }
    });
}
