//! `corelog consume TOPIC`: fetches from each partition's leader and prints
//! every record through a template (`-f`, default the value and a newline).
//!
//! Without `-G` it reads every partition (or `-p`'s) from `-o`. With `-G`
//! it joins the group, reads what the group assigns from the committed
//! offsets (from `-o` where none is committed), heartbeats between fetches,
//! and commits its positions when it stops (`-e`, `-n`, Ctrl-C, SIGTERM)
//! and before it joins again in a rebalance.
//!
//! Invariants: a partition's position is the offset of the next record to
//! print, moved past a record only once it has been written to stdout, so
//! a commit never covers a record that was not printed.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::FetchRequest;
use kafka_protocol::records::{Record, RecordBatchDecoder};

use super::client::{pause, topic_name, Cluster, RETRIABLE};
use super::membership::Member;
use super::offsets::{committed, leaders, list_offsets, TopicPartition, EARLIEST, LATEST};
use super::template::{Message, Template};
use super::{kafka_error, Connect, Format, ToolError};
use crate::limits;

#[derive(clap::Args, Debug)]
pub struct ConsumeArgs {
    #[command(flatten)]
    pub connect: Connect,
    pub topic: String,
    /// Where to start: beginning, end, an offset (negative: that many
    /// before the end), or @TIME (Unix milliseconds or ISO 8601). In a
    /// group: only where nothing is committed.
    #[arg(
        short = 'o',
        long,
        default_value = "beginning",
        allow_hyphen_values = true
    )]
    pub offset: String,
    /// Only these partitions (repeatable; not with -G).
    #[arg(short = 'p', long = "partition")]
    pub partitions: Vec<i32>,
    /// Consume as a member of this group and commit on exit.
    #[arg(short = 'G', long)]
    pub group: Option<String>,
    /// Output template: %t %p %o %k %s %S %T %h, \n \t (with --format
    /// json: one JSON object per record and line instead).
    #[arg(short = 'f', long = "format-template", default_value = "%s\\n")]
    pub template: String,
    /// Exit once every partition has been read to its end.
    #[arg(short = 'e', long)]
    pub exit_at_end: bool,
    /// Exit after this many records.
    #[arg(short = 'n', long)]
    pub count: Option<u64>,
}

/// Where `-o` says to start.
#[derive(Debug, Clone, Copy)]
enum Start {
    Beginning,
    End,
    /// An offset; negative counts back from the end.
    Offset(i64),
    /// The first record at or after this time (milliseconds).
    Time(i64),
}

fn parse_start(text: &str) -> Result<Start, ToolError> {
    let wrong = || ToolError::Usage(format!("-o {text:?}: use beginning, end, N, -N or @TIME"));
    Ok(match text {
        "beginning" | "earliest" => Start::Beginning,
        "end" | "latest" => Start::End,
        _ => match text.strip_prefix('@') {
            Some(time) => Start::Time(match time.parse::<i64>() {
                Ok(milliseconds) => milliseconds,
                Err(_) => super::datetime::parse_milliseconds(time).map_err(ToolError::Usage)?,
            }),
            None => Start::Offset(text.parse().map_err(|_| wrong())?),
        },
    })
}

/// The consumer's state over the run.
struct Consumer {
    topic: String,
    start: Start,
    template: Template,
    /// partition -> leader, for the partitions being read.
    leaders: BTreeMap<i32, i32>,
    /// partition -> next offset to print.
    positions: BTreeMap<i32, i64>,
    /// Partitions whose position reached the high watermark at the last
    /// fetch.
    at_end: BTreeSet<i32>,
    printed: u64,
    limit: Option<u64>,
    /// Table: through the template; JSON: one object per line.
    format: Format,
    out: std::io::BufWriter<std::io::Stdout>,
}

pub fn run(args: ConsumeArgs) -> Result<(), ToolError> {
    let template = Template::parse(&args.template).map_err(ToolError::Usage)?;
    let start = parse_start(&args.offset)?;
    if args.group.is_some() && !args.partitions.is_empty() {
        return Err(ToolError::Usage(
            "-p and -G exclude each other: the group assigns".into(),
        ));
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone()).map_err(ToolError::Terminal)?;
    }
    let mut cluster = Cluster::connect(&args.connect.brokers)?;
    let mut consumer = Consumer {
        topic: args.topic.clone(),
        start,
        template,
        leaders: BTreeMap::new(),
        positions: BTreeMap::new(),
        at_end: BTreeSet::new(),
        printed: 0,
        limit: args.count,
        format: args.connect.format,
        out: std::io::BufWriter::new(std::io::stdout()),
    };
    let mut member = match &args.group {
        Some(group) => Some(Member::join(
            &mut cluster,
            group,
            std::slice::from_ref(&args.topic),
        )?),
        None => None,
    };
    consumer.assign(&mut cluster, member.as_ref(), &args.partitions)?;
    let result = consume(&mut cluster, &mut consumer, member.as_mut(), &args, &stop);
    let flushed = consumer.out.flush().map_err(ToolError::Terminal);
    if let Some(member) = &member {
        // Positions count records handed to stdout's buffer: commit them
        // only when they reached stdout.
        let delivered = flushed.is_ok() && !matches!(result, Err(ToolError::Terminal(_)));
        if delivered {
            consumer.commit(&mut cluster, member)?;
        }
        member.leave(&mut cluster)?;
    }
    result.and(flushed)
}

