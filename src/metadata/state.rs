//! The controller's state machine: plans commands into records and applies
//! records. No clock, and no IO but one: planning a new topic draws its id
//! from `/dev/urandom` (`store::random_bytes`). Applying records is pure
//! (the id travels in the record), so replay at start and live changes run
//! the very same code.
//!
//! Invariants: every topic has at least one partition and every partition a
//! leader below `shard_count`, among its replicas; topic names and ids are
//! unique; a partition's leader epoch never decreases, and grows whenever
//! its leader changes (checked as each record is applied).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::record::MetadataRecord;
use super::topic_config;
use super::{Command, CommandError, PartitionPlacement, Snapshot, TopicMetadata};
use crate::limits::{PARTITIONS_PER_TOPIC_MAX, TOPIC_NAME_BYTES_MAX};
use crate::protocol::ErrorCode;

#[derive(Debug, Default, Clone)]
pub struct MetadataState {
    snapshot: Snapshot,
}

/// Settings the controller applies to commands that leave things unsaid.
#[derive(Debug, Clone, Copy)]
pub struct Defaults {
    pub num_partitions: i32,
    /// This host's shards, used for placement while no host is registered
    /// (a single host with no quorum).
    pub shard_count: u32,
    /// This host's `node.id`.
    pub node_id: u32,
    /// `default.replication.factor`.
    pub replication_factor: i16,
    /// `unclean.leader.election.enable`, for topics that do not set it.
    pub unclean_leader_election: bool,
    /// The voters of the metadata quorum (0 on a single host): hosts the
    /// cluster has even before they registered, so the offsets topic made
    /// while some are still starting waits for them instead of taking
    /// fewer replicas for good.
    pub quorum_voters: usize,
}

pub(super) fn refuse(code: ErrorCode, message: impl Into<String>) -> CommandError {
    CommandError {
        code,
        message: message.into(),
    }
}

/// Kafka's rule for topic names.
pub fn validate_topic_name(name: &str) -> Result<(), CommandError> {
    if name.is_empty() || name == "." || name == ".." {
        return Err(refuse(
            ErrorCode::INVALID_TOPIC_EXCEPTION,
            format!("Topic name '{name}' is illegal"),
        ));
    }
    if name.len() > TOPIC_NAME_BYTES_MAX {
        return Err(refuse(
            ErrorCode::INVALID_TOPIC_EXCEPTION,
            format!("Topic name is longer than {TOPIC_NAME_BYTES_MAX} characters"),
        ));
    }
    if !name
        .bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'))
    {
        return Err(refuse(
            ErrorCode::INVALID_TOPIC_EXCEPTION,
            format!("Topic name '{name}' is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"),
        ));
    }
    Ok(())
}

impl MetadataState {
    pub fn snapshot(&self) -> Arc<Snapshot> {
        Arc::new(self.snapshot.clone())
    }

    /// The state as it is, without a copy.
    pub(super) fn snapshot_ref(&self) -> &Snapshot {
        &self.snapshot
    }

    /// The cluster's id, once its quorum set it.
    pub fn cluster_id(&self) -> Option<&str> {
        self.snapshot.cluster_id.as_deref().map(String::as_str)
    }

    /// How many records have been applied (or what a restored snapshot
    /// says it was): shards order installed snapshots by it.
    pub fn version(&self) -> u64 {
        self.snapshot.version
    }

    /// Sets the version after a restore from records (see
    /// `snapshot_records.rs`), whose replay counted only the records that
    /// describe the state, not every record that led to it.
    pub(super) fn set_version(&mut self, version: u64) {
        self.snapshot.version = version;
    }

