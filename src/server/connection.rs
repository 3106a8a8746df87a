//! One client connection: read a frame, answer it, read the next.
//!
//! Requests are handled one at a time, in order, as Kafka does, with one
//! exception that keeps Kafka's ordering guarantees: a Produce is written
//! before the next request is read, but its reply, which waits for the
//! shard's group commit (acks=all), is queued; the connection reads and
//! handles the next requests meanwhile, and a writer task sends the replies
//! strictly in request order. At most `INFLIGHT_REQUESTS_PER_CONNECTION_MAX`
//! replies wait; then reading pauses.
//! A frame that breaks the protocol closes this connection, with a log line;
//! nothing a client sends can take the shard down.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;

use super::dispatch::{self, Outcome};
use crate::limits::{FRAME_BODY_TIMEOUT_MILLISECONDS, INFLIGHT_REQUESTS_PER_CONNECTION_MAX};
use crate::protocol::frame;
use crate::rt::channel::{local_queue, LocalQueueReceiver};
use crate::rt::net::{Connection, ConnectionWriter};
use crate::shard::Shard;

fn log_close(shard_id: u32, peer: Option<SocketAddr>, why: &str) {
    eprintln!("corelog: shard {shard_id}: closing connection from {peer:?}: {why}");
}

pub async fn serve(shard: &Shard, connection: Connection) {
    let peer = connection.peer_address();
    let (mut reader, writer) = connection.split();
    let (replies, queue) = local_queue::<Outcome>(INFLIGHT_REQUESTS_PER_CONNECTION_MAX);
    let writing = crate::rt::spawn(write_replies(shard.id, peer, writer, queue));
    let closing = loop {
        let mut prefix = [0u8; 4];
        match reader.read_exact_or_eof(&mut prefix).await {
            Ok(true) => {}
            Ok(false) => break None,
            Err(error) => break Some(format!("read failed: {error}")),
        }
        let length = match frame::check_length(prefix, shard.config.request_bytes_max) {
            Ok(length) => length,
            Err(error) => break Some(error.to_string()),
        };
        let mut body = BytesMut::zeroed(length);
        if let Err(error) = reader
            .read_exact_within(
                &mut body,
                Duration::from_millis(FRAME_BODY_TIMEOUT_MILLISECONDS),
            )
            .await
        {
            break Some(format!("incomplete request of {length} bytes: {error}"));
        }
        match dispatch::handle(shard, peer, body.freeze()).await {
            Outcome::NoResponse => {}
            Outcome::Close(why) => break Some(why),
            // The writer stopped: the client is gone (it logged why).
            reply => {
                if replies.send(reply).await.is_err() {
                    break None;
                }
            }
        }
    };
    // Replies already queued still go out, then the socket closes.
    drop(replies);
    writing.await;
    if let Some(why) = closing {
        log_close(shard.id, peer, &why);
    }
}

/// Sends replies in the order their requests arrived, waiting for each
/// deferred one (a Produce waiting for its sync) in turn.
async fn write_replies(
    shard_id: u32,
    peer: Option<SocketAddr>,
    mut writer: ConnectionWriter,
    queue: LocalQueueReceiver<Outcome>,
) {
    while let Some(reply) = queue.recv().await {
        let reply = match reply {
            Outcome::Deferred(pending) => pending.await,
            ready => ready,
        };
        match reply {
            Outcome::Respond(bytes) => {
                if let Err(error) = writer.write_all(&bytes).await {
                    return log_close(shard_id, peer, &format!("write failed: {error}"));
                }
            }
            Outcome::RespondPieces(pieces) => {
                if let Err(error) = writer.write_pieces(&pieces).await {
                    return log_close(shard_id, peer, &format!("write failed: {error}"));
                }
            }
            Outcome::Close(why) => return log_close(shard_id, peer, &why),
            Outcome::NoResponse | Outcome::Deferred(_) => {}
        }
    }
}
