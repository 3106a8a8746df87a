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
//!    handler's reply becomes an `Outcome` (`reply::Reply`), and the
//!    request's latency is recorded once that answer is ready (`timed`:
//!    for a deferred Produce answer, when it resolves).
//!
//! Adding an API touches none of this: one line in `api.rs`'s table and the
//! handler's own file.
//!
//! Invariants: a request reaches a handler only if its API and version are
//! in the table and it was admitted; every request yields exactly one
//! `Outcome`; a frame that breaks the protocol yields `Outcome::Close`,
//! never a panic.

use std::rc::Rc;
use std::time::Instant;

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;

use super::api;
use super::context::{RequestContext, Session};
use super::handlers::api_versions;
use super::reply::{respond, Outcome};
use crate::metrics;
use crate::protocol::frame::{self, FrameError};
use crate::shard::Shard;

/// Handles one request frame (without its length prefix) that arrived on
/// `session`'s connection.
pub async fn handle(shard: &Shard, session: &Rc<Session>, mut frame_bytes: Bytes) -> Outcome {
    let started = Instant::now();
    let context = match read_header(session, &mut frame_bytes) {
        Ok(context) => context,
        Err(outcome) => return outcome,
    };
    if let Err(outcome) = admit(&context) {
        return outcome;
    }
    let outcome = match api::serve(&context, shard, &mut frame_bytes).await {
        Ok(outcome) => outcome,
        Err(error) => undecodable(&context, error),
    };
    timed(context.api_key as i16, started, outcome)
}

/// Records the request's latency once its answer is ready: now, or, for a
/// deferred answer (Produce waiting for durability), when it resolves.
fn timed(api_key: i16, started: Instant, outcome: Outcome) -> Outcome {
    match outcome {
        Outcome::Deferred(answer) => Outcome::Deferred(Box::pin(async move {
            let outcome = answer.await;
            metrics::observe_request(api_key, started.elapsed());
            outcome
        })),
        outcome => {
            metrics::observe_request(api_key, started.elapsed());
            outcome
        }
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
    respond(&context, &api_versions::unsupported_version(api::SUPPORTED))
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
    metrics::count_request(context.api_key as i16);
    Ok(())
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use kafka_protocol::messages::{ApiVersionsRequest, MetadataRequest, RequestHeader};
    use kafka_protocol::protocol::Encodable;

    use super::*;

    /// A request frame (without its length prefix) of `body` at `version`.
    fn frame<T: Encodable>(api_key: ApiKey, version: i16, body: &T, trailing: &[u8]) -> Bytes {
        let mut out = BytesMut::new();
        RequestHeader::default()
            .with_request_api_key(api_key as i16)
            .with_request_api_version(version)
            .with_correlation_id(7)
            .encode(&mut out, api_key.request_header_version(version))
            .unwrap();
        body.encode(&mut out, version).unwrap();
        out.extend_from_slice(trailing);
        out.freeze()
    }

    fn closed(outcome: Result<RequestContext, Outcome>) -> String {
        match outcome {
            Err(Outcome::Close(why)) => why,
            _ => "not closed".to_string(),
        }
    }

    #[test]
    fn a_too_new_api_versions_is_answered_in_v0_and_others_are_closed() {
        let mut too_new =
            frame(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default(), &[]).to_vec();
        too_new[3] = 99; // version 99
        match decode(Bytes::from(too_new.clone())) {
            // v0 response header: the correlation id, then the error code.
            Err(Outcome::Respond(bytes)) => assert_eq!(&bytes[4..10], &[0, 0, 0, 7, 0, 35]),
            _ => panic!("a too-new ApiVersions must get an answer"),
        }
        too_new[1] = ApiKey::Metadata as u8;
        assert!(closed(decode(Bytes::from(too_new.clone()))).contains("unsupported version 99"));
        too_new[..2].copy_from_slice(&999i16.to_be_bytes());
        assert!(closed(decode(Bytes::from(too_new))).contains("unknown API key 999"));
    }

    #[test]
    fn bytes_after_the_body_are_ignored_and_a_short_body_closes() {
        let metadata = MetadataRequest::default().with_topics(None);
        let context = decode(frame(ApiKey::Metadata, 12, &metadata, &[0, 0, 0]))
            .unwrap_or_else(|outcome| panic!("refused: {}", closed(Err(outcome))));
        assert_eq!(
            (context.api_key, context.version, context.correlation_id),
            (ApiKey::Metadata, 12, 7)
        );
        let whole = frame(ApiKey::Metadata, 12, &metadata, &[]);
        let short = whole.slice(..whole.len() - 1);
        assert!(closed(decode(short)).starts_with("Metadata v12: "));
    }
}
