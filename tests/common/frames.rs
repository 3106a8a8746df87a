//! Seeded request frames for wire-level fuzzing (tests/wire_fuzz.rs).
//!
//! A `Template` is a valid request frame body (request header plus request)
//! of one advertised (API, version), encoded by kafka-protocol from a request
//! struct populated with small arrays and short strings, so that every array
//! count and string length sits somewhere in the bytes for a mutation to
//! inflate. `FrameSource` turns templates into a deterministic stream of
//! frames from one seed: valid, mutated, random, and frames whose length
//! prefix lies.
//!
//! Invariants: the same seed gives the same frames in the same order; no frame
//! body is longer than `FRAME_BODY_BYTES_MAX` (only a length prefix may claim
//! more, and then the frame is the last one its connection sends).

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    alter_configs_request, create_partitions_request, create_topics_request,
    delete_records_request, delete_topics_request, describe_configs_request, fetch_request,
    incremental_alter_configs_request, join_group_request, leave_group_request,
    list_offsets_request, metadata_request, offset_commit_request, offset_delete_request,
    offset_fetch_request, produce_request, sync_group_request, AlterConfigsRequest, ApiKey,
    ApiVersionsRequest, BrokerId, CreatePartitionsRequest, CreateTopicsRequest,
    DeleteGroupsRequest, DeleteRecordsRequest, DeleteTopicsRequest, DescribeConfigsRequest,
    DescribeGroupsRequest, FetchRequest, FindCoordinatorRequest, GroupId, HeartbeatRequest,
    IncrementalAlterConfigsRequest, InitProducerIdRequest, JoinGroupRequest, LeaveGroupRequest,
    ListGroupsRequest, ListOffsetsRequest, MetadataRequest, OffsetCommitRequest,
    OffsetDeleteRequest, OffsetFetchRequest, ProduceRequest, ProducerId, RequestHeader,
    SyncGroupRequest, TopicName,
};
use kafka_protocol::protocol::{Encodable, StrBytes};
use kafka_protocol::records::Compression;

/// Longest frame body a `FrameSource` writes (a length prefix may claim more).
pub const FRAME_BODY_BYTES_MAX: usize = 64 * 1024;

/// Topics the fuzzed requests name. Tests keep the records they check in
/// other topics, so a mutated but valid DeleteTopics, DeleteRecords or
/// AlterConfigs only ever touches these.
pub const FUZZ_TOPICS: [&str; 2] = ["wire-fuzz-alpha", "wire-fuzz-beta"];
pub const FUZZ_GROUP: &str = "wire-fuzz-group";

/// A small seeded generator (SplitMix64): deterministic, no dependency, and
/// good enough to pick mutations.
pub struct Random {
    state: u64,
}

impl Random {
    pub fn new(seed: u64) -> Random {
        Random { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut mixed = self.state;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        mixed ^ (mixed >> 31)
    }

    /// Uniform in `0..bound` (`bound` > 0).
    pub fn below(&mut self, bound: usize) -> usize {
        (self.next_u64() % bound as u64) as usize
    }

    /// Uniform in `low..=high`.
    pub fn between(&mut self, low: usize, high: usize) -> usize {
        low + self.below(high - low + 1)
    }

    /// True `percent` times in a hundred.
    pub fn percent(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    pub fn byte(&mut self) -> u8 {
        self.next_u64() as u8
    }

    pub fn bytes(&mut self, length: usize) -> Vec<u8> {
        (0..length).map(|_| self.byte()).collect()
    }
}

/// A valid request frame body of one (API, version), without its length prefix.
#[derive(Clone)]
pub struct Template {
    pub api_key: ApiKey,
    pub version: i16,
    /// Header plus request.
    pub body: Vec<u8>,
    /// Where the request starts (the header's length).
    pub header_length: usize,
    /// Flexible versions use varint lengths (compact arrays and strings).
    pub flexible: bool,
}

/// The request header every template carries, client id included so that
/// its string length is there to mutate too.
pub fn encode_header(api_key: ApiKey, version: i16, correlation_id: i32) -> Vec<u8> {
    let header = RequestHeader::default()
        .with_request_api_key(api_key as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("wire-fuzz")));
    let mut bytes = BytesMut::new();
    header
        .encode(&mut bytes, api_key.request_header_version(version))
        .expect("a request header always encodes");
    bytes.to_vec()
}

/// One template per advertised (API, version) that kafka-protocol can
/// encode; panics if a populated request does not encode at such a version
/// (the generator must cover every one). The older versions the broker reads
/// by hand (Kafka 4.0 dropped them; the codec cannot write them) are covered
/// by tests/legacy_clients.rs, tests/versions.rs and the request_decode fuzz
/// target.
pub fn templates() -> Vec<Template> {
    let mut templates = Vec::new();
    for (api_key, versions) in corelog::server::api::SUPPORTED {
        let codec_min = api_key.valid_versions().min;
        for version in versions.clone().filter(|version| *version >= codec_min) {
            let header = encode_header(*api_key, version, 1);
            let encoded = populated(*api_key, version).unwrap_or_else(|error| {
                panic!("populated {api_key:?} v{version} does not encode: {error}")
            });
            let mut body = header.clone();
            body.extend_from_slice(&encoded);
            templates.push(Template {
                api_key: *api_key,
                version,
                body,
                header_length: header.len(),
                flexible: api_key.request_header_version(version) >= 2,
            });
        }
    }
    templates
}

fn encode<T: Encodable>(version: i16, request: T) -> Result<Vec<u8>, String> {
    let mut bytes = BytesMut::new();
    request
        .encode(&mut bytes, version)
        .map_err(|error| error.to_string())?;
    Ok(bytes.to_vec())
}

fn text(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_string())
}

