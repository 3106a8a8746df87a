//! Reading magic 0 and 1 message sets: one message at a time, each checked
//! against its CRC before any of its fields is believed.
//!
//! Invariants: no read goes past the slice it was given; a length read off
//! the wire is checked against the bytes left before anything is sliced;
//! keys and values are slices of the input, never copies.

use bytes::Bytes;

use super::{
    crc32_ieee, LegacyError, LegacyMessage, LOG_OVERHEAD_BYTES, MAGIC_V0, MAGIC_V1,
    MESSAGE_V0_MIN_BYTES, MESSAGE_V1_MIN_BYTES, NO_TIMESTAMP,
};

/// A big-endian reader over a slice that never reads past its end.
pub(super) struct Reader<'a> {
    bytes: &'a Bytes,
    pub(super) position: usize,
    end: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn new(bytes: &'a Bytes, position: usize, end: usize) -> Reader<'a> {
        Reader {
            bytes,
            position,
            end,
        }
    }

    pub(super) fn remaining(&self) -> usize {
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

    pub(super) fn i32(&mut self, what: &'static str) -> Result<i32, LegacyError> {
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
