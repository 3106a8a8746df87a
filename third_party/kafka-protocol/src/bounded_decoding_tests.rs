//! Regression tests for the corelog patch (see PATCHED.md): no length read off
//! the wire makes decoding allocate more than the input holds, and no
//! compressed batch decompresses past `DECOMPRESSED_BYTES_MAX`.
//!
//! A tracking allocator records the largest single allocation each test
//! thread asks for, and refuses anything of a gibibyte or more, so the
//! unpatched decoders fail these tests (loudly: the refused allocation
//! aborts the test binary) rather than depending on the machine's overcommit.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::{BufMut, Bytes, BytesMut};

use crate::compression::DECOMPRESSED_BYTES_MAX;
use crate::messages::{FetchRequest, MetadataRequest, RequestHeader};
use crate::protocol::{decode_request_header_from_buffer, types, Decodable, Decoder, Encodable};
use crate::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
    TimestampType,
};

/// Allocations at least this large are refused (the process aborts).
const REFUSED_ALLOCATION_BYTES: usize = 1 << 30;

/// The most a small malformed input may make the decoder allocate at once.
const SMALL_INPUT_ALLOCATION_BYTES_MAX: usize = 64 * 1024;

thread_local! {
    static LARGEST_ALLOCATION_BYTES: Cell<usize> = const { Cell::new(0) };
}

struct TrackingAllocator;

fn note_allocation(bytes: usize) {
    let _ = LARGEST_ALLOCATION_BYTES.try_with(|largest| largest.set(largest.get().max(bytes)));
}

unsafe impl GlobalAlloc for TrackingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation(layout.size());
        if layout.size() >= REFUSED_ALLOCATION_BYTES {
            return std::ptr::null_mut();
        }
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation(layout.size());
        if layout.size() >= REFUSED_ALLOCATION_BYTES {
            return std::ptr::null_mut();
        }
        System.alloc_zeroed(layout)
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation(new_size);
        if new_size >= REFUSED_ALLOCATION_BYTES {
            return std::ptr::null_mut();
        }
        System.realloc(pointer, layout, new_size)
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        System.dealloc(pointer, layout)
    }
}

#[global_allocator]
static ALLOCATOR: TrackingAllocator = TrackingAllocator;

/// Runs `decode` and returns its result with the largest single allocation
/// it made on this thread.
fn largest_allocation_during<R>(decode: impl FnOnce() -> R) -> (R, usize) {
    LARGEST_ALLOCATION_BYTES.with(|largest| largest.set(0));
    let result = decode();
    (result, LARGEST_ALLOCATION_BYTES.with(|largest| largest.get()))
}

fn assert_small_error<T: std::fmt::Debug>(
    what: &str,
    decode: impl FnOnce() -> anyhow::Result<T>,
) -> String {
    let (result, largest) = largest_allocation_during(decode);
    let error = result.expect_err(what);
    assert!(
        largest <= SMALL_INPUT_ALLOCATION_BYTES_MAX,
        "{what}: allocated {largest} bytes at once"
    );
    error.to_string()
}

fn encode<T: Encodable>(message: &T, version: i16) -> Vec<u8> {
    let mut buf = BytesMut::new();
    message.encode(&mut buf, version).unwrap();
    buf.to_vec()
}

#[test]
fn fetch_topics_array_claiming_i32_max_elements_is_an_error() {
    // Fetch v4: replica_id, max_wait_ms, min_bytes, max_bytes, isolation_level,
    // then the topics array's i32 length.
    let mut frame = encode(&FetchRequest::default(), 4);
    assert_eq!(frame.len(), 21);
    assert_eq!(frame[17..21], [0, 0, 0, 0]);
    frame[17..21].copy_from_slice(&i32::MAX.to_be_bytes());
    let error = assert_small_error("Fetch v4", || {
        FetchRequest::decode(&mut Bytes::from(frame), 4)
    });
    assert!(error.contains("2147483647 array elements"), "{error}");
}

#[test]
fn fetch_topics_compact_array_claiming_i32_max_elements_is_an_error() {
    // Fetch v12 (flexible): the same fields plus session id and epoch, then
    // the topics compact array's length + 1 as an unsigned varint.
    let frame = encode(&FetchRequest::default(), 12);
    assert_eq!(frame[25], 1, "an empty compact array");
    let mut claimed = frame[..25].to_vec();
    // 2^31 as an unsigned varint: 2^31 - 1 elements.
    claimed.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x08]);
    claimed.extend_from_slice(&frame[26..]);
    assert_small_error("Fetch v12", || {
        FetchRequest::decode(&mut Bytes::from(claimed), 12)
    });
}

