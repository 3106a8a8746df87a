//! Every bound the broker enforces, in one place, unit last in each name.
//!
//! Invariants: nothing in the broker allocates, queues or accepts more than a
//! bound named here. Defaults follow Kafka's broker configs where Kafka has one
//! (the Kafka name is in the comment) so an operator recognises them.

/// Largest request frame accepted (`socket.request.max.bytes`). A larger
/// length prefix closes the connection before any of the frame is read.
pub const REQUEST_BYTES_MAX_DEFAULT: u32 = 100 * 1024 * 1024;

/// Largest record batch accepted by Produce (`message.max.bytes`, per topic
/// `max.message.bytes`): 1 MiB plus Kafka's 12-byte batch overhead allowance.
pub const MESSAGE_BYTES_MAX_DEFAULT: u32 = 1024 * 1024 + 12;

/// Default bytes of request frames one shard holds at once, being read or
/// waiting to be handled (`queued.max.request.bytes`, per shard; Kafka's
/// default is unbounded). A frame that does not fit waits before any of it
/// is allocated. Must be at least `socket.request.max.bytes`.
pub const QUEUED_REQUEST_BYTES_PER_SHARD_DEFAULT: u64 = 256 * 1024 * 1024;

/// Frames up to this size (everything but large produce requests) draw on a
/// pool of their own, so slow large frames never hold up small requests.
pub const REQUEST_BYTES_SMALL_MAX: usize = 64 * 1024;

/// The pool small frames draw on, per shard.
pub const REQUEST_BYTES_SMALL_PER_SHARD_MAX: usize = 32 * 1024 * 1024;

/// A frame's body is read, and its memory grown, this much at a time, so a
/// client that announces a large frame and sends little costs little.
pub const REQUEST_READ_CHUNK_BYTES: usize = 1024 * 1024;

/// Replies one connection may have waiting to be sent. Requests are handled
/// one at a time in order, but a Produce's reply waits for its sync while
/// the next requests are read and handled; past this many waiting replies,
/// reading pauses. Replies always go out in request order.
pub const INFLIGHT_REQUESTS_PER_CONNECTION_MAX: usize = 16;

/// Open client connections per shard (`max.connections`, per listener).
pub const CONNECTIONS_PER_SHARD_MAX: usize = 4096;

/// How long a client may take to send the rest of a frame once its length
/// arrived; a client that vanishes mid-request is closed after this.
pub const FRAME_BODY_TIMEOUT_MILLISECONDS: u64 = 30_000;

/// Most record bytes one Fetch response carries, whatever its `max_bytes`
/// asks (Kafka's broker `fetch.max.bytes`, 55 MiB). The first partition
/// with data still gets one whole batch, which `message.max.bytes` bounds.
pub const FETCH_RESPONSE_BYTES_MAX: u64 = 55 * 1024 * 1024;

/// Bytes that decompressing one old-format (magic 0/1) message set, or the
/// stored batches of one old-version fetch, may produce: a 1 MiB gzip
/// message can expand a thousandfold, and this stops it well before that
/// costs the shard its memory.
pub const LEGACY_DECOMPRESSED_BYTES_MAX: usize = 64 * 1024 * 1024;

/// Longest `max_wait_ms` a Fetch may park for, whatever the client asks.
pub const FETCH_WAIT_MILLISECONDS_MAX: u64 = 30_000;

/// Fetches one shard holds parked at once, waiting for `min_bytes` to
/// arrive (each holds a waker and its request until an append, its
/// `max_wait_ms` or its connection ends). A fetch that finds this many
/// parked is answered at once with what is there, as if its wait had
/// passed: clients fetch again, so a flood of long polls costs round trips,
/// not memory. Well above the connections a shard accepts, so it is reached
/// only when connections pipeline several fetches each.
pub const PARKED_FETCHES_PER_SHARD_MAX: usize = 16 * 1024;

