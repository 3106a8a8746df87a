//! One partition on the shard that leads it: its log, the writer that
//! orders and combines its appends (writer.rs), the idempotent producers'
//! state machine the writer judges against (producer_state.rs), the commit
//! tracker the high watermark comes from (commit_tracker.rs), the leader
//! epoch its placement gives it, and the checks a produce request passes
//! before it is written.
//!
//! Invariants: lives on exactly one shard of each replica its placement
//! names (leader or follower, replica.rs) from the snapshot that placed it
//! there until one that removes or moves it; appends are written one write at a time, in the order they were
//! staged, stamped with the current leader epoch; the leader epoch never
//! decreases; the high watermark is what the commit tracker says (with a
//! single replica: the log end once written, and synced under the durable
//! policy).

pub mod commit_tracker;
pub mod group_commit;
pub mod producer_state;
pub mod replica;
pub mod tail_cache;
mod writer;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Instant;

use bytes::Bytes;

use crate::protocol::batch::{self, BatchError, BatchHeader, BatchSpan};
use crate::rt::net::Piece;
use crate::rt::sync::{BudgetPermit, Signal};
use crate::storage::producers::ProducerBatch;
use crate::storage::{FlushPolicy, Log, LogConfig, ReadError};
use commit_tracker::CommitTracker;
use futures_channel::oneshot;
use group_commit::GroupCommit;
use producer_state::ProducerState;
use tail_cache::{CacheRead, PartitionTail, TailCache};
use writer::Staged;

/// Completes when an acks=all append is durable.
pub type DurableWait =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), AppendError>>>>;

pub use crate::storage::segment::Appended;

#[derive(Debug)]
pub enum AppendError {
    Batch(BatchError),
    Storage(io::Error),
    /// The partition was closed (shutdown, deletion or move) while waiting.
    Closed,
    /// An idempotent producer's epoch is older than the one the log knows.
    FencedEpoch,
    /// An idempotent producer's sequence does not follow its last batch.
    OutOfOrderSequence,
    /// An idempotent producer's request held more than one batch (Kafka
    /// requires exactly one per partition, so retries can be recognised).
    SeveralIdempotentBatches,
    /// acks=all: written, but the ISR shrank below min.insync.replicas
    /// before the high watermark covered it.
    NotEnoughReplicasAfterAppend,
    /// acks=all: the request's timeout passed before the high watermark
    /// covered the append.
    TimedOut,
}

impl From<replica::CommitWaitError> for AppendError {
    /// How a wait for the high watermark that did not end committed is
    /// answered (a partition that stopped leading is as good as closed).
    fn from(error: replica::CommitWaitError) -> AppendError {
        match error {
            replica::CommitWaitError::NotEnoughReplicasAfterAppend => {
                AppendError::NotEnoughReplicasAfterAppend
            }
            replica::CommitWaitError::TimedOut => AppendError::TimedOut,
            replica::CommitWaitError::NotLeader => AppendError::Closed,
        }
    }
}

/// Why a request's `current_leader_epoch` does not match the partition's
/// (Kafka's fencing of clients with stale or too-new metadata).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaderEpochError {
    /// The request names an older epoch: its sender's metadata is stale.
    Fenced,
    /// The request names a newer epoch than this leader knows: this
    /// leader's metadata is behind.
    Unknown,
}

impl LeaderEpochError {
    pub fn error_code(self) -> crate::protocol::ErrorCode {
        match self {
            LeaderEpochError::Fenced => crate::protocol::ErrorCode::FENCED_LEADER_EPOCH,
            LeaderEpochError::Unknown => crate::protocol::ErrorCode::UNKNOWN_LEADER_EPOCH,
        }
    }
}