#[test]
fn compact_array_claiming_u32_max_elements_is_an_error() {
    // Metadata v9 starts with its nullable topics compact array.
    let frame = [0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0, 0];
    assert_small_error("Metadata v9", || {
        MetadataRequest::decode(&mut Bytes::copy_from_slice(&frame), 9)
    });
}

#[test]
fn array_claiming_more_elements_than_bytes_is_an_error_however_few() {
    // Metadata v1: topics array of 3 elements but only 2 bytes follow.
    let frame = [0, 0, 0, 3, 0, 0];
    let error = assert_small_error("Metadata v1", || {
        MetadataRequest::decode(&mut Bytes::copy_from_slice(&frame), 1)
    });
    assert!(
        error.contains("Tried to read 3 array elements, but only 2 bytes remain"),
        "{error}"
    );
}

#[test]
fn honest_arrays_still_decode() {
    use crate::messages::fetch_request::{FetchPartition, FetchTopic};
    use crate::messages::TopicName;
    use crate::protocol::StrBytes;
    let topics: Vec<FetchTopic> = (0..300)
        .map(|index| {
            FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_string(format!("t{index}"))))
                .with_partitions(
                    (0..3)
                        .map(|partition| FetchPartition::default().with_partition(partition))
                        .collect(),
                )
        })
        .collect();
    let request = FetchRequest::default().with_topics(topics);
    for version in [4, 12] {
        let frame = encode(&request, version);
        let decoded = FetchRequest::decode(&mut Bytes::from(frame), version).unwrap();
        assert_eq!(decoded, request, "v{version}");
    }
}

#[test]
fn strings_and_bytes_claiming_more_than_remains_are_errors() {
    let claims: [(&str, Vec<u8>); 4] = [
        ("String", vec![0x7f, 0xff, b'a']),
        ("CompactString", vec![0xff, 0xff, 0xff, 0xff, 0x0f, b'a']),
        ("Bytes", vec![0x7f, 0xff, 0xff, 0xff, 1]),
        ("CompactBytes", vec![0xff, 0xff, 0xff, 0xff, 0x0f, 1]),
    ];
    for (what, frame) in claims {
        let mut buf = Bytes::from(frame);
        let (result, largest) = largest_allocation_during(|| match what {
            "String" => Decoder::<Option<String>>::decode(&types::String, &mut buf).map(|_| ()),
            "CompactString" => {
                Decoder::<Option<String>>::decode(&types::CompactString, &mut buf).map(|_| ())
            }
            "Bytes" => Decoder::<Option<Vec<u8>>>::decode(&types::Bytes, &mut buf).map(|_| ()),
            _ => Decoder::<Option<Vec<u8>>>::decode(&types::CompactBytes, &mut buf).map(|_| ()),
        });
        assert!(result.is_err(), "{what}");
        // Far below the 32 KiB a String could claim; room for the error.
        assert!(largest <= 4096, "{what}: allocated {largest} bytes at once");
    }
}

#[test]
fn request_header_shorter_than_its_api_key_and_version_is_an_error() {
    assert!(decode_request_header_from_buffer(&mut Bytes::from_static(&[0, 1, 0])).is_err());
    let header = RequestHeader::default().with_request_api_version(1);
    let mut frame = BytesMut::new();
    crate::protocol::encode_request_header_into_buffer(&mut frame, &header).unwrap();
    assert_eq!(
        decode_request_header_from_buffer(&mut frame.freeze()).unwrap(),
        header
    );
}

/// A v2 record batch around `records` (already encoded, or compressed),
/// with a correct length and CRC so the decoder reaches the records.
fn batch(attributes: i16, record_count: i32, records: &[u8]) -> Bytes {
    let mut after_crc = BytesMut::new();
    after_crc.put_i16(attributes);
    after_crc.put_i32(0); // last offset delta
    after_crc.put_i64(1_000); // first timestamp
    after_crc.put_i64(1_000); // max timestamp
    after_crc.put_i64(-1); // producer id
    after_crc.put_i16(-1); // producer epoch
    after_crc.put_i32(-1); // base sequence
    after_crc.put_i32(record_count);
    after_crc.put_slice(records);
    let mut batch = BytesMut::new();
    batch.put_i64(0); // base offset
    batch.put_i32((4 + 1 + 4 + after_crc.len()) as i32);
    batch.put_i32(0); // partition leader epoch
    batch.put_i8(2); // magic
    batch.put_u32(crc32c::crc32c(&after_crc));
    batch.put_slice(&after_crc);
    batch.freeze()
}

