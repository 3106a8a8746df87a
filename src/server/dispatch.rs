//! From a request frame to a response frame: checks the API and version,
//! decodes with the schema of that version, calls the API's handler.

use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::Encodable;

use super::handlers::{self, api_versions, RequestContext};
use crate::protocol::fetch_response;
use crate::protocol::frame::{self, FrameError};
use crate::protocol::legacy_requests;
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

fn respond<T: Encodable>(api_key: ApiKey, version: i16, correlation_id: i32, body: &T) -> Outcome {
    match frame::encode_response(api_key, version, correlation_id, body) {
        Ok(bytes) => Outcome::Respond(bytes),
        Err(error) => Outcome::Close(format!("{api_key:?} v{version}: {error}")),
    }
}

pub async fn handle(shard: &Shard, peer: Option<SocketAddr>, mut frame_bytes: Bytes) -> Outcome {
    let peek = match frame::peek(&frame_bytes) {
        Ok(peek) => peek,
        Err(error) => return Outcome::Close(error.to_string()),
    };
    let Ok(api_key) = ApiKey::try_from(peek.api_key) else {
        return Outcome::Close(format!("unknown API key {}", peek.api_key));
    };
    let version = peek.api_version;
    // Produce v0-v2 and Fetch v0-v3 carry magic 0/1 message sets; the codec
    // crate cannot decode them, so they have codecs and handlers of their own.
    let legacy = match api_key {
        ApiKey::Produce => handlers::legacy_produce::VERSIONS.contains(&version),
        ApiKey::Fetch => handlers::legacy_fetch::VERSIONS.contains(&version),
        _ => false,
    };
    if !legacy && !handlers::supports(api_key, version) {
        if api_key == ApiKey::ApiVersions {
            // Kafka answers a too-new ApiVersions in a v0 body that still
            // lists what it supports, so the client can pick a version.
            return respond(
                api_key,
                0,
                peek.correlation_id,
                &api_versions::unsupported_version(),
            );
        }
        return Outcome::Close(format!("unsupported version {version} of {api_key:?}"));
    }
    let header = match frame::decode_header(api_key, version, &mut frame_bytes) {
        Ok(header) => header,
        Err(error) => return Outcome::Close(error.to_string()),
    };
    let correlation_id = header.correlation_id;
    let context = RequestContext {
        version,
        client_id: header
            .client_id
            .as_ref()
            .map(|id| id.to_string())
            .unwrap_or_default(),
        client_host: peer
            .map(|peer| format!("/{}", peer.ip()))
            .unwrap_or_default(),
    };
    let decoded = async {
        Ok::<Outcome, FrameError>(match api_key {
            ApiKey::ApiVersions => {
                let request = frame::decode_body(&mut frame_bytes, version)?;
                respond(
                    api_key,
                    version,
                    correlation_id,
                    &api_versions::handle(request),
                )
            }
            ApiKey::Metadata => {
                let request = frame::decode_body(&mut frame_bytes, version)?;
                respond(
                    api_key,
                    version,
                    correlation_id,
                    &handlers::metadata::handle(shard, request, version).await,
                )
            }
            ApiKey::Produce if legacy => {
                let request = legacy_requests::decode_produce(&frame_bytes, version)?;
                match handlers::legacy_produce::handle(shard, request, version, correlation_id)
                    .await
                {
                    Some(pending) => {
                        Outcome::Deferred(Box::pin(async move { Outcome::Respond(pending.await) }))
                    }
                    None => Outcome::NoResponse,
                }
            }
            ApiKey::Fetch if legacy => {
                let request = legacy_requests::decode_fetch(&frame_bytes, version)?;
                Outcome::Respond(
                    handlers::legacy_fetch::handle(shard, request, version, correlation_id).await,
                )
            }
            ApiKey::Produce => {
                let request = frame::decode_body(&mut frame_bytes, version)?;
                match handlers::produce::handle(shard, request, version).await {
                    Some(pending) => Outcome::Deferred(Box::pin(async move {
                        respond(api_key, version, correlation_id, &pending.await)
                    })),
                    None => Outcome::NoResponse,
                }
            }
            ApiKey::Fetch => {
                let request = frame::decode_body(&mut frame_bytes, version)?;
                let reply = handlers::fetch::handle(shard, request, version).await;
                Outcome::RespondPieces(fetch_response::encode(version, correlation_id, &reply))
            }
            ApiKey::ListOffsets => {
                let request = frame::decode_body(&mut frame_bytes, version)?;
                respond(
                    api_key,
                    version,
                    correlation_id,
                    &handlers::list_offsets::handle(shard, request, version).await,
                )
            }
            ApiKey::CreateTopics => {
                let request = frame::decode_body(&mut frame_bytes, version)?;
                respond(
                    api_key,
                    version,
                    correlation_id,
                    &handlers::create_topics::handle(shard, request, version).await,
                )
            }
            ApiKey::DeleteTopics => {
                let request = frame::decode_body(&mut frame_bytes, version)?;
                respond(
                    api_key,
                    version,
                    correlation_id,
                    &handlers::delete_topics::handle(shard, request, version).await,
                )
            }
            ApiKey::CreatePartitions => {
                let request = frame::decode_body(&mut frame_bytes, version)?;
                respond(
                    api_key,
                    version,
                    correlation_id,
                    &handlers::create_partitions::handle(shard, request).await,
                )
            }
            ApiKey::FindCoordinator => {
                let request = frame::decode_body(&mut frame_bytes, version)?;
                let response = handlers::find_coordinator::handle(&context, shard, request).await;
                respond(api_key, version, correlation_id, &response)
            }
            ApiKey::JoinGroup => {
                let request = frame::decode_body(&mut frame_bytes, version)?;
                let response = handlers::join_group::handle(&context, shard, request).await;
                respond(api_key, version, correlation_id, &response)
            }
            ApiKey::SyncGroup => {
                let request = frame::decode_body(&mut frame_bytes, version)?;
                let response = handlers::sync_group::handle(&context, shard, request).await;
                respond(api_key, version, correlation_id, &response)
            }
            ApiKey::Heartbeat => {
                let request = frame::decode_body(&mut frame_bytes, version)?;
                let response = handlers::heartbeat::handle(&context, shard, request).await;
                respond(api_key, version, correlation_id, &response)
            }
            ApiKey::LeaveGroup => {
                let request = frame::decode_body(&mut frame_bytes, version)?;
                let response = handlers::leave_group::handle(&context, shard, request).await;
                respond(api_key, version, correlation_id, &response)
            }
            ApiKey::OffsetCommit => {
                let request = frame::decode_body(&mut frame_bytes, version)?;
                let response = handlers::offset_commit::handle(&context, shard, request).await;
                respond(api_key, version, correlation_id, &response)
            }
            ApiKey::OffsetFetch => {
                let request = frame::decode_body(&mut frame_bytes, version)?;
                let response = handlers::offset_fetch::handle(&context, shard, request).await;
                respond(api_key, version, correlation_id, &response)
            }
            ApiKey::ListGroups => {
                let request = frame::decode_body(&mut frame_bytes, version)?;
                let response = handlers::list_groups::handle(&context, shard, request).await;
                respond(api_key, version, correlation_id, &response)
            }
            ApiKey::DescribeGroups => {
                let request = frame::decode_body(&mut frame_bytes, version)?;
                let response = handlers::describe_groups::handle(&context, shard, request).await;
                respond(api_key, version, correlation_id, &response)
            }
            ApiKey::DeleteGroups => {
                let request = frame::decode_body(&mut frame_bytes, version)?;
                let response = handlers::delete_groups::handle(&context, shard, request).await;
                respond(api_key, version, correlation_id, &response)
            }
            ApiKey::OffsetDelete => {
                let request = frame::decode_body(&mut frame_bytes, version)?;
                let response = handlers::offset_delete::handle(&context, shard, request).await;
                respond(api_key, version, correlation_id, &response)
            }
            ApiKey::InitProducerId => {
                let request = frame::decode_body(&mut frame_bytes, version)?;
                let response = handlers::init_producer_id::handle(shard, request);
                respond(api_key, version, correlation_id, &response)
            }
            ApiKey::DeleteRecords => {
                let request = frame::decode_body(&mut frame_bytes, version)?;
                let response = handlers::delete_records::handle(shard, request);
                respond(api_key, version, correlation_id, &response)
            }
            ApiKey::DescribeConfigs => {
                let request = frame::decode_body(&mut frame_bytes, version)?;
                let response = handlers::describe_configs::handle(shard, request, version);
                respond(api_key, version, correlation_id, &response)
            }
            ApiKey::AlterConfigs => {
                let request = frame::decode_body(&mut frame_bytes, version)?;
                let response = handlers::alter_configs::handle(shard, request).await;
                respond(api_key, version, correlation_id, &response)
            }
            ApiKey::IncrementalAlterConfigs => {
                let request = frame::decode_body(&mut frame_bytes, version)?;
                let response = handlers::alter_configs::handle_incremental(shard, request).await;
                respond(api_key, version, correlation_id, &response)
            }
            ApiKey::ConsumerGroupHeartbeat => {
                let request = frame::decode_body(&mut frame_bytes, version)?;
                let response =
                    handlers::consumer_group_heartbeat::handle(&context, shard, request).await;
                respond(api_key, version, correlation_id, &response)
            }
            ApiKey::ConsumerGroupDescribe => {
                let request = frame::decode_body(&mut frame_bytes, version)?;
                let response = handlers::consumer_group_describe::handle(&context, shard, request).await;
                respond(api_key, version, correlation_id, &response)
            }
            other => Outcome::Close(format!("{other:?} is advertised but has no handler")),
        })
    };
    match decoded.await {
        Ok(outcome) => outcome,
        Err(error) => Outcome::Close(format!("{api_key:?} v{version}: {error}")),
    }
}