/// Largest record the metadata log reads back at start; a longer length
/// prefix is a torn or corrupt frame, and replay stops there. One record
/// is one topic change: even `PARTITIONS_PER_TOPIC_MAX` placements and
/// every config take well under a megabyte.
pub const METADATA_RECORD_BYTES_MAX: usize = 16 * 1024 * 1024;

/// Largest frame of the quorum log (one Raft entry, a vote, a log id) or of
/// its snapshot file (the header, or one record of the state). An entry
/// holds one metadata change, a few records at most.
pub const QUORUM_FRAME_BYTES_MAX: usize = 4 * METADATA_RECORD_BYTES_MAX;

/// Entries the quorum applies between two snapshots; each snapshot lets the
/// log be purged, so this bounds the entries the quorum log keeps in memory
/// (together with `QUORUM_LOG_ENTRIES_KEPT_AFTER_SNAPSHOT`).
pub const QUORUM_SNAPSHOT_EVERY_ENTRIES: u64 = 1000;

/// Entries kept in the quorum log behind the last snapshot, so a follower a
/// little behind catches up from the log rather than a whole snapshot.
pub const QUORUM_LOG_ENTRIES_KEPT_AFTER_SNAPSHOT: u64 = 200;

/// Most entries the quorum log keeps in memory: past this (purges held
/// back, a snapshot failing) it warns once per
/// `QUORUM_LOG_ENTRIES_WARNING_EVERY` entries, since refusing an append
/// would stop the quorum.
pub const QUORUM_LOG_ENTRIES_MAX: usize = 100_000;

/// See `QUORUM_LOG_ENTRIES_MAX`.
pub const QUORUM_LOG_ENTRIES_WARNING_EVERY: usize = 10_000;

/// How often the quorum leader heartbeats its followers.
pub const QUORUM_HEARTBEAT_MILLISECONDS: u64 = 100;

/// A follower that hears no leader for a random time in this range stands
/// for election: several heartbeats, so one lost packet or a busy core
/// does not start one, and short enough that the quorum has a new leader
/// within a second or two of losing one.
pub const QUORUM_ELECTION_TIMEOUT_MIN_MILLISECONDS: u64 = 500;

/// See `QUORUM_ELECTION_TIMEOUT_MIN_MILLISECONDS`.
pub const QUORUM_ELECTION_TIMEOUT_MAX_MILLISECONDS: u64 = 1000;

/// How often a quorum voter checks whether it should stand for election
/// (`quorum/pre_vote.rs`): a fraction of the heartbeat, so an election
/// starts within that much of its timeout.
pub const QUORUM_ELECTION_CHECK_MILLISECONDS: u64 = 50;

/// How long the quorum leader waits for one snapshot chunk to be accepted.
pub const QUORUM_SNAPSHOT_CHUNK_TIMEOUT_MILLISECONDS: u64 = 2000;

/// Bytes read from a segment per scan step while looking for a batch.
pub const SEGMENT_SCAN_CHUNK_BYTES: usize = 64 * 1024;

/// Default segment size before a roll (`log.segment.bytes`).
pub const SEGMENT_BYTES_DEFAULT: u64 = 1024 * 1024 * 1024;

/// Default `segment.ms` of topics (`log.roll.ms`, Kafka's 7 days): a
/// segment this old rolls even when not full, so retention can delete it.
pub const SEGMENT_MILLISECONDS_DEFAULT: i64 = 7 * 24 * 60 * 60 * 1000;

/// Default `retention.ms` of topics (`log.retention.ms`, Kafka's 7 days).
pub const RETENTION_MILLISECONDS_DEFAULT: i64 = 7 * 24 * 60 * 60 * 1000;

/// Default interval between retention passes
/// (`log.retention.check.interval.ms`, Kafka's 5 minutes): data outlives
/// its retention by at most this much plus a segment's span.
pub const RETENTION_CHECK_INTERVAL_MILLISECONDS_DEFAULT: u64 = 300_000;

