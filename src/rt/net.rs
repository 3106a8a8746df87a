//! Sockets: a shard's listener and its client connections, and the two
//! traits the connection loop is written against ([`SocketReader`],
//! [`SocketWriter`]), so a test can put a scripted or failing peer in place
//! of a socket (`fake_net.rs`).
//!
//! Invariants: a connection's halves share one socket, which closes when
//! both are dropped; a region sent with sendfile keeps its own descriptor,
//! so it stays valid however long the send takes.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::unix::io::{AsRawFd, FromRawFd, IntoRawFd, RawFd};
use std::rc::Rc;
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};

use super::file::FileRegion;
use crate::limits::{SEND_FILE_SLICE_MILLISECONDS, WRITE_VECTOR_PIECES_MAX};

/// A piece of a response as the broker sends it: memory, or a region of a
/// segment file (the protocol layer defines pieces over any region type).
pub type Piece = crate::protocol::piece::Piece<FileRegion>;

/// What the connection loop reads requests from: a client's socket
/// ([`ConnectionReader`]), or a scripted peer in tests
/// ([`ScriptedReader`](super::fake_net::ScriptedReader)).
/// Static dispatch: the loop is generic over it, so the socket costs no
/// indirect call.
pub trait SocketReader {
    /// Fills `buffer`; `Ok(false)` when the peer closed before the first byte.
    fn read_exact_or_eof(&mut self, buffer: &mut [u8]) -> impl Future<Output = io::Result<bool>>;

    /// Fills `buffer` within `limit`; a peer that closes or stalls first is
    /// an error.
    fn read_exact_within(
        &mut self,
        buffer: &mut [u8],
        limit: Duration,
    ) -> impl Future<Output = io::Result<()>>;
}

/// Where the connection's replies go: a client's socket
/// ([`ConnectionWriter`]), or a recording (or failing) peer in tests
/// ([`RecordingWriter`](super::fake_net::RecordingWriter)).
pub trait SocketWriter {
    fn write_all(&mut self, bytes: &[u8]) -> impl Future<Output = io::Result<()>>;

    /// Sends `pieces` in order, all of them or an error.
    fn write_pieces(&mut self, pieces: &[Piece]) -> impl Future<Output = io::Result<()>>;
}

/// A listening socket bound on the main thread (so every shard's port is
/// known before any shard starts) and handed to its shard.
pub struct Listener {
    socket: glommio::net::TcpListener,
    stop: Rc<ListenerStop>,
}

/// Stops a shard's listener from outside its accept loop, at once.
///
/// Closing the descriptor is not enough: glommio's pending accept holds
/// the socket in io_uring, which tears it down asynchronously, so the port
/// would go on accepting connections nobody serves (and that are reset
/// later) for a moment after the process exits. `shutdown(2)` takes the
/// socket out of the listening state immediately: new connections are
/// refused, clients retry, and a broker started right after this one binds
/// the port and serves its first client.
pub struct ListenerStop {
    fd: RawFd,
    stopped: std::cell::Cell<bool>,
}

impl ListenerStop {
    pub fn stop(&self) {
        if !self.stopped.replace(true) {
            // SAFETY: the descriptor belongs to the listener, which is
            // alive while its accept loop (holding this) runs; shutdown
            // does not close it.
            unsafe { libc::shutdown(self.fd, libc::SHUT_RDWR) };
        }
    }
}

impl Listener {
    /// Takes over a bound std listener; call on the shard that will accept.
    pub fn from_std(listener: std::net::TcpListener) -> Listener {
        let fd = listener.as_raw_fd();
        Listener {
            // SAFETY: the fd comes from a live, bound listener that we own
            // and give up here; glommio closes it when the Listener drops.
            socket: unsafe { glommio::net::TcpListener::from_raw_fd(listener.into_raw_fd()) },
            stop: Rc::new(ListenerStop {
                fd,
                stopped: std::cell::Cell::new(false),
            }),
        }
    }

    /// What stops this listener; keep it only as long as the listener.
    pub fn stopper(&self) -> Rc<ListenerStop> {
        self.stop.clone()
    }

    /// True once `ListenerStop::stop` ran: accepts fail from then on.
    pub fn is_shut_down(&self) -> bool {
        self.stop.stopped.get()
    }

    pub async fn accept(&self) -> io::Result<Connection> {
        let stream = self.socket.accept().await.map_err(io::Error::from)?;
        stream.set_nodelay(true).map_err(io::Error::from)?;
        Ok(Connection(stream))
    }
}