/// Fetches and prints until a stop condition holds. A lost connection
/// (a broker restarting) is not the end: the consumer connects again, for
/// up to `TOOL_RECONNECT_MILLISECONDS`, and a group member joins again
/// (reading on from the committed offsets: records read since the last
/// commit may print twice, as with any Kafka consumer).
fn consume(
    cluster: &mut Cluster,
    consumer: &mut Consumer,
    mut member: Option<&mut Member>,
    args: &ConsumeArgs,
    stop: &AtomicBool,
) -> Result<(), ToolError> {
    let wait = if args.exit_at_end {
        0
    } else {
        limits::TOOL_FETCH_WAIT_MILLISECONDS
    };
    let window = Duration::from_millis(limits::TOOL_RECONNECT_MILLISECONDS);
    let mut failing_since: Option<Instant> = None;
    let mut lost = false;
    loop {
        if stop.load(Ordering::Relaxed) || consumer.done() {
            return Ok(());
        }
        if args.exit_at_end && consumer.at_end.len() == consumer.positions.len() {
            return Ok(());
        }
        let step = if lost {
            resume(cluster, consumer, member.as_deref_mut())
        } else {
            round(cluster, consumer, member.as_deref_mut(), wait)
        };
        match step {
            Ok(()) => {
                lost = false;
                failing_since = None;
            }
            Err(error @ ToolError::Io { .. }) => {
                if failing_since.get_or_insert_with(Instant::now).elapsed() > window {
                    return Err(error);
                }
                lost = true;
                pause();
            }
            Err(other) => return Err(other),
        }
    }
}

/// One heartbeat (in a group) and one Fetch from each leader.
fn round(
    cluster: &mut Cluster,
    consumer: &mut Consumer,
    member: Option<&mut Member>,
    wait: i32,
) -> Result<(), ToolError> {
    if let Some(member) = member {
        if member.heartbeat(cluster)? {
            consumer.commit(cluster, member)?;
            member.rejoin(cluster)?;
            consumer.assign(cluster, Some(member), &[])?;
        }
    }
    let nodes: BTreeSet<i32> = consumer.leaders.values().copied().collect();
    if nodes.is_empty() {
        // Nothing assigned (more members than partitions): wait, and keep
        // heartbeating.
        std::thread::sleep(Duration::from_millis(
            limits::TOOL_FETCH_WAIT_MILLISECONDS as u64,
        ));
        return Ok(());
    }
    for node in nodes {
        if !consumer.fetch_from(cluster, node, wait)? {
            consumer.refresh_leaders(cluster)?;
        }
        if consumer.done() {
            break;
        }
    }
    consumer.out.flush().map_err(ToolError::Terminal)
}

/// After a lost connection: connect again; in a group, find the
/// coordinator and join again.
fn resume(
    cluster: &mut Cluster,
    consumer: &mut Consumer,
    member: Option<&mut Member>,
) -> Result<(), ToolError> {
    consumer.out.flush().map_err(ToolError::Terminal)?;
    cluster.reconnect()?;
    match member {
        Some(member) => {
            member.coordinator = cluster.coordinator(&member.group)?;
            member.rejoin(cluster)?;
            consumer.assign(cluster, Some(member), &[])
        }
        None => consumer.refresh_leaders(cluster),
    }
}

impl Consumer {
    /// Leaders again, for the partitions being read.
    fn refresh_leaders(&mut self, cluster: &mut Cluster) -> Result<(), ToolError> {
        self.leaders = leaders(cluster, &self.topic)?
            .into_iter()
            .filter(|(partition, _)| self.positions.contains_key(partition))
            .collect();
        Ok(())
    }

    fn done(&self) -> bool {
        self.limit.is_some_and(|limit| self.printed >= limit)
    }

