//! Consumer groups: the coordinator side of Kafka's group protocol.
//!
//! The coordinator of group G is the shard that leads partition
//! `java_hash(G) % P` of the internal offsets topic `__consumer_offsets`
//! (P fixed when the topic is first created, 50 by default like Kafka's
//! `offsets.topic.num.partitions`). That shard keeps the group's membership
//! and committed offsets in memory and writes every change to that
//! partition, durably, before it answers. At start (and whenever an offsets
//! partition arrives on a shard) the partition is read from its start and the
//! groups are rebuilt, so neither a restart nor a change of `--cores` loses a
//! committed offset.
//!
//! Invariants:
//! - a [`Coordinator`] lives on one shard and holds exactly the groups whose
//!   offsets partition that shard leads and has finished loading;
//! - nothing about a group crosses cores: requests for a group that reach
//!   another shard get NOT_COORDINATOR, and clients go to the right node;
//! - a committed offset is in the offsets log before OffsetCommit answers,
//!   and the in-memory view changes in the order of the log.

pub mod assignor;
pub mod consumer_group;
pub mod membership;
pub mod offsets_log;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::limits::{GROUPS_PER_SHARD_MAX, GROUP_TICK_MILLISECONDS, OFFSETS_LOAD_CHUNK_BYTES};
use crate::partition::{AppendError, Partition};
use crate::protocol::batch::BatchHeader;
use crate::protocol::ErrorCode;
use crate::shard::{Route, Shard};
use membership::{Group, GroupSettings, StoredGroup};
use offsets_log::{CommittedOffset, OffsetsRecord};

pub use crate::metadata::OFFSETS_TOPIC;

/// Java's `String.hashCode` of the group id, made non-negative as Kafka
/// does, modulo the offsets topic's partition count: the same group lands on
/// the same partition number as in Kafka.
pub fn offsets_partition_for(group_id: &str, partition_count: usize) -> i32 {
    let mut hash: i32 = 0;
    for unit in group_id.encode_utf16() {
        hash = hash.wrapping_mul(31).wrapping_add(i32::from(unit));
    }
    let positive = if hash == i32::MIN { 0 } else { hash.abs() };
    positive % partition_count.max(1) as i32
}

/// The shard that coordinates `group_id`, from a metadata snapshot.
pub fn coordinator_shard(
    snapshot: &crate::metadata::Snapshot,
    group_id: &str,
) -> Option<(i32, u32)> {
    let topic = snapshot.topic(OFFSETS_TOPIC)?;
    let index = offsets_partition_for(group_id, topic.placement.len());
    topic
        .placement
        .get(index as usize)
        .map(|&shard| (index, shard))
}

/// A group's membership and its committed offsets.
pub struct ConsumerGroup {
    pub membership: Group,
    pub offsets: BTreeMap<(String, i32), CommittedOffset>,
    offsets_partition: i32,
    /// Set while the group is a consumer-protocol (KIP-848) group; its
    /// classic `membership` then stays empty, as a group is one or the other.
    pub consumer_protocol: Option<consumer_group::ConsumerProtocolGroup>,
}

impl ConsumerGroup {
    /// Kafka's group type, as ListGroups v5 shows it.
    pub fn group_type(&self) -> &'static str {
        if self.consumer_protocol.is_some() {
            "consumer"
        } else {
            "classic"
        }
    }
}

/// One group as ListGroups shows it.
pub struct ListedGroup {
    pub group_id: String,
    pub protocol_type: String,
    /// `classic` or `consumer`.
    pub group_type: &'static str,
    pub state: &'static str,
}

/// Settings from the broker's `group.*` configs.
#[derive(Debug, Clone, Copy)]
pub struct CoordinatorSettings {
    pub group: GroupSettings,
    pub session_timeout_min: Duration,
    pub session_timeout_max: Duration,
}

/// The groups one shard coordinates. Lives on that shard.
pub struct Coordinator {
    groups: RefCell<HashMap<String, Rc<RefCell<ConsumerGroup>>>>,
    /// Offsets partitions led here whose records are loaded.
    loaded: RefCell<HashSet<i32>>,
    pub settings: CoordinatorSettings,
    /// Member ids are `<client or instance id>-<uuid>`; the uuid is this
    /// random seed and a counter, so ids never repeat across restarts.
    member_id_seed: u64,
    next_member_id: Cell<u64>,
}

