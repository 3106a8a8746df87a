//! What a handler's answer becomes: an `Outcome` the connection acts on
//! (send a framed response, send pieces, wait for durability, send nothing,
//! or close). The table (`api`), the pipeline (`dispatch`) and handlers
//! with replies of their own (`handlers::record_formats`) all use this, and
//! it uses none of them, so the pipeline's imports point one way:
//! dispatch -> api -> handlers -> reply.
//!
//! Invariants: a body that does not encode in its request's version becomes
//! `Outcome::Close` (saying which API and version), never a panic or a
//! partial frame; this module names no API and no handler.

use bytes::BytesMut;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::Encodable;

use super::context::RequestContext;
use crate::protocol::frame;
use crate::rt::net::Piece;

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

/// A handler's answer, turned into what the connection does with it.
/// Every `Encodable` body is one framed response; handlers whose replies
/// are not a single body (Produce: deferred, or none for acks=0; Fetch: in
/// pieces) answer with a type of their own that implements this.
pub trait Reply {
    fn into_outcome(self, context: &RequestContext) -> Outcome;
}

impl<T: Encodable> Reply for T {
    fn into_outcome(self, context: &RequestContext) -> Outcome {
        respond(context, &self)
    }
}

/// One framed response in the request's API and version, or a close if it
/// does not encode (a bug: the handler built a body its version lacks).
pub fn respond<T: Encodable>(context: &RequestContext, body: &T) -> Outcome {
    respond_to(
        context.api_key,
        context.version,
        context.correlation_id,
        body,
    )
}

/// `respond` for a reply that outlives its request's context (a deferred
/// Produce reply).
pub fn respond_to<T: Encodable>(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &T,
) -> Outcome {
    match frame::encode_response(api_key, version, correlation_id, body) {
        Ok(bytes) => Outcome::Respond(bytes),
        Err(error) => Outcome::Close(format!("{api_key:?} v{version}: {error}")),
    }
}
