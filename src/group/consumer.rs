//! The consumer group protocol's commands (KIP-848): ConsumerGroupHeartbeat
//! and ConsumerGroupDescribe, on top of the state machine in
//! `consumer_group`; and ListGroups, which lists both kinds.
//!
//! Invariants:
//! - a group is classic or consumer: a heartbeat to a classic group with
//!   members gets GROUP_ID_NOT_FOUND, as from Kafka with online upgrade
//!   disabled; an empty classic group becomes a consumer group and keeps
//!   its committed offsets;
//! - consumer-protocol membership is not stored: after a coordinator
//!   restart a member hears that it is unknown and rejoins with epoch 0.

use std::time::Instant;

use super::assignor::{Assignment, TopicPartitions};
use super::consumer_group::{
    ConsumerProtocolGroup, HeartbeatReply, HeartbeatRequest, Refusal, JOIN_EPOCH,
};
use super::coordinator::Coordinator;
use super::{change_group, ConsumerGroup};
use crate::metadata::Snapshot;
use crate::protocol::ErrorCode;

/// A ConsumerGroupHeartbeat as the coordinator takes it.
#[derive(Debug, Clone)]
pub struct ConsumerHeartbeat {
    pub group_id: String,
    /// v1+: members name themselves, so a member id is required.
    pub member_id_required: bool,
    pub subscribed_topic_regex: Option<String>,
    pub request: HeartbeatRequest,
}

/// One group as ListGroups shows it.
#[derive(Debug, Clone)]
pub struct ListedGroup {
    pub group_id: String,
    pub protocol_type: String,
    /// `classic` or `consumer`.
    pub group_type: &'static str,
    pub state: &'static str,
}

/// A consumer-protocol group as ConsumerGroupDescribe shows it.
#[derive(Debug, Clone)]
pub struct ConsumerGroupDescription {
    pub state: &'static str,
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub assignor: &'static str,
    pub members: Vec<DescribedConsumer>,
}

#[derive(Debug, Clone)]
pub struct DescribedConsumer {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub member_epoch: i32,
    pub client_id: String,
    pub client_host: String,
    pub subscribed_topic_names: Vec<String>,
    pub assignment: Vec<NamedPartitions>,
    pub target_assignment: Vec<NamedPartitions>,
}

/// Partitions of one topic, with the topic's name from the metadata
/// (empty for a topic deleted since).
#[derive(Debug, Clone)]
pub struct NamedPartitions {
    pub topic_id: uuid::Uuid,
    pub topic_name: String,
    pub partitions: Vec<i32>,
}

fn refuse(code: ErrorCode, message: String) -> Refusal {
    Refusal { code, message }
}

fn unknown_member(member_id: &str, group_id: &str) -> Refusal {
    refuse(
        ErrorCode::UNKNOWN_MEMBER_ID,
        format!("Member {member_id} is not a member of group {group_id}."),
    )
}

/// The checks Kafka makes of the request before it looks for the group.
fn validate(heartbeat: &ConsumerHeartbeat) -> Result<(), Refusal> {
    if heartbeat.group_id.is_empty() {
        return Err(refuse(
            ErrorCode::INVALID_REQUEST,
            "GroupId can't be empty.".to_string(),
        ));
    }
    if heartbeat.member_id_required && heartbeat.request.member_id.is_empty() {
        return Err(refuse(
            ErrorCode::INVALID_REQUEST,
            "MemberId can't be empty.".to_string(),
        ));
    }
    if heartbeat
        .subscribed_topic_regex
        .as_ref()
        .is_some_and(|regex| !regex.is_empty())
    {
        // Kafka evaluates RE2J expressions against the topic names; this
        // broker has no regular expression engine, so it says so rather
        // than subscribe the member to nothing.
        return Err(refuse(
            ErrorCode::INVALID_REGULAR_EXPRESSION,
            "Regular expression subscriptions are not supported by this broker; subscribe by topic names.".to_string(),
        ));
    }
    Ok(())
}

/// Makes `group` a consumer-protocol group if it is an empty classic one
/// and the member joins; refuses otherwise.
fn become_consumer(
    group: &mut ConsumerGroup,
    group_id: &str,
    heartbeat: &HeartbeatRequest,
    coordinator: &Coordinator,
) -> Result<(), Refusal> {
    if group.consumer_protocol.is_some() {
        return Ok(());
    }
    let joining = heartbeat.member_epoch == JOIN_EPOCH;
    if group.membership.members().next().is_some() {
        return Err(refuse(
            ErrorCode::GROUP_ID_NOT_FOUND,
            if joining {
                format!("Cannot upgrade classic group {group_id} to consumer group because online upgrade is disabled.")
            } else {
                format!("Group {group_id} is not a consumer group.")
            },
        ));
    }
    if !joining {
        return Err(unknown_member(&heartbeat.member_id, group_id));
    }
    // An empty classic group becomes a consumer group; its committed
    // offsets stay.
    group.consumer_protocol = Some(ConsumerProtocolGroup::new(
        group_id,
        coordinator.consumer_settings(),
    ));
    Ok(())
}

