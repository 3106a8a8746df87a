//! Fetch responses (v4-v18) framed as a list of pieces: the small fields go
//! into short buffers, and each partition's record batches follow as the
//! pieces the read produced (cached `Bytes` or file ranges), so records are
//! never copied into a response buffer. The layout is Kafka's FetchResponse
//! schema; the tests check it byte for byte against the generated codec.
//! The region type `R` of file pieces is the caller's (the runtime's file
//! regions in the broker): encoding only needs their lengths.
//!
//! Invariants: each partition's records length is the sum of its pieces'
//! lengths, and the frame's length prefix counts every piece after it.

use bytes::{BufMut, Bytes, BytesMut};

use super::piece::{Piece, Region};

/// One partition's part of a Fetch response.
#[derive(Debug, Clone)]
pub struct FetchedPartition<R> {
    pub partition_index: i32,
    pub error_code: i16,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    /// v12+, to a follower whose log diverges: (epoch, end offset) to
    /// truncate by (tagged field 0; not sent when `None`).
    pub diverging_epoch: Option<(i32, i64)>,
    /// Record batches as stored, in order.
    pub records: Vec<Piece<R>>,
}

// By hand: a derived Default would ask `R: Default`, which a region is not.
impl<R> Default for FetchedPartition<R> {
    fn default() -> Self {
        FetchedPartition {
            partition_index: 0,
            error_code: 0,
            high_watermark: 0,
            last_stable_offset: 0,
            log_start_offset: 0,
            diverging_epoch: None,
            records: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct FetchedTopic<R> {
    /// v4-v12 name the topic.
    pub name: Bytes,
    /// v13+ give its id instead (KIP-516).
    pub topic_id: [u8; 16],
    pub partitions: Vec<FetchedPartition<R>>,
}

#[derive(Debug, Clone)]
pub struct FetchReply<R> {
    pub error_code: i16,
    pub topics: Vec<FetchedTopic<R>>,
}

/// The whole response frame (length prefix, header, body) for `version`.
pub fn encode<R: Region>(
    version: i16,
    correlation_id: i32,
    reply: &FetchReply<R>,
) -> Vec<Piece<R>> {
    let flexible = version >= 12;
    let mut writer = PieceWriter::new();
    // Response header: v1 (with tagged fields) for flexible versions.
    writer.fields.put_i32(correlation_id);
    if flexible {
        put_unsigned_varint(&mut writer.fields, 0);
    }
    writer.fields.put_i32(0); // throttle_time_ms
    if version >= 7 {
        writer.fields.put_i16(reply.error_code);
        writer.fields.put_i32(0); // session_id: sessions are not kept
    }
    put_array_length(&mut writer.fields, flexible, reply.topics.len());
    for topic in &reply.topics {
        if version >= 13 {
            writer.fields.put_slice(&topic.topic_id);
        } else if flexible {
            put_unsigned_varint(&mut writer.fields, topic.name.len() as u32 + 1);
            writer.fields.put_slice(&topic.name);
        } else {
            writer.fields.put_i16(topic.name.len() as i16);
            writer.fields.put_slice(&topic.name);
        }
        put_array_length(&mut writer.fields, flexible, topic.partitions.len());
        for partition in &topic.partitions {
            let fields = &mut writer.fields;
            fields.put_i32(partition.partition_index);
            fields.put_i16(partition.error_code);
            fields.put_i64(partition.high_watermark);
            fields.put_i64(partition.last_stable_offset);
            if version >= 5 {
                fields.put_i64(partition.log_start_offset);
            }
            // aborted_transactions: none (no transactions are written).
            put_array_length(fields, flexible, 0);
            if version >= 11 {
                fields.put_i32(-1); // preferred_read_replica: this broker
            }
            let length: usize = partition.records.iter().map(Piece::len).sum();
            if flexible {
                put_unsigned_varint(fields, length as u32 + 1);
            } else {
                fields.put_i32(length as i32);
            }
            for piece in &partition.records {
                writer.push(piece.clone());
            }
            if flexible {
                put_partition_tags(&mut writer.fields, partition.diverging_epoch);
            }
        }
        if flexible {
            put_unsigned_varint(&mut writer.fields, 0); // topic tags
        }
    }
    if flexible {
        put_unsigned_varint(&mut writer.fields, 0); // response tags
    }
    writer.finish()
}

/// A partition's tagged fields: the diverging epoch (tag 0: epoch, end
/// offset, its own empty tag buffer) when there is one.
fn put_partition_tags(fields: &mut BytesMut, diverging_epoch: Option<(i32, i64)>) {
    match diverging_epoch {
        None => put_unsigned_varint(fields, 0),
        Some((epoch, end_offset)) => {
            put_unsigned_varint(fields, 1); // one tagged field
            put_unsigned_varint(fields, 0); // tag 0: DivergingEpoch
            put_unsigned_varint(fields, 4 + 8 + 1); // its size
            fields.put_i32(epoch);
            fields.put_i64(end_offset);
            put_unsigned_varint(fields, 0); // its tags
        }
    }
}

/// Collects pieces, keeping the fields between record pieces in one buffer.
struct PieceWriter<R> {
    pieces: Vec<Piece<R>>,
    fields: BytesMut,
}

impl<R: Region> PieceWriter<R> {
    fn new() -> Self {
        PieceWriter {
            pieces: Vec::new(),
            fields: BytesMut::new(),
        }
    }

    fn push(&mut self, piece: Piece<R>) {
        if piece.is_empty() {
            return;
        }
        if !self.fields.is_empty() {
            let fields = self.fields.split().freeze();
            self.pieces.push(Piece::Memory(fields));
        }
        self.pieces.push(piece);
    }

    /// The pieces behind a 4-byte length prefix, which goes in the first
    /// fields buffer.
    fn finish(mut self) -> Vec<Piece<R>> {
        if !self.fields.is_empty() {
            let fields = self.fields.split().freeze();
            self.pieces.push(Piece::Memory(fields));
        }
        let length: usize = self.pieces.iter().map(Piece::len).sum();
        match self.pieces.first_mut() {
            Some(Piece::Memory(first)) => {
                let mut framed = BytesMut::with_capacity(4 + first.len());
                framed.put_i32(length as i32);
                framed.put_slice(first);
                *first = framed.freeze();
            }
            _ => unreachable!("a response starts with its header fields"),
        }
        self.pieces
    }
}

fn put_array_length(buffer: &mut BytesMut, flexible: bool, length: usize) {
    if flexible {
        put_unsigned_varint(buffer, length as u32 + 1);
    } else {
        buffer.put_i32(length as i32);
    }
}

fn put_unsigned_varint(buffer: &mut BytesMut, mut value: u32) {
    while value >= 0x80 {
        buffer.put_u8((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    buffer.put_u8(value as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame;
    use crate::protocol::piece::NoRegion;

    type Piece = super::Piece<NoRegion>;
    type FetchReply = super::FetchReply<NoRegion>;
    type FetchedTopic = super::FetchedTopic<NoRegion>;
    type FetchedPartition = super::FetchedPartition<NoRegion>;
    use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
    use kafka_protocol::messages::{ApiKey, FetchResponse, TopicName};
    use kafka_protocol::protocol::StrBytes;

    fn flatten(pieces: &[Piece]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for piece in pieces {
            match piece {
                Piece::Memory(memory) => bytes.extend_from_slice(memory),
                Piece::File(never) => match *never {},
            }
        }
        bytes
    }

    #[test]
    fn matches_the_generated_codec_byte_for_byte_in_every_version() {
        // 200 bytes make the flexible length varint take two bytes.
        let first = Bytes::from(vec![7u8; 200]);
        let second = Bytes::from(vec![9u8; 30]);
        let ours = FetchReply {
            error_code: 0,
            topics: vec![
                FetchedTopic {
                    name: Bytes::from_static(b"orders"),
                    topic_id: [3; 16],
                    partitions: vec![
                        FetchedPartition {
                            partition_index: 0,
                            error_code: 0,
                            high_watermark: 42,
                            last_stable_offset: 42,
                            log_start_offset: 3,
                            diverging_epoch: None,
                            records: vec![
                                Piece::Memory(first.clone()),
                                Piece::Memory(second.clone()),
                            ],
                        },
                        FetchedPartition {
                            partition_index: 1,
                            error_code: 1,
                            high_watermark: -1,
                            last_stable_offset: -1,
                            log_start_offset: -1,
                            diverging_epoch: None,
                            records: Vec::new(),
                        },
                    ],
                },
                FetchedTopic {
                    name: Bytes::from_static(b"empty"),
                    topic_id: [4; 16],
                    partitions: Vec::new(),
                },
            ],
        };
        let mut joined = first.to_vec();
        joined.extend_from_slice(&second);
        // v13+ name topics by id; the codec refuses a field its version lacks.
        let topic = |version: i16, name: &'static str, id: u8| {
            if version >= 13 {
                FetchableTopicResponse::default().with_topic_id(uuid::Uuid::from_bytes([id; 16]))
            } else {
                FetchableTopicResponse::default()
                    .with_topic(TopicName(StrBytes::from_static_str(name)))
            }
        };
        for version in 4..=18 {
            let theirs = FetchResponse::default().with_responses(vec![
                topic(version, "orders", 3).with_partitions(vec![
                    PartitionData::default()
                        .with_partition_index(0)
                        .with_high_watermark(42)
                        .with_last_stable_offset(42)
                        .with_log_start_offset(3)
                        .with_records(Some(Bytes::from(joined.clone()))),
                    PartitionData::default()
                        .with_partition_index(1)
                        .with_error_code(1)
                        .with_high_watermark(-1),
                ]),
                topic(version, "empty", 4),
            ]);
            let expected = frame::encode_response(ApiKey::Fetch, version, 77, &theirs).unwrap();
            assert_eq!(
                flatten(&encode(version, 77, &ours)),
                expected.to_vec(),
                "version {version}"
            );
        }
    }

    #[test]
    fn records_are_passed_through_not_copied() {
        let records = Bytes::from(vec![1u8; 1000]);
        let reply = FetchReply {
            error_code: 0,
            topics: vec![FetchedTopic {
                name: Bytes::from_static(b"t"),
                topic_id: [0; 16],
                partitions: vec![FetchedPartition {
                    records: vec![Piece::Memory(records.clone())],
                    ..FetchedPartition::default()
                }],
            }],
        };
        let pieces = encode(12, 1, &reply);
        assert_eq!(pieces.len(), 3, "fields, records, trailing fields");
        let Piece::Memory(sent) = &pieces[1] else {
            panic!("records piece")
        };
        assert_eq!(sent.as_ptr(), records.as_ptr());
    }

    #[test]
    fn a_top_level_error_has_no_topics() {
        let reply = FetchReply {
            error_code: 70,
            topics: Vec::new(),
        };
        let expected = frame::encode_response(
            ApiKey::Fetch,
            7,
            5,
            &FetchResponse::default().with_error_code(70),
        )
        .unwrap();
        assert_eq!(flatten(&encode(7, 5, &reply)), expected.to_vec());
    }
}