/// Smallest `segment.bytes` a topic may set (Kafka's own lower bound is
/// 14 bytes; a batch header is 61, so anything below this rolls every batch).
pub const SEGMENT_BYTES_MIN: u64 = 4096;

/// Bytes appended between two sparse index entries (`log.index.interval.bytes`).
pub const INDEX_INTERVAL_BYTES: u64 = 4096;

/// Largest segment file (offsets inside a segment are 32-bit like Kafka's index).
pub const SEGMENT_BYTES_MAX: u64 = i32::MAX as u64;

/// Partitions one topic may have.
pub const PARTITIONS_PER_TOPIC_MAX: i32 = 10_000;

/// Longest topic name (Kafka's limit: 249 characters).
pub const TOPIC_NAME_BYTES_MAX: usize = 249;

/// Queued cross-core messages per channel (metadata and snapshot installs).
pub const CROSS_CORE_QUEUE_MAX: usize = 64;

/// Storage IO memory each shard registers with io_uring.
pub const IO_MEMORY_PER_SHARD_BYTES: usize = 2 * 1024 * 1024;

/// Direct-IO alignment of segment writes.
pub const DIRECT_IO_ALIGNMENT_BYTES: usize = 4096;

/// Locked memory each shard's three io_uring rings take, on top of
/// `IO_MEMORY_PER_SHARD_BYTES`, when start-up works out the RLIMIT_MEMLOCK
/// it asks for (a generous estimate: the rings' own size is kernel-chosen).
pub const IO_RING_MEMORY_PER_SHARD_BYTES: u64 = 1024 * 1024;

/// The smallest RLIMIT_MEMLOCK glommio accepts before it will create rings;
/// below it start-up refuses with a sentence instead of a panic in a shard.
pub const MEMLOCK_BYTES_MIN: u64 = 512 * 1024;

/// Shards (cores) one process runs; node ids leave room for hosts later
/// (`node_id = host_id * 1024 + shard`).
pub const SHARDS_MAX: usize = 1024;

/// Hosts (`node.id` 0..1023) in one cluster: broker ids `H * 1024 + shard`
/// then stay below 2^20, well inside Kafka's i32 broker ids.
pub const NODES_MAX: u32 = 1024;

/// How often each host heartbeats the quorum leader (its lease), and how
/// often the leader checks leases. A host is fenced after
/// `broker.session.timeout.ms` without a heartbeat.
pub const HOST_HEARTBEAT_MILLISECONDS: u64 = 500;

/// `broker.session.timeout.ms`'s default, as Kafka's.
pub const BROKER_SESSION_TIMEOUT_MILLISECONDS_DEFAULT: u64 = 9_000;

/// `replica.lag.time.max.ms` by default (Kafka's): how long a follower may
/// fail to catch up with its leader before it leaves the ISR.
pub const REPLICA_LAG_TIME_MAX_MILLISECONDS_DEFAULT: u64 = 30_000;

/// Connections the quorum listener accepts at once (hosts of the cluster
/// and their forwarding links).
pub const QUORUM_CONNECTIONS_MAX: usize = 256;

/// How long a quorum RPC (a forwarded command, a heartbeat) may take
/// before the caller gives up and retries or answers an error.
pub const QUORUM_REQUEST_TIMEOUT_MILLISECONDS: u64 = 5_000;

/// How long a topic change (CreateTopics, CreatePartitions, DeleteTopics)
/// waits, once committed, for every live host to apply it before the
/// client is answered anyway: a client that reads Metadata from one host
/// and then asks a partition's leader on another must find the topic there
/// (librdkafka takes UNKNOWN_TOPIC_OR_PARTITION from ListOffsets as final).
/// Below the 5 s admin timeout of kafkajs, so a paused or unreachable host
/// that is not fenced yet slows the answer but never times it out.
pub const TOPIC_CHANGE_PROPAGATION_WAIT_MILLISECONDS: u64 = 3_000;

/// Consumer groups one shard coordinates; a new group beyond this gets
/// COORDINATOR_NOT_AVAILABLE and a log line.
pub const GROUPS_PER_SHARD_MAX: usize = 100_000;

