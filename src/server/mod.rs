//! The network side of a shard: its listener, one task per connection, and
//! dispatch of each request to the handler of its API.

pub mod connection;
pub mod dispatch;
pub mod handlers;
pub mod listener;
pub mod request_memory;