    pub fn apply(&mut self, record: &MetadataRecord) {
        let topics = &mut self.snapshot.topics;
        match record {
            MetadataRecord::TopicCreated {
                id,
                name,
                placement,
                configs,
            } => {
                let topic = TopicMetadata {
                    name: name.to_string(),
                    id: *id,
                    placement: placement.clone(),
                    configs: configs.iter().cloned().collect(),
                    reassignments: BTreeMap::new(),
                };
                topics.insert(name.clone(), Arc::new(topic));
            }
            MetadataRecord::TopicDeleted { name } => {
                topics.remove(name);
            }
            MetadataRecord::PartitionsAdded { name, placement } => {
                if let Some(topic) = topics.get_mut(name) {
                    Arc::make_mut(topic).placement.extend_from_slice(placement);
                }
            }
            MetadataRecord::TopicConfigsSet { name, configs } => {
                if let Some(topic) = topics.get_mut(name) {
                    Arc::make_mut(topic).configs = configs.iter().cloned().collect();
                }
            }
            MetadataRecord::PartitionsMoved { name, moves } => {
                if let Some(topic) = topics.get_mut(name) {
                    let topic = Arc::make_mut(topic);
                    for (partition, moved) in moves {
                        if let Some(slot) = topic.placement.get_mut(*partition as usize) {
                            *slot = Self::move_partition(slot, moved);
                        }
                    }
                }
            }
            MetadataRecord::HostRegistered(host) => {
                let host = super::HostRegistration {
                    fenced: false,
                    ..host.clone()
                };
                self.snapshot.hosts.insert(host.node_id, Arc::new(host));
            }
            MetadataRecord::HostFenced { node_id, fenced } => {
                if let Some(host) = self.snapshot.hosts.get_mut(node_id) {
                    Arc::make_mut(host).fenced = *fenced;
                }
            }
            MetadataRecord::HostRemoved { node_id } => {
                self.snapshot.hosts.remove(node_id);
            }
            MetadataRecord::ClusterIdSet { id } => {
                if self.snapshot.cluster_id.is_none() {
                    self.snapshot.cluster_id = Some(Arc::new(id.clone()));
                }
            }
            MetadataRecord::PartitionChanged {
                name,
                partition,
                placement,
            } => {
                if let Some(topic) = topics.get_mut(name) {
                    let topic = Arc::make_mut(topic);
                    if let Some(slot) = topic.placement.get_mut(*partition as usize) {
                        *slot = Self::change_partition(slot, placement);
                    }
                }
            }
            MetadataRecord::ReassignmentSet {
                name,
                partition,
                reassignment,
            } => {
                if let Some(topic) = topics.get_mut(name) {
                    let reassignments = &mut Arc::make_mut(topic).reassignments;
                    match reassignment {
                        Some(pending) => reassignments.insert(*partition, pending.clone()),
                        None => reassignments.remove(partition),
                    };
                }
            }
        }
        self.snapshot.version += 1;
    }

    /// The placement a move leaves: the record's, with its epoch raised
    /// to one past the current epoch when the leader changes (records of
    /// the first format carry epoch 0 for every move).
    fn move_partition(
        current: &PartitionPlacement,
        moved: &PartitionPlacement,
    ) -> PartitionPlacement {
        let derived = current.moved_to(moved.leader);
        let placement = PartitionPlacement {
            leader_epoch: moved.leader_epoch.max(derived.leader_epoch),
            ..moved.clone()
        };
        Self::check_epoch(current, &placement);
        placement
    }

    /// The placement a change leaves: the record's. The controller plans
    /// each with the right epoch; one that would go back (a damaged log)
    /// gets the least epoch that keeps the rule, as a move does.
    fn change_partition(
        current: &PartitionPlacement,
        changed: &PartitionPlacement,
    ) -> PartitionPlacement {
        let least = if changed.leader == current.leader {
            current.leader_epoch
        } else {
            current.leader_epoch + 1
        };
        let placement = PartitionPlacement {
            leader_epoch: changed.leader_epoch.max(least),
            ..changed.clone()
        };
        Self::check_epoch(current, &placement);
        placement
    }

    /// Leader epochs never decrease, and grow with each new leader (a
    /// partition losing its leader, or getting one back, included).
    fn check_epoch(current: &PartitionPlacement, next: &PartitionPlacement) {
        assert!(
            next.leader_epoch >= current.leader_epoch
                && (next.leader == current.leader || next.leader_epoch > current.leader_epoch),
            "leader epochs never decrease and grow with each new leader"
        );
    }

