//! CreateTopics (key 19), v2-v7.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::metadata::{topic_config, Command};
use crate::protocol::ErrorCode;
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 2..=7;

pub async fn handle(
    shard: &Shard,
    request: CreateTopicsRequest,
    version: i16,
) -> CreateTopicsResponse {
    let mut results = Vec::with_capacity(request.topics.len());
    let mut seen = std::collections::HashSet::new();
    let duplicated: std::collections::HashSet<String> = request
        .topics
        .iter()
        .map(|topic| topic.name.0.to_string())
        .filter(|name| !seen.insert(name.clone()))
        .collect();
    for topic in request.topics {
        let name = topic.name.0.to_string();
        let mut result = CreatableTopicResult::default().with_name(topic.name.clone());
        if version >= 5 {
            result.num_partitions = -1;
            result.replication_factor = -1;
        }
        let fail = |mut result: CreatableTopicResult, code: ErrorCode, message: String| {
            result.error_code = code.0;
            result.error_message = Some(StrBytes::from_string(message));
            result
        };
        if duplicated.contains(&name) {
            results.push(fail(
                result,
                ErrorCode::INVALID_REQUEST,
                format!(
                    "Create topics request from client contains multiple entries for topic {name}"
                ),
            ));
            continue;
        }
        let mut configs = BTreeMap::new();
        for config in &topic.configs {
            if let Some(value) = &config.value {
                configs.insert(config.name.to_string(), value.to_string());
            }
        }
        super::warn_deprecated_configs(shard.id, &name, configs.keys().map(String::as_str));
        let assignment = if topic.assignments.is_empty() {
            None
        } else {
            let mut assignments = topic.assignments.clone();
            assignments.sort_by_key(|assignment| assignment.partition_index);
            let consecutive = assignments
                .iter()
                .enumerate()
                .all(|(index, assignment)| assignment.partition_index == index as i32);
            let single_replica = assignments.iter().all(|assignment| {
                assignment.broker_ids.len() == 1 && assignment.broker_ids[0].0 >= 0
            });
            if !consecutive || !single_replica {
                results.push(fail(
                    result,
                    ErrorCode::INVALID_REPLICA_ASSIGNMENT,
                    "Each partition needs exactly one replica, partitions numbered from 0".into(),
                ));
                continue;
            }
            Some(
                assignments
                    .iter()
                    .map(|assignment| assignment.broker_ids[0].0 as u32)
                    .collect(),
            )
        };
        let command = Command::CreateTopic {
            name: name.clone(),
            partitions: topic.num_partitions,
            replication_factor: topic.replication_factor,
            assignment,
            configs,
            validate_only: request.validate_only,
        };
        match shard.submit(command).await {
            Ok(Some(created)) => {
                if version >= 5 {
                    result.num_partitions = created.placement.len() as i32;
                    result.replication_factor = 1;
                    result.configs = Some(
                        topic_config::effective(&created.configs, &shard.config.topic_defaults)
                            .into_iter()
                            .map(|(name, value, source)| {
                                CreatableTopicConfigs::default()
                                    .with_name(StrBytes::from_string(name))
                                    .with_value(Some(StrBytes::from_string(value)))
                                    .with_config_source(topic_config::source_code(source))
                            })
                            .collect(),
                    );
                }
                if version >= 7 {
                    result.topic_id = uuid::Uuid::from_bytes(created.id);
                }
                results.push(result);
            }
            Ok(None) => results.push(fail(
                result,
                ErrorCode::UNKNOWN_SERVER_ERROR,
                "topic vanished while being created".into(),
            )),
            Err(refused) => results.push(fail(result, refused.code, refused.message)),
        }
    }
    CreateTopicsResponse::default().with_topics(results)
}
