//! Segment files: aligned direct-IO writes at aligned positions through
//! io_uring, and reads through a second, buffered descriptor.
//!
//! Why buffered reads: glommio's direct reads always use io_uring's fixed
//! (registered) buffers, and registration is charged to the user's
//! RLIMIT_MEMLOCK, which a host may keep low and cannot always be raised;
//! when it fails, direct reads fail with EOPNOTSUPP while writes still work.
//! Buffered reads need no registration, go through io_uring without blocking
//! the reactor, and let the page cache (which the kernel keeps coherent with
//! direct writes) serve catch-up readers, as DESIGN.md plans for cold data.

use std::io;
use std::path::Path;
use std::rc::Rc;

use bytes::Bytes;
use glommio::io::{BufferedFile, DmaBuffer, DmaFile, OpenOptions};

/// An aligned buffer a [`DirectFile`] can write from.
pub struct AlignedBuffer(DmaBuffer);

impl AlignedBuffer {
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        self.0.as_bytes_mut()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

/// A file opened with O_DIRECT. Cloning shares the descriptor.
#[derive(Clone)]
pub struct DirectFile {
    file: Rc<DmaFile>,
    reader: Rc<BufferedFile>,
}

impl DirectFile {
    /// Opens for reading and writing, creating the file when missing.
    pub async fn open(path: &Path) -> io::Result<DirectFile> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .dma_open(path)
            .await?;
        let reader = BufferedFile::open(path).await?;
        Ok(DirectFile {
            file: Rc::new(file),
            reader: Rc::new(reader),
        })
    }

    /// A zeroed buffer of `size` bytes (a multiple of the alignment).
    pub fn allocate(&self, size: usize) -> AlignedBuffer {
        let mut buffer = self.file.alloc_dma_buffer(size);
        buffer.as_bytes_mut().fill(0);
        AlignedBuffer(buffer)
    }

    /// Writes the whole buffer at `position`; a short write is an error.
    pub async fn write_at(&self, buffer: AlignedBuffer, position: u64) -> io::Result<()> {
        let expected = buffer.len();
        let written = self.file.write_at(buffer.0, position).await?;
        if written != expected {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("short write: {written} of {expected} bytes at {position}"),
            ));
        }
        Ok(())
    }

    /// Reads up to `length` bytes at `position` (fewer at end of file).
    pub async fn read_at(&self, position: u64, length: usize) -> io::Result<Bytes> {
        if length == 0 {
            return Ok(Bytes::new());
        }
        let result = self.reader.read_at(position, length).await?;
        Ok(Bytes::copy_from_slice(&result))
    }

    pub async fn sync(&self) -> io::Result<()> {
        self.file.fdatasync().await.map_err(io::Error::from)
    }

    pub async fn truncate(&self, size: u64) -> io::Result<()> {
        self.file.truncate(size).await.map_err(io::Error::from)
    }

    pub async fn size(&self) -> io::Result<u64> {
        self.file.file_size().await.map_err(io::Error::from)
    }
}
