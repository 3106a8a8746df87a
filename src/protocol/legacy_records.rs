//! The message formats before RecordBatch v2 (magic 0 and magic 1 message
//! sets), converted to and from the v2 batches corelog stores.
//!
//! Old clients (kafka-go 0.2.1 among them) produce with Produce v0-v2, whose
//! records are a message set of magic 0 or 1, and fetch with Fetch v0-v3,
//! which can only carry such message sets. Like Apache Kafka 3.x, the broker
//! converts: a produced message set becomes one v2 batch ([`up_convert`]),
//! and stored v2 batches become a magic 0 or 1 message set for an old fetch
//! ([`down_convert`]).
//!
//! The layout of one message (Kafka's "message format", KIP-32 for magic 1):
//! `offset: i64, message_size: i32`, then `message_size` bytes of
//! `crc: u32, magic: i8, attributes: i8, [timestamp: i64 if magic 1],
//! key_length: i32, key, value_length: i32, value`. The CRC is CRC-32 (IEEE),
//! not the Castagnoli CRC of v2 batches, and covers `magic` to the end.
//! Attributes bits 0-2 name the compression codec; bit 3 (magic 1) says the
//! timestamp is the log append time. A compressed message is a wrapper: its
//! value is a whole message set, compressed; inside, magic 1 messages carry
//! offsets relative to the first (KIP-31), magic 0 messages absolute ones.
//!
//! Invariants: nothing here allocates from a length read off the wire before
//! checking that many bytes are left; decompressed output is bounded by the
//! caller's `decompressed_bytes_max`; every message that is accepted passed
//! its CRC; every message written carries a correct CRC. No IO.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::compression::{Compressor, Decompressor, Gzip, Snappy};

use super::batch::{compute_crc, BatchHeader, BATCH_HEADER_BYTES, BATCH_LENGTH_PREFIX_BYTES};
use super::error::ErrorCode;

pub const MAGIC_V0: i8 = 0;
pub const MAGIC_V1: i8 = 1;

/// A message without a timestamp (every magic 0 message).
pub const NO_TIMESTAMP: i64 = -1;

/// `offset` and `message_size` precede every message.
pub const LOG_OVERHEAD_BYTES: usize = 12;
/// crc, magic, attributes, key length, value length.
const MESSAGE_V0_MIN_BYTES: usize = 4 + 1 + 1 + 4 + 4;
/// The same plus the timestamp.
const MESSAGE_V1_MIN_BYTES: usize = MESSAGE_V0_MIN_BYTES + 8;

const ATTRIBUTE_CODEC_MASK: i8 = 0x07;
const ATTRIBUTE_LOG_APPEND_TIME: i8 = 0x08;
const CODEC_NONE: i8 = 0;
const CODEC_GZIP: i8 = 1;
const CODEC_SNAPPY: i8 = 2;

/// v2 batch attribute bits read when converting down.
const BATCH_ATTRIBUTE_COMPRESSION_MASK: i16 = 0x07;
const BATCH_ATTRIBUTE_LOG_APPEND_TIME: i16 = 0x08;
const BATCH_ATTRIBUTE_CONTROL: i16 = 0x20;

/// Smallest v2 record: length, attributes, timestamp delta, offset delta,
/// key length, value length, header count, one byte each.
const RECORD_V2_MIN_BYTES: usize = 7;

/// Why a message set could not be converted; maps to a wire error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegacyError {
    /// Lengths that run past the bytes there are.
    Truncated(&'static str),
    /// Impossible lengths, a message set with no message, nested wrappers.
    Malformed(&'static str),
    /// The stored CRC-32 does not match the message.
    CrcMismatch { stored: u32, computed: u32 },
    /// A magic other than 0 and 1 in a message set, or other than 2 in the log.
    UnsupportedMagic(i8),
    /// A codec this broker cannot decompress (lz4 and zstd are not built in).
    UnsupportedCompression(i8),
    /// One message (a wrapper counts as one) larger than `max.message.bytes`.
    TooLarge {
        message_bytes: usize,
        limit_bytes: usize,
    },
    /// Decompressing would produce more than the conversion's bound.
    DecompressedTooLarge { limit_bytes: usize },
    /// The codec refused the compressed bytes; the codec's own words.
    Decompression(String),
}

impl LegacyError {
    pub fn error_code(&self) -> ErrorCode {
        match self {
            LegacyError::Truncated(_)
            | LegacyError::Malformed(_)
            | LegacyError::CrcMismatch { .. }
            | LegacyError::Decompression(_) => ErrorCode::CORRUPT_MESSAGE,
            LegacyError::UnsupportedMagic(_) => ErrorCode::UNSUPPORTED_FOR_MESSAGE_FORMAT,
            LegacyError::UnsupportedCompression(_) => ErrorCode::UNSUPPORTED_COMPRESSION_TYPE,
            LegacyError::TooLarge { .. } | LegacyError::DecompressedTooLarge { .. } => {
                ErrorCode::MESSAGE_TOO_LARGE
            }
        }
    }
}

impl std::fmt::Display for LegacyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LegacyError::Truncated(what) => write!(f, "message set truncated: {what}"),
            LegacyError::Malformed(why) => write!(f, "malformed message set: {why}"),
            LegacyError::CrcMismatch { stored, computed } => write!(
                f,
                "message CRC mismatch: stored {stored:#010x}, computed {computed:#010x}"
            ),
            LegacyError::UnsupportedMagic(magic) => write!(f, "unsupported message magic {magic}"),
            LegacyError::UnsupportedCompression(codec) => {
                write!(f, "unsupported compression codec {codec}")
            }
            LegacyError::TooLarge {
                message_bytes,
                limit_bytes,
            } => write!(
                f,
                "message of {message_bytes} bytes exceeds max.message.bytes {limit_bytes}"
            ),
            LegacyError::DecompressedTooLarge { limit_bytes } => {
                write!(f, "decompressed messages exceed {limit_bytes} bytes")
            }
            LegacyError::Decompression(why) => write!(f, "decompression failed: {why}"),
        }
    }
}

impl std::error::Error for LegacyError {}

