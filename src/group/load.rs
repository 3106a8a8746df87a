//! Reading an offsets partition back into groups: every record from the
//! log start to its end, in order, the later record of a key winning.
//!
//! Invariants:
//! - a group's stored generations follow each other without going back,
//!   until a tombstone starts the group over (checked as they are read,
//!   the pair of the check made before each is written);
//! - a group deleted by a tombstone comes back only with a later record.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use super::membership::{Group, GroupSettings, StoredGroup};
use super::offsets_log::{self, CommittedOffset, OffsetsRecord};
use super::{ConsumerGroup, OFFSETS_TOPIC};
use crate::limits::OFFSETS_LOAD_CHUNK_BYTES;
use crate::partition::Partition;
use crate::protocol::batch::BatchHeader;

/// The groups of one offsets partition, and the log end they were read to.
pub(super) struct Loaded {
    pub(super) groups: Vec<(String, ConsumerGroup)>,
    pub(super) end: i64,
}

/// What the records say so far, key by key.
#[derive(Default)]
struct Replay {
    offsets: HashMap<String, BTreeMap<(String, i32), CommittedOffset>>,
    stored: HashMap<String, Option<StoredGroup>>,
    skipped: usize,
}

impl Replay {
    fn apply(&mut self, record: OffsetsRecord) {
        match record {
            OffsetsRecord::Offset {
                group,
                topic,
                partition,
                value,
            } => {
                let entry = self.offsets.entry(group).or_default();
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
                    self.offsets.remove(&group);
                }
                if let (Some(Some(before)), Some(after)) = (self.stored.get(&group), &value) {
                    debug_assert!(
                        after.generation_id >= before.generation_id,
                        "group {group}: stored generation {} after {}",
                        after.generation_id,
                        before.generation_id
                    );
                }
                self.stored.insert(group, value);
            }
        }
    }
}

/// Reads offsets partition `index` from its start to its end.
pub(super) async fn read(
    shard_id: u32,
    index: i32,
    partition: &Partition,
    settings: GroupSettings,
) -> Loaded {
    let started = Instant::now();
    let mut replay = Replay::default();
    let start = partition.log_start_offset();
    let end = partition.log_end_offset();
    let mut offset = start;
    while offset < end {
        let bytes = match partition.read(offset, OFFSETS_LOAD_CHUNK_BYTES).await {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::warn!(
                    "shard {shard_id}: loading {OFFSETS_TOPIC}-{index} stopped at offset {offset}: {error:?}"
                );
                break;
            }
        };
        let before = offset;
        offset = replay_chunk(&mut replay, bytes, offset);
        if offset == before {
            tracing::warn!(
                "shard {shard_id}: loading {OFFSETS_TOPIC}-{index}: no whole batch at offset {offset}; the rest is skipped"
            );
            break;
        }
    }
    if replay.skipped > 0 {
        tracing::warn!(
            "shard {shard_id}: {OFFSETS_TOPIC}-{index}: {} records did not parse and were skipped",
            replay.skipped
        );
    }
    let groups = into_groups(replay, index, settings);
    if !groups.is_empty() {
        tracing::info!(
            "shard {shard_id}: loaded {} groups from {OFFSETS_TOPIC}-{index} ({} records) in {:?}",
            groups.len(),
            end - start,
            started.elapsed()
        );
    }
    Loaded { groups, end }
}

/// Applies the whole batches of `bytes`; returns the offset after them.
fn replay_chunk(replay: &mut Replay, mut rest: bytes::Bytes, mut offset: i64) -> i64 {
    while let Some(header) = BatchHeader::view(&rest) {
        let length = header.total_bytes();
        if length > rest.len() {
            break;
        }
        offset = header.next_offset();
        let batch = rest.split_to(length);
        let mut skipped = 0;
        for record in offsets_log::decode_batch(&batch, &mut |_| skipped += 1) {
            replay.apply(record);
        }
        replay.skipped += skipped;
    }
    offset
}

/// The groups the replay left: every group with offsets or a stored form,
/// except those whose last word was a tombstone.
fn into_groups(
    mut replay: Replay,
    index: i32,
    settings: GroupSettings,
) -> Vec<(String, ConsumerGroup)> {
    let now = Instant::now();
    let mut names: HashSet<String> = replay.offsets.keys().cloned().collect();
    names.extend(replay.stored.keys().cloned());
    let mut groups = Vec::with_capacity(names.len());
    for name in names {
        let membership = match replay.stored.remove(&name) {
            Some(None) => continue,
            Some(Some(value)) => Group::restore(&name, value, settings, now),
            None => Group::new(&name, settings),
        };
        let mut group = ConsumerGroup::new(membership, index);
        group.offsets = replay.offsets.remove(&name).unwrap_or_default();
        groups.push((name, group));
    }
    groups
}
