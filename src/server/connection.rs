//! One client connection: read a frame, answer it, read the next.
//!
//! Like Kafka, a connection has one request in process at a time
//! (`INFLIGHT_REQUESTS_PER_CONNECTION_MAX`): pipelined requests wait in the
//! socket buffer, so responses go out in request order by construction.
//! A frame that breaks the protocol closes this connection, with a log line;
//! nothing a client sends can take the shard down.

use std::time::Duration;

use bytes::BytesMut;

use super::dispatch::{self, Outcome};
use crate::limits::FRAME_BODY_TIMEOUT_MILLISECONDS;
use crate::protocol::frame;
use crate::rt::net::Connection;
use crate::shard::Shard;

pub async fn serve(shard: &Shard, mut connection: Connection) {
    let peer = connection.peer_address();
    let close = |why: String| {
        eprintln!(
            "corelog: shard {}: closing connection from {peer:?}: {why}",
            shard.id
        )
    };
    loop {
        let mut prefix = [0u8; 4];
        match connection.read_exact_or_eof(&mut prefix).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(error) => return close(format!("read failed: {error}")),
        }
        let length = match frame::check_length(prefix, shard.config.request_bytes_max) {
            Ok(length) => length,
            Err(error) => return close(error.to_string()),
        };
        let mut body = BytesMut::zeroed(length);
        if let Err(error) = connection
            .read_exact_within(
                &mut body,
                Duration::from_millis(FRAME_BODY_TIMEOUT_MILLISECONDS),
            )
            .await
        {
            return close(format!("incomplete request of {length} bytes: {error}"));
        }
        match dispatch::handle(shard, peer, body.freeze()).await {
            Outcome::Respond(response) => {
                if let Err(error) = connection.write_all(&response).await {
                    return close(format!("write failed: {error}"));
                }
            }
            Outcome::NoResponse => {}
            Outcome::Close(why) => return close(why),
        }
    }
}
