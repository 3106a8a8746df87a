//! The seal record written beside a segment (`<base offset>.seal`) when it
//! is sealed: at roll, and for the active segment at clean shutdown. It
//! says what the segment holds (size, next offset, newest timestamp), the
//! CRC-32C of both index files, and the idempotent producers' state as of
//! the segment's end (Kafka's producer snapshot), so a later start can
//! trust the segment without reading it.
//!
//! Layout: magic `CLSEAL01`, size u64, next offset i64, max timestamp
//! i64, offset-index CRC u32, time-index CRC u32, producer count u32, then
//! per producer batch (producer id i64, epoch i16, first and last sequence
//! i32, base and last offset i64), then the CRC-32C of everything before it.
//! Big-endian. A record that does not check out is ignored: the segment is
//! scanned instead.

use super::producers::ProducerBatch;

const MAGIC: &[u8; 8] = b"CLSEAL01";
const PRODUCER_BATCH_BYTES: usize = 8 + 2 + 4 + 4 + 8 + 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealRecord {
    pub size: u64,
    pub next_offset: i64,
    pub max_timestamp: i64,
    pub offset_index_crc: u32,
    pub time_index_crc: u32,
    pub producers: Vec<ProducerBatch>,
}

impl SealRecord {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(48 + self.producers.len() * PRODUCER_BATCH_BYTES);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.size.to_be_bytes());
        out.extend_from_slice(&self.next_offset.to_be_bytes());
        out.extend_from_slice(&self.max_timestamp.to_be_bytes());
        out.extend_from_slice(&self.offset_index_crc.to_be_bytes());
        out.extend_from_slice(&self.time_index_crc.to_be_bytes());
        out.extend_from_slice(&(self.producers.len() as u32).to_be_bytes());
        for batch in &self.producers {
            out.extend_from_slice(&batch.producer_id.to_be_bytes());
            out.extend_from_slice(&batch.producer_epoch.to_be_bytes());
            out.extend_from_slice(&batch.first_sequence.to_be_bytes());
            out.extend_from_slice(&batch.last_sequence.to_be_bytes());
            out.extend_from_slice(&batch.base_offset.to_be_bytes());
            out.extend_from_slice(&batch.last_offset.to_be_bytes());
        }
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_be_bytes());
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<SealRecord> {
        let (body, crc) = bytes.split_at_checked(bytes.len().checked_sub(4)?)?;
        if crc32c::crc32c(body) != u32::from_be_bytes(crc.try_into().ok()?) {
            return None;
        }
        let mut reader = Reader(body);
        if reader.take(8)? != MAGIC {
            return None;
        }
        let size = u64::from_be_bytes(reader.array()?);
        let next_offset = i64::from_be_bytes(reader.array()?);
        let max_timestamp = i64::from_be_bytes(reader.array()?);
        let offset_index_crc = u32::from_be_bytes(reader.array()?);
        let time_index_crc = u32::from_be_bytes(reader.array()?);
        let count = u32::from_be_bytes(reader.array()?) as usize;
        if reader.0.len() != count.checked_mul(PRODUCER_BATCH_BYTES)? {
            return None;
        }
        let mut producers = Vec::with_capacity(count);
        for _ in 0..count {
            producers.push(ProducerBatch {
                producer_id: i64::from_be_bytes(reader.array()?),
                producer_epoch: i16::from_be_bytes(reader.array()?),
                first_sequence: i32::from_be_bytes(reader.array()?),
                last_sequence: i32::from_be_bytes(reader.array()?),
                base_offset: i64::from_be_bytes(reader.array()?),
                last_offset: i64::from_be_bytes(reader.array()?),
            });
        }
        Some(SealRecord {
            size,
            next_offset,
            max_timestamp,
            offset_index_crc,
            time_index_crc,
            producers,
        })
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, count: usize) -> Option<&'a [u8]> {
        let (taken, rest) = self.0.split_at_checked(count)?;
        self.0 = rest;
        Some(taken)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_any_damage() {
        let record = SealRecord {
            size: 8192,
            next_offset: 120,
            max_timestamp: 1_700_000_000_000,
            offset_index_crc: 7,
            time_index_crc: 9,
            producers: vec![ProducerBatch::from_header(4, 1, 10, 4, 100).unwrap()],
        };
        let bytes = record.encode();
        assert_eq!(SealRecord::decode(&bytes), Some(record));
        for position in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[position] ^= 0x10;
            assert_eq!(
                SealRecord::decode(&damaged),
                None,
                "flipped byte {position}"
            );
        }
        assert_eq!(SealRecord::decode(&bytes[..bytes.len() - 1]), None);
        assert_eq!(SealRecord::decode(&[]), None);
    }
}
