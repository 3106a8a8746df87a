//! `corelog topic describe NAME`: partitions with leader, replicas, ISR,
//! earliest and latest offsets, size on disk (DescribeLogDirs, where the
//! broker serves it), then every config with its source.

use std::collections::BTreeMap;

use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
use kafka_protocol::messages::{ApiKey, DescribeConfigsRequest, DescribeLogDirsRequest};
use serde_json::{json, Value};

use super::client::{text, topic_name, Cluster};
use super::offsets::{list_offsets, EARLIEST, LATEST};
use super::output::{emit, ids, or_dash, Table};
use super::{check, empty, Format, ToolError, RESOURCE_TOPIC};

struct Partition {
    index: i32,
    leader: i32,
    replicas: Vec<i32>,
    isr: Vec<i32>,
    earliest: Option<i64>,
    latest: Option<i64>,
    size: Option<i64>,
}

struct Config {
    name: String,
    value: Option<String>,
    source: &'static str,
    read_only: bool,
    sensitive: bool,
}

pub fn run(cluster: &mut Cluster, name: &str, format: Format) -> Result<(), ToolError> {
    let mut partitions = partitions(cluster, name)?;
    let leaders: BTreeMap<i32, i32> = partitions.iter().map(|p| (p.index, p.leader)).collect();
    let earliest = list_offsets(cluster, name, &leaders, EARLIEST)?;
    let latest = list_offsets(cluster, name, &leaders, LATEST)?;
    let sizes = sizes(cluster, name, &leaders)?;
    for partition in &mut partitions {
        partition.earliest = earliest.get(&partition.index).copied();
        partition.latest = latest.get(&partition.index).copied();
        partition.size = sizes
            .as_ref()
            .and_then(|sizes| sizes.get(&partition.index).copied());
    }
    let configs = configs(cluster, name)?;
    emit(
        format,
        || render(name, &partitions, sizes.is_some(), &configs),
        || {
            json!({
                "topic": name,
                "sizes_available": sizes.is_some(),
                "partitions": partitions.iter().map(|p| json!({
                    "partition": p.index, "leader": p.leader, "replicas": p.replicas,
                    "isr": p.isr, "earliest_offset": p.earliest, "latest_offset": p.latest,
                    "size_bytes": p.size,
                })).collect::<Vec<Value>>(),
                "configs": configs.iter().map(|c| json!({
                    "name": c.name, "value": c.value, "source": c.source,
                    "read_only": c.read_only, "sensitive": c.sensitive,
                })).collect::<Vec<Value>>(),
            })
        },
    )
}

fn render(name: &str, partitions: &[Partition], sized: bool, configs: &[Config]) -> String {
    let mut out = format!("topic {name}: {} partitions\n\n", partitions.len());
    let mut table = Table::new(&[
        "PARTITION",
        "LEADER",
        "REPLICAS",
        "ISR",
        "EARLIEST",
        "LATEST",
        "SIZE",
    ]);
    for p in partitions {
        table.row(vec![
            p.index.to_string(),
            p.leader.to_string(),
            ids(&p.replicas),
            ids(&p.isr),
            or_dash(p.earliest),
            or_dash(p.latest),
            or_dash(p.size),
        ]);
    }
    out.push_str(&table.render());
    if !sized {
        out.push_str("(sizes not shown: the broker does not serve DescribeLogDirs)\n");
    }
    out.push('\n');
    let mut table = Table::new(&["CONFIG", "VALUE", "SOURCE"]);
    for config in configs {
        let value = match (&config.value, config.sensitive) {
            (_, true) => "(sensitive)".to_string(),
            (Some(value), false) => value.clone(),
            (None, false) => "-".to_string(),
        };
        table.row(vec![config.name.clone(), value, config.source.to_string()]);
    }
    out.push_str(&table.render());
    out
}

