//! The network side of a shard: its listener, one task per connection, and
//! the request pipeline from a frame to the handler of its API.
//!
//! Where things go: `connection` reads frames (and reserves their memory),
//! `dispatch` is the pipeline every request goes through, `api` is the
//! table of APIs (one line per API: its handler, versions and types),
//! `reply` is what a handler's answer becomes (an `Outcome`),
//! `context` is what a handler learns about a request and its connection's
//! session, and `handlers` holds one file per API. A new API is one line in
//! `api`'s table plus its handler file.
//!
//! Invariants: requests reach handlers only through `dispatch`, and only
//! for APIs and versions in `api::SUPPORTED`.

pub mod api;
pub mod connection;
pub mod context;
pub mod dispatch;
pub mod handlers;
pub mod listener;
pub mod reply;
pub mod request_memory;
