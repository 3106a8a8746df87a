//! `corelog bench suite`: perf/'s side-by-side workloads as one
//! subcommand, against any Kafka-compatible brokers: `--brokers A` and,
//! optionally, `--versus B`, each run in turn with the same workloads.
//!
//! The workloads (sizes times `--scale`; `--quick` is 0.01 of them):
//! produce 1 KiB records to 6 partitions; produce 100 B, 1 KiB, 10 KiB and
//! 100 KiB records; produce at 25, 50 and 75% of the first one's rate
//! (latency under a fixed load); tail: a consumer reading while a producer
//! writes at a fixed rate (end-to-end latency); catch-up: reading the
//! first workload's records from the beginning. Each writes to a topic of
//! its own, `bench-<workload>-<run>`, left in place afterwards.
//!
//! Unlike perf/bench.py it pins nothing, starts no broker and measures no
//! disk: it drives clusters that are already running, from one process,
//! one request in flight per connection (throughput is latency-bound).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::FetchRequest;
use serde_json::{json, Map, Value};

use super::bench::{consume, produce, rates, to_json, Progress, Report, Shape};
use super::client::{topic_name, Cluster};
use super::consume::{batch_last_offset, whole_batches};
use super::offsets::{leaders, list_offsets, LATEST};
use super::{check, Connect, ToolError};
use crate::limits;

/// A v2 record batch's header, up to its record count.
const BATCH_HEADER_BYTES: usize = 61;

/// The record sizes of the by-size workload, as perf/ has them.
pub const RECORD_SIZES: [usize; 4] = [100, 1024, 10_240, 102_400];

/// The fixed-rate workloads' rates, in percent of the measured maximum.
pub const RATE_SHARES: [u32; 3] = [25, 50, 75];

#[derive(clap::Args, Debug)]
pub struct SuiteArgs {
    /// A second cluster (comma-separated host:port) to run the same
    /// workloads against, side by side with --brokers.
    #[arg(long)]
    pub versus: Option<String>,
    /// A fraction of the full workload sizes.
    #[arg(long)]
    pub scale: Option<f64>,
    /// 0.01 of the full sizes (--scale overrides it): seconds, not minutes.
    #[arg(long)]
    pub quick: bool,
    /// Partitions of each workload's topic.
    #[arg(long, default_value_t = 6)]
    pub partitions: i32,
    /// Replication factor of each workload's topic.
    #[arg(long, default_value_t = 1)]
    pub replicas: i16,
    /// 1 or all (-1).
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub acks: i16,
    /// Records per second the tail workload's producer writes.
    #[arg(long, default_value_t = 20_000.0)]
    pub tail_rate: f64,
    /// Where results.md, results.json, throughput.svg and latency.svg go.
    #[arg(long, default_value = "bench-results")]
    pub out: PathBuf,
}

/// One cluster the suite runs against.
struct Target {
    name: String,
    brokers: String,
}

/// The workload sizes, scaled.
struct Sizes {
    scale: f64,
    run: i64,
}

impl Sizes {
    fn count(&self, full: u64, least: u64) -> u64 {
        ((full as f64 * self.scale) as u64).max(least)
    }
}

pub fn run(connect: &Connect, args: SuiteArgs) -> Result<(), ToolError> {
    if !(args.acks == 1 || args.acks == -1) || args.partitions < 1 || args.tail_rate <= 0.0 {
        return Err(ToolError::Usage(
            "--acks is 1 or -1; --partitions and --tail-rate are positive".into(),
        ));
    }
    let scale = args.scale.unwrap_or(if args.quick { 0.01 } else { 1.0 });
    if !(scale > 0.0 && scale <= 100.0) {
        return Err(ToolError::Usage("--scale is above 0, at most 100".into()));
    }
    let mut targets = vec![Target {
        name: "A".into(),
        brokers: connect.brokers.clone(),
    }];
    if let Some(versus) = &args.versus {
        targets.push(Target {
            name: "B".into(),
            brokers: versus.clone(),
        });
    }
    let sizes = Sizes {
        scale,
        run: crate::rt::now_milliseconds(),
    };
    let mut measured = Vec::new();
    for target in &targets {
        let results = run_target(target, &args, &sizes)?;
        measured.push(json!({"name": target.name, "brokers": target.brokers, "results": results}));
    }
    let report = json!({
        "date_unix_ms": sizes.run,
        "scale": scale,
        "partitions": args.partitions,
        "acks": args.acks,
        "targets": measured,
        "commands": [std::env::args().collect::<Vec<_>>().join(" ")],
    });
    super::bench_report::write(&args.out, &report).map_err(|error| {
        ToolError::Usage(format!("cannot write {}: {error}", args.out.display()))
    })?;
    match connect.format {
        super::Format::Json => println!("{report}"),
        super::Format::Table => print!("{}", super::bench_report::markdown(&report)),
    }
    Ok(())
}

