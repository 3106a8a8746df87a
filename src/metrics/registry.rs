//! One shard's counters: plain `Cell`s and single-owner maps in a
//! thread-local, recorded on the hot path without locks or atomics, and
//! copied into a [`Counters`] value when a scrape asks (`collect.rs`).
//!
//! Why a thread-local rather than a field of the `Shard`: the places that
//! count (the request pipeline, a partition's writer, the group commit, the
//! tail cache) sit below the shard and must not import it; every shard runs
//! on its own thread for the life of the process, so the thread's registry
//! is the shard's. Threads that are not shards (the blocking threads that
//! run sendfile, unit tests) record nothing that is ever scraped.
//!
//! Invariants:
//! - only the owning thread reads or writes its registry; a scrape gets a
//!   copy made on that thread (`snapshot`), sent by message.
//! - counters only grow; histogram bucket counts sum to the histogram's
//!   count.
//! - at most `TOPICS_REPORTED_PER_SHARD_MAX` topics get series of their
//!   own; the traffic of any further topic is added to the one series named
//!   [`OTHER_TOPICS`], so totals stay right and label cardinality bounded.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crate::limits::{API_KEYS_COUNTED_MAX, TOPICS_REPORTED_PER_SHARD_MAX};

/// The topic label under which topics past the reported maximum count.
pub const OTHER_TOPICS: &str = "_other";

/// Upper bounds of the latency histograms' buckets, in seconds (the last,
/// +Inf, is implied): 100 µs to 10 s, roughly three per decade.
pub const DURATION_BUCKETS_SECONDS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// A histogram of durations over [`DURATION_BUCKETS_SECONDS`]: a count per
/// bucket (not cumulative; the exposition sums them), the total count and
/// the sum.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DurationHistogram {
    /// One per bound, then one for larger values (+Inf).
    pub buckets: [u64; DURATION_BUCKETS_SECONDS.len() + 1],
    pub count: u64,
    pub sum_seconds: f64,
}

impl DurationHistogram {
    pub fn observe(&mut self, duration: Duration) {
        let seconds = duration.as_secs_f64();
        let bucket = DURATION_BUCKETS_SECONDS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(DURATION_BUCKETS_SECONDS.len());
        self.buckets[bucket] += 1;
        self.count += 1;
        self.sum_seconds += seconds;
    }

    /// Adds another shard's histogram (same buckets).
    pub fn add(&mut self, other: &DurationHistogram) {
        for (mine, theirs) in self.buckets.iter_mut().zip(other.buckets.iter()) {
            *mine += theirs;
        }
        self.count += other.count;
        self.sum_seconds += other.sum_seconds;
    }
}

/// Bytes and records one topic took in (Produce) and gave out (Fetch).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TopicTraffic {
    pub bytes_in: u64,
    pub records_in: u64,
    pub bytes_out: u64,
    pub records_out: u64,
}

/// A copy of one shard's counters at one moment: what a scrape gets.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    /// Requests admitted, by API key.
    pub requests: BTreeMap<i16, u64>,
    /// Partitions or requests answered with an error, by (API key, code).
    pub errors: BTreeMap<(i16, i16), u64>,
    /// Time from a request's header being read to its answer being ready.
    pub request_durations: BTreeMap<i16, DurationHistogram>,
    pub topics: BTreeMap<String, TopicTraffic>,
    pub group_commit_rounds: DurationHistogram,
    pub tail_cache_hits: u64,
    pub tail_cache_misses: u64,
}

/// The live registry of one thread (shard).
struct Registry {
    requests: [Cell<u64>; API_KEYS_COUNTED_MAX],
    request_durations: RefCell<Vec<DurationHistogram>>,
    errors: RefCell<BTreeMap<(i16, i16), u64>>,
    topics: RefCell<HashMap<String, TopicTraffic>>,
    group_commit_rounds: RefCell<DurationHistogram>,
    tail_cache_hits: Cell<u64>,
    tail_cache_misses: Cell<u64>,
}

impl Registry {
    fn new() -> Registry {
        Registry {
            requests: std::array::from_fn(|_| Cell::new(0)),
            request_durations: RefCell::new(vec![
                DurationHistogram::default();
                API_KEYS_COUNTED_MAX
            ]),
            errors: RefCell::new(BTreeMap::new()),
            topics: RefCell::new(HashMap::new()),
            group_commit_rounds: RefCell::new(DurationHistogram::default()),
            tail_cache_hits: Cell::new(0),
            tail_cache_misses: Cell::new(0),
        }
    }

    /// The traffic entry of `topic`, or of [`OTHER_TOPICS`] once the
    /// reported maximum is reached.
    fn with_topic(&self, topic: &str, change: impl FnOnce(&mut TopicTraffic)) {
        let mut topics = self.topics.borrow_mut();
        if let Some(traffic) = topics.get_mut(topic) {
            change(traffic);
            return;
        }
        let key = if topics.len() < TOPICS_REPORTED_PER_SHARD_MAX {
            topic
        } else {
            OTHER_TOPICS
        };
        change(topics.entry(key.to_string()).or_default());
    }
}

