//! The partitions one shard holds a replica of (leading or following), and
//! the per-shard resources they share:
//! the group commit (file syncs batched across partitions), the tail cache,
//! the append signal parked fetches wait on, and the produce budget.
//! Produce, Fetch, ListOffsets and DeleteRecords reach a partition only
//! through [`Partitions::route`] (or [`Partitions::route_at_epoch`]).
//!
//! Invariants:
//! - `open` holds only partitions whose replicas name this shard; between
//!   installs it holds every such partition that opened without error (one
//!   that failed routes to KAFKA_STORAGE_ERROR until the next install;
//!   one an install is closing, to NOT_LEADER_OR_FOLLOWER).
//! - clients are routed only to a partition this shard leads; a follower
//!   answers NOT_LEADER_OR_FOLLOWER.
//! - routing reads the snapshot the metadata view installed (one cell,
//!   shared); [`super::Shard::install`] installs it after opening and
//!   closing, so routing never names a partition of a snapshot newer than
//!   the one clients can see.
//! - every open partition shares this shard's group commit and tail cache;
//!   none is shared with another shard.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::io;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use super::metadata_view::InstalledSnapshot;
use crate::config::Config;
use crate::limits::SHARDS_MAX;
use crate::limits::{PARKED_FETCHES_PER_SHARD_MAX, PRODUCE_BYTES_UNWRITTEN_PER_SHARD_MAX};
use crate::metadata::{host_of, PartitionPlacement, Snapshot, TopicMetadata, NO_LEADER};
use crate::partition::group_commit::GroupCommit;
use crate::partition::replica::Role;
use crate::partition::tail_cache::TailCache;
use crate::partition::{self, Partition};
use crate::protocol::ErrorCode;
use crate::rt::sync::{ByteBudget, Signal};
use crate::storage::LogConfig;

/// A partition by topic name and index.
pub type PartitionKey = (String, i32);

/// Where a request for one partition should go.
pub enum Route {
    Here(Rc<Partition>),
    Elsewhere(ErrorCode),
}

/// What [`Partitions::open_or_update`] did.
pub enum Opened {
    /// Was open: its configuration and leader epoch were updated.
    Already,
    /// Opened by this call.
    Now(Rc<Partition>),
    /// Could not be opened (logged).
    Failed,
}

/// The open partitions of one shard and the resources they share (see the
/// module doc for its Invariants).
pub struct Partitions {
    shard: u32,
    data_dir: PathBuf,
    /// The installed snapshot, shared with the metadata view.
    placement: InstalledSnapshot,
    open: RefCell<HashMap<PartitionKey, Rc<Partition>>>,
    /// Partitions placed here whose files failed to open (their requests
    /// get KAFKA_STORAGE_ERROR); cleared when one opens or leaves.
    failed: RefCell<HashSet<PartitionKey>>,
    /// Fired after every append and every group-commit round on this
    /// shard; parked fetches wait on it.
    appended: Rc<Signal>,
    group_commit: Rc<GroupCommit>,
    tail_cache: Rc<TailCache>,
    /// Produce bytes read but not yet written, bounded.
    produce_budget: ByteBudget,
}

impl Partitions {
    pub fn new(shard: u32, config: &Config, installed: InstalledSnapshot) -> Partitions {
        let appended = Rc::new(Signal::bounded(PARKED_FETCHES_PER_SHARD_MAX));
        Partitions {
            shard,
            data_dir: config.data_dir.clone(),
            placement: installed,
            open: RefCell::new(HashMap::new()),
            failed: RefCell::new(HashSet::new()),
            group_commit: Rc::new(GroupCommit::new(appended.clone())),
            appended,
            tail_cache: Rc::new(TailCache::new(config.tail_cache_bytes)),
            produce_budget: ByteBudget::new(PRODUCE_BYTES_UNWRITTEN_PER_SHARD_MAX),
        }
    }

    /// Fired after every append and group-commit round on this shard.
    pub fn appended(&self) -> &Signal {
        &self.appended
    }

    /// The tail cache the partitions of this shard share (for metrics).
    pub fn tail_cache(&self) -> &TailCache {
        &self.tail_cache
    }

    /// Produce bytes read but not yet written on this shard, bounded.
    pub fn produce_budget(&self) -> &ByteBudget {
        &self.produce_budget
    }

