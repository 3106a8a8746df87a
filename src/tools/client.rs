//! A small blocking Kafka client for the tools: std::net sockets, one
//! request at a time per connection, typed requests and responses from the
//! `kafka-protocol` crate.
//!
//! Versions: each connection asks ApiVersions first; a request goes out at
//! the highest version both the broker serves and the caller can fill in
//! (the caller passes its highest, since later versions change fields, such
//! as topic ids in place of names).
//!
//! Invariants: a response frame is read only after its length was checked
//! against `TOOL_RESPONSE_BYTES_MAX`, and only as many bytes as it says are
//! allocated; a response is decoded only after its correlation id matched
//! the request's; every socket wait has a timeout.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, MetadataRequest, MetadataResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};

use super::ToolError;
use crate::limits;

/// The client id the tools send in every request header.
const CLIENT_ID: &str = "corelog-tools";

/// Error codes worth another attempt after a pause (Kafka marks them
/// retriable): coordinator loading or moving, leader moving, a topic that
/// was just created and has not reached every broker.
pub const RETRIABLE: &[i16] = &[3, 5, 6, 14, 15, 16, 7];

/// One connection to one broker.
pub struct Connection {
    stream: TcpStream,
    pub address: String,
    correlation_id: i32,
    /// The broker's ApiVersions answer: key -> (min, max).
    pub versions: HashMap<i16, (i16, i16)>,
}

