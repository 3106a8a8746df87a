//! What one core owns: its partitions, its copy of the metadata snapshot,
//! its connections, and its link to the controller on shard 0.
//!
//! Invariants:
//! - a `Shard` lives on its own core for the life of the process; nothing in
//!   it is shared with another core (it is `!Send`).
//! - the partitions open here are exactly those the installed snapshot
//!   places on this shard; a snapshot is installed whole before the
//!   controller answers the change that made it.
//! - cross-core traffic is metadata only: controller commands up, snapshots
//!   down. Record bytes never leave the core they arrived on.

pub mod controller;
pub mod flush;
pub mod producer_ids;
pub mod retention;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use futures_channel::oneshot;

use crate::config::Config;
use crate::group::membership::GroupSettings;
use crate::group::{Coordinator, CoordinatorSettings};
use crate::limits::MEMBERS_PER_GROUP_MAX;
use crate::metadata::{
    topic_config, Command, CommandError, CommandResult, Snapshot, TopicMetadata,
};
use crate::partition::group_commit::GroupCommit;
use crate::partition::tail_cache::TailCache;
use crate::partition::{self, Partition};
use crate::protocol::ErrorCode;
use crate::rt::channel::{ConnectedCoreSender, LocalQueueSender};
use crate::rt::sync::{ByteBudget, Signal};

/// A node as clients see it: one per shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub node_id: i32,
    pub host: String,
    pub port: u16,
}

/// A command on its way to the controller, with where to send the answer.
pub struct ControllerRequest {
    pub command: Command,
    pub reply: oneshot::Sender<CommandResult>,
}

/// What the controller sends to the other shards.
pub enum ShardMessage {
    /// Install this snapshot, then say so.
    Install {
        snapshot: Arc<Snapshot>,
        installed: oneshot::Sender<()>,
    },
}

/// How a shard reaches the controller.
pub enum ControllerLink {
    /// Shard 0 queues to its own controller task.
    Local(LocalQueueSender<ControllerRequest>),
    Remote(ConnectedCoreSender<ControllerRequest>),
}

type PartitionKey = (String, i32);

pub struct Shard {
    pub id: u32,
    pub config: Arc<Config>,
    pub nodes: Arc<Vec<Node>>,
    pub cluster_id: Arc<String>,
    snapshot: RefCell<Arc<Snapshot>>,
    partitions: RefCell<HashMap<PartitionKey, Rc<Partition>>>,
    /// Fired after every append and every group-commit round on this
    /// shard; parked fetches wait on it.
    pub appended: Rc<Signal>,
    pub group_commit: Rc<GroupCommit>,
    pub tail_cache: Rc<TailCache>,
    /// Produce bytes read but not yet written, bounded.
    pub produce_budget: ByteBudget,
    controller: ControllerLink,
    pub connections: Cell<usize>,
    /// The consumer groups whose offsets partitions this shard leads.
    pub groups: Coordinator,
    pub producer_ids: producer_ids::ProducerIds,
}

/// Where a request for one partition should go.
pub enum Route {
    Here(Rc<Partition>),
    Elsewhere(ErrorCode),
}

impl Shard {
    pub fn new(
        id: u32,
        config: Arc<Config>,
        nodes: Arc<Vec<Node>>,
        cluster_id: Arc<String>,
        controller: ControllerLink,
    ) -> Shard {
        let groups = Coordinator::new(id, CoordinatorSettings {
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
        });
        let producer_ids = producer_ids::ProducerIds::new(&config.data_dir, id);
        let appended = Rc::new(Signal::bounded(crate::limits::PARKED_FETCHES_PER_SHARD_MAX));
        let group_commit = Rc::new(GroupCommit::new(appended.clone()));
        let tail_cache = Rc::new(TailCache::new(config.tail_cache_bytes));
        Shard {
            id,
            config,
            nodes,
            cluster_id,
            snapshot: RefCell::new(Arc::new(Snapshot::default())),
            partitions: RefCell::new(HashMap::new()),
            appended,
            group_commit,
            tail_cache,
            produce_budget: ByteBudget::new(crate::limits::PRODUCE_BYTES_UNWRITTEN_PER_SHARD_MAX),
            controller,
            connections: Cell::new(0),
            groups,
            producer_ids,
        }
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.borrow().clone()
    }

