//! The controller of a host in a cluster, on shard 0: the metadata
//! changes this host's shards ask for go through the metadata quorum
//! (openraft, `crate::quorum`) instead of a local log.
//!
//! - On the quorum leader a change is planned against the applied state
//!   (after `ensure_linearizable`, so the state holds every committed
//!   change), proposed as one Raft entry, and answered once committed and
//!   applied. Changes run one at a time, so each is planned against the
//!   state the one before it left.
//! - On any other host it is forwarded to the leader's quorum listener;
//!   the leader answers with the log index, and this host answers its
//!   client once its own state machine applied that far, so what the
//!   client reads next, on any shard here, shows the change.
//! - A topic change (created, grown, deleted) is answered only once every
//!   other live host has applied it too, or a bounded wait ran out: a
//!   client that learns a partition's leader from one host finds the
//!   topic on that leader.
//! - Every host heartbeats the leader (its lease, `host_leases.rs`); the
//!   leader registers hosts, adds unknown ones to the quorum as learners,
//!   and fences those whose lease ran out.
//!
//! Invariants: only committed entries are applied (by the state machine);
//! this controller never applies a record itself; a host without a
//! reachable quorum leader refuses changes (NOT_CONTROLLER) after
//! `QUORUM_REQUEST_TIMEOUT_MILLISECONDS`, never makes one alone.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::BasicNode;

use super::ControllerRequest;
use crate::limits::{
    QUORUM_REQUEST_TIMEOUT_MILLISECONDS, TOPIC_CHANGE_PROPAGATION_WAIT_MILLISECONDS,
};
use crate::metadata::record::MetadataRecord;
use crate::metadata::state::{Defaults, MetadataState};
use crate::metadata::{Command, CommandError, CommandResult, HostRegistration};
use crate::protocol::ErrorCode;
use crate::quorum::peer::{ask_each, Peer};
use crate::quorum::wire::{Refusal, Request, Response};
use crate::quorum::{MetadataChange, NodeId, Raft};
use crate::rt::channel::LocalQueueReceiver;
use crate::rt::sync::ByteBudget;

pub struct QuorumController {
    pub(super) node_id: u32,
    pub(super) raft: Raft,
    pub(super) state: Rc<RefCell<MetadataState>>,
    pub(super) defaults: Defaults,
    /// This host as it registers itself.
    pub(super) registration: HostRegistration,
    pub(super) voters: BTreeMap<u32, String>,
    pub(super) session_timeout: Duration,
    /// One change at a time on the leader (a permit of one).
    one_at_a_time: ByteBudget,
    /// Idle connections to other hosts' quorum listeners, by address.
    peers: RefCell<HashMap<String, Vec<Peer>>>,
    /// Leader only: when each host was last heard from.
    pub(super) leases: Leases,
    /// A single host's metadata log waiting to become the cluster's.
    legacy: RefCell<Option<(PathBuf, Vec<MetadataRecord>)>>,
    /// This host asked for its controlled shutdown: its heartbeats stop,
    /// so the fencing that shutdown committed is not undone by the next
    /// one (a fenced host that heartbeats registers again).
    pub(super) leaving: Cell<bool>,
    /// Hosts that did not confirm a topic change in time, and when: they
    /// are not waited for again for a session timeout (by then they are
    /// fenced or answering), so a request of many topics, or many
    /// requests, with one host paused cost one wait, not one each.
    unconfirmed: RefCell<HashMap<u32, Instant>>,
    /// This host's own cluster id (its data dir's): what it proposes as
    /// the cluster's when it leads a quorum that has none yet.
    own_cluster_id: String,
}

/// Leader only: when each host was last heard from, and the term the
/// leader started counting in (`host_leases.rs` keeps and reads them).
#[derive(Default)]
pub struct Leases {
    pub(super) heard: RefCell<HashMap<u32, Instant>>,
    pub(super) term: Cell<Option<u64>>,
    /// The incarnation of each host whose controlled shutdown this leader
    /// committed (the latest only, so one entry per host): a heartbeat of
    /// that incarnation still on its way does not register it again (it
    /// comes back with a new one).
    pub(super) left: RefCell<HashMap<u32, u64>>,
}

fn refusal(code: ErrorCode, message: impl Into<String>) -> Refusal {
    Refusal {
        code: code.0,
        message: message.into(),
    }
}

