//! Planning reassignments: replicas added outside the ISR, completion once
//! the ISR holds the target, leader moves with their epoch, cancellation,
//! and the pending state through records and a snapshot.

use std::collections::BTreeMap;

use super::*;
use crate::metadata::state::Defaults;
use crate::metadata::{broker_id, Command, HostRegistration};

const DEFAULTS: Defaults = Defaults {
    num_partitions: 1,
    shard_count: 1,
    node_id: 0,
    replication_factor: 1,
    unclean_leader_election: false,
    quorum_voters: 0,
};

/// Broker (shard 0) of host `node`.
fn b(node: u32) -> u32 {
    broker_id(node, 0)
}

fn host(node_id: u32) -> HostRegistration {
    HostRegistration {
        node_id,
        incarnation: 1,
        host: format!("10.0.0.{node_id}"),
        ports: vec![9092],
        quorum_address: format!("10.0.0.{node_id}:9099"),
        fenced: false,
    }
}

/// Plans and applies `command`, checking that each record raises a
/// partition's epoch by exactly one when its leader changes and keeps it
/// otherwise.
fn run(state: &mut MetadataState, command: Command) -> Result<(), ErrorCode> {
    let records = state
        .plan(&command, DEFAULTS)
        .map_err(|refused| refused.code)?;
    for record in &records {
        let before = state.topics()["t"].placement[0].clone();
        state.apply(record);
        let after = &state.topics()["t"].placement[0];
        let step = i32::from(after.leader != before.leader);
        assert_eq!(after.leader_epoch, before.leader_epoch + step, "{record:?}");
        assert!(after
            .isr
            .iter()
            .all(|member| after.replicas.contains(member)));
    }
    Ok(())
}

/// Four hosts, topic "t" with one partition on `replicas`.
fn four_hosts(replicas: Vec<u32>) -> MetadataState {
    let mut state = MetadataState::default();
    for node in 0..4 {
        run_hosts(&mut state, Command::RegisterHost(host(node)));
    }
    let create = Command::CreateTopic {
        name: "t".into(),
        partitions: -1,
        replication_factor: -1,
        assignment: Some(vec![replicas]),
        configs: BTreeMap::new(),
        validate_only: false,
    };
    run_hosts(&mut state, create);
    state
}

fn run_hosts(state: &mut MetadataState, command: Command) {
    for record in state.plan(&command, DEFAULTS).unwrap() {
        state.apply(&record);
    }
}

fn reassign(target: Option<Vec<u32>>) -> Command {
    Command::ReassignPartition {
        name: "t".into(),
        partition: 0,
        target,
    }
}

/// The current leader's AlterPartition to `isr`, planned and applied.
fn alter(state: &mut MetadataState, isr: Vec<u32>) -> Result<(), ErrorCode> {
    let current = placement(state);
    let command = Command::AlterPartition {
        name: "t".into(),
        partition: 0,
        leader: current.leader,
        leader_epoch: current.leader_epoch,
        isr,
    };
    run(state, command)
}

fn placement(state: &MetadataState) -> PartitionPlacement {
    state.topics()["t"].placement[0].clone()
}

#[test]
fn added_replicas_catch_up_before_the_old_ones_leave() {
    let mut state = four_hosts(vec![b(0), b(1)]);
    run(&mut state, reassign(Some(vec![b(2), b(1)]))).unwrap();
    let during = placement(&state);
    assert_eq!(during.replicas, vec![b(2), b(1), b(0)], "target first");
    assert_eq!(
        during.isr,
        vec![b(1), b(0)],
        "the added replica is not in sync yet"
    );
    assert_eq!((during.leader, during.leader_epoch), (b(0), 0));
    let pending = state.reassignment_of("t", 0).unwrap();
    assert_eq!(pending.adding, vec![b(2)]);
    assert_eq!(pending.removing(&during.replicas), vec![b(0)]);
    // The leader lets b(2) in: the target is in sync, the reassignment
    // completes, and b(0), which led, gives way (epoch + 1).
    alter(&mut state, vec![b(0), b(1), b(2)]).unwrap();
    let after = placement(&state);
    assert_eq!(after.replicas, vec![b(2), b(1)]);
    assert_eq!(after.isr, vec![b(2), b(1)]);
    assert_eq!((after.leader, after.leader_epoch), (b(2), 1));
    assert!(state.reassignment_of("t", 0).is_none());
}

#[test]
fn an_isr_change_short_of_the_target_leaves_it_pending() {
    let mut state = four_hosts(vec![b(0), b(1)]);
    run(&mut state, reassign(Some(vec![b(2), b(3)]))).unwrap();
    alter(&mut state, vec![b(0), b(1), b(2)]).unwrap();
    let during = placement(&state);
    assert_eq!(during.replicas, vec![b(2), b(3), b(0), b(1)]);
    assert!(state.reassignment_of("t", 0).is_some());
    alter(
        &mut state,
        during.isr.iter().copied().chain([b(3)]).collect(),
    )
    .unwrap();
    let after = placement(&state);
    assert_eq!(
        (after.replicas.clone(), after.isr.clone()),
        (vec![b(2), b(3)], vec![b(2), b(3)])
    );
    assert!(after.leader == b(2) || after.leader == b(3));
    assert!(state.reassignment_of("t", 0).is_none());
}

