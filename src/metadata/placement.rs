//! Where new partitions go: how many replicas (the topic's replication
//! factor, resolved against the broker default and the live hosts), on
//! which brokers (one per host, balanced by load), and which leads.
//!
//! Invariants: the replicas of a partition are on distinct live hosts, so
//! a replication factor above the number of live hosts is refused
//! (INVALID_REPLICATION_FACTOR), never silently lowered, except for the
//! topics the broker creates itself (auto-created topics and
//! `__consumer_offsets`), which get as many as the live hosts allow. The
//! leader is `replicas[0]` (the preferred leader) and every new replica is
//! in sync. With one host and replication factor 1 placement is exactly
//! what it was before replication: the least-loaded shard leads.

use std::collections::{BTreeMap, BTreeSet};

use super::state::{refuse, Defaults, MetadataState};
use super::{host_of, CommandError, PartitionPlacement};
use crate::limits::{OFFSETS_TOPIC_REPLICATION_FACTOR, SHARDS_MAX};
use crate::protocol::ErrorCode;

/// The `replication_factor` of a topic the broker creates on a client's
/// behalf (auto-creation): the broker default, or fewer when fewer hosts
/// are live. Clients cannot ask for it (CreateTopics refuses below -1).
pub const REPLICATION_FACTOR_DEFAULT_UP_TO_LIVE_HOSTS: i16 = -2;

/// How many distinct hosts `brokers` are on.
pub fn host_count(brokers: &[u32]) -> usize {
    brokers
        .iter()
        .map(|&broker| host_of(broker))
        .collect::<BTreeSet<u32>>()
        .len()
}

/// How many partitions lead on, and how many replicas live on, each broker.
struct Load {
    leaders: BTreeMap<u32, usize>,
    replicas: BTreeMap<u32, usize>,
}

impl MetadataState {
    /// The replication factor topic `name` gets when created with
    /// `requested`, among the live `brokers`. The offsets topic takes
    /// `offsets.topic.replication.factor` up to the hosts the cluster has
    /// (registered, live or not, or its quorum voters, registered yet or
    /// not): while some are down it is refused (FindCoordinator
    /// then says COORDINATOR_NOT_AVAILABLE and clients retry), as Kafka
    /// does, rather than made with fewer replicas for good.
    pub(super) fn resolve_replication_factor(
        &self,
        name: &str,
        requested: i16,
        brokers: &[u32],
        defaults: Defaults,
    ) -> Result<usize, CommandError> {
        let live = host_count(brokers);
        let factor = match requested {
            -1 if super::is_internal(name) => {
                let hosts = self.hosts().len().max(defaults.quorum_voters).max(1);
                OFFSETS_TOPIC_REPLICATION_FACTOR.min(hosts)
            }
            -1 => defaults.replication_factor.max(1) as usize,
            REPLICATION_FACTOR_DEFAULT_UP_TO_LIVE_HOSTS => {
                (defaults.replication_factor.max(1) as usize).min(live.max(1))
            }
            requested if requested < 1 => {
                return Err(refuse(
                    ErrorCode::INVALID_REPLICATION_FACTOR,
                    "Replication factor must be larger than 0, or -1 to use the default value.",
                ))
            }
            requested => requested as usize,
        };
        Self::check_factor(factor, live)?;
        Ok(factor.max(1))
    }

    /// Refuses `factor` replicas when fewer hosts are live.
    pub(super) fn check_factor(factor: usize, live_hosts: usize) -> Result<(), CommandError> {
        if factor > live_hosts {
            return Err(refuse(
                ErrorCode::INVALID_REPLICATION_FACTOR,
                format!("Unable to replicate the partition {factor} time(s): The target replication factor of {factor} cannot be reached because only {live_hosts} host(s) are live."),
            ));
        }
        Ok(())
    }

    fn current_load(&self, brokers: &[u32]) -> Load {
        let mut load = Load {
            leaders: brokers.iter().map(|&broker| (broker, 0)).collect(),
            replicas: brokers.iter().map(|&broker| (broker, 0)).collect(),
        };
        for topic in self.topics().values() {
            for placement in &topic.placement {
                if let Some(count) = load.leaders.get_mut(&placement.leader) {
                    *count += 1;
                }
                for replica in &placement.replicas {
                    if let Some(count) = load.replicas.get_mut(replica) {
                        *count += 1;
                    }
                }
            }
        }
        load
    }

