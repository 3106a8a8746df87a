//! Shared by the fuzz targets that read record batches (`record_batch`,
//! `segment_recovery`): each input also runs with its CRCs made right, so
//! mutations get past the checksum to the logic behind it.

use corelog::protocol::batch::{self, BATCH_HEADER_BYTES};

/// Rewrites the CRC-32C of each batch found by walking batch lengths, as a
/// client that computed them would have sent it.
pub fn with_crcs_fixed(data: &[u8]) -> Vec<u8> {
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