/// CRC-32 with the IEEE polynomial, as magic 0 and 1 messages carry it
/// (crc32fast, already built for flate2, computes it).
pub fn crc32_ieee(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// One message of a magic 0 or 1 message set, as it was on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyMessage {
    pub offset: i64,
    pub magic: i8,
    pub attributes: i8,
    /// [`NO_TIMESTAMP`] for magic 0.
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
}

impl LegacyMessage {
    pub fn codec(&self) -> i8 {
        self.attributes & ATTRIBUTE_CODEC_MASK
    }
}

/// A big-endian reader over a slice that never reads past its end.
struct Reader<'a> {
    bytes: &'a Bytes,
    position: usize,
    end: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a Bytes, position: usize, end: usize) -> Reader<'a> {
        Reader {
            bytes,
            position,
            end,
        }
    }

    fn remaining(&self) -> usize {
        self.end - self.position
    }

    fn take(&mut self, count: usize, what: &'static str) -> Result<&'a [u8], LegacyError> {
        if count > self.remaining() {
            return Err(LegacyError::Truncated(what));
        }
        let slice = &self.bytes[self.position..self.position + count];
        self.position += count;
        Ok(slice)
    }

    fn i8(&mut self, what: &'static str) -> Result<i8, LegacyError> {
        Ok(self.take(1, what)?[0] as i8)
    }

    fn i32(&mut self, what: &'static str) -> Result<i32, LegacyError> {
        let bytes = self.take(4, what)?;
        Ok(i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    fn i64(&mut self, what: &'static str) -> Result<i64, LegacyError> {
        let bytes = self.take(8, what)?;
        let mut array = [0u8; 8];
        array.copy_from_slice(bytes);
        Ok(i64::from_be_bytes(array))
    }

    /// `length: i32` then that many bytes, -1 for null; a slice of the
    /// input, not a copy. Used within one message's bounds.
    fn nullable_bytes(&mut self, what: &'static str) -> Result<Option<Bytes>, LegacyError> {
        let length = self.i32(what)?;
        if length == -1 {
            return Ok(None);
        }
        if length < 0 {
            return Err(LegacyError::Malformed("negative key or value length"));
        }
        let length = length as usize;
        if length > self.remaining() {
            // Inside a message whose size was already checked: not a cut-off
            // message but a corrupt one, even where a partial tail is skipped.
            return Err(LegacyError::Malformed("key or value runs past its message"));
        }
        let slice = self.bytes.slice(self.position..self.position + length);
        self.position += length;
        Ok(Some(slice))
    }
}

/// What to do with bytes at the end of a message set that do not make a
/// whole message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartialTail {
    /// A produce request's message set must be whole.
    Refuse,
    /// A fetched message set may end in a cut-off message, which readers skip.
    Skip,
}

/// The messages of one message set, not looking inside compressed wrappers.
/// Checks each message's CRC; keys and values are slices of `set`.
pub fn parse_message_set(
    set: &Bytes,
    partial_tail: PartialTail,
) -> Result<Vec<LegacyMessage>, LegacyError> {
    messages(set, partial_tail).collect()
}

/// The messages of a set one at a time, so a large set is converted
/// without holding a parsed copy of every message at once.
pub fn messages(set: &Bytes, partial_tail: PartialTail) -> Messages<'_> {
    Messages {
        set,
        position: 0,
        partial_tail,
    }
}

pub struct Messages<'a> {
    set: &'a Bytes,
    /// `set.len()` once done, so an error ends the iteration.
    position: usize,
    partial_tail: PartialTail,
}

impl Iterator for Messages<'_> {
    type Item = Result<LegacyMessage, LegacyError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.position >= self.set.len() {
            return None;
        }
        let result = self.next_message();
        match &result {
            Ok(_) => {}
            Err(_) => self.position = self.set.len(),
        }
        match (result, self.partial_tail) {
            (Err(LegacyError::Truncated(_)), PartialTail::Skip) => None,
            (result, _) => Some(result),
        }
    }
}

impl Messages<'_> {
    fn next_message(&mut self) -> Result<LegacyMessage, LegacyError> {
        let mut reader = Reader::new(self.set, self.position, self.set.len());
        let offset = reader.i64("message offset")?;
        let size = reader.i32("message size")?;
        if size < MESSAGE_V0_MIN_BYTES as i32 {
            return Err(LegacyError::Malformed(
                "message size smaller than a message",
            ));
        }
        let size = size as usize;
        if size > reader.remaining() {
            return Err(LegacyError::Truncated("message runs past the message set"));
        }
        let start = self.position + LOG_OVERHEAD_BYTES;
        let end = start + size;
        let message = parse_message(self.set, offset, start, end)?;
        self.position = end;
        Ok(message)
    }
}

/// One message whose `crc..end` lies at `start..end` of `set`.
fn parse_message(
    set: &Bytes,
    offset: i64,
    start: usize,
    end: usize,
) -> Result<LegacyMessage, LegacyError> {
    let mut reader = Reader::new(set, start, end);
    let stored = reader.i32("message crc")? as u32;
    let computed = crc32_ieee(&set[reader.position..end]);
    let magic = reader.i8("message magic")?;
    if magic != MAGIC_V0 && magic != MAGIC_V1 {
        return Err(LegacyError::UnsupportedMagic(magic));
    }
    if magic == MAGIC_V1 && end - start < MESSAGE_V1_MIN_BYTES {
        return Err(LegacyError::Malformed(
            "message size smaller than a magic 1 message",
        ));
    }
    // A flipped bit anywhere (magic included) is corruption, reported as
    // such before any field it might have garbled is believed.
    if stored != computed {
        return Err(LegacyError::CrcMismatch { stored, computed });
    }
    let attributes = reader.i8("message attributes")?;
    let timestamp = if magic == MAGIC_V1 {
        reader.i64("message timestamp")?
    } else {
        NO_TIMESTAMP
    };
    let key = reader.nullable_bytes("message key")?;
    let value = reader.nullable_bytes("message value")?;
    if reader.remaining() != 0 {
        return Err(LegacyError::Malformed(
            "message size larger than its fields",
        ));
    }
    Ok(LegacyMessage {
        offset,
        magic,
        attributes,
        timestamp,
        key,
        value,
    })
}

