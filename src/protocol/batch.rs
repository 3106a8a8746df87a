//! A view of Kafka's RecordBatch v2 header, and the checks and rewrites the
//! broker does on it. Record data inside a batch is never decoded here.
//!
//! Invariants: a batch that passes [`validate_batches`] has magic 2, a length
//! that stays inside its buffer, and a CRC-32C that matches bytes
//! `attributes..end`. The broker rewrites only `baseOffset` and
//! `partitionLeaderEpoch` (both outside the CRC), and for LogAppendTime topics
//! the attributes and `maxTimestamp`, after which it recomputes the CRC.

use zerocopy::byteorder::big_endian::{I16, I32, I64, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::error::ErrorCode;

/// The 61-byte header that starts every v2 batch, field for field.
#[derive(Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct BatchHeader {
    pub base_offset: I64,
    /// Bytes after this field, up to the end of the batch.
    pub batch_length: I32,
    pub partition_leader_epoch: I32,
    pub magic: i8,
    pub crc: U32,
    pub attributes: I16,
    pub last_offset_delta: I32,
    pub base_timestamp: I64,
    pub max_timestamp: I64,
    pub producer_id: I64,
    pub producer_epoch: I16,
    pub base_sequence: I32,
    pub records_count: I32,
}

pub const BATCH_HEADER_BYTES: usize = 61;
/// `baseOffset` and `batchLength` come before the length-counted part.
pub const BATCH_LENGTH_PREFIX_BYTES: usize = 12;
/// The CRC covers everything from `attributes` on.
const CRC_START: usize = 21;
const CRC_FIELD: std::ops::Range<usize> = 17..21;

const _: () = assert!(std::mem::size_of::<BatchHeader>() == BATCH_HEADER_BYTES);

const ATTRIBUTE_COMPRESSION_MASK: i16 = 0x07;
const ATTRIBUTE_LOG_APPEND_TIME: i16 = 0x08;
const ATTRIBUTE_TRANSACTIONAL: i16 = 0x10;
const ATTRIBUTE_CONTROL: i16 = 0x20;

impl BatchHeader {
    /// The header at the start of `bytes`, if there are enough bytes for one.
    pub fn view(bytes: &[u8]) -> Option<&BatchHeader> {
        BatchHeader::ref_from_prefix(bytes)
            .ok()
            .map(|(header, _)| header)
    }

    pub fn view_mut(bytes: &mut [u8]) -> Option<&mut BatchHeader> {
        BatchHeader::mut_from_prefix(bytes)
            .ok()
            .map(|(header, _)| header)
    }

    /// Bytes the whole batch occupies, prefix included.
    pub fn total_bytes(&self) -> usize {
        BATCH_LENGTH_PREFIX_BYTES + self.batch_length.get().max(0) as usize
    }

    /// Wraps rather than panics: callers reading headers off the disk or
    /// the wire check that the offsets make sense before relying on them.
    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .get()
            .wrapping_add(i64::from(self.last_offset_delta.get()))
    }

    pub fn next_offset(&self) -> i64 {
        self.last_offset() + 1
    }

    pub fn compression(&self) -> i16 {
        self.attributes.get() & ATTRIBUTE_COMPRESSION_MASK
    }
}

/// One valid batch inside a produce request's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSpan {
    pub position: usize,
    pub length: usize,
    /// Offsets the batch takes: `lastOffsetDelta + 1`.
    pub offset_count: i64,
}

