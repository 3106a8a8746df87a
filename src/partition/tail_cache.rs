//! The shard's tail cache: the batches most recently appended to its
//! partitions, kept in memory as refcounted `Bytes` so tailing consumers
//! are served without touching the disk and without a copy (the response
//! writer sends the same `Bytes`).
//!
//! Why it is not optional: segment writes use direct IO, which bypasses and
//! invalidates the page cache, so without it every tail fetch would read
//! back from the disk what was written a moment ago.
//!
//! Invariants (one cache per shard, used on that core only):
//! - `used` is the sum of the sizes in `order`, and never above `budget`
//!   after an insert returns.
//! - each partition's batches are contiguous in offset and in append order;
//!   the cache's `order` holds every batch inserted, in append order, with
//!   a sequence number, so evicting its front evicts the front of that
//!   partition's queue when it is still there (a cleared partition's
//!   entries are only subtracted from `used`).
//! - a cached batch holds exactly the bytes on disk (offsets assigned).
//!
//! These are asserted where they can break: `used` against the budget
//! before and after every insert and eviction (and against the sum of
//! `order` in debug builds), the batches of an insert against its bytes,
//! and contiguity on every read.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::{Rc, Weak};

use bytes::Bytes;

pub struct TailCache {
    budget: u64,
    used: Cell<u64>,
    order: RefCell<VecDeque<Inserted>>,
    next_sequence: Cell<u64>,
}

struct Inserted {
    owner: Weak<PartitionTail>,
    length: u64,
    sequence: u64,
}

/// One partition's share of the cache.
#[derive(Default)]
pub struct PartitionTail {
    batches: RefCell<VecDeque<CachedBatch>>,
}

#[derive(Debug, Clone)]
struct CachedBatch {
    base_offset: i64,
    last_offset: i64,
    bytes: Bytes,
    sequence: u64,
}

/// What a cache read found.
#[derive(Debug, PartialEq, Eq)]
pub enum CacheRead {
    /// The offset is older than anything cached: read the segments.
    Miss,
    /// Whole batches from the one holding the offset, in order (empty when
    /// nothing visible is there yet).
    Hit(Vec<Bytes>),
}

impl TailCache {
    /// A cache of at most `budget` bytes; 0 turns it off.
    pub fn new(budget: u64) -> TailCache {
        TailCache {
            budget,
            used: Cell::new(0),
            order: RefCell::new(VecDeque::new()),
            next_sequence: Cell::new(0),
        }
    }

    pub fn used_bytes(&self) -> u64 {
        self.used.get()
    }

    /// Adds batches just appended to `partition`: `bytes` holds them back to
    /// back, `batches` gives each one's (base offset, last offset, length).
    /// Evicts the oldest batches of the shard to stay within the budget. A
    /// run larger than the whole budget is not cached, and the partition's
    /// older batches are dropped so what is cached stays contiguous.
    pub fn insert(
        &self,
        partition: &Rc<PartitionTail>,
        bytes: Bytes,
        batches: impl Iterator<Item = (i64, i64, usize)>,
    ) {
        let size = bytes.len() as u64;
        self.assert_within_budget();
        if size > self.budget {
            partition.batches.borrow_mut().clear();
            return;
        }
        while self.used.get() + size > self.budget {
            self.evict_oldest();
        }
        let mut queue = partition.batches.borrow_mut();
        let mut order = self.order.borrow_mut();
        let mut position = 0usize;
        for (base_offset, last_offset, length) in batches {
            if let Some(previous) = queue.back() {
                if previous.last_offset + 1 != base_offset {
                    // Not contiguous (cannot happen while every append is
                    // cached in order); start again from this batch.
                    queue.clear();
                }
            }
            let sequence = self.next_sequence.replace(self.next_sequence.get() + 1);
            queue.push_back(CachedBatch {
                base_offset,
                last_offset,
                bytes: bytes.slice(position..position + length),
                sequence,
            });
            order.push_back(Inserted {
                owner: Rc::downgrade(partition),
                length: length as u64,
                sequence,
            });
            self.used.set(self.used.get() + length as u64);
            position += length;
        }
        assert_eq!(
            position,
            bytes.len(),
            "an insert's batches cover its bytes exactly"
        );
        drop((queue, order));
        self.assert_within_budget();
    }

    /// `used` is within the budget, and (in debug builds, where the walk
    /// is affordable) the sum of what `order` holds.
    fn assert_within_budget(&self) {
        let used = self.used.get();
        assert!(
            used <= self.budget,
            "tail cache over its budget: {used} of {}",
            self.budget
        );
        debug_assert_eq!(
            used,
            self.order
                .borrow()
                .iter()
                .map(|entry| entry.length)
                .sum::<u64>(),
            "tail cache: used is the sum of the inserted lengths"
        );
    }

    fn evict_oldest(&self) {
        let Some(oldest) = self.order.borrow_mut().pop_front() else {
            assert_eq!(self.used.get(), 0, "an empty tail cache uses nothing");
            return;
        };
        let used = self.used.get();
        assert!(
            used >= oldest.length,
            "tail cache would go negative: {used} used, evicting {}",
            oldest.length
        );
        self.used.set(used - oldest.length);
        if let Some(owner) = oldest.owner.upgrade() {
            let mut queue = owner.batches.borrow_mut();
            if queue
                .front()
                .is_some_and(|front| front.sequence == oldest.sequence)
            {
                queue.pop_front();
            }
        }
    }
}

