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
use corelog::protocol::batch::{self, BatchHeader, TimestampType, BATCH_HEADER_BYTES};
use corelog::storage::producers::ProducerBatch;
use kafka_protocol::records::RecordBatchDecoder;
use libfuzzer_sys::fuzz_target;

/// Rewrites the CRC of each batch found by walking batch lengths, as a
/// client that computed them would have sent it.
fn with_crcs_fixed(data: &[u8]) -> Vec<u8> {
    let mut fixed = data.to_vec();
    let mut position = 0;
    while position + BATCH_HEADER_BYTES <= fixed.len() {
        let length = i32::from_be_bytes(fixed[position + 8..position + 12].try_into().unwrap());
        let Some(total) = usize::try_from(length).ok().map(|length| length + 12) else {
            break;
        };
        if total < BATCH_HEADER_BYTES || position + total > fixed.len() {
            break;
        }
        let crc = batch::compute_crc(&fixed[position..position + total]);
        fixed[position + 17..position + 21].copy_from_slice(&crc.to_be_bytes());
        position += total;
    }
    fixed
}

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
