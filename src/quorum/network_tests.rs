//! A test-only RaftNetwork: members on one executor call each other's Raft
//! handles directly, every request and reply passing through JSON (as the
//! wire will), and any member can be cut off from the others.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::rc::Rc;

use openraft::error::{InstallSnapshotError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::RPCOption;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{BasicNode, RaftNetwork, RaftNetworkFactory};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::types::{NodeId, Raft, TypeConfig};

/// Every member's Raft handle, and which members are cut off.
#[derive(Default)]
pub struct Router {
    members: RefCell<BTreeMap<NodeId, Raft>>,
    cut: RefCell<BTreeSet<NodeId>>,
}

impl Router {
    pub fn add(&self, id: NodeId, raft: Raft) {
        self.members.borrow_mut().insert(id, raft);
    }

    pub fn remove(&self, id: NodeId) -> Option<Raft> {
        self.members.borrow_mut().remove(&id)
    }

    pub fn cut_off(&self, id: NodeId) {
        self.cut.borrow_mut().insert(id);
    }

    pub fn heal(&self) {
        self.cut.borrow_mut().clear();
    }

    /// The target's handle, when both ends are up and connected.
    fn reach(&self, from: NodeId, to: NodeId) -> Result<Raft, Unreachable> {
        let cut = self.cut.borrow();
        let unreachable = |why: &str| Unreachable::new(&io::Error::other(why.to_string()));
        if cut.contains(&from) || cut.contains(&to) {
            return Err(unreachable("cut off"));
        }
        self.members
            .borrow()
            .get(&to)
            .cloned()
            .ok_or_else(|| unreachable("not running"))
    }
}

/// Through JSON and back, as a message crosses the wire.
fn wire<T: Serialize + DeserializeOwned>(message: &T) -> T {
    let bytes = serde_json::to_vec(message).expect("openraft messages encode");
    serde_json::from_slice(&bytes).expect("and decode")
}

/// The network of member `from`.
pub struct Network {
    pub router: Rc<Router>,
    pub from: NodeId,
}

pub struct Connection {
    router: Rc<Router>,
    from: NodeId,
    to: NodeId,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Connection;

    async fn new_client(&mut self, target: NodeId, _node: &BasicNode) -> Connection {
        Connection {
            router: self.router.clone(),
            from: self.from,
            to: target,
        }
    }
}

type Failure<E = openraft::error::Infallible> = RPCError<NodeId, BasicNode, RaftError<NodeId, E>>;

impl Connection {
    fn remote<E: std::error::Error>(&self, error: RaftError<NodeId, E>) -> Failure<E> {
        RPCError::RemoteError(RemoteError::new(self.to, error))
    }
}

impl RaftNetwork<TypeConfig> for Connection {
    async fn append_entries(
        &mut self,
        request: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, Failure> {
        let raft = self.router.reach(self.from, self.to)?;
        let reply = raft.append_entries(wire(&request)).await;
        let reply = reply.map_err(|error| self.remote(error))?;
        self.router.reach(self.from, self.to)?;
        Ok(wire(&reply))
    }

    async fn install_snapshot(
        &mut self,
        request: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, Failure<InstallSnapshotError>> {
        let raft = self.router.reach(self.from, self.to)?;
        let reply = raft.install_snapshot(wire(&request)).await;
        let reply = reply.map_err(|error| self.remote(error))?;
        Ok(wire(&reply))
    }

    async fn vote(
        &mut self,
        request: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, Failure> {
        let raft = self.router.reach(self.from, self.to)?;
        let reply = raft.vote(wire(&request)).await;
        let reply = reply.map_err(|error| self.remote(error))?;
        Ok(wire(&reply))
    }
}
