//! Hand-written codecs for Produce v0-v2 and Fetch v0-v3, the versions
//! whose records are magic 0 and 1 message sets. The codec crate starts at
//! Produce v3 and Fetch v4, so these bodies are decoded and their responses
//! encoded here, field for field from Kafka's schemas:
//!
//! - ProduceRequest v0-v2: `acks: i16, timeout_ms: i32, topic_data:
//!   [name: string, partition_data: [index: i32, records: bytes]]`.
//! - ProduceResponse: `responses: [name, partition_responses: [index: i32,
//!   error_code: i16, base_offset: i64, log_append_time_ms: i64 (v2+)]],
//!   throttle_time_ms: i32 (v1+)`.
//! - FetchRequest v0-v3: `replica_id: i32, max_wait_ms: i32, min_bytes:
//!   i32, max_bytes: i32 (v3+), topics: [topic: string, partitions:
//!   [partition: i32, fetch_offset: i64, partition_max_bytes: i32]]`.
//! - FetchResponse: `throttle_time_ms: i32 (v1+), responses: [topic,
//!   partitions: [partition_index: i32, error_code: i16, high_watermark:
//!   i64, records: bytes]]`.
//!
//! All of them use request header v1 and response header v0, which the
//! codec crate handles; these functions see the body only.
//!
//! Invariants: every array count is checked against the bytes left (at the
//! smallest size an element can have) before anything is allocated for it;
//! `records` stay slices of the request frame. No IO.

use std::ops::RangeInclusive;

use bytes::{BufMut, Bytes, BytesMut};

use super::frame::FrameError;

/// Produce versions whose records are magic 0 or 1 message sets.
pub const PRODUCE_VERSIONS: RangeInclusive<i16> = 0..=2;
/// Fetch versions that can only return magic 0 or 1 message sets.
pub const FETCH_VERSIONS: RangeInclusive<i16> = 0..=3;

/// Why a request body did not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegacyRequestError {
    /// The body ended inside a field.
    Truncated(&'static str),
    /// A field holds what its schema does not allow (negative lengths,
    /// a topic name that is not UTF-8, more elements than bytes).
    Malformed(&'static str),
    /// A version these codecs do not cover.
    UnsupportedVersion(i16),
}

impl std::fmt::Display for LegacyRequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LegacyRequestError::Truncated(what) => write!(f, "request ends inside {what}"),
            LegacyRequestError::Malformed(why) => write!(f, "malformed request: {why}"),
            LegacyRequestError::UnsupportedVersion(version) => {
                write!(f, "version {version} is not a message-set version")
            }
        }
    }
}

impl std::error::Error for LegacyRequestError {}

