//! The table of APIs: one line per Kafka API this broker serves, naming its
//! handler, the versions it serves, and its request and response types. The
//! table generates one `Api` type per line, `SUPPORTED` (what ApiVersions
//! advertises and what dispatch accepts) and the typed decode-and-handle step
//! of the pipeline (`serve`, `decode_body`).
//!
//! Adding an API: write `handlers/<api>.rs` with `VERSIONS` and
//! `pub async fn handle(context: &RequestContext, shard: &Shard, request:
//! Request) -> Response`, add its line to `apis!` below, and say where its
//! response carries error codes (one entry in `metrics/error_codes.rs`;
//! the table does not compile without it). That is all: ApiVersions
//! advertises it, dispatch decodes and routes it, and
//! tests/api_table.rs asks for a golden request per advertised version
//! (`cargo test --test api_table -- --ignored` writes the missing ones).
//!
//! Invariants: every advertised (API, version) has a handler, since a line
//! names its handler function and does not compile without it; an API is
//! advertised, decoded and handled with the types and versions of the same
//! line, so the three cannot disagree; each key appears once (a repeated
//! line repeats a type name and a match arm, which does not compile).

use std::future::Future;
use std::ops::RangeInclusive;

use bytes::Bytes;
use kafka_protocol::messages::{self as kafka, ApiKey};
use kafka_protocol::protocol::Decodable;

use super::context::RequestContext;
use super::handlers::{self, record_formats};
use super::reply::{Outcome, Reply};
use crate::metrics::error_codes::{self, ErrorCodes};
use crate::protocol::frame::{self, FrameError};
use crate::shard::Shard;

/// One Kafka API: its key, the versions served, what a request decodes to
/// and what its handler answers. Implemented only by the table (`apis!`).
pub trait Api {
    const KEY: ApiKey;
    /// The versions ApiVersions advertises and dispatch accepts.
    const VERSIONS: RangeInclusive<i16>;
    /// The decoded body, for any version in `VERSIONS`.
    type Request: Decodable;
    /// What the handler answers; `Reply` turns it into what the connection
    /// sends, after its error codes are counted (`metrics::error_codes`).
    type Response: Reply + ErrorCodes;

    /// The handler of this API (the function its table line names).
    fn handle<'a>(
        context: &'a RequestContext,
        shard: &'a Shard,
        request: Self::Request,
    ) -> impl Future<Output = Self::Response> + 'a;
}

/// Decodes a request body of `A` at `version`: the one decode path, used by
/// dispatch and by `decode_body`.
fn decode<A: Api>(body: &mut Bytes, version: i16) -> Result<A::Request, FrameError> {
    frame::decode_body::<A::Request>(body, version)
}

/// Decodes the body and runs the handler of `A`.
async fn decode_and_handle<A: Api>(
    context: &RequestContext,
    shard: &Shard,
    body: &mut Bytes,
) -> Result<Outcome, FrameError> {
    let request = decode::<A>(body, context.version)?;
    let response = A::handle(context, shard, request).await;
    error_codes::count(A::KEY as i16, &response);
    Ok(response.into_outcome(context))
}

/// The table, as a macro so that one list makes the types, the advertised
/// versions and the routing. A line: `Name => handler function, versions,
/// Request => Response;` where `Name` is the `ApiKey` variant.
macro_rules! apis {
    ($($name:ident => $handler:path, $versions:expr, $request:ty => $response:ty;)*) => {
        $(
            #[doc = concat!("Kafka's ", stringify!($name), " API, handled by `", stringify!($handler), "`.")]
            pub struct $name;

            impl Api for $name {
                const KEY: ApiKey = ApiKey::$name;
                const VERSIONS: RangeInclusive<i16> = $versions;
                type Request = $request;
                type Response = $response;

                fn handle<'a>(
                    context: &'a RequestContext,
                    shard: &'a Shard,
                    request: $request,
                ) -> impl Future<Output = $response> + 'a {
                    $handler(context, shard, request)
                }
            }
        )*

        /// Every API this broker serves, with the versions it implements
        /// and tests: what ApiVersions advertises, in table order.
        pub const SUPPORTED: &[(ApiKey, RangeInclusive<i16>)] =
            &[$((<$name as Api>::KEY, <$name as Api>::VERSIONS),)*];

        /// Decodes the body of a request whose API and version dispatch
        /// accepted, and handles it.
        pub async fn serve(
            context: &RequestContext,
            shard: &Shard,
            body: &mut Bytes,
        ) -> Result<Outcome, FrameError> {
            match context.api_key {
                $(ApiKey::$name => decode_and_handle::<$name>(context, shard, body).await,)*
                other => Err(unserved(other)),
            }
        }

        /// Decodes the body of `api_key` at `version` exactly as `serve`
        /// does, without handling it (tests and tools).
        pub fn decode_body(
            api_key: ApiKey,
            version: i16,
            body: &mut Bytes,
        ) -> Result<(), FrameError> {
            match api_key {
                $(ApiKey::$name => decode::<$name>(body, version).map(drop),)*
                other => Err(unserved(other)),
            }
        }
    };
}

