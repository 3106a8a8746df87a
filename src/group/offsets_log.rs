//! The records of the internal offsets topic (`__consumer_offsets`), in the
//! key and value layouts Kafka documents for it, so tools that read that
//! topic understand ours:
//!
//! - offset commit: key v1 `(group, topic, partition)`, value v3
//!   `(offset, leader_epoch, metadata, commit_timestamp)`;
//! - group metadata: key v2 `(group)`, value v3 (protocol type, generation,
//!   protocol, leader, state timestamp, members);
//! - a null value (tombstone) deletes what its key names.
//!
//! Strings are int16-length-prefixed UTF-8 (-1 for null), bytes are
//! int32-length-prefixed. Decoding never panics: a record that does not
//! parse is reported and skipped by the loader.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::records::{Compression, Record, RecordBatchDecoder};

use super::membership::{StoredGroup, StoredMember};
use crate::protocol::records as protocol_records;

const OFFSET_KEY_VERSION: i16 = 1;
const GROUP_KEY_VERSION: i16 = 2;
const OFFSET_VALUE_VERSION: i16 = 3;
const GROUP_VALUE_VERSION: i16 = 3;

/// A committed offset, as OffsetFetch returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
}

/// One record of the offsets topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OffsetsRecord {
    Offset {
        group: String,
        topic: String,
        partition: i32,
        /// `None`: the commit is deleted.
        value: Option<CommittedOffset>,
    },
    Group {
        group: String,
        /// `None`: the group is deleted.
        value: Option<StoredGroup>,
    },
}

impl OffsetsRecord {
    fn key(&self) -> Bytes {
        let mut key = BytesMut::new();
        match self {
            OffsetsRecord::Offset {
                group,
                topic,
                partition,
                ..
            } => {
                key.put_i16(OFFSET_KEY_VERSION);
                put_string(&mut key, Some(group));
                put_string(&mut key, Some(topic));
                key.put_i32(*partition);
            }
            OffsetsRecord::Group { group, .. } => {
                key.put_i16(GROUP_KEY_VERSION);
                put_string(&mut key, Some(group));
            }
        }
        key.freeze()
    }

    fn value(&self) -> Option<Bytes> {
        let mut value = BytesMut::new();
        match self {
            OffsetsRecord::Offset { value: None, .. }
            | OffsetsRecord::Group { value: None, .. } => return None,
            OffsetsRecord::Offset {
                value: Some(committed),
                ..
            } => {
                value.put_i16(OFFSET_VALUE_VERSION);
                value.put_i64(committed.offset);
                value.put_i32(committed.leader_epoch);
                put_string(&mut value, Some(&committed.metadata));
                value.put_i64(committed.commit_timestamp);
            }
            OffsetsRecord::Group {
                value: Some(group), ..
            } => {
                value.put_i16(GROUP_VALUE_VERSION);
                put_string(&mut value, Some(&group.protocol_type));
                value.put_i32(group.generation_id);
                put_string(&mut value, group.protocol_name.as_deref());
                put_string(&mut value, group.leader.as_deref());
                value.put_i64(group.state_timestamp_milliseconds);
                value.put_i32(group.members.len() as i32);
                for member in &group.members {
                    put_string(&mut value, Some(&member.member_id));
                    put_string(&mut value, member.group_instance_id.as_deref());
                    put_string(&mut value, Some(&member.client_id));
                    put_string(&mut value, Some(&member.client_host));
                    value.put_i32(member.rebalance_timeout_ms);
                    value.put_i32(member.session_timeout_ms);
                    put_bytes(&mut value, &member.subscription);
                    put_bytes(&mut value, &member.assignment);
                }
            }
        }
        Some(value.freeze())
    }

    /// Parses one record's key and value.
    pub fn decode(key: &[u8], value: Option<&[u8]>) -> Result<OffsetsRecord, DecodeError> {
        let mut key = Reader(key);
        match key.i16()? {
            0 | OFFSET_KEY_VERSION => {
                let group = key.string()?.ok_or(DecodeError("null group"))?;
                let topic = key.string()?.ok_or(DecodeError("null topic"))?;
                let partition = key.i32()?;
                let value = value.map(decode_offset).transpose()?;
                Ok(OffsetsRecord::Offset {
                    group,
                    topic,
                    partition,
                    value,
                })
            }
            GROUP_KEY_VERSION => {
                let group = key.string()?.ok_or(DecodeError("null group"))?;
                let value = value.map(decode_group).transpose()?;
                Ok(OffsetsRecord::Group { group, value })
            }
            _ => Err(DecodeError("unknown key version")),
        }
    }
}

fn decode_offset(bytes: &[u8]) -> Result<CommittedOffset, DecodeError> {
    let mut value = Reader(bytes);
    let version = value.i16()?;
    if !(1..=OFFSET_VALUE_VERSION).contains(&version) {
        return Err(DecodeError("unknown offset value version"));
    }
    let offset = value.i64()?;
    let leader_epoch = if version >= 3 { value.i32()? } else { -1 };
    let metadata = value.string()?.unwrap_or_default();
    let commit_timestamp = value.i64()?;
    Ok(CommittedOffset {
        offset,
        leader_epoch,
        metadata,
        commit_timestamp,
    })
}