impl PartitionTail {
    /// Batches from the one holding `offset`, none at or past `visible_end`,
    /// whole batches only and at most `max_bytes` of them, except that the
    /// first is always included (so a batch over the limit can be read).
    pub fn read(&self, offset: i64, max_bytes: u64, visible_end: i64) -> CacheRead {
        let queue = self.batches.borrow();
        let Some(first) = queue.front() else {
            return CacheRead::Miss;
        };
        if offset < first.base_offset {
            return CacheRead::Miss;
        }
        let start = queue.partition_point(|batch| batch.last_offset < offset);
        let mut found = Vec::new();
        let mut total = 0u64;
        let mut previous_last: Option<i64> = None;
        for batch in queue.range(start..) {
            if batch.last_offset >= visible_end {
                break;
            }
            if let Some(previous) = previous_last {
                assert_eq!(
                    batch.base_offset,
                    previous + 1,
                    "a partition's cached batches are contiguous"
                );
            }
            previous_last = Some(batch.last_offset);
            let length = batch.bytes.len() as u64;
            if !found.is_empty() && total + length > max_bytes {
                break;
            }
            total += length;
            found.push(batch.bytes.clone());
        }
        CacheRead::Hit(found)
    }

    /// Forgets every cached batch (the log was cut or rewritten).
    pub fn clear(&self) {
        self.batches.borrow_mut().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(length: usize, fill: u8) -> Bytes {
        Bytes::from(vec![fill; length])
    }

    fn hit(read: CacheRead) -> Vec<u8> {
        match read {
            CacheRead::Hit(pieces) => pieces.iter().map(|piece| piece[0]).collect(),
            CacheRead::Miss => panic!("expected a hit"),
        }
    }

    #[test]
    fn serves_whole_batches_from_the_one_holding_the_offset() {
        let cache = TailCache::new(1000);
        let tail = Rc::new(PartitionTail::default());
        // Offsets 0-4 in a 100-byte batch, 5 in a 50-byte one, 6-9 in 80.
        let mut run = Vec::new();
        run.extend(vec![1u8; 100]);
        run.extend(vec![2u8; 50]);
        run.extend(vec![3u8; 80]);
        cache.insert(
            &tail,
            Bytes::from(run),
            [(0, 4, 100), (5, 5, 50), (6, 9, 80)].into_iter(),
        );
        assert_eq!(cache.used_bytes(), 230);
        assert_eq!(hit(tail.read(3, 1000, 10)), vec![1, 2, 3]);
        assert_eq!(hit(tail.read(5, 1000, 10)), vec![2, 3]);
        // The byte limit stops before a batch that does not fit, but never
        // before the first.
        assert_eq!(hit(tail.read(0, 120, 10)), vec![1]);
        assert_eq!(hit(tail.read(0, 10, 10)), vec![1]);
        // Nothing at or past the visible end (the high watermark).
        assert_eq!(hit(tail.read(0, 1000, 6)), vec![1, 2]);
        assert_eq!(hit(tail.read(6, 1000, 6)), Vec::<u8>::new());
        assert_eq!(hit(tail.read(10, 1000, 10)), Vec::<u8>::new());
    }

    #[test]
    fn evicts_the_shards_oldest_batches_first_within_the_budget() {
        let cache = TailCache::new(300);
        let first = Rc::new(PartitionTail::default());
        let second = Rc::new(PartitionTail::default());
        cache.insert(&first, batch(100, 1), [(0, 0, 100)].into_iter());
        cache.insert(&second, batch(100, 2), [(0, 0, 100)].into_iter());
        cache.insert(&first, batch(100, 3), [(1, 1, 100)].into_iter());
        cache.insert(&second, batch(100, 4), [(1, 1, 100)].into_iter());
        assert_eq!(cache.used_bytes(), 300);
        // The first partition's offset 0 went; offset 1 is still there.
        assert_eq!(first.read(0, 1000, 2), CacheRead::Miss);
        assert_eq!(hit(first.read(1, 1000, 2)), vec![3]);
        assert_eq!(hit(second.read(0, 1000, 2)), vec![2, 4]);
    }

    #[test]
    fn a_run_over_the_budget_is_not_cached_and_keeps_the_rest_contiguous() {
        let cache = TailCache::new(150);
        let tail = Rc::new(PartitionTail::default());
        cache.insert(&tail, batch(100, 1), [(0, 0, 100)].into_iter());
        cache.insert(&tail, batch(200, 2), [(1, 1, 200)].into_iter());
        assert_eq!(tail.read(0, 1000, 3), CacheRead::Miss);
        cache.insert(&tail, batch(100, 3), [(2, 2, 100)].into_iter());
        assert_eq!(tail.read(1, 1000, 3), CacheRead::Miss);
        assert_eq!(hit(tail.read(2, 1000, 3)), vec![3]);
        assert!(cache.used_bytes() <= 150);
    }

    #[test]
    fn a_dropped_partition_gives_its_share_back_on_eviction() {
        let cache = TailCache::new(200);
        let gone = Rc::new(PartitionTail::default());
        cache.insert(&gone, batch(150, 1), [(0, 0, 150)].into_iter());
        drop(gone);
        let kept = Rc::new(PartitionTail::default());
        cache.insert(&kept, batch(100, 2), [(0, 0, 100)].into_iter());
        assert_eq!(cache.used_bytes(), 100);
        assert_eq!(hit(kept.read(0, 1000, 1)), vec![2]);
    }

    #[test]
    fn a_zero_budget_caches_nothing() {
        let cache = TailCache::new(0);
        let tail = Rc::new(PartitionTail::default());
        cache.insert(&tail, batch(10, 1), [(0, 0, 10)].into_iter());
        assert_eq!(tail.read(0, 1000, 1), CacheRead::Miss);
        assert_eq!(cache.used_bytes(), 0);
    }
}
