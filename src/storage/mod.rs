//! Storage: a log per partition made of segments in Kafka's layout
//! (`<topic>-<partition>/<base offset>.log` with `.index` and `.timeindex`),
//! holding RecordBatch v2 bytes exactly as clients sent them, offsets assigned.

pub mod index;
pub mod log;
pub mod producers;
pub mod seal;
pub mod segment;

pub use log::{FlushPolicy, Log, LogConfig, ReadError};

#[cfg(test)]
mod descriptor_tests;
#[cfg(test)]
mod fault_tests;
