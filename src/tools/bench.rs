//! `corelog bench produce|consume|suite`: load tests against any
//! Kafka-compatible cluster, with a live progress line on stderr and a
//! report (records/s, MB/s, and for produce the request latency
//! percentiles) as a table or JSON. `suite` runs `perf/`'s workloads
//! against one or two clusters side by side (bench_suite.rs) and writes
//! the same Markdown, JSON and SVG report (bench_report.rs).
//!
//! One blocking request at a time per connection, so throughput here is
//! latency-bound: the lower bound of what a cluster does (perf/'s
//! librdkafka load generator keeps many requests in flight).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{FetchRequest, ProduceRequest};
use kafka_protocol::records::Compression;
use serde_json::json;

use super::client::{topic_name, Cluster};
use super::consume::{batch_last_offset, whole_batches};
use super::offsets::{leaders, list_offsets, EARLIEST};
use super::output::{emit, Table};
use super::{check, Connect, ToolError};
use crate::limits;
use crate::protocol::records::{encode_batch, record};

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    #[command(flatten)]
    pub connect: Connect,
    #[command(subcommand)]
    pub workload: Workload,
}

#[derive(clap::Subcommand, Debug)]
pub enum Workload {
    /// Produce `--records` records of `--record-bytes` to every partition
    /// in turn, one batch per request.
    Produce {
        topic: String,
        #[arg(long, default_value_t = 100_000)]
        records: u64,
        #[arg(long, default_value_t = 100)]
        record_bytes: usize,
        #[arg(long, default_value_t = 1000)]
        batch_records: usize,
        /// 1 or all (-1).
        #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
        acks: i16,
    },
    /// perf/'s workloads (produce 1 KiB, by record size, fixed rates, tail
    /// and catch-up consume) against --brokers and, side by side,
    /// --versus; writes results.md, results.json and two SVG plots.
    Suite(super::bench_suite::SuiteArgs),
    /// Read from the beginning of every partition to the end, or until
    /// `--records` (counted in whole batches: at least that many).
    Consume {
        topic: String,
        #[arg(long, default_value_t = u64::MAX)]
        records: u64,
    },
}

/// What a run measured.
pub struct Report {
    pub workload: &'static str,
    pub records: u64,
    pub bytes: u64,
    pub elapsed: Duration,
    /// Request latency in microseconds (produce only).
    pub latency: Option<Histogram<u64>>,
}

/// What each produce request carries, and how fast they go.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub record_bytes: usize,
    pub batch_records: usize,
    pub acks: i16,
    /// Records per second to stay under; None: as fast as answers come.
    pub rate: Option<f64>,
}

pub fn run(args: BenchArgs) -> Result<(), ToolError> {
    let Workload::Suite(suite) = args.workload else {
        return run_one(args);
    };
    super::bench_suite::run(&args.connect, suite)
}

fn run_one(args: BenchArgs) -> Result<(), ToolError> {
    let mut cluster = Cluster::connect(&args.connect.brokers)?;
    let report = match args.workload {
        Workload::Produce {
            topic,
            records,
            record_bytes,
            batch_records,
            acks,
        } => {
            if !(1..=limits::TOOL_PRODUCE_BATCH_RECORDS_MAX).contains(&batch_records)
                || !(acks == 1 || acks == -1)
            {
                return Err(ToolError::Usage(format!(
                    "--batch-records is 1..={}, --acks 1 or -1",
                    limits::TOOL_PRODUCE_BATCH_RECORDS_MAX
                )));
            }
            let shape = Shape {
                record_bytes,
                batch_records,
                acks,
                rate: None,
            };
            produce(&mut cluster, &topic, records, shape, Progress::new(""))?
        }
        Workload::Consume { topic, records } => {
            consume(&mut cluster, &topic, records, Progress::new(""))?
        }
        Workload::Suite(_) => unreachable!("run() runs the suite"),
    };
    emit(args.connect.format, || render(&report), || to_json(&report))
}

/// Prints the progress line (on stderr, rewritten in place) at most once
/// a second.
pub struct Progress {
    label: String,
    started: Instant,
    last: Instant,
}

impl Progress {
    /// `label` names the run in the line (the suite's target and workload).
    pub fn new(label: &str) -> Progress {
        let now = Instant::now();
        Progress {
            label: label.to_string(),
            started: now,
            last: now,
        }
    }

    fn tick(&mut self, records: u64) {
        if self.last.elapsed() >= Duration::from_secs(1) {
            self.last = Instant::now();
            let seconds = self.started.elapsed().as_secs_f64();
            eprint!(
                "\r{}{records} records, {:.0} records/s   ",
                self.label,
                records as f64 / seconds
            );
        }
    }

    /// The line's last state, kept on screen.
    fn done(&self, records: u64) {
        let seconds = self.started.elapsed().as_secs_f64().max(1e-9);
        eprintln!(
            "\r{}{records} records, {:.0} records/s   ",
            self.label,
            records as f64 / seconds
        );
    }
}

