//! The one place a partition's high watermark comes from: the offset below
//! which records are committed, so consumers may read them and acks=all
//! producers may be answered.
//!
//! "Committed" starts from what the flush policy promises of the local log:
//! under the durable policy the synced (durable) offset, under the interval
//! policy everything written (as Kafka with one replica). Then, by role:
//! - leader: the least of that and every other in-sync replica's fetch
//!   offset (a follower fetches again only once what it holds is synced, so
//!   its fetch offset is durable), taken only while the ISR has at least
//!   `min.insync.replicas` members (or all the replicas there are);
//! - follower: the least of that and the high watermark its leader last
//!   reported.
//!
//! Invariants: the high watermark is within the log (at most its end
//! offset); it never decreases while the partition is open, except when a
//! truncation cuts the log below it (only a follower truncates); a leader's
//! only advances while |ISR| >= min(min.insync.replicas, |replicas|).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::storage::{FlushPolicy, Log};

/// What a leader knows of one follower's fetches (Kafka's replica state).
#[derive(Debug, Clone, Copy)]
pub struct FollowerProgress {
    /// The offset its last fetch asked for: everything below is durable
    /// there. -1 until it fetches from this leader.
    pub fetch_offset: i64,
    /// When it last fetched, and the leader's log end then.
    pub last_fetch: Instant,
    pub log_end_at_last_fetch: i64,
    /// The last time its fetch reached the leader's log end (Kafka's
    /// lastCaughtUpTime): the ISR shrink is measured from it.
    pub last_caught_up: Instant,
}

/// The role-specific part of the commit point.
#[derive(Debug)]
enum Replication {
    Leader {
        own: u32,
        isr: Vec<u32>,
        replicas: Vec<u32>,
        min_insync: usize,
        followers: HashMap<u32, FollowerProgress>,
        /// The log end when this leader's epoch began: a follower must
        /// reach it before it returns to the ISR.
        epoch_start_offset: i64,
    },
    Follower {
        leader_high_watermark: i64,
    },
}

/// Whether `isr` is large enough for the high watermark to advance: at
/// least `min.insync.replicas` members, but never more than the partition
/// has (a sole replica with none listed counts as one of each). A topic
/// with fewer replicas than its `min.insync.replicas` refuses acks=all
/// (NOT_ENOUGH_REPLICAS, see `enough_in_sync`) but, as in Kafka, its acks=1
/// records become visible once every replica has them, instead of never.
fn can_advance(isr: &[u32], min_insync: usize, replicas: &[u32]) -> bool {
    isr.len().max(1) >= min_insync.min(replicas.len().max(1))
}

/// The partition's commit point (see the module doc).
#[derive(Debug)]
pub struct CommitTracker {
    replication: RefCell<Replication>,
    /// Replicas an AlterPartition on its way adds to the ISR: the high
    /// watermark waits for them as for members (Kafka's maximal ISR,
    /// KIP-497). Without this, records committed by the old ISR while the
    /// change is out could be missing on a joiner the same change makes
    /// leader (the preferred replica's return), and be lost.
    expanding: RefCell<Vec<u32>>,
    /// The last high watermark given out: the floor of the next one.
    published: Cell<i64>,
}

impl Default for CommitTracker {
    /// A sole replica leading itself: the local log alone decides.
    fn default() -> CommitTracker {
        CommitTracker {
            replication: RefCell::new(Replication::Leader {
                own: 0,
                isr: Vec::new(),
                replicas: Vec::new(),
                min_insync: 1,
                followers: HashMap::new(),
                epoch_start_offset: 0,
            }),
            expanding: RefCell::new(Vec::new()),
            published: Cell::new(0),
        }
    }
}

impl CommitTracker {
    /// The high watermark of `log`, under its flush policy and this
    /// replica's role.
    pub fn high_watermark(&self, log: &Log) -> i64 {
        let local = match log.config().flush {
            FlushPolicy::Durable => log.durable_offset(),
            FlushPolicy::Interval { .. } => log.log_end_offset(),
        };
        let log_end = log.log_end_offset();
        let floor = self.published.get().min(log_end);
        let candidate = match &*self.replication.borrow() {
            Replication::Follower {
                leader_high_watermark,
            } => local.min(*leader_high_watermark),
            Replication::Leader {
                own,
                isr,
                replicas,
                min_insync,
                followers,
                ..
            } => {
                if !can_advance(isr, *min_insync, replicas) {
                    floor
                } else {
                    isr.iter()
                        .chain(self.expanding.borrow().iter())
                        .filter(|member| *member != own)
                        .map(|member| followers.get(member).map_or(-1, |f| f.fetch_offset))
                        .fold(local, i64::min)
                }
            }
        };
        let high_watermark = candidate.max(floor).min(log_end);
        self.published.set(high_watermark);
        debug_assert!(
            high_watermark <= log.log_end_offset(),
            "the high watermark is within the log"
        );
        high_watermark
    }

