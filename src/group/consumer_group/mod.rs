//! One group of Kafka's consumer group protocol (KIP-848): members heartbeat
//! with ConsumerGroupHeartbeat, the coordinator assigns partitions itself
//! and hands each member its share one step at a time.
//!
//! The group has a *group epoch*, bumped whenever membership, a
//! subscription, the chosen assignor or a subscribed topic's partition count
//! changes; a *target assignment* computed for the latest group epoch (its
//! *assignment epoch*); and per member a *member epoch* and the partitions the
//! member was told it owns. Reconciliation moves each member towards its
//! target: first it is told which partitions to give up (revocation, its
//! epoch stays), and only once its heartbeat no longer reports them does it
//! reach the target epoch; a partition another member still owns is handed
//! over only after that member released it.
//!
//! No IO but a log line when a member is fenced, and no clock: time comes
//! in as `now`, topic metadata through a lookup function. Nothing here is persisted: after a coordinator restart
//! members get UNKNOWN_MEMBER_ID and rejoin with epoch 0, while committed
//! offsets live on in the offsets log like those of classic groups.
//!
//! Invariants:
//! - `assignment_epoch <= group_epoch`, and every member's epoch is at most
//!   the assignment epoch;
//! - a partition is owned (assigned or pending revocation) by at most one
//!   member at a time;
//! - a member in `UnrevokedPartitions` owns the partitions pending revocation
//!   and keeps its epoch until its heartbeat shows them gone;
//! - every member has an entry in `target` once the target is computed.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use super::assignor::{self, Assignment, Assignor, MemberInput, TopicPartitions};
use crate::protocol::ErrorCode;
use assignment_sets::{contains, difference, intersection, intersects, is_empty, is_subset};

mod assignment_sets;
#[cfg(test)]
mod tests;

/// Member epoch of a heartbeat that joins (or rejoins after fencing).
pub const JOIN_EPOCH: i32 = 0;
/// Member epoch of a heartbeat that leaves the group.
pub const LEAVE_EPOCH: i32 = -1;
/// Member epoch of a static member's heartbeat that leaves for now.
pub const STATIC_LEAVE_EPOCH: i32 = -2;

/// Kafka's `group.consumer.session.timeout.ms` default.
pub const SESSION_TIMEOUT_DEFAULT: Duration =
    Duration::from_millis(crate::limits::CONSUMER_GROUP_SESSION_TIMEOUT_MILLISECONDS);
/// Kafka's `group.consumer.heartbeat.interval.ms` default.
pub const HEARTBEAT_INTERVAL_DEFAULT: Duration =
    Duration::from_millis(crate::limits::CONSUMER_GROUP_HEARTBEAT_INTERVAL_MILLISECONDS);

/// Group-wide settings, from the broker's `group.consumer.*` configs.
#[derive(Debug, Clone, Copy)]
pub struct ConsumerSettings {
    pub session_timeout: Duration,
    pub heartbeat_interval: Duration,
    /// `group.consumer.max.size`.
    pub members_max: usize,
}

/// The group states ConsumerGroupDescribe and ListGroups show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsumerGroupState {
    Empty,
    /// The group epoch moved past the target assignment.
    Assigning,
    /// Some member has not reached the target assignment yet.
    Reconciling,
    Stable,
}

impl ConsumerGroupState {
    pub fn name(self) -> &'static str {
        match self {
            ConsumerGroupState::Empty => "Empty",
            ConsumerGroupState::Assigning => "Assigning",
            ConsumerGroupState::Reconciling => "Reconciling",
            ConsumerGroupState::Stable => "Stable",
        }
    }
}

/// Where a member is in reaching its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberState {
    /// At the target assignment of its epoch.
    Stable,
    /// Told to give up `pending_revocation`; has not confirmed yet.
    UnrevokedPartitions,
    /// At the target epoch, but waits for partitions others still own.
    UnreleasedPartitions,
}

#[derive(Debug, Clone)]
pub struct Member {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub member_epoch: i32,
    pub previous_member_epoch: i32,
    pub state: MemberState,
    pub subscribed_topic_names: BTreeSet<String>,
    pub server_assignor: Option<String>,
    pub rebalance_timeout: Duration,
    /// What the member was told it owns.
    pub assigned: Assignment,
    /// What it was told to give up and may still own.
    pub pending_revocation: Assignment,
    session_deadline: Instant,
    /// While revoking: the member is fenced if it has not revoked by then.
    revocation_deadline: Option<Instant>,
}