/// Decompresses a wrapper's value, producing at most `budget` bytes.
///
/// Both bounds are exact. Snappy blocks state their uncompressed length up
/// front and the decoder holds them to it, so the lengths are summed and
/// checked before anything is decompressed. Gzip states its length only in
/// its trailer, so it is inflated through a reader that stops at the bound.
pub fn decompress(codec: i8, compressed: &Bytes, budget: usize) -> Result<Bytes, LegacyError> {
    let output = match codec {
        CODEC_GZIP => match gunzip::gunzip(compressed, budget) {
            Ok(output) => Bytes::from(output),
            Err(gunzip::GunzipError::Truncated) => {
                return Err(LegacyError::Truncated("gzip stream"))
            }
            Err(gunzip::GunzipError::Invalid(why)) => {
                return Err(LegacyError::Decompression(format!("gzip: {why}")))
            }
            Err(gunzip::GunzipError::TooLarge) => {
                return Err(LegacyError::DecompressedTooLarge {
                    limit_bytes: budget,
                })
            }
        },
        CODEC_SNAPPY => decompress_snappy(compressed, budget)?,
        other => return Err(LegacyError::UnsupportedCompression(other)),
    };
    if output.len() > budget {
        return Err(LegacyError::DecompressedTooLarge {
            limit_bytes: budget,
        });
    }
    Ok(output)
}

/// The framing Kafka's Java clients put around snappy blocks (xerial's
/// SnappyOutputStream): this 8-byte magic, two 4-byte versions, then
/// blocks of `length: u32, raw snappy`.
const SNAPPY_FRAMING_MAGIC: &[u8] = b"\x82SNAPPY\x00";
const SNAPPY_FRAMING_HEADER_BYTES: usize = 16;

fn decompress_snappy(compressed: &Bytes, budget: usize) -> Result<Bytes, LegacyError> {
    let framed = compressed.starts_with(SNAPPY_FRAMING_MAGIC);
    let blocks: Vec<Bytes> = if framed {
        if compressed.len() < SNAPPY_FRAMING_HEADER_BYTES {
            return Err(LegacyError::Truncated("snappy framing header"));
        }
        let mut blocks = Vec::new();
        let mut reader = Reader::new(compressed, SNAPPY_FRAMING_HEADER_BYTES, compressed.len());
        while reader.remaining() > 0 {
            let length = reader.i32("snappy block length")? as u32 as usize;
            if length > reader.remaining() {
                return Err(LegacyError::Truncated("snappy block"));
            }
            blocks.push(compressed.slice(reader.position..reader.position + length));
            reader.position += length;
        }
        blocks
    } else {
        vec![compressed.clone()]
    };
    let mut stated_total = 0usize;
    for block in &blocks {
        // A block that itself starts like the framing would be read as
        // framing again by the codec crate, past the checks made here.
        if block.starts_with(SNAPPY_FRAMING_MAGIC) {
            return Err(LegacyError::Malformed("nested snappy framing"));
        }
        stated_total = stated_total.saturating_add(snappy_stated_length(block)?);
        if stated_total > budget {
            return Err(LegacyError::DecompressedTooLarge {
                limit_bytes: budget,
            });
        }
    }
    let mut output = BytesMut::with_capacity(stated_total);
    for block in blocks {
        let mut input = block;
        let decompressed = Snappy::decompress(&mut input, |output| Ok(std::mem::take(output)))
            .map_err(|error| LegacyError::Decompression(format!("snappy: {error:#}")))?;
        output.extend_from_slice(&decompressed);
    }
    Ok(output.freeze())
}

/// The uncompressed length a raw snappy block starts with (a varint).
fn snappy_stated_length(block: &[u8]) -> Result<usize, LegacyError> {
    let mut value = 0u64;
    for (index, &byte) in block.iter().take(5).enumerate() {
        value |= u64::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            return Ok(value as usize);
        }
    }
    Err(LegacyError::Malformed("snappy block without a length"))
}

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
        let compressed = message
            .value
            .as_ref()
            .ok_or(LegacyError::Malformed("compressed wrapper without a value"))?;
        let inner_bytes = decompress(codec, compressed, budget)?;
        budget -= inner_bytes.len();
        if codec_seen == CODEC_NONE {
            codec_seen = codec;
        }
        let log_append_time =
            message.magic == MAGIC_V1 && message.attributes & ATTRIBUTE_LOG_APPEND_TIME != 0;
        let mut inner_count = 0usize;
        for inner_message in messages(&inner_bytes, PartialTail::Refuse) {
            let inner_message = inner_message?;
            if inner_message.codec() != CODEC_NONE {
                return Err(LegacyError::Malformed(
                    "compressed message inside a wrapper",
                ));
            }
            if inner_message.magic != message.magic {
                return Err(LegacyError::Malformed(
                    "inner message magic differs from its wrapper",
                ));
            }
            let timestamp = if log_append_time {
                message.timestamp
            } else {
                inner_message.timestamp
            };
            builder.push(
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
    }
    if builder.count == 0 {
        return Err(LegacyError::Malformed("no message in the message set"));
    }
    let record_count = builder.count;
    let batch = builder.finish(codec_seen)?;
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

/// Bytes a message takes after `message_size`.
fn message_body_bytes(magic: i8, key: Option<&Bytes>, value: Option<&Bytes>) -> usize {
    let fixed = if magic == MAGIC_V0 {
        MESSAGE_V0_MIN_BYTES
    } else {
        MESSAGE_V1_MIN_BYTES
    };
    fixed + key.map_or(0, Bytes::len) + value.map_or(0, Bytes::len)
}

/// Appends one uncompressed message with its CRC.
pub fn put_message(
    out: &mut BytesMut,
    offset: i64,
    magic: i8,
    attributes: i8,
    timestamp: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) {
    let body = message_body_bytes(magic, None, None)
        + key.map_or(0, <[u8]>::len)
        + value.map_or(0, <[u8]>::len);
    out.reserve(LOG_OVERHEAD_BYTES + body);
    out.put_i64(offset);
    out.put_i32(body as i32);
    let crc_at = out.len();
    out.put_u32(0);
    out.put_i8(magic);
    out.put_i8(attributes);
    if magic == MAGIC_V1 {
        out.put_i64(timestamp);
    }
    for field in [key, value] {
        match field {
            Some(bytes) => {
                out.put_i32(bytes.len() as i32);
                out.put_slice(bytes);
            }
            None => out.put_i32(-1),
        }
    }
    let crc = crc32_ieee(&out[crc_at + 4..]);
    out[crc_at..crc_at + 4].copy_from_slice(&crc.to_be_bytes());
}

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
    'batches: while batches.len() - position >= BATCH_HEADER_BYTES {
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
        let log_append_time = attributes & BATCH_ATTRIBUTE_LOG_APPEND_TIME != 0;
        let count = header.records_count.get();
        if count < 0 || count as usize > records.len() / RECORD_V2_MIN_BYTES {
            return Err(LegacyError::Malformed(
                "more records claimed than bytes hold",
            ));
        }
        let mut reader = VarintReader::new(&records);
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
            if !out.is_empty() && out.len() + message_bytes > limits.max_bytes {
                break 'batches;
            }
            put_message(
                &mut out,
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
        }
    }
    Ok(out.freeze())
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
/// Gzip (RFC 1952), inflated by flate2 (already in the build through the
/// codec crate) through a reader that stops one byte past `output_max`, so
/// a 1 MiB wrapper that would inflate a thousandfold costs at most the
/// bound. flate2 checks each member's CRC-32 and length; several members
/// in a row are read as one stream, as Java's GZIPInputStream reads them.
mod gunzip {
    use std::io::Read;

    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum GunzipError {
        /// The stream ended inside a header, a block or a trailer.
        Truncated,
        /// Not gzip, or damaged deflate data, header or trailer.
        Invalid(String),
        /// More output than allowed.
        TooLarge,
    }