fn unserved(api_key: ApiKey) -> FrameError {
    FrameError::Undecodable(format!("{api_key:?} is not an API corelog serves"))
}

apis! {
    // Produce v0-v2 and Fetch v0-v3 carry message sets of magic 0/1, which the
    // codec crate cannot read: their handlers pick the legacy_* handler or
    // the current one by version (handlers/record_formats.rs).
    Produce => record_formats::produce, record_formats::PRODUCE_VERSIONS,
        record_formats::AnyProduceRequest => record_formats::ProduceReply;
    Fetch => record_formats::fetch, record_formats::FETCH_VERSIONS,
        record_formats::AnyFetchRequest => record_formats::FetchAnyReply;
    ListOffsets => handlers::list_offsets::handle, handlers::list_offsets::VERSIONS,
        handlers::list_offsets::Request => handlers::list_offsets::Response;
    OffsetForLeaderEpoch => handlers::offset_for_leader_epoch::handle,
        handlers::offset_for_leader_epoch::VERSIONS,
        handlers::offset_for_leader_epoch::Request => handlers::offset_for_leader_epoch::Response;
    Metadata => handlers::metadata::handle, handlers::metadata::VERSIONS,
        kafka::MetadataRequest => kafka::MetadataResponse;
    ApiVersions => api_versions, handlers::api_versions::VERSIONS,
        kafka::ApiVersionsRequest => kafka::ApiVersionsResponse;
    CreateTopics => handlers::create_topics::handle, handlers::create_topics::VERSIONS,
        handlers::create_topics::Request => handlers::create_topics::Response;
    DeleteTopics => handlers::delete_topics::handle, handlers::delete_topics::VERSIONS,
        handlers::delete_topics::Request => handlers::delete_topics::Response;
    CreatePartitions => handlers::create_partitions::handle, handlers::create_partitions::VERSIONS,
        kafka::CreatePartitionsRequest => kafka::CreatePartitionsResponse;
    FindCoordinator => handlers::find_coordinator::handle, handlers::find_coordinator::VERSIONS,
        kafka::FindCoordinatorRequest => kafka::FindCoordinatorResponse;
    JoinGroup => handlers::join_group::handle, handlers::join_group::VERSIONS,
        kafka::JoinGroupRequest => kafka::JoinGroupResponse;
    SyncGroup => handlers::sync_group::handle, handlers::sync_group::VERSIONS,
        kafka::SyncGroupRequest => kafka::SyncGroupResponse;
    Heartbeat => handlers::heartbeat::handle, handlers::heartbeat::VERSIONS,
        kafka::HeartbeatRequest => kafka::HeartbeatResponse;
    LeaveGroup => handlers::leave_group::handle, handlers::leave_group::VERSIONS,
        kafka::LeaveGroupRequest => kafka::LeaveGroupResponse;
    OffsetCommit => handlers::offset_commit::handle, handlers::offset_commit::VERSIONS,
        handlers::offset_commit::Request => handlers::offset_commit::Response;
    OffsetFetch => handlers::offset_fetch::handle, handlers::offset_fetch::VERSIONS,
        handlers::offset_fetch::Request => handlers::offset_fetch::Response;
    ListGroups => handlers::list_groups::handle, handlers::list_groups::VERSIONS,
        kafka::ListGroupsRequest => kafka::ListGroupsResponse;
    DescribeCluster => handlers::describe_cluster::handle, handlers::describe_cluster::VERSIONS,
        kafka::DescribeClusterRequest => kafka::DescribeClusterResponse;
    DescribeGroups => handlers::describe_groups::handle, handlers::describe_groups::VERSIONS,
        kafka::DescribeGroupsRequest => kafka::DescribeGroupsResponse;
    DeleteGroups => handlers::delete_groups::handle, handlers::delete_groups::VERSIONS,
        kafka::DeleteGroupsRequest => kafka::DeleteGroupsResponse;
    OffsetDelete => handlers::offset_delete::handle, handlers::offset_delete::VERSIONS,
        kafka::OffsetDeleteRequest => kafka::OffsetDeleteResponse;
    InitProducerId => handlers::init_producer_id::handle, handlers::init_producer_id::VERSIONS,
        kafka::InitProducerIdRequest => kafka::InitProducerIdResponse;
    DeleteRecords => handlers::delete_records::handle, handlers::delete_records::VERSIONS,
        kafka::DeleteRecordsRequest => kafka::DeleteRecordsResponse;
    DescribeLogDirs => handlers::describe_log_dirs::handle, handlers::describe_log_dirs::VERSIONS,
        kafka::DescribeLogDirsRequest => kafka::DescribeLogDirsResponse;
    DescribeConfigs => handlers::describe_configs::handle, handlers::describe_configs::VERSIONS,
        handlers::describe_configs::Request => handlers::describe_configs::Response;
    AlterConfigs => handlers::alter_configs::handle, handlers::alter_configs::VERSIONS,
        kafka::AlterConfigsRequest => kafka::AlterConfigsResponse;
    IncrementalAlterConfigs => handlers::alter_configs::handle_incremental,
        handlers::alter_configs::INCREMENTAL_VERSIONS,
        kafka::IncrementalAlterConfigsRequest => kafka::IncrementalAlterConfigsResponse;
    ConsumerGroupHeartbeat => handlers::consumer_group_heartbeat::handle,
        handlers::consumer_group_heartbeat::VERSIONS,
        kafka::ConsumerGroupHeartbeatRequest => kafka::ConsumerGroupHeartbeatResponse;
    ConsumerGroupDescribe => handlers::consumer_group_describe::handle,
        handlers::consumer_group_describe::VERSIONS,
        kafka::ConsumerGroupDescribeRequest => kafka::ConsumerGroupDescribeResponse;
    AlterPartitionReassignments => handlers::reassignments::handle_alter,
        handlers::reassignments::ALTER_VERSIONS,
        kafka::AlterPartitionReassignmentsRequest => kafka::AlterPartitionReassignmentsResponse;
    ListPartitionReassignments => handlers::reassignments::handle_list,
        handlers::reassignments::LIST_VERSIONS,
        kafka::ListPartitionReassignmentsRequest => kafka::ListPartitionReassignmentsResponse;
    UnregisterBroker => handlers::unregister_broker::handle, handlers::unregister_broker::VERSIONS,
        kafka::UnregisterBrokerRequest => kafka::UnregisterBrokerResponse;
}

