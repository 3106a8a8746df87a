//! Stored v2 batches into a magic 0 or 1 message set for an old fetch.
//!
//! Invariants: messages come out in offset order with absolute offsets,
//! none below the fetch offset; a batch yields no more messages than its
//! record count; output stays within `max_bytes` except for the first
//! message.

use bytes::{Bytes, BytesMut};

use super::compression::decompress;
use super::{
    message_body_bytes, put_message, LegacyError, ATTRIBUTE_LOG_APPEND_TIME,
    BATCH_ATTRIBUTE_COMPRESSION_MASK, BATCH_ATTRIBUTE_CONTROL, BATCH_ATTRIBUTE_LOG_APPEND_TIME,
    CODEC_GZIP, CODEC_NONE, CODEC_SNAPPY, LOG_OVERHEAD_BYTES, MAGIC_V0, MAGIC_V1,
    RECORD_V2_MIN_BYTES,
};
use crate::protocol::batch::{BatchHeader, BATCH_HEADER_BYTES, BATCH_LENGTH_PREFIX_BYTES};

/// The message format an old fetch version reads: magic 0 up to Fetch v1,
/// magic 1 for Fetch v2 and v3.
pub fn magic_for_fetch_version(version: i16) -> i8 {
    if version <= 1 {
        MAGIC_V0
    } else {
        MAGIC_V1
    }
}

/// Bounds for converting fetched batches.
#[derive(Debug, Clone, Copy)]
pub struct DownConversionLimits {
    /// Bytes of messages to return; the first message is returned whole
    /// even if larger, so a consumer can always make progress.
    pub max_bytes: usize,
    /// Bytes decompressing the batches may produce.
    pub decompressed_bytes_max: usize,
}

/// Converts stored v2 batches into an uncompressed message set of `magic`,
/// as Kafka does for old consumers: absolute offsets, records below
/// `fetch_offset` left out, record headers dropped (the old formats have
/// none), control batches skipped, and a partial batch at the end (a read
/// cut at its byte limit) ignored. A batch stamped with the log append time
/// gives each magic 1 message that time and the timestamp-type flag.
pub fn down_convert(
    batches: &Bytes,
    magic: i8,
    fetch_offset: i64,
    limits: DownConversionLimits,
) -> Result<Bytes, LegacyError> {
    let mut out = BytesMut::new();
    let mut budget = limits.decompressed_bytes_max;
    let mut position = 0;
    while batches.len() - position >= BATCH_HEADER_BYTES {
        let header = BatchHeader::view(&batches[position..]).expect("length checked above");
        if header.magic != 2 {
            return Err(LegacyError::UnsupportedMagic(header.magic));
        }
        if header.batch_length.get() < (BATCH_HEADER_BYTES - BATCH_LENGTH_PREFIX_BYTES) as i32 {
            return Err(LegacyError::Malformed(
                "batch length shorter than its header",
            ));
        }
        let total = header.total_bytes();
        if total > batches.len() - position {
            break; // the read ended inside this batch
        }
        let start = position;
        position += total;
        let attributes = header.attributes.get();
        if attributes & BATCH_ATTRIBUTE_CONTROL != 0 {
            continue;
        }
        let body = batches.slice(start + BATCH_HEADER_BYTES..start + total);
        let records = match (attributes & BATCH_ATTRIBUTE_COMPRESSION_MASK) as i8 {
            CODEC_NONE => body,
            codec @ (CODEC_GZIP | CODEC_SNAPPY) => {
                let records = decompress(codec, &body, budget)?;
                budget -= records.len();
                records
            }
            other => return Err(LegacyError::UnsupportedCompression(other)),
        };
        if !put_batch_messages(
            &mut out,
            header,
            &records,
            magic,
            fetch_offset,
            limits.max_bytes,
        )? {
            break;
        }
    }
    Ok(out.freeze())
}

