//! The quorum listener on shard 0 of every host: the other hosts' Raft
//! messages go to this host's Raft member; forwarded metadata changes and
//! host heartbeats go to the host's [`Handler`] (the controller); a host
//! that made a topic change asks whether this one has applied it.
//!
//! Invariants: requests on one connection are answered one at a time, in
//! order; at most `QUORUM_CONNECTIONS_MAX` connections are served at once
//! (more are closed at once, with a log line); a malformed frame closes
//! only its connection.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use super::pre_vote::Elections;
use super::types::Raft;
use super::wire::{read_frame, write_frame, Refusal, Request, Response};
use crate::limits::{
    QUORUM_CONNECTIONS_MAX, QUORUM_REQUEST_TIMEOUT_MILLISECONDS,
    TOPIC_CHANGE_PROPAGATION_WAIT_MILLISECONDS,
};
use crate::metadata::{Command, HostRegistration};
use crate::rt::net::{Connection, Listener};

/// What answers the requests that are not Raft's own.
pub trait Handler {
    /// Carries out a metadata change (this host leads the quorum) and
    /// says the log index it was committed at.
    fn command(&self, command: Command) -> impl std::future::Future<Output = Result<u64, Refusal>>;
    /// Renews a host's lease (registering it when needed).
    fn heartbeat(
        &self,
        host: HostRegistration,
    ) -> impl std::future::Future<Output = Result<(), Refusal>>;
}

/// Accepts until the listener is shut down.
pub async fn serve<H: Handler + 'static>(
    listener: Listener,
    raft: Raft,
    elections: Rc<Elections>,
    handler: Rc<H>,
) {
    let open = Rc::new(Cell::new(0usize));
    loop {
        let connection = match listener.accept().await {
            Ok(connection) => connection,
            Err(_) if listener.is_shut_down() => return,
            Err(error) => {
                tracing::warn!("quorum listener: accept failed: {error}");
                crate::rt::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if open.get() >= QUORUM_CONNECTIONS_MAX {
            tracing::warn!(
                "quorum listener: refusing {:?}: {QUORUM_CONNECTIONS_MAX} connections open",
                connection.peer_address()
            );
            continue;
        }
        open.set(open.get() + 1);
        let (raft, elections, handler, open) = (
            raft.clone(),
            elections.clone(),
            handler.clone(),
            open.clone(),
        );
        crate::rt::spawn_detached(async move {
            serve_connection(connection, &raft, &elections, &*handler).await;
            open.set(open.get() - 1);
        });
    }
}

async fn serve_connection<H: Handler>(
    connection: Connection,
    raft: &Raft,
    elections: &Elections,
    handler: &H,
) {
    let peer = connection.peer_address();
    let (mut reader, mut writer) = connection.split();
    let limit = Duration::from_millis(QUORUM_REQUEST_TIMEOUT_MILLISECONDS);
    loop {
        let request: Request = match read_frame(&mut reader, limit).await {
            Ok(Some(request)) => request,
            Ok(None) => return,
            Err(error) => {
                tracing::info!("quorum listener: closing {peer:?}: {error}");
                return;
            }
        };
        let response = answer(request, raft, elections, handler).await;
        if let Err(error) = write_frame(&mut writer, &response).await {
            tracing::info!("quorum listener: closing {peer:?}: {error}");
            return;
        }
    }
}

async fn answer<H: Handler>(
    request: Request,
    raft: &Raft,
    elections: &Elections,
    handler: &H,
) -> Response {
    match request {
        Request::AppendEntries(rpc) => Response::AppendEntries(raft.append_entries(rpc).await),
        Request::Vote(rpc) => Response::Vote(raft.vote(rpc).await),
        Request::InstallSnapshot(rpc) => {
            Response::InstallSnapshot(raft.install_snapshot(rpc).await)
        }
        Request::Command(command) => Response::Command(handler.command(command).await),
        Request::Heartbeat(host) => Response::Heartbeat(handler.heartbeat(host).await),
        Request::AppliedAtLeast(index) => {
            let limit = Duration::from_millis(TOPIC_CHANGE_PROPAGATION_WAIT_MILLISECONDS);
            let applied = raft
                .wait(Some(limit))
                .applied_index_at_least(Some(index), "a topic change another host asks about")
                .await;
            Response::AppliedAtLeast(applied.is_ok())
        }
        Request::PreVote(question) => Response::PreVote(elections.answer(question).await),
    }
}
