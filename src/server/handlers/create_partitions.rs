//! CreatePartitions (key 37), v0-v3: add partitions to a topic.

use std::ops::RangeInclusive;

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::metadata::Command;
use crate::protocol::ErrorCode;
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 0..=3;

pub async fn handle(
    _context: &RequestContext,
    shard: &Shard,
    request: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let mut result = CreatePartitionsTopicResult::default().with_name(topic.name.clone());
        // Null (and an empty list, which some clients send) leaves placement
        // to the broker.
        let assignment = match &topic.assignments {
            None => Ok(None),
            Some(assignments) if assignments.is_empty() => Ok(None),
            Some(assignments) => {
                if assignments.iter().all(|assignment| {
                    !assignment.broker_ids.is_empty()
                        && assignment.broker_ids.iter().all(|id| id.0 >= 0)
                }) {
                    Ok(Some(
                        assignments
                            .iter()
                            .map(|assignment| {
                                assignment.broker_ids.iter().map(|id| id.0 as u32).collect()
                            })
                            .collect(),
                    ))
                } else {
                    Err((
                        ErrorCode::INVALID_REPLICA_ASSIGNMENT,
                        "Each new partition needs one or more replicas".to_string(),
                    ))
                }
            }
        };
        let outcome = match assignment {
            Err(refused) => Err(refused),
            Ok(assignment) => shard
                .metadata
                .submit(Command::CreatePartitions {
                    name: topic.name.0.to_string(),
                    count: topic.count,
                    assignment,
                    validate_only: request.validate_only,
                })
                .await
                .map_err(|refused| (refused.code, refused.message)),
        };
        if let Err((code, message)) = outcome {
            result.error_code = code.0;
            result.error_message = Some(StrBytes::from_string(message));
        }
        results.push(result);
    }
    CreatePartitionsResponse::default().with_results(results)
}