/// Members (and members told MEMBER_ID_REQUIRED) of one group
/// (`group.max.size`; Kafka's default is unbounded).
pub const MEMBERS_PER_GROUP_MAX: usize = 1000;

/// Longest metadata string of a committed offset (`offset.metadata.max.bytes`).
pub const OFFSET_METADATA_BYTES_MAX: usize = 4096;

/// How often each shard checks group timers (session and rebalance
/// timeouts); a member expires at most this much after its deadline.
pub const GROUP_TICK_MILLISECONDS: u64 = 100;

/// Session timeout of KIP-848 consumer-group members
/// (`group.consumer.session.timeout.ms`, Kafka's default): a member not
/// heard from this long is fenced and its partitions reassigned.
pub const CONSUMER_GROUP_SESSION_TIMEOUT_MILLISECONDS: u64 = 45_000;

/// How often KIP-848 members are told to heartbeat
/// (`group.consumer.heartbeat.interval.ms`, Kafka's default): well inside
/// the session timeout, so a few lost heartbeats do not fence a member.
pub const CONSUMER_GROUP_HEARTBEAT_INTERVAL_MILLISECONDS: u64 = 5_000;

/// Default shortest session timeout a classic group member may ask for
/// (`group.min.session.timeout.ms`): shorter would expire members on a
/// garbage-collection pause of the client.
pub const GROUP_SESSION_TIMEOUT_MILLISECONDS_MIN_DEFAULT: u64 = 6_000;

/// Default longest session timeout a classic group member may ask for
/// (`group.max.session.timeout.ms`): a dead member holds its partitions at
/// most this long.
pub const GROUP_SESSION_TIMEOUT_MILLISECONDS_MAX_DEFAULT: u64 = 1_800_000;

/// Default wait of an empty group's first rebalance for more members
/// (`group.initial.rebalance.delay.ms`), so a consumer fleet starting
/// together rebalances once rather than once per member.
pub const GROUP_INITIAL_REBALANCE_DELAY_MILLISECONDS_DEFAULT: u64 = 3_000;

/// Bytes read per step while loading an offsets partition at start.
pub const OFFSETS_LOAD_CHUNK_BYTES: u64 = 1024 * 1024;

/// Partitions of the offsets topic when it is first created
/// (`offsets.topic.num.partitions`); fixed after that.
pub const OFFSETS_TOPIC_PARTITIONS_DEFAULT: i32 = 50;

/// `offsets.topic.replication.factor` (Kafka's default): replicas of
/// `__consumer_offsets`, or as many as hosts are live when fewer.
pub const OFFSETS_TOPIC_REPLICATION_FACTOR: usize = 3;

/// Segment size of the offsets topic (`offsets.topic.segment.bytes`).
pub const OFFSETS_TOPIC_SEGMENT_BYTES: u64 = 100 * 1024 * 1024;

/// Longest JoinGroup can wait for a rebalance, whatever the client asks
/// (`rebalance.timeout.ms` is an int; Kafka bounds it by the request timeout
/// of its clients).
pub const REBALANCE_TIMEOUT_MILLISECONDS_MAX: u64 = 30 * 60 * 1000;

/// Batches remembered per idempotent producer and partition, to recognise
/// retries (Kafka's clients keep at most 5 requests in flight).
pub const PRODUCER_BATCHES_REMEMBERED: usize = 5;

/// Idempotent producers remembered per partition; the idlest is forgotten
/// first (Kafka expires them after `producer.id.expiration.ms`).
pub const PRODUCERS_PER_PARTITION_MAX: usize = 10_000;

/// Producer ids a shard reserves on disk at a time, so ids never repeat
/// across restarts while costing one file write per block.
pub const PRODUCER_ID_BLOCK: u64 = 1000;

/// How often the interval flush policy's timer looks at `flush.ms`; a
/// shorter `flush.ms` is rounded up to this.
pub const FLUSH_TICK_MILLISECONDS: u64 = 10;

