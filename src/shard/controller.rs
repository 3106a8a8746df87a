//! The controller task on shard 0: applies metadata commands one at a time,
//! persists them, and installs the new snapshot on every shard before it
//! answers, so a client that created a topic through any node can use it on
//! every node at once.
//!
//! Invariants: commands run one at a time, in arrival order; a command's
//! records are written to the metadata log before they are applied, and
//! applied before the snapshot is broadcast; each applied record moves the
//! snapshot version up by exactly one (asserted), so shards install
//! snapshots in increasing versions.

use std::rc::Rc;
use std::sync::Arc;

use futures_channel::oneshot;

use super::{ControllerRequest, Shard, ShardMessage};
use crate::metadata::state::{Defaults, MetadataState};
use crate::metadata::store::MetadataStore;
use crate::metadata::{Command, CommandError, CommandResult};
use crate::protocol::ErrorCode;
use crate::rt::channel::{
    ConnectedCoreReceiver, ConnectedCoreSender, LocalQueueReceiver, LocalQueueSender,
};

pub struct Controller {
    pub state: MetadataState,
    pub store: MetadataStore,
    pub defaults: Defaults,
    pub shards: Broadcast,
}

/// Every shard of this host, to install snapshots on.
pub struct Broadcast {
    /// Inboxes of shards 1..n.
    pub peers: Vec<ConnectedCoreSender<ShardMessage>>,
    /// Shard 0 itself.
    pub local: Rc<Shard>,
}

impl Broadcast {
    /// Installs a snapshot on every shard and waits until each has.
    pub async fn install(&self, snapshot: Arc<crate::metadata::Snapshot>) {
        let mut waiting = Vec::with_capacity(self.peers.len());
        for peer in &self.peers {
            let (installed, done) = oneshot::channel();
            if peer
                .send(ShardMessage::Install {
                    snapshot: snapshot.clone(),
                    installed,
                })
                .await
                .is_ok()
            {
                waiting.push(done);
            }
        }
        self.local.install(snapshot).await;
        for done in waiting {
            let _ = done.await;
        }
    }
}

impl Controller {
    /// Serves commands from every shard until all senders are gone.
    pub async fn run(mut self, queue: LocalQueueReceiver<ControllerRequest>) {
        while let Some(request) = queue.recv().await {
            let result = self.execute(request.command).await;
            let _ = request.reply.send(result);
        }
    }

    async fn execute(&mut self, command: Command) -> CommandResult {
        let records = self.state.plan(&command, self.defaults)?;
        let name = command.topic_name().unwrap_or_default();
        if command.validate_only() {
            let mut trial = self.state.clone();
            records.iter().for_each(|record| trial.apply(record));
            return Ok(trial.topics().get(name).cloned());
        }
        let version_before = self.state.snapshot().version;
        for record in &records {
            self.store.append(record).map_err(|error| {
                tracing::error!(
                    "controller: cannot write {}: {error}",
                    self.store.path().display()
                );
                CommandError {
                    code: ErrorCode::KAFKA_STORAGE_ERROR,
                    message: format!("metadata log write failed: {error}"),
                }
            })?;
            self.state.apply(record);
        }
        let snapshot = self.state.snapshot();
        assert_eq!(
            snapshot.version,
            version_before + records.len() as u64,
            "every applied record moves the metadata version up by one"
        );
        self.shards.install(snapshot).await;
        Ok(self.state.topics().get(name).cloned())
    }
}

/// Moves requests from another shard's channel into the controller's queue.
pub async fn forward(
    from: ConnectedCoreReceiver<ControllerRequest>,
    to: LocalQueueSender<ControllerRequest>,
) {
    while let Some(request) = from.recv().await {
        if let Err(request) = to.send(request).await {
            let _ = request.reply.send(Err(CommandError {
                code: ErrorCode::UNKNOWN_SERVER_ERROR,
                message: "controller stopped".into(),
            }));
        }
    }
}

/// A shard's inbox loop: installs snapshots as they arrive.
pub async fn serve_inbox(shard: Rc<Shard>, inbox: ConnectedCoreReceiver<ShardMessage>) {
    while let Some(message) = inbox.recv().await {
        match message {
            ShardMessage::Install {
                snapshot,
                installed,
            } => {
                shard.install(snapshot).await;
                let _ = installed.send(());
            }
            ShardMessage::Collect { reply } => {
                let _ = reply.send(crate::metrics::sample(&shard));
            }
        }
    }
}
