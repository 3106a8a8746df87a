//! ApiVersions (key 18), v0-v4: the APIs and versions this broker serves.
//! v3 is flexible and names the client software; v4 only lets a supported
//! feature's min version be 0 (KAFKA-17011), and corelog lists no features.
//! The list is the table of APIs (`server::api::SUPPORTED`), handed in by
//! the table itself (so this file does not import the table that imports
//! it), and nothing is advertised that has no handler.
//!
//! Invariants: the answer lists exactly the given table, in its order.

use std::ops::RangeInclusive;

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};

use kafka_protocol::messages::ApiKey;

use crate::protocol::ErrorCode;

pub const VERSIONS: RangeInclusive<i16> = 0..=4;

/// The table of APIs, as `server::api::SUPPORTED` lists it.
pub type Supported = [(ApiKey, RangeInclusive<i16>)];

fn advertised(supported: &Supported) -> Vec<ApiVersion> {
    supported
        .iter()
        .map(|(key, versions)| {
            ApiVersion::default()
                .with_api_key(*key as i16)
                .with_min_version(*versions.start())
                .with_max_version(*versions.end())
        })
        .collect()
}

/// The answer to a supported version: everything in `supported`.
pub fn answer(supported: &Supported, _request: ApiVersionsRequest) -> ApiVersionsResponse {
    ApiVersionsResponse::default()
        .with_error_code(ErrorCode::NONE.0)
        .with_api_keys(advertised(supported))
}

/// The answer to a version newer than ours, encoded as v0 by the caller.
pub fn unsupported_version(supported: &Supported) -> ApiVersionsResponse {
    ApiVersionsResponse::default()
        .with_error_code(ErrorCode::UNSUPPORTED_VERSION.0)
        .with_api_keys(advertised(supported))
}
