//! Cluster metadata: topics, their partitions' placement (replicas, leader
//! and leader epoch), and topic configs. Shard 0 is the controller and owns the one writable copy
//! ([`state::MetadataState`]) and its log ([`store::MetadataStore`]); every
//! shard holds an immutable [`Snapshot`], replaced whole on each change.

pub mod elections;
pub mod frame;
pub mod hosts;
pub mod placement;
pub mod reassignment;
pub mod record;
pub mod snapshot_records;
pub mod state;
pub mod store;
pub mod topic_config;

use std::collections::BTreeMap;
use std::sync::Arc;

/// The internal topic of committed offsets and group metadata (see
/// `crate::group`). Clients may read it but not write, delete or grow it.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

pub fn is_internal(topic: &str) -> bool {
    topic == OFFSETS_TOPIC
}

/// The command that creates the offsets topic at first start.
pub fn offsets_topic_command(partitions: i32) -> Command {
    Command::CreateTopic {
        name: OFFSETS_TOPIC.to_string(),
        partitions,
        replication_factor: -1,
        assignment: None,
        configs: BTreeMap::from([(
            "segment.bytes".to_string(),
            crate::limits::OFFSETS_TOPIC_SEGMENT_BYTES.to_string(),
        )]),
        validate_only: false,
    }
}

/// One topic as the cluster knows it. Immutable once in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    pub name: String,
    pub id: [u8; 16],
    /// Where each partition lives, by partition index.
    pub placement: Vec<PartitionPlacement>,
    /// Configs the topic set explicitly (Kafka's names).
    pub configs: BTreeMap<String, String>,
    /// The partitions being reassigned (KIP-455), by partition index.
    pub reassignments: BTreeMap<u32, reassignment::Reassignment>,
}

impl TopicMetadata {
    /// The topic's `min.insync.replicas`, or the broker's default when the
    /// topic does not set it.
    pub fn min_insync_replicas(&self, broker_default: i32) -> i32 {
        self.configs
            .get("min.insync.replicas")
            .and_then(|value| value.parse().ok())
            .unwrap_or(broker_default)
    }

    /// The topic's `unclean.leader.election.enable`, or the broker's
    /// default when the topic does not set it.
    pub fn unclean_leader_election(&self, broker_default: bool) -> bool {
        self.configs
            .get("unclean.leader.election.enable")
            .map(|value| value.trim().eq_ignore_ascii_case("true"))
            .unwrap_or(broker_default)
    }
}

/// Where one partition lives. A node is a shard today (one node per
/// shard, as clients see it), so node ids are shard ids.
///
/// Invariants: `leader` is one of `replicas` (one replica today);
/// `leader_epoch` never decreases, and grows whenever `leader` changes, so
/// a reader holding an older epoch can tell it is out of date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionPlacement {
    pub replicas: Vec<u32>,
    /// The leader's broker id, or [`NO_LEADER`] while no in-sync replica
    /// is live (KIP-966: the last replica standing keeps its place in
    /// `isr`, and no other replica may lead).
    pub leader: u32,
    pub leader_epoch: i32,
    /// The in-sync replicas: a subset of `replicas`, in their order, that
    /// holds every committed record. Only a committed metadata record
    /// changes it (KIP-497). Never empty.
    pub isr: Vec<u32>,
}

/// The `leader` of a partition that has none.
pub const NO_LEADER: u32 = u32::MAX;

impl PartitionPlacement {
    /// A new partition with its only replica on `leader`, at epoch 0.
    pub fn single(leader: u32) -> PartitionPlacement {
        PartitionPlacement {
            replicas: vec![leader],
            leader,
            leader_epoch: 0,
            isr: vec![leader],
        }
    }

    /// A new partition on `replicas`, led by the first (its preferred
    /// leader), every replica in sync, at epoch 0.
    pub fn replicated(replicas: Vec<u32>) -> PartitionPlacement {
        PartitionPlacement {
            leader: replicas[0],
            leader_epoch: 0,
            isr: replicas.clone(),
            replicas,
        }
    }

