//! The rebalance phases and their timers: preparing, completing a join,
//! departures, and the tick that expires silent members.

use std::time::Instant;

use bytes::Bytes;

use super::{Group, GroupState, JoinResult, JoinedMember, Member, SyncResult};
use crate::protocol::ErrorCode;

impl Group {
    pub(super) fn prepare_rebalance(&mut self, now: Instant) {
        if self.state == GroupState::CompletingRebalance {
            for member in self.members.values_mut() {
                member.assignment = Bytes::new();
                member.reply_sync(SyncResult::error(ErrorCode::REBALANCE_IN_PROGRESS));
            }
        }
        let rebalance_timeout = self
            .members
            .values()
            .map(|member| member.profile.rebalance_timeout)
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
    pub(super) fn try_complete_join(&mut self, now: Instant) {
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

    pub(super) fn complete_join(&mut self, now: Instant) {
        // Dynamic members that did not rejoin in time are out; static ones
        // stay, as a restarting static member is expected back.
        let absent: Vec<String> = self
            .members
            .values()
            .filter(|member| {
                member.awaiting_join.is_none() && member.profile.group_instance_id.is_none()
            })
            .map(|member| member.profile.member_id.clone())
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
                .map(|member| member.profile.member_id.clone());
        }
        let member_ids: Vec<String> = self.members.keys().cloned().collect();
        for member_id in member_ids {
            let result = self.join_result_for(&member_id);
            if let Some(member) = self.members.get_mut(&member_id) {
                member.session_deadline = now + member.profile.session_timeout;
                member.reply_join(result);
            }
        }
    }

    pub(super) fn join_result_for(&self, member_id: &str) -> JoinResult {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        let is_leader = self.leader_id.as_deref() == Some(member_id);
        let members = if is_leader {
            let mut members: Vec<&Member> = self.members.values().collect();
            members.sort_by_key(|member| member.join_order);
            members
                .into_iter()
                .map(|member| JoinedMember {
                    member_id: member.profile.member_id.clone(),
                    group_instance_id: member.profile.group_instance_id.clone(),
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

    pub(super) fn remove_member(&mut self, member_id: &str) {
        if let Some(mut member) = self.members.remove(member_id) {
            member.reply_join(JoinResult::error(ErrorCode::UNKNOWN_MEMBER_ID, member_id));
            member.reply_sync(SyncResult::error(ErrorCode::UNKNOWN_MEMBER_ID));
            if let Some(instance) = &member.profile.group_instance_id {
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
    pub(super) fn after_departure(&mut self, now: Instant) {
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
            .map(|member| member.profile.member_id.clone())
            .collect();
        if !expired.is_empty() {
            for member_id in &expired {
                tracing::info!(
                    "group {}: member {member_id} expired after its session timeout",
                    self.group_id
                );
                self.remove_member(member_id);
            }
            self.after_departure(now);
        }
        self.try_complete_join(now);
    }
}
