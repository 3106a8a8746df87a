//! The coordinator against a real offsets partition: commits are durable
//! before they answer and apply in the order of the log, a group's stored
//! form and its offsets come back when the partition is loaded again, and a
//! deleted group stays deleted.

use std::collections::BTreeMap;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::membership::GroupSettings;
use super::*;
use crate::metadata::TopicMetadata;
use crate::partition::group_commit::GroupCommit;
use crate::partition::tail_cache::TailCache;
use crate::partition::Partition;
use crate::protocol::ErrorCode;
use crate::rt::sync::Signal;
use crate::storage::LogConfig;

const TOPIC: &str = "t";

fn settings() -> CoordinatorSettings {
    CoordinatorSettings {
        group: GroupSettings {
            initial_rebalance_delay: Duration::ZERO,
            members_max: 10,
        },
        session_timeout_min: Duration::from_secs(1),
        session_timeout_max: Duration::from_secs(60),
    }
}

/// The offsets topic with one partition on shard 0, and topic `t` with two.
fn snapshot() -> Snapshot {
    let topic = |name: &str, id: u8, partitions: usize| {
        let metadata = TopicMetadata {
            name: name.to_string(),
            id: [id; 16],
            placement: vec![crate::metadata::PartitionPlacement::single(0); partitions],
            configs: BTreeMap::new(),
            reassignments: BTreeMap::new(),
        };
        (name.to_string(), Arc::new(metadata))
    };
    Snapshot {
        version: 1,
        topics: BTreeMap::from([topic(OFFSETS_TOPIC, 1, 1), topic(TOPIC, 2, 2)]),
        hosts: BTreeMap::new(),
        cluster_id: None,
    }
}

async fn open(dir: &Path) -> Rc<Partition> {
    let config = LogConfig {
        segment_bytes: 64 * 1024,
        retention_ms: -1,
        segment_ms: i64::MAX,
        ..LogConfig::default()
    };
    let group_commit = Rc::new(GroupCommit::new(Rc::new(Signal::default())));
    let tail_cache = Rc::new(TailCache::new(1 << 20));
    let partition = Partition::open(
        dir,
        OFFSETS_TOPIC,
        [1; 16],
        0,
        config,
        group_commit,
        tail_cache,
    );
    Rc::new(partition.await.expect("the offsets partition opens"))
}

async fn loaded(partition: &Rc<Partition>) -> Coordinator {
    let coordinator = Coordinator::new(0, settings());
    coordinator.load(0, partition.clone()).await;
    coordinator
}

/// A commit outside group management of partition 0 of `t`.
fn commit(offset: i64) -> OffsetCommit {
    OffsetCommit {
        group_id: "g".into(),
        member_id: String::new(),
        group_instance_id: None,
        generation_id_or_member_epoch: -1,
        version: 8,
        partitions: vec![CommitPartition {
            topic: TOPIC.into(),
            partition: 0,
            offset,
            leader_epoch: -1,
            metadata: None,
            commit_timestamp: None,
        }],
    }
}

fn committed(coordinator: &Coordinator, snapshot: &Snapshot) -> Option<i64> {
    let wanted = Some(vec![(TOPIC.to_string(), vec![0])]);
    let found = coordinator
        .fetch_offsets(snapshot, "g", wanted, (None, -1))
        .expect("served here");
    found[TOPIC][0].1.as_ref().map(|committed| committed.offset)
}

#[test]
fn commits_apply_in_log_order_and_come_back_after_a_reload() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().to_path_buf();
    crate::rt::run_local(async move {
        let snapshot = snapshot();
        let partition = open(&path).await;
        let coordinator = Coordinator::new(0, settings());
        let before_load = coordinator.fetch_offsets(&snapshot, "g", None, (None, -1));
        assert_eq!(
            before_load.err(),
            Some(ErrorCode::COORDINATOR_LOAD_IN_PROGRESS)
        );
        coordinator.load(0, partition.clone()).await;
        // Three commits in flight at once: the one staged last is kept.
        let (first, (second, third)) = futures_lite::future::zip(
            coordinator.commit_offsets(&snapshot, commit(1)),
            futures_lite::future::zip(
                coordinator.commit_offsets(&snapshot, commit(2)),
                coordinator.commit_offsets(&snapshot, commit(3)),
            ),
        )
        .await;
        for codes in [first, second, third] {
            assert_eq!(codes, vec![ErrorCode::NONE]);
        }
        assert_eq!(committed(&coordinator, &snapshot), Some(3));
        let mut unknown = commit(9);
        unknown.partitions[0].partition = 7;
        let codes = coordinator.commit_offsets(&snapshot, unknown).await;
        assert_eq!(codes, vec![ErrorCode::UNKNOWN_TOPIC_OR_PARTITION]);
        coordinator.unload(0);
        let unloaded = coordinator.fetch_offsets(&snapshot, "g", None, (None, -1));
        assert_eq!(
            unloaded.err(),
            Some(ErrorCode::COORDINATOR_LOAD_IN_PROGRESS)
        );

        let reloaded = loaded(&partition).await;
        assert_eq!(committed(&reloaded, &snapshot), Some(3));
        assert_eq!(reloaded.delete_group(&snapshot, "g").await, Ok(()));
        let again = loaded(&partition).await;
        assert_eq!(committed(&again, &snapshot), None);
        assert!(again.list_groups(&[], &[]).is_empty());
        partition.close().await.expect("closes");
    });
}

#[test]
fn a_synced_group_is_stored_and_restored_stable() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().to_path_buf();
    crate::rt::run_local(async move {
        let snapshot = snapshot();
        let partition = open(&path).await;
        let coordinator = loaded(&partition).await;
        let join = JoinGroup {
            group_id: "g".into(),
            member_id: String::new(),
            group_instance_id: None,
            client_id: "client".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout_milliseconds: 10_000,
            rebalance_timeout_milliseconds: Some(30_000),
            protocol_type: "consumer".into(),
            protocols: vec![("range".into(), Bytes::from_static(b"subscription"))],
            require_known_member_id: false,
        };
        let joined = coordinator.join(&snapshot, join).await;
        assert_eq!(joined.error, ErrorCode::NONE);
        assert_eq!(joined.generation_id, 1);
        let sync = SyncGroup {
            group_id: "g".into(),
            member_id: joined.member_id.clone(),
            group_instance_id: None,
            generation_id: 1,
            protocol_type: None,
            protocol_name: None,
            assignments: vec![(joined.member_id.clone(), Bytes::from_static(b"p0"))],
        };
        let synced = coordinator.sync(&snapshot, sync).await;
        assert_eq!(synced.error, ErrorCode::NONE);
        assert_eq!(synced.assignment, Bytes::from_static(b"p0"));

        let reloaded = loaded(&partition).await;
        let Ok(GroupDescription::Classic(group)) = reloaded.describe(&snapshot, "g") else {
            panic!("the group comes back as a classic group");
        };
        assert_eq!(group.state, membership::GroupState::Stable);
        assert_eq!(group.members.len(), 1);
        assert_eq!(group.members[0].assignment, Bytes::from_static(b"p0"));
        let member = MemberIdentity {
            member_id: joined.member_id,
            group_instance_id: None,
        };
        assert_eq!(
            reloaded.heartbeat(&snapshot, "g", &member, 1),
            ErrorCode::NONE
        );
        partition.close().await.expect("closes");
    });
}

#[test]
#[should_panic(expected = "generation 1 after 2")]
fn a_generation_that_goes_back_is_caught() {
    assert_not_back("g", "generation", 2, 1);
}
