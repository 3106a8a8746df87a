//! Leader epochs between two replicas of one partition, each a real
//! `Partition` over its own directory: the follower's fetch loop is played
//! by `catch_up` (diverging epoch from the leader, truncation, then the
//! leader's batches appended as given), as R2's fetcher runs it. The
//! scenarios are KIP-101's and KIP-279's: a follower must end with exactly
//! its leader's log, truncating to where its epoch ends on the leader (and
//! never below that, to its high watermark).

use std::path::Path;
use std::rc::Rc;

use super::group_commit::GroupCommit;
use super::tail_cache::TailCache;
use super::*;
use crate::protocol::batch::{compute_crc, tests::sample_batch, validate_batches};
use crate::rt::sync::Signal;
use crate::storage::segment::AppendPart;

fn run<F: std::future::Future<Output = ()> + 'static>(test: impl FnOnce(PathBuf) -> F) {
    let dir = tempfile::tempdir().unwrap();
    crate::rt::run_local(test(dir.path().to_path_buf()));
}

async fn open(dir: &Path, name: &str) -> Rc<Partition> {
    open_with(dir, name, FlushPolicy::Durable).await
}

async fn open_with(dir: &Path, name: &str, flush: FlushPolicy) -> Rc<Partition> {
    let config = LogConfig {
        segment_bytes: 64 * 1024,
        retention_ms: -1,
        segment_ms: i64::MAX,
        flush,
        ..LogConfig::default()
    };
    let group_commit = Rc::new(GroupCommit::new(Rc::new(Signal::default())));
    let tail_cache = Rc::new(TailCache::new(1 << 20));
    let data_dir = dir.join(name);
    let partition = Partition::open(&data_dir, "t", [1; 16], 0, config, group_commit, tail_cache);
    Rc::new(partition.await.expect("the partition opens"))
}

/// A leader's produce of one record with `body`, in `epoch`; its offset.
async fn produce(leader: &Rc<Partition>, epoch: i32, body: &[u8]) -> i64 {
    if leader.leader_epoch() < epoch {
        leader.set_leader_epoch(epoch);
        leader.assign_epoch_start_offset().unwrap();
    }
    let records = Bytes::from(sample_batch(1, body));
    leader.append(records, false, 0).await.unwrap().base_offset
}

/// Every batch of `partition`'s log as (base offset, leader epoch, body).
async fn batches(partition: &Partition) -> Vec<(i64, i32, Vec<u8>)> {
    let log = partition.log();
    let bytes = log
        .read(0, 1 << 20, log.log_end_offset())
        .await
        .expect("readable");
    let spans = validate_batches(&bytes, 1 << 20).unwrap();
    spans
        .iter()
        .map(|span| {
            let batch = &bytes[span.position..span.position + span.length];
            let header = BatchHeader::view(batch).unwrap();
            (
                header.base_offset.get(),
                header.partition_leader_epoch.get(),
                batch[batch::BATCH_HEADER_BYTES..].to_vec(),
            )
        })
        .collect()
}

/// The follower's fetch loop until it holds the leader's whole log: ask
/// for the diverging epoch of its last fetched epoch at its log end,
/// truncate as told, and copy the rest. Returns each truncation's result.
async fn catch_up(follower: &Partition, leader: &Partition) -> Vec<i64> {
    let mut truncations = Vec::new();
    for _ in 0..10 {
        let fetch_offset = follower.log_end_offset();
        if let Some((epoch, end_offset)) =
            leader.diverging_epoch(follower.latest_epoch(), fetch_offset)
        {
            let end = follower.truncate_to_diverging(epoch, end_offset).await;
            truncations.push(end.unwrap());
            continue;
        }
        let log = leader.log();
        if fetch_offset < log.log_end_offset() {
            let bytes = log
                .read(fetch_offset, 1 << 20, log.log_end_offset())
                .await
                .unwrap();
            let spans = validate_batches(&bytes, 1 << 20).unwrap();
            let part = AppendPart {
                records: &bytes,
                spans: &spans,
            };
            let parts = [part];
            let given = follower.log().append_as_given(&parts, &follower.producers);
            given.await.unwrap();
        }
        return truncations;
    }
    panic!("the follower never caught up");
}