/// A failed accept (out of file descriptors, say) is retried after this,
/// doubling up to the maximum while failures go on.
pub const ACCEPT_BACKOFF_MILLISECONDS_MIN: u64 = 10;
pub const ACCEPT_BACKOFF_MILLISECONDS_MAX: u64 = 1000;

/// How long start-up waits for a listening address still in use (by the
/// socket of a process that just died) before giving up.
pub const BIND_RETRY_MILLISECONDS: u64 = 10_000;

/// Pause between two tries to bind an address still in use: short, since
/// the old socket usually goes within milliseconds.
pub const BIND_RETRY_INTERVAL_MILLISECONDS: u64 = 50;

/// How often each shard looks for the shutdown flag: a stop (SIGTERM)
/// begins at most this long after the signal.
pub const SHUTDOWN_CHECK_MILLISECONDS: u64 = 50;

/// Longest a host of a cluster waits, on SIGTERM or SIGINT, for the
/// quorum to move leadership off it (controlled shutdown) before it
/// closes its partitions anyway.
pub const CONTROLLED_SHUTDOWN_WAIT_MILLISECONDS: u64 = 5_000;

/// Allocations of at least this size get their own mmap (glibc's
/// `M_MMAP_THRESHOLD`). Above the largest request frame buffers and
/// direct-IO buffers commonly reach, so those come from the heap and are
/// reused instead of being faulted in and zeroed afresh each time.
pub const HEAP_MMAP_THRESHOLD_BYTES: i32 = 64 << 20;

/// Freed heap glibc keeps for reuse before returning it to the kernel
/// (`M_TRIM_THRESHOLD`): the memory the process holds beyond what is live
/// is bounded by this.
pub const HEAP_TRIM_THRESHOLD_BYTES: i32 = 256 << 20;

const _: () = assert!(SEGMENT_BYTES_DEFAULT <= SEGMENT_BYTES_MAX);
const _: () = assert!(SEGMENT_BYTES_MIN >= DIRECT_IO_ALIGNMENT_BYTES as u64);
const _: () = assert!(MESSAGE_BYTES_MAX_DEFAULT < REQUEST_BYTES_MAX_DEFAULT);
const _: () = assert!(INDEX_INTERVAL_BYTES > 0);
const _: () = assert!(QUEUED_REQUEST_BYTES_PER_SHARD_DEFAULT >= REQUEST_BYTES_MAX_DEFAULT as u64);
const _: () = assert!(REQUEST_BYTES_SMALL_MAX <= REQUEST_BYTES_SMALL_PER_SHARD_MAX);

/// Default bytes of recently appended batches each shard keeps in memory
/// for tailing consumers (`--tail-cache-bytes`). Direct-IO writes bypass
/// the page cache, so without this every tail fetch would read the disk.
pub const TAIL_CACHE_BYTES_PER_SHARD_DEFAULT: u64 = 256 * 1024 * 1024;

/// Pieces one `writev` sends at most (well below the kernel's IOV_MAX).
pub const WRITE_VECTOR_PIECES_MAX: usize = 256;

/// How long one sendfile turn on the blocking thread waits for room in a
/// slow client's socket before handing the thread back.
pub const SEND_FILE_SLICE_MILLISECONDS: u64 = 5;

/// Threads per shard for calls that may block on the disk (sendfile of
/// cold data), pinned to the shard's core: several, so one slow disk read
/// does not hold up every other connection's cold read.
pub const BLOCKING_THREADS_PER_SHARD: usize = 4;

/// Produce bytes a shard holds between reading a request and writing its
/// records: connections read on while earlier writes run, until this is
/// spent, then wait (backpressure to the producers).
pub const PRODUCE_BYTES_UNWRITTEN_PER_SHARD_MAX: usize = 256 * 1024 * 1024;

