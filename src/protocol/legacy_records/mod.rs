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
//!
//! By concern: `decode` reads message sets, `compression` inflates
//! wrappers within a bound, `up_conversion` and `down_conversion` turn one
//! format into the other; the message layout and its writer are here.

mod compression;
mod decode;
mod down_conversion;
mod up_conversion;

use bytes::{BufMut, Bytes, BytesMut};

use super::error::ErrorCode;

pub use compression::decompress;
pub use decode::{messages, parse_message_set, Messages, PartialTail};
pub use down_conversion::{down_convert, magic_for_fetch_version, DownConversionLimits};
pub use up_conversion::{up_convert, UpConversionLimits, UpConverted};

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
    let start = out.len();
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
    assert_eq!(
        out.len() - start,
        LOG_OVERHEAD_BYTES + body,
        "a message is as long as its message_size says"
    );
    let crc = crc32_ieee(&out[crc_at + 4..]);
    out[crc_at..crc_at + 4].copy_from_slice(&crc.to_be_bytes());
}

#[cfg(test)]
mod tests;