/// A ConsumerGroupHeartbeat as the state machine sees it. `None` fields
/// were null on the wire: unchanged since the previous heartbeat.
#[derive(Debug, Clone, Default)]
pub struct HeartbeatRequest {
    pub member_id: String,
    pub member_epoch: i32,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub rebalance_timeout: Option<Duration>,
    pub subscribed_topic_names: Option<Vec<String>>,
    pub server_assignor: Option<String>,
    /// The partitions the member owns now (by topic id).
    pub owned: Option<Assignment>,
    pub client_id: String,
    pub client_host: String,
}

/// What a heartbeat gets back when accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatReply {
    pub member_id: String,
    pub member_epoch: i32,
    pub heartbeat_interval: Duration,
    /// The member's assignment, sent when it changed or the request was a
    /// full one (a join, or every field set).
    pub assignment: Option<Assignment>,
}

/// A refused heartbeat: the error code and Kafka's message for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
}

fn refuse(code: ErrorCode, message: impl Into<String>) -> Refusal {
    Refusal {
        code,
        message: message.into(),
    }
}

pub struct ConsumerProtocolGroup {
    pub group_id: String,
    group_epoch: i32,
    assignment_epoch: i32,
    members: BTreeMap<String, Member>,
    target: BTreeMap<String, Assignment>,
    /// Subscribed topics with their ids and partition counts, as of the
    /// latest group epoch.
    subscription_metadata: BTreeMap<String, TopicPartitions>,
    settings: ConsumerSettings,
}

impl ConsumerProtocolGroup {
    pub fn new(group_id: &str, settings: ConsumerSettings) -> ConsumerProtocolGroup {
        ConsumerProtocolGroup {
            group_id: group_id.to_string(),
            group_epoch: 0,
            assignment_epoch: 0,
            members: BTreeMap::new(),
            target: BTreeMap::new(),
            subscription_metadata: BTreeMap::new(),
            settings,
        }
    }

    pub fn group_epoch(&self) -> i32 {
        self.group_epoch
    }

    pub fn assignment_epoch(&self) -> i32 {
        self.assignment_epoch
    }

    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.members.values()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Every topic some member subscribes to: their committed offsets may
    /// not be deleted (OffsetDelete's GROUP_SUBSCRIBED_TO_TOPIC).
    pub fn subscribed_topic_names(&self) -> std::collections::HashSet<String> {
        self.members
            .values()
            .flat_map(|member| member.subscribed_topic_names.iter().cloned())
            .collect()
    }

    /// The member's target assignment (empty before one was computed).
    pub fn target_of(&self, member_id: &str) -> Assignment {
        self.target.get(member_id).cloned().unwrap_or_default()
    }

    pub fn state(&self) -> ConsumerGroupState {
        if self.members.is_empty() {
            ConsumerGroupState::Empty
        } else if self.group_epoch > self.assignment_epoch {
            ConsumerGroupState::Assigning
        } else if self.members.values().any(|member| {
            member.state != MemberState::Stable || member.member_epoch != self.assignment_epoch
        }) {
            ConsumerGroupState::Reconciling
        } else {
            ConsumerGroupState::Stable
        }
    }

    /// The assignor most members ask for (ties: the first by name), or
    /// `uniform`, Kafka's default.
    pub fn assignor(&self) -> Assignor {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for member in self.members.values() {
            if let Some(name) = &member.server_assignor {
                *counts.entry(name.as_str()).or_default() += 1;
            }
        }
        let mut best: Option<(&str, usize)> = None;
        for (name, count) in counts {
            if best.is_none_or(|(_, most)| count > most) {
                best = Some((name, count));
            }
        }
        best.and_then(|(name, _)| Assignor::from_name(name))
            .unwrap_or(Assignor::Uniform)
    }

