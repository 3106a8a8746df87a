//! One file per Kafka API. Each declares the versions it implements
//! (`VERSIONS`) and its entry point,
//! `pub async fn handle(context: &RequestContext, shard: &Shard, request:
//! Request) -> Response`, which reads the version from `context.version`.
//! A handler is served once its line is in the table (`server::api`), which
//! makes `SUPPORTED` (re-exported here): what ApiVersions advertises and
//! what dispatch accepts. `legacy` holds the hand codecs of versions the
//! codec crate dropped; `record_formats` joins Produce's and Fetch's
//! message-set and record-batch handlers into one API each.
//!
//! Invariants: every API in `SUPPORTED` has a handler here (the table does
//! not compile otherwise); every advertised version is one the codec or the
//! handler's own reader knows (a test checks it).

pub mod alter_configs;
pub mod api_versions;
pub mod consumer_group_describe;
pub mod consumer_group_heartbeat;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_groups;
pub mod describe_log_dirs;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod legacy;
pub mod legacy_fetch;
pub mod legacy_produce;
pub mod list_groups;
pub mod list_offsets;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod offset_for_leader_epoch;
pub mod produce;
pub mod reassignments;
pub mod record_formats;
pub mod sync_group;
pub mod unregister_broker;

pub use super::context::RequestContext;

pub use crate::rt::now_milliseconds;

/// Logs one warning line per deprecated topic config a request sets, as
/// Kafka 3.x does, before the config is accepted and stored.
pub fn warn_deprecated_configs<'a>(
    shard_id: u32,
    topic: &str,
    names: impl IntoIterator<Item = &'a str>,
) {
    for name in names {
        if let Some(why) = crate::metadata::topic_config::deprecation(name) {
            tracing::warn!(
                "shard {shard_id}: topic {topic}: config {name} is deprecated since Kafka 3.0 and removed in Kafka 4.0; accepted and stored, but {why}"
            );
        }
    }
}