impl From<LegacyRequestError> for FrameError {
    fn from(error: LegacyRequestError) -> FrameError {
        FrameError::Undecodable(error.to_string())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyProduceRequest {
    pub acks: i16,
    pub timeout_ms: i32,
    pub topics: Vec<LegacyProduceTopic>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyProduceTopic {
    pub name: String,
    pub partitions: Vec<LegacyProducePartition>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyProducePartition {
    pub index: i32,
    /// The message set; empty if the request sent null.
    pub message_set: Bytes,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LegacyProduceResponse {
    pub topics: Vec<LegacyProduceTopicResponse>,
    pub throttle_time_ms: i32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LegacyProduceTopicResponse {
    pub name: String,
    pub partitions: Vec<LegacyProducePartitionResponse>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LegacyProducePartitionResponse {
    pub index: i32,
    pub error_code: i16,
    pub base_offset: i64,
    /// -1 unless the topic uses LogAppendTime (sent from v2 on).
    pub log_append_time_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyFetchRequest {
    pub replica_id: i32,
    pub max_wait_ms: i32,
    pub min_bytes: i32,
    /// v3+; earlier versions have no response limit, so `i32::MAX`.
    pub max_bytes: i32,
    pub topics: Vec<LegacyFetchTopic>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyFetchTopic {
    pub name: String,
    pub partitions: Vec<LegacyFetchPartition>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyFetchPartition {
    pub partition: i32,
    pub fetch_offset: i64,
    pub partition_max_bytes: i32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LegacyFetchResponse {
    pub throttle_time_ms: i32,
    pub topics: Vec<LegacyFetchTopicResponse>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LegacyFetchTopicResponse {
    pub name: String,
    pub partitions: Vec<LegacyFetchPartitionResponse>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LegacyFetchPartitionResponse {
    pub partition_index: i32,
    pub error_code: i16,
    pub high_watermark: i64,
    /// A magic 0 or 1 message set.
    pub message_set: Bytes,
}

/// Smallest encoding of one element, for checking array counts: a topic is
/// a name (2-byte length) and an array (4-byte count).
const TOPIC_MIN_BYTES: usize = 2 + 4;
/// index and records length.
const PRODUCE_PARTITION_MIN_BYTES: usize = 4 + 4;
/// partition, fetch_offset, partition_max_bytes.
const FETCH_PARTITION_BYTES: usize = 4 + 8 + 4;

/// Reads big-endian fields from the front of a request body.
struct BodyReader<'a> {
    body: &'a Bytes,
    position: usize,
}

impl<'a> BodyReader<'a> {
    fn remaining(&self) -> usize {
        self.body.len() - self.position
    }

    fn take(&mut self, count: usize, what: &'static str) -> Result<&'a [u8], LegacyRequestError> {
        if count > self.remaining() {
            return Err(LegacyRequestError::Truncated(what));
        }
        let slice = &self.body[self.position..self.position + count];
        self.position += count;
        Ok(slice)
    }

    fn i16(&mut self, what: &'static str) -> Result<i16, LegacyRequestError> {
        let bytes = self.take(2, what)?;
        Ok(i16::from_be_bytes([bytes[0], bytes[1]]))
    }

    fn i32(&mut self, what: &'static str) -> Result<i32, LegacyRequestError> {
        let bytes = self.take(4, what)?;
        Ok(i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    fn i64(&mut self, what: &'static str) -> Result<i64, LegacyRequestError> {
        let mut array = [0u8; 8];
        array.copy_from_slice(self.take(8, what)?);
        Ok(i64::from_be_bytes(array))
    }

    fn string(&mut self, what: &'static str) -> Result<String, LegacyRequestError> {
        let length = self.i16(what)?;
        if length < 0 {
            return Err(LegacyRequestError::Malformed(
                "null or negative string length",
            ));
        }
        let bytes = self.take(length as usize, what)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| LegacyRequestError::Malformed("string is not UTF-8"))
    }

    /// `length: i32` and a slice of that many bytes; null reads as empty.
    fn bytes(&mut self, what: &'static str) -> Result<Bytes, LegacyRequestError> {
        let length = self.i32(what)?;
        if length == -1 {
            return Ok(Bytes::new());
        }
        if length < 0 {
            return Err(LegacyRequestError::Malformed("negative bytes length"));
        }
        let length = length as usize;
        if length > self.remaining() {
            return Err(LegacyRequestError::Truncated(what));
        }
        let slice = self.body.slice(self.position..self.position + length);
        self.position += length;
        Ok(slice)
    }

    /// An array count, refused unless that many elements of at least
    /// `element_min_bytes` each fit in what is left.
    fn count(
        &mut self,
        element_min_bytes: usize,
        what: &'static str,
    ) -> Result<usize, LegacyRequestError> {
        let count = self.i32(what)?;
        if count < 0 {
            return Err(LegacyRequestError::Malformed(
                "null or negative array count",
            ));
        }
        let count = count as usize;
        if count > self.remaining() / element_min_bytes {
            return Err(LegacyRequestError::Malformed(
                "array count larger than the request",
            ));
        }
        Ok(count)
    }
}

/// Decodes a Produce v0-v2 body (the bytes after the request header).
/// Bytes after the last field are ignored, as `frame::decode_body` does.
pub fn decode_produce(
    body: &Bytes,
    version: i16,
) -> Result<LegacyProduceRequest, LegacyRequestError> {
    if !PRODUCE_VERSIONS.contains(&version) {
        return Err(LegacyRequestError::UnsupportedVersion(version));
    }
    let mut reader = BodyReader { body, position: 0 };
    let acks = reader.i16("acks")?;
    let timeout_ms = reader.i32("timeout_ms")?;
    let topic_count = reader.count(TOPIC_MIN_BYTES, "topic_data")?;
    let mut topics = Vec::with_capacity(topic_count);
    for _ in 0..topic_count {
        let name = reader.string("topic name")?;
        let partition_count = reader.count(PRODUCE_PARTITION_MIN_BYTES, "partition_data")?;
        let mut partitions = Vec::with_capacity(partition_count);
        for _ in 0..partition_count {
            let index = reader.i32("partition index")?;
            let message_set = reader.bytes("records")?;
            partitions.push(LegacyProducePartition { index, message_set });
        }
        topics.push(LegacyProduceTopic { name, partitions });
    }
    Ok(LegacyProduceRequest {
        acks,
        timeout_ms,
        topics,
    })
}

/// Decodes a Fetch v0-v3 body (the bytes after the request header).
pub fn decode_fetch(body: &Bytes, version: i16) -> Result<LegacyFetchRequest, LegacyRequestError> {
    if !FETCH_VERSIONS.contains(&version) {
        return Err(LegacyRequestError::UnsupportedVersion(version));
    }
    let mut reader = BodyReader { body, position: 0 };
    let replica_id = reader.i32("replica_id")?;
    let max_wait_ms = reader.i32("max_wait_ms")?;
    let min_bytes = reader.i32("min_bytes")?;
    let max_bytes = if version >= 3 {
        reader.i32("max_bytes")?
    } else {
        i32::MAX
    };
    let topic_count = reader.count(TOPIC_MIN_BYTES, "topics")?;
    let mut topics = Vec::with_capacity(topic_count);
    for _ in 0..topic_count {
        let name = reader.string("topic name")?;
        let partition_count = reader.count(FETCH_PARTITION_BYTES, "partitions")?;
        let mut partitions = Vec::with_capacity(partition_count);
        for _ in 0..partition_count {
            partitions.push(LegacyFetchPartition {
                partition: reader.i32("partition")?,
                fetch_offset: reader.i64("fetch_offset")?,
                partition_max_bytes: reader.i32("partition_max_bytes")?,
            });
        }
        topics.push(LegacyFetchTopic { name, partitions });
    }
    Ok(LegacyFetchRequest {
        replica_id,
        max_wait_ms,
        min_bytes,
        max_bytes,
        topics,
    })
}

fn put_string(out: &mut BytesMut, value: &str) {
    out.put_i16(value.len() as i16);
    out.put_slice(value.as_bytes());
}

/// Writes the 4-byte frame length over the placeholder at the start.
fn finish_frame(mut out: BytesMut) -> BytesMut {
    let length = (out.len() - 4) as i32;
    out[..4].copy_from_slice(&length.to_be_bytes());
    out
}

/// The whole Produce v0-v2 response frame: length, header v0, body.
pub fn encode_produce_response(
    version: i16,
    correlation_id: i32,
    response: &LegacyProduceResponse,
) -> BytesMut {
    let mut out = BytesMut::with_capacity(64);
    out.put_i32(0);
    out.put_i32(correlation_id);
    out.put_i32(response.topics.len() as i32);
    for topic in &response.topics {
        put_string(&mut out, &topic.name);
        out.put_i32(topic.partitions.len() as i32);
        for partition in &topic.partitions {
            out.put_i32(partition.index);
            out.put_i16(partition.error_code);
            out.put_i64(partition.base_offset);
            if version >= 2 {
                out.put_i64(partition.log_append_time_ms);
            }
        }
    }
    if version >= 1 {
        out.put_i32(response.throttle_time_ms);
    }
    finish_frame(out)
}

/// The whole Fetch v0-v3 response frame: length, header v0, body.
pub fn encode_fetch_response(
    version: i16,
    correlation_id: i32,
    response: &LegacyFetchResponse,
) -> BytesMut {
    let records: usize = response
        .topics
        .iter()
        .flat_map(|topic| topic.partitions.iter())
        .map(|partition| partition.message_set.len())
        .sum();
    let mut out = BytesMut::with_capacity(64 + records);
    out.put_i32(0);
    out.put_i32(correlation_id);
    if version >= 1 {
        out.put_i32(response.throttle_time_ms);
    }
    out.put_i32(response.topics.len() as i32);
    for topic in &response.topics {
        put_string(&mut out, &topic.name);
        out.put_i32(topic.partitions.len() as i32);
        for partition in &topic.partitions {
            out.put_i32(partition.partition_index);
            out.put_i16(partition.error_code);
            out.put_i64(partition.high_watermark);
            out.put_i32(partition.message_set.len() as i32);
            out.put_slice(&partition.message_set);
        }
    }
    finish_frame(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Produce v0-v2 body, field by field: acks -1, timeout 1500, topic
    /// "t" with partitions 0 (records "abc") and 2 (null records).
    fn produce_body() -> Vec<u8> {
        let mut body = vec![
            0xff, 0xff, 0, 0, 0x05, 0xdc, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 2,
        ];
        body.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 3, b'a', b'b', b'c']);
        body.extend_from_slice(&[0, 0, 0, 2, 0xff, 0xff, 0xff, 0xff]);
        body
    }

    #[test]
    fn decodes_a_hand_built_produce_body() {
        for version in PRODUCE_VERSIONS {
            let request = decode_produce(&Bytes::from(produce_body()), version).unwrap();
            assert_eq!(
                request,
                LegacyProduceRequest {
                    acks: -1,
                    timeout_ms: 1500,
                    topics: vec![LegacyProduceTopic {
                        name: "t".into(),
                        partitions: vec![
                            LegacyProducePartition {
                                index: 0,
                                message_set: Bytes::from_static(b"abc"),
                            },
                            LegacyProducePartition {
                                index: 2,
                                message_set: Bytes::new(),
                            },
                        ],
                    }],
                }
            );
        }
        assert_eq!(
            decode_produce(&Bytes::from(produce_body()), 3),
            Err(LegacyRequestError::UnsupportedVersion(3))
        );
    }

    #[test]
    fn record_bytes_are_slices_of_the_request() {
        let body = Bytes::from(produce_body());
        let request = decode_produce(&body, 2).unwrap();
        let records = &request.topics[0].partitions[0].message_set;
        assert_eq!(records.as_ptr(), body[25..].as_ptr());
    }

    /// A Fetch body: replica -1, max_wait 500, min_bytes 1, [max_bytes
    /// 65536], topic "orders", partition 1 from offset 42, up to 1 MiB.
    fn fetch_body(version: i16) -> Vec<u8> {
        let mut body = vec![0xff, 0xff, 0xff, 0xff, 0, 0, 0x01, 0xf4, 0, 0, 0, 1];
        if version >= 3 {
            body.extend_from_slice(&[0, 1, 0, 0]);
        }
        body.extend_from_slice(&[0, 0, 0, 1, 0, 6]);
        body.extend_from_slice(b"orders");
        body.extend_from_slice(&[
            0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 42, 0, 0x10, 0, 0,
        ]);
        body
    }

    #[test]
    fn decodes_hand_built_fetch_bodies() {
        for version in FETCH_VERSIONS {
            let request = decode_fetch(&Bytes::from(fetch_body(version)), version).unwrap();
            assert_eq!(
                request,
                LegacyFetchRequest {
                    replica_id: -1,
                    max_wait_ms: 500,
                    min_bytes: 1,
                    max_bytes: if version >= 3 { 65536 } else { i32::MAX },
                    topics: vec![LegacyFetchTopic {
                        name: "orders".into(),
                        partitions: vec![LegacyFetchPartition {
                            partition: 1,
                            fetch_offset: 42,
                            partition_max_bytes: 1 << 20,
                        }],
                    }],
                },
                "version {version}"
            );
        }
        assert!(decode_fetch(&Bytes::from(fetch_body(3)), 4).is_err());
    }

    #[test]
    fn every_truncation_is_an_error() {
        let body = produce_body();
        for cut in 0..body.len() {
            assert!(
                decode_produce(&Bytes::copy_from_slice(&body[..cut]), 2).is_err(),
                "produce cut at {cut}"
            );
        }
        for version in FETCH_VERSIONS {
            let body = fetch_body(version);
            for cut in 0..body.len() {
                assert!(
                    decode_fetch(&Bytes::copy_from_slice(&body[..cut]), version).is_err(),
                    "fetch v{version} cut at {cut}"
                );
            }
        }
    }

    #[test]
    fn huge_counts_and_lengths_are_refused_before_allocating() {
        // 2^31-1 topics in a 20-byte body.
        let mut body = vec![0, 1, 0, 0, 0x05, 0xdc];
        body.extend_from_slice(&i32::MAX.to_be_bytes());
        body.extend_from_slice(&[0; 10]);
        assert!(matches!(
            decode_produce(&Bytes::from(body), 0),
            Err(LegacyRequestError::Malformed(_))
        ));
        // One topic claiming 2^31-1 partitions.
        let mut body = vec![0, 1, 0, 0, 0x05, 0xdc, 0, 0, 0, 1, 0, 1, b't'];
        body.extend_from_slice(&i32::MAX.to_be_bytes());
        assert!(matches!(
            decode_produce(&Bytes::from(body), 0),
            Err(LegacyRequestError::Malformed(_))
        ));
        // Records claiming 2 GiB.
        let mut body = vec![
            0, 1, 0, 0, 0x05, 0xdc, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 1, 0, 0, 0, 0,
        ];
        body.extend_from_slice(&i32::MAX.to_be_bytes());
        body.extend_from_slice(b"short");
        assert!(matches!(
            decode_produce(&Bytes::from(body), 1),
            Err(LegacyRequestError::Truncated(_))
        ));
        // Fetch: a count of partitions that cannot fit (each takes 16 bytes).
        let mut body = fetch_body(0);
        let count_at = 12 + 4 + 2 + 6;
        body[count_at..count_at + 4].copy_from_slice(&2i32.to_be_bytes());
        assert!(matches!(
            decode_fetch(&Bytes::from(body), 0),
            Err(LegacyRequestError::Malformed(_))
        ));
        // Negative and null lengths where the schema allows none.
        let mut body = fetch_body(0);
        body[16..18].copy_from_slice(&(-1i16).to_be_bytes());
        assert!(matches!(
            decode_fetch(&Bytes::from(body), 0),
            Err(LegacyRequestError::Malformed(_))
        ));
        let mut body = fetch_body(0);
        body[12..16].copy_from_slice(&(-1i32).to_be_bytes());
        assert!(matches!(
            decode_fetch(&Bytes::from(body), 0),
            Err(LegacyRequestError::Malformed(_))
        ));
    }

    #[test]
    fn produce_responses_are_byte_exact_in_every_version() {
        let response = LegacyProduceResponse {
            topics: vec![LegacyProduceTopicResponse {
                name: "t".into(),
                partitions: vec![LegacyProducePartitionResponse {
                    index: 2,
                    error_code: 0,
                    base_offset: 7,
                    log_append_time_ms: -1,
                }],
            }],
            throttle_time_ms: 0,
        };
        let topics = [
            0u8, 0, 0, 1, 0, 1, b't', 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7,
        ];
        let frame = |body: Vec<u8>| {
            let mut frame = ((body.len() + 4) as i32).to_be_bytes().to_vec();
            frame.extend_from_slice(&9i32.to_be_bytes());
            frame.extend(body);
            frame
        };
        assert_eq!(
            encode_produce_response(0, 9, &response).to_vec(),
            frame(topics.to_vec())
        );
        let mut v1 = topics.to_vec();
        v1.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(encode_produce_response(1, 9, &response).to_vec(), frame(v1));
        let mut v2 = topics.to_vec();
        v2.extend_from_slice(&[0xff; 8]);
        v2.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(encode_produce_response(2, 9, &response).to_vec(), frame(v2));
    }

    #[test]
    fn fetch_responses_are_byte_exact_in_every_version() {
        let response = LegacyFetchResponse {
            throttle_time_ms: 0,
            topics: vec![LegacyFetchTopicResponse {
                name: "t".into(),
                partitions: vec![
                    LegacyFetchPartitionResponse {
                        partition_index: 0,
                        error_code: 0,
                        high_watermark: 3,
                        message_set: Bytes::from_static(b"xyz"),
                    },
                    LegacyFetchPartitionResponse {
                        partition_index: 1,
                        error_code: 1,
                        high_watermark: -1,
                        message_set: Bytes::new(),
                    },
                ],
            }],
        };
        let mut topics = vec![0u8, 0, 0, 1, 0, 1, b't', 0, 0, 0, 2];
        topics.extend_from_slice(&[
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 3, b'x', b'y', b'z',
        ]);
        topics.extend_from_slice(&[
            0, 0, 0, 1, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0,
        ]);
        for version in FETCH_VERSIONS {
            let mut body = Vec::new();
            if version >= 1 {
                body.extend_from_slice(&[0, 0, 0, 0]);
            }
            body.extend_from_slice(&topics);
            let mut expected = ((body.len() + 4) as i32).to_be_bytes().to_vec();
            expected.extend_from_slice(&5i32.to_be_bytes());
            expected.extend(body);
            assert_eq!(
                encode_fetch_response(version, 5, &response).to_vec(),
                expected,
                "version {version}"
            );
        }
    }
}