pub struct Partition {
    pub topic: String,
    pub index: i32,
    pub topic_id: [u8; 16],
    log: Log,
    /// The idempotent producers as of the log end: recovered with the log,
    /// judged and recorded by the writer, snapshotted by each seal.
    producers: RefCell<ProducerState>,
    /// Where the high watermark comes from.
    commit: CommitTracker,
    /// The leader epoch of this partition's placement, stamped on every
    /// batch appended here; never decreases.
    leader_epoch: Cell<i32>,
    /// Appends waiting for the writer, in arrival order; `writing` while
    /// its task runs, `writer_idle` fired when it stops.
    staged: RefCell<VecDeque<Staged>>,
    writing: Cell<bool>,
    writer_idle: Signal,
    /// Appends written, and the writes they took (coalescing at work).
    appends: Cell<u64>,
    writes: Cell<u64>,
    closed: Cell<bool>,
    group_commit: Rc<GroupCommit>,
    /// The shard's tail cache, and this partition's share of it.
    tail_cache: Rc<TailCache>,
    tail: Rc<PartitionTail>,
    /// Records appended since the last sync, and when that was (for the
    /// interval flush policy).
    unflushed_records: Cell<u64>,
    last_flush: Cell<Instant>,
    /// Set by a failed write or sync, cleared by the next success: storage
    /// errors are logged once per episode, not once per request.
    failing: Cell<bool>,
    /// Leader or follower, and who waits for the high watermark
    /// (replica.rs).
    replica: replica::ReplicaState,
}

/// `data-dir/<topic>-<partition>`, as Kafka lays it out.
pub fn directory(data_dir: &Path, topic: &str, index: i32) -> PathBuf {
    data_dir.join(format!("{topic}-{index}"))
}

impl Partition {
    /// Opens (recovers) the partition's log, at leader epoch 0 until
    /// [`Partition::set_leader_epoch`] gives it its placement's.
    pub async fn open(
        data_dir: &Path,
        topic: &str,
        topic_id: [u8; 16],
        index: i32,
        config: LogConfig,
        group_commit: Rc<GroupCommit>,
        tail_cache: Rc<TailCache>,
    ) -> io::Result<Partition> {
        let mut producers = ProducerState::default();
        let log = Log::open(&directory(data_dir, topic, index), config, &mut producers).await?;
        Ok(Partition {
            topic: topic.to_string(),
            index,
            topic_id,
            log,
            producers: RefCell::new(producers),
            commit: CommitTracker::default(),
            leader_epoch: Cell::new(0),
            staged: RefCell::new(VecDeque::new()),
            writing: Cell::new(false),
            writer_idle: Signal::default(),
            appends: Cell::new(0),
            writes: Cell::new(0),
            closed: Cell::new(false),
            group_commit,
            tail_cache,
            tail: Rc::new(PartitionTail::default()),
            unflushed_records: Cell::new(0),
            last_flush: Cell::new(Instant::now()),
            failing: Cell::new(false),
            replica: replica::ReplicaState::default(),
        })
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log.log_start_offset()
    }

    pub fn log_end_offset(&self) -> i64 {
        self.log.log_end_offset()
    }

    /// What consumers may read, from the commit tracker: under the
    /// durable policy only synced records (a crash cannot take them back);
    /// under the interval policy, like Kafka with one replica, everything
    /// written.
    pub fn high_watermark(&self) -> i64 {
        self.commit.high_watermark(&self.log)
    }

