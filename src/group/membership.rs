//! One consumer group's membership and rebalance state machine: Kafka's
//! classic group protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup),
//! with its states, generations, member ids and static members.
//!
//! No IO and no clock: time comes in as `now`, and what must be persisted is
//! reported to the caller ([`Group::take_persist_wanted`]). Replies that wait
//! for other members (a JoinGroup until the rebalance completes, a follower's
//! SyncGroup until the leader's assignment) are one-shot channels held by
//! the member they belong to.
//!
//! Invariants:
//! - a member waits for at most one JoinGroup and one SyncGroup reply;
//! - `generation_id` only grows, and moves only when a join phase completes;
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

/// A JoinGroup as the state machine sees it.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub protocol_type: String,
    /// (name, metadata) in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
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
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    /// Order of first join: the leader of a new generation is the earliest.
    join_order: u64,
    session_deadline: Instant,
    awaiting_join: Option<oneshot::Sender<JoinResult>>,
    awaiting_sync: Option<oneshot::Sender<SyncResult>>,
}

impl Member {
    /// This member's metadata for `protocol`.
    pub fn metadata(&self, protocol: &str) -> Option<&Bytes> {
        self.protocols
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

/// A member as it is persisted and restored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub subscription: Bytes,
    pub assignment: Bytes,
}

/// The membership part of a group as the offsets log keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredGroup {
    pub protocol_type: String,
    pub generation_id: i32,
    pub protocol_name: Option<String>,
    pub leader: Option<String>,
    pub state_timestamp_milliseconds: i64,
    pub members: Vec<StoredMember>,
}

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
        for member in self.members.values_mut() {
            member.reply_join(JoinResult::error(
                ErrorCode::COORDINATOR_NOT_AVAILABLE,
                &member.member_id,
            ));
            member.reply_sync(SyncResult::error(ErrorCode::COORDINATOR_NOT_AVAILABLE));
        }
        self.state = GroupState::Dead;
    }

    /// Answers every waiting request with NOT_COORDINATOR: this shard no
    /// longer coordinates the group.
    pub fn abandon(&mut self) {
        for member in self.members.values_mut() {
            member.reply_join(JoinResult::error(
                ErrorCode::NOT_COORDINATOR,
                &member.member_id,
            ));
            member.reply_sync(SyncResult::error(ErrorCode::NOT_COORDINATOR));
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

    /// Protocols every member supports.
    fn common_protocols(&self) -> Vec<String> {
        let Some(first) = self.members.values().next() else {
            return Vec::new();
        };
        first
            .protocols
            .iter()
            .map(|(name, _)| name.clone())
            .filter(|name| {
                self.members
                    .values()
                    .all(|member| member.metadata(name).is_some())
            })
            .collect()
    }

    /// Whether a member with these protocols can join the group as it is.
    fn supports(
        &self,
        protocol_type: &str,
        protocols: &[(String, Bytes)],
        except: Option<&str>,
    ) -> bool {
        if protocols.is_empty() || protocol_type.is_empty() {
            return false;
        }
        let others: Vec<&Member> = self
            .members
            .values()
            .filter(|member| Some(member.member_id.as_str()) != except)
            .collect();
        if others.is_empty() {
            return true;
        }
        if self
            .protocol_type
            .as_deref()
            .is_some_and(|current| current != protocol_type)
        {
            return false;
        }
        protocols
            .iter()
            .any(|(name, _)| others.iter().all(|member| member.metadata(name).is_some()))
    }

    /// Kafka's choice: among protocols every member supports, each member
    /// votes for the one it prefers most; the most votes win, ties going to
    /// the earlier protocol in the first member's list.
    fn select_protocol(&self) -> Option<String> {
        let candidates = self.common_protocols();
        let mut votes: Vec<(usize, &String)> = candidates.iter().map(|name| (0, name)).collect();
        for member in self.members.values() {
            if let Some(choice) = member
                .protocols
                .iter()
                .find(|(name, _)| candidates.contains(name))
            {
                if let Some(entry) = votes.iter_mut().find(|(_, name)| **name == choice.0) {
                    entry.0 += 1;
                }
            }
        }
        let mut best: Option<(usize, &String)> = None;
        for (count, name) in votes {
            if best.is_none_or(|(most, _)| count > most) {
                best = Some((count, name));
            }
        }
        best.map(|(_, name)| name.clone())
    }

    fn add_member(&mut self, request: &JoinRequest, member_id: String, now: Instant) {
        let member = Member {
            member_id: member_id.clone(),
            group_instance_id: request.group_instance_id.clone(),
            client_id: request.client_id.clone(),
            client_host: request.client_host.clone(),
            session_timeout: request.session_timeout,
            rebalance_timeout: request.rebalance_timeout,
            protocols: request.protocols.clone(),
            assignment: Bytes::new(),
            join_order: self.next_join_order,
            session_deadline: now + request.session_timeout,
            awaiting_join: None,
            awaiting_sync: None,
        };
        self.next_join_order += 1;
        if let Some(instance) = &request.group_instance_id {
            self.static_members
                .insert(instance.clone(), member_id.clone());
        }
        if self.members.is_empty() {
            self.protocol_type = Some(request.protocol_type.clone());
        }
        self.members.insert(member_id, member);
    }

    fn update_member(&mut self, member_id: &str, request: &JoinRequest, now: Instant) {
        if let Some(member) = self.members.get_mut(member_id) {
            member.client_id = request.client_id.clone();
            member.client_host = request.client_host.clone();
            member.session_timeout = request.session_timeout;
            member.rebalance_timeout = request.rebalance_timeout;
            member.protocols = request.protocols.clone();
            member.session_deadline = now + request.session_timeout;
        }
    }

    /// Handles one JoinGroup. `new_member_id` makes an id for a member that
    /// has none yet.
    pub fn join(
        &mut self,
        request: JoinRequest,
        new_member_id: &mut dyn FnMut() -> String,
        now: Instant,
    ) -> Reply<JoinResult> {
        let refuse = |error: ErrorCode| Reply::Now(JoinResult::error(error, &request.member_id));
        if self.state == GroupState::Dead {
            return refuse(ErrorCode::COORDINATOR_NOT_AVAILABLE);
        }
        let known_static = request
            .group_instance_id
            .as_ref()
            .and_then(|instance| self.static_members.get(instance).cloned());
        let existing = if request.member_id.is_empty() {
            known_static.clone()
        } else {
            Some(request.member_id.clone())
        };
        let except = existing
            .as_deref()
            .filter(|id| self.members.contains_key(*id));
        if !self.supports(&request.protocol_type, &request.protocols, except) {
            return refuse(ErrorCode::INCONSISTENT_GROUP_PROTOCOL);
        }

        if request.member_id.is_empty() {
            if let Some(old_member_id) = known_static {
                return self.rejoin_static(request, old_member_id, new_member_id(), now);
            }
            if self.members.len() + self.pending_members.len() >= self.settings.members_max {
                return refuse(ErrorCode::GROUP_MAX_SIZE_REACHED);
            }
            let member_id = new_member_id();
            if request.require_known_member_id && request.group_instance_id.is_none() {
                self.pending_members
                    .insert(member_id.clone(), now + request.session_timeout);
                return Reply::Now(JoinResult::error(ErrorCode::MEMBER_ID_REQUIRED, &member_id));
            }
            self.add_member(&request, member_id.clone(), now);
            return self.wait_for_join(&member_id, now);
        }

        if let Err(error) =
            self.check_instance(&request.member_id, request.group_instance_id.as_deref())
        {
            return refuse(error);
        }
        if self.pending_members.remove(&request.member_id).is_some() {
            let member_id = request.member_id.clone();
            self.add_member(&request, member_id.clone(), now);
            return self.wait_for_join(&member_id, now);
        }
        if !self.members.contains_key(&request.member_id) {
            return refuse(ErrorCode::UNKNOWN_MEMBER_ID);
        }
        let member_id = request.member_id.clone();
        let unchanged = self
            .members
            .get(&member_id)
            .is_some_and(|member| member.protocols == request.protocols);
        self.update_member(&member_id, &request, now);
        match self.state {
            GroupState::PreparingRebalance => self.wait_for_join(&member_id, now),
            GroupState::CompletingRebalance if unchanged => {
                // The join response was lost: send it again.
                Reply::Now(self.join_result_for(&member_id))
            }
            GroupState::Stable if unchanged && self.leader_id.as_deref() != Some(&member_id) => {
                Reply::Now(self.join_result_for(&member_id))
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.wait_for_join(&member_id, now)
            }
            GroupState::Empty | GroupState::Dead => refuse(ErrorCode::UNKNOWN_MEMBER_ID),
        }
    }

    /// A static member joined again without its member id (a restarted
    /// process): it replaces its old incarnation, which is fenced. In a
    /// stable group whose protocol it does not change it keeps its
    /// assignment and no rebalance happens.
    fn rejoin_static(
        &mut self,
        request: JoinRequest,
        old_member_id: String,
        member_id: String,
        now: Instant,
    ) -> Reply<JoinResult> {
        let Some(mut member) = self.members.remove(&old_member_id) else {
            return Reply::Now(JoinResult::error(ErrorCode::UNKNOWN_MEMBER_ID, ""));
        };
        member.reply_join(JoinResult::error(
            ErrorCode::FENCED_INSTANCE_ID,
            &old_member_id,
        ));
        member.reply_sync(SyncResult::error(ErrorCode::FENCED_INSTANCE_ID));
        let old_protocols = std::mem::replace(&mut member.protocols, request.protocols.clone());
        member.member_id = member_id.clone();
        member.client_id = request.client_id.clone();
        member.client_host = request.client_host.clone();
        member.session_timeout = request.session_timeout;
        member.rebalance_timeout = request.rebalance_timeout;
        member.session_deadline = now + request.session_timeout;
        let was_leader = self.leader_id.as_deref() == Some(old_member_id.as_str());
        self.members.insert(member_id.clone(), member);
        if let Some(instance) = &request.group_instance_id {
            self.static_members
                .insert(instance.clone(), member_id.clone());
        }
        if was_leader {
            self.leader_id = Some(member_id.clone());
        }
        let selected_unchanged = self.protocol_name.as_ref().is_some_and(|name| {
            old_protocols.iter().find(|(old, _)| old == name)
                == request.protocols.iter().find(|(new, _)| new == name)
        }) && self.select_protocol() == self.protocol_name;
        match self.state {
            GroupState::Stable if selected_unchanged => {
                self.persist_wanted = true;
                // The old leader id keeps a restarted leader from computing an
                // assignment that a stable group would never hand out.
                let mut result = self.join_result_for(&member_id);
                result.leader = if was_leader {
                    old_member_id
                } else {
                    result.leader
                };
                result.members.clear();
                Reply::Now(result)
            }
            _ => self.wait_for_join(&member_id, now),
        }
    }

    /// The member waits for the join phase; starts one if none is running.
    fn wait_for_join(&mut self, member_id: &str, now: Instant) -> Reply<JoinResult> {
        let (sender, receiver) = oneshot::channel();
        if let Some(member) = self.members.get_mut(member_id) {
            // A second JoinGroup from the same member replaces the first.
            member.reply_join(JoinResult::error(ErrorCode::UNKNOWN_MEMBER_ID, member_id));
            member.awaiting_join = Some(sender);
        }
        if self.state != GroupState::PreparingRebalance {
            self.prepare_rebalance(now);
        }
        self.try_complete_join(now);
        Reply::Wait(receiver)
    }

    fn prepare_rebalance(&mut self, now: Instant) {
        if self.state == GroupState::CompletingRebalance {
            for member in self.members.values_mut() {
                member.assignment = Bytes::new();
                member.reply_sync(SyncResult::error(ErrorCode::REBALANCE_IN_PROGRESS));
            }
        }
        let rebalance_timeout = self
            .members
            .values()
            .map(|member| member.rebalance_timeout)
            .max()
            .unwrap_or_default();
        if self.state == GroupState::Empty {
            self.initial_delay = true;
            let delay = self.settings.initial_rebalance_delay.min(rebalance_timeout);
            self.rebalance_deadline = Some(now + delay);
        } else {
            self.initial_delay = false;
            self.rebalance_deadline = Some(now + rebalance_timeout);
        }
        self.state = GroupState::PreparingRebalance;
    }

    /// Completes the join phase when every member rejoined (or the initial
    /// delay passed), or when the rebalance timeout expired.
    fn try_complete_join(&mut self, now: Instant) {
        if self.state != GroupState::PreparingRebalance {
            return;
        }
        let deadline_passed = self
            .rebalance_deadline
            .is_some_and(|deadline| now >= deadline);
        let all_joined = self
            .members
            .values()
            .all(|member| member.awaiting_join.is_some())
            && self.pending_members.is_empty();
        let ready = if self.initial_delay {
            deadline_passed || self.members.is_empty()
        } else {
            deadline_passed || all_joined
        };
        if ready {
            self.complete_join(now);
        }
    }

    fn complete_join(&mut self, now: Instant) {
        // Dynamic members that did not rejoin in time are out; static ones
        // stay, as a restarting static member is expected back.
        let absent: Vec<String> = self
            .members
            .values()
            .filter(|member| member.awaiting_join.is_none() && member.group_instance_id.is_none())
            .map(|member| member.member_id.clone())
            .collect();
        for member_id in absent {
            self.remove_member(&member_id);
        }
        self.rebalance_deadline = None;
        self.initial_delay = false;
        self.generation_id += 1;
        if self.members.is_empty() {
            // Like Kafka, the group is stored when it empties and when a
            // leader's assignment arrives, not at every join.
            self.persist_wanted = true;
            self.state = GroupState::Empty;
            self.protocol_name = None;
            // Kafka keeps the protocol type of an emptied group: ListGroups
            // and DescribeGroups still say "consumer". The next first member
            // sets it anew.
            self.leader_id = None;
            return;
        }
        self.protocol_name = self.select_protocol();
        self.state = GroupState::CompletingRebalance;
        let leader_still_here = self.leader_id.as_ref().is_some_and(|leader| {
            self.members
                .get(leader)
                .is_some_and(|member| member.awaiting_join.is_some())
        });
        if !leader_still_here {
            self.leader_id = self
                .members
                .values()
                .filter(|member| member.awaiting_join.is_some())
                .min_by_key(|member| member.join_order)
                .or_else(|| self.members.values().min_by_key(|member| member.join_order))
                .map(|member| member.member_id.clone());
        }
        let member_ids: Vec<String> = self.members.keys().cloned().collect();
        for member_id in member_ids {
            let result = self.join_result_for(&member_id);
            if let Some(member) = self.members.get_mut(&member_id) {
                member.session_deadline = now + member.session_timeout;
                member.reply_join(result);
            }
        }
    }

    fn join_result_for(&self, member_id: &str) -> JoinResult {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        let is_leader = self.leader_id.as_deref() == Some(member_id);
        let members = if is_leader {
            let mut members: Vec<&Member> = self.members.values().collect();
            members.sort_by_key(|member| member.join_order);
            members
                .into_iter()
                .map(|member| JoinedMember {
                    member_id: member.member_id.clone(),
                    group_instance_id: member.group_instance_id.clone(),
                    metadata: member.metadata(&protocol).cloned().unwrap_or_default(),
                })
                .collect()
        } else {
            Vec::new()
        };
        JoinResult {
            error: ErrorCode::NONE,
            generation_id: self.generation_id,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader: self.leader_id.clone().unwrap_or_default(),
            member_id: member_id.to_string(),
            members,
        }
    }

    fn remove_member(&mut self, member_id: &str) {
        if let Some(mut member) = self.members.remove(member_id) {
            member.reply_join(JoinResult::error(ErrorCode::UNKNOWN_MEMBER_ID, member_id));
            member.reply_sync(SyncResult::error(ErrorCode::UNKNOWN_MEMBER_ID));
            if let Some(instance) = &member.group_instance_id {
                if self.static_members.get(instance).map(String::as_str) == Some(member_id) {
                    self.static_members.remove(instance);
                }
            }
        }
        if self.leader_id.as_deref() == Some(member_id) {
            self.leader_id = None;
        }
    }

    /// After members left: rebalance the rest, or finish the running join.
    fn after_departure(&mut self, now: Instant) {
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(now);
                // With nobody left the group goes straight back to Empty.
                if self.members.is_empty() {
                    self.complete_join(now);
                }
            }
            GroupState::PreparingRebalance => self.try_complete_join(now),
            GroupState::Empty | GroupState::Dead => {}
        }
    }

    /// The checks SyncGroup, Heartbeat and OffsetCommit share.
    fn check_member(
        &self,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
    ) -> Result<(), ErrorCode> {
        match self.state {
            GroupState::Dead => return Err(ErrorCode::COORDINATOR_NOT_AVAILABLE),
            GroupState::Empty => return Err(ErrorCode::UNKNOWN_MEMBER_ID),
            _ => {}
        }
        self.check_instance(member_id, group_instance_id)?;
        if !self.members.contains_key(member_id) {
            return Err(ErrorCode::UNKNOWN_MEMBER_ID);
        }
        if generation_id != self.generation_id {
            return Err(ErrorCode::ILLEGAL_GENERATION);
        }
        Ok(())
    }

    fn touch(&mut self, member_id: &str, now: Instant) {
        if let Some(member) = self.members.get_mut(member_id) {
            member.session_deadline = now + member.session_timeout;
        }
    }

    /// Handles one SyncGroup.
    #[allow(clippy::too_many_arguments)]
    pub fn sync(
        &mut self,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
        protocol_type: Option<&str>,
        protocol_name: Option<&str>,
        assignments: Vec<(String, Bytes)>,
        now: Instant,
    ) -> SyncOutcome {
        let now_error = |error| SyncOutcome::Reply(Reply::Now(SyncResult::error(error)));
        if let Err(error) = self.check_member(member_id, group_instance_id, generation_id) {
            return now_error(error);
        }
        let mismatch = |asked: Option<&str>, current: Option<&str>| {
            asked.is_some_and(|asked| Some(asked) != current)
        };
        if mismatch(protocol_type, self.protocol_type.as_deref())
            || mismatch(protocol_name, self.protocol_name.as_deref())
        {
            return now_error(ErrorCode::INCONSISTENT_GROUP_PROTOCOL);
        }
        self.touch(member_id, now);
        match self.state {
            GroupState::PreparingRebalance => now_error(ErrorCode::REBALANCE_IN_PROGRESS),
            GroupState::CompletingRebalance => {
                let (sender, receiver) = oneshot::channel();
                if let Some(member) = self.members.get_mut(member_id) {
                    member.reply_sync(SyncResult::error(ErrorCode::REBALANCE_IN_PROGRESS));
                    member.awaiting_sync = Some(sender);
                }
                if self.leader_id.as_deref() == Some(member_id) {
                    SyncOutcome::Persist {
                        assignments,
                        reply: receiver,
                    }
                } else {
                    SyncOutcome::Reply(Reply::Wait(receiver))
                }
            }
            GroupState::Stable => SyncOutcome::Reply(Reply::Now(self.sync_result_for(member_id))),
            GroupState::Empty | GroupState::Dead => now_error(ErrorCode::UNKNOWN_MEMBER_ID),
        }
    }

    /// The leader's assignment was persisted (or not): finish the sync and
    /// answer every waiting member, the leader included.
    pub fn complete_sync(
        &mut self,
        generation_id: i32,
        assignments: Vec<(String, Bytes)>,
        persisted: Result<(), ErrorCode>,
        now: Instant,
    ) {
        if self.state != GroupState::CompletingRebalance || self.generation_id != generation_id {
            return;
        }
        if let Err(error) = persisted {
            for member in self.members.values_mut() {
                member.reply_sync(SyncResult::error(error));
            }
            self.prepare_rebalance(now);
            return;
        }
        let mut assignments: HashMap<String, Bytes> = assignments.into_iter().collect();
        for member in self.members.values_mut() {
            member.assignment = assignments.remove(&member.member_id).unwrap_or_default();
        }
        self.state = GroupState::Stable;
        let member_ids: Vec<String> = self.members.keys().cloned().collect();
        for member_id in member_ids {
            let result = self.sync_result_for(&member_id);
            if let Some(member) = self.members.get_mut(&member_id) {
                member.reply_sync(result);
            }
        }
    }

    /// The group as it will be once `assignments` are installed, for the
    /// offsets log.
    pub fn stored_with(
        &self,
        assignments: &[(String, Bytes)],
        now_milliseconds: i64,
    ) -> StoredGroup {
        let mut stored = self.stored(now_milliseconds);
        for member in &mut stored.members {
            member.assignment = assignments
                .iter()
                .find(|(id, _)| *id == member.member_id)
                .map(|(_, assignment)| assignment.clone())
                .unwrap_or_default();
        }
        stored
    }

    fn sync_result_for(&self, member_id: &str) -> SyncResult {
        SyncResult {
            error: ErrorCode::NONE,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            assignment: self
                .members
                .get(member_id)
                .map(|member| member.assignment.clone())
                .unwrap_or_default(),
        }
    }

    pub fn heartbeat(
        &mut self,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
        now: Instant,
    ) -> ErrorCode {
        if let Err(error) = self.check_member(member_id, group_instance_id, generation_id) {
            return error;
        }
        self.touch(member_id, now);
        match self.state {
            GroupState::PreparingRebalance => ErrorCode::REBALANCE_IN_PROGRESS,
            _ => ErrorCode::NONE,
        }
    }

    /// One member of a LeaveGroup. A static member may be named by its
    /// instance id alone.
    pub fn leave(
        &mut self,
        member_id: &str,
        group_instance_id: Option<&str>,
        now: Instant,
    ) -> ErrorCode {
        if self.state == GroupState::Dead {
            return ErrorCode::COORDINATOR_NOT_AVAILABLE;
        }
        let member_id = match group_instance_id {
            Some(instance) => match self.static_members.get(instance) {
                None => return ErrorCode::UNKNOWN_MEMBER_ID,
                Some(current) if !member_id.is_empty() && current != member_id => {
                    return ErrorCode::FENCED_INSTANCE_ID
                }
                Some(current) => current.clone(),
            },
            None => member_id.to_string(),
        };
        if self.pending_members.remove(&member_id).is_some() {
            return ErrorCode::NONE;
        }
        if !self.members.contains_key(&member_id) {
            return ErrorCode::UNKNOWN_MEMBER_ID;
        }
        self.remove_member(&member_id);
        self.after_departure(now);
        ErrorCode::NONE
    }

    /// Checks an OffsetCommit from a member (or, with generation -1 and no
    /// member id, a consumer that assigns partitions itself).
    pub fn check_commit(
        &mut self,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
        now: Instant,
    ) -> Result<(), ErrorCode> {
        if self.state == GroupState::Dead {
            return Err(ErrorCode::COORDINATOR_NOT_AVAILABLE);
        }
        if generation_id < 0 && self.state == GroupState::Empty {
            return Ok(());
        }
        if self.state == GroupState::CompletingRebalance {
            // The assignment of the new generation is not out yet.
            self.check_member(member_id, group_instance_id, self.generation_id)?;
            return Err(ErrorCode::REBALANCE_IN_PROGRESS);
        }
        self.check_member(member_id, group_instance_id, generation_id)?;
        self.touch(member_id, now);
        Ok(())
    }

    /// Expires silent members and finishes join phases that ran out of time.
    pub fn tick(&mut self, now: Instant) {
        self.pending_members.retain(|_, deadline| *deadline > now);
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|member| {
                member.awaiting_join.is_none()
                    && member.awaiting_sync.is_none()
                    && member.session_deadline <= now
            })
            .map(|member| member.member_id.clone())
            .collect();
        if !expired.is_empty() {
            for member_id in &expired {
                eprintln!(
                    "corelog: group {}: member {member_id} expired after its session timeout",
                    self.group_id
                );
                self.remove_member(member_id);
            }
            self.after_departure(now);
        }
        self.try_complete_join(now);
    }

    /// Topics the members subscribe to, when the group speaks the consumer
    /// protocol (for OffsetDelete's GROUP_SUBSCRIBED_TO_TOPIC).
    pub fn subscriptions(&self) -> Option<Vec<Bytes>> {
        let protocol = self.protocol_name.as_deref()?;
        Some(
            self.members
                .values()
                .filter_map(|member| member.metadata(protocol).cloned())
                .collect(),
        )
    }

    pub fn stored(&self, now_milliseconds: i64) -> StoredGroup {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        StoredGroup {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation_id: self.generation_id,
            protocol_name: self.protocol_name.clone(),
            leader: self.leader_id.clone(),
            state_timestamp_milliseconds: now_milliseconds,
            members: self
                .members
                .values()
                .map(|member| StoredMember {
                    member_id: member.member_id.clone(),
                    group_instance_id: member.group_instance_id.clone(),
                    client_id: member.client_id.clone(),
                    client_host: member.client_host.clone(),
                    rebalance_timeout_ms: member.rebalance_timeout.as_millis() as i32,
                    session_timeout_ms: member.session_timeout.as_millis() as i32,
                    subscription: member.metadata(&protocol).cloned().unwrap_or_default(),
                    assignment: member.assignment.clone(),
                })
                .collect(),
        }
    }

    /// Rebuilds a group from the offsets log. Its members get a fresh
    /// session: those whose clients are gone expire after it.
    pub fn restore(
        group_id: &str,
        stored: StoredGroup,
        settings: GroupSettings,
        now: Instant,
    ) -> Group {
        let mut group = Group::new(group_id, settings);
        group.generation_id = stored.generation_id;
        if stored.members.is_empty() {
            return group;
        }
        let protocol = stored.protocol_name.clone().unwrap_or_default();
        for (order, member) in stored.members.into_iter().enumerate() {
            let session_timeout = Duration::from_millis(member.session_timeout_ms.max(0) as u64);
            if let Some(instance) = &member.group_instance_id {
                group
                    .static_members
                    .insert(instance.clone(), member.member_id.clone());
            }
            group.members.insert(
                member.member_id.clone(),
                Member {
                    member_id: member.member_id,
                    group_instance_id: member.group_instance_id,
                    client_id: member.client_id,
                    client_host: member.client_host,
                    session_timeout,
                    rebalance_timeout: Duration::from_millis(
                        member.rebalance_timeout_ms.max(0) as u64
                    ),
                    protocols: vec![(protocol.clone(), member.subscription)],
                    assignment: member.assignment,
                    join_order: order as u64,
                    session_deadline: now + session_timeout,
                    awaiting_join: None,
                    awaiting_sync: None,
                },
            );
        }
        group.next_join_order = group.members.len() as u64;
        group.protocol_type = Some(stored.protocol_type);
        group.protocol_name = stored.protocol_name;
        group.leader_id = stored.leader;
        group.state = GroupState::Stable;
        group
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> GroupSettings {
        GroupSettings {
            initial_rebalance_delay: Duration::ZERO,
            members_max: 10,
        }
    }

    fn request(member_id: &str, protocols: &[&str]) -> JoinRequest {
        JoinRequest {
            member_id: member_id.into(),
            group_instance_id: None,
            client_id: "client".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout: Duration::from_secs(10),
            rebalance_timeout: Duration::from_secs(30),
            protocol_type: "consumer".into(),
            protocols: protocols
                .iter()
                .map(|name| (name.to_string(), Bytes::from_static(b"m")))
                .collect(),
            require_known_member_id: true,
        }
    }

    fn ids() -> impl FnMut() -> String {
        let mut next = 0;
        move || {
            next += 1;
            format!("member-{next}")
        }
    }

    fn now_result<T>(reply: Reply<T>) -> T {
        match reply {
            Reply::Now(result) => result,
            Reply::Wait(mut receiver) => receiver
                .try_recv()
                .expect("not cancelled")
                .expect("answered already"),
        }
    }

    /// Joins one member all the way to Stable; returns its id.
    fn join_alone(group: &mut Group, ids: &mut dyn FnMut() -> String, now: Instant) -> String {
        let first = now_result(group.join(request("", &["range"]), ids, now));
        assert_eq!(first.error, ErrorCode::MEMBER_ID_REQUIRED);
        let joined = now_result(group.join(request(&first.member_id, &["range"]), ids, now));
        assert_eq!(joined.error, ErrorCode::NONE);
        assert_eq!(joined.leader, first.member_id);
        let generation = joined.generation_id;
        let assignments = vec![(first.member_id.clone(), Bytes::from_static(b"a"))];
        let SyncOutcome::Persist { assignments, .. } = group.sync(
            &first.member_id,
            None,
            generation,
            None,
            None,
            assignments,
            now,
        ) else {
            panic!("the leader persists first");
        };
        group.complete_sync(generation, assignments, Ok(()), now);
        assert_eq!(group.state(), GroupState::Stable);
        first.member_id
    }

    #[test]
    fn a_member_joins_syncs_and_heartbeats() {
        let now = Instant::now();
        let mut group = Group::new("g", settings());
        let mut ids = ids();
        let member = join_alone(&mut group, &mut ids, now);
        assert_eq!(group.generation_id(), 1);
        assert_eq!(group.heartbeat(&member, None, 1, now), ErrorCode::NONE);
        assert_eq!(
            group.heartbeat(&member, None, 0, now),
            ErrorCode::ILLEGAL_GENERATION
        );
        assert_eq!(
            group.heartbeat("nobody", None, 1, now),
            ErrorCode::UNKNOWN_MEMBER_ID
        );
    }

    #[test]
    fn no_protocols_is_inconsistent() {
        let mut group = Group::new("g", settings());
        let result = now_result(group.join(request("", &[]), &mut ids(), Instant::now()));
        assert_eq!(result.error, ErrorCode::INCONSISTENT_GROUP_PROTOCOL);
    }

    #[test]
    fn a_second_member_triggers_a_rebalance_and_the_leader_gets_everyone() {
        let now = Instant::now();
        let mut group = Group::new("g", settings());
        let mut ids = ids();
        let first = join_alone(&mut group, &mut ids, now);
        let second = now_result(group.join(request("", &["range"]), &mut ids, now));
        let Reply::Wait(mut second_join) =
            group.join(request(&second.member_id, &["range"]), &mut ids, now)
        else {
            panic!("waits for the first member");
        };
        assert_eq!(group.state(), GroupState::PreparingRebalance);
        assert_eq!(
            group.heartbeat(&first, None, 1, now),
            ErrorCode::REBALANCE_IN_PROGRESS
        );
        let leader = now_result(group.join(request(&first, &["range"]), &mut ids, now));
        assert_eq!(leader.generation_id, 2);
        assert_eq!(leader.members.len(), 2);
        let follower = second_join.try_recv().unwrap().unwrap();
        assert!(follower.members.is_empty());
        assert_eq!(follower.leader, first);
    }

    #[test]
    fn a_member_that_does_not_rejoin_is_dropped_at_the_rebalance_timeout() {
        let now = Instant::now();
        let mut group = Group::new("g", settings());
        let mut ids = ids();
        let first = join_alone(&mut group, &mut ids, now);
        let second = now_result(group.join(request("", &["range"]), &mut ids, now));
        let Reply::Wait(mut waiting) =
            group.join(request(&second.member_id, &["range"]), &mut ids, now)
        else {
            panic!("waits for the first member");
        };
        // The first member keeps heartbeating but never rejoins.
        let later = now + Duration::from_secs(29);
        assert_eq!(
            group.heartbeat(&first, None, 1, later),
            ErrorCode::REBALANCE_IN_PROGRESS
        );
        group.tick(later);
        assert!(
            waiting.try_recv().unwrap().is_none(),
            "still within the rebalance timeout"
        );
        group.tick(now + Duration::from_secs(31));
        let result = waiting.try_recv().unwrap().expect("the join completed");
        assert_eq!(result.generation_id, 2);
        assert_eq!(
            result.leader, second.member_id,
            "the remaining member leads"
        );
        assert_eq!(result.members.len(), 1);
        assert!(!group.has_member(&first));
    }

    #[test]
    fn a_silent_member_expires_and_the_group_empties() {
        let now = Instant::now();
        let mut group = Group::new("g", settings());
        let member = join_alone(&mut group, &mut ids(), now);
        group.tick(now + Duration::from_secs(5));
        assert!(group.has_member(&member));
        group.tick(now + Duration::from_secs(11));
        assert!(!group.has_member(&member));
        assert_eq!(group.state(), GroupState::Empty);
        assert_eq!(group.generation_id(), 2);
        assert!(
            group.protocol_type().is_some(),
            "an emptied group keeps its type"
        );
    }

    #[test]
    fn a_static_member_rejoining_keeps_its_assignment() {
        let now = Instant::now();
        let mut group = Group::new("g", settings());
        let mut ids = ids();
        let mut static_request = request("", &["range"]);
        static_request.group_instance_id = Some("instance-1".into());
        let joined = now_result(group.join(static_request.clone(), &mut ids, now));
        assert_eq!(
            joined.error,
            ErrorCode::NONE,
            "static members need no member id round"
        );
        let assignment = vec![(joined.member_id.clone(), Bytes::from_static(b"p0"))];
        let SyncOutcome::Persist { assignments, .. } = group.sync(
            &joined.member_id,
            Some("instance-1"),
            1,
            None,
            None,
            assignment,
            now,
        ) else {
            panic!("the leader persists first");
        };
        group.complete_sync(1, assignments, Ok(()), now);
        let again = now_result(group.join(static_request, &mut ids, now));
        assert_eq!(again.error, ErrorCode::NONE);
        assert_eq!(again.generation_id, 1, "no rebalance");
        assert_ne!(again.member_id, joined.member_id);
        assert_eq!(
            group.heartbeat(&joined.member_id, Some("instance-1"), 1, now),
            ErrorCode::FENCED_INSTANCE_ID
        );
        let SyncOutcome::Reply(reply) = group.sync(
            &again.member_id,
            Some("instance-1"),
            1,
            None,
            None,
            Vec::new(),
            now,
        ) else {
            panic!("a stable group answers at once");
        };
        let synced = now_result(reply);
        assert_eq!(synced.assignment, Bytes::from_static(b"p0"));
    }

    #[test]
    fn simple_commits_need_an_empty_group() {
        let now = Instant::now();
        let mut group = Group::new("g", settings());
        assert_eq!(group.check_commit("", None, -1, now), Ok(()));
        let member = join_alone(&mut group, &mut ids(), now);
        assert_eq!(
            group.check_commit("", None, -1, now),
            Err(ErrorCode::UNKNOWN_MEMBER_ID)
        );
        assert_eq!(
            group.check_commit("stranger", None, 1, now),
            Err(ErrorCode::UNKNOWN_MEMBER_ID)
        );
        assert_eq!(
            group.check_commit(&member, None, 7, now),
            Err(ErrorCode::ILLEGAL_GENERATION)
        );
        assert_eq!(group.check_commit(&member, None, 1, now), Ok(()));
    }
}
