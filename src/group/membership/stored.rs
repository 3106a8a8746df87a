//! The stored form of a group: what the offsets log keeps of its
//! membership, and how a group is rebuilt from it.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Group, GroupSettings, GroupState, Member, MemberProfile};

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

impl Group {
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
                    member_id: member.profile.member_id.clone(),
                    group_instance_id: member.profile.group_instance_id.clone(),
                    client_id: member.profile.client_id.clone(),
                    client_host: member.profile.client_host.clone(),
                    rebalance_timeout_ms: member.profile.rebalance_timeout.as_millis() as i32,
                    session_timeout_ms: member.profile.session_timeout.as_millis() as i32,
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
            if let Some(instance) = &member.group_instance_id {
                group
                    .static_members
                    .insert(instance.clone(), member.member_id.clone());
            }
            let profile = MemberProfile {
                member_id: member.member_id.clone(),
                group_instance_id: member.group_instance_id,
                client_id: member.client_id,
                client_host: member.client_host,
                session_timeout: Duration::from_millis(member.session_timeout_ms.max(0) as u64),
                rebalance_timeout: Duration::from_millis(member.rebalance_timeout_ms.max(0) as u64),
                protocols: vec![(protocol.clone(), member.subscription)],
            };
            group.members.insert(
                member.member_id,
                Member::new(profile, member.assignment, order as u64, now),
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
