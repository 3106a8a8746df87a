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
//! The [`Coordinator`] owns every group command (join, sync, heartbeat,
//! leave, commit and fetch offsets, delete, describe, list, and the KIP-848
//! heartbeat and describe). It takes and returns the domain types of this
//! module; the API handlers only translate wire messages to them and back.
//! It holds the offsets partitions it was handed at load and nothing of the
//! shard: what it needs of the metadata comes in as a [`Snapshot`].
//!
//! Invariants:
//! - a [`Coordinator`] lives on one shard and holds exactly the groups whose
//!   offsets partition that shard leads and has finished loading;
//! - nothing about a group crosses cores: requests for a group that reach
//!   another shard get NOT_COORDINATOR, and clients go to the right node;
//! - a committed offset is in the offsets log before OffsetCommit answers,
//!   and the in-memory view changes after its record is durable, in the
//!   order of the log (one place: `OffsetsPartition::append_then_apply`);
//! - a group's generation id never decreases, in memory or in the stored
//!   records of the log (a tombstone starts the group over); a
//!   consumer-protocol group's epochs and a member's epoch never decrease.

pub mod assignor;
mod classic;
mod consumer;
pub mod consumer_group;
mod coordinator;
mod load;
pub mod membership;
mod offsets;
pub mod offsets_log;
mod offsets_partition;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};

use bytes::Bytes;

use crate::metadata::Snapshot;
use membership::Group;
use offsets_log::{CommittedOffset, OffsetsRecord};

pub use crate::metadata::OFFSETS_TOPIC;
pub use classic::{
    ClassicGroup, DescribedMember, GroupDescription, JoinGroup, MemberIdentity, SyncGroup,
};
pub use consumer::{
    ConsumerGroupDescription, ConsumerHeartbeat, DescribedConsumer, ListedGroup, NamedPartitions,
};
pub use coordinator::{Coordinator, CoordinatorSettings};
pub use offsets::{CommitPartition, FetchedOffsets, OffsetCommit, WantedOffsets};

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

/// The shard that coordinates `group_id`, from a metadata snapshot:
/// (offsets partition, shard).
pub fn coordinator_shard(snapshot: &Snapshot, group_id: &str) -> Option<(i32, u32)> {
    let topic = snapshot.topic(OFFSETS_TOPIC)?;
    let index = offsets_partition_for(group_id, topic.placement.len());
    topic
        .placement
        .get(index as usize)
        .map(|placement| (index, placement.leader))
}

/// A group's membership and its committed offsets.
pub struct ConsumerGroup {
    pub membership: Group,
    pub offsets: BTreeMap<(String, i32), CommittedOffset>,
    offsets_partition: i32,
    /// Set while the group is a consumer-protocol (KIP-848) group; its
    /// classic `membership` then stays empty, as a group is one or the other.
    pub consumer_protocol: Option<consumer_group::ConsumerProtocolGroup>,
    /// The generation of the last stored form written (or loaded): the
    /// next one written may not be older.
    stored_generation: i32,
}

/// The epochs of a group that may only grow, taken before a change and
/// checked after it.
#[derive(Clone, Copy)]
struct Epochs {
    generation_id: i32,
    group_epoch: i32,
    assignment_epoch: i32,
}

impl ConsumerGroup {
    fn new(membership: Group, offsets_partition: i32) -> ConsumerGroup {
        ConsumerGroup {
            stored_generation: membership.generation_id(),
            membership,
            offsets: BTreeMap::new(),
            offsets_partition,
            consumer_protocol: None,
        }
    }

