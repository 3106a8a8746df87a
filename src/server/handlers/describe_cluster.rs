//! DescribeCluster (key 60), v0-v2: the cluster id, a controller, and every
//! broker clients may use (each shard of each live host), with v2's
//! fenced brokers when asked. Admin clients (kafka-cluster.sh, the Java
//! admin's describeCluster, `corelog cluster info`) call it.
//!
//! Invariants: the brokers listed are Metadata's (the same view); the
//! controller named is one of them; endpoint type 2 (controllers, KIP-919)
//! is refused with UNSUPPORTED_ENDPOINT_TYPE: the quorum listeners speak
//! corelog's own protocol, not Kafka's.

use std::ops::RangeInclusive;

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::protocol::ErrorCode;
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 0..=2;

/// KIP-919's endpoint types.
const ENDPOINT_TYPE_BROKERS: i8 = 1;

/// Kafka's UNSUPPORTED_ENDPOINT_TYPE.
const UNSUPPORTED_ENDPOINT_TYPE: ErrorCode = ErrorCode(115);

/// Kafka's "not requested" value for authorized operations.
const AUTHORIZED_OPERATIONS_UNSET: i32 = i32::MIN;

pub async fn handle(
    context: &RequestContext,
    shard: &Shard,
    request: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let mut response = DescribeClusterResponse::default()
        .with_cluster_id(StrBytes::from_string(
            shard.metadata.cluster_id().to_string(),
        ))
        .with_cluster_authorized_operations(AUTHORIZED_OPERATIONS_UNSET)
        .with_error_message(None);
    if context.version >= 1 {
        response.endpoint_type = ENDPOINT_TYPE_BROKERS;
        if request.endpoint_type != ENDPOINT_TYPE_BROKERS {
            response.error_code = UNSUPPORTED_ENDPOINT_TYPE.0;
            response.error_message = Some(StrBytes::from_static_str(
                "only the broker endpoints are described",
            ));
            response.controller_id = BrokerId(-1);
            return response;
        }
    }
    let live = shard.metadata.nodes();
    let mut brokers: Vec<DescribeClusterBroker> = live
        .iter()
        .map(|node| {
            DescribeClusterBroker::default()
                .with_broker_id(BrokerId(node.node_id))
                .with_host(StrBytes::from_string(node.host.clone()))
                .with_port(i32::from(node.port))
        })
        .collect();
    if context.version >= 2 && request.include_fenced_brokers {
        let snapshot = shard.metadata.snapshot();
        for host in snapshot.hosts.values().filter(|host| host.fenced) {
            for (index, &port) in host.ports.iter().enumerate() {
                brokers.push(
                    DescribeClusterBroker::default()
                        .with_broker_id(BrokerId(crate::metadata::broker_id(
                            host.node_id,
                            index as u32,
                        ) as i32))
                        .with_host(StrBytes::from_string(host.host.clone()))
                        .with_port(i32::from(port))
                        .with_is_fenced(true),
                );
            }
        }
    }
    // As in Metadata: any live broker takes admin requests to the quorum.
    response.controller_id = BrokerId(live.first().map_or(-1, |node| node.node_id));
    response.brokers = brokers;
    response
}
