//! Provides compression utilities for encoding records.
//!
//! This module has implementations of gzip, Snappy, as well as a noop compression format that
//! allows encoding and decoding records into a [`Record`](crate::records::Record).

use crate::protocol::buf::{ByteBuf, ByteBufMut};
use anyhow::Result;

#[cfg(feature = "gzip")]
mod gzip;
#[cfg(feature = "lz4")]
mod lz4;
mod none;
#[cfg(feature = "snappy")]
mod snappy;
#[cfg(feature = "zstd")]
mod zstd;

#[cfg(feature = "gzip")]
pub use gzip::Gzip;
#[cfg(feature = "lz4")]
pub use lz4::Lz4;
pub use none::None;
#[cfg(feature = "snappy")]
pub use snappy::Snappy;
#[cfg(feature = "zstd")]
pub use zstd::Zstd;

/// Most bytes one record batch may decompress to. Compressed input can claim
/// or produce far more than it holds (gzip reaches about 1000:1, a snappy
/// header may claim 4 GiB in five bytes), and all of it is held in memory at
/// once; past this bound decompression stops with an error instead.
pub const DECOMPRESSED_BYTES_MAX: usize = 32 * 1024 * 1024;

/// The error every decompressor returns when a batch would exceed
/// [`DECOMPRESSED_BYTES_MAX`].
#[cfg(any(feature = "gzip", feature = "lz4", feature = "snappy", feature = "zstd"))]
pub(crate) fn decompressed_too_large(bytes: usize) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!(
            "decompressed batch of at least {bytes} bytes exceeds the limit of {DECOMPRESSED_BYTES_MAX} bytes"
        ),
    )
}

/// A writer that fails once more than [`DECOMPRESSED_BYTES_MAX`] bytes have
/// been written to it, for decompressors that stream their output.
#[cfg(any(feature = "gzip", feature = "lz4", feature = "zstd"))]
pub(crate) struct CappedWriter<W> {
    inner: W,
    written: usize,
}

#[cfg(any(feature = "gzip", feature = "lz4", feature = "zstd"))]
impl<W> CappedWriter<W> {
    pub(crate) fn new(inner: W) -> Self {
        Self { inner, written: 0 }
    }

    #[cfg(any(feature = "lz4", feature = "zstd"))]
    pub(crate) fn into_inner(self) -> W {
        self.inner
    }
}

#[cfg(any(feature = "gzip", feature = "lz4", feature = "zstd"))]
impl<W: std::io::Write> std::io::Write for CappedWriter<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let total = self.written.saturating_add(data.len());
        if total > DECOMPRESSED_BYTES_MAX {
            return Err(decompressed_too_large(total));
        }
        let written = self.inner.write(data)?;
        self.written += written;
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A trait for record compression algorithms.
pub trait Compressor<B: ByteBufMut> {
    /// Target buffer type for compression.
    type BufMut: ByteBufMut;
    /// Compresses into provided [`ByteBufMut`], with records encoded by `F` into `R`.
    fn compress<R, F>(buf: &mut B, f: F) -> Result<R>
    where
        F: FnOnce(&mut Self::BufMut) -> Result<R>;
}

/// A trait for record decompression algorithms.
pub trait Decompressor<B: ByteBuf> {
    /// Target buffer type for decompression.
    type Buf: ByteBuf;
    /// Decompress records from `B` mapped using `F` into `R`.
    fn decompress<R, F>(buf: &mut B, f: F) -> Result<R>
    where
        F: FnOnce(&mut Self::Buf) -> Result<R>;
}
