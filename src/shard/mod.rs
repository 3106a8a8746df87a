//! What one core owns, split by concern, each its own type:
//! - [`Partitions`] (`partitions.rs`): the partitions this shard holds a
//!   replica of (leading or following), how
//!   a request reaches one (`route`, `route_at_epoch`), and what they share
//!   on this core: group commit, tail cache, append signal, produce budget.
//! - [`MetadataView`] (`metadata_view.rs`): the installed snapshot, the
//!   nodes, the cluster id, and the link to the controller (`submit`).
//! - the group [`Coordinator`] (`group/`), the [`ProducerIds`]
//!   (`producer_ids.rs`) and the count of open [`Connections`].
//!
//! [`Shard::install`] is the one place that orchestrates them: snapshot in,
//! partitions closed and opened, groups unloaded and loaded with their
//! offsets partitions, then the snapshot made current.
//!
//! Which concern each family of handlers (`server/handlers/`) uses (any of
//! them may read `config`):
//! - Produce, Fetch, ListOffsets, DeleteRecords (and the legacy Produce and
//!   Fetch): `partitions` (Produce and Fetch also read the `metadata`
//!   snapshot, to resolve topic ids).
//! - Metadata, DescribeConfigs, AlterConfigs, IncrementalAlterConfigs,
//!   CreateTopics, CreatePartitions, DeleteTopics, FindCoordinator:
//!   `metadata`.
//! - the group APIs (JoinGroup to ConsumerGroupHeartbeat, OffsetCommit,
//!   OffsetFetch, OffsetDelete): `groups`, with the `metadata` snapshot.
//! - InitProducerId: `producer_ids`; the listener: `connections`.
//!
//! Where the next features plug in:
//! - replication (issue 14): `install` opens every partition this shard
//!   holds a replica of and gives it its role (`partition/replica.rs`); the
//!   shard's replication task (`replication/`) runs the follower fetchers
//!   and the ISR upkeep; a follower's fetch offsets feed the leader's high
//!   watermark in `partition/commit_tracker.rs` through the Fetch handler.
//! - an authenticated principal is checked once per request in
//!   `server/dispatch.rs` (`admit`), before any handler reaches the shard.
//!
//! Invariants:
//! - a `Shard` lives on its own core for the life of the process; nothing in
//!   it is shared with another core (it is `!Send`).
//! - the partitions open here are exactly those whose replicas the
//!   installed snapshot places on this shard (less any that failed to
//!   open); the groups loaded are those of the offsets partitions it leads; a snapshot is
//!   installed whole before the controller answers the change that made it.
//! - `install` runs its steps in order (close, open, make current), and the
//!   routing placement and the metadata view change together, last.
//! - cross-core traffic is metadata only: controller commands up, snapshots
//!   down (and, per metrics scrape, a `Collect` down to each shard and its
//!   counters back). Record bytes never leave the core they arrived on.

pub mod connections;
pub mod controller;
pub mod flush;
pub mod host_leases;
pub mod metadata_view;
pub mod partitions;
pub mod producer_ids;
pub mod quorum_controller;
pub mod quorum_start;
pub mod recovery_progress;
pub mod retention;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_channel::oneshot;

pub use self::connections::Connections;
pub use self::metadata_view::{ControllerLink, ControllerRequest, MetadataView, Node};
use self::partitions::Opened;
pub use self::partitions::{PartitionKey, Partitions, Route};
use self::producer_ids::ProducerIds;
use crate::config::Config;
use crate::group::membership::GroupSettings;
use crate::group::{Coordinator, CoordinatorSettings};
use crate::limits::MEMBERS_PER_GROUP_MAX;
use crate::metadata::{is_internal, topic_config, Snapshot, TopicMetadata};

/// What the controller sends to the other shards.
pub enum ShardMessage {
    /// Install this snapshot, then say so.
    Install {
        snapshot: Arc<Snapshot>,
        installed: oneshot::Sender<()>,
    },
    /// Sample this shard's metrics for a scrape (`metrics::sample`).
    Collect {
        reply: oneshot::Sender<crate::metrics::ShardSample>,
    },
}