    pub fn gunzip(input: &[u8], output_max: usize) -> Result<Vec<u8>, GunzipError> {
        let mut output = Vec::new();
        let limit = output_max as u64 + 1;
        let read = flate2::read::MultiGzDecoder::new(input)
            .take(limit)
            .read_to_end(&mut output);
        match read {
            Ok(_) if output.len() > output_max => Err(GunzipError::TooLarge),
            Ok(_) => Ok(output),
            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => {
                Err(GunzipError::Truncated)
            }
            Err(error) => Err(GunzipError::Invalid(error.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::batch::validate_batches;
    use crate::protocol::records;
    use kafka_protocol::protocol::StrBytes;
    use kafka_protocol::records::{Compression, Record};
    use kafka_protocol::records::{RecordBatchDecoder, TimestampType};

    const LIMITS: UpConversionLimits = UpConversionLimits {
        message_bytes_max: 1 << 20,
        decompressed_bytes_max: 1 << 20,
    };
    const EVERYTHING: DownConversionLimits = DownConversionLimits {
        max_bytes: usize::MAX,
        decompressed_bytes_max: 1 << 20,
    };

    /// A message assembled field by field, independently of `put_message`.
    fn hand_built(
        offset: i64,
        magic: i8,
        attributes: i8,
        timestamp: i64,
        key: &[u8],
        value: &[u8],
    ) -> Vec<u8> {
        let mut body = vec![magic as u8, attributes as u8];
        if magic == 1 {
            body.extend_from_slice(&timestamp.to_be_bytes());
        }
        body.extend_from_slice(&(key.len() as i32).to_be_bytes());
        body.extend_from_slice(key);
        body.extend_from_slice(&(value.len() as i32).to_be_bytes());
        body.extend_from_slice(value);
        let mut message = offset.to_be_bytes().to_vec();
        message.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
        message.extend_from_slice(&crc32_ieee(&body).to_be_bytes());
        message.extend_from_slice(&body);
        message
    }

    fn gzip(bytes: &[u8]) -> Bytes {
        let mut out = BytesMut::new();
        Gzip::compress(&mut out, |buffer: &mut BytesMut| {
            buffer.put_slice(bytes);
            Ok(())
        })
        .unwrap();
        out.freeze()
    }

    fn snappy(bytes: &[u8]) -> Bytes {
        let mut out = BytesMut::new();
        Snappy::compress(&mut out, |buffer: &mut BytesMut| {
            buffer.put_slice(bytes);
            Ok(())
        })
        .unwrap();
        out.freeze()
    }

    fn decode(batch: &Bytes) -> kafka_protocol::records::RecordSet {
        let mut bytes = batch.clone();
        let set = RecordBatchDecoder::decode(&mut bytes).unwrap();
        assert!(bytes.is_empty(), "exactly one batch");
        set
    }

    /// Deterministic bytes that do not compress (xorshift).
    fn noise(length: usize, mut state: u64) -> Vec<u8> {
        (0..length)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect()
    }

    #[test]
    fn gunzip_reads_what_flate2_writes() {
        let text: Vec<u8> = (0..20_000)
            .flat_map(|index| format!("record {index} of the log, ").into_bytes())
            .collect();
        let mut mixed = noise(50_000, 7);
        mixed.extend_from_slice(&text[..40_000]);
        mixed.extend_from_slice(&noise(1000, 9));
        mixed.extend_from_slice(&text[..40_000]); // a match 41 KB back is out of window
        let samples: Vec<Vec<u8>> = vec![
            Vec::new(),
            b"a".to_vec(),
            b"short text, fixed codes".to_vec(),
            text,
            noise(200_000, 3),
            vec![0u8; 3 << 20],
            mixed,
        ];
        for sample in samples {
            let compressed = gzip(&sample);
            let output = gunzip::gunzip(&compressed, sample.len()).unwrap();
            assert!(output == sample, "{} bytes", sample.len());
            if !sample.is_empty() {
                assert_eq!(
                    gunzip::gunzip(&compressed, sample.len() - 1),
                    Err(gunzip::GunzipError::TooLarge)
                );
            }
        }
    }

    #[test]
    fn gunzip_reads_header_fields_and_several_members() {
        // A file name in the header (FLG.FNAME), then a second member.
        let first = gzip(b"first member ");
        let mut named = first[..10].to_vec();
        named[3] |= 0x08;
        named.extend_from_slice(b"name.txt\0");
        named.extend_from_slice(&first[10..]);
        named.extend_from_slice(&gzip(b"second member"));
        assert_eq!(
            gunzip::gunzip(&named, 1 << 20).unwrap(),
            b"first member second member".to_vec()
        );
    }

    #[test]
    fn gunzip_refuses_corruption_and_truncation() {
        let compressed = gzip(&b"some text some text some text".repeat(20));
        for cut in 0..compressed.len() {
            assert!(
                gunzip::gunzip(&compressed[..cut], 1 << 20).is_err(),
                "cut at {cut}"
            );
        }
        // CRC-32 and length in the trailer.
        for at in [compressed.len() - 8, compressed.len() - 1] {
            let mut broken = compressed.to_vec();
            broken[at] ^= 1;
            assert!(matches!(
                gunzip::gunzip(&broken, 1 << 20),
                Err(gunzip::GunzipError::Invalid(_))
            ));
        }
        // Any flipped bit in the deflate data is refused, never a panic.
        for at in 10..compressed.len() - 8 {
            let mut broken = compressed.to_vec();
            broken[at] ^= 0x04;
            assert!(gunzip::gunzip(&broken, 1 << 20).is_err(), "byte {at}");
        }
        assert!(gunzip::gunzip(b"not gzip at all", 100).is_err());
    }

    #[test]
    fn crc32_is_the_ieee_one() {
        assert_eq!(crc32_ieee(b"123456789"), 0xCBF4_3926);
        let sample: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        assert_eq!(
            crc32_ieee(&sample),
            kafka_protocol::records::IEEE.checksum(&sample)
        );
    }

    #[test]
    fn put_message_matches_hand_built_bytes() {
        for magic in [MAGIC_V0, MAGIC_V1] {
            let mut out = BytesMut::new();
            put_message(
                &mut out,
                42,
                magic,
                0,
                1_700_000_000_000,
                Some(b"k"),
                Some(b"value"),
            );
            assert_eq!(
                out.to_vec(),
                hand_built(42, magic, 0, 1_700_000_000_000, b"k", b"value"),
                "magic {magic}"
            );
        }
        // A fully literal magic 1 message with a null key: offset 7, size
        // 23, CRC over magic..end, magic 1, attributes 0, timestamp 1000,
        // key -1, value "a".
        let mut out = BytesMut::new();
        put_message(&mut out, 7, MAGIC_V1, 0, 1000, None, Some(b"a"));
        let mut expected = vec![0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 23];
        let body = [
            1u8, 0, 0, 0, 0, 0, 0, 0, 0x03, 0xe8, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, b'a',
        ];
        expected.extend_from_slice(&crc32_ieee(&body).to_be_bytes());
        expected.extend_from_slice(&body);
        assert_eq!(out.to_vec(), expected);
    }

    #[test]
    fn parses_hand_built_messages_of_both_magics() {
        let mut set = hand_built(0, 0, 0, 0, b"a", b"one");
        set.extend(hand_built(1, 1, 0, 5_000, b"", b"two"));
        let messages = parse_message_set(&Bytes::from(set), PartialTail::Refuse).unwrap();
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].timestamp, NO_TIMESTAMP);
        assert_eq!(messages[0].key.as_deref(), Some(&b"a"[..]));
        assert_eq!(messages[1].magic, 1);
        assert_eq!(messages[1].timestamp, 5_000);
        assert_eq!(messages[1].offset, 1);
        assert_eq!(messages[1].value.as_deref(), Some(&b"two"[..]));
    }

    #[test]
    fn up_converts_an_uncompressed_magic_1_set() {
        let mut set = BytesMut::new();
        put_message(&mut set, 0, MAGIC_V1, 0, 1_000, Some(b"k1"), Some(b"v1"));
        put_message(&mut set, 1, MAGIC_V1, 0, 3_000, None, Some(b"v2"));
        put_message(&mut set, 2, MAGIC_V1, 0, 2_000, Some(b"k3"), None);
        let converted = up_convert(&set.freeze(), LIMITS).unwrap();
        assert_eq!(converted.record_count, 3);
        let spans = validate_batches(&converted.batch, 1 << 20).unwrap();
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0].offset_count, 3);
        let header = BatchHeader::view(&converted.batch).unwrap();
        assert_eq!(header.base_timestamp.get(), 1_000);
        assert_eq!(header.max_timestamp.get(), 3_000);
        assert_eq!(header.producer_id.get(), -1);
        let decoded = decode(&converted.batch);
        assert_eq!(decoded.compression, Compression::None);
        let fields: Vec<_> = decoded
            .records
            .iter()
            .map(|record| {
                (
                    record.offset,
                    record.timestamp,
                    record.key.clone(),
                    record.value.clone(),
                )
            })
            .collect();
        assert_eq!(
            fields,
            vec![
                (
                    0,
                    1_000,
                    Some(Bytes::from_static(b"k1")),
                    Some(Bytes::from_static(b"v1"))
                ),
                (1, 3_000, None, Some(Bytes::from_static(b"v2"))),
                (2, 2_000, Some(Bytes::from_static(b"k3")), None),
            ]
        );
    }

