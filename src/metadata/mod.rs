//! Cluster metadata: topics, their partitions' placement (replicas, leader
//! and leader epoch), and topic configs. Shard 0 is the controller and owns the one writable copy
//! ([`state::MetadataState`]) and its log ([`store::MetadataStore`]); every
//! shard holds an immutable [`Snapshot`], replaced whole on each change.

pub mod frame;
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
    pub leader: u32,
    pub leader_epoch: i32,
}

impl PartitionPlacement {
    /// A new partition with its only replica on `leader`, at epoch 0.
    pub fn single(leader: u32) -> PartitionPlacement {
        PartitionPlacement {
            replicas: vec![leader],
            leader,
            leader_epoch: 0,
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
        }
    }
}

/// Everything a shard needs to route a request, as of one metadata version.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    pub version: u64,
    pub topics: BTreeMap<String, Arc<TopicMetadata>>,
}

impl Snapshot {
    pub fn topic(&self, name: &str) -> Option<&Arc<TopicMetadata>> {
        self.topics.get(name)
    }

    pub fn topic_by_id(&self, id: &[u8; 16]) -> Option<&Arc<TopicMetadata>> {
        self.topics.values().find(|topic| &topic.id == id)
    }
}

/// A change a client asked for, sent to the controller.
#[derive(Debug, Clone)]
pub enum Command {
    CreateTopic {
        name: String,
        /// -1: the broker's `num.partitions`.
        partitions: i32,
        /// -1: the broker's default (1).
        replication_factor: i16,
        /// Leader shard of each partition, when the client assigned them.
        assignment: Option<Vec<u32>>,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    },
    DeleteTopic {
        name: String,
    },
    CreatePartitions {
        name: String,
        count: i32,
        assignment: Option<Vec<u32>>,
        validate_only: bool,
    },
    /// Replaces the topic's configs with `configs`.
    SetTopicConfigs {
        name: String,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    },
}

/// A refused command, with the Kafka error and a message for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandError {
    pub code: crate::protocol::ErrorCode,
    pub message: String,
}

/// The topic as it is after the command (`None` once deleted).
pub type CommandResult = Result<Option<Arc<TopicMetadata>>, CommandError>;