    /// Places `count` new partitions of `factor` replicas each: the leader
    /// on the broker leading fewest partitions (ties to the lowest shard
    /// index, then host, so partitions alternate between hosts), each
    /// follower on another host, the one holding fewest replicas, hosts
    /// taken round-robin from the leader's.
    pub(super) fn place(
        &self,
        count: usize,
        factor: usize,
        brokers: &[u32],
    ) -> Result<Vec<PartitionPlacement>, CommandError> {
        let mut load = self.current_load(brokers);
        let hosts = brokers.iter().map(|&broker| host_of(broker) + 1).max();
        let hosts = hosts.unwrap_or(1);
        (0..count)
            .map(|_| {
                let leader = least_loaded(&load.leaders).ok_or_else(|| {
                    refuse(
                        ErrorCode::BROKER_NOT_AVAILABLE,
                        "no broker is available to place partitions on",
                    )
                })?;
                let mut replicas = vec![leader];
                while replicas.len() < factor {
                    let taken: BTreeSet<u32> = replicas.iter().map(|&r| host_of(r)).collect();
                    let follower = load
                        .replicas
                        .iter()
                        .filter(|(broker, _)| !taken.contains(&host_of(**broker)))
                        .min_by_key(|&(&broker, &count)| {
                            let after_leader = (host_of(broker) + hosts - host_of(leader)) % hosts;
                            (count, broker % SHARDS_MAX as u32, after_leader, broker)
                        })
                        .map(|(&broker, _)| broker);
                    let Some(follower) = follower else {
                        return Err(refuse(
                            ErrorCode::INVALID_REPLICATION_FACTOR,
                            format!("Not enough live hosts for {factor} replicas"),
                        ));
                    };
                    replicas.push(follower);
                }
                *load.leaders.get_mut(&leader).expect("a broker of the load") += 1;
                for replica in &replicas {
                    *load
                        .replicas
                        .get_mut(replica)
                        .expect("a broker of the load") += 1;
                }
                Ok(PartitionPlacement::replicated(replicas))
            })
            .collect()
    }

    /// Checks a client's assignment (replicas per partition, the first one
    /// preferred leader): every broker live, no host twice in a partition,
    /// and the same number of replicas everywhere, as Kafka requires.
    pub(super) fn check_assignment(
        assignment: &[Vec<u32>],
        brokers: &[u32],
    ) -> Result<(), CommandError> {
        let invalid = |message: String| Err(refuse(ErrorCode::INVALID_REPLICA_ASSIGNMENT, message));
        for replicas in assignment {
            if let Some(broker) = replicas.iter().find(|&broker| !brokers.contains(broker)) {
                return invalid(format!(
                    "Unknown broker id {broker} in the replica assignment"
                ));
            }
            if replicas.is_empty() || replicas.len() != assignment[0].len() {
                return invalid(
                    "All partitions should have the same number of replicas".to_string(),
                );
            }
            if host_count(replicas) != replicas.len() {
                return invalid(format!(
                    "Replicas {replicas:?} of a partition must be on distinct hosts"
                ));
            }
        }
        Ok(())
    }
}

/// The broker leading fewest partitions; ties go to the lowest shard index,
/// then the lowest host, so a topic's partitions alternate between hosts.
pub(super) fn least_loaded(load: &BTreeMap<u32, usize>) -> Option<u32> {
    load.iter()
        .min_by_key(|&(&broker, &count)| (count, broker % SHARDS_MAX as u32, broker))
        .map(|(&broker, _)| broker)
}

