//! Starting the metrics endpoint with the shards: which shard serves it,
//! which answer it, and the channels between them. `main.rs` binds the
//! endpoint before the shards start ([`roles`]) and each shard starts its
//! part on its own core ([`start`]).
//!
//! Why channels of their own rather than the controller's inbox senders:
//! the controller owns those, and a scrape should never wait behind a
//! snapshot being installed. The receiving end runs the same inbox loop
//! (`shard::controller::serve_inbox`), which answers `Collect`.
//!
//! Invariants: exactly one shard (0) serves, and it has a sender to every
//! other shard; with metrics off, or the address not bindable, every shard
//! is `Off` and nothing is started.

use std::net::TcpListener;
use std::rc::Rc;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::config::Config;
use crate::limits::CROSS_CORE_QUEUE_MAX;
use crate::rt::channel::{cross_core, CoreReceiver, CoreSender};
use crate::rt::net::{Listener, ListenerStop};
use crate::shard::{Shard, ShardMessage};

/// A shard's part in serving metrics.
pub enum Role {
    /// Shard 0: serves the endpoint, asking every other shard per scrape.
    Serve {
        listener: TcpListener,
        peers: Vec<CoreSender<ShardMessage>>,
        ready: Arc<AtomicBool>,
    },
    /// Another shard: answers shard 0's collect messages.
    Answer(CoreReceiver<ShardMessage>),
    Off,
}

/// One role per shard. The endpoint is bound here, so its address is
/// logged before the ready line; a port that cannot be bound is logged and
/// the broker serves without metrics (metrics never keep it from serving).
/// Scrapes reach the other shards on channels of their own, not the
/// controller's: the controller owns those, and a scrape never waits
/// behind a snapshot being installed.
pub fn roles(config: &Config, ready: &Arc<AtomicBool>) -> Vec<Role> {
    let off = || (0..config.cores).map(|_| Role::Off).collect();
    let Some(address) = config.metrics_listen else {
        return off();
    };
    let listener = match TcpListener::bind(address) {
        Ok(listener) => listener,
        Err(error) => {
            tracing::warn!("cannot serve metrics on {address}: {error}; serving without metrics (--metrics-listen)");
            return off();
        }
    };
    match listener.local_addr() {
        // The endpoint serves every shard, and scripts take the address
        // from the end of this line: logged outside the shard's span, so
        // the text format adds no `shard=` after it.
        Ok(bound) => tracing::info!(parent: None, "metrics on http://{bound}/metrics"),
        Err(error) => tracing::error!("metrics listener: {error}"),
    }
    let mut peers = Vec::new();
    let mut roles = vec![];
    for _ in 1..config.cores {
        let (to_shard, inbox) = cross_core::<ShardMessage>(CROSS_CORE_QUEUE_MAX);
        peers.push(to_shard);
        roles.push(Role::Answer(inbox));
    }
    roles.insert(
        0,
        Role::Serve {
            listener,
            peers,
            ready: ready.clone(),
        },
    );
    roles
}

/// Starts this shard's part in serving metrics; for shard 0, what stops
/// its endpoint at shutdown.
pub fn start(shard: &Rc<Shard>, role: Role) -> Option<Rc<ListenerStop>> {
    match role {
        Role::Serve {
            listener,
            peers,
            ready,
        } => {
            let listener = Listener::from_std(listener);
            let stop = listener.stopper();
            let shard = shard.clone();
            crate::rt::spawn_detached(async move {
                let mut connected = Vec::with_capacity(peers.len());
                for peer in peers {
                    connected.push(peer.connect().await);
                }
                let endpoint = super::http::Endpoint::new(shard, connected, ready);
                super::http::serve(listener, endpoint).await;
            });
            Some(stop)
        }
        Role::Answer(inbox) => {
            let shard = shard.clone();
            crate::rt::spawn_detached(async move {
                crate::shard::controller::serve_inbox(shard, inbox.connect().await).await;
            });
            None
        }
        Role::Off => None,
    }
}