fn not_controller(message: impl Into<String>) -> Refusal {
    refusal(ErrorCode::NOT_CONTROLLER, message)
}

pub(super) fn request_timeout() -> Duration {
    Duration::from_millis(QUORUM_REQUEST_TIMEOUT_MILLISECONDS)
}

impl QuorumController {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        node_id: u32,
        raft: Raft,
        state: Rc<RefCell<MetadataState>>,
        defaults: Defaults,
        registration: HostRegistration,
        voters: BTreeMap<u32, String>,
        session_timeout: Duration,
        legacy: Option<(PathBuf, Vec<MetadataRecord>)>,
        own_cluster_id: String,
    ) -> QuorumController {
        QuorumController {
            node_id,
            raft,
            state,
            defaults,
            registration,
            voters,
            session_timeout,
            one_at_a_time: ByteBudget::new(1),
            peers: RefCell::new(HashMap::new()),
            leases: Default::default(),
            legacy: RefCell::new(legacy),
            leaving: Cell::new(false),
            unconfirmed: RefCell::new(HashMap::new()),
            own_cluster_id,
        }
    }

    /// Serves this host's shards' requests until every sender is gone,
    /// each in a task of its own (a forwarded change waits on the network).
    pub async fn run(self: Rc<Self>, queue: LocalQueueReceiver<ControllerRequest>) {
        while let Some(request) = queue.recv().await {
            let controller = self.clone();
            crate::rt::spawn_detached(async move {
                let result = controller.execute(request.command).await;
                let _ = request.reply.send(result);
            });
        }
    }

    /// The quorum leader this host knows of, with its quorum address.
    pub(super) fn leader(&self) -> Option<(NodeId, String)> {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow();
        let leader = metrics.current_leader?;
        let address = metrics
            .membership_config
            .membership()
            .get_node(&leader)
            .map(|node| node.addr.clone())
            .or_else(|| self.voters.get(&(leader as u32)).cloned())?;
        Some((leader, address))
    }

    /// Whether this host's member is the quorum leader now (not merely
    /// voted for itself).
    pub(super) fn is_leader(&self) -> bool {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow();
        metrics.state == openraft::ServerState::Leader
            && metrics.current_leader == Some(u64::from(self.node_id))
    }

    /// Carries out `command` wherever the quorum leader is, and answers
    /// once this host applied it.
    pub async fn execute(&self, command: Command) -> CommandResult {
        if command.validate_only() {
            return self.validate(&command);
        }
        if matches!(command, Command::ShutdownHost { node_id } if node_id == self.node_id) {
            self.leaving.set(true);
        }
        let name = command.topic_name().map(str::to_string);
        let deadline = Instant::now() + request_timeout();
        let index = loop {
            let attempt = match self.leader() {
                Some(_) if self.is_leader() => self.commit(command.clone()).await,
                Some((leader, _)) if leader == u64::from(self.node_id) => {
                    Err(not_controller("this host is still being elected"))
                }
                Some((_, address)) => self.forward_command(&address, &command).await,
                None => Err(not_controller("the metadata quorum has no leader")),
            };
            match attempt {
                Ok(index) => break index,
                Err(refused)
                    if refused.code == ErrorCode::NOT_CONTROLLER.0 && Instant::now() < deadline =>
                {
                    crate::rt::sleep(Duration::from_millis(100)).await;
                }
                Err(refused) => {
                    return Err(CommandError {
                        code: ErrorCode(refused.code),
                        message: refused.message,
                    })
                }
            }
        };
        self.wait_applied(index).await?;
        if command.changes_topics() {
            self.wait_applied_everywhere(index).await;
        }
        Ok(name.and_then(|name| self.state.borrow().topics().get(&name).cloned()))
    }

    /// Waits (`TOPIC_CHANGE_PROPAGATION_WAIT_MILLISECONDS` at most) until
    /// every other live host has applied the log up to `index`, asking all
    /// of them at once. A host that cannot say so in time (paused, cut
    /// off, not fenced yet) is logged and not waited for longer, nor for
    /// the next changes during a session timeout: the change is
    /// committed, and it will apply it when it can.
    async fn wait_applied_everywhere(&self, index: u64) {
        let now = Instant::now();
        self.unconfirmed
            .borrow_mut()
            .retain(|_, since| now.duration_since(*since) < self.session_timeout);
        let others: Vec<(u32, String)> = self
            .state
            .borrow()
            .hosts()
            .values()
            .filter(|host| !host.fenced && host.node_id != self.node_id)
            .filter(|host| !self.unconfirmed.borrow().contains_key(&host.node_id))
            .map(|host| (host.node_id, host.quorum_address.clone()))
            .collect();
        // A little over the other host's own wait, so its "not yet" comes
        // back rather than our timeout. All are asked at once.
        let limit = Duration::from_millis(TOPIC_CHANGE_PROPAGATION_WAIT_MILLISECONDS + 500);
        let (node_ids, addresses): (Vec<u32>, Vec<String>) = others.into_iter().unzip();
        let answers = ask_each(addresses, || Request::AppliedAtLeast(index), limit).await;
        for (node_id, answer) in node_ids.into_iter().zip(answers) {
            let unconfirmed = match answer {
                Ok(Response::AppliedAtLeast(true)) => continue,
                Ok(Response::AppliedAtLeast(false)) => format!(
                    "has not applied index {index} after \
                     {TOPIC_CHANGE_PROPAGATION_WAIT_MILLISECONDS} ms"
                ),
                Ok(_) => "answered another request".to_string(),
                Err(error) => format!("cannot say whether it applied index {index}: {error}"),
            };
            tracing::info!(
                "quorum: node {node_id} {unconfirmed}; topic changes are answered without \
                 waiting for it for {:?}",
                self.session_timeout
            );
            self.unconfirmed
                .borrow_mut()
                .insert(node_id, Instant::now());
        }
    }

    /// A validate-only change, planned against this host's state.
    fn validate(&self, command: &Command) -> CommandResult {
        let mut trial = self.state.borrow().clone();
        for record in trial.plan(command, self.defaults)? {
            trial.apply(&record);
        }
        Ok(command
            .topic_name()
            .and_then(|name| trial.topics().get(name).cloned()))
    }

    async fn wait_applied(&self, index: u64) -> Result<(), CommandError> {
        self.raft
            .wait(Some(request_timeout()))
            .applied_index_at_least(Some(index), "a metadata change")
            .await
            .map(|_| ())
            .map_err(|error| CommandError {
                code: ErrorCode::REQUEST_TIMED_OUT,
                message: format!("the change was committed but not yet applied here: {error}"),
            })
    }

    /// Leader only: plans `command` against the applied state and commits
    /// it; the log index it was committed at (the last applied one when it
    /// changes nothing).
    pub(super) async fn commit(&self, command: Command) -> Result<u64, Refusal> {
        let _turn = self.one_at_a_time.acquire(1).await;
        let limit = request_timeout();
        match crate::rt::within(limit, self.raft.ensure_linearizable()).await {
            Some(Ok(_)) => {}
            Some(Err(error)) => return Err(not_controller(error.to_string())),
            None => return Err(not_controller("no majority of the quorum answered")),
        }
        let records = self
            .state
            .borrow()
            .plan(&command, self.defaults)
            .map_err(|error| refusal(error.code, error.message))?;
        if let Command::ShutdownHost { node_id } = command {
            if let Some(host) = self.state.borrow().hosts().get(&node_id) {
                self.leases
                    .left
                    .borrow_mut()
                    .insert(node_id, host.incarnation);
            }
        }
        if records.is_empty() {
            let applied = self.raft.metrics().borrow().last_applied;
            return Ok(applied.map_or(0, |log_id| log_id.index));
        }
        match crate::rt::within(limit, self.raft.client_write(MetadataChange(records))).await {
            Some(Ok(written)) => Ok(written.log_id.index),
            Some(Err(error)) => Err(not_controller(error.to_string())),
            None => Err(not_controller("the change was not committed in time")),
        }
    }

    async fn forward_command(&self, address: &str, command: &Command) -> Result<u64, Refusal> {
        match self
            .call(
                address,
                Request::Command(command.clone()),
                request_timeout(),
            )
            .await
        {
            Ok(Response::Command(answer)) => answer,
            Ok(_) => Err(not_controller(format!(
                "{address} answered another request"
            ))),
            Err(error) => Err(not_controller(format!("{address}: {error}"))),
        }
    }

    /// One call to another host's quorum listener, on an idle connection
    /// when there is one.
    pub(super) async fn call(
        &self,
        address: &str,
        request: Request,
        limit: Duration,
    ) -> std::io::Result<Response> {
        let idle = self.peers.borrow_mut().get_mut(address).and_then(Vec::pop);
        let mut peer = idle.unwrap_or_else(|| Peer::new(address.to_string()));
        let result = peer.call(&request, limit).await;
        let mut peers = self.peers.borrow_mut();
        if result.is_ok() {
            peers.entry(address.to_string()).or_default().push(peer);
        } else {
            // The other idle connections to that host are most likely as
            // dead (it restarted, or the path to it broke): taken one per
            // heartbeat round, each would cost a round, and enough of
            // them the session timeout; the next call dials afresh.
            peers.remove(address);
        }
        result
    }

    /// Whether this host is registered, as it is now, and not fenced; the
    /// cluster has its id; and any old single-host metadata it brought was
    /// imported.
    pub fn ready(&self) -> bool {
        let state = self.state.borrow();
        let registered = state
            .hosts()
            .get(&self.node_id)
            .is_some_and(|host| !host.fenced && host.incarnation == self.registration.incarnation);
        registered && state.cluster_id().is_some() && self.legacy.borrow().is_none()
    }

    /// Leader only: gives the cluster this host's id when it has none yet
    /// (its first leader, or a cluster made before the id was kept in the
    /// quorum).
    pub(super) async fn claim_cluster_id(&self) {
        if self.state.borrow().cluster_id().is_some() {
            return;
        }
        let id = self.own_cluster_id.clone();
        match self
            .commit(Command::ClaimClusterId { id: id.clone() })
            .await
        {
            Ok(_) => tracing::info!("quorum: the cluster's id is {id}"),
            Err(refused) => {
                tracing::warn!("quorum: cannot set the cluster's id: {}", refused.message)
            }
        }
    }

    /// Makes a single host's old metadata log the cluster's (once), then
    /// renames it so neither a restart nor the old binary reads it again.
    pub async fn import_legacy(&self) {
        let Some((path, records)) = self.legacy.borrow().clone() else {
            return;
        };
        loop {
            match self.execute(Command::Import(records.clone())).await {
                Ok(_) => {
                    tracing::info!(
                        "imported {} records of the single-host metadata log {}",
                        records.len(),
                        path.display()
                    );
                    break;
                }
                Err(error) if error.code == ErrorCode::TOPIC_ALREADY_EXISTS => {
                    tracing::warn!("not importing {}: {}", path.display(), error.message);
                    break;
                }
                Err(error) => {
                    tracing::info!(
                        "importing {} waits for the quorum: {}",
                        path.display(),
                        error.message
                    );
                    crate::rt::sleep(Duration::from_millis(500)).await;
                }
            }
        }
        let imported = path.with_extension("log.imported");
        if let Err(error) = std::fs::rename(&path, &imported) {
            tracing::error!("cannot rename {}: {error}", path.display());
        }
        *self.legacy.borrow_mut() = None;
    }

    /// Adds `host` to the quorum as a learner when it is not a member.
    pub(super) async fn admit_learner(&self, host: &HostRegistration) {
        let known = self
            .raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .get_node(&u64::from(host.node_id))
            .is_some();
        if known {
            return;
        }
        let node = BasicNode::new(host.quorum_address.clone());
        match crate::rt::within(
            request_timeout(),
            self.raft.add_learner(u64::from(host.node_id), node, false),
        )
        .await
        {
            Some(Ok(_)) => tracing::info!(
                "quorum: node {} joined as a learner ({})",
                host.node_id,
                host.quorum_address
            ),
            Some(Err(error)) => tracing::warn!(
                "quorum: cannot add node {} as a learner: {error}",
                host.node_id
            ),
            None => {}
        }
    }
}

/// Puts committed metadata in force on every shard of this host.
pub struct ShardsInstaller(pub super::controller::Broadcast);

impl crate::quorum::Installer for ShardsInstaller {
    fn install(&self, snapshot: Arc<crate::metadata::Snapshot>) -> crate::quorum::Installing<'_> {
        Box::pin(self.0.install(snapshot))
    }
}
