//! Prometheus metrics, `/health` and `/ready` (`--metrics-listen`).
//!
//! - `registry.rs`: each shard's counters, kept in `Cell`s in a
//!   thread-local and recorded where things happen (the functions
//!   re-exported here): no locks and no atomics on the hot path.
//! - `collect.rs`: a shard's [`ShardSample`], its counters plus gauges read
//!   from what it owns; built on its own core when its inbox gets
//!   `ShardMessage::Collect`.
//! - `error_codes.rs`: where each API's answer carries its error codes,
//!   counted by the table (`server/api.rs`) for every API.
//! - `exposition.rs`: samples to the text format, consumer-group lag joined
//!   from the coordinator's committed offsets and the leaders' high
//!   watermarks.
//! - `http.rs`: the endpoint on shard 0, which sends a collect message to
//!   every other shard per scrape and merges the replies (label `shard`).
//! - `start.rs`: which shard serves and which answer, bound and started
//!   with the shards.
//!
//! Layering: `registry` imports nothing of the broker, so `server`,
//! `partition` and the group commit record into it; `collect` and `http`
//! read the shard and sit beside `server`.
//!
//! Invariants: a shard's counters are touched only on its own thread;
//! counters only grow; label cardinality is bounded (APIs by
//! `API_KEYS_COUNTED_MAX`, topics by `TOPICS_REPORTED_PER_SHARD_MAX`
//! then `topic="_other"`, lag series by
//! `LAG_PARTITIONS_REPORTED_PER_SHARD_MAX` then counted as omitted).

pub mod collect;
pub mod error_codes;
pub mod exposition;
pub mod http;
pub mod registry;
pub mod start;

use std::net::SocketAddr;

pub use collect::{sample, ShardSample};
pub use registry::{
    count_error, count_in, count_out, count_request, count_tail_cache_read,
    observe_group_commit_round, observe_request,
};

/// `--metrics-listen`'s value: `none` or empty turns the endpoint off.
pub fn parse_listen(value: &str) -> Result<Option<SocketAddr>, String> {
    let value = value.trim();
    if value.is_empty() || value.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    value
        .parse()
        .map(Some)
        .map_err(|_| format!("'{value}' is not host:port (an IP address), none or empty"))
}

/// Offsets taken by the stored batches (RecordBatch v2) laid back to back
/// in `bytes`: each batch's `lastOffsetDelta + 1`. Stops at a batch cut
/// short, so a partial tail counts nothing.
pub fn records_in_batches(bytes: &[u8]) -> u64 {
    // baseOffset (8), batchLength (4), partitionLeaderEpoch (4), magic (1),
    // crc (4), attributes (2), then lastOffsetDelta (4).
    const LAST_OFFSET_DELTA_AT: usize = 23;
    const LENGTH_AT: usize = 8;
    let mut records = 0u64;
    let mut rest = bytes;
    while rest.len() >= LAST_OFFSET_DELTA_AT + 4 {
        let length = i32::from_be_bytes(rest[LENGTH_AT..LENGTH_AT + 4].try_into().unwrap());
        let delta = i32::from_be_bytes(
            rest[LAST_OFFSET_DELTA_AT..LAST_OFFSET_DELTA_AT + 4]
                .try_into()
                .unwrap(),
        );
        let whole = 12 + length.max(0) as usize;
        if whole > rest.len() {
            break;
        }
        records += (delta.max(0) as u64) + 1;
        rest = &rest[whole..];
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_accepts_an_address_or_none() {
        assert_eq!(
            parse_listen("127.0.0.1:9644").unwrap(),
            Some("127.0.0.1:9644".parse().unwrap())
        );
        assert_eq!(parse_listen("none").unwrap(), None);
        assert_eq!(parse_listen("").unwrap(), None);
        assert!(parse_listen("localhost:9644").is_err());
    }

    #[test]
    fn the_properties_file_sets_the_address_or_turns_it_off() {
        use crate::properties::{arguments, map, parse};
        let file = |text: &str| map("f", &parse(text));
        let set = file("corelog.metrics.listen=0.0.0.0:9644\n").unwrap();
        assert_eq!(
            arguments(&set, |_| false),
            vec!["--metrics-listen=0.0.0.0:9644"]
        );
        let off = file("corelog.metrics.listen=\n").unwrap();
        assert_eq!(arguments(&off, |_| false), vec!["--metrics-listen=none"]);
        assert!(file("corelog.metrics.listen=localhost\n").is_err());
    }

    #[test]
    fn records_are_counted_from_batch_headers() {
        let mut bytes = Vec::new();
        for delta in [0i32, 4] {
            let mut batch = vec![0u8; 61];
            batch[8..12].copy_from_slice(&(61i32 - 12).to_be_bytes());
            batch[23..27].copy_from_slice(&delta.to_be_bytes());
            bytes.extend_from_slice(&batch);
        }
        assert_eq!(records_in_batches(&bytes), 6);
        assert_eq!(records_in_batches(&bytes[..100]), 1);
    }
}
