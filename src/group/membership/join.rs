//! JoinGroup: protocol choice, new, known and static members joining.

use std::time::Instant;

use bytes::Bytes;
use futures_channel::oneshot;

use super::{Group, GroupState, JoinRequest, JoinResult, Member, MemberProfile, Reply, SyncResult};
use crate::protocol::ErrorCode;

impl Group {
    /// Protocols every member supports.
    pub(super) fn common_protocols(&self) -> Vec<String> {
        let Some(first) = self.members.values().next() else {
            return Vec::new();
        };
        first
            .profile
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
    pub(super) fn supports(
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
            .filter(|member| Some(member.profile.member_id.as_str()) != except)
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
    pub(super) fn select_protocol(&self) -> Option<String> {
        let candidates = self.common_protocols();
        let mut votes: Vec<(usize, &String)> = candidates.iter().map(|name| (0, name)).collect();
        for member in self.members.values() {
            if let Some(choice) = member
                .profile
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

    pub(super) fn add_member(&mut self, request: &JoinRequest, member_id: String, now: Instant) {
        let profile = MemberProfile {
            member_id: member_id.clone(),
            ..request.member.clone()
        };
        let member = Member::new(profile, Bytes::new(), self.next_join_order, now);
        self.next_join_order += 1;
        if let Some(instance) = &request.member.group_instance_id {
            self.static_members
                .insert(instance.clone(), member_id.clone());
        }
        if self.members.is_empty() {
            self.protocol_type = Some(request.protocol_type.clone());
        }
        self.members.insert(member_id, member);
    }

    pub(super) fn update_member(&mut self, member_id: &str, request: &JoinRequest, now: Instant) {
        if let Some(member) = self.members.get_mut(member_id) {
            member.rejoin(&request.member, now);
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
        let refuse =
            |error: ErrorCode| Reply::Now(JoinResult::error(error, &request.member.member_id));
        if self.state == GroupState::Dead {
            return refuse(ErrorCode::COORDINATOR_NOT_AVAILABLE);
        }
        let known_static = request
            .member
            .group_instance_id
            .as_ref()
            .and_then(|instance| self.static_members.get(instance).cloned());
        let existing = if request.member.member_id.is_empty() {
            known_static.clone()
        } else {
            Some(request.member.member_id.clone())
        };
        let except = existing
            .as_deref()
            .filter(|id| self.members.contains_key(*id));
        if !self.supports(&request.protocol_type, &request.member.protocols, except) {
            return refuse(ErrorCode::INCONSISTENT_GROUP_PROTOCOL);
        }
        if request.member.member_id.is_empty() {
            return self.join_without_id(request, known_static, new_member_id, now);
        }
        self.join_with_id(request, now)
    }

    /// A member without an id: a static member's new incarnation, or a new
    /// member (told its id first, from v4).
    fn join_without_id(
        &mut self,
        request: JoinRequest,
        known_static: Option<String>,
        new_member_id: &mut dyn FnMut() -> String,
        now: Instant,
    ) -> Reply<JoinResult> {
        if let Some(old_member_id) = known_static {
            return self.rejoin_static(request, old_member_id, new_member_id(), now);
        }
        if self.members.len() + self.pending_members.len() >= self.settings.members_max {
            return Reply::Now(JoinResult::error(
                ErrorCode::GROUP_MAX_SIZE_REACHED,
                &request.member.member_id,
            ));
        }
        let member_id = new_member_id();
        if request.require_known_member_id && request.member.group_instance_id.is_none() {
            self.pending_members
                .insert(member_id.clone(), now + request.member.session_timeout);
            return Reply::Now(JoinResult::error(ErrorCode::MEMBER_ID_REQUIRED, &member_id));
        }
        self.add_member(&request, member_id.clone(), now);
        self.wait_for_join(&member_id, now)
    }

    /// A member that names its id: a pending member joining with the id it
    /// was given, or a known member rejoining.
    fn join_with_id(&mut self, request: JoinRequest, now: Instant) -> Reply<JoinResult> {
        let refuse =
            |error: ErrorCode| Reply::Now(JoinResult::error(error, &request.member.member_id));
        if let Err(error) = self.check_instance(
            &request.member.member_id,
            request.member.group_instance_id.as_deref(),
        ) {
            return refuse(error);
        }
        if self
            .pending_members
            .remove(&request.member.member_id)
            .is_some()
        {
            let member_id = request.member.member_id.clone();
            self.add_member(&request, member_id.clone(), now);
            return self.wait_for_join(&member_id, now);
        }
        if !self.members.contains_key(&request.member.member_id) {
            return refuse(ErrorCode::UNKNOWN_MEMBER_ID);
        }
        let member_id = request.member.member_id.clone();
        let unchanged = self
            .members
            .get(&member_id)
            .is_some_and(|member| member.profile.protocols == request.member.protocols);
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
    pub(super) fn rejoin_static(
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
        let old_protocols = member.rejoin(&request.member, now);
        member.profile.member_id = member_id.clone();
        let was_leader = self.leader_id.as_deref() == Some(old_member_id.as_str());
        self.members.insert(member_id.clone(), member);
        if let Some(instance) = &request.member.group_instance_id {
            self.static_members
                .insert(instance.clone(), member_id.clone());
        }
        if was_leader {
            self.leader_id = Some(member_id.clone());
        }
        let selected_unchanged = self.protocol_name.as_ref().is_some_and(|name| {
            old_protocols.iter().find(|(old, _)| old == name)
                == request.member.protocols.iter().find(|(new, _)| new == name)
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
    pub(super) fn wait_for_join(&mut self, member_id: &str, now: Instant) -> Reply<JoinResult> {
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
}
