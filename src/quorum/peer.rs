//! A connection to another host's quorum listener, opened on first use and
//! after any failure: one call at a time, each bounded in time.

use std::io;
use std::time::Duration;

use super::wire::{read_frame, write_frame, Request, Response};
use crate::rt::net::{ConnectionReader, ConnectionWriter};

pub struct Peer {
    address: String,
    connection: Option<(ConnectionReader, ConnectionWriter)>,
}

impl Peer {
    pub fn new(address: String) -> Peer {
        Peer {
            address,
            connection: None,
        }
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    /// Sends `request` and waits up to `limit` for its response. Any
    /// failure drops the connection (the next call opens a new one).
    pub async fn call(&mut self, request: &Request, limit: Duration) -> io::Result<Response> {
        let outcome = crate::rt::within(limit, self.exchange(request, limit)).await;
        let result = outcome.unwrap_or_else(|| {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{} did not answer within {limit:?}", self.address),
            ))
        });
        if result.is_err() {
            self.connection = None;
        }
        result
    }

    async fn exchange(&mut self, request: &Request, limit: Duration) -> io::Result<Response> {
        if self.connection.is_none() {
            let connection = crate::rt::net::connect(&self.address, limit).await?;
            self.connection = Some(connection.split());
        }
        let (reader, writer) = self.connection.as_mut().expect("connected above");
        write_frame(writer, request).await?;
        read_frame(reader, limit).await?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the peer closed the connection",
            )
        })
    }
}
