//! One file per Kafka API. Each declares the versions it implements; this
//! table is what ApiVersions advertises and what dispatch accepts.

pub mod alter_configs;
pub mod api_versions;
pub mod consumer_group_describe;
pub mod consumer_group_heartbeat;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_configs;
pub mod describe_groups;
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
pub mod produce;
pub mod sync_group;

use std::ops::RangeInclusive;

use kafka_protocol::messages::ApiKey;

/// Every API this broker serves, with the versions it implements and tests.
pub const SUPPORTED: &[(ApiKey, RangeInclusive<i16>)] = &[
    // The oldest versions, whose records are magic 0/1 message sets, have
    // codecs and handlers of their own (legacy_produce, legacy_fetch).
    (
        ApiKey::Produce,
        *legacy_produce::VERSIONS.start()..=*produce::VERSIONS.end(),
    ),
    (
        ApiKey::Fetch,
        *legacy_fetch::VERSIONS.start()..=*fetch::VERSIONS.end(),
    ),
    (ApiKey::ListOffsets, list_offsets::VERSIONS),
    (ApiKey::Metadata, metadata::VERSIONS),
    (ApiKey::ApiVersions, api_versions::VERSIONS),
    (ApiKey::CreateTopics, create_topics::VERSIONS),
    (ApiKey::DeleteTopics, delete_topics::VERSIONS),
    (ApiKey::CreatePartitions, create_partitions::VERSIONS),
    (ApiKey::FindCoordinator, find_coordinator::VERSIONS),
    (ApiKey::JoinGroup, join_group::VERSIONS),
    (ApiKey::SyncGroup, sync_group::VERSIONS),
    (ApiKey::Heartbeat, heartbeat::VERSIONS),
    (ApiKey::LeaveGroup, leave_group::VERSIONS),
    (ApiKey::OffsetCommit, offset_commit::VERSIONS),
    (ApiKey::OffsetFetch, offset_fetch::VERSIONS),
    (ApiKey::ListGroups, list_groups::VERSIONS),
    (ApiKey::DescribeGroups, describe_groups::VERSIONS),
    (ApiKey::DeleteGroups, delete_groups::VERSIONS),
    (ApiKey::OffsetDelete, offset_delete::VERSIONS),
    (ApiKey::InitProducerId, init_producer_id::VERSIONS),
    (ApiKey::DeleteRecords, delete_records::VERSIONS),
    (ApiKey::DescribeConfigs, describe_configs::VERSIONS),
    (ApiKey::AlterConfigs, alter_configs::VERSIONS),
    (
        ApiKey::IncrementalAlterConfigs,
        alter_configs::INCREMENTAL_VERSIONS,
    ),
    (
        ApiKey::ConsumerGroupHeartbeat,
        consumer_group_heartbeat::VERSIONS,
    ),
    (
        ApiKey::ConsumerGroupDescribe,
        consumer_group_describe::VERSIONS,
    ),
];

/// Who sent a request, as group membership records it, and in which
/// version of its API.
pub struct RequestContext {
    pub version: i16,
    pub client_id: String,
    /// Kafka's form: `/` and the peer's IP address.
    pub client_host: String,
}

pub fn supports(api_key: ApiKey, version: i16) -> bool {
    SUPPORTED
        .iter()
        .any(|(key, versions)| *key == api_key && versions.contains(&version))
}

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
            eprintln!(
                "corelog: shard {shard_id}: topic {topic}: config {name} is deprecated since Kafka 3.0 and removed in Kafka 4.0; accepted and stored, but {why}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Versions below the codec's oldest that a handler reads and writes
    /// itself (see `legacy`): Kafka 3.9 accepts them, Kafka 4.0 dropped them.
    const HANDLED_BELOW_CODEC: &[(ApiKey, i16)] = &[
        (ApiKey::OffsetCommit, 0),
        (ApiKey::OffsetFetch, 0),
        (ApiKey::ListOffsets, 0),
        (ApiKey::CreateTopics, 0),
        (ApiKey::DeleteTopics, 0),
        (ApiKey::DescribeConfigs, 0),
        // Message sets of magic 0 and 1 (legacy_produce, legacy_fetch).
        (ApiKey::Produce, 0),
        (ApiKey::Fetch, 0),
    ];

    #[test]
    fn advertised_versions_are_ones_the_codec_or_the_handler_knows() {
        for (key, versions) in SUPPORTED {
            let codec = key.valid_versions();
            let oldest = HANDLED_BELOW_CODEC
                .iter()
                .find(|(handled, _)| handled == key)
                .map_or(codec.min, |(_, oldest)| *oldest);
            assert!(
                *versions.start() >= oldest && *versions.end() <= codec.max,
                "{key:?} {versions:?} vs {codec}"
            );
        }
    }
}