/// Default microseconds a shard keeps polling for work before it parks in
/// the kernel (`--idle-spin-microseconds`).
pub const IDLE_SPIN_MICROSECONDS_DEFAULT: u64 = 500;

/// Most bytes of staged appends one partition combines into a single write.
pub const COALESCED_WRITE_BYTES_MAX: usize = 8 * 1024 * 1024;

/// Descriptors kept aside for the whole process, outside every shard's
/// share of the open-file limit: standard streams, the metadata log, the
/// signal and start-up plumbing of the main thread.
pub const DESCRIPTORS_RESERVED_PER_PROCESS: usize = 64;

/// Descriptors kept aside in each shard's share for what is not a segment
/// file or a connection: its io_uring rings and eventfd, its listener, a
/// connection accepted past the cap before it is closed, and the short-lived
/// index, seal, marker, producer-id and directory descriptors of admin work.
pub const DESCRIPTORS_RESERVED_PER_SHARD: usize = 32;

/// Fewest connections per shard the broker runs with; a lower open-file
/// limit is refused at start.
pub const CONNECTIONS_PER_SHARD_MIN: usize = 64;

/// Fewest segment-file descriptors per shard the broker runs with (an
/// active segment takes two, so this many lets dozens of partitions write
/// at once); a lower open-file limit is refused at start.
pub const SEGMENT_DESCRIPTORS_PER_SHARD_MIN: usize = 64;

/// Segment-file descriptors a shard may hold when no limit was planned at
/// start (tests and tools that open logs without a broker).
pub const SEGMENT_DESCRIPTORS_PER_SHARD_DEFAULT: usize = 1024;

/// A segment file unused this long is closed, so idle partitions hold no
/// descriptors; it opens again on its next read or append.
pub const SEGMENT_FILE_IDLE_MILLISECONDS: u64 = 30_000;

/// How often each shard looks for segment files idle past
/// `SEGMENT_FILE_IDLE_MILLISECONDS`.
pub const SEGMENT_FILE_IDLE_CHECK_MILLISECONDS: u64 = 5_000;

/// How long a task waiting for a segment-file descriptor sleeps before it
/// looks again, when every open file is busy (a duplicate lent to sendfile
/// is given back on another thread, which cannot wake it).
pub const SEGMENT_DESCRIPTOR_WAIT_MILLISECONDS: u64 = 5;

const _: () = assert!(SEGMENT_DESCRIPTORS_PER_SHARD_MIN >= 2);
const _: () = assert!(PARKED_FETCHES_PER_SHARD_MAX >= CONNECTIONS_PER_SHARD_MAX);
const _: () = assert!(
    GROUP_SESSION_TIMEOUT_MILLISECONDS_MIN_DEFAULT
        <= GROUP_SESSION_TIMEOUT_MILLISECONDS_MAX_DEFAULT
);
const _: () = assert!(
    CONSUMER_GROUP_HEARTBEAT_INTERVAL_MILLISECONDS < CONSUMER_GROUP_SESSION_TIMEOUT_MILLISECONDS
);
const _: () = assert!(CONNECTIONS_PER_SHARD_MIN <= CONNECTIONS_PER_SHARD_MAX);

/// Where `--metrics-listen` serves Prometheus metrics, /health and /ready
/// unless told otherwise (Redpanda's admin port; `none` turns it off).
pub const METRICS_LISTEN_DEFAULT: &str = "127.0.0.1:9644";

/// Largest HTTP request head the metrics endpoint reads; a longer one is
/// answered 431 and closed.
pub const METRICS_REQUEST_BYTES_MAX: usize = 8 * 1024;

/// How long the metrics endpoint waits for a request head before it closes
/// the connection.
pub const METRICS_REQUEST_READ_MILLISECONDS: u64 = 5_000;

/// After answering a too-large request head, the endpoint reads and drops
/// up to this many more bytes (each read waiting at most
/// `METRICS_REQUEST_DRAIN_MILLISECONDS`) before closing, so the close is
/// not a reset that would lose the answer.
pub const METRICS_REQUEST_DRAIN_BYTES_MAX: usize = 64 * 1024;
pub const METRICS_REQUEST_DRAIN_MILLISECONDS: u64 = 100;