impl Coordinator {
    /// ConsumerGroupHeartbeat: joins, keeps, reconciles or removes a member.
    pub fn consumer_heartbeat(
        &self,
        snapshot: &Snapshot,
        heartbeat: ConsumerHeartbeat,
    ) -> Result<HeartbeatReply, Refusal> {
        validate(&heartbeat)?;
        let group_id = heartbeat.group_id.as_str();
        let located = self
            .locate(snapshot, group_id)
            .map_err(|code| refuse(code, format!("Group {group_id} is not coordinated here.")))?;
        let request = heartbeat.request;
        if located.group.is_none() && request.member_epoch != JOIN_EPOCH {
            // Membership is not persisted: after a coordinator restart a member
            // hears that it is unknown and rejoins with epoch 0.
            return Err(unknown_member(&request.member_id, group_id));
        }
        let group = self
            .get_or_create(&located, group_id)
            .map_err(|code| refuse(code, format!("Group {group_id} could not be created.")))?;
        let topics = |name: &str| {
            snapshot.topic(name).map(|topic| TopicPartitions {
                id: uuid::Uuid::from_bytes(topic.id),
                partitions: topic.placement.len() as i32,
            })
        };
        become_consumer(&mut group.borrow_mut(), group_id, &request, self)?;
        let result = change_group(&group, |group| {
            let consumer = group
                .consumer_protocol
                .as_mut()
                .expect("a consumer group by now");
            consumer.heartbeat(
                request,
                &topics,
                &mut || new_member_uuid(self),
                Instant::now(),
            )
        });
        // A refused first join, or the last member gone from a group that
        // committed nothing: nothing is left to keep.
        self.forget_if_unused(group_id, &group);
        result
    }

    /// ConsumerGroupDescribe of one group: the error is a code and, where
    /// Kafka gives one, a message.
    pub fn describe_consumer_group(
        &self,
        snapshot: &Snapshot,
        group_id: &str,
    ) -> Result<ConsumerGroupDescription, (ErrorCode, Option<String>)> {
        let located = self
            .locate(snapshot, group_id)
            .map_err(|code| (code, None))?;
        let not_found = |why: &str| {
            (
                ErrorCode::GROUP_ID_NOT_FOUND,
                Some(format!("Group {group_id} {why}.")),
            )
        };
        let Some(group) = located.group else {
            return Err(not_found("not found"));
        };
        let group = group.borrow();
        let Some(consumer) = &group.consumer_protocol else {
            return Err(not_found("is not a consumer group"));
        };
        let members = consumer
            .members()
            .map(|member| DescribedConsumer {
                member_id: member.member_id.clone(),
                instance_id: member.instance_id.clone(),
                rack_id: member.rack_id.clone(),
                member_epoch: member.member_epoch,
                client_id: member.client_id.clone(),
                client_host: member.client_host.clone(),
                subscribed_topic_names: member.subscribed_topic_names.iter().cloned().collect(),
                assignment: named(snapshot, &member.assigned),
                target_assignment: named(snapshot, &consumer.target_of(&member.member_id)),
            })
            .collect();
        Ok(ConsumerGroupDescription {
            state: consumer.state().name(),
            group_epoch: consumer.group_epoch(),
            assignment_epoch: consumer.assignment_epoch(),
            assignor: consumer.assignor().name(),
            members,
        })
    }

    /// ListGroups: the loaded groups coordinated here, classic and
    /// consumer, filtered by state and type (either filter empty: all;
    /// case does not matter), sorted by id.
    pub fn list_groups(
        &self,
        states_filter: &[String],
        types_filter: &[String],
    ) -> Vec<ListedGroup> {
        let states: Vec<String> = states_filter
            .iter()
            .map(|state| state.to_lowercase())
            .collect();
        let types: Vec<String> = types_filter
            .iter()
            .map(|kind| kind.to_lowercase())
            .collect();
        let partitions = self.partitions.borrow();
        let mut listed: Vec<ListedGroup> = self
            .groups
            .borrow()
            .iter()
            .filter(|(_, group)| partitions.contains_key(&group.borrow().offsets_partition))
            .map(|(id, group)| listed_group(id, &group.borrow()))
            .filter(|group| states.is_empty() || states.contains(&group.state.to_lowercase()))
            .filter(|group| types.is_empty() || types.iter().any(|kind| kind == group.group_type))
            .collect();
        listed.sort_by(|left, right| left.group_id.cmp(&right.group_id));
        listed
    }
}

fn listed_group(group_id: &str, group: &ConsumerGroup) -> ListedGroup {
    let (protocol_type, state) = match &group.consumer_protocol {
        Some(consumer) => ("consumer".to_string(), consumer.state().name()),
        None => (
            group
                .membership
                .protocol_type()
                .unwrap_or_default()
                .to_string(),
            group.membership.state().name(),
        ),
    };
    ListedGroup {
        group_id: group_id.to_string(),
        protocol_type,
        group_type: group.group_type(),
        state,
    }
}

/// An assignment with topic names from the metadata.
fn named(snapshot: &Snapshot, assignment: &Assignment) -> Vec<NamedPartitions> {
    assignment
        .iter()
        .map(|(topic_id, partitions)| NamedPartitions {
            topic_id: *topic_id,
            topic_name: snapshot
                .topic_by_id(topic_id.as_bytes())
                .map(|topic| topic.name.clone())
                .unwrap_or_default(),
            partitions: partitions.iter().copied().collect(),
        })
        .collect()
}

/// A fresh member id for a v0 member: a uuid, as Kafka makes them, taken
/// from the coordinator's never-repeating `<prefix>-<uuid>` ids.
fn new_member_uuid(coordinator: &Coordinator) -> String {
    let id = coordinator.new_member_id("m");
    id.strip_prefix("m-").unwrap_or(&id).to_string()
}
