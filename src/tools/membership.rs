//! A consumer group member for `corelog consume -G`: the classic protocol
//! (JoinGroup, SyncGroup, Heartbeat, LeaveGroup) with protocol type
//! "consumer" and the "range" assignment, computed by whichever member the
//! coordinator makes leader, as Kafka's consumers do.
//!
//! Invariants: `assignment` is what the last successful SyncGroup gave this
//! member for `generation`; offsets are committed with that generation and
//! member id, so the coordinator refuses them once a rebalance moved on.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedTopic;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, HeartbeatRequest, JoinGroupRequest,
    JoinGroupResponse, LeaveGroupRequest, SyncGroupRequest,
};
use kafka_protocol::protocol::{Decodable, Encodable};

use super::client::{group_id, pause, text, topic_name, Cluster, RETRIABLE};
use super::offsets::TopicPartition;
use super::{check, empty, kafka_error, ToolError};
use crate::limits;

const PROTOCOL_TYPE: &str = "consumer";
const ASSIGNOR: &str = "range";
/// Kafka's codes the member answers by joining again.
const REBALANCE_IN_PROGRESS: i16 = 27;
const ILLEGAL_GENERATION: i16 = 22;
const UNKNOWN_MEMBER_ID: i16 = 25;
const MEMBER_ID_REQUIRED: i16 = 79;

pub struct Member {
    pub group: String,
    pub coordinator: i32,
    pub member_id: String,
    pub generation: i32,
    pub assignment: Vec<TopicPartition>,
    topics: Vec<String>,
    last_heartbeat: Instant,
}

impl Member {
    /// Joins `group` subscribed to `topics` and waits for an assignment.
    pub fn join(
        cluster: &mut Cluster,
        group: &str,
        topics: &[String],
    ) -> Result<Member, ToolError> {
        let mut member = Member {
            group: group.to_string(),
            coordinator: cluster.coordinator(group)?,
            member_id: String::new(),
            generation: -1,
            assignment: Vec::new(),
            topics: topics.to_vec(),
            last_heartbeat: Instant::now(),
        };
        member.rejoin(cluster)?;
        Ok(member)
    }

    /// Joins again (after a rebalance began) until a generation is synced.
    pub fn rejoin(&mut self, cluster: &mut Cluster) -> Result<(), ToolError> {
        for _ in 0..limits::TOOL_ATTEMPTS_MAX {
            let joined = self.join_group(cluster)?;
            match joined.error_code {
                0 => {}
                MEMBER_ID_REQUIRED => {
                    self.member_id = joined.member_id.as_str().to_string();
                    continue;
                }
                UNKNOWN_MEMBER_ID => {
                    self.member_id.clear();
                    continue;
                }
                code if RETRIABLE.contains(&code) => {
                    self.coordinator = cluster.coordinator(&self.group)?;
                    pause();
                    continue;
                }
                code => {
                    return Err(kafka_error(
                        format!("joining group {}", self.group),
                        code,
                        None,
                    ))
                }
            }
            self.member_id = joined.member_id.as_str().to_string();
            self.generation = joined.generation_id;
            let assignments = if joined.leader == joined.member_id {
                self.assign(cluster, &joined)?
            } else {
                Vec::new()
            };
            if self.sync_group(cluster, assignments)? {
                self.last_heartbeat = Instant::now();
                return Ok(());
            }
        }
        Err(ToolError::Usage(format!(
            "group {}: no stable generation after {} joins",
            self.group,
            limits::TOOL_ATTEMPTS_MAX
        )))
    }

    fn join_group(&mut self, cluster: &mut Cluster) -> Result<JoinGroupResponse, ToolError> {
        let subscription = ConsumerProtocolSubscription::default().with_topics(
            self.topics
                .iter()
                .map(|topic| text(topic.as_str()))
                .collect(),
        );
        let connection = cluster.node(self.coordinator)?;
        // v7 at most: it names the protocol type in the response; v8 only
        // adds a reason.
        let version = connection.version::<JoinGroupRequest>(7)?;
        let mut request = JoinGroupRequest::default()
            .with_group_id(group_id(&self.group))
            .with_session_timeout_ms(limits::TOOL_SESSION_TIMEOUT_MILLISECONDS)
            .with_member_id(text(self.member_id.as_str()))
            .with_protocol_type(text(PROTOCOL_TYPE))
            .with_protocols(vec![JoinGroupRequestProtocol::default()
                .with_name(text(ASSIGNOR))
                .with_metadata(versioned(&subscription, 0))]);
        // v0 has no rebalance timeout: the session timeout stands for it.
        if version >= 1 {
            request.rebalance_timeout_ms = limits::TOOL_REBALANCE_TIMEOUT_MILLISECONDS;
        }
        connection.send_at(&request, version)
    }