    #[test]
    fn descending_and_missing_timestamps_survive_the_deltas() {
        let mut set = BytesMut::new();
        put_message(&mut set, 0, MAGIC_V1, 0, 5_000, None, Some(b"late"));
        put_message(&mut set, 1, MAGIC_V1, 0, 1_000, None, Some(b"early"));
        put_message(&mut set, 2, MAGIC_V0, 0, 0, None, Some(b"none"));
        let converted = up_convert(&set.freeze(), LIMITS).unwrap();
        let timestamps: Vec<i64> = decode(&converted.batch)
            .records
            .iter()
            .map(|record| record.timestamp)
            .collect();
        assert_eq!(timestamps, vec![5_000, 1_000, NO_TIMESTAMP]);
        assert_eq!(
            BatchHeader::view(&converted.batch)
                .unwrap()
                .max_timestamp
                .get(),
            5_000
        );
    }

    #[test]
    fn many_small_messages_cost_their_size_not_their_count() {
        let mut set = BytesMut::new();
        for index in 0..50_000 {
            put_message(&mut set, index, MAGIC_V0, 0, 0, None, None);
        }
        let set = set.freeze();
        let converted = up_convert(&set, LIMITS).unwrap();
        assert_eq!(converted.record_count, 50_000);
        assert!(
            converted.batch.len() < set.len(),
            "{} bytes",
            converted.batch.len()
        );
        validate_batches(&converted.batch, usize::MAX).unwrap();
    }

