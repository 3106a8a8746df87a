//! `corelog produce TOPIC`: one record per stdin line, batched per
//! partition and sent to each partition's leader.
//!
//! Partitioning: `-p N` sends everything to N; a keyed record goes where
//! Kafka's default partitioner puts it (murmur2 of the key), so keys land
//! where Java and librdkafka's consistent_random producers put them; an
//! unkeyed record goes to partitions in turn, one batch each.
//!
//! Invariants: with `--idempotent`, each partition's sequence numbers run
//! on without gaps over the batches sent, and a batch resent after a
//! retriable error keeps its sequence, so the broker drops duplicates.

use std::collections::BTreeMap;
use std::io::BufRead;

use bytes::Bytes;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{InitProducerIdRequest, ProduceRequest, ProducerId};
use kafka_protocol::records::{Compression, Record};
use serde_json::json;

use super::client::{pause, text, topic_name, Cluster, RETRIABLE};
use super::offsets::leaders;
use super::output::emit;
use super::topic::key_value;
use super::{check, kafka_error, Connect, ToolError};
use crate::limits;
use crate::protocol::records::{encode_batch, record};

#[derive(clap::Args, Debug)]
pub struct ProduceArgs {
    #[command(flatten)]
    pub connect: Connect,
    pub topic: String,
    /// Split each line at the first SEP into key and value.
    #[arg(short = 'K', long = "key-separator")]
    pub key_separator: Option<String>,
    /// A header on every record, key=value (repeatable).
    #[arg(short = 'H', long = "header", value_parser = key_value)]
    pub headers: Vec<(String, String)>,
    /// Send every record to this partition.
    #[arg(short = 'p', long)]
    pub partition: Option<i32>,
    #[arg(long, value_enum, default_value_t = CompressionArgument::None)]
    pub compression: CompressionArgument,
    /// 0 (no answer), 1 (leader) or all / -1.
    #[arg(long, default_value = "all", value_parser = parse_acks)]
    pub acks: i16,
    /// Idempotent producer: a producer id and sequence numbers (needs
    /// --acks all).
    #[arg(long)]
    pub idempotent: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum CompressionArgument {
    None,
    Gzip,
    Snappy,
}

fn parse_acks(text: &str) -> Result<i16, String> {
    match text {
        "all" | "-1" => Ok(-1),
        "0" => Ok(0),
        "1" => Ok(1),
        _ => Err(format!("--acks is 0, 1 or all, not {text:?}")),
    }
}

/// The producer's state over the run.
struct Producer {
    topic: String,
    leaders: BTreeMap<i32, i32>,
    compression: Compression,
    acks: i16,
    /// (producer id, epoch) when idempotent.
    identity: Option<(i64, i16)>,
    /// Next sequence number per partition (idempotent only).
    sequences: BTreeMap<i32, i32>,
    /// Records sent per partition: (first offset, count) where acked.
    sent: BTreeMap<i32, (Option<i64>, usize)>,
    next_partition: i32,
}

pub fn run(args: ProduceArgs) -> Result<(), ToolError> {
    if args.idempotent && args.acks != -1 {
        return Err(ToolError::Usage("--idempotent needs --acks all".into()));
    }
    let mut cluster = Cluster::connect(&args.connect.brokers)?;
    let mut producer = Producer {
        topic: args.topic.clone(),
        leaders: leaders(&mut cluster, &args.topic)?,
        compression: match args.compression {
            CompressionArgument::None => Compression::None,
            CompressionArgument::Gzip => Compression::Gzip,
            CompressionArgument::Snappy => Compression::Snappy,
        },
        acks: args.acks,
        identity: None,
        sequences: BTreeMap::new(),
        sent: BTreeMap::new(),
        next_partition: 0,
    };
    if let Some(partition) = args.partition {
        if !producer.leaders.contains_key(&partition) {
            return Err(ToolError::Usage(format!(
                "{} has no partition {partition}",
                args.topic
            )));
        }
    }
    if args.idempotent {
        producer.identity = Some(init_producer_id(&mut cluster)?);
    }
    let total = read_and_send(&mut cluster, &mut producer, &args)?;
    let sent = producer.sent;
    emit(
        args.connect.format,
        || {
            let mut out = format!("produced {total} records to {}\n", args.topic);
            for (partition, (first, count)) in &sent {
                let at = first.map_or(String::new(), |first| format!(" from offset {first}"));
                out.push_str(&format!("  partition {partition}: {count} records{at}\n"));
            }
            out
        },
        || {
            json!({
                "topic": args.topic,
                "records": total,
                "partitions": sent.iter().map(|(partition, (first, count))| json!({
                    "partition": partition, "records": count, "first_offset": first,
                })).collect::<Vec<_>>(),
            })
        },
    )
}

/// Reads stdin to its end, sending full batches as they fill; returns the
/// records sent.
fn read_and_send(
    cluster: &mut Cluster,
    producer: &mut Producer,
    args: &ProduceArgs,
) -> Result<usize, ToolError> {
    let mut stdin = std::io::stdin().lock();
    let mut pending: BTreeMap<i32, (Vec<Record>, usize)> = BTreeMap::new();
    let mut total = 0;
    let partitions = producer.leaders.len() as i32;
    // Unkeyed records stick to one partition until its batch is sent.
    let mut sticky = producer.next_partition;
    while let Some(line) = read_line(&mut stdin)? {
        let line = line.strip_suffix(b"\r").unwrap_or(&line).to_vec();
        let (key, value) = split_key(line, args.key_separator.as_deref());
        let partition = match (args.partition, &key) {
            (Some(partition), _) => partition,
            (None, Some(key)) => murmur2_partition(key, partitions),
            (None, None) => sticky,
        };
        let (records, bytes) = pending.entry(partition).or_default();
        *bytes += key.as_ref().map_or(0, |key| key.len()) + value.len();
        let mut one = record(
            records.len(),
            key.map(Bytes::from),
            Some(Bytes::from(value)),
            now(),
        );
        for (name, header) in &args.headers {
            one.headers
                .insert(text(name.as_str()), Some(Bytes::from(header.clone())));
        }
        records.push(one);
        total += 1;
        if records.len() >= limits::TOOL_PRODUCE_BATCH_RECORDS_MAX
            || *bytes >= limits::TOOL_PRODUCE_BATCH_BYTES_MAX
        {
            let (records, _) = pending.remove(&partition).expect("just filled");
            send(cluster, producer, partition, records)?;
            if partition == sticky {
                sticky = (sticky + 1) % partitions;
            }
        }
    }
    for (partition, (records, _)) in pending {
        send(cluster, producer, partition, records)?;
    }
    Ok(total)
}

/// The next stdin line without its newline, None at the end; a line
/// longer than `TOOL_LINE_BYTES_MAX` is refused before more of it is read.
fn read_line(stdin: &mut impl BufRead) -> Result<Option<Vec<u8>>, ToolError> {
    let mut line = Vec::new();
    let limit = limits::TOOL_LINE_BYTES_MAX as u64 + 1;
    // Read::take on the reference, so stdin stays usable after.
    let read = std::io::Read::take(&mut *stdin, limit)
        .read_until(b'\n', &mut line)
        .map_err(ToolError::Terminal)?;
    if read == 0 {
        return Ok(None);
    }
    if line.last() == Some(&b'\n') {
        line.pop();
    } else if line.len() > limits::TOOL_LINE_BYTES_MAX {
        return Err(ToolError::Usage(format!(
            "a line longer than {} bytes (TOOL_LINE_BYTES_MAX)",
            limits::TOOL_LINE_BYTES_MAX
        )));
    }
    Ok(Some(line))
}

/// (key, value) of a line: split at the first separator when one is given
/// and present; otherwise the whole line is the value.
fn split_key(line: Vec<u8>, separator: Option<&str>) -> (Option<Vec<u8>>, Vec<u8>) {
    let Some(separator) = separator.map(str::as_bytes).filter(|s| !s.is_empty()) else {
        return (None, line);
    };
    match line
        .windows(separator.len())
        .position(|window| window == separator)
    {
        Some(at) => (
            Some(line[..at].to_vec()),
            line[at + separator.len()..].to_vec(),
        ),
        None => (None, line),
    }
}

fn init_producer_id(cluster: &mut Cluster) -> Result<(i64, i16), ToolError> {
    let request = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(-1)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let (_, response) = cluster.any().send(&request, 4)?;
    check(|| "InitProducerId".into(), response.error_code, None)?;
    Ok((response.producer_id.0, response.producer_epoch))
}

/// Sends one batch to its partition's leader, retrying retriable errors
/// after a metadata refresh.
fn send(
    cluster: &mut Cluster,
    producer: &mut Producer,
    partition: i32,
    mut records: Vec<Record>,
) -> Result<(), ToolError> {
    if let Some((producer_id, epoch)) = producer.identity {
        let first = *producer.sequences.entry(partition).or_insert(0);
        for (index, record) in records.iter_mut().enumerate() {
            record.producer_id = producer_id;
            record.producer_epoch = epoch;
            record.sequence = first.wrapping_add(index as i32);
        }
        producer
            .sequences
            .insert(partition, first.wrapping_add(records.len() as i32));
    }
    let batch = encode_batch(&records, producer.compression);
    let request = ProduceRequest::default()
        .with_acks(producer.acks)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic_name(&producer.topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(batch))])]);
    for attempt in 1..=limits::TOOL_ATTEMPTS_MAX {
        let leader = *producer.leaders.get(&partition).ok_or_else(|| {
            ToolError::Usage(format!(
                "{} no longer has partition {partition}",
                producer.topic
            ))
        })?;
        let connection = cluster.node(leader)?;
        // v9 at most: v13 names topics by id.
        let version = connection.version::<ProduceRequest>(9)?;
        if producer.acks == 0 {
            connection.send_unanswered(&request, version)?;
            producer.sent.entry(partition).or_insert((None, 0)).1 += records.len();
            return Ok(());
        }
        let response = connection.send_at(&request, version)?;
        let answer = response
            .responses
            .first()
            .and_then(|topic| topic.partition_responses.first())
            .ok_or_else(|| super::empty("Produce"))?;
        if answer.error_code == 0 {
            let entry = producer
                .sent
                .entry(partition)
                .or_insert((Some(answer.base_offset), 0));
            entry.1 += records.len();
            return Ok(());
        }
        if !RETRIABLE.contains(&answer.error_code) || attempt == limits::TOOL_ATTEMPTS_MAX {
            return Err(kafka_error(
                format!("producing to {}-{partition}", producer.topic),
                answer.error_code,
                answer.error_message.as_deref(),
            ));
        }
        pause();
        producer.leaders = leaders(cluster, &producer.topic)?;
    }
    unreachable!("the last attempt returns")
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