    /// Chooses the partitions to read and where to start each: the group's
    /// assignment and committed offsets, or `only` (every partition when
    /// empty) from `start`.
    fn assign(
        &mut self,
        cluster: &mut Cluster,
        member: Option<&Member>,
        only: &[i32],
    ) -> Result<(), ToolError> {
        let all = leaders(cluster, &self.topic)?;
        let wanted: BTreeSet<i32> = match member {
            Some(member) => member
                .assignment
                .iter()
                .filter(|(topic, _)| topic == &self.topic)
                .map(|(_, partition)| *partition)
                .collect(),
            None if only.is_empty() => all.keys().copied().collect(),
            None => only.iter().copied().collect(),
        };
        if let Some(missing) = wanted.iter().find(|p| !all.contains_key(p)) {
            return Err(ToolError::Usage(format!(
                "{} has no partition {missing}",
                self.topic
            )));
        }
        self.leaders = all
            .into_iter()
            .filter(|(p, _)| wanted.contains(p))
            .collect();
        let committed = match member {
            Some(member) => committed(
                cluster,
                member.coordinator,
                &member.group,
                Some(&self.topic),
            )?,
            None => BTreeMap::new(),
        };
        let starts = self.starts(cluster)?;
        self.positions = self
            .leaders
            .keys()
            .map(|&p| {
                (
                    p,
                    committed
                        .get(&(self.topic.clone(), p))
                        .copied()
                        .unwrap_or(starts[&p]),
                )
            })
            .collect();
        self.at_end.clear();
        Ok(())
    }

    /// The offset `start` means on each partition being read.
    fn starts(&self, cluster: &mut Cluster) -> Result<BTreeMap<i32, i64>, ToolError> {
        let latest = list_offsets(cluster, &self.topic, &self.leaders, LATEST)?;
        Ok(match self.start {
            Start::Beginning => list_offsets(cluster, &self.topic, &self.leaders, EARLIEST)?,
            Start::End => latest,
            Start::Offset(offset) if offset >= 0 => {
                self.leaders.keys().map(|&p| (p, offset)).collect()
            }
            Start::Offset(back) => {
                let earliest = list_offsets(cluster, &self.topic, &self.leaders, EARLIEST)?;
                latest
                    .iter()
                    .map(|(&p, &end)| (p, (end + back).max(earliest[&p])))
                    .collect()
            }
            Start::Time(milliseconds) => {
                let found = list_offsets(cluster, &self.topic, &self.leaders, milliseconds)?;
                found
                    .into_iter()
                    .map(|(p, offset)| (p, if offset < 0 { latest[&p] } else { offset }))
                    .collect()
            }
        })
    }

    /// Commits the position of every partition read.
    fn commit(&self, cluster: &mut Cluster, member: &Member) -> Result<(), ToolError> {
        let offsets: BTreeMap<TopicPartition, i64> = self
            .positions
            .iter()
            .map(|(&partition, &offset)| ((self.topic.clone(), partition), offset))
            .collect();
        if offsets.is_empty() {
            return Ok(());
        }
        let coordinator = member.coordinator;
        super::offsets::commit(
            cluster,
            coordinator,
            &member.group,
            member.generation,
            &member.member_id,
            &offsets,
        )
    }

    /// One Fetch from `node` for its partitions; false when a partition's
    /// leader moved (refresh the leaders).
    fn fetch_from(
        &mut self,
        cluster: &mut Cluster,
        node: i32,
        wait: i32,
    ) -> Result<bool, ToolError> {
        let partitions: Vec<FetchPartition> = self
            .leaders
            .iter()
            .filter(|(_, &leader)| leader == node)
            .map(|(&partition, _)| {
                FetchPartition::default()
                    .with_partition(partition)
                    .with_current_leader_epoch(-1)
                    .with_fetch_offset(self.positions[&partition])
                    .with_log_start_offset(-1)
                    .with_partition_max_bytes(limits::TOOL_FETCH_PARTITION_BYTES_MAX)
            })
            .collect();
        let connection = cluster.node(node)?;
        // v12 at most: v13 and later name topics by id.
        let version = connection.version::<FetchRequest>(12)?;
        // Defaults elsewhere: replica -1 (a consumer), read uncommitted, no
        // fetch session.
        let mut request = FetchRequest::default()
            .with_max_wait_ms(wait)
            .with_min_bytes(1)
            .with_topics(vec![FetchTopic::default()
                .with_topic(topic_name(&self.topic))
                .with_partitions(partitions)]);
        // A response size bound from v3 on (before, per partition only).
        if version >= 3 {
            request.max_bytes = limits::TOOL_FETCH_BYTES_MAX;
        }
        let response = connection.send_at(&request, version)?;
        super::check(
            || format!("Fetch from node {node}"),
            response.error_code,
            None,
        )?;
        let mut leaders_current = true;
        for topic in &response.responses {
            for data in &topic.partitions {
                leaders_current &= self.take(cluster, data)?;
                if self.done() {
                    return Ok(true);
                }
            }
        }
        Ok(leaders_current)
    }

