//! The groups one shard coordinates, the offsets partitions they live in,
//! and what every command shares: finding a group, creating it, storing
//! its membership, the timers.
//!
//! Invariants:
//! - a group is served only when the snapshot places its offsets
//!   partition on this shard and that partition finished loading here;
//! - every write to an offsets partition goes through its
//!   [`OffsetsPartition`], so appends apply in the order of the log.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::membership::{Group, GroupSettings};
use super::offsets_partition::OffsetsPartition;
use super::{consumer_group, coordinator_shard, expire_due, ConsumerGroup};
use crate::limits::{GROUPS_PER_SHARD_MAX, GROUP_TICK_MILLISECONDS};
use crate::metadata::Snapshot;
use crate::partition::Partition;
use crate::protocol::ErrorCode;

/// Settings from the broker's `group.*` configs.
#[derive(Debug, Clone, Copy)]
pub struct CoordinatorSettings {
    pub group: GroupSettings,
    pub session_timeout_min: Duration,
    pub session_timeout_max: Duration,
}

/// The groups one shard coordinates. Lives on that shard.
pub struct Coordinator {
    pub(super) shard_id: u32,
    pub(super) groups: RefCell<HashMap<String, Rc<RefCell<ConsumerGroup>>>>,
    /// Offsets partitions led here whose records are loaded, by index.
    pub(super) partitions: RefCell<HashMap<i32, Rc<OffsetsPartition>>>,
    pub settings: CoordinatorSettings,
    /// Member ids are `<client or instance id>-<uuid>`; the uuid is this
    /// random seed and a counter, so ids never repeat across restarts.
    member_id_seed: u64,
    next_member_id: Cell<u64>,
}

/// Where a group's requests are served.
pub(super) struct Located {
    pub(super) group: Option<Rc<RefCell<ConsumerGroup>>>,
    pub(super) partition: Rc<OffsetsPartition>,
}

