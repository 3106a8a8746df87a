//! A produced magic 0 or 1 message set into one v2 batch.
//!
//! Invariants: the batch holds exactly the messages of the set (a wrapper's
//! inner messages in its place), with offset deltas 0, 1, 2... in order and
//! a record count equal to the messages converted; its CRC-32C is set.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::compression::{Compressor, Gzip, Snappy};

use super::compression::decompress;
use super::decode::{messages, PartialTail};
use super::{
    message_body_bytes, LegacyError, LegacyMessage, ATTRIBUTE_LOG_APPEND_TIME, CODEC_GZIP,
    CODEC_NONE, LOG_OVERHEAD_BYTES, MAGIC_V1,
};
use crate::protocol::batch::{
    compute_crc, BatchHeader, BATCH_HEADER_BYTES, BATCH_LENGTH_PREFIX_BYTES,
};

/// Bounds for converting one produced message set.
#[derive(Debug, Clone, Copy)]
pub struct UpConversionLimits {
    /// The topic's `max.message.bytes`: no message (a compressed wrapper is
    /// one message) may be larger, as Kafka checks it before converting.
    pub message_bytes_max: usize,
    /// Bytes decompressing all wrappers of the set may produce.
    pub decompressed_bytes_max: usize,
}

/// A produced message set as one RecordBatch v2.
#[derive(Debug, Clone)]
pub struct UpConverted {
    /// The batch, offsets from 0, CRC set, ready for `validate_batches`.
    pub batch: Bytes,
    pub record_count: usize,
}

/// Converts a produced magic 0 or 1 message set into one v2 batch, as Kafka
/// does for old producers: every message (inside its wrapper, if
/// compressed) becomes a record with the message's key, value and timestamp
/// (magic 0 has none: [`NO_TIMESTAMP`]); offsets are the broker's to assign.
/// A compressed set is re-compressed with its own codec (Kafka's default
/// `compression.type=producer`); wrappers of a magic 1 set with the log
/// append time flag give their records the wrapper's timestamp.
///
/// Records are written as they are read, so the memory this takes is the
/// size of the records, not a multiple of their count.
pub fn up_convert(set: &Bytes, limits: UpConversionLimits) -> Result<UpConverted, LegacyError> {
    let mut budget = limits.decompressed_bytes_max;
    let mut codec_seen = CODEC_NONE;
    let mut builder = BatchBuilder::default();
    for message in messages(set, PartialTail::Refuse) {
        let message = message?;
        let message_bytes = LOG_OVERHEAD_BYTES
            + message_body_bytes(message.magic, message.key.as_ref(), message.value.as_ref());
        if message_bytes > limits.message_bytes_max {
            return Err(LegacyError::TooLarge {
                message_bytes,
                limit_bytes: limits.message_bytes_max,
            });
        }
        let codec = message.codec();
        if codec == CODEC_NONE {
            builder.push(
                message.key.as_deref(),
                message.value.as_deref(),
                message.timestamp,
            )?;
            continue;
        }
        budget -= builder.push_wrapper(&message, budget)?;
        if codec_seen == CODEC_NONE {
            codec_seen = codec;
        }
    }
    if builder.count == 0 {
        return Err(LegacyError::Malformed("no message in the message set"));
    }
    let record_count = builder.count;
    let batch = builder.finish(codec_seen)?;
    // Read back what was written: one record per message, offset deltas
    // 0 to count - 1.
    let header = BatchHeader::view(&batch).expect("a finished batch has a whole header");
    assert_eq!(header.records_count.get() as usize, record_count);
    assert_eq!(header.last_offset_delta.get() as usize, record_count - 1);
    assert_eq!(header.total_bytes(), batch.len());
    Ok(UpConverted {
        batch,
        record_count,
    })
}

/// Writes v2 records as they come, then the batch header around them.
#[derive(Default)]
struct BatchBuilder {
    records: BytesMut,
    /// One record's fields, before its length is known.
    scratch: BytesMut,
    count: usize,
    base_timestamp: i64,
    max_timestamp: i64,
}