fn topic(index: usize) -> TopicName {
    TopicName(text(FUZZ_TOPICS[index]))
}

/// A small valid record batch, so Produce templates carry real records.
fn records() -> Bytes {
    super::batch(
        &[(Some("key"), "fuzz-value"), (None, "fuzz-second")],
        1_700_000_000_000,
        Compression::None,
    )
}

/// A request of `api_key` with two entries in its main arrays and short
/// strings, setting only fields `version` has (kafka-protocol refuses to
/// encode a non-default field a version lacks).
fn populated(api_key: ApiKey, version: i16) -> Result<Vec<u8>, String> {
    match api_key {
        ApiKey::Produce => {
            use produce_request::{PartitionProduceData, TopicProduceData};
            encode(
                version,
                ProduceRequest::default()
                    .with_acks(-1)
                    .with_timeout_ms(1000)
                    .with_topic_data(
                        (0..2)
                            .map(|index| {
                                TopicProduceData::default()
                                    .with_name(topic(index))
                                    .with_partition_data(vec![PartitionProduceData::default()
                                        .with_index(0)
                                        .with_records(Some(records()))])
                            })
                            .collect(),
                    ),
            )
        }
        ApiKey::Fetch => {
            use fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};
            let mut request = FetchRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_max_wait_ms(50)
                .with_min_bytes(1)
                .with_max_bytes(1024 * 1024)
                .with_topics(
                    (0..2)
                        .map(|index| {
                            FetchTopic::default()
                                .with_topic(topic(index))
                                .with_partitions(
                                    (0..2)
                                        .map(|partition| {
                                            FetchPartition::default()
                                                .with_partition(partition)
                                                .with_fetch_offset(0)
                                                .with_partition_max_bytes(64 * 1024)
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                );
            if version >= 7 {
                request = request.with_forgotten_topics_data(vec![ForgottenTopic::default()
                    .with_topic(topic(1))
                    .with_partitions(vec![1, 2])]);
            }
            if version >= 11 {
                request = request.with_rack_id(text("rack"));
            }
            encode(version, request)
        }
        ApiKey::ListOffsets => {
            use list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
            encode(
                version,
                ListOffsetsRequest::default()
                    .with_replica_id(BrokerId(-1))
                    .with_topics(
                        (0..2)
                            .map(|index| {
                                ListOffsetsTopic::default()
                                    .with_name(topic(index))
                                    .with_partitions(vec![
                                        ListOffsetsPartition::default()
                                            .with_partition_index(0)
                                            .with_timestamp(-1),
                                        ListOffsetsPartition::default()
                                            .with_partition_index(1)
                                            .with_timestamp(1_700_000_000_000),
                                    ])
                            })
                            .collect(),
                    ),
            )
        }
        ApiKey::Metadata => {
            use metadata_request::MetadataRequestTopic;
            encode(
                version,
                MetadataRequest::default().with_topics(Some(
                    (0..2)
                        .map(|index| MetadataRequestTopic::default().with_name(Some(topic(index))))
                        .collect(),
                )),
            )
        }
        ApiKey::ApiVersions => {
            let mut request = ApiVersionsRequest::default();
            if version >= 3 {
                request = request
                    .with_client_software_name(text("wire-fuzz"))
                    .with_client_software_version(text("1.0"));
            }
            encode(version, request)
        }
        ApiKey::CreateTopics => {
            use create_topics_request::{CreatableTopic, CreatableTopicConfig};
            encode(
                version,
                CreateTopicsRequest::default()
                    .with_timeout_ms(1000)
                    .with_topics(
                        (0..2)
                            .map(|index| {
                                CreatableTopic::default()
                                    .with_name(topic(index))
                                    .with_num_partitions(2)
                                    .with_replication_factor(1)
                                    .with_configs(vec![CreatableTopicConfig::default()
                                        .with_name(text("retention.ms"))
                                        .with_value(Some(text("86400000")))])
                            })
                            .collect(),
                    ),
            )
        }
        ApiKey::DeleteTopics => {
            use delete_topics_request::DeleteTopicState;
            let request = if version >= 6 {
                DeleteTopicsRequest::default().with_topics(vec![
                    DeleteTopicState::default().with_name(Some(topic(1))),
                    DeleteTopicState::default().with_topic_id(uuid::Uuid::from_u128(7)),
                ])
            } else {
                DeleteTopicsRequest::default().with_topic_names(vec![topic(1), topic(1)])
            };
            encode(version, request.with_timeout_ms(1000))
        }
        ApiKey::CreatePartitions => {
            use create_partitions_request::{CreatePartitionsAssignment, CreatePartitionsTopic};
            encode(
                version,
                CreatePartitionsRequest::default()
                    .with_timeout_ms(1000)
                    .with_topics(vec![
                        CreatePartitionsTopic::default()
                            .with_name(topic(0))
                            .with_count(3),
                        CreatePartitionsTopic::default()
                            .with_name(topic(1))
                            .with_count(4)
                            .with_assignments(Some(vec![
                                CreatePartitionsAssignment::default()
                                    .with_broker_ids(vec![BrokerId(0)]),
                                CreatePartitionsAssignment::default()
                                    .with_broker_ids(vec![BrokerId(1)]),
                            ])),
                    ]),
            )
        }
        ApiKey::FindCoordinator => {
            let mut request = FindCoordinatorRequest::default();
            if version >= 4 {
                request = request.with_coordinator_keys(vec![text(FUZZ_GROUP), text("other")]);
            } else {
                request = request.with_key(text(FUZZ_GROUP));
            }
            encode(version, request)
        }
        ApiKey::JoinGroup => {
            use join_group_request::JoinGroupRequestProtocol;
            let mut request = JoinGroupRequest::default()
                .with_group_id(GroupId(text(FUZZ_GROUP)))
                .with_session_timeout_ms(6000)
                .with_rebalance_timeout_ms(1000)
                .with_protocol_type(text("consumer"))
                .with_protocols(vec![
                    JoinGroupRequestProtocol::default()
                        .with_name(text("range"))
                        .with_metadata(Bytes::from_static(&[0, 1, 0, 0, 0, 1, 0, 1, b'a'])),
                    JoinGroupRequestProtocol::default()
                        .with_name(text("roundrobin"))
                        .with_metadata(Bytes::from_static(&[0, 1])),
                ]);
            if version >= 5 {
                request = request.with_group_instance_id(Some(text("instance")));
            }
            if version >= 8 {
                request = request.with_reason(Some(text("fuzz")));
            }
            encode(version, request)
        }
        ApiKey::SyncGroup => {
            use sync_group_request::SyncGroupRequestAssignment;
            let mut request = SyncGroupRequest::default()
                .with_group_id(GroupId(text(FUZZ_GROUP)))
                .with_generation_id(1)
                .with_member_id(text("member-1"))
                .with_assignments(vec![
                    SyncGroupRequestAssignment::default()
                        .with_member_id(text("member-1"))
                        .with_assignment(Bytes::from_static(&[0, 1, 0, 0, 0, 0])),
                    SyncGroupRequestAssignment::default()
                        .with_member_id(text("member-2"))
                        .with_assignment(Bytes::from_static(&[0, 1])),
                ]);
            if version >= 3 {
                request = request.with_group_instance_id(Some(text("instance")));
            }
            if version >= 5 {
                request = request
                    .with_protocol_type(Some(text("consumer")))
                    .with_protocol_name(Some(text("range")));
            }
            encode(version, request)
        }
        ApiKey::Heartbeat => {
            let mut request = HeartbeatRequest::default()
                .with_group_id(GroupId(text(FUZZ_GROUP)))
                .with_generation_id(1)
                .with_member_id(text("member-1"));
            if version >= 3 {
                request = request.with_group_instance_id(Some(text("instance")));
            }
            encode(version, request)
        }
        ApiKey::LeaveGroup => {
            use leave_group_request::MemberIdentity;
            let mut request = LeaveGroupRequest::default().with_group_id(GroupId(text(FUZZ_GROUP)));
            if version >= 3 {
                let mut members = vec![
                    MemberIdentity::default().with_member_id(text("member-1")),
                    MemberIdentity::default()
                        .with_member_id(text("member-2"))
                        .with_group_instance_id(Some(text("instance"))),
                ];
                if version >= 5 {
                    members[0].reason = Some(text("fuzz"));
                }
                request = request.with_members(members);
            } else {
                request = request.with_member_id(text("member-1"));
            }
            encode(version, request)
        }
        ApiKey::OffsetCommit => {
            use offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
            let mut request = OffsetCommitRequest::default()
                .with_group_id(GroupId(text(FUZZ_GROUP)))
                .with_generation_id_or_member_epoch(-1)
                .with_topics(
                    (0..2)
                        .map(|index| {
                            OffsetCommitRequestTopic::default()
                                .with_name(topic(index))
                                .with_partitions(
                                    (0..2)
                                        .map(|partition| {
                                            OffsetCommitRequestPartition::default()
                                                .with_partition_index(partition)
                                                .with_committed_offset(5)
                                                .with_committed_metadata(Some(text("meta")))
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                );
            if version >= 7 {
                request = request.with_group_instance_id(Some(text("instance")));
            }
            encode(version, request)
        }
        ApiKey::OffsetFetch => {
            use offset_fetch_request::{
                OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
            };
            let request = if version >= 8 {
                OffsetFetchRequest::default().with_groups(vec![
                    OffsetFetchRequestGroup::default()
                        .with_group_id(GroupId(text(FUZZ_GROUP)))
                        .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                            .with_name(topic(0))
                            .with_partition_indexes(vec![0, 1])])),
                    OffsetFetchRequestGroup::default()
                        .with_group_id(GroupId(text("other-group")))
                        .with_topics(None),
                ])
            } else {
                OffsetFetchRequest::default()
                    .with_group_id(GroupId(text(FUZZ_GROUP)))
                    .with_topics(Some(
                        (0..2)
                            .map(|index| {
                                OffsetFetchRequestTopic::default()
                                    .with_name(topic(index))
                                    .with_partition_indexes(vec![0, 1])
                            })
                            .collect(),
                    ))
            };
            encode(version, request)
        }
        ApiKey::ListGroups => {
            let mut request = ListGroupsRequest::default();
            if version >= 4 {
                request = request.with_states_filter(vec![text("Stable"), text("Empty")]);
            }
            if version >= 5 {
                request = request.with_types_filter(vec![text("classic"), text("consumer")]);
            }
            encode(version, request)
        }
        ApiKey::DescribeGroups => encode(
            version,
            DescribeGroupsRequest::default().with_groups(vec![
                GroupId(text(FUZZ_GROUP)),
                GroupId(text("other-group")),
            ]),
        ),
        ApiKey::DeleteGroups => encode(
            version,
            DeleteGroupsRequest::default()
                .with_groups_names(vec![GroupId(text("other-group")), GroupId(text("gone"))]),
        ),
        ApiKey::OffsetDelete => {
            use offset_delete_request::{OffsetDeleteRequestPartition, OffsetDeleteRequestTopic};
            encode(
                version,
                OffsetDeleteRequest::default()
                    .with_group_id(GroupId(text(FUZZ_GROUP)))
                    .with_topics(
                        (0..2)
                            .map(|index| {
                                OffsetDeleteRequestTopic::default()
                                    .with_name(topic(index))
                                    .with_partitions(vec![
                                        OffsetDeleteRequestPartition::default()
                                            .with_partition_index(0),
                                        OffsetDeleteRequestPartition::default()
                                            .with_partition_index(1),
                                    ])
                            })
                            .collect(),
                    ),
            )
        }
        ApiKey::InitProducerId => {
            let mut request = InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(60_000);
            if version >= 3 {
                request = request
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1);
            }
            encode(version, request)
        }
        ApiKey::DeleteRecords => {
            use delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic};
            encode(
                version,
                DeleteRecordsRequest::default()
                    .with_timeout_ms(1000)
                    .with_topics(
                        (0..2)
                            .map(|index| {
                                DeleteRecordsTopic::default()
                                    .with_name(topic(index))
                                    .with_partitions(vec![
                                        DeleteRecordsPartition::default()
                                            .with_partition_index(0)
                                            .with_offset(1),
                                        DeleteRecordsPartition::default()
                                            .with_partition_index(1)
                                            .with_offset(-1),
                                    ])
                            })
                            .collect(),
                    ),
            )
        }
        ApiKey::DescribeConfigs => {
            use describe_configs_request::DescribeConfigsResource;
            encode(
                version,
                DescribeConfigsRequest::default().with_resources(vec![
                    DescribeConfigsResource::default()
                        .with_resource_type(2)
                        .with_resource_name(text(FUZZ_TOPICS[0]))
                        .with_configuration_keys(Some(vec![
                            text("retention.ms"),
                            text("cleanup.policy"),
                        ])),
                    DescribeConfigsResource::default()
                        .with_resource_type(4)
                        .with_resource_name(text("0"))
                        .with_configuration_keys(None),
                ]),
            )
        }
        ApiKey::AlterConfigs => {
            use alter_configs_request::{AlterConfigsResource, AlterableConfig};
            encode(
                version,
                AlterConfigsRequest::default().with_resources(
                    (0..2)
                        .map(|index| {
                            AlterConfigsResource::default()
                                .with_resource_type(2)
                                .with_resource_name(text(FUZZ_TOPICS[index]))
                                .with_configs(vec![
                                    AlterableConfig::default()
                                        .with_name(text("retention.ms"))
                                        .with_value(Some(text("86400000"))),
                                    AlterableConfig::default()
                                        .with_name(text("segment.bytes"))
                                        .with_value(Some(text("1048576"))),
                                ])
                        })
                        .collect(),
                ),
            )
        }
        ApiKey::IncrementalAlterConfigs => {
            use incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
            encode(
                version,
                IncrementalAlterConfigsRequest::default().with_resources(
                    (0..2)
                        .map(|index| {
                            AlterConfigsResource::default()
                                .with_resource_type(2)
                                .with_resource_name(text(FUZZ_TOPICS[index]))
                                .with_configs(vec![
                                    AlterableConfig::default()
                                        .with_name(text("retention.ms"))
                                        .with_config_operation(0)
                                        .with_value(Some(text("86400000"))),
                                    AlterableConfig::default()
                                        .with_name(text("cleanup.policy"))
                                        .with_config_operation(1)
                                        .with_value(None),
                                ])
                        })
                        .collect(),
                ),
            )
        }
        ApiKey::ConsumerGroupHeartbeat => encode(
            version,
            kafka_protocol::messages::ConsumerGroupHeartbeatRequest::default()
                .with_group_id(GroupId(text("wire-fuzz-group")))
                .with_member_id(text(""))
                .with_member_epoch(0)
                .with_rebalance_timeout_ms(30_000)
                .with_subscribed_topic_names(Some(vec![topic(0), topic(1)]))
                .with_server_assignor(Some(text("uniform"))),
        ),
        ApiKey::ConsumerGroupDescribe => encode(
            version,
            kafka_protocol::messages::ConsumerGroupDescribeRequest::default().with_group_ids(vec![
                GroupId(text("wire-fuzz-group")),
                GroupId(text("wire-fuzz-other")),
            ]),
        ),
        ApiKey::AlterPartitionReassignments => {
            use kafka_protocol::messages::alter_partition_reassignments_request::{
                ReassignablePartition, ReassignableTopic,
            };
            encode(
                version,
                kafka_protocol::messages::AlterPartitionReassignmentsRequest::default()
                    .with_timeout_ms(30_000)
                    .with_topics(
                        (0..2)
                            .map(|index| {
                                ReassignableTopic::default()
                                    .with_name(topic(index))
                                    .with_partitions(vec![
                                        // Cancels (null): nothing is in progress.
                                        ReassignablePartition::default()
                                            .with_partition_index(0)
                                            .with_replicas(None),
                                        ReassignablePartition::default()
                                            .with_partition_index(1)
                                            .with_replicas(Some(vec![BrokerId(0)])),
                                    ])
                            })
                            .collect(),
                    ),
            )
        }
        ApiKey::ListPartitionReassignments => {
            use kafka_protocol::messages::list_partition_reassignments_request::ListPartitionReassignmentsTopics;
            encode(
                version,
                kafka_protocol::messages::ListPartitionReassignmentsRequest::default()
                    .with_timeout_ms(30_000)
                    .with_topics(Some(
                        (0..2)
                            .map(|index| {
                                ListPartitionReassignmentsTopics::default()
                                    .with_name(topic(index))
                                    .with_partition_indexes(vec![0, 1])
                            })
                            .collect(),
                    )),
            )
        }
        // A host no cluster has: refused, whatever it is sent to.
        ApiKey::UnregisterBroker => encode(
            version,
            kafka_protocol::messages::UnregisterBrokerRequest::default()
                .with_broker_id(BrokerId(1000 * 1024)),
        ),
        ApiKey::OffsetForLeaderEpoch => {
            use kafka_protocol::messages::offset_for_leader_epoch_request::{
                OffsetForLeaderPartition, OffsetForLeaderTopic,
            };
            encode(
                version,
                kafka_protocol::messages::OffsetForLeaderEpochRequest::default()
                    .with_replica_id(BrokerId(if version >= 3 { -1 } else { 0 }))
                    .with_topics(
                        (0..2)
                            .map(|index| {
                                OffsetForLeaderTopic::default()
                                    .with_topic(topic(index))
                                    .with_partitions(
                                        (0..2)
                                            .map(|partition| {
                                                OffsetForLeaderPartition::default()
                                                    .with_partition(partition)
                                                    .with_current_leader_epoch(-1)
                                                    .with_leader_epoch(0)
                                            })
                                            .collect(),
                                    )
                            })
                            .collect(),
                    ),
            )
        }
        ApiKey::DescribeCluster => encode(
            version,
            kafka_protocol::messages::DescribeClusterRequest::default()
                .with_include_cluster_authorized_operations(false)
                .with_endpoint_type(1)
                .with_include_fenced_brokers(version >= 2),
        ),
        ApiKey::DescribeLogDirs => encode(
            version,
            kafka_protocol::messages::DescribeLogDirsRequest::default().with_topics(Some(vec![
                kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic::default()
                    .with_topic(topic(0))
                    .with_partitions(vec![0, 1]),
            ])),
        ),
        other => panic!("no populated request for {other:?}: add one here"),
    }
}

/// What a frame is, for the test's summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FrameKind {
    /// A template as it is, with a correct length prefix.
    Valid,
    /// A template after one to four mutations.
    Mutated,
    /// Random bytes, some behind a real API key and version.
    Random,
    /// A length prefix over any request limit (or negative).
    HugeLength,
    /// A length prefix a few bytes to 100 MiB past what follows; the sender
    /// then stops, so the broker sees the connection end mid-frame.
    Unfinished,
}

pub struct Frame {
    pub kind: FrameKind,
    /// Length prefix and body.
    pub bytes: Vec<u8>,
    /// Nothing after this frame on its connection would be read as a frame
    /// of its own, so the sender sends nothing more.
    pub ends_connection: bool,
}

/// API keys that exist in Kafka but corelog does not serve, and values that
/// are no API at all.
const FOREIGN_API_KEYS: [i16; 9] = [17, 21, 24, 36, 50, 60, 93, -1, i16::MAX];

/// Values that sit on a boundary of some integer type.
const BOUNDARY_BYTES: [u8; 7] = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff, 0x40];
const BOUNDARY_WORDS: [i64; 10] = [
    0,
    1,
    -1,
    i16::MAX as i64,
    i16::MIN as i64,
    i32::MAX as i64,
    i32::MIN as i64,
    i32::MAX as i64 - 1,
    i64::MAX,
    i64::MIN,
];

/// Array counts that claim far more elements than any frame holds.
const HUGE_COUNTS: [i32; 6] = [i32::MAX, i32::MAX - 1, 1 << 28, 1 << 20, -2, i32::MIN];
/// String lengths (INT16) that claim more bytes than any frame holds, or are
/// negative without being null.
const HUGE_STRING_LENGTHS: [i16; 4] = [i16::MAX, i16::MAX - 1, -2, i16::MIN];
/// Unsigned varints for compact lengths: 2^31-1, 2^31, u32::MAX, 2^20, an
/// overlong varint that never ends within five bytes, and null.
const HUGE_VARINTS: [&[u8]; 6] = [
    &[0xff, 0xff, 0xff, 0xff, 0x07],
    &[0x80, 0x80, 0x80, 0x80, 0x08],
    &[0xff, 0xff, 0xff, 0xff, 0x0f],
    &[0x80, 0x80, 0x40],
    &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
    &[0x00],
];

/// Deterministic frames from one seed.
pub struct FrameSource<'a> {
    templates: &'a [Template],
    pub random: Random,
    correlation_id: i32,
    /// The broker's `socket.request.max.bytes`.
    request_bytes_max: u32,
}

impl<'a> FrameSource<'a> {
    pub fn new(templates: &'a [Template], seed: u64, request_bytes_max: u32) -> FrameSource<'a> {
        FrameSource {
            templates,
            random: Random::new(seed),
            correlation_id: 0,
            request_bytes_max,
        }
    }

    pub fn next_frame(&mut self) -> Frame {
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let roll = self.random.below(100);
        let (kind, body) = match roll {
            0..=5 => (FrameKind::Valid, self.valid_body()),
            6..=79 => (FrameKind::Mutated, self.mutated_body()),
            80..=91 => (FrameKind::Random, self.random_body()),
            92..=95 => return self.huge_length_frame(),
            _ => return self.unfinished_frame(),
        };
        debug_assert!(body.len() <= FRAME_BODY_BYTES_MAX);
        let length = if self.random.percent(12) {
            self.wrong_length(body.len())
        } else {
            body.len() as i32
        };
        let mut bytes = Vec::with_capacity(body.len() + 4);
        bytes.extend_from_slice(&length.to_be_bytes());
        bytes.extend_from_slice(&body);
        Frame {
            kind,
            bytes,
            ends_connection: false,
        }
    }

    fn template(&mut self) -> &'a Template {
        self.random.pick(self.templates)
    }

    fn valid_body(&mut self) -> Vec<u8> {
        let mut body = self.template().body.clone();
        body[4..8].copy_from_slice(&self.correlation_id.to_be_bytes());
        body
    }

    fn mutated_body(&mut self) -> Vec<u8> {
        let template = self.template();
        let mut body = template.body.clone();
        body[4..8].copy_from_slice(&self.correlation_id.to_be_bytes());
        // A third get a single mutation that moves nothing (a flipped bit,
        // an overwritten byte or word): many of those still decode, so the
        // handlers, not only the decoders, meet odd values.
        if self.random.percent(33) {
            self.mutate(template, &mut body, true);
            return body;
        }
        for _ in 0..self.random.between(1, 4) {
            self.mutate(template, &mut body, false);
            if body.len() > FRAME_BODY_BYTES_MAX {
                body.truncate(FRAME_BODY_BYTES_MAX);
            }
        }
        body
    }

    /// A position to mutate: mostly in the request, sometimes in its header.
    fn position(&mut self, template: &Template, length: usize) -> Option<usize> {
        if length == 0 {
            return None;
        }
        if self.random.percent(75) && template.header_length < length {
            Some(self.random.between(template.header_length, length - 1))
        } else {
            Some(self.random.below(length))
        }
    }

    /// One mutation; `in_place` keeps every byte where it was.
    fn mutate(&mut self, template: &Template, body: &mut Vec<u8>, in_place: bool) {
        let choice = if in_place {
            self.random.below(3)
        } else {
            self.random.below(12)
        };
        match choice {
            0 => {
                for _ in 0..self.random.between(1, 4) {
                    if let Some(at) = self.position(template, body.len()) {
                        body[at] ^= 1 << self.random.below(8);
                    }
                }
            }
            1 => {
                if let Some(at) = self.position(template, body.len()) {
                    body[at] = if self.random.percent(70) {
                        *self.random.pick(&BOUNDARY_BYTES)
                    } else {
                        self.random.byte()
                    };
                }
            }
            2 => {
                let width = *self.random.pick(&[2usize, 4, 8]);
                if body.len() >= width {
                    let at = self.random.below(body.len() - width + 1);
                    let value = self.random.pick(&BOUNDARY_WORDS).to_be_bytes();
                    body[at..at + width].copy_from_slice(&value[8 - width..]);
                }
            }
            3 => {
                let keep = self.random.below(body.len() + 1);
                body.truncate(keep);
            }
            4 => {
                let junk = self.random.between(1, 64);
                if self.random.percent(50) {
                    let filler = *self.random.pick(&BOUNDARY_BYTES);
                    body.extend(std::iter::repeat(filler).take(junk));
                } else {
                    let bytes = self.random.bytes(junk);
                    body.extend_from_slice(&bytes);
                }
            }
            5..=7 => self.inflate_length(template, body),
            8 => {
                if body.len() >= 2 {
                    let key = if self.random.percent(50) {
                        *self.random.pick(&FOREIGN_API_KEYS)
                    } else {
                        self.template().api_key as i16
                    };
                    body[0..2].copy_from_slice(&key.to_be_bytes());
                }
            }
            9 => {
                if body.len() >= 4 {
                    let (_, versions) = corelog::server::api::SUPPORTED
                        .iter()
                        .find(|(key, _)| *key == template.api_key)
                        .expect("templates are of advertised APIs");
                    let choices = [
                        versions.start() - 1,
                        versions.end() + 1,
                        -1,
                        i16::MAX,
                        i16::MIN,
                        *versions.start(),
                        *versions.end(),
                        self.random
                            .between(*versions.start() as usize, *versions.end() as usize)
                            as i16,
                    ];
                    let version = *self.random.pick(&choices);
                    body[2..4].copy_from_slice(&version.to_be_bytes());
                }
            }
            10 => {
                // This header with another request: same API at another
                // version (compact where plain was expected, or the reverse)
                // or another API altogether.
                let other = if self.random.percent(50) {
                    let same: Vec<&Template> = self
                        .templates
                        .iter()
                        .filter(|other| other.api_key == template.api_key)
                        .collect();
                    *self.random.pick(&same)
                } else {
                    self.template()
                };
                let header_length = template.header_length.min(body.len());
                body.truncate(header_length);
                body.extend_from_slice(&other.body[other.header_length..]);
            }
            _ => {
                // Copy or cut a chunk, as a confused encoder might.
                if body.len() >= 2 {
                    let start = self.random.below(body.len());
                    let end = self.random.between(start, body.len().min(start + 32));
                    if self.random.percent(50) {
                        let chunk = body[start..end].to_vec();
                        let at = self.random.below(body.len() + 1);
                        body.splice(at..at, chunk);
                    } else {
                        body.drain(start..end);
                    }
                }
            }
        }
    }

    /// Makes an array count or a string length claim far more than the frame
    /// holds. Candidates are found in the bytes themselves: the populated
    /// templates have arrays of one or two entries and short printable
    /// strings, so small INT32s, INT16s in front of as many printable bytes,
    /// and (in flexible versions) small varint bytes are the length fields.
    /// Other values that look alike get inflated too, which is fine here.
    fn inflate_length(&mut self, template: &Template, body: &mut Vec<u8>) {
        let start = template.header_length.min(body.len());
        let printable = |bytes: &[u8]| bytes.iter().all(|byte| (0x20..0x7f).contains(byte));
        let mut counts = Vec::new();
        let mut strings = Vec::new();
        let mut varints = Vec::new();
        for at in start..body.len() {
            if at + 4 <= body.len() {
                let value = i32::from_be_bytes(body[at..at + 4].try_into().unwrap());
                if (0..=2).contains(&value) {
                    counts.push(at);
                }
            }
            if at + 2 <= body.len() {
                let length = i16::from_be_bytes([body[at], body[at + 1]]);
                if length > 0
                    && at + 2 + length as usize <= body.len()
                    && printable(&body[at + 2..at + 2 + length as usize])
                {
                    strings.push(at);
                }
            }
            if template.flexible {
                let byte = body[at] as usize;
                let compact_string =
                    byte > 1 && at + byte <= body.len() && printable(&body[at + 1..at + byte]);
                if (1..=3).contains(&byte) || compact_string {
                    varints.push(at);
                }
            }
        }
        let mut kinds = Vec::new();
        if !counts.is_empty() {
            kinds.push(0);
        }
        if !strings.is_empty() {
            kinds.push(1);
        }
        if !varints.is_empty() {
            kinds.push(2);
            kinds.push(2);
        }
        if kinds.is_empty() {
            return;
        }
        match *self.random.pick(&kinds) {
            0 => {
                let at = *self.random.pick(&counts);
                let count = *self.random.pick(&HUGE_COUNTS);
                body[at..at + 4].copy_from_slice(&count.to_be_bytes());
            }
            1 => {
                let at = *self.random.pick(&strings);
                let length = *self.random.pick(&HUGE_STRING_LENGTHS);
                body[at..at + 2].copy_from_slice(&length.to_be_bytes());
            }
            _ => {
                let at = *self.random.pick(&varints);
                let varint = *self.random.pick(&HUGE_VARINTS);
                body.splice(at..at + 1, varint.iter().copied());
            }
        }
    }

    fn random_body(&mut self) -> Vec<u8> {
        let length = if self.random.percent(20) {
            self.random.below(8)
        } else {
            self.random.between(8, 300)
        };
        let mut body = self.random.bytes(length);
        // Half get past the key and version check into the decoders.
        if body.len() >= 4 && self.random.percent(50) {
            let template = self.template();
            body[0..4].copy_from_slice(&template.body[0..4]);
            if self.random.percent(50) && body.len() > template.header_length {
                body[..template.header_length]
                    .copy_from_slice(&template.body[..template.header_length]);
            }
        }
        body
    }

    /// A wrong length prefix for a body of `length` bytes: shorter (the rest
    /// is read as the next frame), longer (the next frame is read into this
    /// one), zero, or anything.
    fn wrong_length(&mut self, length: usize) -> i32 {
        match self.random.below(4) {
            0 => length.saturating_sub(self.random.between(1, 16)) as i32,
            1 => (length + self.random.between(1, 16)) as i32,
            2 => 0,
            _ => self.random.below(2 * length + 8) as i32,
        }
    }

    fn huge_length_frame(&mut self) -> Frame {
        let limit = self.request_bytes_max as i64;
        let choices = [
            i32::MAX as i64,
            i32::MIN as i64,
            -1,
            limit + 1,
            self.random.between(limit as usize + 1, i32::MAX as usize) as i64,
        ];
        let length = *self.random.pick(&choices) as i32;
        let mut bytes = length.to_be_bytes().to_vec();
        let junk = self.random.below(64);
        bytes.extend(self.random.bytes(junk));
        Frame {
            kind: FrameKind::HugeLength,
            bytes,
            ends_connection: true,
        }
    }

    fn unfinished_frame(&mut self) -> Frame {
        let mut body = self.valid_body();
        let keep = self.random.below(body.len() + 1);
        body.truncate(keep);
        let limit = self.request_bytes_max as usize;
        let claimed = match self.random.below(4) {
            0 => body.len() + self.random.between(1, 64),
            1 => self.random.between(body.len() + 1, 1024 * 1024),
            2 => self.random.between(body.len() + 1, limit),
            _ => limit,
        };
        let mut bytes = (claimed as i32).to_be_bytes().to_vec();
        bytes.extend_from_slice(&body);
        Frame {
            kind: FrameKind::Unfinished,
            bytes,
            ends_connection: true,
        }
    }
}
