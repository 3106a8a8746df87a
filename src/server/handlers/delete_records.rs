//! DeleteRecords (key 21), v0-v2: moves a partition's log start offset up;
//! records below it are no longer served, and whole segments below it are
//! deleted at once.

use std::ops::RangeInclusive;

use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use super::RequestContext;
use crate::protocol::ErrorCode;
use crate::shard::{retention, Route, Shard};

pub const VERSIONS: RangeInclusive<i16> = 0..=2;

/// Offset -1 asks for everything up to the high watermark.
const HIGH_WATERMARK: i64 = -1;

pub async fn handle(
    _context: &RequestContext,
    shard: &Shard,
    request: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
    let mut deleted_any = false;
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|wanted| {
                    let result = DeleteRecordsPartitionResult::default()
                        .with_partition_index(wanted.partition_index)
                        .with_low_watermark(-1);
                    if crate::metadata::is_internal(&topic.name.0) {
                        return result.with_error_code(ErrorCode::INVALID_TOPIC_EXCEPTION.0);
                    }
                    let partition = match shard
                        .partitions
                        .route(&topic.name.0, wanted.partition_index)
                    {
                        Route::Here(partition) => partition,
                        Route::Elsewhere(code) => return result.with_error_code(code.0),
                    };
                    let high_watermark = partition.high_watermark();
                    let offset = if wanted.offset == HIGH_WATERMARK {
                        high_watermark
                    } else {
                        wanted.offset
                    };
                    if offset < 0 || offset > high_watermark {
                        return result
                            .with_low_watermark(partition.log_start_offset())
                            .with_error_code(ErrorCode::OFFSET_OUT_OF_RANGE.0);
                    }
                    match partition.log().advance_log_start(offset) {
                        Ok(low_watermark) => {
                            deleted_any = true;
                            result.with_low_watermark(low_watermark)
                        }
                        Err(error) => {
                            tracing::error!(
                                "shard {}: cannot record the log start offset in {}: {error}",
                                shard.id,
                                partition.log().dir().display()
                            );
                            result.with_error_code(ErrorCode::KAFKA_STORAGE_ERROR.0)
                        }
                    }
                })
                .collect();
            DeleteRecordsTopicResult::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    if deleted_any {
        retention::enforce(shard);
    }
    DeleteRecordsResponse::default().with_topics(topics)
}