#[test]
fn a_follower_behind_its_high_watermark_keeps_what_its_leader_has() {
    // KIP-101's first case: a follower that truncated to its high
    // watermark would lose a record its leader (and so the cluster) has.
    run(|dir| async move {
        let a = open(&dir, "a").await;
        let b = open(&dir, "b").await;
        produce(&a, 1, b"m0").await;
        produce(&a, 1, b"m1").await;
        catch_up(&b, &a).await;
        assert!(
            b.high_watermark() < b.log_end_offset(),
            "nothing synced yet"
        );
        // B restarts and fetches again: nothing diverges, nothing is cut.
        drop(b);
        let b = open(&dir, "b").await;
        assert_eq!(b.log_end_offset(), 2);
        assert_eq!(b.latest_epoch(), 1);
        assert_eq!(catch_up(&b, &a).await, Vec::<i64>::new());
        assert_eq!(batches(&b).await, batches(&a).await);
    });
}

#[test]
fn a_deposed_leader_truncates_to_where_its_epoch_ends_on_the_new_leader() {
    // A led epoch 1 and wrote m0..m3; B copied m0, m1 and then led epoch 2
    // from offset 2. A, now a follower, cuts exactly at 2, not at its high
    // watermark (4), so it keeps none of m2, m3.
    run(|dir| async move {
        let a = open(&dir, "a").await;
        let b = open(&dir, "b").await;
        for body in [b"m0", b"m1"] {
            produce(&a, 1, body).await;
        }
        catch_up(&b, &a).await;
        for body in [b"m2", b"m3"] {
            produce(&a, 1, body).await;
        }
        produce(&b, 2, b"n2").await;
        produce(&b, 2, b"n3").await;
        produce(&b, 2, b"n4").await;
        assert_eq!(b.end_offset_for_epoch(1), (1, 2));
        // A synced all four: truncating to its high watermark would keep m2
        // and m3, which the new leader does not have.
        a.flush().await.unwrap();
        assert_eq!(a.high_watermark(), 4);
        assert_eq!(catch_up(&a, &b).await, vec![2]);
        assert_eq!(batches(&a).await, batches(&b).await);
        let epochs: Vec<i32> = batches(&a).await.iter().map(|batch| batch.1).collect();
        assert_eq!(epochs, vec![1, 1, 2, 2, 2]);
        assert_eq!(a.end_offset_for_epoch(1), (1, 2));
        assert_eq!(a.end_offset_for_epoch(2), (2, 5));
    });
}

#[test]
fn two_leader_changes_in_a_row_leave_no_divergent_record() {
    // KIP-279: A (epoch 1) wrote m0, which B copied, and m1, which it did
    // not. B led epoch 2 and wrote n1 at offset 1 before A copied it; then
    // A led epoch 3 and wrote m2. B, a follower again, asks about epoch 2:
    // A never had it, and answers epoch 1 ending at 2. B's own epoch 1
    // ends at 1, so B cuts at 1 (cutting at A's 2 would keep n1, which A
    // does not have at offset 1), then copies m1 and m2.
    run(|dir| async move {
        let a = open(&dir, "a").await;
        let b = open(&dir, "b").await;
        produce(&a, 1, b"m0").await;
        catch_up(&b, &a).await;
        produce(&a, 1, b"m1").await;
        produce(&b, 2, b"n1").await;
        produce(&a, 3, b"m2").await;
        assert_eq!(a.diverging_epoch(2, 2), Some((1, 2)));
        assert_eq!(catch_up(&b, &a).await, vec![1]);
        let held = batches(&b).await;
        assert_eq!(held, batches(&a).await);
        let summary: Vec<(i64, i32)> = held.iter().map(|batch| (batch.0, batch.1)).collect();
        assert_eq!(summary, vec![(0, 1), (1, 1), (2, 3)]);
        // Both replicas agree on every epoch's end.
        for epoch in 0..4 {
            assert_eq!(a.end_offset_for_epoch(epoch), b.end_offset_for_epoch(epoch));
        }
    });
}