/// One record with no key or value; `headers` is the header count and
/// headers as encoded.
fn record_with_headers(headers: &[u8]) -> Vec<u8> {
    // attributes, timestamp delta 0, offset delta 0, key -1, value -1
    let mut body = vec![0, 0, 0, 1, 1];
    body.extend_from_slice(headers);
    let mut record = vec![(body.len() as u8) << 1];
    record.extend_from_slice(&body);
    record
}

#[test]
fn batch_claiming_i32_max_records_is_an_error() {
    let record = record_with_headers(&[0]);
    let error = assert_small_error("record count", || {
        RecordBatchDecoder::decode(&mut batch(0, i32::MAX, &record))
    });
    assert!(error.contains("2147483647 records"), "{error}");
    // The same batch with its honest count decodes.
    let set = RecordBatchDecoder::decode(&mut batch(0, 1, &record)).unwrap();
    assert_eq!(set.records.len(), 1);
}

#[test]
fn record_claiming_i32_max_headers_is_an_error() {
    // zigzag(i32::MAX) as a varint
    let record = record_with_headers(&[0xfe, 0xff, 0xff, 0xff, 0x0f]);
    let error = assert_small_error("header count", || {
        RecordBatchDecoder::decode(&mut batch(0, 1, &record))
    });
    assert!(error.contains("2147483647 record headers"), "{error}");
}

#[test]
fn honest_records_with_headers_still_decode() {
    let records: Vec<Record> = (0..50)
        .map(|index| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            sequence: index as i32,
            timestamp_type: TimestampType::Creation,
            offset: index,
            timestamp: 1_000 + index,
            key: Some(Bytes::from(format!("key{index}"))),
            value: Some(Bytes::from(vec![b'v'; 100])),
            headers: (0..5)
                .map(|header| {
                    (
                        format!("h{header}").into(),
                        Some(Bytes::from(format!("{header}"))),
                    )
                })
                .collect(),
        })
        .collect();
    let mut encoded = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut encoded,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .unwrap();
    let set = RecordBatchDecoder::decode(&mut encoded.freeze()).unwrap();
    assert_eq!(set.records.len(), records.len());
    for (decoded, original) in set.records.iter().zip(&records) {
        assert_eq!(decoded.offset, original.offset);
        assert_eq!(decoded.timestamp, original.timestamp);
        assert_eq!(decoded.key, original.key);
        assert_eq!(decoded.value, original.value);
        assert_eq!(decoded.headers, original.headers);
    }
}

