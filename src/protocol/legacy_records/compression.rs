//! Decompressing the value of a compressed (wrapper) message, or a stored
//! v2 batch's records, within a byte bound given by the caller.
//!
//! Invariants: output never exceeds the caller's bound, checked before the
//! output is allocated where the format states its length (snappy) and
//! while inflating where it does not (gzip).

use bytes::{Bytes, BytesMut};
use kafka_protocol::compression::{Decompressor, Snappy};

use super::decode::Reader;
use super::{LegacyError, CODEC_GZIP, CODEC_SNAPPY};

/// Decompresses a wrapper's value, producing at most `budget` bytes.
///
/// Both bounds are exact. Snappy blocks state their uncompressed length up
/// front and the decoder holds them to it, so the lengths are summed and
/// checked before anything is decompressed. Gzip states its length only in
/// its trailer, so it is inflated through a reader that stops at the bound.
pub fn decompress(codec: i8, compressed: &Bytes, budget: usize) -> Result<Bytes, LegacyError> {
    let output = match codec {
        CODEC_GZIP => match gunzip::gunzip(compressed, budget) {
            Ok(output) => Bytes::from(output),
            Err(gunzip::GunzipError::Truncated) => {
                return Err(LegacyError::Truncated("gzip stream"))
            }
            Err(gunzip::GunzipError::Invalid(why)) => {
                return Err(LegacyError::Decompression(format!("gzip: {why}")))
            }
            Err(gunzip::GunzipError::TooLarge) => {
                return Err(LegacyError::DecompressedTooLarge {
                    limit_bytes: budget,
                })
            }
        },
        CODEC_SNAPPY => decompress_snappy(compressed, budget)?,
        other => return Err(LegacyError::UnsupportedCompression(other)),
    };
    if output.len() > budget {
        return Err(LegacyError::DecompressedTooLarge {
            limit_bytes: budget,
        });
    }
    Ok(output)
}

/// The framing Kafka's Java clients put around snappy blocks (xerial's
/// SnappyOutputStream): this 8-byte magic, two 4-byte versions, then
/// blocks of `length: u32, raw snappy`.
const SNAPPY_FRAMING_MAGIC: &[u8] = b"\x82SNAPPY\x00";
const SNAPPY_FRAMING_HEADER_BYTES: usize = 16;

fn decompress_snappy(compressed: &Bytes, budget: usize) -> Result<Bytes, LegacyError> {
    let framed = compressed.starts_with(SNAPPY_FRAMING_MAGIC);
    let blocks: Vec<Bytes> = if framed {
        if compressed.len() < SNAPPY_FRAMING_HEADER_BYTES {
            return Err(LegacyError::Truncated("snappy framing header"));
        }
        let mut blocks = Vec::new();
        let mut reader = Reader::new(compressed, SNAPPY_FRAMING_HEADER_BYTES, compressed.len());
        while reader.remaining() > 0 {
            let length = reader.i32("snappy block length")? as u32 as usize;
            if length > reader.remaining() {
                return Err(LegacyError::Truncated("snappy block"));
            }
            blocks.push(compressed.slice(reader.position..reader.position + length));
            reader.position += length;
        }
        blocks
    } else {
        vec![compressed.clone()]
    };
    let mut stated_total = 0usize;
    for block in &blocks {
        // A block that itself starts like the framing would be read as
        // framing again by the codec crate, past the checks made here.
        if block.starts_with(SNAPPY_FRAMING_MAGIC) {
            return Err(LegacyError::Malformed("nested snappy framing"));
        }
        stated_total = stated_total.saturating_add(snappy_stated_length(block)?);
        if stated_total > budget {
            return Err(LegacyError::DecompressedTooLarge {
                limit_bytes: budget,
            });
        }
    }
    let mut output = BytesMut::with_capacity(stated_total);
    for block in blocks {
        let mut input = block;
        let decompressed = Snappy::decompress(&mut input, |output| Ok(std::mem::take(output)))
            .map_err(|error| LegacyError::Decompression(format!("snappy: {error:#}")))?;
        output.extend_from_slice(&decompressed);
    }
    Ok(output.freeze())
}

/// The uncompressed length a raw snappy block starts with (a varint).
fn snappy_stated_length(block: &[u8]) -> Result<usize, LegacyError> {
    let mut value = 0u64;
    for (index, &byte) in block.iter().take(5).enumerate() {
        value |= u64::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            return Ok(value as usize);
        }
    }
    Err(LegacyError::Malformed("snappy block without a length"))
}

/// Gzip (RFC 1952), inflated by flate2 (already in the build through the
/// codec crate) through a reader that stops one byte past `output_max`, so
/// a 1 MiB wrapper that would inflate a thousandfold costs at most the
/// bound. flate2 checks each member's CRC-32 and length; several members
/// in a row are read as one stream, as Java's GZIPInputStream reads them.
pub(super) mod gunzip {
    use std::io::Read;

    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum GunzipError {
        /// The stream ended inside a header, a block or a trailer.
        Truncated,
        /// Not gzip, or damaged deflate data, header or trailer.
        Invalid(String),
        /// More output than allowed.
        TooLarge,
    }

    pub fn gunzip(input: &[u8], output_max: usize) -> Result<Vec<u8>, GunzipError> {
        let mut output = Vec::new();
        let limit = output_max as u64 + 1;
        let read = flate2::read::MultiGzDecoder::new(input)
            .take(limit)
            .read_to_end(&mut output);
        match read {
            Ok(_) if output.len() > output_max => Err(GunzipError::TooLarge),
            Ok(_) => Ok(output),
            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => {
                Err(GunzipError::Truncated)
            }
            Err(error) => Err(GunzipError::Invalid(error.to_string())),
        }
    }
}