impl Coordinator {
    pub fn new(shard_id: u32, settings: CoordinatorSettings) -> Coordinator {
        let seed = crate::metadata::store::random_bytes::<8>()
            .map(u64::from_be_bytes)
            .unwrap_or_else(|_| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|elapsed| elapsed.as_nanos() as u64)
                    .unwrap_or(0)
            });
        Coordinator {
            shard_id,
            groups: RefCell::new(HashMap::new()),
            partitions: RefCell::new(HashMap::new()),
            settings,
            member_id_seed: seed,
            next_member_id: Cell::new(0),
        }
    }

    pub(super) fn new_member_id(&self, prefix: &str) -> String {
        let counter = self.next_member_id.get();
        self.next_member_id.set(counter + 1);
        let uuid = uuid::Uuid::from_u64_pair(self.member_id_seed, counter);
        format!("{prefix}-{uuid}")
    }

    /// Finds the group's coordinator state on this shard, or the error a
    /// client gets: NOT_COORDINATOR when another shard coordinates it,
    /// COORDINATOR_LOAD_IN_PROGRESS while its partition loads.
    pub(super) fn locate(&self, snapshot: &Snapshot, group_id: &str) -> Result<Located, ErrorCode> {
        let Some((index, leader)) = coordinator_shard(snapshot, group_id) else {
            return Err(ErrorCode::COORDINATOR_NOT_AVAILABLE);
        };
        if leader != self.shard_id {
            return Err(ErrorCode::NOT_COORDINATOR);
        }
        let Some(partition) = self.partitions.borrow().get(&index).cloned() else {
            return Err(ErrorCode::COORDINATOR_LOAD_IN_PROGRESS);
        };
        Ok(Located {
            group: self.groups.borrow().get(group_id).cloned(),
            partition,
        })
    }

    /// The group, created empty when it does not exist yet.
    pub(super) fn get_or_create(
        &self,
        located: &Located,
        group_id: &str,
    ) -> Result<Rc<RefCell<ConsumerGroup>>, ErrorCode> {
        if let Some(group) = &located.group {
            return Ok(group.clone());
        }
        let mut groups = self.groups.borrow_mut();
        if let Some(group) = groups.get(group_id) {
            return Ok(group.clone());
        }
        if groups.len() >= GROUPS_PER_SHARD_MAX {
            tracing::warn!(
                "group coordinator: refusing group {group_id}: this shard has {GROUPS_PER_SHARD_MAX} groups already"
            );
            return Err(ErrorCode::COORDINATOR_NOT_AVAILABLE);
        }
        let group = Rc::new(RefCell::new(ConsumerGroup::new(
            Group::new(group_id, self.settings.group),
            located.partition.index,
        )));
        groups.insert(group_id.to_string(), group.clone());
        Ok(group)
    }

    /// Removes a group that was deleted, or that a refused first request
    /// left with nothing to keep.
    pub(super) fn forget(&self, group_id: &str) {
        self.groups.borrow_mut().remove(group_id);
    }

    /// Forgets the group when nothing is left worth keeping.
    pub(super) fn forget_if_unused(&self, group_id: &str, group: &RefCell<ConsumerGroup>) {
        if group.borrow().is_unused() {
            self.forget(group_id);
        }
    }

    /// Settings of consumer-protocol groups: Kafka's defaults for
    /// `group.consumer.session.timeout.ms` and
    /// `group.consumer.heartbeat.interval.ms`, and `group.max.size`.
    pub(super) fn consumer_settings(&self) -> consumer_group::ConsumerSettings {
        consumer_group::ConsumerSettings {
            session_timeout: consumer_group::SESSION_TIMEOUT_DEFAULT,
            heartbeat_interval: consumer_group::HEARTBEAT_INTERVAL_DEFAULT,
            members_max: self.settings.group.members_max,
        }
    }

    /// Stores the group's membership when a change asked for it.
    pub(super) async fn persist_if_wanted(
        &self,
        partition: &OffsetsPartition,
        group: &RefCell<ConsumerGroup>,
    ) {
        let record = {
            let mut group = group.borrow_mut();
            if !group.membership.take_persist_wanted() {
                return;
            }
            let stored = group.membership.stored(crate::rt::now_milliseconds());
            group.stored_record(stored)
        };
        let stored = partition
            .append_then_apply(&[record], |stored| stored)
            .await;
        if let Err(error) = stored {
            tracing::error!(
                "shard {}: group {} metadata not stored: {error:?}",
                self.shard_id,
                group.borrow().membership.group_id
            );
        }
    }

    /// Rebuilds the groups of offsets partition `index` from its log; from
    /// then on the coordinator serves them and writes to `partition`.
    pub async fn load(&self, index: i32, partition: Rc<Partition>) {
        let loaded = super::load::read(self.shard_id, index, &partition, self.settings.group).await;
        let mut groups = self.groups.borrow_mut();
        for (name, group) in loaded.groups {
            groups.insert(name, Rc::new(RefCell::new(group)));
        }
        drop(groups);
        self.partitions.borrow_mut().insert(
            index,
            Rc::new(OffsetsPartition::new(
                self.shard_id,
                index,
                partition,
                loaded.end,
            )),
        );
    }

    /// Whether the groups of offsets partition `index` are loaded here.
    pub fn is_loaded(&self, index: i32) -> bool {
        self.partitions.borrow().contains_key(&index)
    }

    /// Drops the groups of an offsets partition that left this shard; their
    /// waiting requests get NOT_COORDINATOR.
    pub fn unload(&self, index: i32) {
        self.partitions.borrow_mut().remove(&index);
        self.groups.borrow_mut().retain(|_, group| {
            let mut group = group.borrow_mut();
            if group.offsets_partition == index {
                group.membership.abandon();
                false
            } else {
                true
            }
        });
    }

    /// The committed offsets of the groups coordinated here, at most `max`
    /// of them (for metrics: lag by group and partition), as (group,
    /// topic, partition, offset), and how many more there were.
    pub fn committed_offsets(&self, max: usize) -> (Vec<(String, String, i32, i64)>, usize) {
        let mut listed = Vec::new();
        let mut omitted = 0;
        for (group_id, group) in self.groups.borrow().iter() {
            for ((topic, partition), committed) in &group.borrow().offsets {
                if listed.len() < max {
                    listed.push((
                        group_id.clone(),
                        topic.clone(),
                        *partition,
                        committed.offset,
                    ));
                } else {
                    omitted += 1;
                }
            }
        }
        (listed, omitted)
    }

    /// The coordinator's timer loop: runs for the life of the shard.
    pub async fn run_timers(&self) {
        loop {
            crate::rt::sleep(Duration::from_millis(GROUP_TICK_MILLISECONDS)).await;
            for group in self.tick() {
                let index = group.borrow().offsets_partition;
                let partition = self.partitions.borrow().get(&index).cloned();
                if let Some(partition) = partition {
                    self.persist_if_wanted(&partition, &group).await;
                }
            }
        }
    }

    /// One pass of the timers: silent members expire, join phases time out.
    /// Returns the groups that now want to be stored. Replies it sends only
    /// wake their tasks, so the groups map stays borrowed safely throughout.
    fn tick(&self) -> Vec<Rc<RefCell<ConsumerGroup>>> {
        let now = Instant::now();
        self.groups
            .borrow()
            .values()
            .filter(|group| {
                expire_due(group, now);
                group.borrow().membership.persist_wanted()
            })
            .cloned()
            .collect()
    }
}