    #[test]
    fn magic_0_messages_have_no_timestamp() {
        let mut set = BytesMut::new();
        put_message(&mut set, 0, MAGIC_V0, 0, 0, None, Some(b"old"));
        let converted = up_convert(&set.freeze(), LIMITS).unwrap();
        let header = BatchHeader::view(&converted.batch).unwrap();
        assert_eq!(header.max_timestamp.get(), NO_TIMESTAMP);
        assert_eq!(decode(&converted.batch).records[0].timestamp, NO_TIMESTAMP);
    }

    /// A wrapper around `inner` compressed with `codec`.
    fn wrapper(offset: i64, magic: i8, codec: i8, timestamp: i64, inner: &[u8]) -> Bytes {
        let compressed = match codec & ATTRIBUTE_CODEC_MASK {
            CODEC_GZIP => gzip(inner),
            CODEC_SNAPPY => snappy(inner),
            _ => Bytes::copy_from_slice(inner),
        };
        let mut out = BytesMut::new();
        put_message(
            &mut out,
            offset,
            magic,
            codec,
            timestamp,
            None,
            Some(&compressed),
        );
        out.freeze()
    }

    #[test]
    fn up_converts_compressed_wrappers_keeping_the_codec() {
        for (codec, compression) in [
            (CODEC_GZIP, Compression::Gzip),
            (CODEC_SNAPPY, Compression::Snappy),
        ] {
            // Magic 1: inner offsets relative (0, 1, 2); the wrapper holds
            // the absolute offset of the last.
            let mut inner = BytesMut::new();
            for (index, value) in [&b"a"[..], b"bb", b"ccc"].iter().enumerate() {
                put_message(
                    &mut inner,
                    index as i64,
                    MAGIC_V1,
                    0,
                    10 + index as i64,
                    None,
                    Some(value),
                );
            }
            let set = wrapper(2, MAGIC_V1, codec, 12, &inner);
            let converted = up_convert(&set, LIMITS).unwrap();
            validate_batches(&converted.batch, 1 << 20).unwrap();
            let decoded = decode(&converted.batch);
            assert_eq!(decoded.compression, compression);
            let values: Vec<_> = decoded
                .records
                .iter()
                .map(|r| (r.value.clone().unwrap(), r.timestamp))
                .collect();
            assert_eq!(
                values,
                vec![
                    (Bytes::from_static(b"a"), 10),
                    (Bytes::from_static(b"bb"), 11),
                    (Bytes::from_static(b"ccc"), 12)
                ]
            );
            // Magic 0: inner offsets absolute.
            let mut inner = BytesMut::new();
            put_message(&mut inner, 100, MAGIC_V0, 0, 0, Some(b"x"), Some(b"y"));
            put_message(&mut inner, 101, MAGIC_V0, 0, 0, Some(b"z"), None);
            let set = wrapper(101, MAGIC_V0, codec, 0, &inner);
            let decoded = decode(&up_convert(&set, LIMITS).unwrap().batch);
            assert_eq!(decoded.records.len(), 2);
            assert_eq!(decoded.records[1].key.as_deref(), Some(&b"z"[..]));
            assert_eq!(decoded.records[1].timestamp, NO_TIMESTAMP);
        }
    }

    #[test]
    fn log_append_time_wrappers_give_their_time() {
        let mut inner = BytesMut::new();
        put_message(&mut inner, 0, MAGIC_V1, 0, 5, None, Some(b"a"));
        let set = wrapper(
            0,
            MAGIC_V1,
            CODEC_GZIP | ATTRIBUTE_LOG_APPEND_TIME,
            777,
            &inner,
        );
        // `wrapper` compresses by codec; the flag rides in the attributes.
        let messages = parse_message_set(&set, PartialTail::Refuse).unwrap();
        assert_eq!(messages[0].codec(), CODEC_GZIP);
        let decoded = decode(&up_convert(&set, LIMITS).unwrap().batch);
        assert_eq!(decoded.records[0].timestamp, 777);
    }

    #[test]
    fn refuses_flipped_bits_with_corrupt_message() {
        let set = hand_built(0, 1, 0, 1, b"key", b"value");
        for at in 16..set.len() {
            let mut broken = set.clone();
            broken[at] ^= 0x10;
            let error = up_convert(&Bytes::from(broken), LIMITS).unwrap_err();
            assert!(
                matches!(
                    error,
                    LegacyError::CrcMismatch { .. } | LegacyError::UnsupportedMagic(_)
                ),
                "byte {at}: {error}"
            );
        }
        let mut broken = set.clone();
        broken[set.len() - 1] ^= 1;
        let error = up_convert(&Bytes::from(broken), LIMITS).unwrap_err();
        assert_eq!(error.error_code(), ErrorCode::CORRUPT_MESSAGE);
        // A bad CRC inside a compressed wrapper is found too.
        let mut inner = hand_built(0, 1, 0, 1, b"", b"inner");
        let last = inner.len() - 1;
        inner[last] ^= 1;
        let set = wrapper(0, MAGIC_V1, CODEC_GZIP, 1, &inner);
        assert!(matches!(
            up_convert(&set, LIMITS),
            Err(LegacyError::CrcMismatch { .. })
        ));
    }

    #[test]
    fn refuses_every_truncation_but_skips_a_partial_tail_when_asked() {
        let mut set = hand_built(0, 1, 0, 1, b"k", b"first");
        let first = set.len();
        set.extend(hand_built(1, 1, 0, 2, b"k", b"second"));
        for cut in 1..set.len() {
            let prefix = Bytes::copy_from_slice(&set[..cut]);
            // Only the cut right after the first message leaves a whole set.
            assert_eq!(
                up_convert(&prefix, LIMITS).is_err(),
                cut != first,
                "cut at {cut}"
            );
            let skipped = parse_message_set(&prefix, PartialTail::Skip).unwrap();
            assert_eq!(skipped.len(), usize::from(cut >= first), "cut at {cut}");
        }
        assert!(matches!(
            up_convert(&Bytes::new(), LIMITS),
            Err(LegacyError::Malformed(_))
        ));
    }

