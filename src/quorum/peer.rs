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

/// Asks each of `addresses` at once, each on a connection of its own
/// (these questions are rare: a topic change, an election), each answer
/// bounded by `limit`. The answers come in the order of `addresses`.
pub async fn ask_each(
    addresses: Vec<String>,
    question: impl Fn() -> Request,
    limit: Duration,
) -> Vec<io::Result<Response>> {
    let asked: Vec<_> = addresses
        .into_iter()
        .map(|address| {
            let question = question();
            crate::rt::spawn(async move { Peer::new(address).call(&question, limit).await })
        })
        .collect();
    let mut answers = Vec::with_capacity(asked.len());
    for answer in asked {
        answers.push(answer.await);
    }
    answers
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