/// Kafka's default partitioner for a keyed record: murmur2 (seed
/// 0x9747b28c) of the key, sign bit cleared, modulo the partitions.
pub fn murmur2_partition(key: &[u8], partitions: i32) -> i32 {
    ((murmur2(key) & 0x7fff_ffff) % partitions as u32) as i32
}

/// MurmurHash2, 32-bit, as Kafka's clients compute it (little-endian
/// blocks).
fn murmur2(data: &[u8]) -> u32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut hash: u32 = 0x9747_b28c ^ data.len() as u32;
    let mut blocks = data.chunks_exact(4);
    for block in &mut blocks {
        let mut k = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        hash = hash.wrapping_mul(M) ^ k;
    }
    let tail = blocks.remainder();
    if tail.len() >= 3 {
        hash ^= (tail[2] as u32) << 16;
    }
    if tail.len() >= 2 {
        hash ^= (tail[1] as u32) << 8;
    }
    if !tail.is_empty() {
        hash ^= tail[0] as u32;
        hash = hash.wrapping_mul(M);
    }
    hash ^= hash >> 13;
    hash = hash.wrapping_mul(M);
    hash ^ (hash >> 15)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafkas_partitioner() {
        // Values Kafka's own partitioner tests list for these keys.
        assert_eq!(murmur2(b"21") as i32, -973932308);
        assert_eq!(murmur2(b"foobar") as i32, -790332482);
        assert_eq!(murmur2(b"a-little-bit-long-string") as i32, -985981536);
        assert_eq!(murmur2(b"abc") as i32, 479470107);
    }

    #[test]
    fn splits_at_the_first_separator_only() {
        let (key, value) = split_key(b"k:v:w".to_vec(), Some(":"));
        assert_eq!(
            (key.as_deref(), value.as_slice()),
            (Some(&b"k"[..]), &b"v:w"[..])
        );
        assert_eq!(split_key(b"plain".to_vec(), Some(":")).0, None);
        assert_eq!(split_key(b"a::b".to_vec(), Some("::")).1, b"b".to_vec());
    }
}
