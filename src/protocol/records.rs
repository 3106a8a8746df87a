//! Building record batches with kafka-protocol's encoder: the broker writes
//! its own (the offsets log), and benchmarks and tests make client batches
//! the same way.

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

/// Record `index` of a batch from a producer that is not idempotent.
pub fn record(index: usize, key: Option<Bytes>, value: Option<Bytes>, timestamp: i64) -> Record {
    Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: index as i64,
        // The encoder starts a new batch where offset - sequence changes;
        // this keeps one batch, with baseSequence -1 (not idempotent).
        sequence: index as i32 - 1,
        timestamp,
        key,
        value,
        headers: Default::default(),
    }
}

/// `records` as a v2 batch (more than one only where their offsets and
/// sequences make the encoder split).
pub fn encode_batch(records: &[Record], compression: Compression) -> Bytes {
    let mut out = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut out,
        records,
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .expect("encoding records into memory cannot fail");
    out.freeze()
}
