//! `corelog topic create|list|describe|delete|alter-config|add-partitions`.

use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::{
    CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest,
    IncrementalAlterConfigsRequest, MetadataResponse,
};
use serde_json::{json, Value};

use super::client::{text, topic_name, Cluster};
use super::output::{emit, Table};
use super::{check, empty, Connect, ToolError, RESOURCE_TOPIC};

/// How long the broker may take for a topic change before it answers.
const TIMEOUT_MILLISECONDS: i32 = 30_000;

#[derive(clap::Args, Debug)]
pub struct TopicArgs {
    #[command(flatten)]
    pub connect: Connect,
    #[command(subcommand)]
    pub command: TopicCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum TopicCommand {
    /// Create a topic.
    Create {
        name: String,
        #[arg(long, default_value_t = 1)]
        partitions: i32,
        /// Replication factor.
        #[arg(long, short = 'r', default_value_t = 1)]
        replicas: i16,
        /// A topic config, key=value (repeatable).
        #[arg(long = "config", short = 'c', value_parser = key_value)]
        configs: Vec<(String, String)>,
    },
    /// List topics.
    List,
    /// Partitions, leaders, replicas, ISR, offsets, sizes and configs.
    Describe { name: String },
    /// Delete a topic.
    Delete { name: String },
    /// Set or delete topic configs.
    AlterConfig {
        name: String,
        /// key=value to set (repeatable).
        #[arg(long = "set", value_parser = key_value)]
        set: Vec<(String, String)>,
        /// key to delete, back to its default (repeatable).
        #[arg(long = "delete")]
        delete: Vec<String>,
    },
    /// Add partitions to a topic.
    AddPartitions {
        name: String,
        /// How many partitions to add.
        #[arg(long)]
        count: i32,
    },
}

/// Parses `key=value`.
pub fn key_value(argument: &str) -> Result<(String, String), String> {
    match argument.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("expected key=value, got {argument:?}")),
    }
}

pub fn run(args: TopicArgs) -> Result<(), ToolError> {
    let mut cluster = Cluster::connect(&args.connect.brokers)?;
    let format = args.connect.format;
    match args.command {
        TopicCommand::Create {
            name,
            partitions,
            replicas,
            configs,
        } => {
            create(&mut cluster, &name, partitions, replicas, &configs)?;
            emit(
                format,
                || {
                    format!("created topic {name} ({partitions} partitions, replication factor {replicas})\n")
                },
                || json!({"topic": name, "partitions": partitions, "replicas": replicas}),
            )
        }
        TopicCommand::List => list(&mut cluster, format),
        TopicCommand::Describe { name } => super::topic_describe::run(&mut cluster, &name, format),
        TopicCommand::Delete { name } => {
            delete(&mut cluster, &name)?;
            emit(
                format,
                || format!("deleted topic {name}\n"),
                || json!({"deleted": name}),
            )
        }
        TopicCommand::AlterConfig { name, set, delete } => {
            alter_config(&mut cluster, &name, &set, &delete)?;
            emit(
                format,
                || format!("altered configs of topic {name}\n"),
                || {
                    let set: serde_json::Map<String, Value> =
                        set.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
                    json!({"topic": name, "set": set, "deleted": delete})
                },
            )
        }
        TopicCommand::AddPartitions { name, count } => {
            let total = add_partitions(&mut cluster, &name, count)?;
            emit(
                format,
                || format!("topic {name} now has {total} partitions\n"),
                || json!({"topic": name, "partitions": total}),
            )
        }
    }
}

pub fn create(
    cluster: &mut Cluster,
    name: &str,
    partitions: i32,
    replicas: i16,
    configs: &[(String, String)],
) -> Result<(), ToolError> {
    let topic = CreatableTopic::default()
        .with_name(topic_name(name))
        .with_num_partitions(partitions)
        .with_replication_factor(replicas)
        .with_configs(
            configs
                .iter()
                .map(|(key, value)| {
                    CreatableTopicConfig::default()
                        .with_name(text(key.as_str()))
                        .with_value(Some(text(value.as_str())))
                })
                .collect(),
        );
    let request = CreateTopicsRequest::default()
        .with_topics(vec![topic])
        .with_timeout_ms(TIMEOUT_MILLISECONDS);
    // The controller answers CreateTopics; any broker forwards it (Kafka)
    // or is it (corelog).
    let (_, response) = cluster.any().send(&request, 7)?;
    let result = response
        .topics
        .first()
        .ok_or_else(|| empty("CreateTopics"))?;
    check(
        || format!("creating topic {name}"),
        result.error_code,
        result.error_message.as_deref(),
    )
}

