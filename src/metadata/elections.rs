//! Leaders and in-sync replicas, changed only through the metadata log:
//! a leader's AlterPartition (an ISR shrinks or grows), a host leaving
//! (fenced when its lease runs out, or asking first in a controlled
//! shutdown), and a host coming back (registered again).
//!
//! Invariants, for every plan here:
//! - a new leader is always on a live host, never on the host leaving, and
//!   a member of the ISR, unless the topic's
//!   `unclean.leader.election.enable` (false by default, the broker's
//!   default when the topic does not set it) allows a replica out of the
//!   ISR once no ISR member can lead; that replica becomes the whole ISR;
//! - an ISR is never empty: the last member stays even when its host
//!   leaves, and the partition then has [`NO_LEADER`] until that member's
//!   host comes back (KIP-966's last replica standing), or an unclean
//!   election is allowed and a replica out of the ISR is live;
//! - the leader epoch grows by exactly one on every leader change (to or
//!   from `NO_LEADER` included) and stays on ISR-only changes;
//! - an ISR keeps the order of the replicas.

use super::record::MetadataRecord;
use super::state::{refuse, MetadataState};
use super::{host_of, CommandError, PartitionPlacement, TopicMetadata, NO_LEADER};
use crate::protocol::ErrorCode;

/// Kafka's INELIGIBLE_REPLICA: an AlterPartition adds a replica that may
/// not join the ISR (its host is fenced or unknown).
const INELIGIBLE_REPLICA: ErrorCode = ErrorCode(107);

/// What a leader asks in an AlterPartition.
pub struct IsrChange<'a> {
    pub name: &'a str,
    pub partition: i32,
    pub leader: u32,
    pub leader_epoch: i32,
    pub isr: &'a [u32],
}

impl MetadataState {
    /// A leader's AlterPartition: refused unless its leader and epoch are
    /// current, its ISR holds the leader and only replicas, and every
    /// replica it adds is live. Nothing when the ISR is unchanged. When
    /// the ISR holds the preferred replica (`replicas[0]`) on a live host
    /// and another replica leads, leadership returns to it (epoch + 1).
    pub(super) fn plan_alter_partition(
        &self,
        change: IsrChange,
    ) -> Result<Vec<MetadataRecord>, CommandError> {
        let current = self.placement_of(change.name, change.partition)?;
        if change.leader_epoch < current.leader_epoch {
            return Err(refuse(
                ErrorCode::FENCED_LEADER_EPOCH,
                format!(
                    "leader epoch {} is older than the current {}",
                    change.leader_epoch, current.leader_epoch
                ),
            ));
        }
        if change.leader_epoch > current.leader_epoch {
            return Err(refuse(
                ErrorCode::UNKNOWN_LEADER_EPOCH,
                format!(
                    "leader epoch {} is newer than the current {}",
                    change.leader_epoch, current.leader_epoch
                ),
            ));
        }
        if change.leader != current.leader {
            return Err(refuse(
                ErrorCode::NOT_LEADER_OR_FOLLOWER,
                format!("broker {} does not lead this partition", change.leader),
            ));
        }
        let isr = Self::checked_isr(current, &change)?;
        let snapshot = self.snapshot_ref();
        if let Some(added) = isr
            .iter()
            .find(|member| !current.isr.contains(member) && !snapshot.broker_is_live(**member))
        {
            return Err(refuse(
                INELIGIBLE_REPLICA,
                format!("broker {added} is not live and cannot join the ISR"),
            ));
        }
        let mut next = PartitionPlacement {
            isr,
            ..current.clone()
        };
        let preferred = current.replicas[0];
        if next.isr.contains(&preferred)
            && next.leader != preferred
            && snapshot.broker_is_live(preferred)
        {
            next.leader = preferred;
            next.leader_epoch += 1;
        }
        // A reassignment whose target replicas are now all in sync
        // completes with this change (see `reassignment.rs`).
        let done = self
            .reassignment_of(change.name, change.partition as u32)
            .and_then(|pending| self.completed(current, &next, pending));
        let completing = done.is_some();
        if let Some(done) = done {
            next = done;
        }
        let mut records = Vec::new();
        if next != *current {
            records.push(MetadataRecord::PartitionChanged {
                name: change.name.to_string(),
                partition: change.partition as u32,
                placement: next,
            });
        }
        if completing {
            records.push(MetadataRecord::ReassignmentSet {
                name: change.name.to_string(),
                partition: change.partition as u32,
                reassignment: None,
            });
        }
        Ok(records)
    }

