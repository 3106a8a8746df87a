//! The interval flush policy's timer: partitions with `flush.ms` set are
//! synced (through the group commit) once that long passed with records
//! waiting. Durable partitions need no timer: every append asks for a sync.
//!
//! Invariants: the timer only asks (`flush_if_due`) and the group commit
//! syncs, so a partition is asked for a sync within one
//! `FLUSH_TICK_MILLISECONDS` of `flush.ms` passing with records waiting.

use std::rc::Rc;
use std::time::Duration;

use super::Shard;
use crate::limits::FLUSH_TICK_MILLISECONDS;

pub async fn run(shard: Rc<Shard>) {
    loop {
        crate::rt::sleep(Duration::from_millis(FLUSH_TICK_MILLISECONDS)).await;
        shard
            .partitions
            .for_each(|partition| partition.flush_if_due());
    }
}