thread_local! {
    static REGISTRY: Registry = Registry::new();
}

/// The slot of an API key; keys past the counted maximum share the last.
fn slot(api_key: i16) -> usize {
    (api_key.max(0) as usize).min(API_KEYS_COUNTED_MAX - 1)
}

/// One admitted request of `api_key`.
pub fn count_request(api_key: i16) {
    REGISTRY.with(|registry| {
        let counter = &registry.requests[slot(api_key)];
        counter.set(counter.get() + 1);
    });
}

/// How long one request of `api_key` took, from its header to its answer.
pub fn observe_request(api_key: i16, duration: Duration) {
    REGISTRY
        .with(|registry| registry.request_durations.borrow_mut()[slot(api_key)].observe(duration));
}

/// A partition (or a whole request) of `api_key` answered with `code`
/// (not 0).
pub fn count_error(api_key: i16, code: i16) {
    REGISTRY.with(|registry| {
        *registry
            .errors
            .borrow_mut()
            .entry((api_key, code))
            .or_insert(0) += 1;
    });
}

/// Records written to `topic` by Produce (or the group coordinator).
pub fn count_in(topic: &str, bytes: u64, records: u64) {
    REGISTRY.with(|registry| {
        registry.with_topic(topic, |traffic| {
            traffic.bytes_in += bytes;
            traffic.records_in += records;
        })
    });
}

/// Records of `topic` answered to a Fetch.
pub fn count_out(topic: &str, bytes: u64, records: u64) {
    REGISTRY.with(|registry| {
        registry.with_topic(topic, |traffic| {
            traffic.bytes_out += bytes;
            traffic.records_out += records;
        })
    });
}

/// One group-commit round (every sync of the round) took `duration`.
pub fn observe_group_commit_round(duration: Duration) {
    REGISTRY.with(|registry| registry.group_commit_rounds.borrow_mut().observe(duration));
}

/// A fetch read found its batches in the tail cache (`hit`) or had to read
/// the segment files.
pub fn count_tail_cache_read(hit: bool) {
    REGISTRY.with(|registry| {
        let counter = if hit {
            &registry.tail_cache_hits
        } else {
            &registry.tail_cache_misses
        };
        counter.set(counter.get() + 1);
    });
}

/// A copy of this thread's counters.
pub fn snapshot() -> Counters {
    REGISTRY.with(|registry| {
        let requests = registry
            .requests
            .iter()
            .enumerate()
            .filter(|(_, count)| count.get() > 0)
            .map(|(key, count)| (key as i16, count.get()))
            .collect();
        let request_durations = registry
            .request_durations
            .borrow()
            .iter()
            .enumerate()
            .filter(|(_, histogram)| histogram.count > 0)
            .map(|(key, histogram)| (key as i16, histogram.clone()))
            .collect();
        Counters {
            requests,
            errors: registry.errors.borrow().clone(),
            request_durations,
            topics: registry
                .topics
                .borrow()
                .iter()
                .map(|(topic, traffic)| (topic.clone(), *traffic))
                .collect(),
            group_commit_rounds: registry.group_commit_rounds.borrow().clone(),
            tail_cache_hits: registry.tail_cache_hits.get(),
            tail_cache_misses: registry.tail_cache_misses.get(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_fall_in_the_first_bucket_that_holds_them() {
        let mut histogram = DurationHistogram::default();
        histogram.observe(Duration::from_micros(100));
        histogram.observe(Duration::from_micros(101));
        histogram.observe(Duration::from_secs(60));
        assert_eq!(histogram.buckets[0], 1);
        assert_eq!(histogram.buckets[1], 1);
        assert_eq!(histogram.buckets[DURATION_BUCKETS_SECONDS.len()], 1);
        assert_eq!(histogram.count, 3);
        assert!((histogram.sum_seconds - 60.000201).abs() < 1e-9);
    }

    #[test]
    fn topics_past_the_maximum_share_one_series() {
        // A thread of its own: the registry is per thread.
        std::thread::spawn(|| {
            for index in 0..TOPICS_REPORTED_PER_SHARD_MAX + 5 {
                count_in(&format!("topic-{index}"), 10, 1);
            }
            count_in("topic-0", 10, 1);
            let counters = snapshot();
            assert_eq!(counters.topics.len(), TOPICS_REPORTED_PER_SHARD_MAX + 1);
            assert_eq!(counters.topics[OTHER_TOPICS].records_in, 5);
            assert_eq!(counters.topics["topic-0"].bytes_in, 20);
            count_request(1);
            count_request(i16::MAX);
            assert_eq!(snapshot().requests[&1], 1);
            assert_eq!(snapshot().requests[&((API_KEYS_COUNTED_MAX - 1) as i16)], 1);
        })
        .join()
        .unwrap();
    }
}
