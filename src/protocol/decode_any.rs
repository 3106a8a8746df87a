//! Decodes a request frame of any API the broker serves, header and body,
//! the way `server::dispatch` does (`frame::peek`, `frame::decode_header`,
//! `frame::decode_body` with the schema of the API and version), without
//! handling it. For the `request_decode` fuzz target (`fuzz/`) and for tools
//! that build or check frames, such as the fuzz corpus seeder.
//!
//! Invariants: every API in `server::api::SUPPORTED` has a decoder and
//! an encoder here (a test checks it), and a frame that decodes here decodes
//! in dispatch, since both call the same `frame` functions on the same types.
//! Which versions are served is not checked here: that table belongs to the
//! server layer, above this one. Versions older than the codec knows (which
//! Kafka 4.0 dropped and corelog still serves) are decoded by hand in the
//! server layer and in `legacy_requests`; the fuzz target reaches those
//! through the same types dispatch uses.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{self, ApiKey, RequestHeader};
use kafka_protocol::protocol::Encodable;

use super::frame::{self, EncodeError, FrameError};

/// What a frame decoded to; the body itself is dropped once decoded.
#[derive(Debug)]
pub struct DecodedRequest {
    pub api_key: ApiKey,
    pub api_version: i16,
    pub header: RequestHeader,
}

/// One list of the request types the broker serves, so decoding and
/// encoding cannot disagree about which type an API key means.
macro_rules! requests {
    ($($key:ident => $request:ty,)*) => {
        /// Every API this module can decode.
        pub const DECODABLE: &[ApiKey] = &[$(ApiKey::$key),*];

        fn decode_body(
            api_key: ApiKey,
            api_version: i16,
            frame: &mut Bytes,
        ) -> Result<(), FrameError> {
            match api_key {
                $(ApiKey::$key => frame::decode_body::<$request>(frame, api_version).map(drop),)*
                other => Err(FrameError::Undecodable(format!(
                    "{other:?} is not an API corelog decodes"
                ))),
            }
        }

        fn encode_default_body(
            api_key: ApiKey,
            api_version: i16,
            out: &mut BytesMut,
        ) -> Option<Result<(), EncodeError>> {
            match api_key {
                $(ApiKey::$key => Some(
                    <$request>::default()
                        .encode(out, api_version)
                        .map_err(|error| EncodeError(error.to_string())),
                ),)*
                _ => None,
            }
        }
    };
}

requests! {
    Produce => messages::ProduceRequest,
    Fetch => messages::FetchRequest,
    ListOffsets => messages::ListOffsetsRequest,
    OffsetForLeaderEpoch => messages::OffsetForLeaderEpochRequest,
    Metadata => messages::MetadataRequest,
    ApiVersions => messages::ApiVersionsRequest,
    CreateTopics => messages::CreateTopicsRequest,
    DeleteTopics => messages::DeleteTopicsRequest,
    CreatePartitions => messages::CreatePartitionsRequest,
    FindCoordinator => messages::FindCoordinatorRequest,
    JoinGroup => messages::JoinGroupRequest,
    SyncGroup => messages::SyncGroupRequest,
    Heartbeat => messages::HeartbeatRequest,
    LeaveGroup => messages::LeaveGroupRequest,
    OffsetCommit => messages::OffsetCommitRequest,
    OffsetFetch => messages::OffsetFetchRequest,
    ListGroups => messages::ListGroupsRequest,
    DescribeCluster => messages::DescribeClusterRequest,
    DescribeGroups => messages::DescribeGroupsRequest,
    DeleteGroups => messages::DeleteGroupsRequest,
    OffsetDelete => messages::OffsetDeleteRequest,
    InitProducerId => messages::InitProducerIdRequest,
    DeleteRecords => messages::DeleteRecordsRequest,
    DescribeConfigs => messages::DescribeConfigsRequest,
    DescribeLogDirs => messages::DescribeLogDirsRequest,
    AlterConfigs => messages::AlterConfigsRequest,
    IncrementalAlterConfigs => messages::IncrementalAlterConfigsRequest,
    ConsumerGroupHeartbeat => messages::ConsumerGroupHeartbeatRequest,
    ConsumerGroupDescribe => messages::ConsumerGroupDescribeRequest,
    AlterPartitionReassignments => messages::AlterPartitionReassignmentsRequest,
    ListPartitionReassignments => messages::ListPartitionReassignmentsRequest,
    UnregisterBroker => messages::UnregisterBrokerRequest,
}