/// Opens a connection to `address` (a host name or address with a port),
/// giving up after `limit`.
pub async fn connect(address: &str, limit: Duration) -> io::Result<Connection> {
    use std::net::ToSocketAddrs;
    let resolved = address.to_socket_addrs()?.next().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("{address} resolves to nothing"),
        )
    })?;
    let stream = glommio::net::TcpStream::connect_timeout(resolved, limit)
        .await
        .map_err(io::Error::from)?;
    stream.set_nodelay(true).map_err(io::Error::from)?;
    Ok(Connection(stream))
}

/// One client connection.
pub struct Connection(glommio::net::TcpStream);

/// The reading half of a connection.
pub struct ConnectionReader(futures_lite::io::ReadHalf<glommio::net::TcpStream>);

/// The writing half of a connection, for a task of its own.
pub struct ConnectionWriter {
    half: futures_lite::io::WriteHalf<glommio::net::TcpStream>,
    /// The socket, for vectored writes and sendfile; valid while `half` is.
    fd: RawFd,
}

impl Connection {
    pub fn peer_address(&self) -> Option<SocketAddr> {
        self.0.peer_addr().ok()
    }

    /// The local address the client connected to.
    pub fn local_address(&self) -> Option<SocketAddr> {
        self.0.local_addr().ok()
    }

    /// Reading and writing halves that can be used by two tasks at once;
    /// the socket closes when both are dropped.
    pub fn split(self) -> (ConnectionReader, ConnectionWriter) {
        let fd = self.0.as_raw_fd();
        let (reader, writer) = futures_lite::io::split(self.0);
        (
            ConnectionReader(reader),
            ConnectionWriter { half: writer, fd },
        )
    }
}

impl ConnectionReader {
    /// Reads what has arrived, up to `buffer.len()` bytes, waiting at most
    /// `limit` for it: `Ok(0)` when the peer closed, a `TimedOut` error
    /// when nothing came in time (the metrics endpoint's HTTP requests).
    pub async fn read_within(&mut self, buffer: &mut [u8], limit: Duration) -> io::Result<usize> {
        glommio::timer::timeout(limit, async {
            self.0
                .read(buffer)
                .await
                .map_err(glommio::GlommioError::from)
        })
        .await
        .map_err(io::Error::from)
    }
}

impl SocketReader for ConnectionReader {
    async fn read_exact_or_eof(&mut self, buffer: &mut [u8]) -> io::Result<bool> {
        let mut filled = 0;
        while filled < buffer.len() {
            let count = self.0.read(&mut buffer[filled..]).await?;
            if count == 0 {
                if filled == 0 {
                    return Ok(false);
                }
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "peer closed mid-frame",
                ));
            }
            filled += count;
        }
        Ok(true)
    }

    async fn read_exact_within(&mut self, buffer: &mut [u8], limit: Duration) -> io::Result<()> {
        match glommio::timer::timeout(limit, async {
            match self.read_exact_or_eof(buffer).await {
                Ok(true) => Ok(()),
                Ok(false) => Err(glommio::GlommioError::from(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "peer closed mid-frame",
                ))),
                Err(error) => Err(glommio::GlommioError::from(error)),
            }
        })
        .await
        {
            Ok(()) => Ok(()),
            Err(error) => Err(io::Error::from(error)),
        }
    }
}

impl SocketWriter for ConnectionWriter {
    async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.half.write_all(bytes).await
    }

    /// Sends `pieces` in order: runs of memory pieces with one `writev`
    /// each (the socket is non-blocking; when it is full, glommio waits for
    /// room), file pieces with `sendfile` on the shard's blocking thread, so
    /// a cold disk read never stalls the reactor.
    async fn write_pieces(&mut self, pieces: &[Piece]) -> io::Result<()> {
        let mut index = 0;
        // Bytes of `pieces[index]` already sent.
        let mut sent = 0usize;
        while index < pieces.len() {
            match &pieces[index] {
                Piece::File(region) => {
                    self.send_file(region).await?;
                    index += 1;
                }
                Piece::Memory(_) => {
                    let written = self.write_memory_run(pieces, index, sent).await?;
                    (index, sent) = advance(pieces, index, sent, written);
                }
            }
        }
        Ok(())
    }
}

/// Where sending resumes after `written` more bytes from `pieces[index]`
/// on (of which `sent` had gone before): the next piece and the bytes of it
/// already sent, past any empty pieces so the next writev is not empty.
fn advance(
    pieces: &[Piece],
    mut index: usize,
    mut sent: usize,
    mut written: usize,
) -> (usize, usize) {
    while written > 0 {
        let left = pieces[index].len() - sent;
        if written >= left {
            written -= left;
            index += 1;
            sent = 0;
        } else {
            sent += written;
            written = 0;
        }
    }
    while index < pieces.len() && pieces[index].is_empty() {
        index += 1;
    }
    (index, sent)
}