fn list(cluster: &mut Cluster, format: super::Format) -> Result<(), ToolError> {
    let metadata = cluster.metadata(None)?;
    let mut topics: Vec<(String, usize, usize, bool)> = metadata
        .topics
        .iter()
        .map(|topic| {
            let name = topic
                .name
                .as_ref()
                .map_or("", |name| name.0.as_str())
                .to_string();
            let replicas = topic
                .partitions
                .first()
                .map_or(0, |p| p.replica_nodes.len());
            (name, topic.partitions.len(), replicas, topic.is_internal)
        })
        .collect();
    topics.sort();
    emit(
        format,
        || {
            let mut table = Table::new(&["TOPIC", "PARTITIONS", "REPLICAS", "INTERNAL"]);
            for (name, partitions, replicas, internal) in &topics {
                table.row(vec![
                    name.clone(),
                    partitions.to_string(),
                    replicas.to_string(),
                    internal.to_string(),
                ]);
            }
            table.render()
        },
        || {
            Value::Array(
                topics
                    .iter()
                    .map(|(name, partitions, replicas, internal)| {
                        json!({"topic": name, "partitions": partitions,
                               "replicas": replicas, "internal": internal})
                    })
                    .collect(),
            )
        },
    )
}

fn delete(cluster: &mut Cluster, name: &str) -> Result<(), ToolError> {
    let connection = cluster.any();
    let version = connection.version::<DeleteTopicsRequest>(6)?;
    let mut request = DeleteTopicsRequest::default().with_timeout_ms(TIMEOUT_MILLISECONDS);
    // Names in `topic_names` up to v5, in `topics` from v6.
    if version < 6 {
        request.topic_names = vec![topic_name(name)];
    } else {
        request.topics = vec![DeleteTopicState::default().with_name(Some(topic_name(name)))];
    }
    let response = connection.send_at(&request, version)?;
    let result = response
        .responses
        .first()
        .ok_or_else(|| empty("DeleteTopics"))?;
    check(
        || format!("deleting topic {name}"),
        result.error_code,
        result.error_message.as_deref(),
    )
}

fn alter_config(
    cluster: &mut Cluster,
    name: &str,
    set: &[(String, String)],
    delete: &[String],
) -> Result<(), ToolError> {
    if set.is_empty() && delete.is_empty() {
        return Err(ToolError::Usage(
            "alter-config needs --set k=v or --delete k".into(),
        ));
    }
    // Kafka's operations: 0 SET, 1 DELETE.
    let mut configs: Vec<AlterableConfig> = set
        .iter()
        .map(|(key, value)| {
            AlterableConfig::default()
                .with_name(text(key.as_str()))
                .with_config_operation(0)
                .with_value(Some(text(value.as_str())))
        })
        .collect();
    configs.extend(delete.iter().map(|key| {
        AlterableConfig::default()
            .with_name(text(key.as_str()))
            .with_config_operation(1)
            .with_value(None)
    }));
    let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(RESOURCE_TOPIC)
            .with_resource_name(text(name))
            .with_configs(configs),
    ]);
    let (_, response) = cluster.any().send(&request, 1)?;
    let result = response
        .responses
        .first()
        .ok_or_else(|| empty("IncrementalAlterConfigs"))?;
    check(
        || format!("altering configs of topic {name}"),
        result.error_code,
        result.error_message.as_deref(),
    )
}

/// Adds `count` partitions; returns the new total.
fn add_partitions(cluster: &mut Cluster, name: &str, count: i32) -> Result<i32, ToolError> {
    if count < 1 {
        return Err(ToolError::Usage("--count must be at least 1".into()));
    }
    let metadata = cluster.metadata(Some(&[name.to_string()]))?;
    let current = partition_count(&metadata, name)?;
    let total = current + count;
    let request = CreatePartitionsRequest::default()
        .with_topics(vec![CreatePartitionsTopic::default()
            .with_name(topic_name(name))
            .with_count(total)
            .with_assignments(None)])
        .with_timeout_ms(TIMEOUT_MILLISECONDS);
    let (_, response) = cluster.any().send(&request, 3)?;
    let result = response
        .results
        .first()
        .ok_or_else(|| empty("CreatePartitions"))?;
    check(
        || format!("adding partitions to topic {name}"),
        result.error_code,
        result.error_message.as_deref(),
    )?;
    Ok(total)
}

/// Partitions of `name` in `metadata`, or the topic's error.
pub fn partition_count(metadata: &MetadataResponse, name: &str) -> Result<i32, ToolError> {
    let topic = metadata
        .topics
        .iter()
        .find(|topic| topic.name.as_ref().is_some_and(|n| n.0.as_str() == name))
        .ok_or_else(|| ToolError::Usage(format!("topic {name} is not in the metadata")))?;
    check(|| format!("topic {name}"), topic.error_code, None)?;
    Ok(topic.partitions.len() as i32)
}
