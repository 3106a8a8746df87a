//! The committed-offset commands: OffsetCommit, OffsetFetch, OffsetDelete
//! and DeleteGroups. Each change is written to the offsets log and applied
//! only once it is there.
//!
//! Invariants:
//! - a partition's commit is refused (and nothing of it written) unless
//!   the metadata knows the partition and its metadata string is within
//!   `OFFSET_METADATA_BYTES_MAX`;
//! - what passes the checks is written in one batch and applied together;
//! - a group is deleted only while it has no members, classic or consumer.

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use super::coordinator::{Coordinator, Located};
use super::membership::GroupState;
use super::offsets_log::{CommittedOffset, OffsetsRecord};
use super::{change_group, expire_due, partition_exists, subscribed_topics, ConsumerGroup};
use crate::limits::OFFSET_METADATA_BYTES_MAX;
use crate::metadata::Snapshot;
use crate::protocol::ErrorCode;

/// The protocol type of consumers of the classic protocol.
const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// An OffsetCommit as the coordinator takes it.
#[derive(Debug, Clone)]
pub struct OffsetCommit {
    pub group_id: String,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    /// A classic member's generation, a consumer-protocol member's epoch;
    /// -1 for a commit outside group management.
    pub generation_id_or_member_epoch: i32,
    /// The request's version: v9 answers a missing group differently, and
    /// only v9+ may carry a member epoch.
    pub version: i16,
    pub partitions: Vec<CommitPartition>,
}

#[derive(Debug, Clone)]
pub struct CommitPartition {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
    /// `None`: now.
    pub commit_timestamp: Option<i64>,
}

/// Topic -> partitions asked for; `None`: every committed one.
pub type WantedOffsets = Option<Vec<(String, Vec<i32>)>>;
/// Topic -> (partition, committed offset if any).
pub type FetchedOffsets = BTreeMap<String, Vec<(i32, Option<CommittedOffset>)>>;

impl Coordinator {
    /// OffsetCommit: one code per partition, in the order given.
    pub async fn commit_offsets(
        &self,
        snapshot: &Snapshot,
        commit: OffsetCommit,
    ) -> Vec<ErrorCode> {
        let now = crate::rt::now_milliseconds();
        let mut records = Vec::new();
        let mut codes: Vec<ErrorCode> = commit
            .partitions
            .iter()
            .map(|partition| {
                let metadata = partition.metadata.clone().unwrap_or_default();
                if !partition_exists(snapshot, &partition.topic, partition.partition) {
                    ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
                } else if metadata.len() > OFFSET_METADATA_BYTES_MAX {
                    ErrorCode::OFFSET_METADATA_TOO_LARGE
                } else {
                    records.push(OffsetsRecord::Offset {
                        group: commit.group_id.clone(),
                        topic: partition.topic.clone(),
                        partition: partition.partition,
                        value: Some(CommittedOffset {
                            offset: partition.offset,
                            leader_epoch: partition.leader_epoch,
                            metadata,
                            commit_timestamp: partition.commit_timestamp.unwrap_or(now),
                        }),
                    });
                    ErrorCode::NONE
                }
            })
            .collect();
        if let Err(code) = self.commit_records(snapshot, &commit, records).await {
            for slot in codes.iter_mut().filter(|code| **code == ErrorCode::NONE) {
                *slot = code;
            }
        }
        codes
    }

    /// Checks the committer's membership, writes `records`, applies them.
    async fn commit_records(
        &self,
        snapshot: &Snapshot,
        commit: &OffsetCommit,
        records: Vec<OffsetsRecord>,
    ) -> Result<(), ErrorCode> {
        let group_id = commit.group_id.as_str();
        if group_id.is_empty() {
            return Err(ErrorCode::INVALID_GROUP_ID);
        }
        let located = self.locate(snapshot, group_id)?;
        let generation_id = commit.generation_id_or_member_epoch;
        let group = match &located.group {
            Some(group) => group.clone(),
            // A group nobody joined: only a commit outside group management
            // may create it.
            None if generation_id < 0 => self.get_or_create(&located, group_id)?,
            // v9 says what is wrong; older versions keep the answer clients know.
            None if commit.version >= 9 => return Err(ErrorCode::GROUP_ID_NOT_FOUND),
            None => return Err(ErrorCode::ILLEGAL_GENERATION),
        };
        change_group(&group, |group| match &group.consumer_protocol {
            // v9+: a consumer-protocol member commits with its member epoch.
            Some(consumer) => {
                consumer.check_commit(&commit.member_id, generation_id, commit.version)
            }
            None => group.membership.check_commit(
                &commit.member_id,
                commit.group_instance_id.as_deref(),
                generation_id,
                Instant::now(),
            ),
        })?;
        self.write_offsets(&located, &group, records).await
    }

    /// Writes offset records (commits or tombstones) and, once they are in
    /// the log, applies them to the group.
    async fn write_offsets(
        &self,
        located: &Located,
        group: &std::cell::RefCell<ConsumerGroup>,
        records: Vec<OffsetsRecord>,
    ) -> Result<(), ErrorCode> {
        located
            .partition
            .append_then_apply(&records.clone(), |written| {
                written.map(|()| group.borrow_mut().apply_offsets(records))
            })
            .await
    }

