//! Segment recovery on arbitrary bytes: the scan `Segment::open` runs over a
//! segment file after a crash (walk batch headers by length, check each
//! CRC-32C and that offsets continue, find where to cut), here over bytes in
//! memory through `storage::segment::scan`; the same visit as
//! `Segment::open` (offset continuity, idempotent producers, sparse index);
//! and the decoders of what a clean shutdown leaves beside a segment (seal
//! record, offset and time indexes).
//!
//! Input: the segment's bytes. The segment's base offset is the first
//! batch's own, so the scan gets past the first batch whenever it is whole.
//!
//! Each input runs twice: as it is, and with every batch's CRC-32C made
//! right, so mutations get past the checksum to the offset, producer and
//! index logic behind it.
//!
//! Must hold: nothing panics; the cut is at a batch boundary inside the
//! input, after exactly the batches accepted; an index rebuilt by the scan
//! encodes and decodes to itself.

#![no_main]

use bytes::Bytes;
use corelog::limits::INDEX_INTERVAL_BYTES;
use corelog::partition::producer_state::ProducerState;
use corelog::storage::index::{OffsetIndex, TimeIndex};
use corelog::storage::seal::SealRecord;
use corelog::storage::segment::scan;
use libfuzzer_sys::fuzz_target;

#[path = "batch_crcs.rs"]
mod batch_crcs;
use batch_crcs::with_crcs_fixed;

fuzz_target!(|data: &[u8]| {
    recover(data);
    let fixed = with_crcs_fixed(data);
    if fixed != data {
        recover(&fixed);
    }
});

fn recover(data: &[u8]) {
    let base_offset = data
        .first_chunk::<8>()
        .map_or(0, |bytes| i64::from_be_bytes(*bytes));
    let source = Bytes::copy_from_slice(data);
    let end = data.len() as u64;

    let mut expected_offset = base_offset;
    let mut producers = ProducerState::default();
    let mut offset_index = OffsetIndex::default();
    let mut time_index = TimeIndex::default();
    let mut bytes_since_index = 0u64;
    let mut accepted_end = 0u64;
    let mut max_timestamp = -1i64;
    let valid_end = futures_lite::future::block_on(scan(&source, 0, end, true, |summary| {
        if summary.base_offset != expected_offset {
            return false;
        }
        // As Segment::open does, arithmetic included.
        expected_offset = summary.last_offset + 1;
        if let Some(producer) = summary.producer {
            producers.record(producer);
        }
        let relative = (summary.base_offset - base_offset) as u32;
        if offset_index.is_empty() || bytes_since_index >= INDEX_INTERVAL_BYTES {
            offset_index.push(relative, summary.position as u32);
            time_index.push(summary.max_timestamp.max(max_timestamp), relative);
            bytes_since_index = 0;
        }
        bytes_since_index += summary.total_bytes;
        max_timestamp = max_timestamp.max(summary.max_timestamp);
        assert_eq!(summary.position, accepted_end, "batches are contiguous");
        accepted_end = summary.position + summary.total_bytes;
        true
    }))
    .expect("reading bytes in memory does not fail");
    assert!(valid_end <= end);
    assert_eq!(valid_end, accepted_end, "the cut is right after the last accepted batch");

    if valid_end > 0 {
        let encoded = offset_index.encode();
        assert_eq!(OffsetIndex::decode(&encoded, valid_end), Some(offset_index));
        assert_eq!(TimeIndex::decode(&time_index.encode()), Some(time_index));
    }
    let _ = producers.snapshot();

    if let Some(record) = SealRecord::decode(data) {
        let _ = ProducerState::restore(&record.producers);
        assert_eq!(SealRecord::decode(&record.encode()), Some(record));
    }
    let _ = OffsetIndex::decode(data, end.max(1));
    let _ = TimeIndex::decode(data);
}