/// Scrape connections shard 0 serves at once; more wait in the kernel's
/// accept queue.
pub const METRICS_CONNECTIONS_MAX: usize = 16;

/// How long a scrape waits for each shard's counters; a shard that has
/// not answered by then is left out of that scrape (and
/// `corelog_metrics_shards_missing` says so).
pub const METRICS_COLLECT_MILLISECONDS: u64 = 5_000;

/// API keys counted one by one (Kafka's run below 100); larger keys share
/// the last slot.
pub const API_KEYS_COUNTED_MAX: usize = 128;

/// Topics with bytes and records series of their own, per shard; the
/// traffic of topics past this is counted under `topic="_other"`.
pub const TOPICS_REPORTED_PER_SHARD_MAX: usize = 1_000;

/// Consumer-group lag series (group, topic, partition) a shard reports per
/// scrape; past this the rest are left out and
/// `corelog_consumer_group_lag_omitted` counts them.
pub const LAG_PARTITIONS_REPORTED_PER_SHARD_MAX: usize = 10_000;

const _: () = assert!(API_KEYS_COUNTED_MAX >= 100);
// The client tools (`corelog topic|group|produce|consume|cluster`, src/tools).

/// Largest response frame the tools accept from a broker: well above the
/// fetch size they ask for, so only a broken or hostile peer reaches it.
pub const TOOL_RESPONSE_BYTES_MAX: usize = 64 * 1024 * 1024;

/// How long the tools wait for a TCP connection to a broker.
pub const TOOL_CONNECT_TIMEOUT_MILLISECONDS: u64 = 10_000;

/// How long the tools wait for a response (longer than any long poll they
/// ask for, and than a group join's rebalance delay).
pub const TOOL_RESPONSE_TIMEOUT_MILLISECONDS: u64 = 60_000;

/// The `max_bytes` of each Fetch the consumer sends (and per partition).
pub const TOOL_FETCH_BYTES_MAX: i32 = 8 * 1024 * 1024;
pub const TOOL_FETCH_PARTITION_BYTES_MAX: i32 = 1024 * 1024;

/// How long a consumer's Fetch waits on the broker for data: also how
/// often it looks at signals and sends heartbeats.
pub const TOOL_FETCH_WAIT_MILLISECONDS: i32 = 500;

/// Records and bytes the producer puts in one batch before sending it.
pub const TOOL_PRODUCE_BATCH_RECORDS_MAX: usize = 1000;
pub const TOOL_PRODUCE_BATCH_BYTES_MAX: usize = 512 * 1024;

/// Longest stdin line the producer accepts (a record, with key).
pub const TOOL_LINE_BYTES_MAX: usize = 1024 * 1024;

/// Attempts of a request a retriable error answered (leader moved,
/// coordinator loading), with a pause between them.
pub const TOOL_ATTEMPTS_MAX: u32 = 10;
pub const TOOL_RETRY_PAUSE_MILLISECONDS: u64 = 200;

/// How long `consume` keeps reconnecting to a cluster it lost (a broker
/// restarting) before it gives up.
pub const TOOL_RECONNECT_MILLISECONDS: u64 = 60_000;

/// The consumer group member's session timeout, and its heartbeat interval.
pub const TOOL_SESSION_TIMEOUT_MILLISECONDS: i32 = 10_000;
pub const TOOL_HEARTBEAT_INTERVAL_MILLISECONDS: u64 = 3_000;
/// How long a rebalance may take before the coordinator drops the member.
pub const TOOL_REBALANCE_TIMEOUT_MILLISECONDS: i32 = 30_000;

const _: () = assert!(TOOL_FETCH_BYTES_MAX as usize <= TOOL_RESPONSE_BYTES_MAX / 2);
const _: () =
    assert!((TOOL_HEARTBEAT_INTERVAL_MILLISECONDS as i32) < TOOL_SESSION_TIMEOUT_MILLISECONDS / 2);