    /// Handles one ConsumerGroupHeartbeat. `topics` looks a topic up in the
    /// metadata; `new_member_id` names a member that joins without an id.
    pub fn heartbeat(
        &mut self,
        request: HeartbeatRequest,
        topics: &dyn Fn(&str) -> Option<TopicPartitions>,
        new_member_id: &mut dyn FnMut() -> String,
        now: Instant,
    ) -> Result<HeartbeatReply, Refusal> {
        validate(&request)?;
        if request.member_epoch == LEAVE_EPOCH || request.member_epoch == STATIC_LEAVE_EPOCH {
            return self.leave(&request.member_id, request.member_epoch);
        }
        let epoch_before = self
            .members
            .get(&request.member_id)
            .map(|member| member.member_epoch);
        let full_request = request.member_epoch == JOIN_EPOCH
            || (request.rebalance_timeout.is_some()
                && request.subscribed_topic_names.is_some()
                && request.owned.is_some());
        // The group epoch moves once per heartbeat, whatever changed.
        let mut bump = false;
        let member_id = if request.member_epoch == JOIN_EPOCH {
            let (member_id, new) = self.join(&request, new_member_id, now)?;
            bump |= new;
            member_id
        } else {
            self.check_epoch(&request)?;
            request.member_id.clone()
        };
        bump |= self.update_member(&member_id, &request, now);
        // The subscribed topics' partition counts may have changed too.
        let metadata = self.subscribed_metadata(topics);
        if metadata != self.subscription_metadata {
            self.subscription_metadata = metadata;
            bump = true;
        }
        if bump {
            self.group_epoch += 1;
        }
        self.compute_target_if_needed();
        let before = self.members[&member_id].assigned.clone();
        self.reconcile(&member_id, request.owned.as_ref(), now);
        let member = &self.members[&member_id];
        // A rejoining member starts over at epoch 0 within the heartbeat,
        // but leaves it at the assignment epoch: never below where it was.
        assert!(
            epoch_before.is_none_or(|before| member.member_epoch >= before),
            "consumer group {}: member {member_id} went from epoch {epoch_before:?} to {}",
            self.group_id,
            member.member_epoch
        );
        debug_assert!(
            self.epochs_ordered(),
            "consumer group {}: epochs out of order",
            self.group_id
        );
        let assignment =
            (full_request || member.assigned != before).then(|| member.assigned.clone());
        Ok(HeartbeatReply {
            member_id,
            member_epoch: member.member_epoch,
            heartbeat_interval: self.settings.heartbeat_interval,
            assignment,
        })
    }

    /// The epoch invariants: the assignment epoch is at most the group
    /// epoch, and every member's epoch at most the assignment epoch.
    fn epochs_ordered(&self) -> bool {
        self.assignment_epoch <= self.group_epoch
            && self
                .members
                .values()
                .all(|member| member.member_epoch <= self.assignment_epoch)
    }

    /// Takes what the heartbeat says of the member; whether that moves the
    /// group epoch (a new subscription or assignor).
    fn update_member(&mut self, member_id: &str, request: &HeartbeatRequest, now: Instant) -> bool {
        let mut bump = false;
        let member = self.members.get_mut(member_id).expect("joined or checked");
        if let Some(names) = &request.subscribed_topic_names {
            let names: BTreeSet<String> = names.iter().cloned().collect();
            if names != member.subscribed_topic_names {
                member.subscribed_topic_names = names;
                bump = true;
            }
        }
        if request.server_assignor.is_some() && request.server_assignor != member.server_assignor {
            member.server_assignor = request.server_assignor.clone();
            bump = true;
        }
        if let Some(timeout) = request.rebalance_timeout {
            member.rebalance_timeout = timeout;
        }
        if request.rack_id.is_some() {
            member.rack_id = request.rack_id.clone();
        }
        member.client_id = request.client_id.clone();
        member.client_host = request.client_host.clone();
        member.session_deadline = now + self.settings.session_timeout;
        bump
    }

    /// A member leaves: its partitions are free for the others.
    fn leave(&mut self, member_id: &str, epoch: i32) -> Result<HeartbeatReply, Refusal> {
        if !self.members.contains_key(member_id) {
            return Err(refuse(
                ErrorCode::UNKNOWN_MEMBER_ID,
                format!(
                    "Member {member_id} is not a member of group {}.",
                    self.group_id
                ),
            ));
        }
        self.remove_member(member_id);
        Ok(HeartbeatReply {
            member_id: member_id.to_string(),
            member_epoch: epoch,
            heartbeat_interval: Duration::ZERO,
            assignment: None,
        })
    }