    /// The brokers new partitions may go to: the shards of every
    /// registered host that is not fenced, or, with no host registered (a
    /// single host with no quorum), this host's own shards.
    pub fn eligible_brokers(&self, defaults: Defaults) -> Vec<u32> {
        if self.snapshot.hosts.is_empty() {
            return (0..defaults.shard_count)
                .map(|shard| super::broker_id(defaults.node_id, shard))
                .collect();
        }
        self.snapshot
            .hosts
            .values()
            .filter(|host| !host.fenced)
            .flat_map(|host| host.brokers().collect::<Vec<u32>>())
            .collect()
    }

    /// How many partitions each of `brokers` leads now.
    fn load(&self, brokers: &[u32]) -> BTreeMap<u32, usize> {
        let mut load: BTreeMap<u32, usize> = brokers.iter().map(|&broker| (broker, 0)).collect();
        for topic in self.snapshot.topics.values() {
            for placement in &topic.placement {
                if let Some(count) = load.get_mut(&placement.leader) {
                    *count += 1;
                }
            }
        }
        load
    }

    /// Turns a command into the records that carry it out, or refuses it.
    /// A validate-only command is planned the same way and then not applied.
    pub fn plan(
        &self,
        command: &Command,
        defaults: Defaults,
    ) -> Result<Vec<MetadataRecord>, CommandError> {
        match command {
            Command::CreateTopic {
                name,
                partitions,
                replication_factor,
                assignment,
                configs,
                ..
            } => self.plan_create_topic(
                name,
                *partitions,
                *replication_factor,
                assignment.as_deref(),
                configs,
                defaults,
            ),
            Command::DeleteTopic { name } => self.plan_delete_topic(name),
            Command::SetTopicConfigs { name, configs, .. } => {
                self.plan_set_configs(name, configs, defaults)
            }
            Command::CreatePartitions {
                name,
                count,
                assignment,
                ..
            } => self.plan_create_partitions(name, *count, assignment.as_deref(), defaults),
            Command::RegisterHost(host) => {
                Ok(self.plan_register_host(host, defaults.unclean_leader_election))
            }
            Command::FenceHost { node_id } => {
                Ok(self.plan_fence_host(*node_id, defaults.unclean_leader_election))
            }
            Command::RemoveHost { node_id } => self.plan_remove_host(*node_id),
            Command::Import(records) => self.plan_import(records),
            Command::AlterPartition {
                name,
                partition,
                leader,
                leader_epoch,
                isr,
            } => self.plan_alter_partition(super::elections::IsrChange {
                name,
                partition: *partition,
                leader: *leader,
                leader_epoch: *leader_epoch,
                isr,
            }),
            Command::ShutdownHost { node_id } => {
                self.plan_shutdown_host(*node_id, defaults.unclean_leader_election)
            }
            Command::ClaimClusterId { id } => Ok(match self.snapshot.cluster_id {
                Some(_) => Vec::new(),
                None => vec![MetadataRecord::ClusterIdSet { id: id.clone() }],
            }),
            Command::ReassignPartition {
                name,
                partition,
                target,
            } => self.plan_reassign_partition(name, *partition, target.as_deref(), defaults),
        }
    }

