//! Starting a host of a cluster, on shard 0: its Raft member over the
//! quorum log and state machine in the data dir, its quorum listener, the
//! controller that serves the host's shards, heartbeats and leases; then
//! waiting until the host is registered and caught up before it serves.
//!
//! Invariants: every voter initializes the quorum with the same voters
//! (openraft refuses a second initialization, so a restart or a race
//! changes nothing); the host is ready only once the state it applied
//! holds its own current registration, which implies it has applied
//! everything committed before that registration, and the cluster's id
//! (so every host tells clients the same one from its first answer).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use openraft::BasicNode;

use super::controller::Broadcast;
use super::host_leases;
use super::quorum_controller::{QuorumController, ShardsInstaller};
use super::ControllerRequest;
use crate::config::Config;
use crate::metadata::record::MetadataRecord;
use crate::metadata::state::{Defaults, MetadataState};
use crate::metadata::HostRegistration;
use crate::quorum::pre_vote::Elections;
use crate::quorum::{self, LogStore, OpenraftElects, Raft, StateMachine, Timing};
use crate::rt::channel::LocalQueueReceiver;

/// What the main thread prepared for a host of a cluster.
pub struct QuorumStart {
    /// The quorum listener, bound.
    pub listener: std::net::TcpListener,
    /// This host as it registers itself.
    pub registration: HostRegistration,
    /// A single host's metadata log to import, when this data dir has one.
    pub legacy: Option<(PathBuf, Vec<MetadataRecord>)>,
}

/// Starts the host's quorum member and controller, and returns once the
/// host is ready to serve (or with why it cannot start).
pub async fn start(
    config: &Config,
    start: QuorumStart,
    defaults: Defaults,
    shards: Broadcast,
    queue: LocalQueueReceiver<ControllerRequest>,
) -> Result<Rc<QuorumController>, String> {
    let quorum_config = config.quorum.as_ref().expect("a cluster host has a quorum");
    let state = Rc::new(RefCell::new(MetadataState::default()));
    let installer = Rc::new(ShardsInstaller(shards));
    let log = LogStore::open(&config.data_dir)
        .map_err(|error| format!("cannot open the quorum log: {error}"))?;
    let machine = StateMachine::open(&config.data_dir, state.clone(), installer.clone())
        .map_err(|error| format!("cannot open the quorum snapshot: {error}"))?;
    // A restored snapshot is in force before the Raft member replays the
    // log past it.
    let restored = state.borrow().snapshot();
    if restored.version > 0 {
        crate::quorum::Installer::install(&*installer, restored).await;
    }
    // openraft's own election timer is off: `Elections` stands for them,
    // after a pre-vote.
    let timing = Timing::default();
    let raft_config = quorum::config(&timing, OpenraftElects::No)
        .map_err(|error| format!("quorum settings: {error}"))?;
    let node_id = config.node_id;
    let raft = Raft::new(
        u64::from(node_id),
        raft_config,
        quorum::network::Network,
        log.clone(),
        machine,
    )
    .await
    .map_err(|error| format!("cannot start the quorum member: {error}"))?;
    if quorum_config.is_voter(node_id) {
        let voters: BTreeMap<u64, BasicNode> = quorum_config
            .voters
            .iter()
            .map(|(&id, address)| (u64::from(id), BasicNode::new(address.clone())))
            .collect();
        // Refused (NotAllowed) once initialized: that is the normal restart.
        let _ = raft.initialize(voters).await;
    }
    let controller = Rc::new(QuorumController::new(
        node_id,
        raft.clone(),
        state,
        defaults,
        start.registration,
        quorum_config.voters.clone(),
        Duration::from_millis(config.broker_session_timeout_milliseconds),
        start.legacy,
        crate::metadata::store::cluster_id(&config.data_dir)
            .map_err(|error| format!("cannot read or make the cluster id: {error}"))?,
    ));
    let elections = Rc::new(Elections::new(
        raft.clone(),
        log,
        u64::from(node_id),
        timing,
    ));
    let listener = crate::rt::net::Listener::from_std(start.listener);
    crate::rt::spawn_detached(quorum::server::serve(
        listener,
        raft,
        elections.clone(),
        controller.clone(),
    ));
    crate::rt::spawn_detached(elections.run());
    crate::rt::spawn_detached(controller.clone().run(queue));
    crate::rt::spawn_detached(host_leases::announce_leaders(controller.clone()));
    crate::rt::spawn_detached(host_leases::send_heartbeats(controller.clone()));
    crate::rt::spawn_detached(host_leases::expire_leases(controller.clone()));
    let importing = controller.clone();
    crate::rt::spawn_detached(async move { importing.import_legacy().await });
    wait_until_ready(&controller).await;
    Ok(controller)
}

/// Waits until the host is registered and caught up, saying every few
/// seconds what it waits for.
async fn wait_until_ready(controller: &QuorumController) {
    let started = Instant::now();
    let mut said = Instant::now();
    while !controller.ready() {
        if said.elapsed() > Duration::from_secs(5) {
            tracing::info!(
                "waiting for the metadata quorum ({:?} so far): {}",
                started.elapsed(),
                match controller.leader() {
                    Some((leader, _)) => format!("node {leader} leads; registering this host"),
                    None => "no quorum leader yet (a majority of voters must be up)".into(),
                }
            );
            said = Instant::now();
        }
        crate::rt::sleep(Duration::from_millis(50)).await;
    }
}
