//! `corelog group list|describe|reset-offsets|delete`.
//!
//! Lag is Kafka's: high watermark minus committed offset, per partition
//! with a committed offset (a partition with none shows no lag).

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::messages::{DeleteGroupsRequest, ListGroupsRequest};
use serde_json::{json, Value};

use super::client::{group_id, Cluster};
use super::membership::{decode_assignment, described};
use super::offsets::{committed, leaders, list_offsets, TopicPartition, LATEST};
use super::output::{emit, or_dash, Table};
use super::{check, empty, Connect, Format, ToolError};

#[derive(clap::Args, Debug)]
pub struct GroupArgs {
    #[command(flatten)]
    pub connect: Connect,
    #[command(subcommand)]
    pub command: GroupCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum GroupCommand {
    /// List groups (every broker's).
    List,
    /// Members, assignments, committed offsets and lag.
    Describe { group: String },
    /// Move a group's committed offsets of one topic (the group must have
    /// no members, except with --dry-run).
    ResetOffsets(super::reset::ResetArgs),
    /// Delete a group (it must have no members).
    Delete { group: String },
}

pub fn run(args: GroupArgs) -> Result<(), ToolError> {
    let mut cluster = Cluster::connect(&args.connect.brokers)?;
    let format = args.connect.format;
    match args.command {
        GroupCommand::List => list(&mut cluster, format),
        GroupCommand::Describe { group } => describe(&mut cluster, &group, format),
        GroupCommand::ResetOffsets(reset) => super::reset::run(&mut cluster, reset, format),
        GroupCommand::Delete { group } => {
            let coordinator = cluster.coordinator(&group)?;
            let request = DeleteGroupsRequest::default().with_groups_names(vec![group_id(&group)]);
            let (_, response) = cluster.node(coordinator)?.send(&request, 2)?;
            let result = response
                .results
                .first()
                .ok_or_else(|| empty("DeleteGroups"))?;
            check(
                || format!("deleting group {group}"),
                result.error_code,
                None,
            )?;
            emit(
                format,
                || format!("deleted group {group}\n"),
                || json!({"deleted": group}),
            )
        }
    }
}

/// ListGroups on every broker: each lists the groups it coordinates.
fn list(cluster: &mut Cluster, format: Format) -> Result<(), ToolError> {
    cluster.metadata(Some(&[]))?;
    let nodes: BTreeSet<i32> = cluster.brokers.keys().copied().collect();
    let mut groups = BTreeMap::new();
    for node in nodes {
        let (_, response) = cluster.node(node)?.send(&ListGroupsRequest::default(), 4)?;
        check(
            || format!("ListGroups on node {node}"),
            response.error_code,
            None,
        )?;
        for group in response.groups {
            groups.insert(
                group.group_id.0.as_str().to_string(),
                (
                    group.group_state.as_str().to_string(),
                    group.protocol_type.as_str().to_string(),
                    node,
                ),
            );
        }
    }
    emit(
        format,
        || {
            let mut table = Table::new(&["GROUP", "STATE", "PROTOCOL-TYPE", "COORDINATOR"]);
            for (group, (state, protocol, node)) in &groups {
                let state = if state.is_empty() { "-" } else { state };
                table.row(vec![
                    group.clone(),
                    state.to_string(),
                    protocol.clone(),
                    node.to_string(),
                ]);
            }
            table.render()
        },
        || {
            Value::Array(
                groups
                    .iter()
                    .map(|(group, (state, protocol, node))| {
                        json!({"group": group, "state": state, "protocol_type": protocol,
                               "coordinator": node})
                    })
                    .collect(),
            )
        },
    )
}

struct Member {
    id: String,
    client_id: String,
    host: String,
    assignment: Vec<TopicPartition>,
}

struct Lag {
    committed: Option<i64>,
    high_watermark: i64,
    member: Option<String>,
}

fn describe(cluster: &mut Cluster, group: &str, format: Format) -> Result<(), ToolError> {
    let (coordinator, described) = described(cluster, group)?;
    let consumer = described.protocol_type.as_str() == "consumer";
    let members: Vec<Member> = described
        .members
        .iter()
        .map(|member| Member {
            id: member.member_id.as_str().to_string(),
            client_id: member.client_id.as_str().to_string(),
            host: member.client_host.as_str().to_string(),
            // Only the consumer protocol's assignments have a known shape.
            assignment: if consumer {
                decode_assignment(member.member_assignment.clone()).unwrap_or_default()
            } else {
                Vec::new()
            },
        })
        .collect();
    let offsets = committed(cluster, coordinator, group, None)?;
    let lags = lags(cluster, &members, &offsets)?;
    let state = described.group_state.as_str().to_string();
    emit(
        format,
        || render(group, &state, &members, &lags),
        || {
            json!({
                "group": group,
                "state": state,
                "coordinator": coordinator,
                "members": members.iter().map(|m| json!({
                    "member_id": m.id, "client_id": m.client_id, "host": m.host,
                    "assignment": m.assignment.iter()
                        .map(|(t, p)| json!({"topic": t, "partition": p})).collect::<Vec<_>>(),
                })).collect::<Vec<Value>>(),
                "partitions": lags.iter().map(|((topic, partition), lag)| json!({
                    "topic": topic, "partition": partition, "committed_offset": lag.committed,
                    "high_watermark": lag.high_watermark,
                    "lag": lag.committed.map(|c| lag.high_watermark - c),
                    "member_id": lag.member,
                })).collect::<Vec<Value>>(),
            })
        },
    )
}

/// Per partition committed or assigned: committed offset, high watermark
/// and owner.
fn lags(
    cluster: &mut Cluster,
    members: &[Member],
    offsets: &BTreeMap<TopicPartition, i64>,
) -> Result<BTreeMap<TopicPartition, Lag>, ToolError> {
    let mut owners = BTreeMap::new();
    for member in members {
        for partition in &member.assignment {
            owners.insert(partition.clone(), member.id.clone());
        }
    }
    let partitions: BTreeSet<TopicPartition> =
        offsets.keys().chain(owners.keys()).cloned().collect();
    let topics: BTreeSet<&str> = partitions.iter().map(|(topic, _)| topic.as_str()).collect();
    let mut lags = BTreeMap::new();
    for topic in topics {
        let all = leaders(cluster, topic)?;
        let wanted: BTreeMap<i32, i32> = all
            .into_iter()
            .filter(|(partition, _)| partitions.contains(&(topic.to_string(), *partition)))
            .collect();
        for (partition, high_watermark) in list_offsets(cluster, topic, &wanted, LATEST)? {
            let key = (topic.to_string(), partition);
            let lag = Lag {
                committed: offsets.get(&key).copied(),
                high_watermark,
                member: owners.get(&key).cloned(),
            };
            lags.insert(key, lag);
        }
    }
    Ok(lags)
}

fn render(
    group: &str,
    state: &str,
    members: &[Member],
    lags: &BTreeMap<TopicPartition, Lag>,
) -> String {
    let mut out = format!("group {group}: {state}, {} members\n\n", members.len());
    if !members.is_empty() {
        let mut table = Table::new(&["MEMBER", "CLIENT-ID", "HOST", "ASSIGNMENT"]);
        for member in members {
            let assigned: Vec<String> = member
                .assignment
                .iter()
                .map(|(t, p)| format!("{t}-{p}"))
                .collect();
            table.row(vec![
                member.id.clone(),
                member.client_id.clone(),
                member.host.clone(),
                assigned.join(","),
            ]);
        }
        out.push_str(&table.render());
        out.push('\n');
    }
    let mut table = Table::new(&[
        "TOPIC",
        "PARTITION",
        "COMMITTED",
        "HIGH-WATERMARK",
        "LAG",
        "MEMBER",
    ]);
    for ((topic, partition), lag) in lags {
        table.row(vec![
            topic.clone(),
            partition.to_string(),
            or_dash(lag.committed),
            lag.high_watermark.to_string(),
            or_dash(lag.committed.map(|c| lag.high_watermark - c)),
            lag.member.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    out.push_str(&table.render());
    out
}
