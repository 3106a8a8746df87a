//! DeleteTopics (key 20), v0-v6: v1 adds the throttle time, v4 is
//! flexible, v5 adds error messages, v6 names topics by name or by id. v0
//! (Kafka 4.0 dropped it, so the codec does not know it) has v1's request
//! and a response without the throttle time, written here.

use std::ops::RangeInclusive;

use bytes::BufMut;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::legacy::{self, SameAs};
use super::RequestContext;
use crate::metadata::Command;
use crate::protocol::ErrorCode;
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 0..=6;

pub type Request = SameAs<DeleteTopicsRequest, 1>;

/// A DeleteTopics response of any supported version.
#[derive(Debug, Default)]
pub struct Response(pub DeleteTopicsResponse);

impl Response {
    /// v0: responses [name, error code].
    fn encode_v0(&self, out: &mut impl BufMut, _version: i16) {
        legacy::put_array_length(out, self.0.responses.len());
        for result in &self.0.responses {
            legacy::put_string(out, result.name.as_ref().map_or("", |name| &name.0));
            out.put_i16(result.error_code);
        }
    }
}

legacy::encodable_by_version!(Response, 1, 0, encode_v0);

pub async fn handle(context: &RequestContext, shard: &Shard, request: Request) -> Response {
    let version = context.version;
    Response(answer(shard, request.0, version).await)
}

async fn answer(shard: &Shard, request: DeleteTopicsRequest, version: i16) -> DeleteTopicsResponse {
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
                .metadata
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
                .metadata
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