/// Every workload against one target, in perf/'s order.
fn run_target(target: &Target, args: &SuiteArgs, sizes: &Sizes) -> Result<Value, ToolError> {
    let mut cluster = Cluster::connect(&target.brokers)?;
    let shape = |record_bytes: usize, rate: Option<f64>| Shape {
        record_bytes,
        batch_records: (limits::TOOL_PRODUCE_BATCH_BYTES_MAX / record_bytes).clamp(1, 100),
        acks: args.acks,
        rate,
    };
    let topic = |cluster: &mut Cluster, workload: &str| -> Result<String, ToolError> {
        let name = format!("bench-{workload}-{}", sizes.run);
        super::topic::create(cluster, &name, args.partitions, args.replicas, &[])?;
        wait_for_leaders(cluster, &name, args.partitions)?;
        Ok(name)
    };
    let label = |workload: &str| format!("[{}] {workload}: ", target.name);
    let mut results = Map::new();

    let first = topic(&mut cluster, "produce-1k")?;
    let records = sizes.count(1_000_000, 1000);
    let produce_1k = produce(
        &mut cluster,
        &first,
        records,
        shape(1024, None),
        Progress::new(&label("produce 1 KiB")),
    )?;
    let maximum_rate = rates(&produce_1k).0;
    results.insert("produce_1k".into(), to_json(&produce_1k));

    let mut by_size = Map::new();
    for size in RECORD_SIZES {
        let name = topic(&mut cluster, &format!("size-{size}"))?;
        let records = sizes.count(512 * 1024 * 1024 / size as u64, 50);
        let report = produce(
            &mut cluster,
            &name,
            records,
            shape(size, None),
            Progress::new(&label(&format!("produce {size} B"))),
        )?;
        by_size.insert(size.to_string(), to_json(&report));
    }
    results.insert("by_record_size".into(), Value::Object(by_size));

    let mut fixed = Map::new();
    let seconds = (10.0 * sizes.scale).clamp(0.5, 10.0);
    for share in RATE_SHARES {
        let rate = (maximum_rate * f64::from(share) / 100.0).max(10.0);
        let name = topic(&mut cluster, &format!("rate-{share}"))?;
        let records = ((rate * seconds) as u64).max(100);
        let report = produce(
            &mut cluster,
            &name,
            records,
            shape(1024, Some(rate)),
            Progress::new(&label(&format!("{share}% of max rate"))),
        )?;
        fixed.insert(share.to_string(), to_json(&report));
    }
    results.insert("fixed_rates".into(), Value::Object(fixed));

    let name = topic(&mut cluster, "tail")?;
    let records = sizes.count(400_000, 1000);
    let (produced, consumed) = tail(
        &mut cluster,
        &target.brokers,
        &name,
        records,
        shape(1024, Some(args.tail_rate)),
        &label("tail"),
    )?;
    results.insert(
        "tail".into(),
        json!({"produce": to_json(&produced), "consume": to_json(&consumed)}),
    );

    let catch_up = consume(
        &mut cluster,
        &first,
        u64::MAX,
        Progress::new(&label("catch-up consume")),
    )?;
    results.insert("catch_up".into(), to_json(&catch_up));
    Ok(Value::Object(results))
}

