//! Who sent a request and over which connection: the `RequestContext` every
//! handler gets, and the per-connection `Session` it points to.
//!
//! A `Session` lives as long as its connection (`connection::serve` makes
//! it); a `RequestContext` lives as long as one request's handling
//! (`dispatch::handle` makes it from the request header). Handlers read the
//! API version from the context (`context.version`), never from an argument
//! of their own.
//!
//! A new API needs nothing here: its handler takes `&RequestContext` like
//! every other (one line in the table in `server::api`, plus its handler
//! file under `handlers/`).
//!
//! Where the seams are:
//! - Authentication: SASL state and the authenticated principal belong in the
//!   `Session` (today every connection is `Principal::Anonymous`, Kafka's
//!   `User:ANONYMOUS`, since corelog has only PLAINTEXT listeners). Whether a
//!   session may send a request at all is decided in one place,
//!   `dispatch::admit`, after the header is read and before the body is
//!   decoded or the handler runs.
//! - Authorization: whole-API checks (cluster actions) also go in
//!   `dispatch::admit`; checks per resource (a topic, a group) need the
//!   decoded request, so handlers make them with `context.session.principal()`.
//! - Per-API metrics: `Session::count_request`, called from `dispatch::admit`.
//!
//! Invariants: a session's principal is the one its connection
//! authenticated as (always `Anonymous` today); its request counts grow by
//! one for each request admitted on its connection, and never shrink.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::rc::Rc;

use kafka_protocol::messages::ApiKey;

/// Who a connection acts as. Only `Anonymous` exists until a SASL
/// mechanism is added; then `User` names the authenticated user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// Kafka's `User:ANONYMOUS`: a PLAINTEXT connection.
    Anonymous,
}

impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Principal::Anonymous => write!(f, "User:ANONYMOUS"),
        }
    }
}

/// What one client connection carries from request to request.
#[derive(Debug)]
pub struct Session {
    /// The client's address, when the socket still knows it.
    pub peer: Option<SocketAddr>,
    /// The local address the connection reached (which listener).
    pub listener: Option<SocketAddr>,
    principal: Principal,
    /// Requests admitted on this connection, per API key (the per-API
    /// metrics hook; a shard-wide registry can sum these later).
    requests: RefCell<BTreeMap<i16, u64>>,
}

impl Session {
    pub fn new(peer: Option<SocketAddr>, listener: Option<SocketAddr>) -> Rc<Session> {
        Rc::new(Session {
            peer,
            listener,
            principal: Principal::Anonymous,
            requests: RefCell::new(BTreeMap::new()),
        })
    }

    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// Kafka's form of the client host: `/` and the peer's IP address
    /// (empty when the peer is unknown).
    pub fn client_host(&self) -> String {
        self.peer
            .map(|peer| format!("/{}", peer.ip()))
            .unwrap_or_default()
    }

    /// Counts one admitted request of `api_key`.
    pub fn count_request(&self, api_key: ApiKey) {
        *self
            .requests
            .borrow_mut()
            .entry(api_key as i16)
            .or_insert(0) += 1;
    }

    /// Requests of `api_key` admitted on this connection so far.
    pub fn requests(&self, api_key: ApiKey) -> u64 {
        self.requests
            .borrow()
            .get(&(api_key as i16))
            .copied()
            .unwrap_or(0)
    }
}

/// One request as its handler sees it: which API and version, who sent it
/// and over which connection.
#[derive(Debug)]
pub struct RequestContext {
    pub api_key: ApiKey,
    /// The request's API version; the handler answers in the same version.
    pub version: i16,
    pub correlation_id: i32,
    /// The header's client id (empty when null).
    pub client_id: String,
    /// Kafka's form: `/` and the peer's IP address.
    pub client_host: String,
    /// The local address the connection reached.
    pub listener: Option<SocketAddr>,
    /// The connection's session (shared by all its requests).
    pub session: Rc<Session>,
}

impl RequestContext {
    /// A context for a request that did not come over a connection (unit
    /// tests of handlers, tools): anonymous, no addresses.
    pub fn detached(api_key: ApiKey, version: i16, correlation_id: i32) -> RequestContext {
        RequestContext {
            api_key,
            version,
            correlation_id,
            client_id: String::new(),
            client_host: String::new(),
            listener: None,
            session: Session::new(None, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_counts_requests_per_api_and_is_anonymous() {
        let session = Session::new(Some("10.1.2.3:4567".parse().unwrap()), None);
        session.count_request(ApiKey::Metadata);
        session.count_request(ApiKey::Metadata);
        session.count_request(ApiKey::Fetch);
        assert_eq!(session.requests(ApiKey::Metadata), 2);
        assert_eq!(session.requests(ApiKey::Fetch), 1);
        assert_eq!(session.requests(ApiKey::Produce), 0);
        assert_eq!(session.client_host(), "/10.1.2.3");
        assert_eq!(session.principal().to_string(), "User:ANONYMOUS");
    }
}