    /// The leader epoch from this partition's placement.
    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch.get()
    }

    /// Takes the leader epoch of its placement (when opened, and from each
    /// installed snapshot).
    pub fn set_leader_epoch(&self, leader_epoch: i32) {
        assert!(
            leader_epoch >= self.leader_epoch.get(),
            "leader epochs never decrease ({} after {})",
            leader_epoch,
            self.leader_epoch.get()
        );
        self.leader_epoch.set(leader_epoch);
    }

    /// Kafka's check of a Fetch's or ListOffsets' `current_leader_epoch`
    /// (-1: the client asks for no check).
    pub fn check_leader_epoch(&self, current_leader_epoch: i32) -> Result<(), LeaderEpochError> {
        let ours = self.leader_epoch.get();
        match current_leader_epoch {
            -1 => Ok(()),
            theirs if theirs < ours => Err(LeaderEpochError::Fenced),
            theirs if theirs > ours => Err(LeaderEpochError::Unknown),
            _ => Ok(()),
        }
    }

    pub fn log(&self) -> &Log {
        &self.log
    }

    pub fn set_config(&self, config: LogConfig) {
        self.log.set_config(config);
    }

    /// Validates and appends a produce request's records. With `acks_all`
    /// under the durable policy, this returns once the shard's group commit
    /// synced them; otherwise once written.
    pub async fn append(
        self: &Rc<Self>,
        records: Bytes,
        acks_all: bool,
        now_milliseconds: i64,
    ) -> Result<Appended, AppendError> {
        let (appended, durable) = self
            .write(records, acks_all, now_milliseconds, None)
            .await?;
        if let Some(durable) = durable {
            durable.await?;
        }
        Ok(appended)
    }

    /// The write half of an append: validated at once, then staged for
    /// the partition's writer, which checks it against the producer state
    /// and writes it, together with whatever else is staged by then. The
    /// append takes its place in the partition's order when this is called,
    /// not when the future first runs: a connection starts the writes of one
    /// request after another and need not wait for them before reading the
    /// next, and they still reach the log in order. The returned wait (for
    /// acks=all under the durable policy) completes when the group commit
    /// synced the append. `budget` (the shard's bound on unwritten produce
    /// bytes) is held until the append is written.
    pub fn write(
        self: &Rc<Self>,
        records: Bytes,
        acks_all: bool,
        now_milliseconds: i64,
        budget: Option<BudgetPermit>,
    ) -> impl std::future::Future<Output = Result<(Appended, Option<DurableWait>), AppendError>> + 'static
    {
        let staged = self.validate_and_stage(records, acks_all, now_milliseconds, budget);
        let partition = self.clone();
        async move {
            let reply = staged?.await.unwrap_or(Err(AppendError::Closed));
            let (appended, wait) = reply?;
            let wait = wait.map(|receiver| -> DurableWait {
                Box::pin(async move {
                    let result = receiver.await;
                    partition.note_outcome(
                        result
                            .as_ref()
                            .map_err(|error| Some(error.to_string()))
                            .map(|_| ()),
                    );
                    result.map_err(AppendError::Storage)
                })
            });
            Ok((appended, wait))
        }
    }

    fn validate_and_stage(
        self: &Rc<Self>,
        records: Bytes,
        acks_all: bool,
        now_milliseconds: i64,
        budget: Option<BudgetPermit>,
    ) -> Result<oneshot::Receiver<writer::StagedReply>, AppendError> {
        if self.closed.get() {
            return Err(AppendError::Closed);
        }
        let spans = batch::validate_batches(&records, self.log.config().max_message_bytes)
            .map_err(AppendError::Batch)?;
        let producer = idempotent_batch(&records, &spans)?;
        let (reply, receiver) = oneshot::channel();
        self.stage(Staged {
            records,
            spans,
            producer,
            acks_all,
            now_milliseconds,
            budget,
            reply,
        });
        Ok(receiver)
    }

    /// Appends and writes since the partition opened.
    pub fn write_counts(&self) -> (u64, u64) {
        (self.appends.get(), self.writes.get())
    }

    /// Logs the first storage failure of an episode, and its end.
    fn note_outcome(&self, outcome: Result<(), Option<String>>) {
        match outcome {
            Err(Some(error)) => {
                if !self.failing.replace(true) {
                    tracing::error!(
                        "{}: writes fail with \"{error}\"; requests for {}-{} get KAFKA_STORAGE_ERROR until a write succeeds (logged once)",
                        self.log.dir().display(),
                        self.topic,
                        self.index
                    );
                }
            }
            Ok(()) => {
                if self.failing.replace(false) {
                    tracing::info!("{}: writes work again", self.log.dir().display());
                }
            }
            Err(None) => {}
        }
    }

    /// Under the interval policy, asks for a sync once `flush.ms` passed
    /// since the last one with records waiting.
    pub fn flush_if_due(self: &Rc<Self>) {
        if let FlushPolicy::Interval { milliseconds, .. } = self.log.config().flush {
            if self.unflushed_records.get() > 0
                && self.last_flush.get().elapsed().as_millis() as u64 >= milliseconds
            {
                self.group_commit.request(self);
            }
        }
    }

    /// Syncs the log (the group commit calls this once per round).
    pub async fn flush(&self) -> io::Result<()> {
        let written = self.unflushed_records.get();
        self.log.sync().await?;
        self.unflushed_records
            .set(self.unflushed_records.get().saturating_sub(written));
        self.last_flush.set(Instant::now());
        // The durable offset moved: so may the high watermark.
        self.replica_synced();
        Ok(())
    }

    /// Reads for a Fetch: from `offset`, up to the high watermark, as
    /// pieces to send without copying. The tail comes from the tail cache;
    /// older data from the segment files, by sendfile or, with
    /// `ColdReads::Copy`, read into memory first.
    pub async fn read_records(
        &self,
        offset: i64,
        max_bytes: u64,
        cold_reads: ColdReads,
    ) -> Result<(Vec<Piece>, u64), ReadError> {
        self.read_records_below(offset, max_bytes, cold_reads, self.high_watermark())
            .await
    }

    /// Like [`Partition::read_records`], up to the log end instead of the
    /// high watermark: what a follower's fetch gets.
    pub async fn read_records_for_replica(
        &self,
        offset: i64,
        max_bytes: u64,
        cold_reads: ColdReads,
    ) -> Result<(Vec<Piece>, u64), ReadError> {
        self.read_records_below(offset, max_bytes, cold_reads, self.log_end_offset())
            .await
    }

    async fn read_records_below(
        &self,
        offset: i64,
        max_bytes: u64,
        cold_reads: ColdReads,
        high_watermark: i64,
    ) -> Result<(Vec<Piece>, u64), ReadError> {
        self.log.check_offset(offset)?;
        if let CacheRead::Hit(batches) = self.tail.read(offset, max_bytes, high_watermark) {
            if !batches.is_empty() {
                crate::metrics::count_tail_cache_read(true);
            }
            let length = batches.iter().map(|batch| batch.len() as u64).sum();
            return Ok((batches.into_iter().map(Piece::Memory).collect(), length));
        }
        if offset < high_watermark {
            crate::metrics::count_tail_cache_read(false);
        }
        match cold_reads {
            ColdReads::SendFile => {
                match self
                    .log
                    .read_region(offset, max_bytes, high_watermark)
                    .await?
                {
                    Some(piece) => {
                        let length = piece.len() as u64;
                        Ok((vec![piece], length))
                    }
                    None => Ok((Vec::new(), 0)),
                }
            }
            ColdReads::Copy => {
                let bytes = self.log.read(offset, max_bytes, high_watermark).await?;
                let length = bytes.len() as u64;
                Ok((vec![Piece::Memory(bytes)], length))
            }
        }
    }

    /// Reads from `offset`, up to the high watermark, into memory.
    pub async fn read(&self, offset: i64, max_bytes: u64) -> Result<Bytes, ReadError> {
        self.log
            .read(offset, max_bytes, self.high_watermark())
            .await
    }

    /// Waits for the writer to finish what was staged, then seals the log.
    /// Appends staged from now on get [`AppendError::Closed`].
    pub async fn close(&self) -> io::Result<()> {
        if self.closed.replace(true) {
            return Ok(());
        }
        // acks=all waiters learn that this replica no longer leads.
        self.replica_synced();
        // Appends staged before this are written (or refused) first.
        loop {
            let seen = self.writer_idle.generation();
            if !self.writing.get() {
                break;
            }
            self.writer_idle
                .wait_past(seen, std::time::Duration::from_secs(1))
                .await;
        }
        self.log.close(&self.producers).await
    }
}