#[test]
fn a_leader_answers_for_epochs_it_never_had() {
    run(|dir| async move {
        let a = open(&dir, "a").await;
        produce(&a, 2, b"m0").await;
        produce(&a, 4, b"m1").await;
        // Older than all: itself, ending where the first epoch starts.
        assert_eq!(a.end_offset_for_epoch(1), (1, 0));
        assert_eq!(a.end_offset_for_epoch(3), (2, 1));
        assert_eq!(a.end_offset_for_epoch(4), (4, 2));
        assert_eq!(a.end_offset_for_epoch(5), (-1, -1));
        // A follower with nothing, or asking no check, never diverges.
        assert_eq!(a.diverging_epoch(-1, 0), None);
        assert_eq!(a.diverging_epoch(4, 2), None);
        assert_eq!(a.diverging_epoch(4, 3), Some((4, 2)));
        assert_eq!(a.diverging_epoch(5, 2), Some((-1, -1)));
    });
}

#[test]
fn a_follower_with_an_epoch_its_leader_never_had_drops_it() {
    // B wrote epoch 3 that A never saw, and A leads without having
    // recorded anything past epoch 1: A answers UNDEFINED for epoch 3, and
    // B drops its epoch 3 whole, then compares epoch 1.
    run(|dir| async move {
        let a = open(&dir, "a").await;
        let b = open(&dir, "b").await;
        produce(&a, 1, b"m0").await;
        catch_up(&b, &a).await;
        produce(&a, 1, b"m1").await;
        produce(&b, 3, b"n1").await;
        produce(&b, 3, b"n2").await;
        assert_eq!(catch_up(&b, &a).await, vec![1]);
        assert_eq!(batches(&b).await, batches(&a).await);
    });
}

#[test]
fn a_leader_deposed_before_it_wrote_drops_its_epoch_and_catches_up() {
    // A led epoch 1 and wrote m0, m1, which B copied. A paused; B led
    // epoch 2 from offset 2 and wrote nothing before A led again at epoch
    // 3 and wrote m2. B, a follower, asks about epoch 2: A answers epoch 1
    // ending at 2, where B's log ends too. Cutting no record is not
    // enough: B must drop its empty epoch 2, or it asks about it again,
    // gets the same answer, and never fetches (the livelock seen after a
    // paused leader resumed).
    run(|dir| async move {
        let a = open(&dir, "a").await;
        let b = open(&dir, "b").await;
        produce(&a, 1, b"m0").await;
        produce(&a, 1, b"m1").await;
        catch_up(&b, &a).await;
        b.set_leader_epoch(2);
        b.assign_epoch_start_offset().unwrap();
        assert_eq!(b.latest_epoch(), 2);
        produce(&a, 3, b"m2").await;
        assert_eq!(a.diverging_epoch(2, 2), Some((1, 2)));
        assert_eq!(catch_up(&b, &a).await, vec![2]);
        assert_eq!(batches(&b).await, batches(&a).await);
        assert_eq!(b.latest_epoch(), 3);
        for epoch in 0..4 {
            assert_eq!(a.end_offset_for_epoch(epoch), b.end_offset_for_epoch(epoch));
        }
    });
}

#[test]
fn a_follower_whose_newest_epoch_its_leader_lacks_and_wrote_nothing_drops_it() {
    // The same with an epoch newer than any the leader knows: A answers
    // UNDEFINED, B's newest epoch starts at its log end, and B drops it.
    run(|dir| async move {
        let a = open(&dir, "a").await;
        let b = open(&dir, "b").await;
        produce(&a, 1, b"m0").await;
        catch_up(&b, &a).await;
        b.set_leader_epoch(5);
        b.assign_epoch_start_offset().unwrap();
        produce(&a, 1, b"m1").await;
        assert_eq!(a.diverging_epoch(5, 1), Some((-1, -1)));
        assert_eq!(catch_up(&b, &a).await, vec![1]);
        assert_eq!(batches(&b).await, batches(&a).await);
        assert_eq!(b.latest_epoch(), 1);
    });
}

/// An idempotent batch of producer 7, one record at `sequence`.
fn idempotent(sequence: i32) -> Bytes {
    let mut records = sample_batch(1, b"p");
    let header = BatchHeader::view_mut(&mut records).unwrap();
    header.producer_id.set(7);
    header.base_sequence.set(sequence);
    let crc = compute_crc(&records);
    BatchHeader::view_mut(&mut records).unwrap().crc.set(crc);
    Bytes::from(records)
}