    fn placement_of(
        &self,
        name: &str,
        partition: i32,
    ) -> Result<&PartitionPlacement, CommandError> {
        self.topics()
            .get(name)
            .and_then(|topic| topic.placement.get(usize::try_from(partition).ok()?))
            .ok_or_else(|| {
                refuse(
                    ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                    format!("{name}-{partition} does not exist"),
                )
            })
    }

    /// The asked ISR in replica order, when it holds the leader and only
    /// replicas, each once.
    fn checked_isr(
        current: &PartitionPlacement,
        change: &IsrChange,
    ) -> Result<Vec<u32>, CommandError> {
        let isr: Vec<u32> = current
            .replicas
            .iter()
            .copied()
            .filter(|replica| change.isr.contains(replica))
            .collect();
        if isr.len() != change.isr.len() || !isr.contains(&change.leader) {
            return Err(refuse(
                ErrorCode::INVALID_REQUEST,
                format!(
                    "ISR {:?} must hold the leader {} and only replicas of {:?}, each once",
                    change.isr, change.leader, current.replicas
                ),
            ));
        }
        Ok(isr)
    }

    /// Host `node_id` leaves (fenced, or in a controlled shutdown): every
    /// partition it leads moves to the first ISR member on another live
    /// host (or, unclean, to a live replica out of it: `elect`), and its
    /// brokers leave every ISR they are not the last of.
    /// `unclean_default`: the broker's `unclean.leader.election.enable`.
    pub(super) fn plan_host_leaving(
        &self,
        node_id: u32,
        unclean_default: bool,
    ) -> Vec<MetadataRecord> {
        let snapshot = self.snapshot_ref();
        let eligible = |broker: u32| host_of(broker) != node_id && snapshot.broker_is_live(broker);
        self.plan_changes(None, |topic, current| {
            let mut isr: Vec<u32> = current
                .isr
                .iter()
                .copied()
                .filter(|&member| host_of(member) != node_id)
                .collect();
            if isr.is_empty() {
                isr = current.isr.clone();
            }
            if current.leader != NO_LEADER && host_of(current.leader) == node_id {
                let (leader, isr) = Self::elect(topic, current, isr, unclean_default, eligible);
                Self::with_leader(current, leader, isr)
            } else {
                Self::with_leader(current, current.leader, isr)
            }
        })
    }

    /// Partitions with no leader (of topic `only`, or of every topic) get
    /// the first ISR member on a live host back as leader (after a host
    /// registers or is unfenced), or, unclean, a live replica out of the
    /// ISR (`elect`; after a topic allowed it).
    pub(super) fn plan_leaders_back(
        &self,
        only: Option<&str>,
        unclean_default: bool,
    ) -> Vec<MetadataRecord> {
        let snapshot = self.snapshot_ref();
        self.plan_changes(only, |topic, current| {
            if current.leader != NO_LEADER {
                return current.clone();
            }
            let isr = current.isr.clone();
            let (leader, isr) = Self::elect(topic, current, isr, unclean_default, |broker| {
                snapshot.broker_is_live(broker)
            });
            Self::with_leader(current, leader, isr)
        })
    }