    /// SyncGroup; false when a rebalance began meanwhile (join again).
    fn sync_group(
        &mut self,
        cluster: &mut Cluster,
        assignments: Vec<SyncGroupRequestAssignment>,
    ) -> Result<bool, ToolError> {
        let connection = cluster.node(self.coordinator)?;
        let version = connection.version::<SyncGroupRequest>(5)?;
        let mut request = SyncGroupRequest::default()
            .with_group_id(group_id(&self.group))
            .with_generation_id(self.generation)
            .with_member_id(text(self.member_id.as_str()))
            .with_assignments(assignments);
        // Named in the request from v5 only.
        if version >= 5 {
            request.protocol_type = Some(text(PROTOCOL_TYPE));
            request.protocol_name = Some(text(ASSIGNOR));
        }
        let response = connection.send_at(&request, version)?;
        match response.error_code {
            0 => {}
            REBALANCE_IN_PROGRESS | ILLEGAL_GENERATION => return Ok(false),
            UNKNOWN_MEMBER_ID => {
                self.member_id.clear();
                return Ok(false);
            }
            code => {
                return Err(kafka_error(
                    format!("syncing group {}", self.group),
                    code,
                    None,
                ))
            }
        }
        self.assignment = decode_assignment(response.assignment)
            .map_err(|reason| protocol(&self.group, reason))?;
        Ok(true)
    }

    /// The leader's range assignment of every member's subscription.
    fn assign(
        &self,
        cluster: &mut Cluster,
        joined: &JoinGroupResponse,
    ) -> Result<Vec<SyncGroupRequestAssignment>, ToolError> {
        let mut subscriptions = BTreeMap::new();
        for member in &joined.members {
            let topics = decode_subscription(member.metadata.clone())
                .map_err(|reason| protocol(&self.group, reason))?;
            subscriptions.insert(member.member_id.as_str().to_string(), topics);
        }
        let mut counts = BTreeMap::new();
        for topic in subscriptions.values().flatten() {
            if !counts.contains_key(topic) {
                let count = super::offsets::leaders(cluster, topic)?.len() as i32;
                counts.insert(topic.clone(), count);
            }
        }
        let plan = range_assignment(&subscriptions, &counts);
        Ok(plan
            .into_iter()
            .map(|(member, partitions)| {
                SyncGroupRequestAssignment::default()
                    .with_member_id(text(member))
                    .with_assignment(encode_assignment(&partitions))
            })
            .collect())
    }

    /// Sends a heartbeat when one is due; true when the group is
    /// rebalancing and the member must commit and join again.
    pub fn heartbeat(&mut self, cluster: &mut Cluster) -> Result<bool, ToolError> {
        let interval = Duration::from_millis(limits::TOOL_HEARTBEAT_INTERVAL_MILLISECONDS);
        if self.last_heartbeat.elapsed() < interval {
            return Ok(false);
        }
        let request = HeartbeatRequest::default()
            .with_group_id(group_id(&self.group))
            .with_generation_id(self.generation)
            .with_member_id(text(self.member_id.as_str()));
        let (_, response) = cluster.node(self.coordinator)?.send(&request, 4)?;
        self.last_heartbeat = Instant::now();
        match response.error_code {
            0 => Ok(false),
            REBALANCE_IN_PROGRESS | ILLEGAL_GENERATION | UNKNOWN_MEMBER_ID => Ok(true),
            code => Err(kafka_error(
                format!("heartbeat in group {}", self.group),
                code,
                None,
            )),
        }
    }

    /// Leaves the group, so the others rebalance at once rather than after
    /// the session timeout.
    pub fn leave(&self, cluster: &mut Cluster) -> Result<(), ToolError> {
        let connection = cluster.node(self.coordinator)?;
        let version = connection.version::<LeaveGroupRequest>(4)?;
        let mut request = LeaveGroupRequest::default().with_group_id(group_id(&self.group));
        // One member id up to v2; a list of members from v3.
        if version < 3 {
            request.member_id = text(self.member_id.as_str());
        } else {
            request.members =
                vec![MemberIdentity::default().with_member_id(text(self.member_id.as_str()))];
        }
        let response = connection.send_at(&request, version)?;
        super::check(
            || format!("leaving group {}", self.group),
            response.error_code,
            None,
        )
    }
}