/// A freshly created topic's partitions all have leaders (Metadata can lag
/// CreateTopics on a cluster).
fn wait_for_leaders(cluster: &mut Cluster, topic: &str, partitions: i32) -> Result<(), ToolError> {
    let deadline = Instant::now() + Duration::from_millis(limits::TOOL_METADATA_WAIT_MILLISECONDS);
    loop {
        match leaders(cluster, topic) {
            Ok(found)
                if found.len() == partitions as usize && found.values().all(|&id| id >= 0) =>
            {
                return Ok(())
            }
            Err(error) if Instant::now() >= deadline => return Err(error),
            _ if Instant::now() >= deadline => {
                return Err(ToolError::Usage(format!("{topic} has no leaders yet")))
            }
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// A producer at a fixed rate and, on a thread and a connection of its
/// own, a consumer reading from the end as it goes: (produce report,
/// consume report whose latency is end to end, from each record's
/// timestamp to its arrival).
fn tail(
    cluster: &mut Cluster,
    brokers: &str,
    topic: &str,
    records: u64,
    shape: Shape,
    label: &str,
) -> Result<(Report, Report), ToolError> {
    let mut reader = Cluster::connect(brokers)?;
    let partitions = leaders(&mut reader, topic)?;
    let positions = list_offsets(&mut reader, topic, &partitions, LATEST)?;
    let owned_topic = topic.to_string();
    let consumer = std::thread::spawn(move || {
        read_tail(&mut reader, &owned_topic, &partitions, positions, records)
    });
    let produced = produce(cluster, topic, records, shape, Progress::new(label))?;
    let consumed = consumer
        .join()
        .map_err(|_| ToolError::Usage("the tail consumer panicked".into()))??;
    Ok((produced, consumed))
}

/// Fetches from `positions` on until `wanted` records arrived, or the
/// producer has been silent for `TOOL_BENCH_TAIL_IDLE_MILLISECONDS`.
fn read_tail(
    reader: &mut Cluster,
    topic: &str,
    partitions: &BTreeMap<i32, i32>,
    mut positions: BTreeMap<i32, i64>,
    wanted: u64,
) -> Result<Report, ToolError> {
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
    let started = Instant::now();
    let mut last_record = Instant::now();
    let (mut records, mut bytes) = (0u64, 0u64);
    let idle = Duration::from_millis(limits::TOOL_BENCH_TAIL_IDLE_MILLISECONDS);
    while records < wanted && last_record.elapsed() < idle {
        for (&partition, &leader) in partitions {
            let request = FetchRequest::default()
                .with_max_wait_ms(limits::TOOL_BENCH_TAIL_WAIT_MILLISECONDS)
                .with_min_bytes(1)
                .with_max_bytes(limits::TOOL_FETCH_BYTES_MAX)
                .with_topics(vec![FetchTopic::default()
                    .with_topic(topic_name(topic))
                    .with_partitions(vec![FetchPartition::default()
                        .with_partition(partition)
                        .with_fetch_offset(positions[&partition])
                        .with_partition_max_bytes(
                            limits::TOOL_FETCH_PARTITION_BYTES_MAX,
                        )])]);
            let (_, response) = reader.node(leader)?.send(&request, 12)?;
            for data in response.responses.iter().flat_map(|t| &t.partitions) {
                check(
                    || format!("Fetch {topic}-{partition}"),
                    data.error_code,
                    None,
                )?;
                let position = positions.get_mut(&partition).expect("asked for");
                let now = crate::rt::now_milliseconds();
                for batch in whole_batches(data.records.clone().unwrap_or_default()) {
                    if batch.len() < BATCH_HEADER_BYTES {
                        continue;
                    }
                    let last = batch_last_offset(&batch);
                    let base = i64::from_be_bytes(batch[..8].try_into().expect("8 bytes"));
                    let count = (last + 1 - base.max(*position)).max(0) as u64;
                    // The v2 batch header's max timestamp: bytes 35..43.
                    let sent =
                        i64::from_be_bytes(batch[35..43].try_into().expect("a batch header"));
                    let micros = ((now - sent).max(0) as u64 * 1000).max(1);
                    latency.saturating_record_n(micros, count);
                    records += count;
                    bytes += batch.len() as u64;
                    *position = (*position).max(last + 1);
                    last_record = Instant::now();
                }
            }
        }
    }
    Ok(Report {
        workload: "tail consume",
        records,
        bytes,
        elapsed: started.elapsed(),
        latency: Some(latency),
    })
}
