//! The quorum listener's protocol: one request, one response, in order,
//! on a connection between two hosts' shard 0. A frame is
//! `[length u32][JSON]` (openraft's own types carry serde; metadata is
//! small and rare, so a readable encoding costs nothing that matters).
//!
//! Invariants: a frame over `QUORUM_FRAME_BYTES_MAX` is refused before it
//! is allocated; a connection that fails mid-call is dropped, never reused,
//! so a late answer can never be taken for the next call's.

use std::io;
use std::time::Duration;

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::pre_vote::PreVote;
use super::types::{NodeId, TypeConfig};
use crate::limits::QUORUM_FRAME_BYTES_MAX;
use crate::metadata::{Command, HostRegistration};
use crate::rt::net::{ConnectionReader, ConnectionWriter, SocketReader, SocketWriter};

#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<NodeId>),
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// A metadata change asked of a host that does not lead the quorum.
    Command(Command),
    /// A host's lease, renewed every `HOST_HEARTBEAT_MILLISECONDS`.
    Heartbeat(HostRegistration),
    /// Whether the host has applied the quorum log up to this index,
    /// waiting `TOPIC_CHANGE_PROPAGATION_WAIT_MILLISECONDS` at most.
    AppliedAtLeast(u64),
    /// Whether this voter would vote for the asker were it to stand for
    /// election now (`pre_vote.rs`).
    PreVote(PreVote),
}

#[derive(Debug, Serialize, Deserialize)]
pub enum Response {
    AppendEntries(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    InstallSnapshot(
        Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>,
    ),
    /// The quorum log index the change was committed at (the asking host
    /// answers its client once it has applied that far), or the refusal.
    Command(Result<u64, Refusal>),
    Heartbeat(Result<(), Refusal>),
    /// True once applied that far; false when the wait ran out first.
    AppliedAtLeast(bool),
    PreVote(bool),
}

/// A refused command or heartbeat: the Kafka error and its message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    pub code: i16,
    pub message: String,
}

pub async fn write_frame(writer: &mut ConnectionWriter, value: &impl Serialize) -> io::Result<()> {
    let body = serde_json::to_vec(value).map_err(io::Error::other)?;
    if body.len() > QUORUM_FRAME_BYTES_MAX {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a quorum frame of {} bytes is over the limit", body.len()),
        ));
    }
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(&body);
    writer.write_all(&frame).await
}

/// The next frame, `None` at a clean end of the connection. `limit`
/// bounds the wait for the rest of a frame once it began.
pub async fn read_frame<T: DeserializeOwned>(
    reader: &mut ConnectionReader,
    limit: Duration,
) -> io::Result<Option<T>> {
    let mut length = [0u8; 4];
    if !reader.read_exact_or_eof(&mut length).await? {
        return Ok(None);
    }
    let length = u32::from_be_bytes(length) as usize;
    if length > QUORUM_FRAME_BYTES_MAX {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a quorum frame of {length} bytes is over the limit"),
        ));
    }
    let mut body = vec![0u8; length];
    reader.read_exact_within(&mut body, limit).await?;
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))
}