/// One core's share of the broker: one field per concern (see the module
/// doc), none of them shared with another core.
pub struct Shard {
    /// The shard's index on this host (its core).
    pub id: u32,
    /// The Kafka broker this shard is to clients
    /// (`metadata::broker_id(node.id, id)`): placements name it.
    pub broker_id: u32,
    pub config: Arc<Config>,
    /// The partitions this shard leads and what they share.
    pub partitions: Partitions,
    /// The installed snapshot, the nodes, and the way to the controller.
    pub metadata: MetadataView,
    /// The consumer groups whose offsets partitions this shard leads.
    pub groups: Coordinator,
    pub producer_ids: ProducerIds,
    pub connections: Connections,
}

impl Shard {
    pub fn new(
        id: u32,
        config: Arc<Config>,
        nodes: Arc<Vec<Node>>,
        cluster_id: Arc<String>,
        controller: ControllerLink,
    ) -> Shard {
        let broker_id = crate::metadata::broker_id(config.node_id, id);
        let groups = Coordinator::new(
            broker_id,
            CoordinatorSettings {
                group: GroupSettings {
                    initial_rebalance_delay: Duration::from_millis(
                        config.group_initial_rebalance_delay_milliseconds,
                    ),
                    members_max: MEMBERS_PER_GROUP_MAX,
                },
                session_timeout_min: Duration::from_millis(
                    config.group_session_timeout_min_milliseconds,
                ),
                session_timeout_max: Duration::from_millis(
                    config.group_session_timeout_max_milliseconds,
                ),
            },
        );
        let metadata = MetadataView::new(nodes, cluster_id, controller);
        Shard {
            id,
            broker_id,
            partitions: Partitions::new(broker_id, &config, metadata.installed()),
            metadata,
            groups,
            producer_ids: ProducerIds::new(&config.data_dir, config.node_id, id),
            connections: Connections::default(),
            config,
        }
    }

    /// Makes `snapshot` current, in this order: closes the partitions that
    /// left this shard (unloading their groups first, deleting the files of
    /// deleted topics), opens the ones that arrived (loading their groups),
    /// then installs the snapshot for routing and for clients.
    pub async fn install(&self, snapshot: Arc<Snapshot>) {
        let wanted = self.partitions.placed_here(&snapshot);
        for key in self.partitions.leaving(&wanted) {
            let Some(partition) = self.partitions.take(&key) else {
                continue;
            };
            if is_internal(&key.0) {
                self.groups.unload(key.1);
            }
            self.partitions.close(&snapshot, partition).await;
        }
        self.open_placed(&snapshot, wanted).await;
        self.metadata.install(snapshot);
    }

    /// Opens (or updates) every partition placed here, loading the groups
    /// of the offsets partitions that open; reports the first install's
    /// recovery.
    async fn open_placed(
        &self,
        snapshot: &Snapshot,
        wanted: HashMap<PartitionKey, Arc<TopicMetadata>>,
    ) {
        let first_install = self.metadata.snapshot().version == 0;
        let mut progress = recovery_progress::RecoveryProgress::new(self.id, wanted.len());
        for ((name, index), topic) in wanted {
            let config = topic_config::log_config(&topic.configs, &self.config.topic_defaults);
            let outcome = self
                .partitions
                .open_or_update(
                    snapshot,
                    &topic,
                    index,
                    config,
                    self.config.topic_defaults.min_insync_replicas,
                )
                .await;
            if let (Opened::Now(partition), true) = (&outcome, first_install) {
                let log = partition.log();
                progress.opened(log.segments_scanned(), log.bytes_scanned());
            }
            if is_internal(&name) && !matches!(outcome, Opened::Failed) {
                self.follow_offsets_leadership(&name, index).await;
            }
        }
        if first_install {
            tracing::info!("{}", progress.summary_line());
        }
    }

    /// Group coordination follows `__consumer_offsets` leadership: the
    /// groups of an offsets partition are loaded where it is led, and
    /// dropped where it is only followed.
    async fn follow_offsets_leadership(&self, name: &str, index: i32) {
        // The routing snapshot is not installed yet: the partition's role
        // (from the snapshot being installed) decides.
        let partition = self
            .partitions
            .get(&(name.to_string(), index))
            .filter(|partition| partition.is_leader());
        let Some(partition) = partition else {
            if self.groups.is_loaded(index) {
                self.groups.unload(index);
            }
            return;
        };
        if !self.groups.is_loaded(index) {
            self.groups.load(index, partition).await;
        }
    }

    /// Closes every partition: clean shutdown.
    pub async fn close_all(&self) {
        self.partitions.close_all().await;
    }
}
