//! One shard's view of the cluster metadata: the snapshot it installed last,
//! the nodes and cluster id clients are told about, and its link to the
//! controller on shard 0, through which every metadata change goes
//! ([`MetadataView::submit`]). Metadata, DescribeConfigs, FindCoordinator
//! and the topic-changing APIs read and write metadata only through it.
//!
//! Invariants:
//! - the snapshot's version never decreases (the controller broadcasts in
//!   version order; asserted in debug builds).
//! - this host's own cluster id and nodes are fixed for the life of the
//!   process; in a cluster, the cluster id is the quorum's (set once) and
//!   the nodes offered to clients follow the installed snapshot's live
//!   hosts.
//! - `submit` answers only after every shard installed the resulting
//!   snapshot, so whatever a client reads after its change succeeded
//!   already shows the change, on any shard.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use futures_channel::oneshot;

use crate::metadata::{Command, CommandError, CommandResult, Snapshot};
use crate::protocol::ErrorCode;
use crate::rt::channel::{ConnectedCoreSender, LocalQueueSender};

/// A node as clients see it: one per shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub node_id: i32,
    pub host: String,
    pub port: u16,
}

/// A command on its way to the controller, with where to send the answer.
pub struct ControllerRequest {
    pub command: Command,
    pub reply: oneshot::Sender<CommandResult>,
}

/// How a shard reaches the controller.
pub enum ControllerLink {
    /// Shard 0 queues to its own controller task.
    Local(LocalQueueSender<ControllerRequest>),
    Remote(ConnectedCoreSender<ControllerRequest>),
}

/// The snapshot a shard installed last, shared by its metadata view and its
/// partitions' routing.
pub type InstalledSnapshot = Rc<RefCell<Arc<Snapshot>>>;

/// One shard's metadata: what it installed, who the nodes are, and how to
/// reach the controller (see the module doc for its Invariants).
pub struct MetadataView {
    /// Shared with the shard's `Partitions`, which route by it: one
    /// installed snapshot, set in one place (`install`).
    snapshot: InstalledSnapshot,
    nodes: Arc<Vec<Node>>,
    cluster_id: Arc<String>,
    controller: ControllerLink,
}

impl MetadataView {
    pub fn new(
        nodes: Arc<Vec<Node>>,
        cluster_id: Arc<String>,
        controller: ControllerLink,
    ) -> MetadataView {
        MetadataView {
            snapshot: Rc::new(RefCell::new(Arc::new(Snapshot::default()))),
            nodes,
            cluster_id,
            controller,
        }
    }

    /// The cell holding the installed snapshot, for the shard's
    /// `Partitions` to route by.
    pub(super) fn installed(&self) -> InstalledSnapshot {
        self.snapshot.clone()
    }

    /// The snapshot installed last (version 0, empty, before the first).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.borrow().clone()
    }

    /// Every broker clients may use, by broker id: in a cluster, each
    /// shard of each host that is registered and not fenced (from the
    /// installed snapshot); on a single host, its own shards.
    pub fn nodes(&self) -> Arc<Vec<Node>> {
        let snapshot = self.snapshot.borrow();
        if snapshot.hosts.is_empty() {
            return self.nodes.clone();
        }
        Arc::new(
            snapshot
                .hosts
                .values()
                .filter(|host| !host.fenced)
                .flat_map(|host| {
                    host.ports.iter().enumerate().map(|(shard, &port)| Node {
                        node_id: crate::metadata::broker_id(host.node_id, shard as u32) as i32,
                        host: host.host.clone(),
                        port,
                    })
                })
                .collect(),
        )
    }

    /// The broker with id `broker`, when clients may use it.
    pub fn node(&self, broker: u32) -> Option<Node> {
        self.nodes()
            .iter()
            .find(|node| node.node_id == broker as i32)
            .cloned()
    }

    /// The cluster's id: in a cluster, the one its quorum set (the same on
    /// every host); on a single host, its data dir's.
    pub fn cluster_id(&self) -> Arc<String> {
        let snapshot = self.snapshot.borrow();
        snapshot
            .cluster_id
            .clone()
            .unwrap_or_else(|| self.cluster_id.clone())
    }

    /// Sends a command to the controller and waits for its answer, which
    /// comes only after every shard installed the resulting snapshot.
    pub async fn submit(&self, command: Command) -> CommandResult {
        let (reply, answer) = oneshot::channel();
        let request = ControllerRequest { command, reply };
        let sent = match &self.controller {
            ControllerLink::Local(sender) => sender.send(request).await.is_ok(),
            ControllerLink::Remote(sender) => sender.send(request).await.is_ok(),
        };
        let unavailable = || CommandError {
            code: ErrorCode::UNKNOWN_SERVER_ERROR,
            message: "the controller is shutting down".into(),
        };
        if !sent {
            return Err(unavailable());
        }
        answer.await.unwrap_or_else(|_| Err(unavailable()))
    }

    /// Makes `snapshot` the one clients see; only
    /// [`super::Shard::install`] calls it, after the partitions followed.
    pub(super) fn install(&self, snapshot: Arc<Snapshot>) {
        let mut installed = self.snapshot.borrow_mut();
        debug_assert!(
            snapshot.version >= installed.version,
            "snapshots are installed in increasing versions"
        );
        *installed = snapshot;
    }
}
