//! `corelog cluster info`: the brokers (node, host, port, rack), the
//! controller, the cluster id, and each broker's API version ranges;
//! `corelog cluster decommission` (see `decommission.rs`).

use std::collections::BTreeMap;

use kafka_protocol::messages::ApiKey;
use serde_json::{json, Value};

use super::client::Cluster;
use super::output::{emit, Table};
use super::{Connect, ToolError};

#[derive(clap::Args, Debug)]
pub struct ClusterArgs {
    #[command(flatten)]
    pub connect: Connect,
    #[command(subcommand)]
    pub command: ClusterCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum ClusterCommand {
    /// Brokers, controller, cluster id and API versions.
    Info,
    /// Move every replica off a host, then remove it from the cluster.
    Decommission(super::decommission::DecommissionArgs),
}

/// API key -> (min, max) version.
type Versions = BTreeMap<i16, (i16, i16)>;

struct Broker {
    node: i32,
    host: String,
    port: i32,
    rack: Option<String>,
    /// API key -> (min, max) this broker serves.
    versions: Versions,
}

pub fn run(args: ClusterArgs) -> Result<(), ToolError> {
    if let ClusterCommand::Decommission(decommission) = &args.command {
        return super::decommission::run(&args.connect, decommission);
    }
    let mut cluster = Cluster::connect(&args.connect.brokers)?;
    let metadata = cluster.metadata(Some(&[]))?;
    let cluster_id = metadata
        .cluster_id
        .as_ref()
        .map(|id| id.as_str().to_string());
    let controller = metadata.controller_id.0;
    let mut brokers = Vec::new();
    for broker in &metadata.brokers {
        let node = broker.node_id.0;
        let versions = cluster.node(node)?.versions.clone().into_iter().collect();
        brokers.push(Broker {
            node,
            host: broker.host.as_str().to_string(),
            port: broker.port,
            rack: broker.rack.as_ref().map(|rack| rack.as_str().to_string()),
            versions,
        });
    }
    brokers.sort_by_key(|broker| broker.node);
    emit(
        args.connect.format,
        || render(cluster_id.as_deref(), controller, &brokers),
        || {
            json!({
                "cluster_id": cluster_id,
                "controller": controller,
                "brokers": brokers.iter().map(|b| json!({
                    "node": b.node, "host": b.host, "port": b.port, "rack": b.rack,
                    "api_versions": b.versions.iter().map(|(key, (min, max))| json!({
                        "api": api_name(*key), "key": key, "min": min, "max": max,
                    })).collect::<Vec<Value>>(),
                })).collect::<Vec<Value>>(),
            })
        },
    )
}

fn render(cluster_id: Option<&str>, controller: i32, brokers: &[Broker]) -> String {
    let mut out = format!(
        "cluster id: {}\ncontroller: {controller}\n\n",
        cluster_id.unwrap_or("-")
    );
    let mut table = Table::new(&["NODE", "HOST", "PORT", "RACK", "CONTROLLER"]);
    for broker in brokers {
        table.row(vec![
            broker.node.to_string(),
            broker.host.clone(),
            broker.port.to_string(),
            broker.rack.clone().unwrap_or_else(|| "-".into()),
            if broker.node == controller { "yes" } else { "" }.to_string(),
        ]);
    }
    out.push_str(&table.render());
    // Brokers of one cluster usually serve the same versions: print each
    // distinct table once, naming the nodes that serve it.
    let mut distinct: Vec<(Vec<i32>, &Versions)> = Vec::new();
    for broker in brokers {
        match distinct
            .iter_mut()
            .find(|(_, versions)| *versions == &broker.versions)
        {
            Some((nodes, _)) => nodes.push(broker.node),
            None => distinct.push((vec![broker.node], &broker.versions)),
        }
    }
    for (nodes, versions) in distinct {
        out.push_str(&format!(
            "\nAPI versions of node {}:\n",
            super::output::ids(&nodes)
        ));
        let mut table = Table::new(&["API", "KEY", "MIN", "MAX"]);
        for (key, (min, max)) in versions {
            table.row(vec![
                api_name(*key),
                key.to_string(),
                min.to_string(),
                max.to_string(),
            ]);
        }
        out.push_str(&table.render());
    }
    out
}

/// Kafka's name of API `key`, or the number when the codec does not know it.
fn api_name(key: i16) -> String {
    match ApiKey::try_from(key) {
        Ok(api) => format!("{api:?}"),
        Err(()) => format!("api {key}"),
    }
}
