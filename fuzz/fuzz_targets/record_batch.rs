//! Record batch checks on arbitrary bytes: what the broker runs on the
//! `records` of every produced partition (`batch::validate_batches`, the
//! idempotent producer fields, `batch::assign_offset` before the append),
//! and what it runs on stored batches (kafka-protocol's `RecordBatchDecoder`
//! with decompression, for ListOffsets by timestamp, and the offsets log's
//! `decode_batch` at replay).
//!
//! Each input runs twice: as it is, and with every batch's CRC-32C made
//! right, so mutations get past the checksum to everything behind it.
//!
//! Must hold: nothing panics; a batch that passes validation still passes
//! after the broker rewrites its offset and timestamp, and keeps its length.

#![no_main]

use bytes::Bytes;
use corelog::group::offsets_log;
use corelog::limits::MESSAGE_BYTES_MAX_DEFAULT;
use corelog::protocol::batch::{self, BatchHeader, TimestampType};
use corelog::storage::producers::ProducerBatch;
use kafka_protocol::records::RecordBatchDecoder;
use libfuzzer_sys::fuzz_target;

#[path = "batch_crcs.rs"]
mod batch_crcs;
use batch_crcs::with_crcs_fixed;

fuzz_target!(|data: &[u8]| {
    check(data);
    let fixed = with_crcs_fixed(data);
    if fixed != data {
        check(&fixed);
    }
});

fn check(data: &[u8]) {
    let limit_bytes = MESSAGE_BYTES_MAX_DEFAULT as usize;
    if let Ok(spans) = batch::validate_batches(data, limit_bytes) {
        let mut stored = data.to_vec();
        let mut base_offset = 0i64;
        for span in &spans {
            let header = BatchHeader::view(&data[span.position..]).expect("a validated batch");
            let _ = ProducerBatch::from_header(
                header.producer_id.get(),
                header.producer_epoch.get(),
                header.base_sequence.get(),
                header.last_offset_delta.get(),
                header.base_offset.get(),
            );
            let bytes = &mut stored[span.position..span.position + span.length];
            batch::assign_offset(bytes, base_offset, 0, TimestampType::LogAppendTime, 1_700_000_000_000);
            let again = batch::validate_batches(bytes, limit_bytes)
                .expect("a batch the broker rewrote still validates");
            assert_eq!(again.len(), 1);
            assert_eq!(again[0].length, span.length);
            base_offset += span.offset_count;
        }
        let mut bytes = Bytes::from(stored);
        while !bytes.is_empty() {
            if RecordBatchDecoder::decode(&mut bytes).is_err() {
                break;
            }
        }
    }
    let stored = Bytes::copy_from_slice(data);
    let _ = RecordBatchDecoder::decode(&mut stored.clone());
    let _ = offsets_log::decode_batch(&stored, &mut |_| {});
}
