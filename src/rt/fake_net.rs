//! Fake sockets for tests of the connection loop: a peer that sends a
//! script of bytes and then closes or goes silent ([`ScriptedReader`]), and
//! one that records what it is sent, or fails after a number of bytes
//! ([`RecordingWriter`]). They implement the same traits as a client's
//! socket (`net::SocketReader`, `net::SocketWriter`).
//!
//! Invariants: a scripted reader hands out its bytes in order, each once;
//! a recording writer's `sent` holds exactly the bytes it accepted, in order.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use super::net::{Piece, SocketReader, SocketWriter};

/// How a scripted peer behaves once its bytes are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterScript {
    /// Closes the connection.
    Close,
    /// Sends nothing more: a read with a time limit times out.
    Stall,
}

/// A peer that sends `script` (chunk by chunk, as a socket delivers), then
/// closes or stalls.
pub struct ScriptedReader {
    script: VecDeque<u8>,
    after: AfterScript,
}

impl ScriptedReader {
    pub fn new(script: &[u8], after: AfterScript) -> ScriptedReader {
        ScriptedReader {
            script: script.iter().copied().collect(),
            after,
        }
    }

    fn fill(&mut self, buffer: &mut [u8]) -> usize {
        let count = buffer.len().min(self.script.len());
        for (slot, byte) in buffer.iter_mut().zip(self.script.drain(..count)) {
            *slot = byte;
        }
        count
    }
}

impl SocketReader for ScriptedReader {
    async fn read_exact_or_eof(&mut self, buffer: &mut [u8]) -> io::Result<bool> {
        let count = self.fill(buffer);
        if count == buffer.len() {
            return Ok(true);
        }
        if count == 0 && self.after == AfterScript::Close {
            return Ok(false);
        }
        Err(self.ended())
    }

    async fn read_exact_within(&mut self, buffer: &mut [u8], _limit: Duration) -> io::Result<()> {
        if self.fill(buffer) == buffer.len() {
            return Ok(());
        }
        Err(self.ended())
    }
}

impl ScriptedReader {
    fn ended(&self) -> io::Error {
        match self.after {
            AfterScript::Close => {
                io::Error::new(io::ErrorKind::UnexpectedEof, "peer closed mid-frame")
            }
            AfterScript::Stall => io::Error::new(io::ErrorKind::TimedOut, "peer went silent"),
        }
    }
}

/// A peer that records the bytes it is sent; with `fail_after`, it takes
/// that many bytes and then fails every write (a client gone mid-reply).
/// `sent` is shared, so a test keeps a clone after handing the writer on.
#[derive(Default)]
pub struct RecordingWriter {
    pub sent: Rc<RefCell<Vec<u8>>>,
    pub fail_after: Option<usize>,
}

impl RecordingWriter {
    fn take(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut sent = self.sent.borrow_mut();
        let room = self
            .fail_after
            .map_or(usize::MAX, |limit| limit.saturating_sub(sent.len()));
        sent.extend_from_slice(&bytes[..bytes.len().min(room)]);
        if bytes.len() > room {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        Ok(())
    }
}

impl SocketWriter for RecordingWriter {
    async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.take(bytes)
    }

    async fn write_pieces(&mut self, pieces: &[Piece]) -> io::Result<()> {
        for piece in pieces {
            match piece {
                Piece::Memory(bytes) => self.take(bytes)?,
                Piece::File(region) => self.take(&region.read_blocking()?)?,
            }
        }
        Ok(())
    }
}