impl BatchBuilder {
    /// Pushes the messages inside a compressed wrapper; returns the bytes
    /// decompressing it took from `budget`.
    fn push_wrapper(
        &mut self,
        wrapper: &LegacyMessage,
        budget: usize,
    ) -> Result<usize, LegacyError> {
        let compressed = wrapper
            .value
            .as_ref()
            .ok_or(LegacyError::Malformed("compressed wrapper without a value"))?;
        let inner_bytes = decompress(wrapper.codec(), compressed, budget)?;
        let log_append_time =
            wrapper.magic == MAGIC_V1 && wrapper.attributes & ATTRIBUTE_LOG_APPEND_TIME != 0;
        let mut inner_count = 0usize;
        for inner_message in messages(&inner_bytes, PartialTail::Refuse) {
            let inner_message = inner_message?;
            if inner_message.codec() != CODEC_NONE {
                return Err(LegacyError::Malformed(
                    "compressed message inside a wrapper",
                ));
            }
            if inner_message.magic != wrapper.magic {
                return Err(LegacyError::Malformed(
                    "inner message magic differs from its wrapper",
                ));
            }
            let timestamp = if log_append_time {
                wrapper.timestamp
            } else {
                inner_message.timestamp
            };
            self.push(
                inner_message.key.as_deref(),
                inner_message.value.as_deref(),
                timestamp,
            )?;
            inner_count += 1;
        }
        if inner_count == 0 {
            return Err(LegacyError::Malformed(
                "compressed wrapper holds no message",
            ));
        }
        Ok(inner_bytes.len())
    }

    fn push(
        &mut self,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        timestamp: i64,
    ) -> Result<(), LegacyError> {
        if self.count == 0 {
            // Kafka's builders take the first record's time as the base.
            self.base_timestamp = timestamp;
            self.max_timestamp = timestamp;
        }
        if self.count >= i32::MAX as usize {
            return Err(LegacyError::Malformed("more records than a batch holds"));
        }
        self.max_timestamp = self.max_timestamp.max(timestamp);
        let scratch = &mut self.scratch;
        scratch.clear();
        scratch.put_u8(0); // record attributes: none defined
        put_varlong(scratch, timestamp.wrapping_sub(self.base_timestamp));
        put_varlong(scratch, self.count as i64); // offset delta
        for field in [key, value] {
            match field {
                Some(bytes) => {
                    put_varlong(scratch, bytes.len() as i64);
                    scratch.put_slice(bytes);
                }
                None => put_varlong(scratch, -1),
            }
        }
        put_varlong(scratch, 0); // no headers: the old formats have none
        put_varlong(&mut self.records, scratch.len() as i64);
        self.records.put_slice(scratch);
        self.count += 1;
        Ok(())
    }

    /// The batch: offsets from 0, no producer id, `codec` applied to the
    /// records, CRC-32C set.
    fn finish(self, codec: i8) -> Result<Bytes, LegacyError> {
        let mut batch = BytesMut::with_capacity(BATCH_HEADER_BYTES + self.records.len());
        batch.put_i64(0); // base offset, assigned on append
        batch.put_i32(0); // batch length, set below
        batch.put_i32(-1); // partition leader epoch, set on append
        batch.put_i8(2);
        batch.put_u32(0); // CRC, set below
        batch.put_i16(i16::from(codec));
        batch.put_i32(self.count as i32 - 1); // last offset delta
        batch.put_i64(self.base_timestamp);
        batch.put_i64(self.max_timestamp);
        batch.put_i64(-1); // producer id: not idempotent
        batch.put_i16(-1); // producer epoch
        batch.put_i32(-1); // base sequence
        batch.put_i32(self.count as i32);
        debug_assert_eq!(batch.len(), BATCH_HEADER_BYTES);
        let records = self.records;
        let fill = |buffer: &mut BytesMut| {
            buffer.put_slice(&records);
            Ok(())
        };
        let compressed = match codec {
            CODEC_NONE => fill(&mut batch),
            CODEC_GZIP => Gzip::compress(&mut batch, fill),
            _ => Snappy::compress(&mut batch, fill),
        };
        compressed
            .map_err(|error| LegacyError::Decompression(format!("re-compression: {error:#}")))?;
        let length = (batch.len() - BATCH_LENGTH_PREFIX_BYTES) as i32;
        batch[8..12].copy_from_slice(&length.to_be_bytes());
        let crc = compute_crc(&batch);
        batch[17..21].copy_from_slice(&crc.to_be_bytes());
        Ok(batch.freeze())
    }
}

/// A zigzag varlong, as v2 records encode their fields.
fn put_varlong(out: &mut BytesMut, value: i64) {
    let mut raw = ((value << 1) ^ (value >> 63)) as u64;
    while raw >= 0x80 {
        out.put_u8((raw as u8 & 0x7f) | 0x80);
        raw >>= 7;
    }
    out.put_u8(raw as u8);
}
