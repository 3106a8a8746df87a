//! Kafka request framing: a 4-byte big-endian length, then a request header
//! and body. Responses are framed the same way around a response header.

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable};

/// What the first bytes of a frame say before anything is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FramePeek {
    pub api_key: i16,
    pub api_version: i16,
    pub correlation_id: i32,
}

#[derive(Debug)]
pub enum FrameError {
    /// Length prefix is negative or larger than the request limit.
    LengthOutOfBounds { length: i32, limit: u32 },
    /// Fewer bytes than a request header needs.
    TooShort,
    /// Header or body did not decode with the schema of its API and version.
    Undecodable(String),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::LengthOutOfBounds { length, limit } => {
                write!(
                    f,
                    "request length {length} outside 0..={limit} (socket.request.max.bytes)"
                )
            }
            FrameError::TooShort => write!(f, "frame shorter than a request header"),
            FrameError::Undecodable(why) => write!(f, "undecodable request: {why}"),
        }
    }
}

/// Checks a frame's length prefix against the request limit.
pub fn check_length(prefix: [u8; 4], limit: u32) -> Result<usize, FrameError> {
    let length = i32::from_be_bytes(prefix);
    if length < 0 || length as u32 > limit {
        return Err(FrameError::LengthOutOfBounds { length, limit });
    }
    Ok(length as usize)
}

/// Reads API key, version and correlation id, which sit at the same place in
/// every header version.
pub fn peek(frame: &[u8]) -> Result<FramePeek, FrameError> {
    if frame.len() < 8 {
        return Err(FrameError::TooShort);
    }
    Ok(FramePeek {
        api_key: i16::from_be_bytes([frame[0], frame[1]]),
        api_version: i16::from_be_bytes([frame[2], frame[3]]),
        correlation_id: i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]),
    })
}

/// Decodes the request header of a known API.
pub fn decode_header(
    api_key: ApiKey,
    api_version: i16,
    frame: &mut bytes::Bytes,
) -> Result<RequestHeader, FrameError> {
    let header_version = api_key.request_header_version(api_version);
    RequestHeader::decode(frame, header_version)
        .map_err(|error| FrameError::Undecodable(error.to_string()))
}

/// Decodes a request body. Bytes left over after the fields the schema
/// names are ignored, as Apache Kafka ignores them: librdkafka 2.15 and 2.16
/// send Metadata v12 with the 4 bytes reserved for the topic count left
/// unfinalized (`00 00 00 00` where one varint `00` belongs), so 3 bytes
/// follow the body, and refusing them shuts out every client built on it.
/// The first such request is logged, once per process.
pub fn decode_body<T: Decodable>(
    frame: &mut bytes::Bytes,
    api_version: i16,
) -> Result<T, FrameError> {
    let body = T::decode(frame, api_version)
        .map_err(|error| FrameError::Undecodable(error.to_string()))?;
    if !frame.is_empty() {
        log_trailing_bytes_once(std::any::type_name::<T>(), api_version, frame.len());
    }
    Ok(body)
}

fn log_trailing_bytes_once(request: &str, api_version: i16, count: usize) {
    use std::sync::atomic::{AtomicBool, Ordering};
    // Off the hot path: only requests with trailing bytes get here.
    static LOGGED: AtomicBool = AtomicBool::new(false);
    if !LOGGED.swap(true, Ordering::Relaxed) {
        let name = request.rsplit("::").next().unwrap_or(request);
        tracing::debug!(
            "{name} v{api_version} arrived with {count} bytes after its fields; \
             ignored as Kafka does (logged once)"
        );
    }
}

/// Frames a response: length, header (with tagged fields for flexible
/// versions, except ApiVersions, whose response header never has them),
/// then the body.
pub fn encode_response<T: Encodable>(
    api_key: ApiKey,
    api_version: i16,
    correlation_id: i32,
    body: &T,
) -> Result<BytesMut, EncodeError> {
    let header_version = api_key.response_header_version(api_version);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let header_bytes = header.compute_size(header_version).map_err(encode_error)?;
    let body_bytes = body.compute_size(api_version).map_err(encode_error)?;
    let mut out = BytesMut::with_capacity(4 + header_bytes + body_bytes);
    out.put_i32((header_bytes + body_bytes) as i32);
    header
        .encode(&mut out, header_version)
        .map_err(encode_error)?;
    body.encode(&mut out, api_version).map_err(encode_error)?;
    Ok(out)
}

/// The codec crate reports errors as `anyhow::Error`; this keeps the text as
/// a typed error of ours.
#[derive(Debug)]
pub struct EncodeError(pub String);

impl std::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "response encoding failed: {}", self.0)
    }
}

fn encode_error(error: impl std::fmt::Display) -> EncodeError {
    EncodeError(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_bounds() {
        assert_eq!(check_length(10i32.to_be_bytes(), 100).unwrap(), 10);
        assert!(check_length((-1i32).to_be_bytes(), 100).is_err());
        assert!(check_length(101i32.to_be_bytes(), 100).is_err());
    }

    #[test]
    fn trailing_bytes_after_the_body_are_ignored() {
        use kafka_protocol::messages::MetadataRequest;
        // librdkafka 2.16's "all topics" Metadata v12 as it arrives: the 4
        // bytes reserved for the topic count, unfinalized, then the two
        // booleans and the tag buffer. Read field by field: a null topics
        // array, false, false, no tags, and 3 bytes left over.
        let mut body = bytes::Bytes::from_static(&[0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00]);
        let request: MetadataRequest = decode_body(&mut body, 12).unwrap();
        assert!(request.topics.is_none());
        assert!(!request.allow_auto_topic_creation);
    }

    #[test]
    fn peek_reads_fixed_fields() {
        let frame = [0, 18, 0, 3, 0, 0, 0, 7, 0xff];
        assert_eq!(
            peek(&frame).unwrap(),
            FramePeek {
                api_key: 18,
                api_version: 3,
                correlation_id: 7
            }
        );
        assert!(peek(&frame[..7]).is_err());
    }
}
