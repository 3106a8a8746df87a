//! Produce and Fetch across both record formats, as one table line each:
//! their oldest versions (Produce v0-v2, Fetch v0-v3) carry message sets of
//! magic 0/1, which the codec crate cannot read, and are decoded by
//! `protocol::legacy_requests` and handled by `legacy_produce` and
//! `legacy_fetch`; the newer ones carry record batches and go to `produce`
//! and `fetch`. The version alone picks the side, here, once.
//!
//! Invariants: the versions served are the two sides' ranges joined, and
//! they meet with no gap and no overlap (a test checks it); a request is
//! decoded and handled by the same side.

use std::ops::RangeInclusive;

use bytes::BytesMut;
use kafka_protocol::messages::{FetchRequest, ProduceRequest};
use kafka_protocol::protocol::buf::ByteBuf;
use kafka_protocol::protocol::Decodable;

use super::fetch::FetchReply;
use super::legacy::CodecResult;
use super::{fetch, legacy_fetch, legacy_produce, produce, RequestContext};
use crate::protocol::fetch_response;
use crate::protocol::legacy_requests::{self, LegacyFetchRequest, LegacyProduceRequest};
use crate::server::reply::{respond_to, Outcome, Reply};
use crate::shard::Shard;

pub const PRODUCE_VERSIONS: RangeInclusive<i16> =
    *legacy_produce::VERSIONS.start()..=*produce::VERSIONS.end();
pub const FETCH_VERSIONS: RangeInclusive<i16> =
    *legacy_fetch::VERSIONS.start()..=*fetch::VERSIONS.end();

/// A Produce request of any served version.
pub enum AnyProduceRequest {
    /// v0-v2: message sets of magic 0/1.
    MessageSets(LegacyProduceRequest),
    /// v3 and later: record batches.
    RecordBatches(ProduceRequest),
}

/// A Fetch request of any served version.
pub enum AnyFetchRequest {
    /// v0-v3: answered with message sets of magic 0/1.
    MessageSets(LegacyFetchRequest),
    /// v4 and later: answered with record batches.
    RecordBatches(FetchRequest),
}

/// The rest of a message-set request body: the hand decoders read a whole
/// body from a `Bytes`, which costs no copy when the body is one already.
fn rest<B: ByteBuf>(buf: &mut B) -> bytes::Bytes {
    let remaining = buf.remaining();
    buf.get_bytes(remaining)
}

impl Decodable for AnyProduceRequest {
    fn decode<B: ByteBuf>(buf: &mut B, version: i16) -> CodecResult<Self> {
        if legacy_produce::VERSIONS.contains(&version) {
            let body = rest(buf);
            return Ok(AnyProduceRequest::MessageSets(
                legacy_requests::decode_produce(&body, version)?,
            ));
        }
        Ok(AnyProduceRequest::RecordBatches(ProduceRequest::decode(
            buf, version,
        )?))
    }
}

impl Decodable for AnyFetchRequest {
    fn decode<B: ByteBuf>(buf: &mut B, version: i16) -> CodecResult<Self> {
        if legacy_fetch::VERSIONS.contains(&version) {
            let body = rest(buf);
            return Ok(AnyFetchRequest::MessageSets(legacy_requests::decode_fetch(
                &body, version,
            )?));
        }
        Ok(AnyFetchRequest::RecordBatches(FetchRequest::decode(
            buf, version,
        )?))
    }
}

/// What a Produce handler answers: a reply once the writes are done (and
/// durable for acks=all), or `None` for acks=0, which gets no reply.
pub enum ProduceReply {
    /// A whole response frame (v0-v2, encoded by hand).
    MessageSets(Option<legacy_produce::PendingFrame>),
    RecordBatches(Option<produce::PendingResponse>),
}

/// What a Fetch handler answers.
pub enum FetchAnyReply {
    /// A whole response frame (v0-v3, converted and encoded by hand).
    MessageSets(BytesMut),
    /// Sent in pieces, so that batches go out without being copied.
    RecordBatches(FetchReply),
}

pub async fn produce(
    context: &RequestContext,
    shard: &Shard,
    request: AnyProduceRequest,
) -> ProduceReply {
    match request {
        AnyProduceRequest::MessageSets(request) => {
            ProduceReply::MessageSets(legacy_produce::handle(context, shard, request).await)
        }
        AnyProduceRequest::RecordBatches(request) => {
            ProduceReply::RecordBatches(produce::handle(context, shard, request).await)
        }
    }
}

pub async fn fetch(
    context: &RequestContext,
    shard: &Shard,
    request: AnyFetchRequest,
) -> FetchAnyReply {
    match request {
        AnyFetchRequest::MessageSets(request) => {
            FetchAnyReply::MessageSets(legacy_fetch::handle(context, shard, request).await)
        }
        AnyFetchRequest::RecordBatches(request) => {
            FetchAnyReply::RecordBatches(fetch::handle(context, shard, request).await)
        }
    }
}

impl Reply for ProduceReply {
    fn into_outcome(self, context: &RequestContext) -> Outcome {
        match self {
            ProduceReply::MessageSets(Some(pending)) => {
                Outcome::Deferred(Box::pin(async move { Outcome::Respond(pending.await) }))
            }
            ProduceReply::RecordBatches(Some(pending)) => {
                // The reply outlives the request's context: it keeps what
                // its framing needs.
                let (api_key, version) = (context.api_key, context.version);
                let correlation_id = context.correlation_id;
                Outcome::Deferred(Box::pin(async move {
                    respond_to(api_key, version, correlation_id, &pending.await)
                }))
            }
            ProduceReply::MessageSets(None) | ProduceReply::RecordBatches(None) => {
                Outcome::NoResponse
            }
        }
    }
}

impl Reply for FetchAnyReply {
    fn into_outcome(self, context: &RequestContext) -> Outcome {
        match self {
            FetchAnyReply::MessageSets(frame) => Outcome::Respond(frame),
            FetchAnyReply::RecordBatches(reply) => Outcome::RespondPieces(fetch_response::encode(
                context.version,
                context.correlation_id,
                &reply,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_sides_meet_without_gap_or_overlap() {
        assert_eq!(
            *legacy_produce::VERSIONS.end() + 1,
            *produce::VERSIONS.start()
        );
        assert_eq!(*legacy_fetch::VERSIONS.end() + 1, *fetch::VERSIONS.start());
    }
}
