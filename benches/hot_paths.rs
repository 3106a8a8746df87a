//! Micro-benchmarks of the broker's hot paths: request decode, batch
//! validation and offset assignment, segment append (direct IO), index
//! lookup, and fetch response framing. Each reports ns per operation as
//! percentiles (hdrhistogram) over many timed runs.
//!
//! `cargo bench` runs them in full. Without `--bench` (as `cargo test
//! --benches` runs it) each does a few iterations only, so the benchmarks are
//! compiled and exercised by the test suite and cannot rot.

use std::hint::black_box;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use corelog::protocol::batch::{self, TimestampType};
use corelog::protocol::fetch_response::{self, FetchReply, FetchedPartition, FetchedTopic};
use corelog::protocol::{frame, records};
use corelog::rt::net::Piece;
use corelog::storage::index::OffsetIndex;
use corelog::storage::segment::AppendPart;
use corelog::storage::{Log, LogConfig};
use hdrhistogram::Histogram;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, FetchResponse, ProduceRequest, RequestHeader, TopicName};
use kafka_protocol::protocol::{Encodable, StrBytes};
use kafka_protocol::records::Compression;

/// A batch of `count` records of `size` bytes each.
fn record_batch(count: usize, size: usize) -> Bytes {
    let value = Bytes::from(vec![b'x'; size]);
    let records: Vec<_> = (0..count)
        .map(|index| records::record(index, None, Some(value.clone()), 1_700_000_000_000))
        .collect();
    records::encode_batch(&records, Compression::None)
}

struct Bench {
    full: bool,
}

impl Bench {
    /// Times `operation` `iterations` times (a thousandth as many, at least
    /// three, without `--bench`) and prints the percentiles.
    fn run(&self, name: &str, iterations: u64, mut operation: impl FnMut()) {
        let iterations = if self.full {
            iterations
        } else {
            (iterations / 1000).max(3)
        };
        let mut histogram = Histogram::<u64>::new(3).unwrap();
        for _ in 0..iterations {
            let started = Instant::now();
            operation();
            histogram
                .record(started.elapsed().as_nanos().max(1) as u64)
                .unwrap();
        }
        println!(
            "{name:<44} {iterations:>9} runs  p50 {:>9} ns  p99 {:>9} ns  p99.9 {:>9} ns  max {:>9} ns",
            histogram.value_at_quantile(0.5),
            histogram.value_at_quantile(0.99),
            histogram.value_at_quantile(0.999),
            histogram.max()
        );
    }
}

fn produce_frame(records: &Bytes) -> Bytes {
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str("bench")))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(records.clone()))])]);
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::Produce as i16)
        .with_request_api_version(7)
        .with_correlation_id(1)
        .with_client_id(Some(StrBytes::from_static_str("bench")));
    let mut body = BytesMut::new();
    header.encode(&mut body, 1).unwrap();
    request.encode(&mut body, 7).unwrap();
    body.freeze()
}