/// Appends the records of one batch at or past `fetch_offset` as messages
/// of `magic`; false once the next message would pass `max_bytes` (the
/// first message of the set is always written).
fn put_batch_messages(
    out: &mut BytesMut,
    header: &BatchHeader,
    records: &[u8],
    magic: i8,
    fetch_offset: i64,
    max_bytes: usize,
) -> Result<bool, LegacyError> {
    let log_append_time = header.attributes.get() & BATCH_ATTRIBUTE_LOG_APPEND_TIME != 0;
    let count = header.records_count.get();
    if count < 0 || count as usize > records.len() / RECORD_V2_MIN_BYTES {
        return Err(LegacyError::Malformed(
            "more records claimed than bytes hold",
        ));
    }
    let mut reader = VarintReader::new(records);
    for _ in 0..count {
        let record = reader.record()?;
        let offset = header.base_offset.get().wrapping_add(record.offset_delta);
        if offset < fetch_offset {
            continue;
        }
        let (timestamp, message_attributes) = if log_append_time {
            (header.max_timestamp.get(), ATTRIBUTE_LOG_APPEND_TIME)
        } else {
            (
                header
                    .base_timestamp
                    .get()
                    .wrapping_add(record.timestamp_delta),
                0,
            )
        };
        let message_bytes = LOG_OVERHEAD_BYTES
            + message_body_bytes(magic, None, None)
            + record.key.as_ref().map_or(0, |key| key.len())
            + record.value.as_ref().map_or(0, |value| value.len());
        if !out.is_empty() && out.len() + message_bytes > max_bytes {
            return Ok(false);
        }
        let before = out.len();
        put_message(
            out,
            offset,
            magic,
            if magic == MAGIC_V1 {
                message_attributes
            } else {
                0
            },
            timestamp,
            record.key,
            record.value,
        );
        // The byte limit above counted exactly what was written.
        assert_eq!(out.len() - before, message_bytes);
    }
    Ok(true)
}

/// One v2 record's fields that the old formats carry.
struct RecordFields<'a> {
    timestamp_delta: i64,
    offset_delta: i64,
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
}

/// Reads v2 records (zigzag varints) from a batch's record bytes.
struct VarintReader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> VarintReader<'a> {
    fn new(bytes: &'a [u8]) -> VarintReader<'a> {
        VarintReader { bytes, position: 0 }
    }

    fn varlong(&mut self) -> Result<i64, LegacyError> {
        let mut raw = 0u64;
        for index in 0..10 {
            let byte = *self
                .bytes
                .get(self.position)
                .ok_or(LegacyError::Truncated("record varint"))?;
            self.position += 1;
            raw |= u64::from(byte & 0x7f) << (7 * index);
            if byte & 0x80 == 0 {
                return Ok((raw >> 1) as i64 ^ -((raw & 1) as i64));
            }
        }
        Err(LegacyError::Malformed("record varint longer than 10 bytes"))
    }

    fn length(&mut self) -> Result<Option<usize>, LegacyError> {
        match self.varlong()? {
            -1 => Ok(None),
            length if length < 0 => Err(LegacyError::Malformed("negative length in a record")),
            length => Ok(Some(length as usize)),
        }
    }

    fn take(&mut self, count: usize) -> Result<&'a [u8], LegacyError> {
        if count > self.bytes.len() - self.position {
            return Err(LegacyError::Truncated("record field"));
        }
        let slice = &self.bytes[self.position..self.position + count];
        self.position += count;
        Ok(slice)
    }

    fn nullable(&mut self) -> Result<Option<&'a [u8]>, LegacyError> {
        match self.length()? {
            None => Ok(None),
            Some(length) => self.take(length).map(Some),
        }
    }

    fn record(&mut self) -> Result<RecordFields<'a>, LegacyError> {
        let length = self
            .length()?
            .ok_or(LegacyError::Malformed("record without a length"))?;
        let end = self
            .position
            .checked_add(length)
            .filter(|end| *end <= self.bytes.len())
            .ok_or(LegacyError::Truncated("record"))?;
        let mut inner = VarintReader {
            bytes: &self.bytes[..end],
            position: self.position,
        };
        inner.take(1)?; // attributes: unused by any version yet
        let timestamp_delta = inner.varlong()?;
        let offset_delta = inner.varlong()?;
        let key = inner.nullable()?;
        let value = inner.nullable()?;
        // Headers: the old formats have no place for them, so they are
        // read past and dropped, as Kafka drops them.
        let header_count = inner
            .length()?
            .ok_or(LegacyError::Malformed("null header count"))?;
        for _ in 0..header_count {
            let key_length = inner
                .length()?
                .ok_or(LegacyError::Malformed("null header key"))?;
            inner.take(key_length)?;
            inner.nullable()?;
        }
        if inner.position != end {
            return Err(LegacyError::Malformed(
                "record length does not match its fields",
            ));
        }
        self.position = end;
        Ok(RecordFields {
            timestamp_delta,
            offset_delta,
            key,
            value,
        })
    }
}