#[test]
fn extreme_timestamp_and_offset_deltas_wrap_instead_of_panicking() {
    // Meaningful where overflow is checked: debug builds (`cargo test`) and
    // fuzzing builds.
    // timestamp delta i64::MAX (zigzag varint), offset delta i32::MAX.
    let mut body = vec![0];
    body.extend_from_slice(&[0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    body.extend_from_slice(&[0xfe, 0xff, 0xff, 0xff, 0x0f]);
    body.extend_from_slice(&[1, 1, 0]);
    let mut record = vec![(body.len() as u8) << 1];
    record.extend_from_slice(&body);
    let set = RecordBatchDecoder::decode(&mut batch(0, 1, &record)).unwrap();
    assert_eq!(set.records[0].timestamp, 1_000i64.wrapping_add(i64::MAX));
}

#[cfg(feature = "snappy")]
mod snappy {
    use super::*;

    const XERIAL_HEADER: &[u8; 16] = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01";

    #[test]
    fn raw_snappy_claiming_4_gib_is_an_error() {
        // A raw snappy block whose length varint claims 2^32 - 1 bytes.
        let bomb = [0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0, 0];
        let error = assert_small_error("raw snappy", || {
            RecordBatchDecoder::decode(&mut batch(2, 1, &bomb))
        });
        assert!(error.contains("snappy"), "{error}");
    }

    #[test]
    fn xerial_snappy_block_claiming_4_gib_is_an_error() {
        let mut bomb = XERIAL_HEADER.to_vec();
        bomb.extend_from_slice(&8u32.to_be_bytes());
        bomb.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0, 0]);
        assert_small_error("xerial snappy", || {
            RecordBatchDecoder::decode(&mut batch(2, 1, &bomb))
        });
    }

    #[test]
    fn xerial_snappy_blocks_adding_up_past_the_limit_are_an_error() {
        // Honest blocks of zeros, each well under the limit, that together
        // decompress to one byte more than it.
        let block_bytes = 4 * 1024 * 1024;
        let block = snap::raw::Encoder::new()
            .compress_vec(&vec![0; block_bytes])
            .unwrap();
        let last = snap::raw::Encoder::new()
            .compress_vec(&vec![0; DECOMPRESSED_BYTES_MAX % block_bytes + 1])
            .unwrap();
        let mut stream = XERIAL_HEADER.to_vec();
        for _ in 0..DECOMPRESSED_BYTES_MAX / block_bytes {
            stream.extend_from_slice(&(block.len() as u32).to_be_bytes());
            stream.extend_from_slice(&block);
        }
        stream.extend_from_slice(&(last.len() as u32).to_be_bytes());
        stream.extend_from_slice(&last);
        let error = RecordBatchDecoder::decode(&mut batch(2, 1, &stream))
            .unwrap_err()
            .to_string();
        assert!(error.contains("snappy"), "{error}");
    }

    #[test]
    fn snappy_batches_under_the_limit_still_decode() {
        let record = record_with_headers(&[0]);
        let raw = snap::raw::Encoder::new().compress_vec(&record).unwrap();
        let set = RecordBatchDecoder::decode(&mut batch(2, 1, &raw)).unwrap();
        assert_eq!(set.records.len(), 1);
        let mut framed = XERIAL_HEADER.to_vec();
        framed.extend_from_slice(&(raw.len() as u32).to_be_bytes());
        framed.extend_from_slice(&raw);
        let set = RecordBatchDecoder::decode(&mut batch(2, 1, &framed)).unwrap();
        assert_eq!(set.records.len(), 1);
    }
}

#[cfg(feature = "gzip")]
mod gzip {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder =
            flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn gzip_bomb_past_the_limit_is_an_error() {
        // About 33 KiB that inflate to one byte more than the limit.
        let bomb = gzip(&vec![0; DECOMPRESSED_BYTES_MAX + 1]);
        assert!(bomb.len() < 64 * 1024);
        let (result, largest) =
            largest_allocation_during(|| RecordBatchDecoder::decode(&mut batch(1, 1, &bomb)));
        let error = format!("{:#}", result.unwrap_err());
        assert!(error.contains("exceeds the limit"), "{error}");
        // The output buffer grows by doubling, so it may reach twice the limit.
        assert!(largest <= 2 * DECOMPRESSED_BYTES_MAX, "allocated {largest}");
    }

    #[test]
    fn gzip_batches_under_the_limit_still_decode() {
        let record = record_with_headers(&[0]);
        let set = RecordBatchDecoder::decode(&mut batch(1, 1, &gzip(&record))).unwrap();
        assert_eq!(set.records.len(), 1);
    }
}

#[cfg(feature = "lz4")]
mod lz4 {
    use super::*;
    use crate::compression::{Compressor, Lz4};

    #[test]
    fn lz4_past_the_limit_is_an_error() {
        let mut bomb = BytesMut::new();
        Lz4::compress(&mut bomb, |buf: &mut BytesMut| -> anyhow::Result<()> {
            buf.put_bytes(0, DECOMPRESSED_BYTES_MAX + 1);
            Ok(())
        })
        .unwrap();
        let error = format!(
            "{:#}",
            RecordBatchDecoder::decode(&mut batch(3, 1, &bomb)).unwrap_err()
        );
        assert!(error.contains("exceeds the limit"), "{error}");
    }
}

#[cfg(feature = "zstd")]
mod zstd {
    use super::*;
    use crate::compression::{Compressor, Zstd};

    #[test]
    fn zstd_past_the_limit_is_an_error() {
        let mut bomb = BytesMut::new();
        Zstd::compress(&mut bomb, |buf: &mut BytesMut| -> anyhow::Result<()> {
            buf.put_bytes(0, DECOMPRESSED_BYTES_MAX + 1);
            Ok(())
        })
        .unwrap();
        let error = format!(
            "{:#}",
            RecordBatchDecoder::decode(&mut batch(4, 1, &bomb)).unwrap_err()
        );
        assert!(error.contains("exceeds the limit"), "{error}");
    }
}