    /// The partition when this shard leads it, or the error a client gets.
    pub fn route(&self, topic: &str, index: i32) -> Route {
        let placement = self.placement.borrow().clone();
        let Some(metadata) = placement.topic(topic) else {
            return Route::Elsewhere(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
        };
        match usize::try_from(index)
            .ok()
            .and_then(|index| metadata.placement.get(index))
        {
            None => Route::Elsewhere(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION),
            Some(placement) if placement.leader != self.shard => {
                Route::Elsewhere(ErrorCode::NOT_LEADER_OR_FOLLOWER)
            }
            Some(_) => {
                let key = (topic.to_string(), index);
                match self.open.borrow().get(&key) {
                    Some(partition) => Route::Here(partition.clone()),
                    // Placed here but not open: opening failed (logged then).
                    None if self.failed.borrow().contains(&key) => {
                        Route::Elsewhere(ErrorCode::KAFKA_STORAGE_ERROR)
                    }
                    // Or it is being closed by an install under way (its
                    // topic deleted, its replica moved): the routing
                    // snapshot changes next, and the client, told to look
                    // again, finds where it went.
                    None => Route::Elsewhere(ErrorCode::NOT_LEADER_OR_FOLLOWER),
                }
            }
        }
    }

    /// Like [`Partitions::route`], for a request that names the leader
    /// epoch its sender knows (Fetch v9+, ListOffsets v4+; -1 for none): an
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

    /// The partitions this shard follows, by the leader broker they fetch
    /// from and its address.
    pub fn followed(&self) -> HashMap<(u32, String), Vec<Rc<Partition>>> {
        let mut followed: HashMap<(u32, String), Vec<Rc<Partition>>> = HashMap::new();
        for partition in self.open.borrow().values() {
            if let Role::Follower {
                leader,
                address: Some(address),
            } = partition.role()
            {
                followed
                    .entry((leader, address))
                    .or_default()
                    .push(partition.clone());
            }
        }
        followed
    }

    /// Every partition this shard holds a replica of (leading or not).
    pub fn all(&self) -> Vec<Rc<Partition>> {
        self.open.borrow().values().cloned().collect()
    }

    /// Calls `visit` on every partition this shard leads, without copying
    /// the list (for timers that run often). `visit` must not open or
    /// close partitions.
    pub fn for_each(&self, mut visit: impl FnMut(&Rc<Partition>)) {
        for partition in self.open.borrow().values() {
            visit(partition);
        }
    }

    /// The partitions `snapshot` places a replica of on this shard, with
    /// their topics.
    pub fn placed_here(&self, snapshot: &Snapshot) -> HashMap<PartitionKey, Arc<TopicMetadata>> {
        snapshot
            .topics
            .values()
            .flat_map(|topic| {
                topic
                    .placement
                    .iter()
                    .enumerate()
                    .filter(|(_, placement)| {
                        placement.leader == self.shard || placement.replicas.contains(&self.shard)
                    })
                    .map(move |(index, _)| ((topic.name.clone(), index as i32), topic.clone()))
            })
            .collect()
    }

    /// The open partitions not in `wanted` (or now of another topic of
    /// the same name): those an install closes.
    pub fn leaving(&self, wanted: &HashMap<PartitionKey, Arc<TopicMetadata>>) -> Vec<PartitionKey> {
        self.failed
            .borrow_mut()
            .retain(|key| wanted.contains_key(key));
        self.open
            .borrow()
            .iter()
            .filter(|(key, partition)| {
                wanted
                    .get(*key)
                    .is_none_or(|topic| topic.id != partition.topic_id)
            })
            .map(|(key, _)| key.clone())
            .collect()
    }

    /// A replicated partition's new leader records where its epoch starts
    /// (before it appends), so followers of an older epoch learn where
    /// theirs ends here. A sole replica needs no record of it.
    fn mark_epoch_start(&self, partition: &Partition, placement: &PartitionPlacement) {
        if placement.replicas.len() > 1 && partition.is_leader() {
            if let Err(error) = partition.assign_epoch_start_offset() {
                tracing::warn!(
                    "recording epoch {} of {}-{}: {error}",
                    placement.leader_epoch,
                    partition.topic,
                    partition.index
                );
            }
        }
    }

    /// An open partition, whatever its role.
    pub fn get(&self, key: &PartitionKey) -> Option<Rc<Partition>> {
        self.open.borrow().get(key).cloned()
    }

    /// Takes a partition out of the open set, for the caller to close.
    pub fn take(&self, key: &PartitionKey) -> Option<Rc<Partition>> {
        self.failed.borrow_mut().remove(key);
        self.open.borrow_mut().remove(key)
    }

    /// Closes a partition taken out of the open set; deletes its files
    /// unless `snapshot` still has its topic (a partition that moved to
    /// another shard keeps them; a deleted topic's go).
    pub async fn close(&self, snapshot: &Snapshot, partition: Rc<Partition>) {
        if let Err(error) = partition.close().await {
            tracing::error!(
                "shard {}: closing {}-{}: {error}",
                self.shard,
                partition.topic,
                partition.index
            );
        }
        let still_exists = snapshot
            .topic(&partition.topic)
            .is_some_and(|topic| topic.id == partition.topic_id);
        if !still_exists {
            let dir = partition.log().dir().to_path_buf();
            if let Err(error) = std::fs::remove_dir_all(&dir) {
                tracing::error!("shard {}: deleting {}: {error}", self.shard, dir.display());
            }
        }
    }

    /// Brings partition `index` of `topic` in line with its configuration
    /// and placement, opening it when it is not open yet (on failure logs
    /// why; its requests then get KAFKA_STORAGE_ERROR).
    pub async fn open_or_update(
        &self,
        snapshot: &Snapshot,
        topic: &TopicMetadata,
        index: i32,
        config: LogConfig,
        broker_min_insync: i32,
    ) -> Opened {
        let key = (topic.name.clone(), index);
        let placement = &topic.placement[index as usize];
        let min_insync = topic.min_insync_replicas(broker_min_insync);
        let leader_address = broker_address(snapshot, placement.leader);
        if let Some(partition) = self.open.borrow().get(&key) {
            partition.set_config(config);
            partition.apply_placement(self.shard, placement, min_insync, leader_address);
            partition.set_leader_epoch(placement.leader_epoch);
            self.mark_epoch_start(partition, placement);
            return Opened::Already;
        }
        match self.open_files(topic, index, config).await {
            Ok(partition) => {
                partition.apply_placement(self.shard, placement, min_insync, leader_address);
                partition.set_leader_epoch(placement.leader_epoch);
                self.mark_epoch_start(&partition, placement);
                let partition = Rc::new(partition);
                self.failed.borrow_mut().remove(&key);
                self.open.borrow_mut().insert(key, partition.clone());
                Opened::Now(partition)
            }
            Err(error) => {
                tracing::error!(
                    "shard {}: cannot open partition {}-{index} in {}: {error}; its requests get KAFKA_STORAGE_ERROR",
                    self.shard,
                    topic.name,
                    self.data_dir.display()
                );
                self.failed.borrow_mut().insert(key);
                Opened::Failed
            }
        }
    }

    async fn open_files(
        &self,
        topic: &TopicMetadata,
        index: i32,
        config: LogConfig,
    ) -> io::Result<Partition> {
        let dir = partition::directory(&self.data_dir, &topic.name, index);
        // A directory left by an earlier topic of the same name (deleted while
        // this shard was down) must not leak its records into the new topic.
        let marker = dir.join("topic.id");
        let id_text = hex(&topic.id);
        match std::fs::read_to_string(&marker) {
            Ok(existing) if existing.trim() != id_text => std::fs::remove_dir_all(&dir)?,
            _ => {}
        }
        let partition = Partition::open(
            &self.data_dir,
            &topic.name,
            topic.id,
            index,
            config,
            self.group_commit.clone(),
            self.tail_cache.clone(),
        )
        .await?;
        if !marker.exists() {
            std::fs::write(&marker, format!("{id_text}\n"))?;
        }
        Ok(partition)
    }

    /// Closes every partition: clean shutdown. Logs the group commit's and
    /// the writers' statistics first.
    pub async fn close_all(&self) {
        let statistics = self.group_commit.statistics();
        let (p50, p99, max) = self.group_commit.round_milliseconds();
        tracing::info!(
            "shard {}: group commit: {} rounds, {} file syncs for {} acks=all appends; \
             round sync time p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms",
            self.shard,
            statistics.rounds,
            statistics.syncs,
            statistics.waiters
        );
        let (appends, writes) = self
            .open
            .borrow()
            .values()
            .map(|partition| partition.write_counts())
            .fold((0, 0), |(appends, writes), (more_appends, more_writes)| {
                (appends + more_appends, writes + more_writes)
            });
        tracing::info!(
            "shard {}: writer: {appends} appends in {writes} writes",
            self.shard
        );
        let partitions: Vec<Rc<Partition>> = self
            .open
            .borrow_mut()
            .drain()
            .map(|(_, partition)| partition)
            .collect();
        for partition in partitions {
            if let Err(error) = partition.close().await {
                tracing::error!(
                    "shard {}: closing {}-{}: {error}",
                    self.shard,
                    partition.topic,
                    partition.index
                );
            }
        }
    }
}

/// Where broker `broker` listens (`host:port`), from the hosts `snapshot`
/// knows; `None` for a broker of no known host (or [`NO_LEADER`]).
pub fn broker_address(snapshot: &Snapshot, broker: u32) -> Option<String> {
    if broker == NO_LEADER {
        return None;
    }
    let host = snapshot.hosts.get(&host_of(broker))?;
    let port = host.ports.get((broker % SHARDS_MAX as u32) as usize)?;
    Some(format!("{}:{port}", host.host))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