/// Decodes one request frame (without its 4-byte length prefix): header,
/// then body, with nothing left over.
pub fn decode_request(mut frame_bytes: Bytes) -> Result<DecodedRequest, FrameError> {
    let peek = frame::peek(&frame_bytes)?;
    let api_key = ApiKey::try_from(peek.api_key)
        .map_err(|_| FrameError::Undecodable(format!("unknown API key {}", peek.api_key)))?;
    let header = frame::decode_header(api_key, peek.api_version, &mut frame_bytes)?;
    decode_body(api_key, peek.api_version, &mut frame_bytes)?;
    Ok(DecodedRequest {
        api_key,
        api_version: peek.api_version,
        header,
    })
}

/// A request frame (without the length prefix) whose body is the default
/// of its type, encoded at `api_version`: a valid starting point for fuzz
/// corpora. `None` for an API this module does not know.
pub fn encode_default_request(
    api_key: ApiKey,
    api_version: i16,
    correlation_id: i32,
) -> Option<Result<Vec<u8>, EncodeError>> {
    let header = RequestHeader::default()
        .with_request_api_key(api_key as i16)
        .with_request_api_version(api_version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some("corelog-fuzz".into()));
    let mut out = BytesMut::new();
    if let Err(error) = header.encode(&mut out, api_key.request_header_version(api_version)) {
        return Some(Err(EncodeError(error.to_string())));
    }
    Some(encode_default_body(api_key, api_version, &mut out)?.map(|()| out.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::api::SUPPORTED;

    #[test]
    fn every_advertised_version_round_trips_a_default_request() {
        for (api_key, versions) in SUPPORTED {
            assert!(DECODABLE.contains(api_key), "{api_key:?} has no decoder");
            let codec = api_key.valid_versions();
            for version in versions.clone().filter(|version| *version >= codec.min) {
                let frame = encode_default_request(*api_key, version, 7)
                    .expect("known API")
                    .unwrap_or_else(|error| panic!("{api_key:?} v{version}: {error}"));
                let decoded = decode_request(Bytes::from(frame))
                    .unwrap_or_else(|error| panic!("{api_key:?} v{version}: {error}"));
                assert_eq!(decoded.api_key, *api_key);
                assert_eq!(decoded.api_version, version);
                assert_eq!(decoded.header.correlation_id, 7);
            }
        }
    }

    /// Trailing bytes are ignored as Kafka ignores them (librdkafka 2.16's
    /// Metadata v12 has three); a truncated body is an error.
    #[test]
    fn trailing_bytes_are_ignored_and_truncation_is_an_error() {
        let frame = encode_default_request(ApiKey::Metadata, 12, 1)
            .unwrap()
            .unwrap();
        let mut longer = frame.clone();
        longer.push(0);
        assert!(decode_request(Bytes::from(longer)).is_ok());
        assert!(decode_request(Bytes::from(frame[..frame.len() - 1].to_vec())).is_err());
    }

    /// The first regression of issue 10: a Fetch whose topics array claims
    /// 2^31-1 entries is an error, not an allocation that aborts the broker.
    #[test]
    fn fetch_claiming_i32_max_topics_is_an_error() {
        let mut frame = encode_default_request(ApiKey::Fetch, 4, 1)
            .unwrap()
            .unwrap();
        let topics_count = frame.len() - 4;
        assert_eq!(frame[topics_count..], [0, 0, 0, 0]);
        frame[topics_count..].copy_from_slice(&i32::MAX.to_be_bytes());
        let error = decode_request(Bytes::from(frame)).unwrap_err();
        assert!(error.to_string().contains("array elements"), "{error}");
    }
}