/// The placements a client assigned: each led by its first replica.
pub(super) fn assigned(assignment: &[Vec<u32>]) -> Vec<PartitionPlacement> {
    assignment
        .iter()
        .map(|replicas| PartitionPlacement::replicated(replicas.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::metadata::{Command, HostRegistration};

    fn defaults(replication_factor: i16) -> Defaults {
        Defaults {
            num_partitions: 1,
            shard_count: 1,
            node_id: 0,
            replication_factor,
            unclean_leader_election: false,
            quorum_voters: 0,
        }
    }

    /// A cluster of `hosts` hosts of `shards` shards each.
    fn cluster(hosts: u32, shards: u16) -> MetadataState {
        let mut state = MetadataState::default();
        for node_id in 0..hosts {
            state.apply(&super::super::record::MetadataRecord::HostRegistered(
                HostRegistration {
                    node_id,
                    incarnation: 1,
                    host: format!("10.0.0.{node_id}"),
                    ports: (0..shards).map(|shard| 9092 + shard).collect(),
                    quorum_address: format!("10.0.0.{node_id}:9099"),
                    fenced: false,
                },
            ));
        }
        state
    }

    fn create(name: &str, partitions: i32, replication_factor: i16) -> Command {
        Command::CreateTopic {
            name: name.into(),
            partitions,
            replication_factor,
            assignment: None,
            configs: BTreeMap::new(),
            validate_only: false,
        }
    }

    fn created(
        state: &mut MetadataState,
        command: &Command,
        defaults: Defaults,
    ) -> Result<Vec<PartitionPlacement>, ErrorCode> {
        let records = state
            .plan(command, defaults)
            .map_err(|refused| refused.code)?;
        records.iter().for_each(|record| state.apply(record));
        let name = command.topic_name().unwrap();
        Ok(state.topics()[name].placement.clone())
    }

    #[test]
    fn replicas_go_to_distinct_hosts_and_leaders_balance() {
        let mut state = cluster(3, 2);
        let placement = created(&mut state, &create("t", 6, 3), defaults(1)).unwrap();
        let mut leaders = BTreeMap::new();
        let mut replicas = BTreeMap::new();
        for partition in &placement {
            assert_eq!(host_count(&partition.replicas), 3, "{partition:?}");
            assert_eq!(partition.leader, partition.replicas[0]);
            assert_eq!(partition.isr, partition.replicas);
            assert_eq!(partition.leader_epoch, 0);
            *leaders.entry(partition.leader).or_insert(0) += 1;
            for &replica in &partition.replicas {
                *replicas.entry(replica).or_insert(0) += 1;
            }
        }
        assert_eq!(leaders.len(), 6, "one leader per broker: {leaders:?}");
        assert!(replicas.values().all(|&count| count == 3), "{replicas:?}");
    }

    #[test]
    fn a_factor_above_the_live_hosts_is_refused() {
        let mut state = cluster(3, 2);
        assert_eq!(
            created(&mut state, &create("t", 1, 4), defaults(1)),
            Err(ErrorCode::INVALID_REPLICATION_FACTOR)
        );
        assert_eq!(
            created(&mut state, &create("t", 1, 0), defaults(1)),
            Err(ErrorCode::INVALID_REPLICATION_FACTOR)
        );
        // -1 asks for the broker default, refused when too large as Kafka does.
        assert_eq!(
            created(&mut state, &create("t", 1, -1), defaults(4)),
            Err(ErrorCode::INVALID_REPLICATION_FACTOR)
        );
        // A fenced host is not live.
        state.apply(&super::super::record::MetadataRecord::HostFenced {
            node_id: 2,
            fenced: true,
        });
        assert_eq!(
            created(&mut state, &create("t", 1, 3), defaults(1)),
            Err(ErrorCode::INVALID_REPLICATION_FACTOR)
        );
    }

    #[test]
    fn topics_the_broker_creates_take_what_the_hosts_allow() {
        let mut state = cluster(2, 1);
        let auto = create("auto", 1, REPLICATION_FACTOR_DEFAULT_UP_TO_LIVE_HOSTS);
        let placement = created(&mut state, &auto, defaults(3)).unwrap();
        assert_eq!(placement[0].replicas.len(), 2);
        let offsets = crate::metadata::offsets_topic_command(4);
        let placement = created(&mut state, &offsets, defaults(1)).unwrap();
        assert!(placement.iter().all(|p| p.replicas.len() == 2));
        let mut three = cluster(4, 1);
        let placement = created(&mut three, &offsets, defaults(1)).unwrap();
        assert!(placement.iter().all(|p| p.replicas.len() == 3));
    }

    #[test]
    fn the_offsets_topic_waits_for_the_hosts_it_needs() {
        // Three hosts, one fenced: two replicas would be possible, but the
        // offsets topic would keep them for good; it waits instead.
        let mut state = cluster(3, 1);
        state.apply(&super::super::record::MetadataRecord::HostFenced {
            node_id: 2,
            fenced: true,
        });
        let offsets = crate::metadata::offsets_topic_command(4);
        assert_eq!(
            created(&mut state, &offsets, defaults(1)),
            Err(ErrorCode::INVALID_REPLICATION_FACTOR)
        );
        state.apply(&super::super::record::MetadataRecord::HostFenced {
            node_id: 2,
            fenced: false,
        });
        let placement = created(&mut state, &offsets, defaults(1)).unwrap();
        assert!(placement.iter().all(|p| p.replicas.len() == 3));
    }

    #[test]
    fn the_offsets_topic_waits_for_voters_that_have_not_registered_yet() {
        // Three voters, two registered so far (the third is starting): the
        // offsets topic waits for it rather than take 2 replicas for good.
        let three_voters = Defaults {
            quorum_voters: 3,
            ..defaults(1)
        };
        let offsets = crate::metadata::offsets_topic_command(4);
        let mut state = cluster(2, 1);
        assert_eq!(
            created(&mut state, &offsets, three_voters),
            Err(ErrorCode::INVALID_REPLICATION_FACTOR)
        );
        let mut state = cluster(3, 1);
        let placement = created(&mut state, &offsets, three_voters).unwrap();
        assert!(placement.iter().all(|p| p.replicas.len() == 3));
        // One voter (or none, a single host): as many as have registered.
        let one_voter = Defaults {
            quorum_voters: 1,
            ..defaults(1)
        };
        let placement = created(&mut cluster(2, 1), &offsets, one_voter).unwrap();
        assert!(placement.iter().all(|p| p.replicas.len() == 2));
    }

    #[test]
    fn a_single_host_places_one_replica_per_partition() {
        let mut state = MetadataState::default();
        let two_shards = Defaults {
            shard_count: 2,
            ..defaults(1)
        };
        let placement = created(&mut state, &create("t", 3, -1), two_shards).unwrap();
        let leaders: Vec<u32> = placement.iter().map(|p| p.leader).collect();
        assert_eq!(leaders, vec![0, 1, 0]);
        assert!(placement.iter().all(|p| p.replicas == vec![p.leader]));
        assert_eq!(
            created(&mut state, &create("u", 1, 2), two_shards),
            Err(ErrorCode::INVALID_REPLICATION_FACTOR)
        );
    }

    #[test]
    fn assignments_name_live_brokers_on_distinct_hosts() {
        let mut state = cluster(3, 2);
        let assign = |name: &str, assignment: Vec<Vec<u32>>| Command::CreateTopic {
            name: name.into(),
            partitions: -1,
            replication_factor: -1,
            assignment: Some(assignment),
            configs: BTreeMap::new(),
            validate_only: false,
        };
        let placement = created(
            &mut state,
            &assign("a", vec![vec![1025, 0], vec![2048, 1]]),
            defaults(1),
        )
        .unwrap();
        assert_eq!(placement[0].leader, 1025);
        assert_eq!(placement[1].isr, vec![2048, 1]);
        for refused in [
            vec![vec![0, 1]],             // one host twice
            vec![vec![0, 7]],             // no broker 7
            vec![vec![0, 1024], vec![1]], // uneven
        ] {
            assert_eq!(
                created(&mut state, &assign("b", refused), defaults(1)),
                Err(ErrorCode::INVALID_REPLICA_ASSIGNMENT)
            );
        }
        // New partitions get the topic's replication factor.
        let grow = Command::CreatePartitions {
            name: "a".into(),
            count: 4,
            assignment: None,
            validate_only: false,
        };
        let placement = created(&mut state, &grow, defaults(1)).unwrap();
        assert!(placement[2..].iter().all(|p| host_count(&p.replicas) == 2));
    }
}