#[test]
fn truncation_rebuilds_producer_state_and_forgets_cached_batches() {
    run(|dir| async move {
        let a = open(&dir, "a").await;
        for sequence in 0..3 {
            a.append(idempotent(sequence), false, 0).await.unwrap();
        }
        assert_eq!(a.truncate_to(2).await.unwrap(), 2);
        // Sequence 2 is no longer in the log: its retry is written again
        // (not answered as a duplicate of the record that was cut).
        let retried = a.append(idempotent(2), false, 0).await.unwrap();
        assert_eq!(retried.base_offset, 2);
        assert_eq!(a.log_end_offset(), 3);
        // Sequence 1 still is: a duplicate, nothing written.
        let duplicate = a.append(idempotent(1), false, 0).await.unwrap();
        assert_eq!(duplicate.base_offset, 1);
        assert_eq!(a.log_end_offset(), 3);

        // The tail cache held the cut batch: reads see the new one.
        produce(&a, 0, b"old").await;
        a.flush().await.unwrap();
        assert_eq!(a.truncate_to(3).await.unwrap(), 3);
        produce(&a, 0, b"new").await;
        a.flush().await.unwrap();
        let (pieces, _) = a.read_records(3, 1 << 20, ColdReads::Copy).await.unwrap();
        let Piece::Memory(bytes) = &pieces[0] else {
            panic!("the tail is served from memory")
        };
        assert_eq!(&bytes[batch::BATCH_HEADER_BYTES..], b"new");
        assert!(a.high_watermark() <= a.log_end_offset());
    });
}

#[test]
fn an_isr_expansion_on_its_way_holds_the_high_watermark_for_the_joiner() {
    // Leader 0 with ISR [0, 1] asks to add 2. Until the answer comes, a
    // record is committed only once 2 has it too: the same change may make
    // 2 leader (the preferred replica's return), and it must hold every
    // record the old ISR committed meanwhile (KIP-497's maximal ISR).
    run(|dir| async move {
        // Written is local enough here: this test has no group commit.
        let never = i64::MAX as u64;
        let flush = FlushPolicy::Interval {
            messages: never,
            milliseconds: never,
        };
        let leader = open_with(&dir, "a", flush).await;
        let placement = crate::metadata::PartitionPlacement {
            replicas: vec![0, 1, 2],
            leader: 0,
            leader_epoch: 1,
            isr: vec![0, 1],
        };
        leader.apply_placement(0, &placement, 1, None);
        produce(&leader, 1, b"m0").await;
        leader.record_follower_fetch(1, leader.log_end_offset());
        leader.record_follower_fetch(2, leader.log_end_offset());
        let before = leader.high_watermark();
        assert_eq!(before, 1);
        leader.set_alter_in_flight(Some(&[0, 1, 2]));
        produce(&leader, 1, b"m1").await;
        leader.record_follower_fetch(1, leader.log_end_offset());
        assert_eq!(leader.high_watermark(), before, "2 has not fetched m1");
        leader.record_follower_fetch(2, leader.log_end_offset());
        assert_eq!(leader.high_watermark(), 2);
        // Answered: the ISR alone decides again.
        leader.set_alter_in_flight(None);
        produce(&leader, 1, b"m2").await;
        leader.record_follower_fetch(1, leader.log_end_offset());
        assert_eq!(leader.high_watermark(), 3);
    });
}

/// Written counts as local in these tests: they have no group commit.
fn written_is_local() -> FlushPolicy {
    let never = i64::MAX as u64;
    FlushPolicy::Interval {
        messages: never,
        milliseconds: never,
    }
}

/// Broker 1, a follower of 0 among `replicas` holding m0..m2 and last told
/// high watermark `told` (below the 3 leader 0 gave out), elected leader in
/// epoch 2 with `isr` and min.insync.replicas 2.
async fn elected_with_lagging_high_watermark(
    dir: &Path,
    replicas: Vec<u32>,
    told: i64,
    isr: Vec<u32>,
) -> Rc<Partition> {
    let old_leader = open_with(dir, "a", written_is_local()).await;
    let follower = open_with(dir, "b", written_is_local()).await;
    for body in [b"m0", b"m1", b"m2"] {
        produce(&old_leader, 1, body).await;
    }
    let following = crate::metadata::PartitionPlacement {
        isr: replicas.clone(),
        replicas,
        leader: 0,
        leader_epoch: 1,
    };
    follower.set_leader_epoch(1);
    follower.apply_placement(1, &following, 2, None);
    catch_up(&follower, &old_leader).await;
    follower.record_leader_high_watermark(told);
    assert_eq!(follower.high_watermark(), told);
    assert!(
        follower.consumer_high_watermark().is_some(),
        "a follower has no epoch start to reach"
    );
    let leading = crate::metadata::PartitionPlacement {
        leader: 1,
        leader_epoch: 2,
        isr,
        ..following
    };
    follower.set_leader_epoch(2);
    follower.apply_placement(1, &leading, 2, None);
    follower.assign_epoch_start_offset().unwrap();
    assert_eq!(follower.high_watermark(), told);
    follower
}