    /// Kafka's group type, as ListGroups v5 shows it.
    pub fn group_type(&self) -> &'static str {
        if self.consumer_protocol.is_some() {
            "consumer"
        } else {
            "classic"
        }
    }

    fn epochs(&self) -> Epochs {
        let consumer = self.consumer_protocol.as_ref();
        Epochs {
            generation_id: self.membership.generation_id(),
            group_epoch: consumer.map_or(i32::MIN, |consumer| consumer.group_epoch()),
            assignment_epoch: consumer.map_or(i32::MIN, |consumer| consumer.assignment_epoch()),
        }
    }

    /// Whether nothing is left worth keeping: no offsets, no members.
    fn is_unused(&self) -> bool {
        self.offsets.is_empty()
            && self.membership.is_unused()
            && self
                .consumer_protocol
                .as_ref()
                .is_none_or(|consumer| consumer.is_empty())
    }

    /// The record that stores the group's membership; the generation it
    /// stores is never older than the one stored before.
    fn stored_record(&mut self, stored: membership::StoredGroup) -> OffsetsRecord {
        assert_not_back(
            &self.membership.group_id,
            "stored generation",
            self.stored_generation,
            stored.generation_id,
        );
        self.stored_generation = stored.generation_id;
        OffsetsRecord::Group {
            group: self.membership.group_id.clone(),
            value: Some(stored),
        }
    }

    /// Applies offset records that are in the log: a commit sets, a
    /// tombstone removes.
    fn apply_offsets(&mut self, records: Vec<OffsetsRecord>) {
        for record in records {
            if let OffsetsRecord::Offset {
                topic,
                partition,
                value,
                ..
            } = record
            {
                match value {
                    Some(value) => {
                        self.offsets.insert((topic, partition), value);
                    }
                    None => {
                        self.offsets.remove(&(topic, partition));
                    }
                }
            }
        }
    }
}

/// Runs `change` on the group and checks that it moved no generation or
/// epoch backwards (a consumer-protocol group that appeared counts from
/// its start, one that went away from nothing).
fn change_group<T>(
    group: &RefCell<ConsumerGroup>,
    change: impl FnOnce(&mut ConsumerGroup) -> T,
) -> T {
    let mut group = group.borrow_mut();
    let before = group.epochs();
    let result = change(&mut group);
    let after = group.epochs();
    let group_id = &group.membership.group_id;
    assert_not_back(
        group_id,
        "generation",
        before.generation_id,
        after.generation_id,
    );
    if before.group_epoch != i32::MIN && after.group_epoch != i32::MIN {
        assert_not_back(
            group_id,
            "group epoch",
            before.group_epoch,
            after.group_epoch,
        );
        assert_not_back(
            group_id,
            "assignment epoch",
            before.assignment_epoch,
            after.assignment_epoch,
        );
    }
    result
}

/// Panics when a generation or epoch that may only grow went back: state
/// that clients were told of would be handed out again.
fn assert_not_back(group_id: &str, what: &str, before: i32, after: i32) {
    assert!(
        after >= before,
        "group {group_id}: {what} {after} after {before}"
    );
}

/// Runs `group`'s timers up to `now`: members past their session deadline
/// leave, joins past their deadline complete. The coordinator's timer does
/// this every `GROUP_TICK_MILLISECONDS`; requests that judge a group by its
/// members (DeleteGroups, DescribeGroups) do it first, so a member is gone
/// at its deadline exactly, as in Kafka, not up to a tick later. What the
/// change wants stored is stored by the next timer round.
fn expire_due(group: &RefCell<ConsumerGroup>, now: std::time::Instant) {
    change_group(group, |group| {
        group.membership.tick(now);
        if let Some(consumer) = &mut group.consumer_protocol {
            consumer.tick(now);
        }
    });
}

/// Topics named in consumer-protocol subscriptions (for OffsetDelete).
fn subscribed_topics(subscriptions: &[Bytes]) -> HashSet<String> {
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

/// Whether the metadata knows partition `index` of `topic`.
fn partition_exists(snapshot: &Snapshot, topic: &str, index: i32) -> bool {
    snapshot
        .topic(topic)
        .is_some_and(|known| index >= 0 && (index as usize) < known.placement.len())
}

#[cfg(test)]
mod coordinator_tests;

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
