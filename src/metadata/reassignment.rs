//! Partition reassignment (Kafka's AlterPartitionReassignments, KIP-455):
//! moving a partition's replicas to other brokers without losing a
//! committed record.
//!
//! A reassignment to `target` runs in two metadata changes. The first makes
//! the replicas `target` followed by the current replicas not in it, and
//! records the pending reassignment: the replicas being added start outside
//! the ISR and catch up through the ordinary follower fetch, and their
//! leader lets them in with AlterPartition. Once the ISR holds every target
//! replica (checked as each AlterPartition is planned, and when the
//! reassignment itself is, in case it already does), the second change
//! makes the replicas `target`, the ISR its members in `target`, and, when
//! the leader is not in `target`, the first of those as leader, epoch + 1.
//!
//! Invariants: a pending reassignment's `target` is a non-empty list of
//! distinct brokers, all among the partition's replicas; `adding` is the
//! part of `target` that was not a replica when the reassignment began, so
//! cancelling one removes exactly `adding` again; a completed or cancelled
//! reassignment leaves no pending record behind.

use super::record::MetadataRecord;
use super::state::{refuse, Defaults, MetadataState};
use super::{CommandError, PartitionPlacement, NO_LEADER};
use crate::protocol::ErrorCode;

/// Kafka's NO_REASSIGNMENT_IN_PROGRESS: a cancellation with nothing to cancel.
pub const NO_REASSIGNMENT_IN_PROGRESS: ErrorCode = ErrorCode(85);

/// A partition's reassignment in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reassignment {
    /// The replicas the partition will have, its preferred leader first.
    pub target: Vec<u32>,
    /// The target replicas that were not replicas when it began.
    pub adding: Vec<u32>,
}

impl Reassignment {
    /// The current replicas that leave once it completes.
    pub fn removing(&self, replicas: &[u32]) -> Vec<u32> {
        replicas
            .iter()
            .copied()
            .filter(|replica| !self.target.contains(replica))
            .collect()
    }
}

impl MetadataState {
    /// Starts (or replaces) the reassignment of one partition to `target`,
    /// or cancels the one in progress when `target` is `None`.
    pub(super) fn plan_reassign_partition(
        &self,
        name: &str,
        partition: i32,
        target: Option<&[u32]>,
        defaults: Defaults,
    ) -> Result<Vec<MetadataRecord>, CommandError> {
        let topic = self.topics().get(name);
        let current = topic
            .and_then(|topic| topic.placement.get(usize::try_from(partition).ok()?))
            .ok_or_else(|| {
                refuse(
                    ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                    format!("{name}-{partition} does not exist"),
                )
            })?;
        let pending = topic.and_then(|topic| topic.reassignments.get(&(partition as u32)));
        // The replicas as they were before any reassignment in progress.
        let original: Vec<u32> = current
            .replicas
            .iter()
            .copied()
            .filter(|replica| pending.is_none_or(|pending| !pending.adding.contains(replica)))
            .collect();
        let records = |placement: PartitionPlacement, set: Option<Option<Reassignment>>| {
            Self::partition_records(name, partition as u32, current, placement, set)
        };
        let Some(target) = target else {
            if pending.is_none() {
                return Err(refuse(
                    NO_REASSIGNMENT_IN_PROGRESS,
                    format!("{name}-{partition} has no reassignment in progress"),
                ));
            }
            return Ok(records(self.reshaped(current, original)?, Some(None)));
        };
        self.check_target(target, defaults)?;
        let mut replicas = target.to_vec();
        replicas.extend(original.iter().filter(|replica| !target.contains(replica)));
        let next = self.reshaped(current, replicas)?;
        let reassignment = Reassignment {
            target: target.to_vec(),
            adding: target
                .iter()
                .copied()
                .filter(|replica| !original.contains(replica))
                .collect(),
        };
        Ok(match self.completed(current, &next, &reassignment) {
            Some(done) => records(done, pending.map(|_| None)),
            None => records(next, Some(Some(reassignment))),
        })
    }