    /// Epoch 0: a new member, or one that lost its epoch and starts over
    /// without partitions. Returns its member id and whether it is new.
    fn join(
        &mut self,
        request: &HeartbeatRequest,
        new_member_id: &mut dyn FnMut() -> String,
        now: Instant,
    ) -> Result<(String, bool), Refusal> {
        let member_id = if request.member_id.is_empty() {
            new_member_id()
        } else {
            request.member_id.clone()
        };
        if let Some(instance_id) = &request.instance_id {
            if let Some(other) = self.members.values().find(|member| {
                member.instance_id.as_deref() == Some(instance_id.as_str())
                    && member.member_id != member_id
            }) {
                return Err(refuse(
                    ErrorCode::UNRELEASED_INSTANCE_ID,
                    format!(
                        "Static member {} with instance id {instance_id} was not released.",
                        other.member_id
                    ),
                ));
            }
        }
        if let Some(member) = self.members.get_mut(&member_id) {
            // It rejoins having dropped everything it owned.
            member.assigned.clear();
            member.pending_revocation.clear();
            member.previous_member_epoch = member.member_epoch;
            member.member_epoch = JOIN_EPOCH;
            member.state = MemberState::Stable;
            member.revocation_deadline = None;
            return Ok((member_id, false));
        }
        if self.members.len() >= self.settings.members_max {
            return Err(refuse(
                ErrorCode::GROUP_MAX_SIZE_REACHED,
                format!(
                    "The consumer group has reached its maximum capacity of {} members.",
                    self.settings.members_max
                ),
            ));
        }
        self.members.insert(
            member_id.clone(),
            Member {
                member_id: member_id.clone(),
                instance_id: request.instance_id.clone(),
                rack_id: None,
                client_id: String::new(),
                client_host: String::new(),
                member_epoch: JOIN_EPOCH,
                previous_member_epoch: JOIN_EPOCH,
                state: MemberState::Stable,
                subscribed_topic_names: BTreeSet::new(),
                server_assignor: None,
                rebalance_timeout: request.rebalance_timeout.unwrap_or_default(),
                assigned: Assignment::new(),
                pending_revocation: Assignment::new(),
                session_deadline: now + self.settings.session_timeout,
                revocation_deadline: None,
            },
        );
        Ok((member_id, true))
    }

