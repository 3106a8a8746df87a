//! DeleteTopics (key 20), v1-v6 (v6 names topics by name or by id).

use std::ops::RangeInclusive;

use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::metadata::Command;
use crate::protocol::ErrorCode;
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 1..=6;

pub async fn handle(
    shard: &Shard,
    request: DeleteTopicsRequest,
    version: i16,
) -> DeleteTopicsResponse {
    let wanted: Vec<(Option<String>, uuid::Uuid)> = if version >= 6 {
        request
            .topics
            .iter()
            .map(|topic| {
                (
                    topic.name.as_ref().map(|name| name.0.to_string()),
                    topic.topic_id,
                )
            })
            .collect()
    } else {
        request
            .topic_names
            .iter()
            .map(|name| (Some(name.0.to_string()), uuid::Uuid::nil()))
            .collect()
    };
    let mut responses = Vec::with_capacity(wanted.len());
    for (name, topic_id) in wanted {
        let mut result = DeletableTopicResult::default();
        let name = match name {
            Some(name) => Some(name),
            None => shard
                .snapshot()
                .topic_by_id(topic_id.as_bytes())
                .map(|topic| topic.name.clone()),
        };
        let outcome = match &name {
            None => Err((
                ErrorCode::UNKNOWN_TOPIC_ID,
                "This server does not host this topic ID.".to_string(),
            )),
            Some(name) => shard
                .submit(Command::DeleteTopic { name: name.clone() })
                .await
                .map_err(|refused| (refused.code, refused.message)),
        };
        result.name = name.map(|name| TopicName(StrBytes::from_string(name)));
        if version >= 6 {
            result.topic_id = topic_id;
        }
        if let Err((code, message)) = outcome {
            result.error_code = code.0;
            if version >= 5 {
                result.error_message = Some(StrBytes::from_string(message));
            }
        }
        responses.push(result);
    }
    DeleteTopicsResponse::default().with_responses(responses)
}