/// How Fetch sends data older than the tail cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColdReads {
    /// sendfile(2) from the page cache on the shard's blocking thread: no
    /// copy through the broker, and a slow disk never stalls the reactor.
    SendFile,
    /// io_uring buffered reads into memory, then sent like cached data.
    Copy,
}

/// The idempotent producer batch among `records`, if any: there may then be
/// only that one batch.
fn idempotent_batch(
    records: &[u8],
    spans: &[BatchSpan],
) -> Result<Option<ProducerBatch>, AppendError> {
    let mut found = None;
    for span in spans {
        let Some(header) = BatchHeader::view(&records[span.position..]) else {
            continue;
        };
        if let Some(producer) = ProducerBatch::from_header(
            header.producer_id.get(),
            header.producer_epoch.get(),
            header.base_sequence.get(),
            header.last_offset_delta.get(),
            header.base_offset.get(),
        ) {
            found = Some(producer);
        }
    }
    if found.is_some() && spans.len() > 1 {
        return Err(AppendError::SeveralIdempotentBatches);
    }
    Ok(found)
}

/// Leader epochs and truncation (issue 14, R4): what a leader answers a
/// follower about where an epoch ends, and how a follower cuts its log to
/// match its leader's (KIP-101, KIP-279), never to its high watermark.
impl Partition {
    /// Where `epoch` ends in this replica's log, by Kafka's rule (see
    /// [`crate::storage::leader_epochs::LeaderEpochs::end_offset_for`]):
    /// (epoch, end offset), or (-1, -1) (UNDEFINED) for an epoch newer
    /// than any this log knows.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> (i32, i64) {
        self.log.end_offset_for_epoch(epoch).unwrap_or((
            crate::storage::leader_epochs::UNDEFINED_EPOCH,
            crate::storage::leader_epochs::UNDEFINED_EPOCH_OFFSET,
        ))
    }

    /// On a leader, for a follower's Fetch (v12+): `Some((epoch, end
    /// offset))` when the follower's log diverges from this one, i.e. its
    /// last fetched epoch ends here before its fetch offset, or this log
    /// does not have that epoch (Kafka's diverging epoch). `None` when the
    /// fetch can be served, and when the follower sent no epoch (-1).
    pub fn diverging_epoch(
        &self,
        last_fetched_epoch: i32,
        fetch_offset: i64,
    ) -> Option<(i32, i64)> {
        if last_fetched_epoch < 0 {
            return None;
        }
        let (epoch, end_offset) = self.end_offset_for_epoch(last_fetched_epoch);
        (epoch < last_fetched_epoch || end_offset < fetch_offset).then_some((epoch, end_offset))
    }

    /// The epoch of this replica's newest batch (or of the leadership it
    /// took last, see `assign_epoch_start_offset`), -1 for none: a
    /// follower's `last_fetched_epoch`.
    pub fn latest_epoch(&self) -> i32 {
        self.log.latest_epoch()
    }

    /// A replica becoming leader records that its epoch starts at its log
    /// end, before it appends (as Kafka's leaders do), so a follower asking
    /// about an older epoch learns where it ends on this log even before
    /// the new leader writes.
    pub fn assign_epoch_start_offset(&self) -> io::Result<()> {
        self.log.assign_epoch_start(self.leader_epoch.get())?;
        Ok(())
    }

    /// On a follower, given its leader's diverging epoch (or
    /// OffsetForLeaderEpoch answer) for its last fetched epoch: truncates
    /// to where the two logs stop agreeing, which is the smaller of the
    /// leader's end of that epoch and this log's end of the same epoch
    /// (KIP-279: this log's later epochs may hold records the leader never
    /// had). When the leader knows no such epoch (-1, -1), this log's
    /// newest epoch is dropped whole and the next fetch compares the one
    /// before. Returns the new log end offset; the caller fetches from it.
    pub async fn truncate_to_diverging(&self, epoch: i32, end_offset: i64) -> io::Result<i64> {
        let target = if epoch < 0 || end_offset < 0 {
            let latest = self.log.leader_epochs().latest();
            latest.map_or(self.log_end_offset(), |entry| entry.start_offset)
        } else {
            match self.log.end_offset_for_epoch(epoch) {
                Some((_, own_end_offset)) => end_offset.min(own_end_offset),
                None => end_offset,
            }
        };
        self.truncate_to(target).await
    }

    /// Drops every record at and after `offset` (a batch straddling it
    /// goes whole): the log and its leader-epoch cache are cut, the tail
    /// cache forgets this partition's batches, and the producer state is
    /// rebuilt from what is left, so a producer's retry is judged against
    /// the log as it now is. The high watermark, which the commit tracker
    /// derives from the log, ends up at most the new log end. The caller
    /// serialises this with appends (a follower's fetch loop is its only
    /// writer). Returns the new log end offset.
    pub async fn truncate_to(&self, offset: i64) -> io::Result<i64> {
        if offset >= self.log.log_end_offset() {
            // No record goes (so the tail cache and the producers stay as
            // they are), but the log still drops an epoch this replica
            // took as leader and never wrote in (see `Log::truncate_to`).
            return self.log.truncate_to(offset).await;
        }
        let before = self.log.log_end_offset();
        let log_end_offset = self.log.truncate_to(offset).await?;
        // Rare and meaningful (a leader change cut records this replica had
        // but its leader never committed): operators, and the fault tests,
        // look for this line.
        tracing::info!(
            "{}-{}: truncated to offset {log_end_offset} (the log ended at {before}): \
             records its leader does not have are dropped",
            self.topic,
            self.index
        );
        self.tail.clear();
        let mut producers = ProducerState::default();
        self.log.rebuild_producers(&mut producers).await?;
        *self.producers.borrow_mut() = producers;
        debug_assert!(self.high_watermark() <= log_end_offset);
        Ok(log_end_offset)
    }
}

#[cfg(test)]
#[path = "epoch_tests.rs"]
mod epoch_tests;
