//! The memory a shard lends to request frames while they are read and
//! handled: Kafka's `queued.max.request.bytes`, per shard.
//!
//! A connection reserves a frame's whole length here, once its length
//! prefix arrived and before any of the frame is allocated, and gives it back
//! when the request has been handled. A frame that does not fit waits (its
//! connection reads nothing meanwhile, so TCP pushes back on the client).
//!
//! Small frames (metadata, heartbeats, fetch requests, commits: up to
//! `REQUEST_BYTES_SMALL_MAX`) draw on a pool of their own, so clients that
//! announce large frames and send them slowly can hold up other large
//! requests, but never the small ones every client needs to make progress.
//!
//! Invariants: the frames a shard holds in memory, read or being read, add
//! up to at most `queued.max.request.bytes` plus
//! `REQUEST_BYTES_SMALL_PER_SHARD_MAX`. Lives on its shard's core.

use crate::limits::{REQUEST_BYTES_SMALL_MAX, REQUEST_BYTES_SMALL_PER_SHARD_MAX};
use crate::rt::sync::{BudgetPermit, ByteBudget};

pub struct RequestMemory {
    large: ByteBudget,
    small: ByteBudget,
}

impl RequestMemory {
    /// `queued_bytes_max` is at least `socket.request.max.bytes` (checked
    /// by the config), so every frame the broker accepts can be reserved.
    pub fn new(queued_bytes_max: usize) -> RequestMemory {
        RequestMemory {
            large: ByteBudget::new(queued_bytes_max),
            small: ByteBudget::new(REQUEST_BYTES_SMALL_PER_SHARD_MAX),
        }
    }

    /// Waits until `frame_bytes` can be held, and holds them until the
    /// permit drops.
    pub async fn reserve(&self, frame_bytes: usize) -> BudgetPermit {
        if frame_bytes <= REQUEST_BYTES_SMALL_MAX {
            self.small.acquire(frame_bytes).await
        } else {
            self.large.acquire(frame_bytes).await
        }
    }
}