impl Connection {
    /// Connects to `address` and asks its API versions.
    pub fn open(address: &str) -> Result<Connection, ToolError> {
        let io = |source| ToolError::Io {
            address: address.to_string(),
            source,
        };
        let mut last = None;
        let mut stream = None;
        for resolved in address.to_socket_addrs().map_err(io)? {
            let timeout = Duration::from_millis(limits::TOOL_CONNECT_TIMEOUT_MILLISECONDS);
            match TcpStream::connect_timeout(&resolved, timeout) {
                Ok(connected) => {
                    stream = Some(connected);
                    break;
                }
                Err(error) => last = Some(error),
            }
        }
        let stream = match (stream, last) {
            (Some(stream), _) => stream,
            (None, Some(error)) => return Err(io(error)),
            (None, None) => {
                return Err(io(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "the name resolves to no address",
                )))
            }
        };
        let timeout = Some(Duration::from_millis(
            limits::TOOL_RESPONSE_TIMEOUT_MILLISECONDS,
        ));
        stream.set_read_timeout(timeout).map_err(io)?;
        stream.set_write_timeout(timeout).map_err(io)?;
        let _ = stream.set_nodelay(true);
        let mut connection = Connection {
            stream,
            address: address.to_string(),
            correlation_id: 0,
            versions: HashMap::new(),
        };
        connection.ask_versions()?;
        Ok(connection)
    }

    /// ApiVersions v3, or v0 when the broker is older (it answers
    /// UNSUPPORTED_VERSION at v0 with its own range).
    fn ask_versions(&mut self) -> Result<(), ToolError> {
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("corelog"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let mut response = self.send_at(&request, 3)?;
        if response.error_code == 35 {
            // v0 has no client software fields.
            response = self.send_at(&ApiVersionsRequest::default(), 0)?;
        }
        super::check(|| "ApiVersions".into(), response.error_code, None)?;
        self.versions = response
            .api_keys
            .iter()
            .map(|api| (api.api_key, (api.min_version, api.max_version)))
            .collect();
        Ok(())
    }

    /// The version to send `R` at: the highest the broker serves that is at
    /// most `highest` and at least what the codec knows.
    pub fn version<R: Request>(&self, highest: i16) -> Result<i16, ToolError> {
        let (broker_min, broker_max) = self
            .versions
            .get(&R::KEY)
            .copied()
            .ok_or_else(|| self.unsupported::<R>())?;
        let low = broker_min.max(R::VERSIONS.min);
        let high = broker_max.min(highest).min(R::VERSIONS.max);
        if low > high {
            return Err(self.unsupported::<R>());
        }
        Ok(high)
    }

    /// True when the broker serves some version of `key`.
    pub fn serves(&self, key: ApiKey) -> bool {
        self.versions.contains_key(&(key as i16))
    }

    fn unsupported<R: Request>(&self) -> ToolError {
        ToolError::Unsupported {
            address: self.address.clone(),
            api: ApiKey::try_from(R::KEY).unwrap_or(ApiKey::ApiVersions),
        }
    }

    /// Sends `request` at the best version up to `highest`; returns the
    /// version used with the response.
    pub fn send<R: Request>(
        &mut self,
        request: &R,
        highest: i16,
    ) -> Result<(i16, R::Response), ToolError> {
        let version = self.version::<R>(highest)?;
        Ok((version, self.send_at(request, version)?))
    }

    /// Sends `request` at `version` and reads its response.
    pub fn send_at<R: Request>(
        &mut self,
        request: &R,
        version: i16,
    ) -> Result<R::Response, ToolError> {
        let correlation_id = self.write_request(request, version)?;
        let mut body = self.read_frame()?;
        let header = ResponseHeader::decode(&mut body, R::Response::header_version(version))
            .map_err(|error| self.protocol(format!("response header: {error}")))?;
        if header.correlation_id != correlation_id {
            return Err(self.protocol(format!(
                "response to request {} where {correlation_id} was expected",
                header.correlation_id
            )));
        }
        R::Response::decode(&mut body, version).map_err(|error| {
            self.protocol(format!(
                "{:?} v{version} response: {error}",
                ApiKey::try_from(R::KEY)
            ))
        })
    }

    /// Sends a request the broker does not answer (Produce with acks=0).
    pub fn send_unanswered<R: Request>(
        &mut self,
        request: &R,
        version: i16,
    ) -> Result<(), ToolError> {
        self.write_request(request, version).map(drop)
    }

    fn write_request<R: Request>(&mut self, request: &R, version: i16) -> Result<i32, ToolError> {
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(StrBytes::from_static_str(CLIENT_ID)));
        let mut frame = BytesMut::new();
        frame.put_i32(0);
        let encoded = header
            .encode(&mut frame, R::header_version(version))
            .and_then(|()| request.encode(&mut frame, version));
        encoded.map_err(|error| {
            let api =
                ApiKey::try_from(R::KEY).map_or(format!("api {}", R::KEY), |k| format!("{k:?}"));
            self.protocol(format!("cannot encode {api} v{version}: {error}"))
        })?;
        let length = (frame.len() - 4) as i32;
        frame[..4].copy_from_slice(&length.to_be_bytes());
        let address = self.address.clone();
        self.stream
            .write_all(&frame)
            .map_err(|source| ToolError::Io { address, source })?;
        Ok(self.correlation_id)
    }

    fn read_frame(&mut self) -> Result<Bytes, ToolError> {
        let address = self.address.clone();
        let io = |source| ToolError::Io {
            address: address.clone(),
            source,
        };
        let mut prefix = [0u8; 4];
        self.stream.read_exact(&mut prefix).map_err(io)?;
        let length = i32::from_be_bytes(prefix);
        if length < 0 || length as usize > limits::TOOL_RESPONSE_BYTES_MAX {
            return Err(self.protocol(format!(
                "response length {length} outside 0..={}",
                limits::TOOL_RESPONSE_BYTES_MAX
            )));
        }
        let mut body = vec![0u8; length as usize];
        self.stream.read_exact(&mut body).map_err(io)?;
        Ok(Bytes::from(body))
    }

    fn protocol(&self, reason: String) -> ToolError {
        ToolError::Protocol {
            address: self.address.clone(),
            reason,
        }
    }
}

/// The cluster as the tools see it: a bootstrap connection, the brokers
/// Metadata names, and one connection per broker opened on first use.
pub struct Cluster {
    /// The `--brokers` addresses, to connect again after losing them.
    addresses: Vec<String>,
    bootstrap: Connection,
    /// node id -> host:port, from the last Metadata.
    pub brokers: HashMap<i32, String>,
    connections: HashMap<i32, Connection>,
}

impl Cluster {
    /// Connects to the first reachable of the comma-separated `brokers`.
    pub fn connect(brokers: &str) -> Result<Cluster, ToolError> {
        let addresses: Vec<String> = brokers
            .split(',')
            .map(str::trim)
            .filter(|address| !address.is_empty())
            .map(str::to_string)
            .collect();
        let mut cluster = Cluster {
            bootstrap: open_first(&addresses)?,
            addresses,
            brokers: HashMap::new(),
            connections: HashMap::new(),
        };
        cluster.metadata(Some(&[]))?;
        Ok(cluster)
    }

