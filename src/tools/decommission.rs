//! `corelog cluster decommission --host H`: moves every replica off host H
//! (AlterPartitionReassignments), waits until no move is left
//! (ListPartitionReassignments), waits for the host to stop (its brokers
//! leave Metadata when its controlled shutdown fences it, or once its
//! lease runs out: a running host would register again, as a Kafka broker
//! does), then removes it (UnregisterBroker).
//!
//! Each replica on H is replaced, in its place in the replica list, by a
//! shard of another live host that holds no replica of that partition yet:
//! the host with the fewest replicas so far, and on it the shard with the
//! fewest, counting the moves already planned, so the replicas spread as
//! placement spreads them. A partition with no such host left (as many
//! replicas as other hosts) loses that replica instead: its other replicas
//! hold its records already.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, BrokerId, ListPartitionReassignmentsRequest,
    MetadataResponse, UnregisterBrokerRequest,
};
use serde_json::json;

use super::client::{topic_name, Cluster};
use super::output::emit;
use super::{check, Connect, ToolError};
use crate::limits::{TOOL_DECOMMISSION_POLL_MILLISECONDS, TOOL_DECOMMISSION_TIMEOUT_SECONDS};
use crate::metadata::{broker_id, host_of};

/// How long the broker may take to accept the reassignments.
const REQUEST_TIMEOUT_MILLISECONDS: i32 = 30_000;

#[derive(clap::Args, Debug)]
pub struct DecommissionArgs {
    /// The host (`--node-id`) to empty and remove.
    #[arg(long)]
    pub host: u32,
    /// How long to wait for the moves before giving up (they go on).
    #[arg(long, default_value_t = TOOL_DECOMMISSION_TIMEOUT_SECONDS)]
    pub timeout_seconds: u64,
}

/// One partition's move: its replicas now and the target.
struct Move {
    topic: String,
    partition: i32,
    replicas: Vec<i32>,
    target: Vec<i32>,
}

pub fn run(connect: &Connect, args: &DecommissionArgs) -> Result<(), ToolError> {
    let mut cluster = Cluster::connect(&connect.brokers)?;
    let metadata = cluster.metadata(None)?;
    let moves = plan(&metadata, args.host)?;
    let table = connect.format == super::Format::Table;
    if table {
        println!("host {}: moving {} partitions", args.host, moves.len());
        for moved in &moves {
            println!(
                "  {}-{}: {:?} -> {:?}",
                moved.topic, moved.partition, moved.replicas, moved.target
            );
        }
    }
    let deadline = Instant::now() + Duration::from_secs(args.timeout_seconds);
    if !moves.is_empty() {
        reassign(&mut cluster, &moves)?;
        wait_until_moved(&mut cluster, deadline, table)?;
    }
    wait_until_stopped(&mut cluster, args.host, deadline, table)?;
    let request =
        UnregisterBrokerRequest::default().with_broker_id(BrokerId(broker_id(args.host, 0) as i32));
    let (_, response) = cluster.any().send(&request, 0)?;
    check(
        || format!("removing host {}", args.host),
        response.error_code,
        response.error_message.as_deref(),
    )?;
    emit(
        connect.format,
        || {
            format!(
                "host {} removed after {} partitions moved off it\n",
                args.host,
                moves.len()
            )
        },
        || {
            json!({
                "host": args.host,
                "removed": true,
                "moved": moves.iter().map(|m| json!({
                    "topic": m.topic, "partition": m.partition,
                    "replicas": m.replicas, "target": m.target,
                })).collect::<Vec<_>>(),
            })
        },
    )
}

/// The moves that empty `host`, or why it cannot be emptied.
fn plan(metadata: &MetadataResponse, host: u32) -> Result<Vec<Move>, ToolError> {
    // Live brokers of the other hosts, by host, with their replica counts.
    let mut load: BTreeMap<u32, BTreeMap<i32, usize>> = BTreeMap::new();
    for broker in &metadata.brokers {
        let id = broker.node_id.0;
        if id >= 0 && host_of(id as u32) != host {
            load.entry(host_of(id as u32)).or_default().insert(id, 0);
        }
    }
    if load.is_empty() {
        return Err(ToolError::Usage(format!(
            "no live host other than {host} to move its replicas to"
        )));
    }
    let mut partitions = Vec::new();
    for topic in &metadata.topics {
        let Some(name) = topic.name.as_ref() else {
            continue;
        };
        for partition in &topic.partitions {
            let replicas: Vec<i32> = partition.replica_nodes.iter().map(|id| id.0).collect();
            for replica in &replicas {
                let shards = load.get_mut(&host_of(*replica as u32));
                if let Some(count) = shards.and_then(|shards| shards.get_mut(replica)) {
                    *count += 1;
                }
            }
            partitions.push((
                name.as_str().to_string(),
                partition.partition_index,
                replicas,
            ));
        }
    }
    let mut moves = Vec::new();
    for (topic, partition, replicas) in partitions {
        if !replicas
            .iter()
            .any(|&replica| host_of(replica as u32) == host)
        {
            continue;
        }
        // In place, so the preferred leader's slot keeps its rank; with no
        // free host left (as many replicas as other hosts), the replica
        // goes and the partition keeps one fewer.
        let mut target = Vec::with_capacity(replicas.len());
        for (slot, &replica) in replicas.iter().enumerate() {
            if host_of(replica as u32) != host {
                target.push(replica);
                continue;
            }
            let taken: Vec<i32> = target.iter().chain(&replicas[slot..]).copied().collect();
            if let Some(replacement) = replacement(&mut load, &taken) {
                target.push(replacement);
            }
        }
        if target.is_empty() {
            return Err(ToolError::Usage(format!(
                "{topic}-{partition} has replicas {replicas:?}: no other live host can take them"
            )));
        }
        moves.push(Move {
            topic,
            partition,
            replicas,
            target,
        });
    }
    Ok(moves)
}