#[test]
fn a_target_already_in_sync_completes_at_once() {
    let mut state = four_hosts(vec![b(0), b(1), b(2)]);
    run(&mut state, reassign(Some(vec![b(1), b(2)]))).unwrap();
    let after = placement(&state);
    assert_eq!(after.replicas, vec![b(1), b(2)]);
    assert_eq!((after.leader, after.leader_epoch), (b(1), 1));
    assert!(state.reassignment_of("t", 0).is_none());
    // A target equal to the replicas changes nothing.
    assert_eq!(
        state.plan(&reassign(Some(vec![b(1), b(2)])), DEFAULTS),
        Ok(Vec::new())
    );
}

#[test]
fn a_cancelled_reassignment_removes_what_it_added() {
    let mut state = four_hosts(vec![b(0), b(1)]);
    let before = placement(&state);
    run(&mut state, reassign(Some(vec![b(2), b(3)]))).unwrap();
    run(&mut state, reassign(None)).unwrap();
    assert_eq!(placement(&state).replicas, before.replicas);
    assert_eq!(placement(&state).isr, before.isr);
    assert!(state.reassignment_of("t", 0).is_none());
    assert_eq!(
        run(&mut state, reassign(None)),
        Err(NO_REASSIGNMENT_IN_PROGRESS)
    );
}

#[test]
fn bad_targets_are_refused() {
    let mut state = four_hosts(vec![b(0), b(1)]);
    run_hosts(&mut state, Command::FenceHost { node_id: 3 });
    for target in [
        vec![],
        vec![b(2), b(2)],
        vec![b(3)],
        vec![b(9)],
        vec![b(0) + 5],
    ] {
        assert_eq!(
            run(&mut state, reassign(Some(target.clone()))),
            Err(ErrorCode::INVALID_REPLICA_ASSIGNMENT),
            "{target:?}"
        );
    }
    let unknown = Command::ReassignPartition {
        name: "t".into(),
        partition: 1,
        target: Some(vec![b(2)]),
    };
    assert_eq!(
        state.plan(&unknown, DEFAULTS).unwrap_err().code,
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
    );
}

#[test]
fn a_pending_reassignment_survives_a_snapshot() {
    let mut state = four_hosts(vec![b(0), b(1)]);
    run(&mut state, reassign(Some(vec![b(2), b(1)]))).unwrap();
    let records = state.to_records();
    let encoded: Vec<MetadataRecord> = records
        .iter()
        .map(|record| MetadataRecord::decode(&record.encode()).unwrap())
        .collect();
    let mut restored = MetadataState::default();
    restored.restore(&encoded, state.version()).unwrap();
    assert_eq!(restored.topics(), state.topics());
    assert_eq!(
        restored
            .reassignment_of("t", 0)
            .map(|pending| pending.target.clone()),
        Some(vec![b(2), b(1)])
    );
    // It completes there as it would have here.
    alter(&mut restored, vec![b(0), b(1), b(2)]).unwrap();
    assert_eq!(placement(&restored).replicas, vec![b(2), b(1)]);
}

#[test]
fn a_host_is_removed_only_once_it_holds_no_replica() {
    let mut state = four_hosts(vec![b(1), b(0)]);
    assert_eq!(
        run(&mut state, Command::RemoveHost { node_id: 0 }),
        Err(ErrorCode::INVALID_REQUEST),
        "a follower's replica counts too"
    );
    run(&mut state, reassign(Some(vec![b(1), b(2)]))).unwrap();
    assert!(run(&mut state, Command::RemoveHost { node_id: 0 }).is_err());
    alter(&mut state, vec![b(1), b(0), b(2)]).unwrap();
    run(&mut state, Command::RemoveHost { node_id: 0 }).unwrap();
    assert!(!state.hosts().contains_key(&0));
}

/// A single host has no follower fetch between its shards: refused.
#[test]
fn a_single_host_refuses_reassignment() {
    let mut state = MetadataState::default();
    let two_shards = Defaults {
        shard_count: 2,
        ..DEFAULTS
    };
    let create = Command::CreateTopic {
        name: "t".into(),
        partitions: 1,
        replication_factor: -1,
        assignment: None,
        configs: BTreeMap::new(),
        validate_only: false,
    };
    for record in state.plan(&create, two_shards).unwrap() {
        state.apply(&record);
    }
    assert_eq!(
        state
            .plan(&reassign(Some(vec![1])), two_shards)
            .unwrap_err()
            .code,
        ErrorCode::INVALID_REQUEST
    );
}
