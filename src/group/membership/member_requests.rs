//! What members ask of a formed group: SyncGroup, Heartbeat, LeaveGroup,
//! and the membership check of OffsetCommit.

use std::collections::HashMap;
use std::time::Instant;

use bytes::Bytes;
use futures_channel::oneshot;

use super::{Group, GroupState, Reply, SyncOutcome, SyncResult};
use crate::protocol::ErrorCode;

impl Group {
    /// The checks SyncGroup, Heartbeat and OffsetCommit share.
    pub(super) fn check_member(
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

    pub(super) fn touch(&mut self, member_id: &str, now: Instant) {
        if let Some(member) = self.members.get_mut(member_id) {
            member.session_deadline = now + member.profile.session_timeout;
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
            member.assignment = assignments
                .remove(&member.profile.member_id)
                .unwrap_or_default();
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

    pub(super) fn sync_result_for(&self, member_id: &str) -> SyncResult {
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
}
