//! The classic group protocol's commands: JoinGroup, SyncGroup, Heartbeat,
//! LeaveGroup and DescribeGroups, as the coordinator serves them on top of
//! the state machine in `membership`.
//!
//! Invariants:
//! - a group is classic or consumer: a consumer-protocol group with members
//!   refuses classic members, an empty one becomes classic;
//! - the leader's assignment is installed only after the group stored with
//!   it is in the offsets log.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::coordinator::Coordinator;
use super::membership::{
    GroupState, JoinRequest, JoinResult, MemberProfile, Reply, SyncOutcome, SyncResult,
};
use super::{change_group, expire_due};
use crate::limits::REBALANCE_TIMEOUT_MILLISECONDS_MAX;
use crate::metadata::Snapshot;
use crate::protocol::ErrorCode;

/// A JoinGroup as the coordinator takes it.
#[derive(Debug, Clone)]
pub struct JoinGroup {
    pub group_id: String,
    /// Empty for a member that has no id yet.
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_milliseconds: i32,
    /// `None` where the request has none (v0): the session timeout is used.
    pub rebalance_timeout_milliseconds: Option<i32>,
    pub protocol_type: String,
    /// (name, metadata) in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
    /// v4+: a new dynamic member first gets MEMBER_ID_REQUIRED.
    pub require_known_member_id: bool,
}

/// A SyncGroup as the coordinator takes it.
#[derive(Debug, Clone)]
pub struct SyncGroup {
    pub group_id: String,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    /// The leader's assignment: (member id, assignment).
    pub assignments: Vec<(String, Bytes)>,
}

/// A member as Heartbeat and LeaveGroup name it: a static member may be
/// named by its instance id alone (LeaveGroup).
#[derive(Debug, Clone)]
pub struct MemberIdentity {
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

/// What DescribeGroups learns of a group.
#[derive(Debug, Clone)]
pub enum GroupDescription {
    /// No such group here: Kafka describes it as Dead.
    Unknown,
    /// A consumer-protocol group: ConsumerGroupDescribe describes it.
    NotClassic,
    Classic(ClassicGroup),
}

#[derive(Debug, Clone)]
pub struct ClassicGroup {
    pub state: GroupState,
    pub protocol_type: String,
    /// The selected protocol while the group is stable, else empty.
    pub protocol: String,
    pub members: Vec<DescribedMember>,
}

#[derive(Debug, Clone)]
pub struct DescribedMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// Subscription and assignment, shown only while the group is stable.
    pub metadata: Bytes,
    pub assignment: Bytes,
}

impl Coordinator {
    /// JoinGroup: answers when the rebalance completes (or at once).
    pub async fn join(&self, snapshot: &Snapshot, join: JoinGroup) -> JoinResult {
        let member_id = join.member_id.clone();
        match self.start_join(snapshot, join).await {
            Err(code) => JoinResult::error(code, &member_id),
            Ok(Reply::Now(result)) => result,
            Ok(Reply::Wait(answer)) => answer
                .await
                .unwrap_or_else(|_| JoinResult::error(ErrorCode::NOT_COORDINATOR, &member_id)),
        }
    }

    /// (session timeout, rebalance timeout), checked against the broker's
    /// bounds.
    fn join_timeouts(&self, join: &JoinGroup) -> Result<(Duration, Duration), ErrorCode> {
        let settings = self.settings;
        let session_timeout =
            Duration::from_millis(join.session_timeout_milliseconds.max(0) as u64);
        if join.session_timeout_milliseconds < 0
            || session_timeout < settings.session_timeout_min
            || session_timeout > settings.session_timeout_max
        {
            return Err(ErrorCode::INVALID_SESSION_TIMEOUT);
        }
        let rebalance_timeout = match join.rebalance_timeout_milliseconds {
            Some(milliseconds) if milliseconds > 0 => {
                Duration::from_millis((milliseconds as u64).min(REBALANCE_TIMEOUT_MILLISECONDS_MAX))
            }
            _ => session_timeout,
        };
        Ok((session_timeout, rebalance_timeout))
    }

    async fn start_join(
        &self,
        snapshot: &Snapshot,
        join: JoinGroup,
    ) -> Result<Reply<JoinResult>, ErrorCode> {
        if join.group_id.is_empty() {
            return Err(ErrorCode::INVALID_GROUP_ID);
        }
        let (session_timeout, rebalance_timeout) = self.join_timeouts(&join)?;
        let located = self.locate(snapshot, &join.group_id)?;
        if located.group.is_none() && !join.member_id.is_empty() {
            return Err(ErrorCode::UNKNOWN_MEMBER_ID);
        }
        let group = self.get_or_create(&located, &join.group_id)?;
        let prefix = join
            .group_instance_id
            .clone()
            .unwrap_or_else(|| join.client_id.clone());
        let group_id = join.group_id;
        let request = JoinRequest {
            member: MemberProfile {
                member_id: join.member_id,
                group_instance_id: join.group_instance_id,
                client_id: join.client_id,
                client_host: join.client_host,
                session_timeout,
                rebalance_timeout,
                protocols: join.protocols,
            },
            protocol_type: join.protocol_type,
            require_known_member_id: join.require_known_member_id,
        };
        let reply = change_group(&group, |group| {
            if let Some(consumer) = &group.consumer_protocol {
                if !consumer.is_empty() {
                    return Err(ErrorCode::INCONSISTENT_GROUP_PROTOCOL);
                }
                group.consumer_protocol = None;
            }
            let mut new_member_id = || self.new_member_id(&prefix);
            Ok(group
                .membership
                .join(request, &mut new_member_id, Instant::now()))
        })?;
        // A refused first join does not create a group.
        self.forget_if_unused(&group_id, &group);
        self.persist_if_wanted(&located.partition, &group).await;
        Ok(reply)
    }