    /// A `PartitionChanged` when `next` differs from `current`, then, when
    /// `set` says one, the partition's `ReassignmentSet`.
    fn partition_records(
        name: &str,
        partition: u32,
        current: &PartitionPlacement,
        next: PartitionPlacement,
        set: Option<Option<Reassignment>>,
    ) -> Vec<MetadataRecord> {
        let mut records = Vec::new();
        if next != *current {
            records.push(MetadataRecord::PartitionChanged {
                name: name.to_string(),
                partition,
                placement: next,
            });
        }
        if let Some(reassignment) = set {
            records.push(MetadataRecord::ReassignmentSet {
                name: name.to_string(),
                partition,
                reassignment,
            });
        }
        records
    }

    /// A target names each broker once, at least one, each one new
    /// partitions could go to (a shard of a live host).
    fn check_target(&self, target: &[u32], defaults: Defaults) -> Result<(), CommandError> {
        // A single host (no registered hosts) has no follower fetch between
        // its shards, so an added replica could never catch up.
        if self.hosts().is_empty() {
            return Err(refuse(
                ErrorCode::INVALID_REQUEST,
                "reassigning replicas needs a cluster of hosts (--controller-quorum-voters)",
            ));
        }
        let distinct: std::collections::BTreeSet<u32> = target.iter().copied().collect();
        if target.is_empty() || distinct.len() != target.len() {
            return Err(refuse(
                ErrorCode::INVALID_REPLICA_ASSIGNMENT,
                format!("the target replicas {target:?} must name one or more brokers, each once"),
            ));
        }
        let eligible = self.eligible_brokers(defaults);
        if let Some(dead) = target.iter().find(|broker| !eligible.contains(broker)) {
            return Err(refuse(
                ErrorCode::INVALID_REPLICA_ASSIGNMENT,
                format!("broker {dead} of the target replicas is not a live broker"),
            ));
        }
        Ok(())
    }

    /// `current` with `replicas`: its ISR members among them (in their
    /// order), and its leader, or else the first of those ISR members on a
    /// live broker, epoch + 1. Refused when no ISR member would be left.
    fn reshaped(
        &self,
        current: &PartitionPlacement,
        replicas: Vec<u32>,
    ) -> Result<PartitionPlacement, CommandError> {
        let isr: Vec<u32> = replicas
            .iter()
            .copied()
            .filter(|replica| current.isr.contains(replica))
            .collect();
        if isr.is_empty() {
            return Err(refuse(
                ErrorCode::INVALID_REPLICA_ASSIGNMENT,
                format!(
                    "none of the replicas {replicas:?} is in sync ({:?})",
                    current.isr
                ),
            ));
        }
        Ok(self.led_within(current, replicas, isr))
    }

    /// A placement of `replicas` and `isr`, keeping `current`'s leader when
    /// it is in `isr`, else the first live member of `isr`; the epoch one
    /// past `current`'s when the leader changes.
    fn led_within(
        &self,
        current: &PartitionPlacement,
        replicas: Vec<u32>,
        isr: Vec<u32>,
    ) -> PartitionPlacement {
        let snapshot = self.snapshot_ref();
        let leader = if current.leader != NO_LEADER && isr.contains(&current.leader) {
            current.leader
        } else {
            isr.iter()
                .copied()
                .find(|&member| snapshot.broker_is_live(member))
                .unwrap_or(NO_LEADER)
        };
        let leader_epoch = if leader == current.leader {
            current.leader_epoch
        } else {
            current.leader_epoch + 1
        };
        PartitionPlacement {
            replicas,
            leader,
            leader_epoch,
            isr,
        }
    }

    /// The placement that completes `reassignment`, when `next` (what
    /// `current` is about to become) has every target replica in sync.
    pub(super) fn completed(
        &self,
        current: &PartitionPlacement,
        next: &PartitionPlacement,
        reassignment: &Reassignment,
    ) -> Option<PartitionPlacement> {
        let target = &reassignment.target;
        if !target.iter().all(|replica| next.isr.contains(replica)) {
            return None;
        }
        let mut done = self.led_within(next, target.clone(), target.clone());
        // The epoch grows once per record, measured from `current`.
        done.leader_epoch = if done.leader == current.leader {
            current.leader_epoch
        } else {
            current.leader_epoch + 1
        };
        Some(done)
    }

    /// The reassignment in progress of `name`'s `partition`, if any.
    pub fn reassignment_of(&self, name: &str, partition: u32) -> Option<&Reassignment> {
        self.topics().get(name)?.reassignments.get(&partition)
    }
}

#[cfg(test)]
#[path = "reassignment_tests.rs"]
mod tests;
