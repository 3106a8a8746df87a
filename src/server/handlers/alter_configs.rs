//! AlterConfigs (key 33), v0-v2, and IncrementalAlterConfigs (key 44),
//! v0-v1: change a topic's configs through the controller, so every shard
//! applies them (retention, segment size, timestamps) at once. AlterConfigs
//! replaces the topic's whole set; the incremental form sets, deletes,
//! appends to or subtracts from single configs. Broker configs are fixed at
//! start and cannot be altered.
//!
//! Invariants: one response per resource, in request order; a topic's
//! configs change only through the controller, all of them at once, and
//! not at all with `validate_only`; a broker resource is refused.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use kafka_protocol::messages::alter_configs_request::AlterConfigsResource;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::incremental_alter_configs_request::AlterConfigsResource as IncrementalResource;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse as IncrementalResourceResponse;
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::describe_configs::{RESOURCE_BROKER, RESOURCE_TOPIC};
use super::RequestContext;
use crate::metadata::{topic_config, Command};
use crate::protocol::ErrorCode;
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 0..=2;
pub const INCREMENTAL_VERSIONS: RangeInclusive<i16> = 0..=1;

const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

type Refusal = (ErrorCode, String);

pub async fn handle(
    _context: &RequestContext,
    shard: &Shard,
    request: AlterConfigsRequest,
) -> AlterConfigsResponse {
    let mut responses = Vec::with_capacity(request.resources.len());
    for resource in request.resources {
        let (code, message) = split(replace(shard, &resource, request.validate_only).await);
        responses.push(
            AlterConfigsResourceResponse::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name)
                .with_error_code(code.0)
                .with_error_message(message),
        );
    }
    AlterConfigsResponse::default().with_responses(responses)
}

/// AlterConfigs: the topic's configs become the resource's (a null value
/// sets nothing).
async fn replace(
    shard: &Shard,
    resource: &AlterConfigsResource,
    validate_only: bool,
) -> Result<(), Refusal> {
    check_resource(resource.resource_type)?;
    let configs: BTreeMap<String, String> = resource
        .configs
        .iter()
        .filter_map(|config| {
            config
                .value
                .as_ref()
                .map(|value| (config.name.to_string(), value.to_string()))
        })
        .collect();
    super::warn_deprecated_configs(
        shard.id,
        &resource.resource_name,
        configs.keys().map(String::as_str),
    );
    submit(shard, &resource.resource_name, configs, validate_only).await
}

pub async fn handle_incremental(
    _context: &RequestContext,
    shard: &Shard,
    request: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let mut responses = Vec::with_capacity(request.resources.len());
    for resource in request.resources {
        let outcome = alter_incrementally(shard, &resource, request.validate_only).await;
        let (code, message) = split(outcome);
        responses.push(
            IncrementalResourceResponse::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name)
                .with_error_code(code.0)
                .with_error_message(message),
        );
    }
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

/// IncrementalAlterConfigs: each change applied to the topic's current
/// configs.
async fn alter_incrementally(
    shard: &Shard,
    resource: &IncrementalResource,
    validate_only: bool,
) -> Result<(), Refusal> {
    check_resource(resource.resource_type)?;
    let changes: Vec<(String, i8, Option<String>)> = resource
        .configs
        .iter()
        .map(|config| {
            (
                config.name.to_string(),
                config.config_operation,
                config.value.as_ref().map(|value| value.to_string()),
            )
        })
        .collect();
    super::warn_deprecated_configs(
        shard.id,
        &resource.resource_name,
        changes
            .iter()
            .filter(|(_, operation, _)| *operation != DELETE)
            .map(|(name, _, _)| name.as_str()),
    );
    let current = shard
        .metadata
        .snapshot()
        .topic(&resource.resource_name)
        .map(|topic| topic.configs.clone())
        .unwrap_or_default();
    let configs = apply_incremental(current, &changes)?;
    submit(shard, &resource.resource_name, configs, validate_only).await
}