    /// Drops every connection and connects to the bootstrap brokers again
    /// (after a broker went away), refreshing the broker list.
    pub fn reconnect(&mut self) -> Result<(), ToolError> {
        self.connections.clear();
        self.bootstrap = open_first(&self.addresses)?;
        self.metadata(Some(&[])).map(drop)
    }

    /// The bootstrap connection, for requests any broker answers.
    pub fn any(&mut self) -> &mut Connection {
        &mut self.bootstrap
    }

    /// Metadata for `topics` (None: every topic), without creating any;
    /// refreshes the broker list.
    pub fn metadata(&mut self, topics: Option<&[String]>) -> Result<MetadataResponse, ToolError> {
        // v1 at least: v0 cannot ask for no topics or for all of them.
        let version = self.bootstrap.version::<MetadataRequest>(12)?.max(1);
        let mut request = MetadataRequest::default().with_topics(topics.map(|names| {
            names
                .iter()
                .map(|name| MetadataRequestTopic::default().with_name(Some(topic_name(name))))
                .collect()
        }));
        // Before v4 the broker decides whether a named topic is created.
        if version >= 4 {
            request.allow_auto_topic_creation = false;
        }
        let response = self.bootstrap.send_at(&request, version)?;
        self.brokers = response
            .brokers
            .iter()
            .map(|broker| {
                (
                    broker.node_id.0,
                    format!("{}:{}", broker.host.as_str(), broker.port),
                )
            })
            .collect();
        Ok(response)
    }

    /// The connection to node `id`, opened on first use.
    pub fn node(&mut self, id: i32) -> Result<&mut Connection, ToolError> {
        if !self.connections.contains_key(&id) {
            let address = self.brokers.get(&id).cloned().ok_or_else(|| {
                ToolError::Usage(format!("node {id} is not in the cluster's metadata"))
            })?;
            self.connections.insert(id, Connection::open(&address)?);
        }
        Ok(self.connections.get_mut(&id).expect("inserted above"))
    }

    /// Forgets the connection to `id` (after it broke), so the next use
    /// opens a new one.
    pub fn drop_node(&mut self, id: i32) {
        self.connections.remove(&id);
    }

    /// The node coordinating `group`, retrying while the coordinator loads.
    pub fn coordinator(&mut self, group: &str) -> Result<i32, ToolError> {
        let request = FindCoordinatorRequest::default()
            .with_key(StrBytes::from_string(group.to_string()))
            .with_key_type(0);
        let mut attempt = 0;
        loop {
            attempt += 1;
            // v3 at most: v4 and later ask for a list of keys.
            let (_, response) = self.bootstrap.send(&request, 3)?;
            if response.error_code == 0 {
                let id = response.node_id.0;
                let address = format!("{}:{}", response.host.as_str(), response.port);
                self.brokers.entry(id).or_insert(address);
                return Ok(id);
            }
            if !RETRIABLE.contains(&response.error_code) || attempt >= limits::TOOL_ATTEMPTS_MAX {
                return Err(super::kafka_error(
                    format!("FindCoordinator for group {group}"),
                    response.error_code,
                    response.error_message.as_deref(),
                ));
            }
            pause();
        }
    }
}

/// A connection to the first of `addresses` that answers.
fn open_first(addresses: &[String]) -> Result<Connection, ToolError> {
    let mut failure = None;
    for address in addresses {
        match Connection::open(address) {
            Ok(connection) => return Ok(connection),
            Err(error) => failure = Some(error),
        }
    }
    Err(failure.unwrap_or_else(|| ToolError::Usage("--brokers names no broker".into())))
}

/// Sleeps between attempts of a retriable request.
pub fn pause() {
    std::thread::sleep(Duration::from_millis(limits::TOOL_RETRY_PAUSE_MILLISECONDS));
}

pub fn topic_name(name: &str) -> kafka_protocol::messages::TopicName {
    kafka_protocol::messages::TopicName(StrBytes::from_string(name.to_string()))
}

pub fn group_id(name: &str) -> kafka_protocol::messages::GroupId {
    kafka_protocol::messages::GroupId(StrBytes::from_string(name.to_string()))
}

pub fn text(value: impl Into<String>) -> StrBytes {
    StrBytes::from_string(value.into())
}
