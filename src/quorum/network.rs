//! openraft's network over the quorum listeners: one [`Peer`] connection
//! per target host, each RPC bounded by the time openraft gives it.
//!
//! An unreachable or silent host is `Unreachable` to openraft (it backs
//! off and retries); an error the other member answered is passed back as
//! its `RemoteError`.

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;

use super::peer::Peer;
use super::types::{NodeId, TypeConfig};
use super::wire::{Request, Response};

/// Makes a client per target host from its quorum address.
pub struct Network;

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> PeerClient {
        PeerClient {
            target,
            peer: Peer::new(node.addr.clone()),
        }
    }
}

pub struct PeerClient {
    target: NodeId,
    peer: Peer,
}

type Failure<E = openraft::error::Infallible> = RPCError<NodeId, BasicNode, RaftError<NodeId, E>>;

impl PeerClient {
    async fn call<E: std::error::Error>(
        &mut self,
        request: Request,
        option: &RPCOption,
    ) -> Result<Response, Failure<E>> {
        self.peer
            .call(&request, option.hard_ttl())
            .await
            .map_err(|error| RPCError::Unreachable(Unreachable::new(&error)))
    }

    fn unexpected<E: std::error::Error>(&self) -> Failure<E> {
        let error = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("node {} answered another kind of request", self.target),
        );
        RPCError::Network(NetworkError::new(&error))
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, Failure> {
        match self.call(Request::AppendEntries(rpc), &option).await? {
            Response::AppendEntries(answer) => {
                answer.map_err(|error| RPCError::RemoteError(RemoteError::new(self.target, error)))
            }
            _ => Err(self.unexpected()),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, Failure<InstallSnapshotError>> {
        match self.call(Request::InstallSnapshot(rpc), &option).await? {
            Response::InstallSnapshot(answer) => {
                answer.map_err(|error| RPCError::RemoteError(RemoteError::new(self.target, error)))
            }
            _ => Err(self.unexpected()),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, Failure> {
        match self.call(Request::Vote(rpc), &option).await? {
            Response::Vote(answer) => {
                answer.map_err(|error| RPCError::RemoteError(RemoteError::new(self.target, error)))
            }
            _ => Err(self.unexpected()),
        }
    }
}