fn check_resource(resource_type: i8) -> Result<(), Refusal> {
    match resource_type {
        RESOURCE_TOPIC => Ok(()),
        RESOURCE_BROKER => Err((
            ErrorCode::INVALID_REQUEST,
            "broker configs are set by command-line flags and cannot be altered".into(),
        )),
        _ => Err((
            ErrorCode::INVALID_REQUEST,
            "unsupported resource type".into(),
        )),
    }
}

fn split(outcome: Result<(), Refusal>) -> (ErrorCode, Option<StrBytes>) {
    match outcome {
        Ok(()) => (ErrorCode::NONE, None),
        Err((code, message)) => (code, Some(StrBytes::from_string(message))),
    }
}

async fn submit(
    shard: &Shard,
    name: &str,
    configs: BTreeMap<String, String>,
    validate_only: bool,
) -> Result<(), Refusal> {
    shard
        .metadata
        .submit(Command::SetTopicConfigs {
            name: name.to_string(),
            configs,
            validate_only,
        })
        .await
        .map(|_| ())
        .map_err(|refused| (refused.code, refused.message))
}

/// The topic's configs after the changes, each (name, operation, value).
fn apply_incremental(
    mut configs: BTreeMap<String, String>,
    changes: &[(String, i8, Option<String>)],
) -> Result<BTreeMap<String, String>, Refusal> {
    let mut seen = std::collections::HashSet::new();
    for (name, operation, value) in changes {
        if !seen.insert(name.clone()) {
            return Err((
                ErrorCode::INVALID_REQUEST,
                format!("Config {name} appears more than once"),
            ));
        }
        let value = value.clone().unwrap_or_default();
        match *operation {
            SET => {
                configs.insert(name.clone(), value);
            }
            DELETE => {
                configs.remove(name);
            }
            APPEND | SUBTRACT => {
                if !topic_config::is_list(name) {
                    return Err((
                        ErrorCode::INVALID_CONFIG,
                        format!("Config {name} is not a list, so it cannot be appended to or subtracted from"),
                    ));
                }
                let current = configs
                    .get(name)
                    .cloned()
                    .or_else(|| topic_config::default_of(name).map(str::to_string))
                    .unwrap_or_default();
                let mut items: Vec<String> = current
                    .split(',')
                    .map(|item| item.trim().to_string())
                    .filter(|item| !item.is_empty())
                    .collect();
                for item in value
                    .split(',')
                    .map(str::trim)
                    .filter(|item| !item.is_empty())
                {
                    if *operation == APPEND {
                        if !items.iter().any(|existing| existing == item) {
                            items.push(item.to_string());
                        }
                    } else {
                        items.retain(|existing| existing != item);
                    }
                }
                configs.insert(name.clone(), items.join(","));
            }
            other => {
                return Err((
                    ErrorCode::INVALID_REQUEST,
                    format!("Unknown config operation {other}"),
                ))
            }
        }
    }
    Ok(configs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incremental_changes_set_delete_append_and_subtract() {
        let mut configs = BTreeMap::new();
        configs.insert("retention.ms".to_string(), "1000".to_string());
        let changed = apply_incremental(
            configs,
            &[
                ("retention.ms".into(), DELETE, None),
                ("retention.bytes".into(), SET, Some("4096".into())),
                ("cleanup.policy".into(), APPEND, Some("delete".into())),
            ],
        )
        .unwrap();
        assert_eq!(changed.get("retention.ms"), None);
        assert_eq!(changed.get("retention.bytes").unwrap(), "4096");
        assert_eq!(changed.get("cleanup.policy").unwrap(), "delete");
        assert!(apply_incremental(
            BTreeMap::new(),
            &[("retention.ms".into(), APPEND, Some("1".into()))]
        )
        .is_err());
        assert!(apply_incremental(BTreeMap::new(), &[("retention.ms".into(), 9, None)]).is_err());
        let twice = [("a".to_string(), SET, None), ("a".to_string(), SET, None)];
        assert!(apply_incremental(BTreeMap::new(), &twice).is_err());
    }
}