/// Why a produce request's records were refused; maps to a wire error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchError {
    /// Too short, lengths that run past the buffer, or an impossible length.
    Malformed(&'static str),
    /// Magic other than 2.
    UnsupportedMagic(i8),
    /// Stored CRC does not match the computed one.
    CrcMismatch { stored: u32, computed: u32 },
    /// A batch larger than `max.message.bytes`.
    TooLarge {
        batch_bytes: usize,
        limit_bytes: usize,
    },
    /// Record counts that disagree, or control/transactional batches, which a
    /// plain producer never sends and this broker does not accept yet.
    InvalidRecord(&'static str),
}

impl BatchError {
    pub fn error_code(&self) -> ErrorCode {
        match self {
            BatchError::Malformed(_) | BatchError::CrcMismatch { .. } => ErrorCode::CORRUPT_MESSAGE,
            BatchError::UnsupportedMagic(_) => ErrorCode::UNSUPPORTED_FOR_MESSAGE_FORMAT,
            BatchError::TooLarge { .. } => ErrorCode::MESSAGE_TOO_LARGE,
            BatchError::InvalidRecord(_) => ErrorCode::INVALID_RECORD,
        }
    }
}

impl std::fmt::Display for BatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BatchError::Malformed(why) => write!(f, "malformed batch: {why}"),
            BatchError::UnsupportedMagic(magic) => {
                write!(f, "unsupported record batch magic {magic}")
            }
            BatchError::CrcMismatch { stored, computed } => {
                write!(
                    f,
                    "batch CRC mismatch: stored {stored:#010x}, computed {computed:#010x}"
                )
            }
            BatchError::TooLarge {
                batch_bytes,
                limit_bytes,
            } => {
                write!(
                    f,
                    "batch of {batch_bytes} bytes exceeds max.message.bytes {limit_bytes}"
                )
            }
            BatchError::InvalidRecord(why) => write!(f, "invalid record batch: {why}"),
        }
    }
}

/// CRC-32C over `attributes..end` of one whole batch.
pub fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(&batch[CRC_START..])
}

/// Checks every batch in a produce request's `records` and returns where each
/// lies. Nothing is written unless every batch passes, so a request is
/// appended whole or not at all.
pub fn validate_batches(records: &[u8], limit_bytes: usize) -> Result<Vec<BatchSpan>, BatchError> {
    if records.is_empty() {
        return Err(BatchError::Malformed("no record batch in request"));
    }
    let mut spans = Vec::new();
    let mut position = 0;
    while position < records.len() {
        let rest = &records[position..];
        let header =
            BatchHeader::view(rest).ok_or(BatchError::Malformed("shorter than a batch header"))?;
        if header.magic != 2 {
            return Err(BatchError::UnsupportedMagic(header.magic));
        }
        let length = header.batch_length.get();
        if length < (BATCH_HEADER_BYTES - BATCH_LENGTH_PREFIX_BYTES) as i32 {
            return Err(BatchError::Malformed(
                "batch length shorter than its header",
            ));
        }
        let total = header.total_bytes();
        if total > rest.len() {
            return Err(BatchError::Malformed("batch length runs past the request"));
        }
        if total > limit_bytes {
            return Err(BatchError::TooLarge {
                batch_bytes: total,
                limit_bytes,
            });
        }
        let computed = compute_crc(&rest[..total]);
        if computed != header.crc.get() {
            return Err(BatchError::CrcMismatch {
                stored: header.crc.get(),
                computed,
            });
        }
        let attributes = header.attributes.get();
        if attributes & ATTRIBUTE_CONTROL != 0 {
            return Err(BatchError::InvalidRecord(
                "control batches may not be produced",
            ));
        }
        if attributes & ATTRIBUTE_TRANSACTIONAL != 0 {
            return Err(BatchError::InvalidRecord(
                "transactional batches are not supported",
            ));
        }
        let last_offset_delta = header.last_offset_delta.get();
        let count = header.records_count.get();
        if last_offset_delta < 0
            || count <= 0
            || i64::from(count) != i64::from(last_offset_delta) + 1
        {
            return Err(BatchError::InvalidRecord(
                "records count does not match lastOffsetDelta",
            ));
        }
        spans.push(BatchSpan {
            position,
            length: total,
            offset_count: i64::from(last_offset_delta) + 1,
        });
        position += total;
    }
    Ok(spans)
}

/// How the broker stamps a batch as it appends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    CreateTime,
    /// The broker sets `maxTimestamp` to the append time and flags the batch.
    LogAppendTime,
}