/// The least loaded shard of the least loaded host holding none of
/// `replicas`, counted in.
fn replacement(load: &mut BTreeMap<u32, BTreeMap<i32, usize>>, replicas: &[i32]) -> Option<i32> {
    let (_, shards) = load
        .iter_mut()
        .filter(|(host, _)| !replicas.iter().any(|&r| host_of(r as u32) == **host))
        .min_by_key(|(host, shards)| (shards.values().sum::<usize>(), **host))?;
    let (&broker, count) = shards
        .iter_mut()
        .min_by_key(|(broker, count)| (**count, **broker))?;
    *count += 1;
    Some(broker)
}

fn reassign(cluster: &mut Cluster, moves: &[Move]) -> Result<(), ToolError> {
    let mut topics: BTreeMap<&str, Vec<ReassignablePartition>> = BTreeMap::new();
    for moved in moves {
        topics.entry(&moved.topic).or_default().push(
            ReassignablePartition::default()
                .with_partition_index(moved.partition)
                .with_replicas(Some(moved.target.iter().map(|&id| BrokerId(id)).collect())),
        );
    }
    let request = AlterPartitionReassignmentsRequest::default()
        .with_timeout_ms(REQUEST_TIMEOUT_MILLISECONDS)
        .with_topics(
            topics
                .into_iter()
                .map(|(name, partitions)| {
                    ReassignableTopic::default()
                        .with_name(topic_name(name))
                        .with_partitions(partitions)
                })
                .collect(),
        );
    let (_, response) = cluster.any().send(&request, 0)?;
    check(
        || "reassigning partitions".to_string(),
        response.error_code,
        response.error_message.as_deref(),
    )?;
    for topic in &response.responses {
        for partition in &topic.partitions {
            check(
                || {
                    format!(
                        "reassigning {}-{}",
                        topic.name.as_str(),
                        partition.partition_index
                    )
                },
                partition.error_code,
                partition.error_message.as_deref(),
            )?;
        }
    }
    Ok(())
}

/// Polls Metadata until no broker of `host` is listed (it stopped and its
/// lease ran out), saying once that it waits.
fn wait_until_stopped(
    cluster: &mut Cluster,
    host: u32,
    deadline: Instant,
    table: bool,
) -> Result<(), ToolError> {
    let mut said = false;
    loop {
        let metadata = cluster.metadata(Some(&[]))?;
        let live = metadata
            .brokers
            .iter()
            .any(|broker| broker.node_id.0 >= 0 && host_of(broker.node_id.0 as u32) == host);
        if !live {
            return Ok(());
        }
        if table && !said {
            println!("host {host} holds no replica now; stop it: waiting until its brokers leave Metadata");
            said = true;
        }
        if Instant::now() >= deadline {
            return Err(ToolError::Usage(format!(
                "host {host} holds no replica but is still running; stop it, then run this again to remove it"
            )));
        }
        std::thread::sleep(Duration::from_millis(TOOL_DECOMMISSION_POLL_MILLISECONDS));
    }
}

/// Polls ListPartitionReassignments until none is left, printing the count
/// as it falls; gives up at `deadline`.
fn wait_until_moved(
    cluster: &mut Cluster,
    deadline: Instant,
    table: bool,
) -> Result<(), ToolError> {
    let request = ListPartitionReassignmentsRequest::default()
        .with_timeout_ms(REQUEST_TIMEOUT_MILLISECONDS)
        .with_topics(None);
    let mut last = usize::MAX;
    loop {
        let (_, response) = cluster.any().send(&request, 0)?;
        check(
            || "listing reassignments".to_string(),
            response.error_code,
            response.error_message.as_deref(),
        )?;
        let left: usize = response
            .topics
            .iter()
            .map(|topic| topic.partitions.len())
            .sum();
        if left == 0 {
            return Ok(());
        }
        if table && left != last {
            println!("  {left} partitions still moving");
        }
        last = left;
        if Instant::now() >= deadline {
            return Err(ToolError::Usage(format!(
                "{left} partitions were still moving at the timeout; the host was not removed (run again to wait on)"
            )));
        }
        std::thread::sleep(Duration::from_millis(TOOL_DECOMMISSION_POLL_MILLISECONDS));
    }
}
