//! Request decoding of every API and version the broker advertises.
//!
//! Input: two bytes that pick one advertised (API, version) pair, then the
//! rest of the request frame after its API key and version (correlation id,
//! client id, header tagged fields, body). The two bytes are the API key and
//! the version when that pair is advertised (so a recorded frame becomes an
//! input by dropping the high bytes of both), and otherwise, as a
//! big-endian number, an index into the advertised pairs. The frame is
//! decoded by `corelog::protocol::decode_any`, which runs the same
//! `frame::peek`, `frame::decode_header` and `frame::decode_body` calls on
//! the same types as `server::dispatch`, or, for the versions read by hand
//! (older than the codec knows), by the handlers' own request types and
//! `protocol::legacy_requests`, exactly as dispatch reads them.
//!
//! Must hold: decoding returns (a request or an error) without panicking,
//! and allocates nothing libFuzzer's `-malloc_limit_mb` refuses.

#![no_main]

use std::sync::OnceLock;

use bytes::Bytes;
use corelog::protocol::decode_any;
use corelog::server::api::SUPPORTED;
use kafka_protocol::messages::ApiKey;
use libfuzzer_sys::fuzz_target;

/// Every advertised (API, version), in `SUPPORTED` order.
fn advertised() -> &'static [(ApiKey, i16)] {
    static PAIRS: OnceLock<Vec<(ApiKey, i16)>> = OnceLock::new();
    PAIRS.get_or_init(|| {
        SUPPORTED
            .iter()
            .flat_map(|(api_key, versions)| versions.clone().map(|version| (*api_key, version)))
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((selector, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let pairs = advertised();
    let named = pairs
        .iter()
        .find(|(api_key, version)| (*api_key as i16, *version) == (selector[0].into(), selector[1].into()));
    let (api_key, version) = match named {
        Some(pair) => *pair,
        None => pairs[u16::from_be_bytes(*selector) as usize % pairs.len()],
    };
    let mut frame = Vec::with_capacity(4 + rest.len());
    frame.extend_from_slice(&(api_key as i16).to_be_bytes());
    frame.extend_from_slice(&version.to_be_bytes());
    frame.extend_from_slice(rest);
    if let Some(decoded) = decode_by_hand(api_key, version, Bytes::from(frame.clone())) {
        // Decoded (or refused) by the hand-written readers dispatch uses.
        let _ = decoded;
        return;
    }
    if let Ok(decoded) = decode_any::decode_request(Bytes::from(frame)) {
        assert_eq!((decoded.api_key, decoded.api_version), (api_key, version));
    }
});

/// The APIs whose handlers read some versions by hand (the ones Kafka 4.0
/// dropped, which the codec no longer knows): decoded with the same types
/// and functions dispatch uses. `None` for everything decode_any covers.
fn decode_by_hand(api_key: ApiKey, version: i16, mut frame: Bytes) -> Option<bool> {
    use corelog::protocol::frame;
    use corelog::protocol::legacy_requests;
    use corelog::server::handlers;
    let codec_min = api_key.valid_versions().min;
    let by_hand = matches!(
        api_key,
        ApiKey::OffsetCommit
            | ApiKey::OffsetFetch
            | ApiKey::ListOffsets
            | ApiKey::CreateTopics
            | ApiKey::DeleteTopics
            | ApiKey::DescribeConfigs
    ) || (matches!(api_key, ApiKey::Produce | ApiKey::Fetch) && version < codec_min);
    if !by_hand {
        return None;
    }
    let Ok(_) = frame::decode_header(api_key, version, &mut frame) else {
        return Some(false);
    };
    let decoded = match api_key {
        ApiKey::OffsetCommit => frame::decode_body::<handlers::offset_commit::Request>(&mut frame, version).is_ok(),
        ApiKey::OffsetFetch => frame::decode_body::<handlers::offset_fetch::Request>(&mut frame, version).is_ok(),
        ApiKey::ListOffsets => frame::decode_body::<handlers::list_offsets::Request>(&mut frame, version).is_ok(),
        ApiKey::CreateTopics => frame::decode_body::<handlers::create_topics::Request>(&mut frame, version).is_ok(),
        ApiKey::DeleteTopics => frame::decode_body::<handlers::delete_topics::Request>(&mut frame, version).is_ok(),
        ApiKey::DescribeConfigs => frame::decode_body::<handlers::describe_configs::Request>(&mut frame, version).is_ok(),
        ApiKey::Produce => legacy_requests::decode_produce(&frame, version).is_ok(),
        _ => legacy_requests::decode_fetch(&frame, version).is_ok(),
    };
    Some(decoded)
}
