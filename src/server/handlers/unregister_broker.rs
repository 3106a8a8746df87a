//! UnregisterBroker (key 64), v0: a decommissioned host leaves the cluster
//! (`Command::RemoveHost`). Brokers are shards here, so naming any broker
//! of a host removes the host, all its shards; refused while it still
//! holds a replica (reassign its partitions first).

use std::ops::RangeInclusive;

use kafka_protocol::messages::{UnregisterBrokerRequest, UnregisterBrokerResponse};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::metadata::{host_of, Command};
use crate::protocol::ErrorCode;
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 0..=0;

pub async fn handle(
    _context: &RequestContext,
    shard: &Shard,
    request: UnregisterBrokerRequest,
) -> UnregisterBrokerResponse {
    let response = UnregisterBrokerResponse::default().with_error_message(None);
    let Ok(broker) = u32::try_from(request.broker_id.0) else {
        return response
            .with_error_code(ErrorCode::BROKER_NOT_AVAILABLE.0)
            .with_error_message(Some(StrBytes::from_static_str("no such broker")));
    };
    let node_id = host_of(broker);
    match shard.metadata.submit(Command::RemoveHost { node_id }).await {
        Ok(_) => {
            tracing::info!("host {node_id} (broker {broker}) unregistered");
            response
        }
        Err(refused) => response
            .with_error_code(refused.code.0)
            .with_error_message(Some(StrBytes::from_string(refused.message))),
    }
}
