//! `corelog group reset-offsets G --topic T --to-...`: the plan (current
//! and new committed offset per partition), then, without `--dry-run`, the
//! commit. As kafka-consumer-groups does, a real reset needs a group with
//! no members (their own commits would undo it), and every new offset is
//! kept between the partition's earliest and latest offsets.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::client::Cluster;
use super::datetime;
use super::offsets::{commit, committed, leaders, list_offsets, TopicPartition, EARLIEST, LATEST};
use super::output::{emit, or_dash, Table};
use super::{Format, ToolError};

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("target").required(true).args([
    "to_earliest", "to_latest", "to_offset", "to_datetime", "shift_by",
])))]
pub struct ResetArgs {
    pub group: String,
    /// The topic whose partitions to reset (all of them).
    #[arg(long)]
    pub topic: String,
    #[arg(long)]
    pub to_earliest: bool,
    #[arg(long)]
    pub to_latest: bool,
    #[arg(long, allow_negative_numbers = true)]
    pub to_offset: Option<i64>,
    /// The first offset at or after this time (ISO 8601, e.g.
    /// 2026-12-01T19:00:00Z or 2026-12-01T20:00:00.000+01:00).
    #[arg(long)]
    pub to_datetime: Option<String>,
    /// Move each committed offset by N (negative: back); a partition with
    /// no committed offset moves from its latest offset.
    #[arg(long, allow_negative_numbers = true)]
    pub shift_by: Option<i64>,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Group states in which nobody commits but the tool.
const IDLE_STATES: &[&str] = &["Empty", "Dead"];

struct Plan {
    current: Option<i64>,
    new: i64,
}

pub fn run(cluster: &mut Cluster, args: ResetArgs, format: Format) -> Result<(), ToolError> {
    let (coordinator, described) = super::membership::described(cluster, &args.group)?;
    let state = described.group_state.as_str().to_string();
    if !args.dry_run && !IDLE_STATES.contains(&state.as_str()) {
        return Err(ToolError::Usage(format!(
            "group {} is {state} with {} members: offsets can only be reset when it has none \
             (stop its consumers, or look first with --dry-run)",
            args.group,
            described.members.len()
        )));
    }
    let current = committed(cluster, coordinator, &args.group, Some(&args.topic))?;
    let plan = plan(cluster, &args, &current)?;
    if !args.dry_run {
        let offsets: BTreeMap<TopicPartition, i64> = plan
            .iter()
            .map(|(&partition, step)| ((args.topic.clone(), partition), step.new))
            .collect();
        commit(cluster, coordinator, &args.group, -1, "", &offsets)?;
    }
    let verdict = if args.dry_run {
        "dry run: nothing changed"
    } else {
        "committed"
    };
    emit(
        format,
        || {
            let mut table = Table::new(&["TOPIC", "PARTITION", "CURRENT", "NEW"]);
            for (partition, step) in &plan {
                table.row(vec![
                    args.topic.clone(),
                    partition.to_string(),
                    or_dash(step.current),
                    step.new.to_string(),
                ]);
            }
            format!("{}{verdict}\n", table.render())
        },
        || {
            json!({
                "group": args.group,
                "topic": args.topic,
                "dry_run": args.dry_run,
                "partitions": plan.iter().map(|(partition, step)| json!({
                    "partition": partition, "current": step.current, "new": step.new,
                })).collect::<Vec<Value>>(),
            })
        },
    )
}

/// The new offset of every partition of the topic.
fn plan(
    cluster: &mut Cluster,
    args: &ResetArgs,
    current: &BTreeMap<TopicPartition, i64>,
) -> Result<BTreeMap<i32, Plan>, ToolError> {
    let partitions = leaders(cluster, &args.topic)?;
    let earliest = list_offsets(cluster, &args.topic, &partitions, EARLIEST)?;
    let latest = list_offsets(cluster, &args.topic, &partitions, LATEST)?;
    let by_time = match &args.to_datetime {
        Some(text) => {
            let milliseconds = datetime::parse_milliseconds(text).map_err(ToolError::Usage)?;
            Some(list_offsets(
                cluster,
                &args.topic,
                &partitions,
                milliseconds,
            )?)
        }
        None => None,
    };
    let mut plan = BTreeMap::new();
    for &partition in partitions.keys() {
        let low = earliest.get(&partition).copied().unwrap_or(0);
        let high = latest.get(&partition).copied().unwrap_or(low);
        let now = current.get(&(args.topic.clone(), partition)).copied();
        let wanted = if args.to_earliest {
            low
        } else if args.to_latest {
            high
        } else if let Some(offset) = args.to_offset {
            offset
        } else if let Some(shift) = args.shift_by {
            now.unwrap_or(high).saturating_add(shift)
        } else {
            // By time: -1 means no record at or after it, so the end.
            let found = by_time
                .as_ref()
                .and_then(|offsets| offsets.get(&partition).copied());
            found.filter(|&offset| offset >= 0).unwrap_or(high)
        };
        plan.insert(
            partition,
            Plan {
                current: now,
                new: wanted.clamp(low, high.max(low)),
            },
        );
    }
    Ok(plan)
}