/// ApiVersions' handler with the table it lists: the table hands itself
/// in, so the handler's file need not import the table that imports it.
async fn api_versions(
    _context: &RequestContext,
    _shard: &Shard,
    request: kafka::ApiVersionsRequest,
) -> kafka::ApiVersionsResponse {
    handlers::api_versions::answer(SUPPORTED, request)
}

/// Whether the table serves `version` of `api_key`.
pub fn supports(api_key: ApiKey, version: i16) -> bool {
    SUPPORTED
        .iter()
        .any(|(key, versions)| *key == api_key && versions.contains(&version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_is_listed_once() {
        let mut keys: Vec<i16> = SUPPORTED.iter().map(|(key, _)| *key as i16).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), SUPPORTED.len());
    }

    #[test]
    fn an_api_the_table_lacks_is_refused_by_decode() {
        let mut body = Bytes::new();
        assert!(decode_body(ApiKey::SaslHandshake, 1, &mut body).is_err());
        assert!(!supports(ApiKey::SaslHandshake, 1));
        assert!(supports(ApiKey::Produce, 0) && supports(ApiKey::Fetch, 18));
    }

    /// Versions below the codec's oldest that a handler reads and writes
    /// itself (see `legacy`): Kafka 3.9 accepts them, Kafka 4.0 dropped them.
    const HANDLED_BELOW_CODEC: &[(ApiKey, i16)] = &[
        (ApiKey::OffsetCommit, 0),
        (ApiKey::OffsetFetch, 0),
        (ApiKey::ListOffsets, 0),
        (ApiKey::CreateTopics, 0),
        (ApiKey::DeleteTopics, 0),
        (ApiKey::DescribeConfigs, 0),
        // v0-v1 by hand (handlers/offset_for_leader_epoch.rs).
        (ApiKey::OffsetForLeaderEpoch, 0),
        // Message sets of magic 0 and 1 (legacy_produce, legacy_fetch).
        (ApiKey::Produce, 0),
        (ApiKey::Fetch, 0),
    ];

    #[test]
    fn advertised_versions_are_ones_the_codec_or_the_handler_knows() {
        for (key, versions) in SUPPORTED {
            let codec = key.valid_versions();
            let oldest = HANDLED_BELOW_CODEC
                .iter()
                .find(|(handled, _)| handled == key)
                .map_or(codec.min, |(_, oldest)| *oldest);
            assert!(
                *versions.start() >= oldest && *versions.end() <= codec.max,
                "{key:?} {versions:?} vs {codec}"
            );
        }
    }
}
