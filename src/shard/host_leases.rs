//! Host leases (Kafka's broker heartbeats and fencing, for hosts): every
//! host tells the quorum leader it is alive every
//! `HOST_HEARTBEAT_MILLISECONDS`; the leader registers a host that is new,
//! restarted (a new incarnation) or fenced, adds a host it does not know
//! to the quorum as a learner, and fences a host it has not heard from for
//! `broker.session.timeout.ms` (its shards leave Metadata).
//!
//! Invariants: leases live only in the leader's memory; a new leader
//! starts every host's lease afresh (it cannot know when the old leader
//! last heard from them), so no host is fenced merely because leadership
//! moved; fencing and registration are committed changes like any other.

use std::rc::Rc;
use std::time::{Duration, Instant};

use super::quorum_controller::QuorumController;
use crate::limits::HOST_HEARTBEAT_MILLISECONDS;
use crate::metadata::{Command, HostRegistration};
use crate::protocol::ErrorCode;
use crate::quorum::server::Handler;
use crate::quorum::wire::{Refusal, Request, Response};

impl Handler for QuorumController {
    async fn command(&self, command: Command) -> Result<u64, Refusal> {
        if !self.is_leader() {
            return Err(Refusal {
                code: ErrorCode::NOT_CONTROLLER.0,
                message: format!("node {} does not lead the quorum", self.node_id),
            });
        }
        self.commit(command).await
    }

    async fn heartbeat(&self, host: HostRegistration) -> Result<(), Refusal> {
        if !self.is_leader() {
            return Err(Refusal {
                code: ErrorCode::NOT_CONTROLLER.0,
                message: format!("node {} does not lead the quorum", self.node_id),
            });
        }
        self.leases
            .heard
            .borrow_mut()
            .insert(host.node_id, Instant::now());
        if !self.voters.contains_key(&host.node_id) {
            self.admit_learner(&host).await;
        }
        let current = self
            .state
            .borrow()
            .hosts()
            .get(&host.node_id)
            .is_some_and(|registered| **registered == host);
        let left = self.leases.left.borrow().get(&host.node_id) == Some(&host.incarnation);
        if current || left {
            return Ok(());
        }
        self.commit(Command::RegisterHost(host)).await.map(|_| ())
    }
}

/// This host's heartbeat, forever: to itself when it leads, to the leader
/// it knows, or else to each voter in turn (a learner that has not joined
/// yet knows no leader; a voter that is not the leader forwards nothing
/// and says NOT_CONTROLLER, and the next round tries the next voter).
pub async fn send_heartbeats(controller: Rc<QuorumController>) {
    let interval = Duration::from_millis(HOST_HEARTBEAT_MILLISECONDS);
    let voters: Vec<String> = controller.voters.values().cloned().collect();
    let mut next_voter = 0usize;
    let mut failing = false;
    // A heartbeat that takes longer than two intervals is given up, so a
    // slow or stale leader does not hold back the next one past the
    // session timeout.
    let limit = interval * 2;
    loop {
        if controller.leaving.get() {
            tracing::info!("quorum: controlled shutdown asked for; heartbeats stop");
            return;
        }
        let registration = controller.registration.clone();
        let outcome = match controller.leader() {
            Some(_) if controller.is_leader() => {
                crate::rt::within(limit, controller.heartbeat(registration))
                    .await
                    .unwrap_or(Ok(()))
            }
            Some((leader, _)) if leader == u64::from(controller.node_id) => Ok(()),
            known => {
                let address = known.map(|(_, address)| address).unwrap_or_else(|| {
                    next_voter = (next_voter + 1) % voters.len();
                    voters[next_voter].clone()
                });
                match controller
                    .call(&address, Request::Heartbeat(registration), limit)
                    .await
                {
                    Ok(Response::Heartbeat(answer)) => answer,
                    Ok(_) => Err(Refusal {
                        code: ErrorCode::UNKNOWN_SERVER_ERROR.0,
                        message: format!("{address} answered another request"),
                    }),
                    Err(error) => Err(Refusal {
                        code: ErrorCode::NOT_CONTROLLER.0,
                        message: format!("{address}: {error}"),
                    }),
                }
            }
        };
        match outcome {
            Ok(()) if failing => {
                tracing::info!("quorum: heartbeats reach the leader again");
                failing = false;
            }
            Ok(()) => {}
            Err(refused) if !failing && refused.code != ErrorCode::NOT_CONTROLLER.0 => {
                tracing::warn!("quorum: heartbeat refused: {}", refused.message);
                failing = true;
            }
            Err(_) => {}
        }
        crate::rt::sleep(interval).await;
    }
}

/// Leader only, forever: fences every registered host not heard from for
/// the session timeout (and gives the cluster its id, once).
pub async fn expire_leases(controller: Rc<QuorumController>) {
    let interval = Duration::from_millis(HOST_HEARTBEAT_MILLISECONDS);
    loop {
        crate::rt::sleep(interval).await;
        if !controller.is_leader() {
            controller.leases.term.set(None);
            continue;
        }
        controller.claim_cluster_id().await;
        let term = controller.raft.metrics().borrow().current_term;
        let now = Instant::now();
        if controller.leases.term.get() != Some(term) {
            // A new leader: every host's lease starts now.
            controller.leases.term.set(Some(term));
            let hosts: Vec<u32> = controller.state.borrow().hosts().keys().copied().collect();
            let mut heard = controller.leases.heard.borrow_mut();
            heard.extend(hosts.into_iter().map(|node| (node, now)));
            continue;
        }
        // A registered host this leader has no time for (its registration
        // was being committed when the leases were restarted, say) starts
        // its lease now: only silence for a whole session timeout fences.
        let expired: Vec<u32> = {
            let mut heard = controller.leases.heard.borrow_mut();
            controller
                .state
                .borrow()
                .hosts()
                .values()
                .filter(|host| !host.fenced && host.node_id != controller.node_id)
                .filter(|host| {
                    let heard = *heard.entry(host.node_id).or_insert(now);
                    now.duration_since(heard) > controller.session_timeout
                })
                .map(|host| host.node_id)
                .collect()
        };
        for node_id in expired {
            match controller.commit(Command::FenceHost { node_id }).await {
                Ok(_) => tracing::info!(
                    "quorum: fenced node {node_id}: no heartbeat for {:?}",
                    controller.session_timeout
                ),
                Err(refused) => {
                    tracing::warn!("quorum: cannot fence node {node_id}: {}", refused.message)
                }
            }
        }
    }
}

/// Says on stdout whenever this host learns of a new quorum leader (or of
/// none): `corelog: quorum: node X leads (term T)`.
pub async fn announce_leaders(controller: Rc<QuorumController>) {
    let mut metrics = controller.raft.metrics();
    let mut last = None;
    loop {
        let (leader, term) = {
            let now = metrics.borrow();
            (now.current_leader, now.current_term)
        };
        if last != Some((leader, term)) {
            let shown = leader.map_or(-1, |leader| leader as i64);
            tracing::info!("quorum: node {shown} leads (term {term})");
            last = Some((leader, term));
        }
        if metrics.changed().await.is_err() {
            return;
        }
    }
}