    #[test]
    fn huge_claimed_lengths_are_refused_without_allocating() {
        // Message size i32::MAX.
        let mut set = 0i64.to_be_bytes().to_vec();
        set.extend_from_slice(&i32::MAX.to_be_bytes());
        set.extend_from_slice(&[0; 20]);
        assert!(matches!(
            parse_message_set(&Bytes::from(set), PartialTail::Refuse),
            Err(LegacyError::Truncated(_))
        ));
        // A key length of i32::MAX inside a correctly checksummed message.
        let mut body = vec![1u8, 0];
        body.extend_from_slice(&0i64.to_be_bytes());
        body.extend_from_slice(&i32::MAX.to_be_bytes());
        body.extend_from_slice(&[0; 8]);
        let mut set = 0i64.to_be_bytes().to_vec();
        set.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
        set.extend_from_slice(&crc32_ieee(&body).to_be_bytes());
        set.extend_from_slice(&body);
        assert!(matches!(
            parse_message_set(&Bytes::from(set), PartialTail::Refuse),
            Err(LegacyError::Malformed(_))
        ));
        // A corrupt key length is an error even where a partial tail is skipped.
        let mut body = vec![1u8, 0];
        body.extend_from_slice(&0i64.to_be_bytes());
        body.extend_from_slice(&1000i32.to_be_bytes());
        body.extend_from_slice(&[0; 8]);
        let mut set = 0i64.to_be_bytes().to_vec();
        set.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
        set.extend_from_slice(&crc32_ieee(&body).to_be_bytes());
        set.extend_from_slice(&body);
        assert!(parse_message_set(&Bytes::from(set), PartialTail::Skip).is_err());
        // Negative sizes.
        let mut set = 0i64.to_be_bytes().to_vec();
        set.extend_from_slice(&(-5i32).to_be_bytes());
        assert!(matches!(
            parse_message_set(&Bytes::from(set), PartialTail::Refuse),
            Err(LegacyError::Malformed(_))
        ));
        // A snappy block claiming 4 GiB of output.
        let mut claim = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01".to_vec();
        claim.extend_from_slice(&6u32.to_be_bytes());
        claim.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f, 0x00]);
        assert!(matches!(
            decompress(CODEC_SNAPPY, &Bytes::from(claim), 1 << 20),
            Err(LegacyError::DecompressedTooLarge { .. })
        ));
        // A v2 batch claiming 2^31-1 records in a few bytes.
        let mut batch =
            crate::protocol::batch::tests::sample_batch(1, b"\x0e\x00\x00\x00\x02k\x02v\x00");
        BatchHeader::view_mut(&mut batch)
            .unwrap()
            .records_count
            .set(i32::MAX);
        assert!(matches!(
            down_convert(&Bytes::from(batch), MAGIC_V1, 0, EVERYTHING),
            Err(LegacyError::Malformed(_))
        ));
    }

    #[test]
    fn decompression_is_bounded() {
        let zeros = vec![0u8; 1 << 20];
        for codec in [CODEC_GZIP, CODEC_SNAPPY] {
            let mut inner = BytesMut::new();
            put_message(&mut inner, 0, MAGIC_V1, 0, 1, None, Some(&zeros));
            let set = wrapper(0, MAGIC_V1, codec, 1, &inner);
            assert!(set.len() < 100 * 1024, "compresses well");
            let limits = UpConversionLimits {
                message_bytes_max: 1 << 20,
                decompressed_bytes_max: 64 * 1024,
            };
            let error = up_convert(&set, limits).unwrap_err();
            assert_eq!(
                error,
                LegacyError::DecompressedTooLarge {
                    limit_bytes: 64 * 1024
                },
                "codec {codec}"
            );
            assert_eq!(error.error_code(), ErrorCode::MESSAGE_TOO_LARGE);
        }
        // A gzip trailer that understates the output is still caught.
        let mut lying = gzip(&zeros).to_vec();
        let at = lying.len() - 4;
        lying[at..].copy_from_slice(&100u32.to_le_bytes());
        assert!(decompress(CODEC_GZIP, &Bytes::from(lying), 64 * 1024).is_err());
    }

    #[test]
    fn refuses_what_it_cannot_convert() {
        let lz4 = wrapper(0, MAGIC_V1, 3, 1, b"whatever");
        let error = up_convert(&lz4, LIMITS).unwrap_err();
        assert_eq!(error, LegacyError::UnsupportedCompression(3));
        assert_eq!(error.error_code(), ErrorCode::UNSUPPORTED_COMPRESSION_TYPE);
        let magic_2 = hand_built(0, 2, 0, 0, b"", b"x");
        assert_eq!(
            up_convert(&Bytes::from(magic_2), LIMITS).unwrap_err(),
            LegacyError::UnsupportedMagic(2)
        );
        let big = hand_built(0, 1, 0, 0, b"", &[1; 200]);
        assert!(matches!(
            up_convert(
                &Bytes::from(big),
                UpConversionLimits {
                    message_bytes_max: 100,
                    decompressed_bytes_max: 1 << 20
                }
            ),
            Err(LegacyError::TooLarge { .. })
        ));
        let mut nested_inner = BytesMut::new();
        put_message(
            &mut nested_inner,
            0,
            MAGIC_V1,
            CODEC_GZIP,
            1,
            None,
            Some(&gzip(b"x")),
        );
        let nested = wrapper(0, MAGIC_V1, CODEC_GZIP, 1, &nested_inner);
        assert!(matches!(
            up_convert(&nested, LIMITS),
            Err(LegacyError::Malformed(_))
        ));
    }

    /// Stored batches as a v3+ producer (or an up-conversion) leaves them:
    /// `values` in one batch at `base_offset`.
    fn stored_batch(base_offset: i64, values: &[&str], compression: Compression) -> BytesMut {
        let records: Vec<Record> = values
            .iter()
            .enumerate()
            .map(|(index, value)| {
                let mut record = records::record(
                    index,
                    Some(Bytes::from(format!("key-{value}"))),
                    Some(Bytes::copy_from_slice(value.as_bytes())),
                    1_000 + index as i64,
                );
                record.headers.insert(
                    StrBytes::from_static_str("dropped"),
                    Some(Bytes::from_static(b"h")),
                );
                record
            })
            .collect();
        let mut batch = BytesMut::from(&records::encode_batch(&records, compression)[..]);
        BatchHeader::view_mut(&mut batch)
            .unwrap()
            .base_offset
            .set(base_offset);
        batch
    }

    fn values_and_offsets(set: &Bytes) -> Vec<(i64, String)> {
        parse_message_set(set, PartialTail::Refuse)
            .unwrap()
            .into_iter()
            .map(|message| {
                (
                    message.offset,
                    String::from_utf8(message.value.unwrap().to_vec()).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn down_converts_batches_to_both_magics() {
        let mut stored = stored_batch(10, &["a", "b"], Compression::None);
        stored.extend_from_slice(&stored_batch(12, &["c", "d", "e"], Compression::Gzip));
        stored.extend_from_slice(&stored_batch(15, &["f"], Compression::Snappy));
        let stored = stored.freeze();
        for magic in [MAGIC_V0, MAGIC_V1] {
            let set = down_convert(&stored, magic, 10, EVERYTHING).unwrap();
            let messages = parse_message_set(&set, PartialTail::Refuse).unwrap();
            assert!(messages
                .iter()
                .all(|message| message.magic == magic && message.codec() == 0));
            assert_eq!(
                values_and_offsets(&set),
                vec![
                    (10, "a".into()),
                    (11, "b".into()),
                    (12, "c".into()),
                    (13, "d".into()),
                    (14, "e".into()),
                    (15, "f".into())
                ]
            );
            assert_eq!(messages[3].key.as_deref(), Some(&b"key-d"[..]));
            let expected_timestamp = if magic == MAGIC_V1 {
                1_001
            } else {
                NO_TIMESTAMP
            };
            assert_eq!(messages[3].timestamp, expected_timestamp);
        }
        // From the middle of a batch: earlier records are left out.
        let set = down_convert(&stored, MAGIC_V1, 13, EVERYTHING).unwrap();
        assert_eq!(values_and_offsets(&set)[0], (13, "d".into()));
        assert_eq!(values_and_offsets(&set).len(), 3);
    }

    #[test]
    fn down_conversion_skips_control_and_partial_batches() {
        let mut control = stored_batch(0, &["marker"], Compression::None);
        {
            let header = BatchHeader::view_mut(&mut control).unwrap();
            header
                .attributes
                .set(header.attributes.get() | BATCH_ATTRIBUTE_CONTROL);
        }
        let mut stored = control;
        stored.extend_from_slice(&stored_batch(1, &["kept"], Compression::None));
        let partial = stored_batch(2, &["cut off"], Compression::None);
        stored.extend_from_slice(&partial[..partial.len() - 3]);
        let set = down_convert(&stored.freeze(), MAGIC_V1, 0, EVERYTHING).unwrap();
        assert_eq!(values_and_offsets(&set), vec![(1, "kept".into())]);
    }

    #[test]
    fn down_conversion_stops_at_max_bytes_but_returns_one_message() {
        let stored = stored_batch(0, &["one", "two", "three"], Compression::None).freeze();
        let tiny = DownConversionLimits {
            max_bytes: 1,
            decompressed_bytes_max: 1 << 20,
        };
        let set = down_convert(&stored, MAGIC_V1, 0, tiny).unwrap();
        assert_eq!(values_and_offsets(&set), vec![(0, "one".into())]);
        let everything = down_convert(&stored, MAGIC_V1, 0, EVERYTHING).unwrap();
        let two = DownConversionLimits {
            max_bytes: everything.len() - 1,
            decompressed_bytes_max: 1 << 20,
        };
        assert_eq!(
            down_convert(&stored, MAGIC_V1, 0, two).unwrap().len(),
            everything.len() - (LOG_OVERHEAD_BYTES + 22 + 9 + 5)
        );
    }

    #[test]
    fn log_append_time_batches_stamp_each_message() {
        let mut stored = stored_batch(0, &["a"], Compression::None);
        crate::protocol::batch::assign_offset(
            &mut stored,
            0,
            crate::protocol::batch::TimestampType::LogAppendTime,
            99_999,
        );
        let set = down_convert(&stored.freeze(), MAGIC_V1, 0, EVERYTHING).unwrap();
        let messages = parse_message_set(&set, PartialTail::Refuse).unwrap();
        assert_eq!(messages[0].timestamp, 99_999);
        assert_eq!(messages[0].attributes, ATTRIBUTE_LOG_APPEND_TIME);
    }

    #[test]
    fn up_then_down_is_the_identity_on_keys_values_and_timestamps() {
        let mut inner = BytesMut::new();
        put_message(&mut inner, 0, MAGIC_V1, 0, 50, Some(b"k"), Some(b"first"));
        put_message(&mut inner, 1, MAGIC_V1, 0, 60, None, None);
        let mut set = BytesMut::from(&wrapper(1, MAGIC_V1, CODEC_SNAPPY, 60, &inner)[..]);
        put_message(&mut set, 2, MAGIC_V1, 0, 70, Some(b"plain"), Some(b"last"));
        let converted = up_convert(&set.freeze(), LIMITS).unwrap();
        let mut stored = BytesMut::from(&converted.batch[..]);
        crate::protocol::batch::assign_offset(
            &mut stored,
            500,
            crate::protocol::batch::TimestampType::CreateTime,
            0,
        );
        let back = down_convert(&stored.freeze(), MAGIC_V1, 500, EVERYTHING).unwrap();
        let messages = parse_message_set(&back, PartialTail::Refuse).unwrap();
        let fields: Vec<_> = messages
            .iter()
            .map(|m| (m.offset, m.timestamp, m.key.clone(), m.value.clone()))
            .collect();
        assert_eq!(
            fields,
            vec![
                (
                    500,
                    50,
                    Some(Bytes::from_static(b"k")),
                    Some(Bytes::from_static(b"first"))
                ),
                (501, 60, None, None),
                (
                    502,
                    70,
                    Some(Bytes::from_static(b"plain")),
                    Some(Bytes::from_static(b"last"))
                ),
            ]
        );
        assert_eq!(
            decode(&converted.batch).records[0].timestamp_type,
            TimestampType::Creation
        );
    }
}