    /// The placement after `leader` takes over (alone): the epoch grows
    /// when the leader changes and stays when it does not.
    pub fn moved_to(&self, leader: u32) -> PartitionPlacement {
        let leader_epoch = if leader == self.leader {
            self.leader_epoch
        } else {
            self.leader_epoch + 1
        };
        PartitionPlacement {
            replicas: vec![leader],
            leader,
            leader_epoch,
            isr: vec![leader],
        }
    }
}

/// The Kafka broker id of shard `shard` of host `node_id`: every shard is
/// a broker to clients, and host H's shards are `H * SHARDS_MAX + s`, so a
/// single host (node 0) keeps the broker ids it always had.
pub fn broker_id(node_id: u32, shard: u32) -> u32 {
    node_id * crate::limits::SHARDS_MAX as u32 + shard
}

/// The host (`node.id`) a broker id belongs to.
pub fn host_of(broker: u32) -> u32 {
    broker / crate::limits::SHARDS_MAX as u32
}

/// A host of a cluster as the metadata quorum knows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HostRegistration {
    pub node_id: u32,
    /// Grows with each start of the host, so a restarted host registers
    /// anew (and is unfenced) even with the same addresses.
    pub incarnation: u64,
    /// The advertised host of its shards.
    pub host: String,
    /// The port of each shard, by shard index.
    pub ports: Vec<u16>,
    /// Where its quorum member listens (`host:port`).
    pub quorum_address: String,
    /// Fenced: its lease ran out; its shards are not offered to clients
    /// and receive no new partitions.
    pub fenced: bool,
}

impl HostRegistration {
    /// Its shards' broker ids.
    pub fn brokers(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.ports.len() as u32).map(|shard| broker_id(self.node_id, shard))
    }
}

/// Everything a shard needs to route a request, as of one metadata version.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    pub version: u64,
    pub topics: BTreeMap<String, Arc<TopicMetadata>>,
    /// The hosts of a cluster, by node id (empty on a single host with no
    /// quorum, whose brokers are its own shards).
    pub hosts: BTreeMap<u32, Arc<HostRegistration>>,
    /// A cluster's id, once its quorum set it (`None` on a single host,
    /// whose id is its data dir's).
    pub cluster_id: Option<Arc<String>>,
}

impl Snapshot {
    /// Whether `broker` is offered to clients: on a registered host that
    /// is not fenced (any broker, when no host is registered).
    pub fn broker_is_live(&self, broker: u32) -> bool {
        if self.hosts.is_empty() {
            return true;
        }
        self.hosts.get(&host_of(broker)).is_some_and(|host| {
            !host.fenced && (broker % crate::limits::SHARDS_MAX as u32) < host.ports.len() as u32
        })
    }

    pub fn topic(&self, name: &str) -> Option<&Arc<TopicMetadata>> {
        self.topics.get(name)
    }

    pub fn topic_by_id(&self, id: &[u8; 16]) -> Option<&Arc<TopicMetadata>> {
        self.topics.values().find(|topic| &topic.id == id)
    }
}