    /// A heartbeat within membership carries the member's epoch, or the one
    /// before it when the reply that bumped it was lost (and then it may own
    /// no more than it was given).
    fn check_epoch(&self, request: &HeartbeatRequest) -> Result<(), Refusal> {
        let Some(member) = self.members.get(&request.member_id) else {
            return Err(refuse(
                ErrorCode::UNKNOWN_MEMBER_ID,
                format!(
                    "Member {} is not a member of group {}.",
                    request.member_id, self.group_id
                ),
            ));
        };
        let fenced = || {
            refuse(
                ErrorCode::FENCED_MEMBER_EPOCH,
                format!(
                    "The consumer group member has a greater member epoch ({}) than the one known by the group coordinator ({}). The member must abandon all its partitions and rejoin.",
                    request.member_epoch, member.member_epoch
                ),
            )
        };
        if request.member_epoch > member.member_epoch {
            return Err(fenced());
        }
        if request.member_epoch < member.member_epoch {
            let owns_subset = request
                .owned
                .as_ref()
                .is_some_and(|owned| is_subset(owned, &member.assigned));
            if request.member_epoch != member.previous_member_epoch || !owns_subset {
                return Err(refuse(
                    ErrorCode::FENCED_MEMBER_EPOCH,
                    format!(
                        "The consumer group member has a smaller member epoch ({}) than the one known by the group coordinator ({}). The member must abandon all its partitions and rejoin.",
                        request.member_epoch, member.member_epoch
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The subscribed topics that exist, with ids and partition counts.
    fn subscribed_metadata(
        &self,
        topics: &dyn Fn(&str) -> Option<TopicPartitions>,
    ) -> BTreeMap<String, TopicPartitions> {
        let mut metadata = BTreeMap::new();
        for member in self.members.values() {
            for name in &member.subscribed_topic_names {
                if metadata.contains_key(name) {
                    continue;
                }
                if let Some(topic) = topics(name) {
                    metadata.insert(name.clone(), topic);
                }
            }
        }
        metadata
    }

    /// A new target for the group epoch, if it moved past the last one.
    fn compute_target_if_needed(&mut self) {
        if self.assignment_epoch >= self.group_epoch {
            return;
        }
        let empty = Assignment::new();
        let inputs: BTreeMap<String, MemberInput<'_>> = self
            .members
            .iter()
            .map(|(member_id, member)| {
                (
                    member_id.clone(),
                    MemberInput {
                        subscribed: &member.subscribed_topic_names,
                        current: self.target.get(member_id).unwrap_or(&empty),
                    },
                )
            })
            .collect();
        let target = assignor::assign(self.assignor(), &inputs, &self.subscription_metadata);
        self.target = target;
        self.assignment_epoch = self.group_epoch;
    }

    /// Whether a member other than `member_id` owns the partition.
    fn owned_by_other(&self, member_id: &str, topic_id: &uuid::Uuid, partition: i32) -> bool {
        self.members.values().any(|member| {
            member.member_id != member_id
                && (contains(&member.assigned, topic_id, partition)
                    || contains(&member.pending_revocation, topic_id, partition))
        })
    }

    /// Moves the member one step towards its target, as KIP-848 reconciles:
    /// revocation first, new partitions once their owner released them.
    fn reconcile(&mut self, member_id: &str, owned: Option<&Assignment>, now: Instant) {
        let assignment_epoch = self.assignment_epoch;
        let target = self.target.get(member_id).cloned().unwrap_or_default();
        let member = self
            .members
            .get(member_id)
            .expect("reconciled members exist");
        if member.state == MemberState::UnrevokedPartitions {
            let revoked = owned.is_some_and(|owned| !intersects(owned, &member.pending_revocation));
            if !revoked {
                return;
            }
        } else if member.state == MemberState::Stable && member.member_epoch == assignment_epoch {
            return;
        }
        let assigned = &member.assigned;
        let kept = intersection(assigned, &target);
        let to_revoke = difference(assigned, &target);
        if !is_empty(&to_revoke) {
            let deadline = now + member.rebalance_timeout;
            let member = self.members.get_mut(member_id).expect("exists");
            member.assigned = kept;
            member.pending_revocation = to_revoke;
            member.state = MemberState::UnrevokedPartitions;
            member.revocation_deadline = Some(deadline);
            return;
        }
        let mut next = kept;
        for (topic_id, partitions) in &target {
            for &partition in partitions {
                if !contains(&next, topic_id, partition)
                    && !self.owned_by_other(member_id, topic_id, partition)
                {
                    next.entry(*topic_id).or_default().insert(partition);
                }
            }
        }
        let complete = next == target;
        let member = self.members.get_mut(member_id).expect("exists");
        member.pending_revocation.clear();
        member.revocation_deadline = None;
        member.assigned = next;
        if member.member_epoch != assignment_epoch {
            assert!(
                member.member_epoch < assignment_epoch,
                "a member's epoch is at most the assignment epoch"
            );
            member.previous_member_epoch = member.member_epoch;
            member.member_epoch = assignment_epoch;
        }
        member.state = if complete {
            MemberState::Stable
        } else {
            MemberState::UnreleasedPartitions
        };
    }

    fn remove_member(&mut self, member_id: &str) {
        if self.members.remove(member_id).is_none() {
            return;
        }
        self.target.remove(member_id);
        self.group_epoch += 1;
        // Topics nobody subscribes to any more leave the metadata; the
        // others keep the counts last seen until the next heartbeat.
        let subscribed: BTreeSet<&String> = self
            .members
            .values()
            .flat_map(|member| member.subscribed_topic_names.iter())
            .collect();
        self.subscription_metadata
            .retain(|name, _| subscribed.contains(name));
        self.compute_target_if_needed();
    }

    /// Expires members whose session ran out and fences members that did not
    /// revoke within their rebalance timeout.
    pub fn tick(&mut self, now: Instant) {
        let expired: Vec<(String, &'static str)> = self
            .members
            .values()
            .filter_map(|member| {
                if member.session_deadline <= now {
                    Some((member.member_id.clone(), "its session timed out"))
                } else if member
                    .revocation_deadline
                    .is_some_and(|deadline| deadline <= now)
                {
                    Some((
                        member.member_id.clone(),
                        "it did not revoke partitions within its rebalance timeout",
                    ))
                } else {
                    None
                }
            })
            .collect();
        for (member_id, reason) in expired {
            tracing::info!(
                "consumer group {}: member {member_id} fenced: {reason}",
                self.group_id
            );
            self.remove_member(&member_id);
        }
    }

    /// Checks an OffsetCommit against membership as Kafka does for consumer
    /// groups: epoch -1 to an empty group commits outside membership; a
    /// member must be known, use v9+, and carry its current epoch.
    pub fn check_commit(
        &self,
        member_id: &str,
        member_epoch: i32,
        version: i16,
    ) -> Result<(), ErrorCode> {
        if member_epoch < 0 && self.members.is_empty() {
            return Ok(());
        }
        let Some(member) = self.members.get(member_id) else {
            return Err(ErrorCode::UNKNOWN_MEMBER_ID);
        };
        if version < 9 {
            return Err(ErrorCode::UNSUPPORTED_VERSION);
        }
        if member_epoch != member.member_epoch {
            return Err(ErrorCode::STALE_MEMBER_EPOCH);
        }
        Ok(())
    }

    /// Checks an OffsetFetch: without a member id and with epoch -1 (admin
    /// clients, older versions) anyone may read; a member must be known and
    /// carry its current epoch.
    pub fn check_fetch(&self, member_id: Option<&str>, member_epoch: i32) -> Result<(), ErrorCode> {
        if member_id.is_none() && member_epoch < 0 {
            return Ok(());
        }
        let Some(member) = member_id.and_then(|member_id| self.members.get(member_id)) else {
            return Err(ErrorCode::UNKNOWN_MEMBER_ID);
        };
        if member_epoch != member.member_epoch {
            return Err(ErrorCode::STALE_MEMBER_EPOCH);
        }
        Ok(())
    }
}

/// The request checks Kafka makes before touching the group.
fn validate(request: &HeartbeatRequest) -> Result<(), Refusal> {
    let epoch = request.member_epoch;
    if epoch < STATIC_LEAVE_EPOCH {
        return Err(refuse(
            ErrorCode::INVALID_REQUEST,
            format!("MemberEpoch is invalid: {epoch}."),
        ));
    }
    if epoch != JOIN_EPOCH && request.member_id.is_empty() {
        return Err(refuse(
            ErrorCode::INVALID_REQUEST,
            "MemberId can't be empty.",
        ));
    }
    if epoch == STATIC_LEAVE_EPOCH && request.instance_id.is_none() {
        return Err(refuse(
            ErrorCode::INVALID_REQUEST,
            "InstanceId can't be null when MemberEpoch is -2.",
        ));
    }
    if epoch == JOIN_EPOCH {
        if request.rebalance_timeout.is_none() {
            return Err(refuse(
                ErrorCode::INVALID_REQUEST,
                "RebalanceTimeoutMs must be provided in first request.",
            ));
        }
        if request.owned.as_ref().is_none_or(|owned| !is_empty(owned)) {
            return Err(refuse(
                ErrorCode::INVALID_REQUEST,
                "TopicPartitions must be empty when (re-)joining.",
            ));
        }
        if request.subscribed_topic_names.is_none() {
            return Err(refuse(
                ErrorCode::INVALID_REQUEST,
                "SubscribedTopicNames or SubscribedTopicRegex must be set in first request.",
            ));
        }
    }
    if let Some(name) = &request.server_assignor {
        if Assignor::from_name(name).is_none() {
            return Err(refuse(
                ErrorCode::UNSUPPORTED_ASSIGNOR,
                format!(
                    "ServerAssignor {name} is not supported. Supported assignors: uniform, range."
                ),
            ));
        }
    }
    Ok(())
}