    /// The leader a partition that needs one gets, with its ISR: the first
    /// member of `isr` that is `eligible`, the ISR unchanged; else, when
    /// the topic's `unclean.leader.election.enable` (or `unclean_default`)
    /// is true, the first
    /// `eligible` replica, out of the ISR, which becomes the ISR alone:
    /// what it lacks of the old leader's log is lost, as Kafka's unclean
    /// election loses it, and the old members truncate to its log when
    /// they return. Else [`NO_LEADER`], the ISR unchanged.
    fn elect(
        topic: &TopicMetadata,
        current: &PartitionPlacement,
        isr: Vec<u32>,
        unclean_default: bool,
        eligible: impl Fn(u32) -> bool,
    ) -> (u32, Vec<u32>) {
        if let Some(leader) = isr.iter().copied().find(|&member| eligible(member)) {
            return (leader, isr);
        }
        let outside = current.replicas.iter().copied().find(|&r| eligible(r));
        match outside {
            Some(leader) if topic.unclean_leader_election(unclean_default) => {
                tracing::warn!(
                    "unclean leader election planned in topic {}: replica {leader}, out of the \
                     ISR {isr:?}, is to lead; records it does not have are lost",
                    topic.name
                );
                (leader, vec![leader])
            }
            _ => (NO_LEADER, isr),
        }
    }

    /// `current` with `leader` and `isr`, the epoch one up when the leader
    /// changes.
    fn with_leader(current: &PartitionPlacement, leader: u32, isr: Vec<u32>) -> PartitionPlacement {
        let leader_epoch = if leader == current.leader {
            current.leader_epoch
        } else {
            current.leader_epoch + 1
        };
        PartitionPlacement {
            replicas: current.replicas.clone(),
            leader,
            leader_epoch,
            isr,
        }
    }

    /// A `PartitionChanged` for every partition (of topic `only`, or of
    /// every topic) `change` changes.
    fn plan_changes(
        &self,
        only: Option<&str>,
        change: impl Fn(&TopicMetadata, &PartitionPlacement) -> PartitionPlacement,
    ) -> Vec<MetadataRecord> {
        let mut records = Vec::new();
        let topics = self.topics().values();
        for topic in topics.filter(|topic| only.is_none_or(|name| topic.name == name)) {
            records.extend(Self::topic_changes(topic, &change));
        }
        records
    }

