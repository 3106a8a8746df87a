//! From a request frame to what the connection does next: the one request
//! pipeline every API goes through. Nothing here names an API but
//! ApiVersions (whose too-new versions get a special answer); the table in
//! `api.rs` does the typed part.
//!
//! The pipeline, in order (each step has one place):
//! 1. Request memory: the frame's length is reserved from the shard's
//!    `queued.max.request.bytes` before the frame is read
//!    (`connection::reserve_request_memory`), and held until this returns.
//! 2. Routing: `read_header` peeks the API key and version, checks them
//!    against the table (`api::supports`) and decodes the header into a
//!    `RequestContext`. An unknown key or version closes the connection;
//!    a too-new ApiVersions gets a v0 answer listing what is supported.
//! 3. Admission (`admit`): authentication and whole-API authorization
//!    against the session's principal, and the per-API metrics hook.
//! 4. Decode and handle (`api::serve`): the body is decoded with the
//!    request type of the API's table line and passed to its handler; the
//!    handler's reply becomes an `Outcome` (`api::Reply`).
//!
//! Adding an API touches none of this: one line in `api.rs`'s table and the
//! handler's own file.
//!
//! Invariants: a request reaches a handler only if its API and version are
//! in the table and it was admitted; every request yields exactly one
//! `Outcome`; a frame that breaks the protocol yields `Outcome::Close`,
//! never a panic.

use std::rc::Rc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;

use super::api::{self, respond};
use super::context::{RequestContext, Session};
use super::handlers::api_versions;
use crate::protocol::frame::{self, FrameError};
use crate::rt::net::Piece;
use crate::shard::Shard;

pub enum Outcome {
    Respond(BytesMut),
    /// A response in pieces that are sent without being copied together
    /// (Fetch: the record batches are cached `Bytes` or file ranges).
    RespondPieces(Vec<Piece>),
    /// A response that is ready once its writes are durable (Produce with
    /// acks=all); the connection reads on meanwhile and keeps replies in
    /// request order.
    Deferred(std::pin::Pin<Box<dyn std::future::Future<Output = Outcome>>>),
    /// Produce with acks=0: Kafka sends nothing back.
    NoResponse,
    /// A protocol violation: close this connection, saying why.
    Close(String),
}

/// Handles one request frame (without its length prefix) that arrived on
/// `session`'s connection.
pub async fn handle(shard: &Shard, session: &Rc<Session>, mut frame_bytes: Bytes) -> Outcome {
    let context = match read_header(session, &mut frame_bytes) {
        Ok(context) => context,
        Err(outcome) => return outcome,
    };
    if let Err(outcome) = admit(&context) {
        return outcome;
    }
    match api::serve(&context, shard, &mut frame_bytes).await {
        Ok(outcome) => outcome,
        Err(error) => undecodable(&context, error),
    }
}

/// Decodes a request frame (without its length prefix) as `handle` does,
/// header and body, without admitting or handling it: for tests and tools
/// that check frames against the table. The `Err` is the outcome `handle`
/// would have had.
pub fn decode(mut frame_bytes: Bytes) -> Result<RequestContext, Outcome> {
    let context = read_header(&Session::new(None, None), &mut frame_bytes)?;
    match api::decode_body(context.api_key, context.version, &mut frame_bytes) {
        Ok(()) => Ok(context),
        Err(error) => Err(undecodable(&context, error)),
    }
}

fn undecodable(context: &RequestContext, error: FrameError) -> Outcome {
    Outcome::Close(format!(
        "{:?} v{}: {error}",
        context.api_key, context.version
    ))
}

/// Step 2: the API and version, checked against the table, and the header.
fn read_header(session: &Rc<Session>, frame_bytes: &mut Bytes) -> Result<RequestContext, Outcome> {
    let peek = frame::peek(frame_bytes).map_err(|error| Outcome::Close(error.to_string()))?;
    let Ok(api_key) = ApiKey::try_from(peek.api_key) else {
        return Err(Outcome::Close(format!("unknown API key {}", peek.api_key)));
    };
    let version = peek.api_version;
    if !api::supports(api_key, version) {
        return Err(unsupported(api_key, version, peek.correlation_id, session));
    }
    let header = frame::decode_header(api_key, version, frame_bytes)
        .map_err(|error| Outcome::Close(error.to_string()))?;
    let client_id = header.client_id.as_ref().map(|id| id.to_string());
    Ok(context(
        session,
        api_key,
        version,
        header.correlation_id,
        client_id,
    ))
}

fn context(
    session: &Rc<Session>,
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    client_id: Option<String>,
) -> RequestContext {
    RequestContext {
        api_key,
        version,
        correlation_id,
        client_id: client_id.unwrap_or_default(),
        client_host: session.client_host(),
        listener: session.listener,
        session: Rc::clone(session),
    }
}

/// A version the table does not serve closes the connection, except for
/// ApiVersions: Kafka answers a too-new one in a v0 body that still lists
/// what it supports, so the client can pick a version.
fn unsupported(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    session: &Rc<Session>,
) -> Outcome {
    if api_key != ApiKey::ApiVersions {
        return Outcome::Close(format!("unsupported version {version} of {api_key:?}"));
    }
    // The client id is not read: the header may be of a version we lack.
    let context = context(session, api_key, 0, correlation_id, None);
    respond(&context, &api_versions::unsupported_version())
}

/// Step 3: whether this session may send this request, and counting it.
///
/// Authentication goes here: once SASL exists, a session that has not
/// authenticated may send only ApiVersions, SaslHandshake and
/// SaslAuthenticate (Kafka closes the connection otherwise). So does
/// authorization of whole APIs (cluster actions) against
/// `context.session.principal()`; resource-level ACLs (a topic, a group)
/// need the decoded request and are the handlers' to check with the same
/// principal. Today every session is `Principal::Anonymous` on a PLAINTEXT
/// listener and everything is allowed.
fn admit(context: &RequestContext) -> Result<(), Outcome> {
    // Per-API metrics: one count per admitted request of each API.
    context.session.count_request(context.api_key);
    Ok(())
}
