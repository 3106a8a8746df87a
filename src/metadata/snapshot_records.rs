//! The metadata state as records, for the quorum's snapshots: the records
//! that, applied in order to an empty state, rebuild it (the cluster's id;
//! each host's
//! registration, and its fencing when fenced; then one TopicCreated per
//! topic, with every partition's placement and the topic's configs; then
//! one ReassignmentSet per partition being reassigned).
//!
//! Invariants: `restore(to_records(), version())` gives a state equal to
//! the original, at the same version; a restore never moves the version
//! back (a node that has applied more than a snapshot holds refuses it).

use super::record::MetadataRecord;
use super::state::MetadataState;

/// A restore refused: the snapshot is older than the state it would replace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionWentBack {
    pub current: u64,
    pub offered: u64,
}

impl std::fmt::Display for VersionWentBack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "a metadata snapshot at version {} is older than the state at version {}",
            self.offered, self.current
        )
    }
}

impl std::error::Error for VersionWentBack {}

impl MetadataState {
    /// The records that rebuild this state from nothing, topics by name.
    pub fn to_records(&self) -> Vec<MetadataRecord> {
        let mut records = Vec::new();
        if let Some(id) = &self.snapshot_ref().cluster_id {
            records.push(MetadataRecord::ClusterIdSet {
                id: id.as_ref().clone(),
            });
        }
        for host in self.hosts().values() {
            records.push(MetadataRecord::HostRegistered(host.as_ref().clone()));
            if host.fenced {
                records.push(MetadataRecord::HostFenced {
                    node_id: host.node_id,
                    fenced: true,
                });
            }
        }
        let topics = self
            .topics()
            .values()
            .map(|topic| MetadataRecord::TopicCreated {
                id: topic.id,
                name: topic.name.clone(),
                placement: topic.placement.clone(),
                configs: topic
                    .configs
                    .iter()
                    .map(|(key, value)| (key.clone(), value.clone()))
                    .collect(),
            });
        records.extend(topics);
        let reassignments = self.topics().values().flat_map(|topic| {
            topic.reassignments.iter().map(|(&partition, pending)| {
                MetadataRecord::ReassignmentSet {
                    name: topic.name.clone(),
                    partition,
                    reassignment: Some(pending.clone()),
                }
            })
        });
        records.extend(reassignments);
        records
    }

    /// Replaces this state with the one `records` build, at `version`.
    pub fn restore(
        &mut self,
        records: &[MetadataRecord],
        version: u64,
    ) -> Result<(), VersionWentBack> {
        if version < self.version() {
            return Err(VersionWentBack {
                current: self.version(),
                offered: version,
            });
        }
        let mut state = MetadataState::default();
        for record in records {
            state.apply(record);
        }
        state.set_version(version);
        *self = state;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::metadata::state::Defaults;
    use crate::metadata::{Command, HostRegistration, PartitionPlacement};

    #[test]
    fn records_rebuild_the_state_at_its_version() {
        let mut state = MetadataState::default();
        let defaults = Defaults {
            num_partitions: 1,
            shard_count: 3,
            node_id: 0,
            replication_factor: 1,
            unclean_leader_election: false,
            quorum_voters: 0,
        };
        let create = Command::CreateTopic {
            name: "a".into(),
            partitions: 3,
            replication_factor: -1,
            assignment: None,
            configs: BTreeMap::from([("retention.ms".to_string(), "1000".to_string())]),
            validate_only: false,
        };
        for record in state.plan(&create, defaults).unwrap() {
            state.apply(&record);
        }
        state.apply(&MetadataRecord::PartitionsMoved {
            name: "a".into(),
            moves: vec![(1, PartitionPlacement::single(2))],
        });
        // A partition with no leader (its ISR's last member fenced) is
        // restored as it is.
        state.apply(&MetadataRecord::PartitionChanged {
            name: "a".into(),
            partition: 0,
            placement: PartitionPlacement {
                leader: crate::metadata::NO_LEADER,
                leader_epoch: 1,
                ..PartitionPlacement::single(0)
            },
        });
        for (node_id, fenced) in [(1, false), (2, true)] {
            state.apply(&MetadataRecord::HostRegistered(HostRegistration {
                node_id,
                incarnation: 7,
                host: format!("10.0.0.{node_id}"),
                ports: vec![9092, 9093],
                quorum_address: format!("10.0.0.{node_id}:9099"),
                fenced: false,
            }));
            if fenced {
                state.apply(&MetadataRecord::HostFenced {
                    node_id,
                    fenced: true,
                });
            }
        }
        // The first cluster id set stays.
        for id in ["first", "second"] {
            state.apply(&MetadataRecord::ClusterIdSet { id: id.into() });
        }
        let mut restored = MetadataState::default();
        restored
            .restore(&state.to_records(), state.version())
            .unwrap();
        assert_eq!(restored.version(), 8);
        assert_eq!(restored.cluster_id(), Some("first"));
        assert_eq!(restored.topics(), state.topics());
        assert_eq!(restored.hosts(), state.hosts());
        assert!(restored.hosts()[&2].fenced && !restored.hosts()[&1].fenced);
        assert_eq!(restored.topics()["a"].placement[1].leader_epoch, 1);
        assert_eq!(
            restored.restore(&[], 1),
            Err(VersionWentBack {
                current: 8,
                offered: 1
            })
        );
        assert_eq!(
            restored.topics().len(),
            1,
            "a refused restore changes nothing"
        );
    }
}