/// Produces `total` records to every partition of `topic` in turn, one
/// batch per request. Records carry the wall-clock time they were sent
/// (the tail workload measures end-to-end latency from it).
pub fn produce(
    cluster: &mut Cluster,
    topic: &str,
    total: u64,
    shape: Shape,
    mut progress: Progress,
) -> Result<Report, ToolError> {
    let Shape {
        record_bytes,
        batch_records,
        acks,
        rate,
    } = shape;
    let partitions: Vec<(i32, i32)> = leaders(cluster, topic)?.into_iter().collect();
    let value = Bytes::from(vec![b'x'; record_bytes]);
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
    let mut sent = 0u64;
    let mut turn = 0usize;
    while sent < total {
        if let Some(rate) = rate {
            let due = progress.started + Duration::from_secs_f64(sent as f64 / rate);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        let count = (total - sent).min(batch_records as u64) as usize;
        let timestamp = crate::rt::now_milliseconds();
        let batch: Vec<_> = (0..count)
            .map(|index| record(index, None, Some(value.clone()), timestamp))
            .collect();
        let (partition, leader) = partitions[turn % partitions.len()];
        turn += 1;
        let request = ProduceRequest::default()
            .with_acks(acks)
            .with_timeout_ms(30_000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(topic_name(topic))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(encode_batch(&batch, Compression::None)))])]);
        let started = Instant::now();
        let (_, response) = cluster.node(leader)?.send(&request, 9)?;
        latency.saturating_record(started.elapsed().as_micros() as u64);
        for answer in response
            .responses
            .iter()
            .flat_map(|t| &t.partition_responses)
        {
            check(
                || format!("producing to {topic}-{partition}"),
                answer.error_code,
                None,
            )?;
        }
        sent += count as u64;
        progress.tick(sent);
    }
    progress.done(sent);
    Ok(Report {
        workload: "produce",
        records: sent,
        bytes: sent * record_bytes as u64,
        elapsed: progress.started.elapsed(),
        latency: Some(latency),
    })
}

/// Reads `topic` from its earliest offsets to its end, or until `wanted`.
pub fn consume(
    cluster: &mut Cluster,
    topic: &str,
    wanted: u64,
    mut progress: Progress,
) -> Result<Report, ToolError> {
    let partitions = leaders(cluster, topic)?;
    let mut positions: BTreeMap<i32, i64> = list_offsets(cluster, topic, &partitions, EARLIEST)?;
    let (mut records, mut bytes) = (0u64, 0u64);
    let mut at_end = false;
    while records < wanted && !at_end {
        at_end = true;
        for (&partition, &leader) in &partitions {
            let request = FetchRequest::default()
                .with_max_wait_ms(0)
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
            let (_, response) = cluster.node(leader)?.send(&request, 12)?;
            for data in response.responses.iter().flat_map(|t| &t.partitions) {
                check(
                    || format!("Fetch {topic}-{partition}"),
                    data.error_code,
                    None,
                )?;
                let position = positions.get_mut(&partition).expect("asked for");
                for batch in whole_batches(data.records.clone().unwrap_or_default()) {
                    let last = batch_last_offset(&batch);
                    // Records of the batch at or past the position.
                    let base = i64::from_be_bytes(batch[..8].try_into().expect("12 bytes"));
                    records += (last + 1 - base.max(*position)).max(0) as u64;
                    bytes += batch.len() as u64;
                    *position = (*position).max(last + 1);
                }
                at_end &= *position >= data.high_watermark;
            }
        }
        progress.tick(records);
    }
    progress.done(records);
    Ok(Report {
        workload: "consume",
        records,
        bytes,
        elapsed: progress.started.elapsed(),
        latency: None,
    })
}

pub fn rates(report: &Report) -> (f64, f64) {
    let seconds = report.elapsed.as_secs_f64().max(1e-9);
    (
        report.records as f64 / seconds,
        report.bytes as f64 / seconds / 1e6,
    )
}

/// Latency percentiles in milliseconds: p50, p99, p99.9, max.
pub fn percentiles(latency: &Histogram<u64>) -> [f64; 4] {
    let at = |quantile: f64| latency.value_at_quantile(quantile) as f64 / 1000.0;
    [at(0.5), at(0.99), at(0.999), latency.max() as f64 / 1000.0]
}

fn render(report: &Report) -> String {
    let (records_per_second, megabytes_per_second) = rates(report);
    let mut table = Table::new(&[
        "WORKLOAD",
        "RECORDS",
        "SECONDS",
        "RECORDS/S",
        "MB/S",
        "P50 MS",
        "P99 MS",
        "P99.9 MS",
        "MAX MS",
    ]);
    let latency = report.latency.as_ref().map(percentiles);
    let cell = |index: usize| latency.map_or("-".to_string(), |l| format!("{:.2}", l[index]));
    table.row(vec![
        report.workload.to_string(),
        report.records.to_string(),
        format!("{:.2}", report.elapsed.as_secs_f64()),
        format!("{records_per_second:.0}"),
        format!("{megabytes_per_second:.1}"),
        cell(0),
        cell(1),
        cell(2),
        cell(3),
    ]);
    table.render()
}

pub fn to_json(report: &Report) -> serde_json::Value {
    let (records_per_second, megabytes_per_second) = rates(report);
    let latency = report.latency.as_ref().map(percentiles).map(|[p50, p99, p999, max]| {
        json!({"p50_ms": p50, "p99_ms": p99, "p999_ms": p999, "max_ms": max})
    });
    json!({
        "workload": report.workload, "records": report.records, "bytes": report.bytes,
        "seconds": report.elapsed.as_secs_f64(), "records_per_second": records_per_second,
        "megabytes_per_second": megabytes_per_second, "latency": latency,
    })
}
