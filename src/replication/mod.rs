//! Replication on one shard (issue 14): the follower fetchers that pull
//! the partitions this shard follows from their leaders (fetcher.rs), and
//! the ISR upkeep of the partitions it leads.
//!
//! One task per shard ([`run`]) ticks every `REPLICATION_TICK_MILLISECONDS`:
//! it starts a fetcher for each (leader broker, address) some followed
//! partition names and none serves yet (a fetcher stops by itself once no
//! partition follows that leader there, so a role change stops it), and it
//! asks the controller to change the ISR of each led partition whose
//! followers fell behind for `replica.lag.time.max.ms` or caught up again.
//!
//! Invariants:
//! - at most one fetcher per (leader broker, address) per shard, so one
//!   connection per (follower shard, leader broker);
//! - at most one AlterPartition per partition on its way; the ISR changes
//!   only when the snapshot that commits it is installed (KIP-497).

pub mod fetcher;

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;
use std::time::Duration;

use crate::limits::REPLICATION_TICK_MILLISECONDS;
use crate::metadata::Command;
use crate::partition::Partition;
use crate::shard::Shard;

/// The fetchers running on this shard, by (leader broker, address).
type Running = Rc<RefCell<HashSet<(u32, String)>>>;

/// The shard's replication task: runs for the life of the shard.
pub async fn run(shard: Rc<Shard>) {
    let running: Running = Rc::default();
    loop {
        crate::rt::sleep(Duration::from_millis(REPLICATION_TICK_MILLISECONDS)).await;
        for leader in shard.partitions.followed().into_keys() {
            if running.borrow_mut().insert(leader.clone()) {
                crate::rt::spawn_detached(fetcher::run(
                    shard.clone(),
                    leader.0,
                    leader.1,
                    running.clone(),
                ));
            }
        }
        upkeep_isr(&shard);
    }
}

/// Asks for the ISR changes the led partitions need (one per partition at
/// a time).
fn upkeep_isr(shard: &Rc<Shard>) {
    let lag_max = Duration::from_millis(shard.config.replica_lag_time_max_milliseconds);
    shard.partitions.for_each(|partition| {
        if let Some(isr) = partition.proposed_isr(lag_max) {
            partition.set_alter_in_flight(Some(&isr));
            crate::rt::spawn_detached(alter_partition(shard.clone(), partition.clone(), isr));
        }
    });
}

/// Sends one AlterPartition; after a refusal waits a while before the
/// partition may ask again, so a refusing controller is not flooded.
async fn alter_partition(shard: Rc<Shard>, partition: Rc<Partition>, isr: Vec<u32>) {
    let command = Command::AlterPartition {
        name: partition.topic.clone(),
        partition: partition.index,
        leader: shard.broker_id,
        leader_epoch: partition.leader_epoch(),
        isr: isr.clone(),
    };
    if let Err(error) = shard.metadata.submit(command).await {
        // Logged once per refusal reason, not once per retry.
        let reason = format!("{} ({})", error.message, error.code.0);
        if partition.note_alter_refusal(&reason) {
            tracing::warn!(
                "AlterPartition {}-{} to ISR {isr:?} refused: {reason}; retrying (logged once)",
                partition.topic,
                partition.index
            );
        }
        crate::rt::sleep(Duration::from_millis(
            crate::limits::ALTER_PARTITION_RETRY_MILLISECONDS,
        ))
        .await;
    }
    partition.set_alter_in_flight(None);
}