    /// Prints what one partition's fetch brought; false when its leader
    /// moved.
    fn take(&mut self, cluster: &mut Cluster, data: &PartitionData) -> Result<bool, ToolError> {
        let partition = data.partition_index;
        if !self.positions.contains_key(&partition) {
            return Err(ToolError::Protocol {
                address: format!("{}-{partition}", self.topic),
                reason: "Fetch answered for a partition it was not asked for".into(),
            });
        }
        match data.error_code {
            0 => {}
            // OFFSET_OUT_OF_RANGE: the log moved under the position (say,
            // retention); start again where `-o` says.
            1 => {
                let starts = self.starts(cluster)?;
                self.positions.insert(partition, starts[&partition]);
                return Ok(true);
            }
            code if RETRIABLE.contains(&code) => return Ok(false),
            code => {
                return Err(kafka_error(
                    format!("Fetch {}-{partition}", self.topic),
                    code,
                    None,
                ))
            }
        }
        let records = data.records.clone().unwrap_or_default();
        for batch in whole_batches(records) {
            let decoded = RecordBatchDecoder::decode_all(&mut batch.clone()).map_err(|error| {
                ToolError::Protocol {
                    address: format!("{}-{partition}", self.topic),
                    reason: format!("undecodable record batch: {error}"),
                }
            })?;
            for record in decoded.iter().flat_map(|set| &set.records) {
                if record.offset < self.positions[&partition] || record.control {
                    continue;
                }
                self.print(partition, record)?;
                if self.done() {
                    return Ok(true);
                }
            }
            // Past the whole batch, control records and compacted gaps too.
            let last = batch_last_offset(&batch);
            let position = self
                .positions
                .get_mut(&partition)
                .expect("read partitions have one");
            *position = (*position).max(last + 1);
        }
        if self.positions[&partition] >= data.high_watermark {
            self.at_end.insert(partition);
        } else {
            self.at_end.remove(&partition);
        }
        Ok(true)
    }

    fn print(&mut self, partition: i32, record: &Record) -> Result<(), ToolError> {
        let message = Message {
            topic: &self.topic,
            partition,
            offset: record.offset,
            timestamp: record.timestamp,
            key: record.key.as_deref(),
            value: record.value.as_deref(),
            headers: record
                .headers
                .iter()
                .map(|(key, value)| (key.as_str(), value.as_deref()))
                .collect(),
        };
        let mut line = Vec::new();
        match self.format {
            Format::Table => self.template.render(&message, &mut line),
            Format::Json => {
                serde_json::to_writer(&mut line, &json_record(&message))
                    .expect("a Value always serializes");
                line.push(b'\n');
            }
        }
        self.out.write_all(&line).map_err(ToolError::Terminal)?;
        self.positions.insert(partition, record.offset + 1);
        self.printed += 1;
        Ok(())
    }
}

/// A record as one JSON line (`--format json`); key, value and header
/// values as text (invalid UTF-8 replaced), null where absent.
fn json_record(message: &Message) -> serde_json::Value {
    let text =
        |bytes: Option<&[u8]>| bytes.map(|bytes| String::from_utf8_lossy(bytes).into_owned());
    let headers: serde_json::Map<String, serde_json::Value> = message
        .headers
        .iter()
        .map(|(key, value)| (key.to_string(), serde_json::json!(text(*value))))
        .collect();
    serde_json::json!({
        "topic": message.topic, "partition": message.partition, "offset": message.offset,
        "timestamp": message.timestamp, "key": text(message.key), "value": text(message.value),
        "headers": headers,
    })
}

/// The whole batches in fetched bytes, each by its length field; a
/// trailing partial batch (the fetch size cut it) is left for the next
/// fetch, as Kafka's consumers do.
pub fn whole_batches(mut bytes: Bytes) -> Vec<Bytes> {
    let mut batches = Vec::new();
    while bytes.len() >= 12 {
        let length = i32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        let total = 12 + length.max(0) as usize;
        if length < 0 || total > bytes.len() {
            break;
        }
        batches.push(bytes.split_to(total));
    }
    batches
}

/// The last offset a v2 batch covers (base offset + last offset delta); a
/// magic 0/1 set is one message per offset from its base.
pub fn batch_last_offset(batch: &Bytes) -> i64 {
    let base = i64::from_be_bytes(batch[..8].try_into().expect("12 bytes at least"));
    if batch.len() >= 27 && batch[16] == 2 {
        base + i32::from_be_bytes(batch[23..27].try_into().expect("checked length")) as i64
    } else {
        base
    }
}
