//! Pieces of a response on their way to the socket: bytes in memory
//! (refcounted, sent as they are) or a region of a file (sent by the kernel
//! from the page cache). A response is a list of pieces, so stored record
//! batches are never copied into a response buffer.
//!
//! The protocol layer does no IO, so it does not know what a file region is:
//! [`Piece`] is generic over it, and the runtime's region type (an open
//! descriptor, a position and a length: `rt::file::FileRegion`) implements
//! [`Region`]. The concrete piece the broker sends is the alias
//! `rt::net::Piece`.
//!
//! Invariants: a piece's [`Piece::len`] is exactly the bytes it puts on the
//! wire, so lengths written in front of pieces (record set sizes, the frame
//! length) match what follows them.

use bytes::Bytes;

/// A range of bytes that lives outside memory (a region of a file) and is
/// sent without being copied in.
pub trait Region: Clone + std::fmt::Debug {
    /// The bytes the region sends.
    fn length(&self) -> u64;
}

/// One piece of a response: memory, or a region sent by the runtime.
#[derive(Debug, Clone)]
pub enum Piece<R> {
    Memory(Bytes),
    File(R),
}

impl<R: Region> Piece<R> {
    pub fn len(&self) -> usize {
        match self {
            Piece::Memory(bytes) => bytes.len(),
            Piece::File(region) => region.length() as usize,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// No region at all: pieces that are always memory (tests and tools that
/// build responses without files).
#[derive(Debug, Clone, Copy)]
pub enum NoRegion {}

impl Region for NoRegion {
    fn length(&self) -> u64 {
        match *self {}
    }
}