fn main() {
    let bench = Bench {
        full: std::env::args().any(|argument| argument == "--bench"),
    };
    let batch_1k = record_batch(16, 1024);
    println!(
        "hot paths ({} mode)",
        if bench.full { "full" } else { "quick" }
    );

    let frame_bytes = produce_frame(&batch_1k);
    bench.run("decode Produce v7 (16 x 1 KiB records)", 200_000, || {
        let mut bytes = frame_bytes.clone();
        let peek = frame::peek(&bytes).unwrap();
        let header = frame::decode_header(ApiKey::Produce, peek.api_version, &mut bytes).unwrap();
        let request: ProduceRequest = frame::decode_body(&mut bytes, peek.api_version).unwrap();
        black_box((header, request));
    });

    let mut scratch = batch_1k.to_vec();
    bench.run("validate + assign offset (16 KiB batch)", 200_000, || {
        let spans = batch::validate_batches(&scratch, 1 << 20).unwrap();
        black_box(batch::assign_offset(
            &mut scratch,
            42,
            0,
            TimestampType::CreateTime,
            0,
        ));
        black_box(spans);
    });
    let mut scratch = batch_1k.to_vec();
    bench.run("validate + assign LogAppendTime (new CRC)", 200_000, || {
        let spans = batch::validate_batches(&scratch, 1 << 20).unwrap();
        black_box(batch::assign_offset(
            &mut scratch,
            42,
            0,
            TimestampType::LogAppendTime,
            7,
        ));
        black_box(spans);
    });

    let mut index = OffsetIndex::default();
    for entry in 0..100_000u32 {
        index.push(entry * 16, entry * 4096);
    }
    let mut probe = 0u32;
    bench.run("offset index lookup (100k entries)", 1_000_000, || {
        probe = probe.wrapping_add(7919) % 1_600_000;
        black_box(index.position_at_or_before(probe));
    });

    // The broker's Fetch framing: fields in small buffers, the batches
    // passed through as refcounted pieces (no copy of the 128 KiB).
    let reply = FetchReply {
        error_code: 0,
        topics: vec![FetchedTopic {
            name: Bytes::from_static(b"bench"),
            topic_id: [0; 16],
            partitions: (0..8)
                .map(|partition| FetchedPartition {
                    partition_index: partition,
                    high_watermark: 1_000_000,
                    last_stable_offset: 1_000_000,
                    log_start_offset: 0,
                    records: vec![Piece::Memory(batch_1k.clone())],
                    ..FetchedPartition::default()
                })
                .collect(),
        }],
    };
    bench.run(
        "frame Fetch v11 response (8 x 16 KiB), pieces",
        100_000,
        || {
            black_box(fetch_response::encode(11, 1, &reply));
        },
    );
    // The generated codec, which copies the batches into one buffer, for
    // comparison.
    let partitions: Vec<PartitionData> = (0..8)
        .map(|partition| {
            PartitionData::default()
                .with_partition_index(partition)
                .with_high_watermark(1_000_000)
                .with_records(Some(batch_1k.clone()))
        })
        .collect();
    let response = FetchResponse::default().with_responses(vec![FetchableTopicResponse::default()
        .with_topic(TopicName(StrBytes::from_static_str("bench")))
        .with_partitions(partitions)]);
    bench.run(
        "frame Fetch v11 response (8 x 16 KiB), copied",
        100_000,
        || {
            black_box(frame::encode_response(ApiKey::Fetch, 11, 1, &response).unwrap());
        },
    );

    // Segment append: direct-IO writes to a temp dir, each a 16 KiB batch,
    // without syncs (the group commit's cost is the disk's, see perf/).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let full = bench.full;
    let records = batch_1k.to_vec();
    corelog::rt::run_local(async move {
        let config = LogConfig {
            segment_bytes: 256 << 20,
            ..LogConfig::default()
        };
        // The log's producer history (nothing is recorded by Log::append).
        let mut producers = Vec::<corelog::storage::producers::ProducerBatch>::new();
        let log: Log = Log::open(&path, config, &mut producers).await.unwrap();
        let spans = batch::validate_batches(&records, 1 << 20).unwrap();
        let iterations: u64 = if full { 20_000 } else { 20 };
        let mut histogram = Histogram::<u64>::new(3).unwrap();
        let started_all = Instant::now();
        for _ in 0..iterations {
            let started = Instant::now();
            let part = AppendPart {
                records: &records,
                spans: &spans,
            };
            black_box(log.append(&[part], 0, 0, &producers).await.unwrap());
            histogram
                .record(started.elapsed().as_nanos().max(1) as u64)
                .unwrap();
        }
        let seconds = started_all.elapsed().as_secs_f64();
        println!(
            "{:<44} {iterations:>9} runs  p50 {:>9} ns  p99 {:>9} ns  p99.9 {:>9} ns  max {:>9} ns  ({:.0} MB/s)",
            "segment append, direct IO (16 KiB batch)",
            histogram.value_at_quantile(0.5),
            histogram.value_at_quantile(0.99),
            histogram.value_at_quantile(0.999),
            histogram.max(),
            iterations as f64 * records.len() as f64 / seconds / 1e6
        );
    });
}