/// A change a client (or, for hosts, the cluster itself) asked for, sent to
/// the controller; in a cluster, forwarded to the quorum leader as is.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum Command {
    CreateTopic {
        name: String,
        /// -1: the broker's `num.partitions`.
        partitions: i32,
        /// -1: the broker's `default.replication.factor` (for
        /// `__consumer_offsets`, 3 or as many as hosts are live);
        /// [`placement::REPLICATION_FACTOR_DEFAULT_UP_TO_LIVE_HOSTS`]: the
        /// default, or fewer when fewer hosts are live (auto-created topics).
        replication_factor: i16,
        /// The replicas (broker ids) of each partition, when the client
        /// assigned them; the first of each is its preferred leader.
        assignment: Option<Vec<Vec<u32>>>,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    },
    DeleteTopic {
        name: String,
    },
    CreatePartitions {
        name: String,
        count: i32,
        assignment: Option<Vec<Vec<u32>>>,
        validate_only: bool,
    },
    /// Replaces the topic's configs with `configs`.
    SetTopicConfigs {
        name: String,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    },
    /// A host's heartbeat found it unregistered, changed (restarted, new
    /// addresses) or fenced: (re)register it. Partitions on shards it no
    /// longer has move to the shards it has.
    RegisterHost(HostRegistration),
    /// A host's lease ran out: fence it.
    FenceHost {
        node_id: u32,
    },
    /// A decommissioned host leaves: refused while it still holds a
    /// replica (reassign its partitions first, `ReassignPartition`).
    RemoveHost {
        node_id: u32,
    },
    /// The metadata log of a single host that now starts as a cluster: its
    /// records become the cluster's (refused once the cluster has topics).
    Import(Vec<record::MetadataRecord>),
    /// Kafka's AlterPartition: a partition's leader asks to change its
    /// in-sync replicas (a lagging follower leaves, a caught-up one
    /// returns). Refused unless `leader` and `leader_epoch` are current.
    AlterPartition {
        name: String,
        partition: i32,
        leader: u32,
        leader_epoch: i32,
        isr: Vec<u32>,
    },
    /// Controlled shutdown: a host about to stop asks that the partitions
    /// it leads get other leaders and its replicas leave the ISRs first.
    ShutdownHost {
        node_id: u32,
    },
    /// A quorum leader that finds no cluster id proposes its own (its data
    /// dir's): the first committed one is the cluster's for good.
    ClaimClusterId {
        id: String,
    },
    /// Kafka's AlterPartitionReassignments for one partition: move it to
    /// the `target` replicas (see `reassignment.rs`), or, with `None`,
    /// cancel the reassignment in progress.
    ReassignPartition {
        name: String,
        partition: i32,
        target: Option<Vec<u32>>,
    },
}

impl Command {
    /// The topic the command is about, when it is about one.
    pub fn topic_name(&self) -> Option<&str> {
        match self {
            Command::CreateTopic { name, .. }
            | Command::DeleteTopic { name }
            | Command::CreatePartitions { name, .. }
            | Command::SetTopicConfigs { name, .. }
            | Command::AlterPartition { name, .. }
            | Command::ReassignPartition { name, .. } => Some(name),
            Command::RegisterHost(_)
            | Command::FenceHost { .. }
            | Command::RemoveHost { .. }
            | Command::ShutdownHost { .. }
            | Command::ClaimClusterId { .. }
            | Command::Import(_) => None,
        }
    }

    /// Whether it makes, grows or removes a topic: a change clients route
    /// by on every host, so it is answered once every live host applied
    /// it (`QuorumController::execute`). Leadership and ISR changes are
    /// not: clients retry NOT_LEADER_OR_FOLLOWER, and an ISR shrink must
    /// not wait on the very host that fell behind.
    pub fn changes_topics(&self) -> bool {
        match self {
            Command::CreateTopic { .. }
            | Command::DeleteTopic { .. }
            | Command::CreatePartitions { .. } => true,
            Command::SetTopicConfigs { .. }
            | Command::AlterPartition { .. }
            | Command::ReassignPartition { .. }
            | Command::RegisterHost(_)
            | Command::FenceHost { .. }
            | Command::RemoveHost { .. }
            | Command::ShutdownHost { .. }
            | Command::ClaimClusterId { .. }
            | Command::Import(_) => false,
        }
    }

    /// Whether the client asked only to validate it.
    pub fn validate_only(&self) -> bool {
        match self {
            Command::CreateTopic { validate_only, .. }
            | Command::CreatePartitions { validate_only, .. }
            | Command::SetTopicConfigs { validate_only, .. } => *validate_only,
            _ => false,
        }
    }
}

/// A refused command, with the Kafka error and a message for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandError {
    pub code: crate::protocol::ErrorCode,
    pub message: String,
}

/// The topic as it is after the command (`None` once deleted).
pub type CommandResult = Result<Option<Arc<TopicMetadata>>, CommandError>;
