//! Accepts connections on a shard's port, up to the per-shard limit.
//!
//! Invariants: one accept loop per shard, on its core; it ends when the
//! shard stops listening (a clean stop shuts the socket down first, so
//! clients are refused and retry elsewhere instead of being reset later).
//! Failed accepts (out of file descriptors, say) back off and are logged
//! once per burst, not once per try.

use std::rc::Rc;
use std::time::Duration;

use super::connection;
use super::request_memory::RequestMemory;
use crate::limits::{ACCEPT_BACKOFF_MILLISECONDS_MAX, ACCEPT_BACKOFF_MILLISECONDS_MIN};
use crate::rt::net::Listener;
use crate::rt::os_limits::connections_per_shard_max;
use crate::shard::Shard;

/// Accepts until the listener is shut down; each connection gets its own
/// task.
pub async fn serve(shard: Rc<Shard>, listener: Listener) {
    let request_memory = Rc::new(RequestMemory::new(
        shard.config.queued_request_bytes_max as usize,
    ));
    let mut failures: u64 = 0;
    let mut backoff = Duration::from_millis(ACCEPT_BACKOFF_MILLISECONDS_MIN);
    loop {
        let connection = match listener.accept().await {
            Ok(connection) => connection,
            Err(_) if listener.is_shut_down() => return,
            Err(error) => {
                if failures == 0 {
                    tracing::warn!(
                        "shard {}: accept failed: {error}; backing off (logged once until an accept succeeds)",
                        shard.id
                    );
                }
                failures += 1;
                crate::rt::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_millis(ACCEPT_BACKOFF_MILLISECONDS_MAX));
                continue;
            }
        };
        if failures > 0 {
            tracing::info!(
                "shard {}: accepting again after {failures} failed accepts",
                shard.id
            );
            failures = 0;
            backoff = Duration::from_millis(ACCEPT_BACKOFF_MILLISECONDS_MIN);
        }
        // The open-file budget may allow fewer than CONNECTIONS_PER_SHARD_MAX.
        let connections_max = connections_per_shard_max();
        if shard.connections.count() >= connections_max {
            tracing::warn!(
                "shard {}: refusing connection from {:?}: {connections_max} connections open",
                shard.id,
                connection.peer_address()
            );
            continue;
        }
        shard.connections.opened();
        let shard = shard.clone();
        let request_memory = request_memory.clone();
        crate::rt::spawn_detached(async move {
            connection::serve(&shard, &request_memory, connection).await;
            shard.connections.closed();
        });
    }
}