    /// Becomes (or stays) the leader with this placement. A new leadership
    /// (`new_epoch`) forgets what followers fetched from the last leader
    /// and counts each as caught up now, as Kafka does.
    pub fn lead(
        &self,
        own: u32,
        replicas: &[u32],
        isr: &[u32],
        min_insync: usize,
        new_epoch: bool,
        log_end: i64,
    ) {
        let now = Instant::now();
        let mut replication = self.replication.borrow_mut();
        let keep = match &mut *replication {
            Replication::Leader {
                own: was,
                followers,
                ..
            } if *was == own && !new_epoch => std::mem::take(followers),
            _ => HashMap::new(),
        };
        let epoch_start_offset = match &*replication {
            Replication::Leader {
                own: was,
                epoch_start_offset,
                ..
            } if *was == own && !new_epoch => *epoch_start_offset,
            _ => log_end,
        };
        let followers = replicas
            .iter()
            .filter(|replica| **replica != own)
            .map(|replica| {
                let progress = keep.get(replica).copied().unwrap_or(FollowerProgress {
                    fetch_offset: -1,
                    last_fetch: now,
                    log_end_at_last_fetch: log_end,
                    last_caught_up: now,
                });
                (*replica, progress)
            })
            .collect();
        *replication = Replication::Leader {
            own,
            isr: isr.to_vec(),
            replicas: replicas.to_vec(),
            min_insync: min_insync.max(1),
            followers,
            epoch_start_offset,
        };
    }

    /// Becomes (or stays) a follower; keeps the leader's last high
    /// watermark when it already was one.
    pub fn follow(&self) {
        let mut replication = self.replication.borrow_mut();
        if !matches!(&*replication, Replication::Follower { .. }) {
            *replication = Replication::Follower {
                leader_high_watermark: self.published.get(),
            };
        }
    }

    /// The ISR an AlterPartition on its way asks for (empty: none): its
    /// members not in the ISR count for the high watermark until the
    /// answer comes.
    pub fn expanding_to(&self, proposed: &[u32]) {
        let isr = self.isr();
        *self.expanding.borrow_mut() = proposed
            .iter()
            .copied()
            .filter(|member| !isr.contains(member))
            .collect();
    }

    /// A follower takes the high watermark its leader reported.
    pub fn leader_reported(&self, leader_high_watermark: i64) {
        if let Replication::Follower {
            leader_high_watermark: known,
        } = &mut *self.replication.borrow_mut()
        {
            *known = (*known).max(leader_high_watermark);
        }
    }

    /// A leader records a follower's fetch (`fetch_offset` is durable on
    /// it); `log_end` is the leader's log end now. Kafka's rule for
    /// "caught up": the fetch reached the log end now, or reached the log
    /// end of the follower's previous fetch (then it was caught up then).
    /// Ignored for a broker that is not a replica.
    pub fn follower_fetched(&self, broker: u32, fetch_offset: i64, log_end: i64, now: Instant) {
        let mut replication = self.replication.borrow_mut();
        let Replication::Leader { followers, .. } = &mut *replication else {
            return;
        };
        let Some(progress) = followers.get_mut(&broker) else {
            return;
        };
        if fetch_offset >= log_end {
            progress.last_caught_up = now;
        } else if fetch_offset >= progress.log_end_at_last_fetch {
            progress.last_caught_up = progress.last_caught_up.max(progress.last_fetch);
        }
        progress.fetch_offset = fetch_offset;
        progress.last_fetch = now;
        progress.log_end_at_last_fetch = log_end;
    }

    /// The ISR a leader should ask for now: less the followers not caught
    /// up for `lag_max`, plus those out of it whose fetches reached the
    /// high watermark and the start of this leader's epoch. `None` when
    /// nothing would change (or this is not a leader with followers).
    pub fn proposed_isr(
        &self,
        high_watermark: i64,
        lag_max: Duration,
        now: Instant,
    ) -> Option<Vec<u32>> {
        let replication = self.replication.borrow();
        let Replication::Leader {
            own,
            isr,
            replicas,
            followers,
            epoch_start_offset,
            ..
        } = &*replication
        else {
            return None;
        };
        if followers.is_empty() {
            return None;
        }
        let keeps = |replica: &u32| -> bool {
            if replica == own {
                return true;
            }
            let Some(progress) = followers.get(replica) else {
                return false;
            };
            if isr.contains(replica) {
                now.saturating_duration_since(progress.last_caught_up) <= lag_max
            } else {
                progress.fetch_offset >= high_watermark
                    && progress.fetch_offset >= *epoch_start_offset
            }
        };
        let proposed: Vec<u32> = replicas.iter().copied().filter(keeps).collect();
        (proposed != *isr).then_some(proposed)
    }

    /// Whether a leader's high watermark has reached the start of its
    /// epoch (always true for a follower). Until it has, it may be below
    /// the last one the previous leader gave out (a follower learns its
    /// leader's high watermark one fetch later), so consumers are not
    /// shown it (KIP-207, Kafka's OFFSET_NOT_AVAILABLE). With fewer than
    /// `min.insync.replicas` in sync it cannot move, so waiting would only
    /// keep consumers from what is committed: it is shown as it is.
    pub fn caught_up_with_epoch_start(&self, high_watermark: i64) -> bool {
        match &*self.replication.borrow() {
            Replication::Leader {
                epoch_start_offset,
                isr,
                replicas,
                min_insync,
                ..
            } => high_watermark >= *epoch_start_offset || !can_advance(isr, *min_insync, replicas),
            Replication::Follower { .. } => true,
        }
    }

    /// Whether the ISR holds at least `min.insync.replicas` (a sole
    /// replica with no ISR given counts as one).
    pub fn enough_in_sync(&self) -> bool {
        match &*self.replication.borrow() {
            Replication::Leader {
                isr, min_insync, ..
            } => isr.len().max(1) >= *min_insync,
            Replication::Follower { .. } => false,
        }
    }

    /// The in-sync replicas as this leader knows them (empty for a
    /// follower or a sole replica with none given).
    pub fn isr(&self) -> Vec<u32> {
        match &*self.replication.borrow() {
            Replication::Leader { isr, .. } => isr.clone(),
            Replication::Follower { .. } => Vec::new(),
        }
    }
}
