//! One consumer group's membership and rebalance state machine: Kafka's
//! classic group protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup),
//! with its states, generations, member ids and static members.
//!
//! No IO but a log line when a member expires, and no clock: time comes in
//! as `now`, and what must be persisted is reported to the caller
//! ([`Group::take_persist_wanted`]). Replies that wait for other members (a
//! JoinGroup until the rebalance completes, a follower's SyncGroup until the
//! leader's assignment) are one-shot channels held by the member they
//! belong to.
//!
//! By concern: `join` (JoinGroup and the choice of protocol), `rebalance`
//! (the join phase, its completion, departures and the timers),
//! `member_requests` (SyncGroup, Heartbeat, LeaveGroup and OffsetCommit's
//! membership check) and `stored` (what the offsets log keeps of a group,
//! and how a group is rebuilt from it).
//!
//! Invariants:
//! - a member waits for at most one JoinGroup and one SyncGroup reply;
//! - `generation_id` only grows, and moves only when a join phase completes
//!   (the coordinator checks it around every command);
//! - in `Stable` and `CompletingRebalance` the selected protocol is one every
//!   member supports, and `leader_id` names a member;
//! - every static member's instance id maps to exactly one member id.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_channel::oneshot;

use crate::protocol::ErrorCode;

/// Kafka's group states, named as DescribeGroups and ListGroups show them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// What a JoinGroup gets back.
#[derive(Debug, Clone)]
pub struct JoinResult {
    pub error: ErrorCode,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// Every member with its metadata for the selected protocol: the
    /// leader's alone, since the leader computes the assignment.
    pub members: Vec<JoinedMember>,
}

impl JoinResult {
    pub fn error(error: ErrorCode, member_id: &str) -> JoinResult {
        JoinResult {
            error,
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            member_id: member_id.to_string(),
            members: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct JoinedMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub metadata: Bytes,
}

/// What a SyncGroup gets back.
#[derive(Debug, Clone)]
pub struct SyncResult {
    pub error: ErrorCode,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncResult {
    pub fn error(error: ErrorCode) -> SyncResult {
        SyncResult {
            error,
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
        }
    }
}

/// A reply now, or a channel it will arrive on.
pub enum Reply<T> {
    Now(T),
    Wait(oneshot::Receiver<T>),
}

/// What a SyncGroup leads to.
pub enum SyncOutcome {
    Reply(Reply<SyncResult>),
    /// The leader's assignment: persist the group with it, call
    /// [`Group::complete_sync`], then wait for the reply.
    Persist {
        assignments: Vec<(String, Bytes)>,
        reply: oneshot::Receiver<SyncResult>,
    },
}

/// What a member says of itself in a JoinGroup, and what the group keeps
/// of it until its next join: who it is, its client, its timeouts and the
/// protocols it supports.
#[derive(Debug, Clone)]
pub struct MemberProfile {
    /// Empty in a JoinGroup from a member that has no id yet.
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    /// (name, metadata) in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
}

/// A JoinGroup as the state machine sees it.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    pub member: MemberProfile,
    pub protocol_type: String,
    /// JoinGroup v4+: a new dynamic member first gets MEMBER_ID_REQUIRED
    /// with its id, and joins with it.
    pub require_known_member_id: bool,
}

/// Group-wide settings, from the broker's `group.*` configs.
#[derive(Debug, Clone, Copy)]
pub struct GroupSettings {
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an
    /// empty group waits for more members before it completes.
    pub initial_rebalance_delay: Duration,
    /// `group.max.size`.
    pub members_max: usize,
}

#[derive(Debug)]
pub struct Member {
    pub profile: MemberProfile,
    pub assignment: Bytes,
    /// Order of first join: the leader of a new generation is the earliest.
    join_order: u64,
    session_deadline: Instant,
    awaiting_join: Option<oneshot::Sender<JoinResult>>,
    awaiting_sync: Option<oneshot::Sender<SyncResult>>,
}

impl Member {
    /// A member as `profile` describes it, its session starting `now`.
    fn new(profile: MemberProfile, assignment: Bytes, join_order: u64, now: Instant) -> Member {
        Member {
            session_deadline: now + profile.session_timeout,
            profile,
            assignment,
            join_order,
            awaiting_join: None,
            awaiting_sync: None,
        }
    }

    /// Takes what a rejoining member says of itself (its ids stay as they
    /// are) and starts its session anew; returns the protocols it had.
    fn rejoin(&mut self, profile: &MemberProfile, now: Instant) -> Vec<(String, Bytes)> {
        let previous = std::mem::replace(&mut self.profile, profile.clone());
        self.profile.member_id = previous.member_id;
        self.profile.group_instance_id = previous.group_instance_id;
        self.session_deadline = now + self.profile.session_timeout;
        previous.protocols
    }

    /// This member's metadata for `protocol`.
    pub fn metadata(&self, protocol: &str) -> Option<&Bytes> {
        self.profile
            .protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, metadata)| metadata)
    }