impl ConnectionWriter {
    /// One `writev` of the run of memory pieces starting at `pieces[index]`
    /// (`sent` bytes of it already gone): the bytes it wrote, 0 when
    /// interrupted.
    async fn write_memory_run(
        &mut self,
        pieces: &[Piece],
        index: usize,
        sent: usize,
    ) -> io::Result<usize> {
        let run_end = pieces[index..]
            .iter()
            .position(|piece| matches!(piece, Piece::File(_)))
            .map_or(pieces.len(), |found| index + found)
            .min(index + WRITE_VECTOR_PIECES_MAX);
        let vectors: Vec<libc::iovec> = pieces[index..run_end]
            .iter()
            .enumerate()
            .map(|(at, piece)| {
                let Piece::Memory(bytes) = piece else {
                    unreachable!("a run holds memory pieces only")
                };
                let skip = if at == 0 { sent } else { 0 };
                libc::iovec {
                    iov_base: bytes[skip..].as_ptr() as *mut libc::c_void,
                    iov_len: bytes.len() - skip,
                }
            })
            .collect();
        // SAFETY: every iovec points into a `Bytes` that `pieces` keeps
        // alive for the duration of the call.
        let written =
            unsafe { libc::writev(self.fd, vectors.as_ptr(), vectors.len() as libc::c_int) };
        if written >= 0 {
            return Ok(written as usize);
        }
        let error = io::Error::last_os_error();
        match error.kind() {
            io::ErrorKind::Interrupted => Ok(0),
            io::ErrorKind::WouldBlock => {
                // Full: glommio parks until there is room and sends what
                // fits of the first piece.
                let Piece::Memory(bytes) = &pieces[index] else {
                    unreachable!("a run starts with a memory piece")
                };
                let count = self.half.write(&bytes[sent..]).await?;
                if count == 0 {
                    return Err(io::ErrorKind::WriteZero.into());
                }
                Ok(count)
            }
            _ => Err(error),
        }
    }

    /// Sends a file range with sendfile(2) on the blocking thread. Each
    /// turn there sends what the socket takes and gives up after a short
    /// wait for room, so a slow client holds the thread only briefly; the
    /// turns continue from here until the range is sent.
    async fn send_file(&mut self, region: &FileRegion) -> io::Result<()> {
        let mut position = region.position;
        let end = region.position + region.length;
        while position < end {
            let file = region.file.clone();
            let socket = self.fd;
            let from = position;
            let turn = glommio::executor()
                .spawn_blocking(move || send_file_turn(socket, &file, from, end))
                .await?;
            position = turn;
            if position < end && turn == from {
                glommio::timer::sleep(Duration::from_millis(1)).await;
            }
        }
        Ok(())
    }
}

/// One blocking turn of sendfile from `from` to `end`: returns how far it
/// got. Waits at most `SEND_FILE_SLICE_MILLISECONDS` for socket room.
fn send_file_turn(socket: RawFd, file: &std::fs::File, from: u64, end: u64) -> io::Result<u64> {
    let mut offset = from as libc::off_t;
    while (offset as u64) < end {
        let count = ((end - offset as u64) as usize).min(1 << 30);
        // SAFETY: both descriptors are open (the writer and the region own
        // them) and `offset` is a local the kernel advances.
        let sent = unsafe { libc::sendfile(socket, file.as_raw_fd(), &mut offset, count) };
        if sent > 0 {
            continue;
        }
        if sent == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file ended before the range sent from it (truncated underneath)",
            ));
        }
        let error = io::Error::last_os_error();
        match error.kind() {
            io::ErrorKind::Interrupted => {}
            io::ErrorKind::WouldBlock => {
                let mut poll = libc::pollfd {
                    fd: socket,
                    events: libc::POLLOUT,
                    revents: 0,
                };
                // SAFETY: one pollfd we own.
                let ready =
                    unsafe { libc::poll(&mut poll, 1, SEND_FILE_SLICE_MILLISECONDS as i32) };
                if ready == 0 {
                    break;
                }
                if ready < 0 {
                    let error = io::Error::last_os_error();
                    if error.kind() != io::ErrorKind::Interrupted {
                        return Err(error);
                    }
                } else if poll.revents & (libc::POLLERR | libc::POLLHUP) != 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::BrokenPipe,
                        "the client went away during sendfile",
                    ));
                }
            }
            _ => return Err(error),
        }
    }
    Ok(offset as u64)
}
