//! InitProducerId (key 22), v0-v5: gives an idempotent producer its id and
//! epoch 0. Transactions are not built: a transactional id gets
//! COORDINATOR_NOT_AVAILABLE, like FindCoordinator for transaction keys.
//! v3 adds the producer id and epoch to resume with (a new id is given, as
//! Kafka does for an idempotent producer); v4 and v5 only allow new errors
//! (PRODUCER_FENCED, TRANSACTION_ABORTABLE) that come with transactions.

use std::ops::RangeInclusive;

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use super::RequestContext;
use crate::protocol::ErrorCode;
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 0..=5;

pub async fn handle(
    _context: &RequestContext,
    shard: &Shard,
    request: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let refuse = |code: ErrorCode| {
        InitProducerIdResponse::default()
            .with_error_code(code.0)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    };
    if request
        .transactional_id
        .as_ref()
        .is_some_and(|id| !id.is_empty())
    {
        return refuse(ErrorCode::COORDINATOR_NOT_AVAILABLE);
    }
    match shard.producer_ids.allocate() {
        Ok(id) => InitProducerIdResponse::default()
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Err(error) => {
            tracing::error!(
                "shard {}: cannot reserve producer ids in {}: {error}",
                shard.id,
                shard.config.data_dir.display()
            );
            refuse(ErrorCode::UNKNOWN_SERVER_ERROR)
        }
    }
}
