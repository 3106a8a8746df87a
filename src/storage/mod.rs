//! Storage: a log per partition made of segments in Kafka's layout
//! (`<topic>-<partition>/<base offset>.log` with `.index` and `.timeindex`),
//! holding RecordBatch v2 bytes exactly as clients sent them, offsets (and
//! the leader epoch) assigned.
//!
//! Invariants: storage knows nothing above it (no partition, producer or
//! protocol policy beyond the batch format): what it must persist for the
//! partition (the producer state in each seal) comes in through
//! [`producers::ProducerHistory`]; every file a log writes is either
//! recoverable by a scan or checked against a CRC before it is trusted.

pub mod index;
pub mod leader_epochs;
pub mod log;
pub mod producers;
pub mod seal;
pub mod segment;

pub use log::{FlushPolicy, Log, LogConfig, ReadError};

#[cfg(test)]
mod descriptor_tests;
#[cfg(test)]
mod epoch_tests;
#[cfg(test)]
mod fault_tests;
#[cfg(test)]
mod replica_tests;
