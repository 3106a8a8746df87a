//! Sockets: a shard's listener and its client connections.

use std::io;
use std::net::SocketAddr;
use std::os::unix::io::{FromRawFd, IntoRawFd};
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};

/// A listening socket bound on the main thread (so every shard's port is
/// known before any shard starts) and handed to its shard.
pub struct Listener(glommio::net::TcpListener);

impl Listener {
    /// Takes over a bound std listener; call on the shard that will accept.
    pub fn from_std(listener: std::net::TcpListener) -> Listener {
        // SAFETY: the fd comes from a live, bound listener that we own and
        // give up here; glommio closes it when the Listener drops.
        Listener(unsafe { glommio::net::TcpListener::from_raw_fd(listener.into_raw_fd()) })
    }

    pub async fn accept(&self) -> io::Result<Connection> {
        let stream = self.0.accept().await.map_err(io::Error::from)?;
        stream.set_nodelay(true).map_err(io::Error::from)?;
        Ok(Connection(stream))
    }
}

/// One client connection.
pub struct Connection(glommio::net::TcpStream);

/// The reading half of a connection.
pub struct ConnectionReader(futures_lite::io::ReadHalf<glommio::net::TcpStream>);

/// The writing half of a connection, for a task of its own.
pub struct ConnectionWriter(futures_lite::io::WriteHalf<glommio::net::TcpStream>);

impl Connection {
    pub fn peer_address(&self) -> Option<SocketAddr> {
        self.0.peer_addr().ok()
    }

    /// Reading and writing halves that can be used by two tasks at once;
    /// the socket closes when both are dropped.
    pub fn split(self) -> (ConnectionReader, ConnectionWriter) {
        let (reader, writer) = futures_lite::io::split(self.0);
        (ConnectionReader(reader), ConnectionWriter(writer))
    }
}

impl ConnectionReader {
    /// Fills `buffer`; `Ok(false)` when the peer closed before the first byte.
    pub async fn read_exact_or_eof(&mut self, buffer: &mut [u8]) -> io::Result<bool> {
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

    /// Like `read_exact_or_eof`, but gives up after `limit`.
    pub async fn read_exact_within(
        &mut self,
        buffer: &mut [u8],
        limit: Duration,
    ) -> io::Result<()> {
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

impl ConnectionWriter {
    pub async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.0.write_all(bytes).await
    }
}