    fn topic_changes<'a>(
        topic: &'a TopicMetadata,
        change: &'a impl Fn(&TopicMetadata, &PartitionPlacement) -> PartitionPlacement,
    ) -> impl Iterator<Item = MetadataRecord> + 'a {
        topic
            .placement
            .iter()
            .enumerate()
            .filter_map(move |(partition, current)| {
                let next = change(topic, current);
                (next != *current).then(|| MetadataRecord::PartitionChanged {
                    name: topic.name.clone(),
                    partition: partition as u32,
                    placement: next,
                })
            })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::metadata::state::Defaults;
    use crate::metadata::{Command, HostRegistration};

    const DEFAULTS: Defaults = Defaults {
        num_partitions: 1,
        shard_count: 1,
        node_id: 0,
        replication_factor: 1,
        unclean_leader_election: false,
        quorum_voters: 0,
    };

    /// A broker that allows unclean elections for topics that do not say.
    const UNCLEAN: Defaults = Defaults {
        unclean_leader_election: true,
        ..DEFAULTS
    };

    fn host(node_id: u32, incarnation: u64) -> HostRegistration {
        HostRegistration {
            node_id,
            incarnation,
            host: format!("10.0.0.{node_id}"),
            ports: vec![9092],
            quorum_address: format!("10.0.0.{node_id}:9099"),
            fenced: false,
        }
    }

    /// Broker (shard 0) of host `node`.
    fn b(node: u32) -> u32 {
        crate::metadata::broker_id(node, 0)
    }

    /// Plans `command` and applies it, checking on every partition that a
    /// leader change raised the epoch by exactly one, and otherwise kept
    /// it, and that no ISR is empty or holds a leader it does not.
    fn run(state: &mut MetadataState, command: Command) -> Result<(), ErrorCode> {
        run_with(state, command, DEFAULTS)
    }

    /// `run`, with the broker defaults `defaults`.
    fn run_with(
        state: &mut MetadataState,
        command: Command,
        defaults: Defaults,
    ) -> Result<(), ErrorCode> {
        let records = state
            .plan(&command, defaults)
            .map_err(|refused| refused.code)?;
        for record in &records {
            let before = state.topics().clone();
            state.apply(record);
            for (name, topic) in state.topics() {
                for (index, after) in topic.placement.iter().enumerate() {
                    assert!(!after.isr.is_empty(), "{name}-{index}: ISR never empty");
                    assert!(after.leader == NO_LEADER || after.isr.contains(&after.leader));
                    let Some(old) = before.get(name).and_then(|t| t.placement.get(index)) else {
                        continue;
                    };
                    let step = if old.leader == after.leader { 0 } else { 1 };
                    assert!(
                        step == 0
                            || after.leader == NO_LEADER
                            || state.snapshot_ref().broker_is_live(after.leader),
                        "{name}-{index}: a new leader is live"
                    );
                    assert_eq!(
                        after.leader_epoch,
                        old.leader_epoch + step,
                        "{name}-{index}"
                    );
                }
            }
        }
        Ok(())
    }

    /// Three hosts, topic "t" with one partition on `replicas`.
    fn three_hosts(replicas: Vec<u32>) -> MetadataState {
        let mut state = MetadataState::default();
        for node in 0..3 {
            run(&mut state, Command::RegisterHost(host(node, 1))).unwrap();
        }
        let create = Command::CreateTopic {
            name: "t".into(),
            partitions: -1,
            replication_factor: -1,
            assignment: Some(vec![replicas]),
            configs: BTreeMap::new(),
            validate_only: false,
        };
        run(&mut state, create).unwrap();
        state
    }

    fn placement(state: &MetadataState) -> PartitionPlacement {
        state.topics()["t"].placement[0].clone()
    }

    fn alter(leader: u32, leader_epoch: i32, isr: Vec<u32>) -> Command {
        Command::AlterPartition {
            name: "t".into(),
            partition: 0,
            leader,
            leader_epoch,
            isr,
        }
    }

    #[test]
    fn a_fenced_leader_gives_way_to_the_next_in_sync_replica() {
        let mut state = three_hosts(vec![b(0), b(1), b(2)]);
        run(&mut state, Command::FenceHost { node_id: 0 }).unwrap();
        let after = placement(&state);
        assert_eq!((after.leader, after.leader_epoch), (b(1), 1));
        assert_eq!(
            after.isr,
            vec![b(1), b(2)],
            "the fenced host leaves the ISR"
        );
        assert!(state.hosts()[&0].fenced);
    }

    #[test]
    fn a_new_leader_only_from_the_isr() {
        let mut state = three_hosts(vec![b(0), b(1), b(2)]);
        // Broker 1 fell behind: its leader shrank the ISR.
        run(&mut state, alter(b(0), 0, vec![b(0), b(2)])).unwrap();
        assert_eq!(
            placement(&state).leader_epoch,
            0,
            "an ISR change keeps the epoch"
        );
        run(&mut state, Command::FenceHost { node_id: 0 }).unwrap();
        assert_eq!(placement(&state).leader, b(2), "not the out-of-sync b(1)");
    }

    #[test]
    fn the_last_replica_standing_keeps_its_place_and_comes_back() {
        let mut state = only_host_0_in_sync();
        run(&mut state, Command::FenceHost { node_id: 0 }).unwrap();
        let after = placement(&state);
        assert_eq!((after.leader, after.leader_epoch), (NO_LEADER, 1));
        assert_eq!(after.isr, vec![b(0)], "ISR never empty");
        // Another host leaving changes nothing here; b(1) may not lead.
        run(&mut state, Command::FenceHost { node_id: 1 }).unwrap();
        assert_eq!(placement(&state), after);
        run(&mut state, Command::RegisterHost(host(1, 2))).unwrap();
        assert_eq!(placement(&state).leader, NO_LEADER, "no unclean election");
        // Host 0 comes back: its replica leads again.
        run(&mut state, Command::RegisterHost(host(0, 2))).unwrap();
        let back = placement(&state);
        assert_eq!(
            (back.leader, back.leader_epoch, back.isr),
            (b(0), 2, vec![b(0)])
        );
    }

    /// Topic "t" on b(0) and b(1), with b(1) fallen out of the ISR: b(0)
    /// is the last in-sync replica.
    fn only_host_0_in_sync() -> MetadataState {
        let mut state = three_hosts(vec![b(0), b(1)]);
        run(&mut state, alter(b(0), 0, vec![b(0)])).unwrap();
        state
    }

    fn set_unclean(state: &mut MetadataState, value: &str) {
        let configs = BTreeMap::from([("unclean.leader.election.enable".into(), value.into())]);
        let set = Command::SetTopicConfigs {
            name: "t".into(),
            configs,
            validate_only: false,
        };
        run(state, set).unwrap();
    }

    #[test]
    fn an_unclean_election_when_the_topic_allows_it() {
        // b(1) fell out of the ISR; then the last in-sync replica's host
        // leaves. With the topic's unclean.leader.election.enable, the
        // live out-of-sync b(1) leads at once, alone in the ISR.
        let mut state = only_host_0_in_sync();
        set_unclean(&mut state, "true");
        run(&mut state, Command::FenceHost { node_id: 0 }).unwrap();
        let after = placement(&state);
        assert_eq!(
            (after.leader, after.leader_epoch, after.isr),
            (b(1), 1, vec![b(1)])
        );
        // Host 0 comes back: b(1) keeps leading; b(0) must catch up (and
        // truncate what b(1) never had) to join the ISR again.
        run(&mut state, Command::RegisterHost(host(0, 2))).unwrap();
        assert_eq!(placement(&state).leader, b(1));
        assert_eq!(placement(&state).isr, vec![b(1)]);
    }

    #[test]
    fn allowing_unclean_elections_elects_a_leaderless_partition_at_once() {
        let mut state = only_host_0_in_sync();
        run(&mut state, Command::FenceHost { node_id: 0 }).unwrap();
        assert_eq!(placement(&state).leader, NO_LEADER);
        set_unclean(&mut state, "false");
        assert_eq!(placement(&state).leader, NO_LEADER, "still not allowed");
        set_unclean(&mut state, "true");
        let after = placement(&state);
        assert_eq!(
            (after.leader, after.leader_epoch, after.isr),
            (b(1), 2, vec![b(1)])
        );
    }

    #[test]
    fn the_broker_default_decides_for_topics_that_do_not_set_it() {
        let mut state = only_host_0_in_sync();
        run_with(&mut state, Command::FenceHost { node_id: 0 }, UNCLEAN).unwrap();
        assert_eq!(placement(&state).leader, b(1), "the broker allows it");

        let mut state = only_host_0_in_sync();
        set_unclean(&mut state, "false");
        run_with(&mut state, Command::FenceHost { node_id: 0 }, UNCLEAN).unwrap();
        assert_eq!(placement(&state).leader, NO_LEADER, "the topic refuses it");
        // Nor does a replica out of the ISR lead when its host registers.
        run_with(&mut state, Command::RegisterHost(host(1, 2)), UNCLEAN).unwrap();
        assert_eq!(placement(&state).leader, NO_LEADER);
    }

    #[test]
    fn a_quick_restart_of_the_last_in_sync_replica_is_no_unclean_election() {
        // Host 0 holds the only in-sync replica and restarts within its
        // session timeout; unclean elections are allowed, but the host is
        // back in the same change, so it leads again and nothing is lost.
        let mut state = only_host_0_in_sync();
        run_with(&mut state, Command::RegisterHost(host(0, 2)), UNCLEAN).unwrap();
        let after = placement(&state);
        assert_eq!((after.leader, after.isr), (b(0), vec![b(0)]));
    }

    #[test]
    fn a_host_back_before_its_fencing_gives_up_leadership_and_isr() {
        // Host 0 restarts within its session timeout (a new incarnation,
        // never fenced): its in-memory state is gone, so it leads nothing
        // and is in no ISR until it catches up again.
        let mut state = three_hosts(vec![b(0), b(1), b(2)]);
        let before = placement(&state);
        run(&mut state, Command::RegisterHost(host(0, 2))).unwrap();
        let after = placement(&state);
        assert_eq!(
            (after.leader, after.leader_epoch, after.isr.clone()),
            (b(1), before.leader_epoch + 1, vec![b(1), b(2)])
        );
        // The same incarnation again (a heartbeat) changes nothing.
        run(&mut state, Command::RegisterHost(host(0, 2))).unwrap();
        assert_eq!(placement(&state), after);
    }

    #[test]
    fn a_controlled_shutdown_moves_leadership_and_leaves_the_host_nothing_new() {
        let mut state = three_hosts(vec![b(2), b(0), b(1)]);
        run(&mut state, Command::ShutdownHost { node_id: 2 }).unwrap();
        let after = placement(&state);
        assert_eq!((after.leader, after.leader_epoch), (b(0), 1));
        assert_eq!(after.isr, vec![b(0), b(1)]);
        assert!(state.hosts()[&2].fenced);
        // A topic created while it stops has no replica there, and it may
        // not rejoin an ISR.
        let create = Command::CreateTopic {
            name: "u".into(),
            partitions: 6,
            replication_factor: 2,
            assignment: None,
            configs: BTreeMap::new(),
            validate_only: false,
        };
        run(&mut state, create).unwrap();
        let placements = &state.topics()["u"].placement;
        assert!(placements.iter().all(|placement| placement
            .replicas
            .iter()
            .all(|&replica| host_of(replica) != 2)));
        assert!(run(&mut state, alter(b(0), 1, vec![b(0), b(1), b(2)])).is_err());
        // Back with a new incarnation, it is a host like any other.
        run(&mut state, Command::RegisterHost(host(2, 2))).unwrap();
        assert!(!state.hosts()[&2].fenced);
        assert_eq!(
            run(&mut state, Command::ShutdownHost { node_id: 9 }),
            Err(ErrorCode::BROKER_NOT_AVAILABLE)
        );
    }

    #[test]
    fn alter_partition_is_checked_against_the_current_placement() {
        let mut state = three_hosts(vec![b(0), b(1), b(2)]);
        run(&mut state, Command::FenceHost { node_id: 0 }).unwrap();
        // b(0) led at epoch 0; b(1) leads at epoch 1 now.
        let refusals = [
            (
                alter(b(0), 0, vec![b(0), b(1)]),
                ErrorCode::FENCED_LEADER_EPOCH,
            ),
            (alter(b(1), 2, vec![b(1)]), ErrorCode::UNKNOWN_LEADER_EPOCH),
            (
                alter(b(2), 1, vec![b(2)]),
                ErrorCode::NOT_LEADER_OR_FOLLOWER,
            ),
            (alter(b(1), 1, vec![b(2)]), ErrorCode::INVALID_REQUEST),
            (alter(b(1), 1, vec![b(1), 7]), ErrorCode::INVALID_REQUEST),
            (alter(b(1), 1, vec![b(1), b(0)]), INELIGIBLE_REPLICA),
        ];
        for (command, code) in refusals {
            assert_eq!(run(&mut state, command.clone()), Err(code), "{command:?}");
        }
        assert_eq!(
            state.plan(&alter(b(1), 1, vec![b(2), b(1)]), DEFAULTS),
            Ok(Vec::new()),
            "the same ISR (in any order) changes nothing"
        );
    }

    #[test]
    fn the_preferred_leader_returns_once_back_in_sync() {
        let mut state = three_hosts(vec![b(0), b(1), b(2)]);
        run(&mut state, Command::FenceHost { node_id: 0 }).unwrap();
        run(&mut state, Command::RegisterHost(host(0, 2))).unwrap();
        let led = placement(&state);
        assert_eq!((led.leader, led.isr.clone()), (b(1), vec![b(1), b(2)]));
        // Its leader lets b(0) back in: b(0) is preferred, so it leads.
        run(&mut state, alter(b(1), 1, vec![b(1), b(2), b(0)])).unwrap();
        let back = placement(&state);
        assert_eq!((back.leader, back.leader_epoch), (b(0), 2));
        assert_eq!(back.isr, vec![b(0), b(1), b(2)], "in replica order");
    }
}