    /// SyncGroup: the leader's assignment is stored, then handed out.
    pub async fn sync(&self, snapshot: &Snapshot, sync: SyncGroup) -> SyncResult {
        if sync.group_id.is_empty() {
            return SyncResult::error(ErrorCode::INVALID_GROUP_ID);
        }
        let located = match self.locate(snapshot, &sync.group_id) {
            Ok(located) => located,
            Err(code) => return SyncResult::error(code),
        };
        let Some(group) = located.group.clone() else {
            return SyncResult::error(ErrorCode::UNKNOWN_MEMBER_ID);
        };
        let outcome = change_group(&group, |group| {
            group.membership.sync(
                &sync.member_id,
                sync.group_instance_id.as_deref(),
                sync.generation_id,
                sync.protocol_type.as_deref(),
                sync.protocol_name.as_deref(),
                sync.assignments,
                Instant::now(),
            )
        });
        let answer = match outcome {
            SyncOutcome::Reply(Reply::Now(result)) => return result,
            SyncOutcome::Reply(Reply::Wait(answer)) => answer,
            SyncOutcome::Persist { assignments, reply } => {
                let (record, generation_id) = {
                    let mut group = group.borrow_mut();
                    let stored = group
                        .membership
                        .stored_with(&assignments, crate::rt::now_milliseconds());
                    (
                        group.stored_record(stored),
                        group.membership.generation_id(),
                    )
                };
                located
                    .partition
                    .append_then_apply(&[record], |stored| {
                        change_group(&group, |group| {
                            group.membership.complete_sync(
                                generation_id,
                                assignments,
                                stored,
                                Instant::now(),
                            )
                        })
                    })
                    .await;
                reply
            }
        };
        answer
            .await
            .unwrap_or_else(|_| SyncResult::error(ErrorCode::NOT_COORDINATOR))
    }

    /// Heartbeat: keeps the member's session; NONE or why it must act.
    pub fn heartbeat(
        &self,
        snapshot: &Snapshot,
        group_id: &str,
        member: &MemberIdentity,
        generation_id: i32,
    ) -> ErrorCode {
        if group_id.is_empty() {
            return ErrorCode::INVALID_GROUP_ID;
        }
        let located = match self.locate(snapshot, group_id) {
            Ok(located) => located,
            Err(code) => return code,
        };
        let Some(group) = located.group else {
            return ErrorCode::UNKNOWN_MEMBER_ID;
        };
        change_group(&group, |group| {
            group.membership.heartbeat(
                &member.member_id,
                member.group_instance_id.as_deref(),
                generation_id,
                Instant::now(),
            )
        })
    }

    /// LeaveGroup: one code per member, in order, or one for the request.
    pub async fn leave(
        &self,
        snapshot: &Snapshot,
        group_id: &str,
        leaving: &[MemberIdentity],
    ) -> Result<Vec<ErrorCode>, ErrorCode> {
        if group_id.is_empty() {
            return Err(ErrorCode::INVALID_GROUP_ID);
        }
        let located = self.locate(snapshot, group_id)?;
        let Some(group) = located.group.clone() else {
            return Ok(vec![ErrorCode::UNKNOWN_MEMBER_ID; leaving.len()]);
        };
        let now = Instant::now();
        let codes = change_group(&group, |group| {
            leaving
                .iter()
                .map(|member| {
                    group.membership.leave(
                        &member.member_id,
                        member.group_instance_id.as_deref(),
                        now,
                    )
                })
                .collect()
        });
        self.persist_if_wanted(&located.partition, &group).await;
        Ok(codes)
    }

    /// DescribeGroups of one group, its timers run up to now first.
    pub fn describe(
        &self,
        snapshot: &Snapshot,
        group_id: &str,
    ) -> Result<GroupDescription, ErrorCode> {
        let located = self.locate(snapshot, group_id)?;
        let Some(group) = located.group else {
            return Ok(GroupDescription::Unknown);
        };
        expire_due(&group, Instant::now());
        let group = group.borrow();
        if group.consumer_protocol.is_some() {
            return Ok(GroupDescription::NotClassic);
        }
        let membership = &group.membership;
        let stable = membership.state() == GroupState::Stable;
        let protocol = if stable {
            membership.protocol_name().unwrap_or_default().to_string()
        } else {
            String::new()
        };
        let members = membership
            .members()
            .map(|member| DescribedMember {
                member_id: member.profile.member_id.clone(),
                group_instance_id: member.profile.group_instance_id.clone(),
                client_id: member.profile.client_id.clone(),
                client_host: member.profile.client_host.clone(),
                metadata: if stable {
                    member.metadata(&protocol).cloned().unwrap_or_default()
                } else {
                    Bytes::new()
                },
                assignment: if stable {
                    member.assignment.clone()
                } else {
                    Bytes::new()
                },
            })
            .collect();
        Ok(GroupDescription::Classic(ClassicGroup {
            state: membership.state(),
            protocol_type: membership.protocol_type().unwrap_or_default().to_string(),
            protocol,
            members,
        }))
    }
}