/// The longest an acks=all produce waits for its replicas, whatever its
/// `timeout.ms` asks (Kafka's default request.timeout.ms is 30 s).
pub const PRODUCE_TIMEOUT_MILLISECONDS_MAX: u64 = 300_000;

/// Replication (issue 14). A follower's Fetch to its leader: how long the
/// leader may hold it (Kafka's replica.fetch.wait.max.ms), the bytes per
/// partition (replica.fetch.max.bytes) and per response
/// (replica.fetch.response.max.bytes), and the most partitions in one.
pub const REPLICA_FETCH_WAIT_MILLISECONDS: u64 = 500;
pub const REPLICA_FETCH_PARTITION_BYTES_MAX: i32 = 1024 * 1024;
pub const REPLICA_FETCH_RESPONSE_BYTES_MAX: i32 = 10 * 1024 * 1024;
pub const REPLICA_FETCH_PARTITIONS_MAX: usize = 1000;
/// The largest response frame a follower reads (a response's records are
/// capped above; the rest is per-partition overhead).
pub const REPLICA_FETCH_FRAME_BYTES_MAX: usize = 16 * 1024 * 1024;
/// A follower's connect timeout to its leader, and the backoff after a
/// failed fetch (doubling up to the max; Kafka's replica.fetch.backoff.ms
/// is 1 s).
pub const REPLICA_CONNECT_TIMEOUT_MILLISECONDS: u64 = 3_000;
pub const REPLICA_FETCH_BACKOFF_MILLISECONDS: u64 = 100;
pub const REPLICA_FETCH_BACKOFF_MILLISECONDS_MAX: u64 = 2_000;
/// How often a shard starts fetchers for new leaders and checks its led
/// partitions' ISRs (followers to drop or take back).
pub const REPLICATION_TICK_MILLISECONDS: u64 = 250;
/// After a refused AlterPartition, how long its partition waits before
/// asking again.
pub const ALTER_PARTITION_RETRY_MILLISECONDS: u64 = 1_000;
/// How long a group's offset commit waits for the offsets partition's
/// in-sync replicas (Kafka's offsets.commit.timeout.ms).
pub const OFFSETS_COMMIT_TIMEOUT_MILLISECONDS: u64 = 5_000;
/// Largest `leader-epoch-checkpoint` file a partition reads (one short
/// line per leader epoch; a larger one is damage, and the cache is rebuilt
/// from the log's batches instead).
pub const LEADER_EPOCH_CHECKPOINT_BYTES_MAX: u64 = 16 * 1024 * 1024;
/// How often a shard opening its partitions at start-up says how far it
/// got: after this long since its last report...
pub const RECOVERY_PROGRESS_INTERVAL_MILLISECONDS: u64 = 2_000;

/// ...or after this many more partitions, whichever comes first.
pub const RECOVERY_PROGRESS_PARTITIONS_EVERY: usize = 1_000;

/// How long `corelog bench suite` waits for a topic it created to have
/// leaders in Metadata.
pub const TOOL_METADATA_WAIT_MILLISECONDS: u64 = 10_000;

/// The bench suite's tail consumer stops when no record arrived for this
/// long (the producer is done or stuck).
pub const TOOL_BENCH_TAIL_IDLE_MILLISECONDS: u64 = 5_000;

/// How long each of the tail consumer's fetches waits for records.
pub const TOOL_BENCH_TAIL_WAIT_MILLISECONDS: i32 = 100;

/// How long `corelog cluster decommission` waits, by default, for the
/// host's partitions to finish moving before it gives up (the moves go on).
pub const TOOL_DECOMMISSION_TIMEOUT_SECONDS: u64 = 600;

/// How often `corelog cluster decommission` asks which moves remain.
pub const TOOL_DECOMMISSION_POLL_MILLISECONDS: u64 = 500;