/// Rewrites a validated batch in place for its place in the log: its base
/// offset, the epoch of the leader that appends it (from the partition's
/// placement; outside the CRC, which starts at the attributes), and for
/// `LogAppendTime` the timestamp. Returns the batch's max timestamp as
/// stored.
pub fn assign_offset(
    batch: &mut [u8],
    base_offset: i64,
    leader_epoch: i32,
    timestamp_type: TimestampType,
    now_milliseconds: i64,
) -> i64 {
    debug_assert!(leader_epoch >= 0, "a leader's epoch is never negative");
    let recompute_crc = {
        let header = BatchHeader::view_mut(batch).expect("validated batch has a header");
        header.base_offset.set(base_offset);
        header.partition_leader_epoch.set(leader_epoch);
        match timestamp_type {
            TimestampType::CreateTime => false,
            TimestampType::LogAppendTime => {
                header
                    .attributes
                    .set(header.attributes.get() | ATTRIBUTE_LOG_APPEND_TIME);
                header.max_timestamp.set(now_milliseconds);
                true
            }
        }
    };
    if recompute_crc {
        let crc = compute_crc(batch);
        batch[CRC_FIELD].copy_from_slice(&crc.to_be_bytes());
    }
    BatchHeader::view(batch)
        .expect("validated batch has a header")
        .max_timestamp
        .get()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal valid batch holding `count` empty records (record bytes are
    /// opaque to the broker, so any bytes after the header will do).
    pub fn sample_batch(count: i32, body: &[u8]) -> Vec<u8> {
        let mut batch = vec![0u8; BATCH_HEADER_BYTES];
        batch.extend_from_slice(body);
        let length = (batch.len() - BATCH_LENGTH_PREFIX_BYTES) as i32;
        {
            let header = BatchHeader::view_mut(&mut batch).unwrap();
            header.batch_length.set(length);
            header.magic = 2;
            header.last_offset_delta.set(count - 1);
            header.records_count.set(count);
            header.base_timestamp.set(1_000);
            header.max_timestamp.set(2_000);
            header.producer_id.set(-1);
        }
        let crc = compute_crc(&batch);
        batch[CRC_FIELD].copy_from_slice(&crc.to_be_bytes());
        batch
    }

    #[test]
    fn accepts_several_valid_batches() {
        let mut records = sample_batch(3, b"abc");
        records.extend(sample_batch(1, b"d"));
        let spans = validate_batches(&records, 1 << 20).unwrap();
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[0].offset_count, 3);
        assert_eq!(spans[1].position, spans[0].length);
    }

    #[test]
    fn rejects_flipped_bit() {
        let mut records = sample_batch(1, b"hello");
        let last = records.len() - 1;
        records[last] ^= 0x01;
        assert!(matches!(
            validate_batches(&records, 1 << 20),
            Err(BatchError::CrcMismatch { .. })
        ));
    }

    #[test]
    fn rejects_truncated_and_oversized() {
        let records = sample_batch(1, b"hello");
        assert!(matches!(
            validate_batches(&records[..records.len() - 1], 1 << 20),
            Err(BatchError::Malformed(_))
        ));
        assert!(matches!(
            validate_batches(&records[..10], 1 << 20),
            Err(BatchError::Malformed(_))
        ));
        assert!(matches!(
            validate_batches(&records, 10),
            Err(BatchError::TooLarge { .. })
        ));
    }

    #[test]
    fn rejects_other_magic_and_bad_counts() {
        let mut records = sample_batch(1, b"x");
        records[16] = 1;
        assert_eq!(
            validate_batches(&records, 1 << 20),
            Err(BatchError::UnsupportedMagic(1))
        );
        let mut records = sample_batch(2, b"x");
        BatchHeader::view_mut(&mut records)
            .unwrap()
            .records_count
            .set(5);
        let crc = compute_crc(&records);
        records[CRC_FIELD].copy_from_slice(&crc.to_be_bytes());
        assert!(matches!(
            validate_batches(&records, 1 << 20),
            Err(BatchError::InvalidRecord(_))
        ));
    }

    #[test]
    fn log_append_time_keeps_crc_valid() {
        let mut batch = sample_batch(2, b"xy");
        let stored = assign_offset(&mut batch, 42, 3, TimestampType::LogAppendTime, 9_999);
        assert_eq!(stored, 9_999);
        let header = BatchHeader::view(&batch).unwrap();
        assert_eq!(header.base_offset.get(), 42);
        assert_eq!(header.partition_leader_epoch.get(), 3);
        assert_eq!(header.last_offset(), 43);
        assert_ne!(header.attributes.get() & ATTRIBUTE_LOG_APPEND_TIME, 0);
        validate_batches(&batch, 1 << 20).unwrap();
    }
}