/// Where a group's requests are served.
pub struct Located {
    pub group: Option<Rc<RefCell<ConsumerGroup>>>,
    pub offsets_partition: i32,
    pub log: Rc<Partition>,
}

impl Coordinator {
    pub fn new(settings: CoordinatorSettings) -> Coordinator {
        let seed = crate::metadata::store::random_bytes::<8>()
            .map(u64::from_be_bytes)
            .unwrap_or_else(|_| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|elapsed| elapsed.as_nanos() as u64)
                    .unwrap_or(0)
            });
        Coordinator {
            groups: RefCell::new(HashMap::new()),
            loaded: RefCell::new(HashSet::new()),
            settings,
            member_id_seed: seed,
            next_member_id: Cell::new(0),
        }
    }

    pub fn new_member_id(&self, prefix: &str) -> String {
        let counter = self.next_member_id.get();
        self.next_member_id.set(counter + 1);
        let uuid = uuid::Uuid::from_u64_pair(self.member_id_seed, counter);
        format!("{prefix}-{uuid}")
    }

    /// Finds the group's coordinator state on this shard, or the error a
    /// client gets: NOT_COORDINATOR when another shard coordinates it,
    /// COORDINATOR_LOAD_IN_PROGRESS while its partition loads.
    pub fn locate(&self, shard: &Shard, group_id: &str) -> Result<Located, ErrorCode> {
        let snapshot = shard.snapshot();
        let Some((index, leader)) = coordinator_shard(&snapshot, group_id) else {
            return Err(ErrorCode::COORDINATOR_NOT_AVAILABLE);
        };
        if leader != shard.id {
            return Err(ErrorCode::NOT_COORDINATOR);
        }
        if !self.loaded.borrow().contains(&index) {
            return Err(ErrorCode::COORDINATOR_LOAD_IN_PROGRESS);
        }
        let log = match shard.route(OFFSETS_TOPIC, index) {
            Route::Here(partition) => partition,
            Route::Elsewhere(_) => return Err(ErrorCode::COORDINATOR_NOT_AVAILABLE),
        };
        Ok(Located {
            group: self.groups.borrow().get(group_id).cloned(),
            offsets_partition: index,
            log,
        })
    }

    /// The group, created empty when it does not exist yet.
    pub fn get_or_create(
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
            eprintln!(
                "corelog: group coordinator: refusing group {group_id}: this shard has {GROUPS_PER_SHARD_MAX} groups already"
            );
            return Err(ErrorCode::COORDINATOR_NOT_AVAILABLE);
        }
        let group = Rc::new(RefCell::new(ConsumerGroup {
            membership: Group::new(group_id, self.settings.group),
            offsets: BTreeMap::new(),
            offsets_partition: located.offsets_partition,
            consumer_protocol: None,
        }));
        groups.insert(group_id.to_string(), group.clone());
        Ok(group)
    }

    /// Removes a group that was deleted.
    pub fn forget(&self, group_id: &str) {
        self.groups.borrow_mut().remove(group_id);
    }

    /// Ids and states of the groups coordinated here.
    pub fn list(&self) -> Vec<(String, String, membership::GroupState)> {
        let loaded = self.loaded.borrow();
        self.groups
            .borrow()
            .iter()
            .filter(|(_, group)| loaded.contains(&group.borrow().offsets_partition))
            .map(|(id, group)| {
                let group = group.borrow();
                (
                    id.clone(),
                    group
                        .membership
                        .protocol_type()
                        .unwrap_or_default()
                        .to_string(),
                    group.membership.state(),
                )
            })
            .collect()
    }

    /// Settings of consumer-protocol groups: Kafka's defaults for
    /// `group.consumer.session.timeout.ms` and
    /// `group.consumer.heartbeat.interval.ms`, and `group.max.size`.
    pub fn consumer_settings(&self) -> consumer_group::ConsumerSettings {
        consumer_group::ConsumerSettings {
            session_timeout: consumer_group::SESSION_TIMEOUT_DEFAULT,
            heartbeat_interval: consumer_group::HEARTBEAT_INTERVAL_DEFAULT,
            members_max: self.settings.group.members_max,
        }
    }

    /// Ids, protocol types, group types and states of the groups
    /// coordinated here, consumer-protocol groups included.
    pub fn list_typed(&self) -> Vec<ListedGroup> {
        let loaded = self.loaded.borrow();
        self.groups
            .borrow()
            .iter()
            .filter(|(_, group)| loaded.contains(&group.borrow().offsets_partition))
            .map(|(id, group)| {
                let group = group.borrow();
                let (protocol_type, state) = match &group.consumer_protocol {
                    Some(consumer) => ("consumer".to_string(), consumer.state().name()),
                    None => (
                        group
                            .membership
                            .protocol_type()
                            .unwrap_or_default()
                            .to_string(),
                        group.membership.state().name(),
                    ),
                };
                ListedGroup {
                    group_id: id.clone(),
                    protocol_type,
                    group_type: group.group_type(),
                    state,
                }
            })
            .collect()
    }

    /// Writes `records` to the offsets partition, durably.
    pub async fn append(
        &self,
        shard_id: u32,
        log: &Rc<Partition>,
        records: &[OffsetsRecord],
    ) -> Result<(), ErrorCode> {
        if records.is_empty() {
            return Ok(());
        }
        let batch = offsets_log::encode_batch(records, crate::rt::now_milliseconds());
        match log
            .append(batch.clone(), true, crate::rt::now_milliseconds())
            .await
        {
            Ok(_) => Ok(()),
            Err(AppendError::Batch(error)) => {
                eprintln!(
                    "corelog: shard {shard_id}: offsets commit of {} bytes refused: {error}",
                    batch.len()
                );
                Err(ErrorCode::INVALID_COMMIT_OFFSET_SIZE)
            }
            Err(AppendError::Storage(error)) => {
                eprintln!(
                    "corelog: shard {shard_id}: write to {} failed: {error}",
                    log.log().dir().display()
                );
                Err(ErrorCode::COORDINATOR_NOT_AVAILABLE)
            }
            Err(AppendError::Closed) => Err(ErrorCode::NOT_COORDINATOR),
            // The coordinator's own batches carry no producer id.
            Err(
                AppendError::FencedEpoch
                | AppendError::OutOfOrderSequence
                | AppendError::SeveralIdempotentBatches,
            ) => Err(ErrorCode::UNKNOWN_SERVER_ERROR),
        }
    }

    /// Stores the group's membership when a change asked for it.
    pub async fn persist_if_wanted(
        &self,
        shard_id: u32,
        log: &Rc<Partition>,
        group: &RefCell<ConsumerGroup>,
    ) {
        let record = {
            let mut group = group.borrow_mut();
            if !group.membership.take_persist_wanted() {
                return;
            }
            OffsetsRecord::Group {
                group: group.membership.group_id.clone(),
                value: Some(group.membership.stored(crate::rt::now_milliseconds())),
            }
        };
        if let Err(error) = self.append(shard_id, log, &[record]).await {
            eprintln!(
                "corelog: shard {shard_id}: group {} metadata not stored: {error:?}",
                group.borrow().membership.group_id
            );
        }
    }

    /// Rebuilds the groups of offsets partition `index` from its log.
    pub async fn load(&self, shard_id: u32, index: i32, partition: &Partition) {
        let started = Instant::now();
        let mut offsets: HashMap<String, BTreeMap<(String, i32), CommittedOffset>> = HashMap::new();
        let mut stored: HashMap<String, Option<StoredGroup>> = HashMap::new();
        let mut offset = partition.log_start_offset();
        let end = partition.log_end_offset();
        let mut skipped = 0usize;
        while offset < end {
            let bytes = match partition.read(offset, OFFSETS_LOAD_CHUNK_BYTES).await {
                Ok(bytes) => bytes,
                Err(error) => {
                    eprintln!(
                        "corelog: shard {shard_id}: loading {OFFSETS_TOPIC}-{index} stopped at offset {offset}: {error:?}"
                    );
                    break;
                }
            };
            let mut rest = bytes;
            let before = offset;
            while let Some(header) = BatchHeader::view(&rest) {
                let length = header.total_bytes();
                if length > rest.len() {
                    break;
                }
                offset = header.next_offset();
                let batch = rest.split_to(length);
                for record in offsets_log::decode_batch(&batch, &mut |_| skipped += 1) {
                    match record {
                        OffsetsRecord::Offset {
                            group,
                            topic,
                            partition,
                            value,
                        } => {
                            let entry = offsets.entry(group).or_default();
                            match value {
                                Some(value) => {
                                    entry.insert((topic, partition), value);
                                }
                                None => {
                                    entry.remove(&(topic, partition));
                                }
                            }
                        }
                        OffsetsRecord::Group { group, value } => {
                            if value.is_none() {
                                offsets.remove(&group);
                            }
                            stored.insert(group, value);
                        }
                    }
                }
            }
            if offset == before {
                eprintln!(
                    "corelog: shard {shard_id}: loading {OFFSETS_TOPIC}-{index}: no whole batch at offset {offset}; the rest is skipped"
                );
                break;
            }
        }
        if skipped > 0 {
            eprintln!(
                "corelog: shard {shard_id}: {OFFSETS_TOPIC}-{index}: {skipped} records did not parse and were skipped"
            );
        }
        let now = Instant::now();
        let mut groups = self.groups.borrow_mut();
        let mut names: HashSet<String> = offsets.keys().cloned().collect();
        names.extend(stored.keys().cloned());
        let mut count = 0usize;
        for name in names {
            let membership = match stored.remove(&name) {
                Some(None) => continue,
                Some(Some(value)) => Group::restore(&name, value, self.settings.group, now),
                None => Group::new(&name, self.settings.group),
            };
            count += 1;
            groups.insert(
                name.clone(),
                Rc::new(RefCell::new(ConsumerGroup {
                    membership,
                    offsets: offsets.remove(&name).unwrap_or_default(),
                    offsets_partition: index,
                    consumer_protocol: None,
                })),
            );
        }
        self.loaded.borrow_mut().insert(index);
        if count > 0 {
            eprintln!(
                "corelog: shard {shard_id}: loaded {count} groups from {OFFSETS_TOPIC}-{index} ({} records) in {:?}",
                end - partition.log_start_offset(),
                started.elapsed()
            );
        }
    }

    /// Drops the groups of an offsets partition that left this shard; their
    /// waiting requests get NOT_COORDINATOR.
    pub fn unload(&self, index: i32) {
        self.loaded.borrow_mut().remove(&index);
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

/// Runs `group`'s timers up to `now`: members past their session deadline
/// leave, joins past their deadline complete. The shard's timer does this
/// every `GROUP_TICK_MILLISECONDS`; requests that judge a group by its
/// members (DeleteGroups, DescribeGroups) do it first, so a member is gone
/// at its deadline exactly, as in Kafka, not up to a tick later. What the
/// change wants stored is stored by the next timer round.
pub fn expire_due(group: &RefCell<ConsumerGroup>, now: Instant) {
    let mut group = group.borrow_mut();
    group.membership.tick(now);
    if let Some(consumer) = &mut group.consumer_protocol {
        consumer.tick(now);
    }
}

/// The shard's group timer loop: runs for the life of the shard.
pub async fn run_timers(shard: Rc<Shard>) {
    loop {
        crate::rt::sleep(Duration::from_millis(GROUP_TICK_MILLISECONDS)).await;
        for group in shard.groups.tick() {
            let index = group.borrow().offsets_partition;
            if let Route::Here(log) = shard.route(OFFSETS_TOPIC, index) {
                shard.groups.persist_if_wanted(shard.id, &log, &group).await;
            }
        }
    }
}

/// Topics named in consumer-protocol subscriptions (for OffsetDelete).
pub fn subscribed_topics(subscriptions: &[Bytes]) -> HashSet<String> {
    use kafka_protocol::messages::ConsumerProtocolSubscription;
    use kafka_protocol::protocol::Decodable;
    let mut topics = HashSet::new();
    for subscription in subscriptions {
        let mut bytes = subscription.clone();
        if bytes.len() < 2 {
            continue;
        }
        let version = i16::from_be_bytes([bytes[0], bytes[1]]);
        let _ = bytes::Buf::get_i16(&mut bytes);
        // Newer clients may speak a later version than this codec knows;
        // read it as the newest we know, whose prefix is the same.
        let version = version.clamp(0, 3);
        if let Ok(decoded) = ConsumerProtocolSubscription::decode(&mut bytes, version) {
            topics.extend(decoded.topics.into_iter().map(|topic| topic.to_string()));
        }
    }
    topics
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_hash_matches_java_string_hash_code() {
        // Java: "hello".hashCode() == 99162322; "Aa" and "BB" collide at 2112.
        assert_eq!(offsets_partition_for("hello", 1_000_000_000), 99_162_322);
        assert_eq!(
            offsets_partition_for("Aa", 50),
            offsets_partition_for("BB", 50)
        );
        assert_eq!(offsets_partition_for("Aa", 10_000), 2112);
        assert_eq!(offsets_partition_for("", 50), 0);
        for name in ["group-1", "a much longer consumer group name", "ünïcode"] {
            assert!((0..50).contains(&offsets_partition_for(name, 50)));
        }
    }
}
