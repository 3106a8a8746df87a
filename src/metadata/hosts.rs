//! Planning the cluster's own changes to its hosts: registration (a host
//! joins, restarts or comes back from fencing), fencing (its lease ran
//! out), removal (decommissioning), and the import of a single host's
//! metadata log when it first starts as a cluster.
//!
//! Invariants: a registration that changes nothing plans nothing, so the
//! heartbeats that carry it do not grow the log; a fenced host keeps its
//! replicas, but the partitions it led move to in-sync replicas on other
//! hosts, or, where it held the last one, have no leader until it comes
//! back (see `elections.rs`); a host is removed only once it holds no
//! replica (reassignment moves them off first: `reassignment.rs`).

use super::record::MetadataRecord;
use super::state::MetadataState;
use super::{broker_id, host_of, CommandError, HostRegistration};
use crate::protocol::ErrorCode;

impl MetadataState {
    /// Nothing when `host` is registered as is and not fenced; else its
    /// registration, then moves of the partitions on shards it lost.
    /// `unclean_default` (here and below): the broker's
    /// `unclean.leader.election.enable`, for the elections it causes.
    pub(super) fn plan_register_host(
        &self,
        host: &HostRegistration,
        unclean_default: bool,
    ) -> Vec<MetadataRecord> {
        let registered = HostRegistration {
            fenced: false,
            ..host.clone()
        };
        if self
            .hosts()
            .get(&host.node_id)
            .is_some_and(|current| **current == registered)
        {
            return Vec::new();
        }
        let shards = host.ports.len() as u32;
        let targets: Vec<u32> = registered.brokers().collect();
        let node_id = host.node_id;
        let mut records = Vec::new();
        let restarted = self.hosts().get(&node_id).is_some_and(|current| {
            !current.fenced && current.incarnation != registered.incarnation
        });
        if restarted {
            // Back within its session timeout, so never fenced: what its
            // old incarnation held in memory (its high watermarks, its
            // followers' progress) is gone, and a leader without it would
            // answer a high watermark of 0. As Kafka fences a broker's old
            // epoch, leadership and ISR membership move off it first; it
            // rejoins the ISR by catching up, and leads again as the
            // preferred replica. No unclean election here: the host is back
            // in this same change, so a partition whose last in-sync
            // replica it holds is led by it again (below), losing nothing.
            records.extend(self.plan_host_leaving(node_id, false));
        }
        records.push(MetadataRecord::HostRegistered(registered));
        records.extend(self.plan_moves(
            |broker| host_of(broker) == node_id && broker >= broker_id(node_id, shards),
            &targets,
        ));
        // Leaders come back to what the registration made live, as the
        // state will be once the records above are applied.
        let mut after = self.clone();
        records.iter().for_each(|record| after.apply(record));
        records.extend(after.plan_leaders_back(None, unclean_default));
        records
    }

    /// Fences `node_id` unless it is unknown or fenced already, and moves
    /// leadership and ISR membership off it.
    pub(super) fn plan_fence_host(
        &self,
        node_id: u32,
        unclean_default: bool,
    ) -> Vec<MetadataRecord> {
        match self.hosts().get(&node_id) {
            Some(host) if !host.fenced => {
                let mut records = vec![MetadataRecord::HostFenced {
                    node_id,
                    fenced: true,
                }];
                records.extend(self.plan_host_leaving(node_id, unclean_default));
                records
            }
            _ => Vec::new(),
        }
    }

    /// Controlled shutdown: the host is fenced at once (Kafka marks it in
    /// controlled shutdown), so leadership and ISR membership move off it
    /// and, until it registers again with a new incarnation, it gets no
    /// new partition, no leadership back and no place in an ISR. It stops
    /// heartbeating once it asks, so no heartbeat undoes this.
    pub(super) fn plan_shutdown_host(
        &self,
        node_id: u32,
        unclean_default: bool,
    ) -> Result<Vec<MetadataRecord>, CommandError> {
        match self.hosts().get(&node_id) {
            None => Err(CommandError {
                code: ErrorCode::BROKER_NOT_AVAILABLE,
                message: format!("node {node_id} is not a host of this cluster"),
            }),
            Some(_) => Ok(self.plan_fence_host(node_id, unclean_default)),
        }
    }

    /// Removes `node_id` from the cluster, once it holds no replica: its
    /// partitions are first reassigned to other hosts (`corelog cluster
    /// decommission` does both), so no record is left behind only there.
    pub(super) fn plan_remove_host(
        &self,
        node_id: u32,
    ) -> Result<Vec<MetadataRecord>, CommandError> {
        if !self.hosts().contains_key(&node_id) {
            return Err(CommandError {
                code: ErrorCode::BROKER_NOT_AVAILABLE,
                message: format!("node {node_id} is not a host of this cluster"),
            });
        }
        let held: usize = self
            .topics()
            .values()
            .map(|topic| {
                topic
                    .placement
                    .iter()
                    .filter(|placement| {
                        placement
                            .replicas
                            .iter()
                            .any(|&replica| host_of(replica) == node_id)
                    })
                    .count()
            })
            .sum();
        if held > 0 {
            return Err(CommandError {
                code: ErrorCode::INVALID_REQUEST,
                message: format!(
                    "node {node_id} still holds replicas of {held} partitions; reassign them first (corelog cluster decommission)"
                ),
            });
        }
        Ok(vec![MetadataRecord::HostRemoved { node_id }])
    }