fn partitions(cluster: &mut Cluster, name: &str) -> Result<Vec<Partition>, ToolError> {
    let metadata = cluster.metadata(Some(&[name.to_string()]))?;
    let topic = metadata
        .topics
        .iter()
        .find(|topic| topic.name.as_ref().is_some_and(|n| n.0.as_str() == name))
        .ok_or_else(|| empty("Metadata"))?;
    check(|| format!("topic {name}"), topic.error_code, None)?;
    let mut partitions: Vec<Partition> = topic
        .partitions
        .iter()
        .map(|p| Partition {
            index: p.partition_index,
            leader: p.leader_id.0,
            replicas: p.replica_nodes.iter().map(|id| id.0).collect(),
            isr: p.isr_nodes.iter().map(|id| id.0).collect(),
            earliest: None,
            latest: None,
            size: None,
        })
        .collect();
    partitions.sort_by_key(|p| p.index);
    Ok(partitions)
}

/// Bytes on disk of each partition's leader replica, or None when a
/// leader does not serve DescribeLogDirs (older Kafka-compatible brokers).
fn sizes(
    cluster: &mut Cluster,
    name: &str,
    leaders: &BTreeMap<i32, i32>,
) -> Result<Option<BTreeMap<i32, i64>>, ToolError> {
    let mut by_leader: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for (&partition, &leader) in leaders {
        by_leader.entry(leader).or_default().push(partition);
    }
    let mut sizes = BTreeMap::new();
    for (leader, partitions) in by_leader {
        let connection = cluster.node(leader)?;
        if !connection.serves(ApiKey::DescribeLogDirs) {
            return Ok(None);
        }
        let request = DescribeLogDirsRequest::default().with_topics(Some(vec![
            DescribableLogDirTopic::default()
                .with_topic(topic_name(name))
                .with_partitions(partitions.clone()),
        ]));
        let (_, response) = connection.send(&request, 4)?;
        check(|| "DescribeLogDirs".into(), response.error_code, None)?;
        for directory in response.results.iter().filter(|d| d.error_code == 0) {
            for topic in directory
                .topics
                .iter()
                .filter(|t| t.name.0.as_str() == name)
            {
                for partition in &topic.partitions {
                    if partitions.contains(&partition.partition_index) && !partition.is_future_key {
                        *sizes.entry(partition.partition_index).or_insert(0) +=
                            partition.partition_size;
                    }
                }
            }
        }
    }
    Ok(Some(sizes))
}

fn configs(cluster: &mut Cluster, name: &str) -> Result<Vec<Config>, ToolError> {
    let request =
        DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(RESOURCE_TOPIC)
            .with_resource_name(text(name))
            .with_configuration_keys(None)]);
    let (version, response) = cluster.any().send(&request, 4)?;
    let result = response
        .results
        .first()
        .ok_or_else(|| empty("DescribeConfigs"))?;
    check(
        || format!("DescribeConfigs for topic {name}"),
        result.error_code,
        result.error_message.as_deref(),
    )?;
    let mut configs: Vec<Config> = result
        .configs
        .iter()
        .map(|config| Config {
            name: config.name.as_str().to_string(),
            value: config
                .value
                .as_ref()
                .map(|value| value.as_str().to_string()),
            // v0 carries no source: shown as UNKNOWN.
            source: if version == 0 {
                "UNKNOWN"
            } else {
                source_name(config.config_source)
            },
            read_only: config.read_only,
            sensitive: config.is_sensitive,
        })
        .collect();
    configs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(configs)
}

/// Kafka's names for DescribeConfigs' config sources.
pub fn source_name(source: i8) -> &'static str {
    match source {
        1 => "DYNAMIC_TOPIC_CONFIG",
        2 => "DYNAMIC_BROKER_CONFIG",
        3 => "DYNAMIC_DEFAULT_BROKER_CONFIG",
        4 => "STATIC_BROKER_CONFIG",
        5 => "DEFAULT_CONFIG",
        6 => "DYNAMIC_BROKER_LOGGER_CONFIG",
        7 => "CLIENT_METRICS_CONFIG",
        8 => "GROUP_CONFIG",
        _ => "UNKNOWN",
    }
}