    fn plan_create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        assignment: Option<&[Vec<u32>]>,
        configs: &BTreeMap<String, String>,
        defaults: Defaults,
    ) -> Result<Vec<MetadataRecord>, CommandError> {
        validate_topic_name(name)?;
        if self.snapshot.topics.contains_key(name) {
            return Err(refuse(
                ErrorCode::TOPIC_ALREADY_EXISTS,
                format!("Topic '{name}' already exists."),
            ));
        }
        for (key, value) in configs {
            topic_config::validate(key, value)
                .map_err(|message| refuse(ErrorCode::INVALID_CONFIG, message))?;
        }
        let placement = match assignment {
            Some(assignment) => {
                if assignment.is_empty() || partitions != -1 || replication_factor != -1 {
                    return Err(refuse(
                        ErrorCode::INVALID_REQUEST,
                        "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.",
                    ));
                }
                Self::check_assignment(assignment, &self.eligible_brokers(defaults))?;
                super::placement::assigned(assignment)
            }
            None => {
                let count = if partitions == -1 {
                    defaults.num_partitions
                } else {
                    partitions
                };
                if count <= 0 || count > PARTITIONS_PER_TOPIC_MAX {
                    return Err(refuse(
                        ErrorCode::INVALID_PARTITIONS,
                        format!("Number of partitions must be between 1 and {PARTITIONS_PER_TOPIC_MAX}, not {count}."),
                    ));
                }
                let brokers = self.eligible_brokers(defaults);
                let factor =
                    self.resolve_replication_factor(name, replication_factor, &brokers, defaults)?;
                self.place(count as usize, factor, &brokers)?
            }
        };
        let id = super::store::random_bytes::<16>().map_err(|error| {
            refuse(
                ErrorCode::UNKNOWN_SERVER_ERROR,
                format!("could not make a topic id: {error}"),
            )
        })?;
        Ok(vec![MetadataRecord::TopicCreated {
            id,
            name: name.to_string(),
            placement,
            configs: configs
                .iter()
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect(),
        }])
    }

    fn plan_delete_topic(&self, name: &str) -> Result<Vec<MetadataRecord>, CommandError> {
        if !self.snapshot.topics.contains_key(name) {
            return Err(refuse(
                ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                "This server does not host this topic-partition.",
            ));
        }
        if super::is_internal(name) {
            return Err(refuse(
                ErrorCode::INVALID_REQUEST,
                format!("Cannot delete internal topic {name}: it holds every group's committed offsets."),
            ));
        }
        Ok(vec![MetadataRecord::TopicDeleted {
            name: name.to_string(),
        }])
    }

    /// Replaces a topic's configs; a partition left without a leader gets
    /// one at once when the new configs allow an unclean election.
    fn plan_set_configs(
        &self,
        name: &str,
        configs: &BTreeMap<String, String>,
        defaults: Defaults,
    ) -> Result<Vec<MetadataRecord>, CommandError> {
        if !self.snapshot.topics.contains_key(name) {
            return Err(refuse(
                ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                format!("The topic '{name}' does not exist."),
            ));
        }
        for (key, value) in configs {
            topic_config::validate(key, value)
                .map_err(|message| refuse(ErrorCode::INVALID_CONFIG, message))?;
        }
        let set = MetadataRecord::TopicConfigsSet {
            name: name.to_string(),
            configs: configs
                .iter()
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect(),
        };
        let mut after = self.clone();
        after.apply(&set);
        let mut records = vec![set];
        records.extend(after.plan_leaders_back(Some(name), defaults.unclean_leader_election));
        Ok(records)
    }

    fn plan_create_partitions(
        &self,
        name: &str,
        count: i32,
        assignment: Option<&[Vec<u32>]>,
        defaults: Defaults,
    ) -> Result<Vec<MetadataRecord>, CommandError> {
        let Some(topic) = self.snapshot.topics.get(name) else {
            return Err(refuse(
                ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                format!("The topic '{name}' does not exist."),
            ));
        };
        if super::is_internal(name) {
            return Err(refuse(
                ErrorCode::INVALID_REQUEST,
                format!("Cannot add partitions to internal topic {name}: groups are placed by its partition count."),
            ));
        }
        let current = topic.placement.len() as i32;
        if count <= current {
            return Err(refuse(
                ErrorCode::INVALID_PARTITIONS,
                format!("Topic currently has {current} partitions, which is higher than or equal to the requested {count}."),
            ));
        }
        if count > PARTITIONS_PER_TOPIC_MAX {
            return Err(refuse(
                ErrorCode::INVALID_PARTITIONS,
                format!("At most {PARTITIONS_PER_TOPIC_MAX} partitions."),
            ));
        }
        let added = (count - current) as usize;
        let placement = match assignment {
            Some(assignment) => {
                if assignment.len() != added {
                    return Err(refuse(
                        ErrorCode::INVALID_REPLICA_ASSIGNMENT,
                        format!("Increasing the number of partitions by {added} but {} assignments provided.", assignment.len()),
                    ));
                }
                Self::check_assignment(assignment, &self.eligible_brokers(defaults))?;
                if assignment[0].len() != topic.placement[0].replicas.len() {
                    return Err(refuse(
                        ErrorCode::INVALID_REPLICA_ASSIGNMENT,
                        format!(
                            "The new partitions need {} replicas each, as the topic's have",
                            topic.placement[0].replicas.len()
                        ),
                    ));
                }
                super::placement::assigned(assignment)
            }
            None => {
                // New partitions get as many replicas as the topic's first.
                let brokers = self.eligible_brokers(defaults);
                let factor = topic.placement[0].replicas.len();
                Self::check_factor(factor, super::placement::host_count(&brokers))?;
                self.place(added, factor, &brokers)?
            }
        };
        Ok(vec![MetadataRecord::PartitionsAdded {
            name: name.to_string(),
            placement,
        }])
    }

    /// Records that move every partition whose leader is not one of
    /// `brokers` (the shards this host has now, on a single host restarted
    /// with fewer `--cores` or another `--node-id`) to the least loaded of
    /// them.
    pub fn plan_reassignment(&self, brokers: &[u32]) -> Vec<MetadataRecord> {
        self.plan_moves(|leader| !brokers.contains(&leader), brokers)
    }

    /// Records that move every replica `gone` names to the least loaded of
    /// `targets` (none when `targets` is empty): a single replica moves
    /// whole (`PartitionsMoved`); a replica of several is replaced in
    /// place, ISR and leadership included (`PartitionChanged`), which keeps
    /// replicas on distinct hosts while `targets` are on the gone one's.
    pub fn plan_moves(&self, gone: impl Fn(u32) -> bool, targets: &[u32]) -> Vec<MetadataRecord> {
        let mut load = self.load(targets);
        let mut records = Vec::new();
        for topic in self.snapshot.topics.values() {
            let mut moves = Vec::new();
            for (partition, placement) in topic.placement.iter().enumerate() {
                if !placement.replicas.iter().any(|&replica| gone(replica)) {
                    continue;
                }
                let mut replaced = placement.clone();
                for replica in placement.replicas.iter().copied().filter(|&r| gone(r)) {
                    let Some(target) = super::placement::least_loaded(&load) else {
                        return Vec::new();
                    };
                    *load.get_mut(&target).expect("a target of the load") += 1;
                    let swap = |broker: &mut u32| {
                        if *broker == replica {
                            *broker = target;
                        }
                    };
                    replaced.replicas.iter_mut().for_each(swap);
                    replaced.isr.iter_mut().for_each(swap);
                    swap(&mut replaced.leader);
                }
                if replaced.leader != placement.leader {
                    replaced.leader_epoch += 1;
                }
                if placement.replicas.len() == 1 {
                    moves.push((partition as u32, placement.moved_to(replaced.replicas[0])));
                } else {
                    records.push(MetadataRecord::PartitionChanged {
                        name: topic.name.clone(),
                        partition: partition as u32,
                        placement: replaced,
                    });
                }
            }
            if !moves.is_empty() {
                records.push(MetadataRecord::PartitionsMoved {
                    name: topic.name.clone(),
                    moves,
                });
            }
        }
        records
    }

    pub fn hosts(&self) -> &BTreeMap<u32, Arc<super::HostRegistration>> {
        &self.snapshot.hosts
    }

    pub fn topics(&self) -> &BTreeMap<String, Arc<TopicMetadata>> {
        &self.snapshot.topics
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(name: &str, partitions: i32) -> Command {
        Command::CreateTopic {
            name: name.into(),
            partitions,
            replication_factor: -1,
            assignment: None,
            configs: BTreeMap::new(),
            validate_only: false,
        }
    }

    const DEFAULTS: Defaults = Defaults {
        num_partitions: 1,
        shard_count: 2,
        node_id: 0,
        replication_factor: 1,
        unclean_leader_election: false,
        quorum_voters: 0,
    };

    #[test]
    fn places_partitions_on_least_loaded_shards() {
        let mut state = MetadataState::default();
        for record in state.plan(&create("a", 3), DEFAULTS).unwrap() {
            state.apply(&record);
        }
        let leaders = |state: &MetadataState, name: &str| -> Vec<u32> {
            state.topics()[name]
                .placement
                .iter()
                .map(|placement| placement.leader)
                .collect()
        };
        assert_eq!(leaders(&state, "a"), vec![0, 1, 0]);
        for record in state.plan(&create("b", -1), DEFAULTS).unwrap() {
            state.apply(&record);
        }
        assert_eq!(leaders(&state, "b"), vec![1]);
        assert!(state.topics()["a"]
            .placement
            .iter()
            .all(|placement| placement.leader_epoch == 0
                && placement.replicas == vec![placement.leader]));
    }

    #[test]
    fn refuses_what_kafka_refuses() {
        let mut state = MetadataState::default();
        for record in state.plan(&create("a", 1), DEFAULTS).unwrap() {
            state.apply(&record);
        }
        assert_eq!(
            state.plan(&create("a", 1), DEFAULTS).unwrap_err().code,
            ErrorCode::TOPIC_ALREADY_EXISTS
        );
        assert_eq!(
            state
                .plan(&create("bad name", 1), DEFAULTS)
                .unwrap_err()
                .code,
            ErrorCode::INVALID_TOPIC_EXCEPTION
        );
        assert_eq!(
            state.plan(&create("z", 0), DEFAULTS).unwrap_err().code,
            ErrorCode::INVALID_PARTITIONS
        );
        let shrink = Command::CreatePartitions {
            name: "a".into(),
            count: 1,
            assignment: None,
            validate_only: false,
        };
        assert_eq!(
            state.plan(&shrink, DEFAULTS).unwrap_err().code,
            ErrorCode::INVALID_PARTITIONS
        );
        let gone = Command::DeleteTopic {
            name: "nope".into(),
        };
        assert_eq!(
            state.plan(&gone, DEFAULTS).unwrap_err().code,
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
        );
    }

    /// Topic "a" with one partition on each of four shards.
    fn four_partitions_on_four_shards() -> MetadataState {
        let mut state = MetadataState::default();
        let four = Defaults {
            num_partitions: 1,
            shard_count: 4,
            node_id: 0,
            replication_factor: 1,
            unclean_leader_election: false,
            quorum_voters: 0,
        };
        for record in state.plan(&create("a", 4), four).unwrap() {
            state.apply(&record);
        }
        state
    }

    #[test]
    fn reassigns_partitions_of_missing_shards() {
        let mut state = four_partitions_on_four_shards();
        let before = state.topics()["a"].placement.clone();
        for record in state.plan_reassignment(&[0, 1]) {
            state.apply(&record);
        }
        let after = &state.topics()["a"].placement;
        assert!(after.iter().all(|placement| placement.leader < 2));
        for (before, after) in before.iter().zip(after) {
            let expected = if before.leader < 2 { 0 } else { 1 };
            assert_eq!(after.leader_epoch, expected, "a moved leader's epoch grows");
            assert_eq!(after.replicas, vec![after.leader]);
        }
        assert!(state.plan_reassignment(&[0, 1]).is_empty());
    }

    /// A move recorded in the first format (epoch 0) still raises the
    /// epoch when replayed: epochs never go back.
    #[test]
    fn moves_of_the_first_format_raise_the_epoch_on_replay() {
        let mut state = four_partitions_on_four_shards();
        for shard in [0, 1, 0] {
            state.apply(&MetadataRecord::PartitionsMoved {
                name: "a".into(),
                moves: vec![(3, PartitionPlacement::single(shard))],
            });
        }
        let moved = &state.topics()["a"].placement[3];
        assert_eq!((moved.leader, moved.leader_epoch), (0, 3));
    }
}