    /// A single host's records, when this cluster has no topic yet.
    pub(super) fn plan_import(
        &self,
        records: &[MetadataRecord],
    ) -> Result<Vec<MetadataRecord>, CommandError> {
        if !self.topics().is_empty() {
            return Err(CommandError {
                code: ErrorCode::TOPIC_ALREADY_EXISTS,
                message:
                    "the cluster has topics already; a host's old metadata log is not imported"
                        .into(),
            });
        }
        Ok(records
            .iter()
            .filter(|record| {
                !matches!(
                    record,
                    MetadataRecord::HostRegistered(_)
                        | MetadataRecord::HostFenced { .. }
                        | MetadataRecord::HostRemoved { .. }
                )
            })
            .cloned()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::state::Defaults;
    use crate::metadata::Command;

    fn host(node_id: u32, shards: usize, incarnation: u64) -> HostRegistration {
        HostRegistration {
            node_id,
            incarnation,
            host: format!("10.0.0.{node_id}"),
            ports: (0..shards as u16).map(|shard| 9092 + shard).collect(),
            quorum_address: format!("10.0.0.{node_id}:9099"),
            fenced: false,
        }
    }

    fn apply(state: &mut MetadataState, records: Vec<MetadataRecord>) {
        records.iter().for_each(|record| state.apply(record));
    }

    const DEFAULTS: Defaults = Defaults {
        num_partitions: 1,
        shard_count: 1,
        node_id: 0,
        replication_factor: 1,
        unclean_leader_election: false,
        quorum_voters: 0,
    };

    #[test]
    fn partitions_spread_over_hosts_and_follow_them() {
        let mut state = MetadataState::default();
        for node in 0..3 {
            let records = state.plan_register_host(&host(node, 2, 1), false);
            apply(&mut state, records);
        }
        assert!(
            state.plan_register_host(&host(1, 2, 1), false).is_empty(),
            "no change, no record"
        );
        let create = Command::CreateTopic {
            name: "t".into(),
            partitions: 6,
            replication_factor: -1,
            assignment: None,
            configs: Default::default(),
            validate_only: false,
        };
        let records = state.plan(&create, DEFAULTS).unwrap();
        apply(&mut state, records);
        let mut leaders: Vec<u32> = state.topics()["t"]
            .placement
            .iter()
            .map(|p| p.leader)
            .collect();
        leaders.sort();
        assert_eq!(leaders, vec![0, 1, 1024, 1025, 2048, 2049]);
        // Fenced: no new partitions there, and its brokers are not live.
        let records = state.plan_fence_host(2, false);
        apply(&mut state, records);
        assert!(!state.snapshot().broker_is_live(2048));
        assert!(state
            .eligible_brokers(DEFAULTS)
            .iter()
            .all(|&b| host_of(b) != 2));
        // It restarts with one shard: registered again, shard 1's partition moves to shard 0.
        let records = state.plan_register_host(&host(2, 1, 2), false);
        apply(&mut state, records);
        assert!(state.snapshot().broker_is_live(2048));
        let leaders: Vec<u32> = state.topics()["t"]
            .placement
            .iter()
            .map(|p| p.leader)
            .collect();
        assert!(!leaders.contains(&2049) && leaders.iter().filter(|&&l| l == 2048).count() == 2);
        // A host that holds replicas is not removed (their data would
        // stay behind); once it holds none, it is.
        assert!(state
            .plan(&Command::RemoveHost { node_id: 2 }, DEFAULTS)
            .is_err());
        let records = state.plan_moves(|leader| host_of(leader) == 2, &[0, 1]);
        apply(&mut state, records);
        let records = state
            .plan(&Command::RemoveHost { node_id: 2 }, DEFAULTS)
            .unwrap();
        apply(&mut state, records);
        assert!(!state.hosts().contains_key(&2));
        // The snapshot records rebuild hosts too.
        let mut rebuilt = MetadataState::default();
        apply(&mut rebuilt, state.to_records());
        assert_eq!(rebuilt.hosts(), state.hosts());
    }

    #[test]
    fn import_only_into_an_empty_cluster() {
        let state = MetadataState::default();
        let records = vec![MetadataRecord::TopicDeleted { name: "x".into() }];
        assert_eq!(
            state
                .plan(&Command::Import(records.clone()), DEFAULTS)
                .unwrap(),
            records
        );
    }
}
