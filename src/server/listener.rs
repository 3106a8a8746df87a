//! Accepts connections on a shard's port, up to the per-shard limit.

use std::rc::Rc;

use super::connection;
use crate::limits::CONNECTIONS_PER_SHARD_MAX;
use crate::rt::net::Listener;
use crate::shard::Shard;

/// Accepts until the listener fails; each connection gets its own task.
pub async fn serve(shard: Rc<Shard>, listener: Listener) {
    loop {
        let connection = match listener.accept().await {
            Ok(connection) => connection,
            Err(error) => {
                eprintln!("corelog: shard {}: accept failed: {error}", shard.id);
                crate::rt::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        if shard.connections.get() >= CONNECTIONS_PER_SHARD_MAX {
            eprintln!(
                "corelog: shard {}: refusing connection from {:?}: {CONNECTIONS_PER_SHARD_MAX} connections open",
                shard.id,
                connection.peer_address()
            );
            continue;
        }
        shard.connections.set(shard.connections.get() + 1);
        let shard = shard.clone();
        crate::rt::spawn_detached(async move {
            connection::serve(&shard, connection).await;
            shard.connections.set(shard.connections.get() - 1);
        });
    }
}
