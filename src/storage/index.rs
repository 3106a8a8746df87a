//! Sparse offset and time indexes of one segment, kept in memory while the
//! segment is active and written beside it when it is sealed or closed.
//!
//! File layouts follow Kafka's: the offset index holds 8-byte entries
//! (relative offset u32, file position u32), the time index 12-byte entries
//! (timestamp i64, relative offset u32), all big-endian. Here an offset entry
//! names the first offset of a batch that starts at that position.
//!
//! Invariants: entries are strictly increasing in offset and position (time
//! index: non-decreasing in timestamp); a file that breaks this, or whose size
//! is not a whole number of entries, is ignored and rebuilt from the segment.

use std::io::{self, Write};
use std::path::Path;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct OffsetIndex {
    /// (offset relative to the segment base, byte position in the segment)
    entries: Vec<(u32, u32)>,
}

impl OffsetIndex {
    pub fn push(&mut self, relative_offset: u32, position: u32) {
        if let Some(&(last_offset, last_position)) = self.entries.last() {
            debug_assert!(relative_offset > last_offset && position > last_position);
            if relative_offset <= last_offset || position <= last_position {
                return;
            }
        }
        self.entries.push((relative_offset, position));
    }

    /// Position of the last indexed batch starting at or before the offset;
    /// 0 (the segment start) when none does.
    pub fn position_at_or_before(&self, relative_offset: u32) -> u32 {
        match self
            .entries
            .partition_point(|&(offset, _)| offset <= relative_offset)
        {
            0 => 0,
            index => self.entries[index - 1].1,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.entries.len() * 8);
        for &(offset, position) in &self.entries {
            bytes.extend_from_slice(&offset.to_be_bytes());
            bytes.extend_from_slice(&position.to_be_bytes());
        }
        bytes
    }

    /// Decodes a file's bytes; `None` when they are not a valid index for a
    /// segment of `segment_bytes`.
    pub fn decode(bytes: &[u8], segment_bytes: u64) -> Option<OffsetIndex> {
        if !bytes.len().is_multiple_of(8) {
            return None;
        }
        let mut index = OffsetIndex::default();
        for entry in bytes.chunks_exact(8) {
            let offset = u32::from_be_bytes(entry[0..4].try_into().ok()?);
            let position = u32::from_be_bytes(entry[4..8].try_into().ok()?);
            if u64::from(position) >= segment_bytes {
                return None;
            }
            if let Some(&(last_offset, last_position)) = index.entries.last() {
                if offset <= last_offset || position <= last_position {
                    return None;
                }
            }
            index.entries.push((offset, position));
        }
        Some(index)
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TimeIndex {
    /// (largest timestamp so far, offset relative to the segment base)
    entries: Vec<(i64, u32)>,
}

impl TimeIndex {
    pub fn push(&mut self, timestamp: i64, relative_offset: u32) {
        if let Some(&(last_timestamp, _)) = self.entries.last() {
            if timestamp <= last_timestamp {
                return;
            }
        }
        self.entries.push((timestamp, relative_offset));
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.entries.len() * 12);
        for &(timestamp, offset) in &self.entries {
            bytes.extend_from_slice(&timestamp.to_be_bytes());
            bytes.extend_from_slice(&offset.to_be_bytes());
        }
        bytes
    }

    /// Decodes a file's bytes; `None` when they are not a valid time index.
    pub fn decode(bytes: &[u8]) -> Option<TimeIndex> {
        if !bytes.len().is_multiple_of(12) {
            return None;
        }
        let mut index = TimeIndex::default();
        for entry in bytes.chunks_exact(12) {
            let timestamp = i64::from_be_bytes(entry[0..8].try_into().ok()?);
            let offset = u32::from_be_bytes(entry[8..12].try_into().ok()?);
            if let Some(&(last_timestamp, last_offset)) = index.entries.last() {
                if timestamp <= last_timestamp || offset < last_offset {
                    return None;
                }
            }
            index.entries.push((timestamp, offset));
        }
        Some(index)
    }
}

/// Writes an index file whole and makes it durable. Index files are small and
/// written only when a segment is sealed or closed, so this blocking write
/// stays off the append path.
pub fn write_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = std::fs::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_finds_floor_entry() {
        let mut index = OffsetIndex::default();
        index.push(0, 0);
        index.push(10, 4100);
        index.push(20, 8300);
        assert_eq!(index.position_at_or_before(0), 0);
        assert_eq!(index.position_at_or_before(9), 0);
        assert_eq!(index.position_at_or_before(10), 4100);
        assert_eq!(index.position_at_or_before(25), 8300);
    }

    #[test]
    fn round_trips_and_rejects_damage() {
        let mut index = OffsetIndex::default();
        index.push(3, 100);
        index.push(7, 5000);
        let bytes = index.encode();
        assert_eq!(OffsetIndex::decode(&bytes, 10_000), Some(index));
        assert_eq!(
            OffsetIndex::decode(&bytes[..12], 10_000),
            None,
            "torn entry"
        );
        assert_eq!(
            OffsetIndex::decode(&bytes, 4000),
            None,
            "position past the segment"
        );
        let mut swapped = bytes[8..].to_vec();
        swapped.extend_from_slice(&bytes[..8]);
        assert_eq!(OffsetIndex::decode(&swapped, 10_000), None, "out of order");
    }
}