#[test]
fn a_new_leader_shows_no_high_watermark_below_its_epoch_start() {
    // Follower 1 holds m0..m2 but last heard high watermark 1 from leader
    // 0, which had given out 3. Made leader, its own high watermark starts
    // at 1: below what consumers saw. It is not shown (OFFSET_NOT_AVAILABLE)
    // until follower 2 has fetched up to the epoch's start.
    run(|dir| async move {
        let leader = elected_with_lagging_high_watermark(&dir, vec![0, 1, 2], 1, vec![1, 2]).await;
        assert!(leader.consumer_high_watermark().is_none());
        leader.record_follower_fetch(2, 2);
        assert!(
            leader.consumer_high_watermark().is_none(),
            "2 holds less than the epoch start"
        );
        leader.record_follower_fetch(2, 3);
        assert_eq!(leader.high_watermark(), 3);
        assert!(leader.consumer_high_watermark().is_some());
    });
}

#[test]
fn a_new_leader_below_min_insync_shows_its_high_watermark_as_it_is() {
    // With the ISR below min.insync.replicas the high watermark cannot
    // move, so holding it would keep consumers from committed records for
    // as long as the ISR stays short: it is shown as it is.
    run(|dir| async move {
        let leader = elected_with_lagging_high_watermark(&dir, vec![0, 1], 2, vec![1]).await;
        assert!(leader.consumer_high_watermark().is_some());
    });
}

#[test]
fn fewer_replicas_than_min_insync_refuse_acks_all_but_commit_acks_one() {
    // A topic of 1 replica with min.insync.replicas 2: acks=all is refused
    // (NOT_ENOUGH_REPLICAS) but acks=1 records become visible, as in
    // Kafka, instead of never (the ISR can never reach 2).
    run(|dir| async move {
        let leader = open_with(&dir, "a", written_is_local()).await;
        let placement = crate::metadata::PartitionPlacement {
            replicas: vec![0],
            leader: 0,
            leader_epoch: 1,
            isr: vec![0],
        };
        leader.apply_placement(0, &placement, 2, None);
        assert!(!leader.enough_in_sync());
        produce(&leader, 1, b"m0").await;
        assert_eq!(leader.high_watermark(), 1);
    });
}

#[test]
fn an_isr_shrinking_below_min_insync_under_a_waiting_acks_all_says_so_after_the_append() {
    // An acks=all append is written and waits for its replicas; the ISR
    // then shrinks below min.insync.replicas: the wait ends at once with
    // NOT_ENOUGH_REPLICAS_AFTER_APPEND (the record is in the leader's log
    // but not committed), not with a timeout.
    run(|dir| async move {
        let leader = open_with(&dir, "a", written_is_local()).await;
        let mut placement = crate::metadata::PartitionPlacement {
            replicas: vec![0, 1, 2],
            leader: 0,
            leader_epoch: 1,
            isr: vec![0, 1, 2],
        };
        leader.apply_placement(0, &placement, 2, None);
        assert!(leader.enough_in_sync());
        let end = produce(&leader, 1, b"m0").await + 1;
        let started = Instant::now();
        let waiting = {
            let leader = leader.clone();
            let deadline = started + std::time::Duration::from_secs(10);
            crate::rt::spawn(async move { leader.wait_committed(end, deadline).await })
        };
        crate::rt::sleep(std::time::Duration::from_millis(20)).await;
        placement.isr = vec![0];
        leader.apply_placement(0, &placement, 2, None);
        assert_eq!(
            waiting.await,
            Err(replica::CommitWaitError::NotEnoughReplicasAfterAppend)
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        assert_eq!(leader.high_watermark(), 0, "m0 is not committed");
        assert_eq!(leader.log_end_offset(), 1, "but it is in the log");
    });
}