/// Kafka's range assignment: per topic, the members subscribed to it in
/// member id order each take a consecutive run of partitions, the first
/// `partitions % members` one more than the rest.
pub fn range_assignment(
    subscriptions: &BTreeMap<String, Vec<String>>,
    partition_counts: &BTreeMap<String, i32>,
) -> BTreeMap<String, Vec<TopicPartition>> {
    let mut plan: BTreeMap<String, Vec<TopicPartition>> = subscriptions
        .keys()
        .map(|member| (member.clone(), Vec::new()))
        .collect();
    for (topic, &count) in partition_counts {
        let members: Vec<&String> = subscriptions
            .iter()
            .filter(|(_, topics)| topics.contains(topic))
            .map(|(member, _)| member)
            .collect();
        if members.is_empty() {
            continue;
        }
        let each = count / members.len() as i32;
        let extra = count % members.len() as i32;
        let mut next = 0;
        for (index, member) in members.into_iter().enumerate() {
            let take = each + i32::from((index as i32) < extra);
            let owned = plan.get_mut(member).expect("every member has an entry");
            owned.extend((next..next + take).map(|partition| (topic.clone(), partition)));
            next += take;
        }
    }
    plan
}

/// A consumer protocol message: its version, then its body.
fn versioned<M: Encodable>(message: &M, version: i16) -> Bytes {
    let mut out = BytesMut::new();
    out.put_i16(version);
    message
        .encode(&mut out, version)
        .expect("encoding into memory cannot fail");
    out.freeze()
}

/// Reads a version prefix; a newer version than the codec knows is read as
/// the newest it knows, since versions only append fields.
fn version_of(bytes: &mut Bytes, newest: i16) -> Result<i16, String> {
    if bytes.remaining() < 2 {
        return Err("consumer protocol message shorter than its version".into());
    }
    Ok(bytes.get_i16().clamp(0, newest))
}

fn decode_subscription(mut bytes: Bytes) -> Result<Vec<String>, String> {
    let version = version_of(&mut bytes, 3)?;
    let subscription = ConsumerProtocolSubscription::decode(&mut bytes, version)
        .map_err(|error| format!("subscription: {error}"))?;
    Ok(subscription
        .topics
        .iter()
        .map(|t| t.as_str().to_string())
        .collect())
}

fn encode_assignment(partitions: &[TopicPartition]) -> Bytes {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (topic, partition) in partitions {
        by_topic.entry(topic.as_str()).or_default().push(*partition);
    }
    let assignment = ConsumerProtocolAssignment::default().with_assigned_partitions(
        by_topic
            .into_iter()
            .map(|(topic, partitions)| {
                AssignedTopic::default()
                    .with_topic(topic_name(topic))
                    .with_partitions(partitions)
            })
            .collect(),
    );
    versioned(&assignment, 0)
}

/// The partitions in a member's assignment (empty bytes: none).
pub fn decode_assignment(mut bytes: Bytes) -> Result<Vec<TopicPartition>, String> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let version = version_of(&mut bytes, 3)?;
    let assignment = ConsumerProtocolAssignment::decode(&mut bytes, version)
        .map_err(|error| format!("assignment: {error}"))?;
    Ok(assignment
        .assigned_partitions
        .iter()
        .flat_map(|topic| {
            let name = topic.topic.0.as_str().to_string();
            topic.partitions.iter().map(move |&p| (name.clone(), p))
        })
        .collect())
}

fn protocol(group: &str, reason: String) -> ToolError {
    ToolError::Protocol {
        address: format!("group {group}"),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_gives_the_first_members_one_more() {
        let topics = vec!["t".to_string()];
        let subscriptions: BTreeMap<String, Vec<String>> = ["a", "b", "c"]
            .iter()
            .map(|m| (m.to_string(), topics.clone()))
            .collect();
        let counts = BTreeMap::from([("t".to_string(), 5)]);
        let plan = range_assignment(&subscriptions, &counts);
        let partitions = |m: &str| plan[m].iter().map(|(_, p)| *p).collect::<Vec<_>>();
        assert_eq!(partitions("a"), vec![0, 1]);
        assert_eq!(partitions("b"), vec![2, 3]);
        assert_eq!(partitions("c"), vec![4]);
    }

    #[test]
    fn assignment_round_trips() {
        let partitions = vec![
            ("t".to_string(), 0),
            ("t".to_string(), 2),
            ("u".to_string(), 1),
        ];
        assert_eq!(
            decode_assignment(encode_assignment(&partitions)).unwrap(),
            partitions
        );
        assert!(decode_assignment(Bytes::new()).unwrap().is_empty());
    }
}

/// DescribeGroups of one group, from its coordinator.
pub fn described(
    cluster: &mut Cluster,
    group: &str,
) -> Result<
    (
        i32,
        kafka_protocol::messages::describe_groups_response::DescribedGroup,
    ),
    ToolError,
> {
    let coordinator = cluster.coordinator(group)?;
    let request = kafka_protocol::messages::DescribeGroupsRequest::default()
        .with_groups(vec![group_id(group)]);
    let (_, response) = cluster.node(coordinator)?.send(&request, 5)?;
    let described = response
        .groups
        .into_iter()
        .next()
        .ok_or_else(|| empty("DescribeGroups"))?;
    check(
        || format!("describing group {group}"),
        described.error_code,
        described.error_message.as_deref(),
    )?;
    Ok((coordinator, described))
}