    /// The partition when this shard leads it, or the error a client gets.
    pub fn route(&self, topic: &str, index: i32) -> Route {
        let snapshot = self.snapshot();
        let Some(metadata) = snapshot.topic(topic) else {
            return Route::Elsewhere(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
        };
        match usize::try_from(index)
            .ok()
            .and_then(|index| metadata.placement.get(index))
        {
            None => Route::Elsewhere(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION),
            Some(placement) if placement.leader != self.id => {
                Route::Elsewhere(ErrorCode::NOT_LEADER_OR_FOLLOWER)
            }
            Some(_) => match self.partitions.borrow().get(&(topic.to_string(), index)) {
                Some(partition) => Route::Here(partition.clone()),
                // Placed here but not open: opening failed (logged then).
                None => Route::Elsewhere(ErrorCode::KAFKA_STORAGE_ERROR),
            },
        }
    }

    /// Like [`Shard::route`], for a request that names the leader epoch
    /// its sender knows (Fetch v9+, ListOffsets v4+; -1 for none): an
    /// older epoch gets FENCED_LEADER_EPOCH, a newer one
    /// UNKNOWN_LEADER_EPOCH, as in Kafka.
    pub fn route_at_epoch(&self, topic: &str, index: i32, current_leader_epoch: i32) -> Route {
        match self.route(topic, index) {
            Route::Here(partition) => match partition.check_leader_epoch(current_leader_epoch) {
                Ok(()) => Route::Here(partition),
                Err(error) => Route::Elsewhere(error.error_code()),
            },
            elsewhere => elsewhere,
        }
    }

    /// Every partition this shard leads.
    pub fn partitions(&self) -> Vec<Rc<Partition>> {
        self.partitions.borrow().values().cloned().collect()
    }

    /// Calls `visit` on every partition this shard leads, without copying
    /// the list (for timers that run often). `visit` must not open or
    /// close partitions.
    pub fn for_each_partition(&self, mut visit: impl FnMut(&Rc<Partition>)) {
        for partition in self.partitions.borrow().values() {
            visit(partition);
        }
    }

    /// Sends a command to the controller and waits for its answer, which
    /// comes only after every shard installed the resulting snapshot.
    pub async fn submit(&self, command: Command) -> CommandResult {
        let (reply, answer) = oneshot::channel();
        let request = ControllerRequest { command, reply };
        let sent = match &self.controller {
            ControllerLink::Local(sender) => sender.send(request).await.is_ok(),
            ControllerLink::Remote(sender) => sender.send(request).await.is_ok(),
        };
        let unavailable = || CommandError {
            code: ErrorCode::UNKNOWN_SERVER_ERROR,
            message: "the controller is shutting down".into(),
        };
        if !sent {
            return Err(unavailable());
        }
        answer.await.unwrap_or_else(|_| Err(unavailable()))
    }

    /// Makes `snapshot` current: closes partitions that left this shard (and
    /// deletes the files of deleted topics), opens the ones that arrived.
    pub async fn install(&self, snapshot: Arc<Snapshot>) {
        let wanted: HashMap<PartitionKey, Arc<TopicMetadata>> = snapshot
            .topics
            .values()
            .flat_map(|topic| {
                topic
                    .placement
                    .iter()
                    .enumerate()
                    .filter(|(_, placement)| placement.leader == self.id)
                    .map(move |(index, _)| ((topic.name.clone(), index as i32), topic.clone()))
            })
            .collect();

        let leaving: Vec<(PartitionKey, Rc<Partition>)> = self
            .partitions
            .borrow()
            .iter()
            .filter(|(key, partition)| {
                wanted
                    .get(*key)
                    .is_none_or(|topic| topic.id != partition.topic_id)
            })
            .map(|(key, partition)| (key.clone(), partition.clone()))
            .collect();
        for (key, partition) in leaving {
            self.partitions.borrow_mut().remove(&key);
            if crate::metadata::is_internal(&key.0) {
                self.groups.unload(key.1);
            }
            if let Err(error) = partition.close().await {
                eprintln!(
                    "corelog: shard {}: closing {}-{}: {error}",
                    self.id, key.0, key.1
                );
            }
            let still_exists = snapshot
                .topic(&key.0)
                .is_some_and(|topic| topic.id == partition.topic_id);
            if !still_exists {
                let dir = partition.log().dir().to_path_buf();
                if let Err(error) = std::fs::remove_dir_all(&dir) {
                    eprintln!(
                        "corelog: shard {}: deleting {}: {error}",
                        self.id,
                        dir.display()
                    );
                }
            }
        }

        let started = std::time::Instant::now();
        let first_install = self.snapshot.borrow().version == 0;
        let (mut opened, mut scanned) = (0usize, 0usize);
        for (key, topic) in wanted {
            let config = topic_config::log_config(&topic.configs, &self.config.topic_defaults);
            if let Some(partition) = self.partitions.borrow().get(&key) {
                partition.set_config(config);
                partition.set_leader_epoch(topic.placement[key.1 as usize].leader_epoch);
                continue;
            }
            match self.open_partition(&topic, key.1, config).await {
                Ok(partition) => {
                    opened += 1;
                    scanned += partition.log().segments_scanned();
                    let partition = Rc::new(partition);
                    self.partitions.borrow_mut().insert(key.clone(), partition.clone());
                    if crate::metadata::is_internal(&key.0) {
                        self.groups.load(key.1, partition.clone()).await;
                    }
                }
                Err(error) => eprintln!(
                    "corelog: shard {}: cannot open partition {}-{} in {}: {error}; its requests get KAFKA_STORAGE_ERROR",
                    self.id,
                    key.0,
                    key.1,
                    self.config.data_dir.display()
                ),
            }
        }
        if first_install {
            eprintln!(
                "corelog: shard {}: opened {opened} partitions in {:?}; {scanned} segments were scanned for recovery, the rest trusted from their seal records",
                self.id,
                started.elapsed()
            );
        }
        *self.snapshot.borrow_mut() = snapshot;
    }

    async fn open_partition(
        &self,
        topic: &TopicMetadata,
        index: i32,
        config: crate::storage::LogConfig,
    ) -> io::Result<Partition> {
        let dir = partition::directory(&self.config.data_dir, &topic.name, index);
        // A directory left by an earlier topic of the same name (deleted while
        // this shard was down) must not leak its records into the new topic.
        let marker = dir.join("topic.id");
        let id_text = hex(&topic.id);
        match std::fs::read_to_string(&marker) {
            Ok(existing) if existing.trim() != id_text => std::fs::remove_dir_all(&dir)?,
            _ => {}
        }
        let partition = Partition::open(
            &self.config.data_dir,
            &topic.name,
            topic.id,
            index,
            config,
            self.group_commit.clone(),
            self.tail_cache.clone(),
        )
        .await?;
        partition.set_leader_epoch(topic.placement[index as usize].leader_epoch);
        if !marker.exists() {
            std::fs::write(&marker, format!("{id_text}\n"))?;
        }
        Ok(partition)
    }

    /// Closes every partition: clean shutdown.
    pub async fn close_all(&self) {
        let statistics = self.group_commit.statistics();
        let (p50, p99, max) = self.group_commit.round_milliseconds();
        eprintln!(
            "corelog: shard {}: group commit: {} rounds, {} file syncs for {} acks=all appends; \
             round sync time p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms",
            self.id, statistics.rounds, statistics.syncs, statistics.waiters
        );
        let (appends, writes) = self
            .partitions
            .borrow()
            .values()
            .map(|partition| partition.write_counts())
            .fold((0, 0), |(appends, writes), (more_appends, more_writes)| {
                (appends + more_appends, writes + more_writes)
            });
        eprintln!(
            "corelog: shard {}: writer: {appends} appends in {writes} writes",
            self.id
        );
        let partitions: Vec<Rc<Partition>> = self
            .partitions
            .borrow_mut()
            .drain()
            .map(|(_, partition)| partition)
            .collect();
        for partition in partitions {
            if let Err(error) = partition.close().await {
                eprintln!(
                    "corelog: shard {}: closing {}-{}: {error}",
                    self.id, partition.topic, partition.index
                );
            }
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