fn decode_group(bytes: &[u8]) -> Result<StoredGroup, DecodeError> {
    let mut value = Reader(bytes);
    if value.i16()? != GROUP_VALUE_VERSION {
        return Err(DecodeError("unknown group value version"));
    }
    let protocol_type = value.string()?.unwrap_or_default();
    let generation_id = value.i32()?;
    let protocol_name = value.string()?;
    let leader = value.string()?;
    let state_timestamp_milliseconds = value.i64()?;
    let count = value.i32()?;
    let mut members = Vec::new();
    for _ in 0..count.max(0) {
        members.push(StoredMember {
            member_id: value.string()?.ok_or(DecodeError("null member id"))?,
            group_instance_id: value.string()?,
            client_id: value.string()?.unwrap_or_default(),
            client_host: value.string()?.unwrap_or_default(),
            rebalance_timeout_ms: value.i32()?,
            session_timeout_ms: value.i32()?,
            subscription: value.bytes()?,
            assignment: value.bytes()?,
        });
    }
    Ok(StoredGroup {
        protocol_type,
        generation_id,
        protocol_name,
        leader,
        state_timestamp_milliseconds,
        members,
    })
}

/// Why a stored record did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeError(pub &'static str);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.0)
    }
}

fn put_string(buffer: &mut BytesMut, text: Option<&str>) {
    match text {
        None => buffer.put_i16(-1),
        Some(text) => {
            // Every string here was bounded by a request that fit a frame;
            // a longer one is cut rather than written with a wrong length.
            let bytes = &text.as_bytes()[..text.len().min(i16::MAX as usize)];
            buffer.put_i16(bytes.len() as i16);
            buffer.put_slice(bytes);
        }
    }
}

fn put_bytes(buffer: &mut BytesMut, bytes: &[u8]) {
    buffer.put_i32(bytes.len() as i32);
    buffer.put_slice(bytes);
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, count: usize) -> Result<&[u8], DecodeError> {
        if self.0.len() < count {
            return Err(DecodeError("record too short"));
        }
        let (taken, rest) = self.0.split_at(count);
        self.0 = rest;
        Ok(taken)
    }

    fn i16(&mut self) -> Result<i16, DecodeError> {
        Ok(i16::from_be_bytes(
            self.take(2)?.try_into().expect("two bytes"),
        ))
    }

    fn i32(&mut self) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(
            self.take(4)?.try_into().expect("four bytes"),
        ))
    }

    fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(
            self.take(8)?.try_into().expect("eight bytes"),
        ))
    }

    fn string(&mut self) -> Result<Option<String>, DecodeError> {
        let length = self.i16()?;
        if length < 0 {
            return Ok(None);
        }
        let bytes = self.take(length as usize)?;
        String::from_utf8(bytes.to_vec())
            .map(Some)
            .map_err(|_| DecodeError("string is not UTF-8"))
    }

    fn bytes(&mut self) -> Result<Bytes, DecodeError> {
        let length = self.i32()?;
        if length < 0 {
            return Ok(Bytes::new());
        }
        Ok(Bytes::copy_from_slice(self.take(length as usize)?))
    }
}

/// One uncompressed record batch holding `records`, ready for
/// `Partition::append` (which assigns the offsets).
pub fn encode_batch(records: &[OffsetsRecord], now_milliseconds: i64) -> Bytes {
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(index, record)| {
            protocol_records::record(index, Some(record.key()), record.value(), now_milliseconds)
        })
        .collect();
    protocol_records::encode_batch(&records, Compression::None)
}

/// The records of one stored batch; a record that does not parse is
/// reported through `skipped` and left out.
pub fn decode_batch(batch: &Bytes, skipped: &mut dyn FnMut(DecodeError)) -> Vec<OffsetsRecord> {
    let mut bytes = batch.clone();
    let Ok(set) = RecordBatchDecoder::decode(&mut bytes) else {
        skipped(DecodeError("record batch does not decode"));
        return Vec::new();
    };
    set.records
        .iter()
        .filter(|record| !record.control)
        .filter_map(|record| {
            let key = record.key.as_ref()?;
            match OffsetsRecord::decode(key, record.value.as_deref()) {
                Ok(decoded) => Some(decoded),
                Err(error) => {
                    skipped(error);
                    None
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored_group() -> StoredGroup {
        StoredGroup {
            protocol_type: "consumer".into(),
            generation_id: 4,
            protocol_name: Some("range".into()),
            leader: Some("m-1".into()),
            state_timestamp_milliseconds: 1_700_000_000_000,
            members: vec![StoredMember {
                member_id: "m-1".into(),
                group_instance_id: Some("i-1".into()),
                client_id: "client".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout_ms: 60_000,
                session_timeout_ms: 10_000,
                subscription: Bytes::from_static(b"sub"),
                assignment: Bytes::from_static(b"assign"),
            }],
        }
    }

    #[test]
    fn records_round_trip_through_a_batch() {
        let records = vec![
            OffsetsRecord::Offset {
                group: "g".into(),
                topic: "t".into(),
                partition: 3,
                value: Some(CommittedOffset {
                    offset: 42,
                    leader_epoch: -1,
                    metadata: "meta".into(),
                    commit_timestamp: 7,
                }),
            },
            OffsetsRecord::Offset {
                group: "g".into(),
                topic: "t".into(),
                partition: 4,
                value: None,
            },
            OffsetsRecord::Group {
                group: "g".into(),
                value: Some(stored_group()),
            },
            OffsetsRecord::Group {
                group: "h".into(),
                value: None,
            },
        ];
        let batch = encode_batch(&records, 99);
        let mut errors = Vec::new();
        let decoded = decode_batch(&batch, &mut |error| errors.push(error));
        assert!(errors.is_empty());
        assert_eq!(decoded, records);
    }

    #[test]
    fn truncated_values_are_errors_not_panics() {
        let record = OffsetsRecord::Group {
            group: "g".into(),
            value: Some(stored_group()),
        };
        let key = record.key();
        let value = record.value().unwrap();
        for cut in 0..value.len() {
            assert!(OffsetsRecord::decode(&key, Some(&value[..cut])).is_err());
        }
        assert!(OffsetsRecord::decode(&key[..3], None).is_err());
        assert!(OffsetsRecord::decode(&[0, 9], None).is_err());
    }
}