    /// OffsetFetch of one group. `member`: (member id, member epoch) from
    /// v9, which only consumer-protocol groups check; (None, -1) before.
    pub fn fetch_offsets(
        &self,
        snapshot: &Snapshot,
        group_id: &str,
        wanted: WantedOffsets,
        member: (Option<&str>, i32),
    ) -> Result<FetchedOffsets, ErrorCode> {
        if group_id.is_empty() {
            return Err(ErrorCode::INVALID_GROUP_ID);
        }
        let located = self.locate(snapshot, group_id)?;
        let group = located.group.as_ref().map(|group| group.borrow());
        if let Some(consumer) = group
            .as_ref()
            .and_then(|group| group.consumer_protocol.as_ref())
        {
            consumer.check_fetch(member.0, member.1)?;
        }
        let mut found = FetchedOffsets::new();
        match wanted {
            Some(topics) => {
                for (topic, partitions) in topics {
                    let entry = found.entry(topic.clone()).or_default();
                    for partition in partitions {
                        let committed = group.as_ref().and_then(|group| {
                            group.offsets.get(&(topic.clone(), partition)).cloned()
                        });
                        entry.push((partition, committed));
                    }
                }
            }
            None => {
                for ((topic, partition), value) in group.iter().flat_map(|group| &group.offsets) {
                    found
                        .entry(topic.clone())
                        .or_default()
                        .push((*partition, Some(value.clone())));
                }
            }
        }
        Ok(found)
    }

    /// DeleteGroups of one group: tombstones for its offsets and itself.
    pub async fn delete_group(&self, snapshot: &Snapshot, group_id: &str) -> Result<(), ErrorCode> {
        if group_id.is_empty() {
            return Err(ErrorCode::INVALID_GROUP_ID);
        }
        let located = self.locate(snapshot, group_id)?;
        let Some(group) = located.group.clone() else {
            return Err(ErrorCode::GROUP_ID_NOT_FOUND);
        };
        expire_due(&group, Instant::now());
        let records = deletion_records(&group.borrow(), group_id)?;
        located
            .partition
            .append_then_apply(&records, |written| {
                written?;
                let mut group = group.borrow_mut();
                if group.membership.state() != GroupState::Empty {
                    // A member joined while the tombstones were written; they
                    // are in the log, so the group restarts from nothing
                    // either way.
                    group.offsets.clear();
                    return Ok(());
                }
                group.membership.mark_dead();
                drop(group);
                self.forget(group_id);
                Ok(())
            })
            .await
    }

    /// OffsetDelete: one code per partition of each topic, or one for the
    /// request.
    pub async fn delete_offsets(
        &self,
        snapshot: &Snapshot,
        group_id: &str,
        topics: &[(String, Vec<i32>)],
    ) -> Result<Vec<Vec<ErrorCode>>, ErrorCode> {
        if group_id.is_empty() {
            return Err(ErrorCode::INVALID_GROUP_ID);
        }
        let located = self.locate(snapshot, group_id)?;
        let Some(group) = located.group.clone() else {
            return Err(ErrorCode::GROUP_ID_NOT_FOUND);
        };
        let mut records = Vec::new();
        let codes = {
            let group = group.borrow();
            let subscribed = subscribed_topic_names(&group)?;
            topics
                .iter()
                .map(|(topic, partitions)| {
                    partitions
                        .iter()
                        .map(|&index| {
                            if !partition_exists(snapshot, topic, index) {
                                ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
                            } else if subscribed.contains(topic) {
                                ErrorCode::GROUP_SUBSCRIBED_TO_TOPIC
                            } else {
                                if group.offsets.contains_key(&(topic.clone(), index)) {
                                    records.push(OffsetsRecord::Offset {
                                        group: group_id.to_string(),
                                        topic: topic.clone(),
                                        partition: index,
                                        value: None,
                                    });
                                }
                                ErrorCode::NONE
                            }
                        })
                        .collect()
                })
                .collect()
        };
        self.write_offsets(&located, &group, records).await?;
        Ok(codes)
    }
}

/// The topics whose offsets OffsetDelete may not delete: those the group
/// consumes now. Refuses a group that is gone or not a consumer group.
fn subscribed_topic_names(group: &ConsumerGroup) -> Result<HashSet<String>, ErrorCode> {
    if let Some(consumer) = &group.consumer_protocol {
        return Ok(consumer.subscribed_topic_names());
    }
    let membership = &group.membership;
    match membership.state() {
        GroupState::Dead => Err(ErrorCode::GROUP_ID_NOT_FOUND),
        GroupState::Empty => Ok(HashSet::new()),
        _ if membership.protocol_type() == Some(CONSUMER_PROTOCOL_TYPE) => Ok(subscribed_topics(
            &membership.subscriptions().unwrap_or_default(),
        )),
        _ => Err(ErrorCode::NON_EMPTY_GROUP),
    }
}

/// The tombstones that delete an empty group: one per committed offset,
/// then the group's own.
fn deletion_records(
    group: &ConsumerGroup,
    group_id: &str,
) -> Result<Vec<OffsetsRecord>, ErrorCode> {
    match group.membership.state() {
        GroupState::Empty => {}
        GroupState::Dead => return Err(ErrorCode::GROUP_ID_NOT_FOUND),
        _ => return Err(ErrorCode::NON_EMPTY_GROUP),
    }
    // A consumer-protocol (KIP-848) group with members is not empty
    // either, whatever its classic state says.
    if group
        .consumer_protocol
        .as_ref()
        .is_some_and(|consumer| !consumer.is_empty())
    {
        return Err(ErrorCode::NON_EMPTY_GROUP);
    }
    let mut records: Vec<OffsetsRecord> = group
        .offsets
        .keys()
        .map(|(topic, partition)| OffsetsRecord::Offset {
            group: group_id.to_string(),
            topic: topic.clone(),
            partition: *partition,
            value: None,
        })
        .collect();
    records.push(OffsetsRecord::Group {
        group: group_id.to_string(),
        value: None,
    });
    Ok(records)
}
