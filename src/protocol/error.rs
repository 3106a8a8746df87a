//! Kafka wire error codes: the numbers clients act on, one comment each.
//!
//! Internal failures are typed where they happen (storage, metadata) and are
//! mapped to one of these explicitly, at the handler that answers the client.

/// A Kafka `ErrorCode` as it goes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode(pub i16);

impl ErrorCode {
    /// The broker failed in a way no other code describes.
    pub const UNKNOWN_SERVER_ERROR: ErrorCode = ErrorCode(-1);
    /// No error.
    pub const NONE: ErrorCode = ErrorCode(0);
    /// Requested offset is below the log start offset or above the log end offset.
    pub const OFFSET_OUT_OF_RANGE: ErrorCode = ErrorCode(1);
    /// The batch failed its CRC or header checks.
    pub const CORRUPT_MESSAGE: ErrorCode = ErrorCode(2);
    /// The topic or partition does not exist on this cluster.
    pub const UNKNOWN_TOPIC_OR_PARTITION: ErrorCode = ErrorCode(3);
    /// The partition has no leader right now (its leader's host is down).
    pub const LEADER_NOT_AVAILABLE: ErrorCode = ErrorCode(5);
    /// This node is not the leader of the partition; clients refresh metadata.
    pub const NOT_LEADER_OR_FOLLOWER: ErrorCode = ErrorCode(6);
    /// No broker is available for the request (none to place partitions on).
    pub const BROKER_NOT_AVAILABLE: ErrorCode = ErrorCode(8);
    /// The request did not complete in time.
    pub const REQUEST_TIMED_OUT: ErrorCode = ErrorCode(7);
    /// A batch is larger than the topic's `max.message.bytes`.
    pub const MESSAGE_TOO_LARGE: ErrorCode = ErrorCode(10);
    /// The topic name is not legal.
    pub const INVALID_TOPIC_EXCEPTION: ErrorCode = ErrorCode(17);
    /// Produce `acks` is not one of 0, 1, -1.
    pub const INVALID_REQUIRED_ACKS: ErrorCode = ErrorCode(21);
    /// The API version is not supported (ApiVersions answers this in a v0 body).
    pub const UNSUPPORTED_VERSION: ErrorCode = ErrorCode(35);
    /// This broker's host is not part of the metadata quorum's majority
    /// (or the quorum has no leader): a metadata change cannot be made now.
    pub const NOT_CONTROLLER: ErrorCode = ErrorCode(41);
    /// A topic of that name already exists.
    pub const TOPIC_ALREADY_EXISTS: ErrorCode = ErrorCode(36);
    /// Partition count is not positive or not larger than the current one.
    pub const INVALID_PARTITIONS: ErrorCode = ErrorCode(37);
    /// Replication factor other than 1 or -1 on this single-node cluster.
    pub const INVALID_REPLICATION_FACTOR: ErrorCode = ErrorCode(38);
    /// Replica assignment given by the client is not valid.
    pub const INVALID_REPLICA_ASSIGNMENT: ErrorCode = ErrorCode(39);
    /// A topic config name or value is not valid.
    pub const INVALID_CONFIG: ErrorCode = ErrorCode(40);
    /// The request is malformed in a way its schema cannot express.
    pub const INVALID_REQUEST: ErrorCode = ErrorCode(42);
    /// The record format (magic) is not supported.
    pub const UNSUPPORTED_FOR_MESSAGE_FORMAT: ErrorCode = ErrorCode(43);
    /// An idempotent producer's sequence number skipped ahead of its last batch.
    pub const OUT_OF_ORDER_SEQUENCE_NUMBER: ErrorCode = ErrorCode(45);
    /// The producer's epoch is older than the partition's current one: fenced.
    pub const INVALID_PRODUCER_EPOCH: ErrorCode = ErrorCode(47);
    /// The partition's log could not be read or written.
    pub const KAFKA_STORAGE_ERROR: ErrorCode = ErrorCode(56);
    /// The request's leader epoch is older than the leader's: refresh metadata.
    pub const FENCED_LEADER_EPOCH: ErrorCode = ErrorCode(74);
    /// The request's leader epoch is newer than the leader's: retry later.
    pub const UNKNOWN_LEADER_EPOCH: ErrorCode = ErrorCode(75);
    /// A new leader's high watermark has not yet reached the start of its
    /// epoch, so offsets could appear to go back; retry (KIP-207).
    pub const OFFSET_NOT_AVAILABLE: ErrorCode = ErrorCode(78);
    /// The offset metadata string is longer than `offset.metadata.max.bytes`.
    pub const OFFSET_METADATA_TOO_LARGE: ErrorCode = ErrorCode(12);
    /// The group's offsets partition is still being loaded; retry.
    pub const COORDINATOR_LOAD_IN_PROGRESS: ErrorCode = ErrorCode(14);
    /// No coordinator can serve the group right now; retry.
    pub const COORDINATOR_NOT_AVAILABLE: ErrorCode = ErrorCode(15);
    /// This node does not coordinate the group; ask FindCoordinator again.
    pub const NOT_COORDINATOR: ErrorCode = ErrorCode(16);
    /// The generation in the request is not the group's current one.
    pub const ILLEGAL_GENERATION: ErrorCode = ErrorCode(22);
    /// The member's protocol type or protocols do not match the group's.
    pub const INCONSISTENT_GROUP_PROTOCOL: ErrorCode = ErrorCode(23);
    /// The group id is empty or otherwise unusable.
    pub const INVALID_GROUP_ID: ErrorCode = ErrorCode(24);
    /// The coordinator does not know this member id.
    pub const UNKNOWN_MEMBER_ID: ErrorCode = ErrorCode(25);
    /// The session timeout is outside the broker's allowed range.
    pub const INVALID_SESSION_TIMEOUT: ErrorCode = ErrorCode(26);
    /// The group is rebalancing: rejoin.
    pub const REBALANCE_IN_PROGRESS: ErrorCode = ErrorCode(27);
    /// The commit is too large for the offsets log.
    pub const INVALID_COMMIT_OFFSET_SIZE: ErrorCode = ErrorCode(28);
    /// The group still has members, so it cannot be deleted.
    pub const NON_EMPTY_GROUP: ErrorCode = ErrorCode(68);
    /// The group does not exist.
    pub const GROUP_ID_NOT_FOUND: ErrorCode = ErrorCode(69);
    /// JoinGroup v4+: join again with the member id in this response.
    pub const MEMBER_ID_REQUIRED: ErrorCode = ErrorCode(79);
    /// The group has `group.max.size` members already.
    pub const GROUP_MAX_SIZE_REACHED: ErrorCode = ErrorCode(81);
    /// A newer member with the same `group.instance.id` replaced this one.
    pub const FENCED_INSTANCE_ID: ErrorCode = ErrorCode(82);
    /// The group consumes this topic, so its offsets cannot be deleted.
    pub const GROUP_SUBSCRIBED_TO_TOPIC: ErrorCode = ErrorCode(86);
    /// A record inside a batch is invalid (counts, control or transactional flags).
    pub const INVALID_RECORD: ErrorCode = ErrorCode(87);
    /// The fetch session the client named does not exist (corelog keeps none).
    pub const FETCH_SESSION_ID_NOT_FOUND: ErrorCode = ErrorCode(70);
    /// No topic with that id exists.
    pub const UNKNOWN_TOPIC_ID: ErrorCode = ErrorCode(100);
    /// The compression codec of a message set is not one this broker can
    /// convert (lz4 and zstd magic 0/1 sets).
    pub const UNSUPPORTED_COMPRESSION_TYPE: ErrorCode = ErrorCode(76);
    /// KIP-848: the member epoch is fenced; the member drops its partitions
    /// and rejoins with epoch 0.
    pub const FENCED_MEMBER_EPOCH: ErrorCode = ErrorCode(110);
    /// KIP-848: another member of the consumer group uses this instance id.
    pub const UNRELEASED_INSTANCE_ID: ErrorCode = ErrorCode(111);
    /// KIP-848: the named server-side assignor is not one this broker has.
    pub const UNSUPPORTED_ASSIGNOR: ErrorCode = ErrorCode(112);
    /// KIP-848: an offset request carries an epoch other than the member's
    /// current one; the member retries once its heartbeat brought the new one.
    pub const STALE_MEMBER_EPOCH: ErrorCode = ErrorCode(113);
    /// KIP-848: a regular-expression subscription this broker cannot evaluate.
    pub const INVALID_REGULAR_EXPRESSION: ErrorCode = ErrorCode(128);
}
