//! corelog as a library: the broker's modules, for the `corelog` binary
//! (src/main.rs) and for the micro-benchmarks in `benches/`.
//!
//! Layering (imports point down only): `server` -> `shard` -> `group`,
//! `partition`, `metadata` -> `storage` -> `protocol`; `rt` is the only module
//! that names glommio; every bound is in `limits`.

pub mod check;
pub mod config;
pub mod group;
pub mod limits;
pub mod logging;
pub mod metadata;
pub mod metrics;
pub mod partition;
pub mod properties;
pub mod protocol;
pub mod quorum;
pub mod replication;
pub mod rt;
pub mod server;
pub mod shard;
pub mod storage;
pub mod tools;
