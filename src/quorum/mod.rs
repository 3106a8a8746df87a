//! The metadata quorum's foundation (issue 13, DESIGN.md section 7):
//! openraft 0.9 on the shard's glommio executor. `types` declares the
//! openraft types (a Raft entry carries one metadata change), `runtime`
//! is openraft's runtime on glommio, `log_store` the Raft log over the
//! checksummed frame file, `state_machine` applies committed entries to
//! the controller's `MetadataState` and snapshots it.
//!
//! Starting a member (on shard 0 of a host):
//! ```ignore
//! let state = Rc::new(RefCell::new(MetadataState::default()));
//! let log = LogStore::open(data_dir)?;
//! let machine = StateMachine::open(data_dir, state.clone(), installer)?;
//! let raft = Raft::new(node_id, quorum::config(&Timing::default(), OpenraftElects::No)?, network, log, machine).await?;
//! ```
//!
//! Invariants: everything here runs on one executor (openraft's
//! `singlethreaded` feature: nothing is Send); no module here names glommio.

pub mod log_store;
pub mod network;
pub mod peer;
pub mod pre_vote;
pub mod runtime;
pub mod server;
pub mod state_machine;
pub mod types;
pub mod wire;

#[cfg(test)]
mod network_tests;
#[cfg(test)]
mod runtime_tests;
#[cfg(test)]
mod storage_suite_tests;
#[cfg(test)]
mod tests;

use std::sync::Arc;

pub use log_store::LogStore;
pub use runtime::GlommioRuntime;
pub use state_machine::{Installer, Installing, StateMachine};
pub use types::{Applied, MetadataChange, NodeId, Raft, TypeConfig};

use crate::limits::{
    QUORUM_ELECTION_TIMEOUT_MAX_MILLISECONDS, QUORUM_ELECTION_TIMEOUT_MIN_MILLISECONDS,
    QUORUM_HEARTBEAT_MILLISECONDS, QUORUM_LOG_ENTRIES_KEPT_AFTER_SNAPSHOT,
    QUORUM_SNAPSHOT_CHUNK_TIMEOUT_MILLISECONDS, QUORUM_SNAPSHOT_EVERY_ENTRIES,
};

/// The quorum's timers, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub heartbeat: u64,
    pub election_min: u64,
    pub election_max: u64,
}

impl Default for Timing {
    fn default() -> Timing {
        Timing {
            heartbeat: QUORUM_HEARTBEAT_MILLISECONDS,
            election_min: QUORUM_ELECTION_TIMEOUT_MIN_MILLISECONDS,
            election_max: QUORUM_ELECTION_TIMEOUT_MAX_MILLISECONDS,
        }
    }
}

/// Who stands for elections: openraft's own timer, or (on a host, whose
/// voters talk over the quorum listeners) `pre_vote::Elections`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenraftElects {
    Yes,
    No,
}

/// openraft's configuration for the quorum: `timing`, a snapshot every
/// `QUORUM_SNAPSHOT_EVERY_ENTRIES` applied entries, and the log purged
/// behind it down to `QUORUM_LOG_ENTRIES_KEPT_AFTER_SNAPSHOT` entries.
/// Fails only for timings openraft refuses (an election timeout not above
/// the heartbeat, or an empty range).
pub fn config(
    timing: &Timing,
    elects: OpenraftElects,
) -> Result<Arc<openraft::Config>, Box<openraft::ConfigError>> {
    let config = openraft::Config {
        enable_elect: elects == OpenraftElects::Yes,
        cluster_name: "corelog".to_string(),
        heartbeat_interval: timing.heartbeat,
        election_timeout_min: timing.election_min,
        election_timeout_max: timing.election_max,
        install_snapshot_timeout: QUORUM_SNAPSHOT_CHUNK_TIMEOUT_MILLISECONDS,
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(QUORUM_SNAPSHOT_EVERY_ENTRIES),
        max_in_snapshot_log_to_keep: QUORUM_LOG_ENTRIES_KEPT_AFTER_SNAPSHOT,
        ..Default::default()
    };
    Ok(Arc::new(config.validate().map_err(Box::new)?))
}
