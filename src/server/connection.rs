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
//!
//! Memory (step 1 of the request pipeline, see `dispatch`): a frame's
//! length is reserved from the shard's request memory
//! (`queued.max.request.bytes`, `reserve_request_memory`) before any of it is
//! allocated, and held until its request has been handled; the frame is
//! read a chunk at a time, so a client that announces a large frame and
//! sends it slowly costs what it sent.
//!
//! Session: each connection has one `Session` (peer, listener, principal),
//! made when it is accepted and shared by the contexts of its requests.
//!
//! Isolation: a panic while a request is handled (a bug) closes this
//! connection with a log line naming the API and version; the shard and its
//! other connections carry on.
//!
//! Invariants: replies leave in request order, at most
//! `INFLIGHT_REQUESTS_PER_CONNECTION_MAX` of them waiting; no byte of a frame
//! is read before its whole length is reserved from request memory, and the
//! reservation is held until its request has been handled; every request of
//! a connection shares that connection's one `Session`.

use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures_lite::FutureExt;

use super::context::Session;
use super::dispatch;
use super::reply::Outcome;
use super::request_memory::RequestMemory;
use crate::limits::{
    FRAME_BODY_TIMEOUT_MILLISECONDS, INFLIGHT_REQUESTS_PER_CONNECTION_MAX, REQUEST_READ_CHUNK_BYTES,
};
use crate::protocol::frame::{self, FramePeek};
use crate::rt::channel::{local_queue, LocalQueueReceiver};
use crate::rt::net::{Connection, SocketReader, SocketWriter};
use crate::rt::sync::BudgetPermit;
use crate::shard::Shard;

fn log_close(shard_id: u32, peer: Option<SocketAddr>, why: &str) {
    tracing::info!("shard {shard_id}: closing connection from {peer:?}: {why}");
}