    fn reply_join(&mut self, result: JoinResult) {
        if let Some(sender) = self.awaiting_join.take() {
            let _ = sender.send(result);
        }
    }

    fn reply_sync(&mut self, result: SyncResult) {
        if let Some(sender) = self.awaiting_sync.take() {
            let _ = sender.send(result);
        }
    }
}

mod join;
mod member_requests;
mod rebalance;
mod stored;
#[cfg(test)]
mod tests;

pub use stored::{StoredGroup, StoredMember};

pub struct Group {
    pub group_id: String,
    state: GroupState,
    generation_id: i32,
    protocol_type: Option<String>,
    protocol_name: Option<String>,
    leader_id: Option<String>,
    members: BTreeMap<String, Member>,
    /// Static members: group.instance.id to member id.
    static_members: HashMap<String, String>,
    /// Members told MEMBER_ID_REQUIRED, until they join with that id.
    pending_members: HashMap<String, Instant>,
    /// When the join phase completes even if some members did not rejoin.
    rebalance_deadline: Option<Instant>,
    /// The first rebalance of an empty group waits the whole delay.
    initial_delay: bool,
    next_join_order: u64,
    persist_wanted: bool,
    settings: GroupSettings,
}

impl Group {
    pub fn new(group_id: &str, settings: GroupSettings) -> Group {
        Group {
            group_id: group_id.to_string(),
            state: GroupState::Empty,
            generation_id: 0,
            protocol_type: None,
            protocol_name: None,
            leader_id: None,
            members: BTreeMap::new(),
            static_members: HashMap::new(),
            pending_members: HashMap::new(),
            rebalance_deadline: None,
            initial_delay: false,
            next_join_order: 0,
            persist_wanted: false,
            settings,
        }
    }

    pub fn state(&self) -> GroupState {
        self.state
    }

    pub fn generation_id(&self) -> i32 {
        self.generation_id
    }

    pub fn protocol_type(&self) -> Option<&str> {
        self.protocol_type.as_deref()
    }

    pub fn protocol_name(&self) -> Option<&str> {
        self.protocol_name.as_deref()
    }

    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.members.values()
    }

    #[cfg(test)]
    pub fn has_member(&self, member_id: &str) -> bool {
        self.members.contains_key(member_id)
    }

    /// A group that never had a member nor a pending one: what a refused
    /// first JoinGroup leaves behind.
    pub fn is_unused(&self) -> bool {
        self.state == GroupState::Empty
            && self.generation_id == 0
            && self.members.is_empty()
            && self.pending_members.is_empty()
    }

    /// Whether a change is waiting to be recorded in the offsets log.
    pub fn persist_wanted(&self) -> bool {
        self.persist_wanted
    }

    /// True once, after a change that the offsets log should record.
    pub fn take_persist_wanted(&mut self) -> bool {
        std::mem::take(&mut self.persist_wanted)
    }

    /// Marks the group deleted: every waiting request is answered.
    pub fn mark_dead(&mut self) {
        self.answer_waiting(ErrorCode::COORDINATOR_NOT_AVAILABLE);
        self.state = GroupState::Dead;
    }

    /// Answers every waiting request with NOT_COORDINATOR: this shard no
    /// longer coordinates the group.
    pub fn abandon(&mut self) {
        self.answer_waiting(ErrorCode::NOT_COORDINATOR);
    }

    /// Answers every waiting JoinGroup and SyncGroup with `error`.
    fn answer_waiting(&mut self, error: ErrorCode) {
        for member in self.members.values_mut() {
            member.reply_join(JoinResult::error(error, &member.profile.member_id));
            member.reply_sync(SyncResult::error(error));
        }
    }

    /// FENCED_INSTANCE_ID when `group_instance_id` belongs to a member other
    /// than `member_id` (an older incarnation of a static member).
    fn check_instance(
        &self,
        member_id: &str,
        group_instance_id: Option<&str>,
    ) -> Result<(), ErrorCode> {
        if let Some(instance) = group_instance_id {
            if let Some(current) = self.static_members.get(instance) {
                if current != member_id {
                    return Err(ErrorCode::FENCED_INSTANCE_ID);
                }
            }
        }
        Ok(())
    }
}