pub async fn serve(shard: &Shard, request_memory: &RequestMemory, connection: Connection) {
    let peer = connection.peer_address();
    let session = Session::new(peer, connection.local_address());
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
        // Held until the request has been handled; what a Produce keeps
        // longer is bounded by the shard's produce budget.
        let _reserved = reserve_request_memory(request_memory, length).await;
        let body = match read_body(&mut reader, length).await {
            Ok(body) => body,
            Err(error) => break Some(format!("incomplete request of {length} bytes: {error}")),
        };
        let peek = frame::peek(&body).ok();
        let handled = isolate(dispatch::handle(shard, &session, body.freeze()), peek).await;
        match handled {
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

/// The request-memory budget's one place in the pipeline: waits until a
/// frame of `length` bytes may be held (its connection reads nothing
/// meanwhile, so TCP pushes back on the client).
async fn reserve_request_memory(request_memory: &RequestMemory, length: usize) -> BudgetPermit {
    request_memory.reserve(length).await
}

/// Reads a frame body of `length` bytes a chunk at a time as bytes arrive,
/// within `FRAME_BODY_TIMEOUT_MILLISECONDS` in all.
async fn read_body(reader: &mut impl SocketReader, length: usize) -> std::io::Result<BytesMut> {
    let deadline = Instant::now() + Duration::from_millis(FRAME_BODY_TIMEOUT_MILLISECONDS);
    // The whole length is reserved up front, so the buffer never moves (a
    // growing one would hold an old and a new copy while it reallocates);
    // only the pages written to, a chunk at a time, become resident.
    let mut body = BytesMut::with_capacity(length);
    while body.len() < length {
        let filled = body.len();
        let chunk = (length - filled).min(REQUEST_READ_CHUNK_BYTES);
        body.resize(filled + chunk, 0);
        let left = deadline.saturating_duration_since(Instant::now());
        reader.read_exact_within(&mut body[filled..], left).await?;
    }
    debug_assert_eq!(body.len(), length);
    Ok(body)
}

/// "ApiKey vVersion" of a frame, for log lines about it.
fn describe(peek: Option<FramePeek>) -> String {
    match peek {
        Some(peek) => match kafka_protocol::messages::ApiKey::try_from(peek.api_key) {
            Ok(key) => format!("{key:?} v{}", peek.api_version),
            Err(_) => format!("API {} v{}", peek.api_key, peek.api_version),
        },
        None => "a short frame".to_string(),
    }
}

/// Runs one request's handling so that a panic in it (a bug) costs only
/// this connection: the panic becomes a close with a log line naming the
/// request. Deferred replies are isolated the same way when they run.
async fn isolate(handling: impl Future<Output = Outcome>, peek: Option<FramePeek>) -> Outcome {
    match AssertUnwindSafe(handling).catch_unwind().await {
        Ok(Outcome::Deferred(pending)) => Outcome::Deferred(Box::pin(async move {
            match AssertUnwindSafe(pending).catch_unwind().await {
                Ok(outcome) => outcome,
                Err(panic) => Outcome::Close(panicked(peek, panic.as_ref())),
            }
        })),
        Ok(outcome) => outcome,
        Err(panic) => Outcome::Close(panicked(peek, panic.as_ref())),
    }
}

fn panicked(peek: Option<FramePeek>, panic: &(dyn std::any::Any + Send)) -> String {
    let message = panic
        .downcast_ref::<&str>()
        .map(|text| text.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string());
    let described = describe(peek);
    format!("BUG: handling {described} panicked ({message}); only this connection is closed")
}

/// Sends replies in the order their requests arrived, waiting for each
/// deferred one (a Produce waiting for its sync) in turn.
async fn write_replies(
    shard_id: u32,
    peer: Option<SocketAddr>,
    mut writer: impl SocketWriter,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_request_becomes_a_close_naming_it() {
        let outcome = crate::rt::run_local(async {
            let fetch = FramePeek {
                api_key: 1,
                api_version: 12,
                correlation_id: 1,
            };
            match isolate(async { panic!("boom") }, Some(fetch)).await {
                Outcome::Close(why) => why,
                _ => "not closed".to_string(),
            }
        });
        assert!(outcome.contains("Fetch v12"), "{outcome}");
        assert!(outcome.contains("boom"), "{outcome}");
    }

    #[test]
    fn a_panicking_deferred_reply_becomes_a_close() {
        let outcome = crate::rt::run_local(async {
            let deferred = isolate(
                async { Outcome::Deferred(Box::pin(async { panic!("late") })) },
                Some(FramePeek {
                    api_key: 0,
                    api_version: 9,
                    correlation_id: 1,
                }),
            )
            .await;
            let Outcome::Deferred(pending) = deferred else {
                return "not deferred".to_string();
            };
            match pending.await {
                Outcome::Close(why) => why,
                _ => "not closed".to_string(),
            }
        });
        assert!(
            outcome.contains("Produce v9") && outcome.contains("late"),
            "{outcome}"
        );
    }

    #[test]
    fn a_body_the_peer_stops_sending_is_an_error_not_a_request() {
        use crate::rt::fake_net::{AfterScript, ScriptedReader};
        for (after, kind) in [
            (AfterScript::Stall, std::io::ErrorKind::TimedOut),
            (AfterScript::Close, std::io::ErrorKind::UnexpectedEof),
        ] {
            let result = crate::rt::run_local(async move {
                let mut peer = ScriptedReader::new(&[1; 10], after);
                read_body(&mut peer, 100).await.map(|body| body.len())
            });
            assert_eq!(result.unwrap_err().kind(), kind);
        }
    }

    #[test]
    fn replies_go_out_in_request_order_until_a_write_fails() {
        use crate::rt::fake_net::RecordingWriter;
        let sent = crate::rt::run_local(async {
            let peer = RecordingWriter {
                fail_after: Some(5),
                ..RecordingWriter::default()
            };
            let sent = peer.sent.clone();
            let (replies, queue) = local_queue::<Outcome>(4);
            let deferred = Outcome::Deferred(Box::pin(async {
                Outcome::Respond(BytesMut::from(&b"abc"[..]))
            }));
            for reply in [
                deferred,
                Outcome::Respond(BytesMut::from(&b"def"[..])),
                Outcome::Respond(BytesMut::from(&b"ghi"[..])),
            ] {
                assert!(replies.send(reply).await.is_ok());
            }
            drop(replies);
            write_replies(0, None, peer, queue).await;
            let sent = sent.borrow().clone();
            sent
        });
        assert_eq!(sent, b"abcde", "in order, and nothing after the failure");
    }
}
