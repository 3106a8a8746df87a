//! Elections with a pre-vote (the Raft thesis, section 9.6; KRaft has one
//! since KIP-996). A voter that stops hearing from the quorum leader first
//! asks the other voters whether they would vote for it, and stands for
//! election only when a majority would. A voter says yes only when it has
//! not heard from a leader for a leader lease itself, does not lead, and
//! the asker's log is at least as up to date as its own.
//!
//! Why: without it, a voter that was paused or cut off for longer than an
//! election timeout (a stopped process, a partition) stands for election
//! the moment it is back, with a higher term than the leader's. The
//! others refuse it their votes (their lease is fresh), but the leader,
//! seeing the higher term in its answers, steps down: the quorum has no
//! leader for an election or two although nothing was wrong with it, and
//! topic changes and host leases wait meanwhile.
//!
//! openraft 0.9 has no pre-vote, so its own election timer is switched
//! off on a host (`config(_, OpenraftElects::No)`) and [`Elections::run`]
//! triggers its elections, on the same timeouts openraft would use.
//!
//! Invariants: a pre-vote changes no state anywhere (no term, no vote):
//! it only decides whether to ask for the real vote, which openraft still
//! grants or refuses by its own rules. A single voter elects itself at
//! once; a learner never stands.

use std::rc::Rc;
use std::time::{Duration, Instant};

use openraft::ServerState;
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::peer::ask_each;
use super::types::{LogId, NodeId, Raft};
use super::wire::{Request, Response};
use super::{LogStore, Timing};
use crate::limits::QUORUM_ELECTION_CHECK_MILLISECONDS;

/// "Would you vote for me, were I to stand now?"
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreVote {
    pub candidate: NodeId,
    /// The asker's last quorum log entry.
    pub last_log_id: Option<LogId>,
}

/// What a member knows of itself, read from openraft at one instant.
struct Standing {
    leading: bool,
    candidate: bool,
    /// This member's vote is for an elected leader (its own or another's).
    leader_known: bool,
    /// When the vote was last confirmed: by the leader's messages, by
    /// granting a vote, or by standing.
    confirmed: Option<Instant>,
    /// The voters and their quorum addresses, this member included.
    voters: Vec<(NodeId, String)>,
}

/// This host's elections: the timer that stands for them and the answer
/// to the other voters' pre-votes.
pub struct Elections {
    raft: Raft,
    log: LogStore,
    node_id: NodeId,
    timing: Timing,
}

impl Elections {
    pub fn new(raft: Raft, log: LogStore, node_id: NodeId, timing: Timing) -> Elections {
        Elections {
            raft,
            log,
            node_id,
            timing,
        }
    }

    /// openraft's leader lease: a voter that heard from a leader this
    /// recently refuses votes (openraft sets it to the longest election
    /// timeout; the pre-vote refuses for as long).
    fn lease(&self) -> Duration {
        Duration::from_millis(self.timing.election_max)
    }

    fn random_timeout(&self) -> Duration {
        let milliseconds =
            rand::thread_rng().gen_range(self.timing.election_min..=self.timing.election_max);
        Duration::from_millis(milliseconds)
    }

    async fn standing(&self) -> Option<Standing> {
        self.raft
            .with_raft_state(move |state| {
                let membership = state.membership_state.effective();
                let voters = membership
                    .voter_ids()
                    .map(|id| {
                        let address = membership
                            .get_node(&id)
                            .map(|node| node.addr.clone())
                            .unwrap_or_default();
                        (id, address)
                    })
                    .collect::<Vec<_>>();
                Standing {
                    leading: state.server_state == ServerState::Leader,
                    candidate: state.server_state == ServerState::Candidate,
                    leader_known: state.vote_ref().is_committed(),
                    confirmed: state.vote_last_modified().map(|at| at.into_std()),
                    voters,
                }
            })
            .await
            .ok()
    }

    /// The answer to another voter's pre-vote.
    pub async fn answer(&self, question: PreVote) -> bool {
        let Some(standing) = self.standing().await else {
            tracing::debug!("quorum: pre-vote asked of a stopped Raft member: no");
            return false;
        };
        let heard_lately = standing.leader_known
            && standing
                .confirmed
                .is_some_and(|at| at.elapsed() <= self.lease());
        let yes = would_vote(
            standing.leading,
            heard_lately,
            question.last_log_id,
            self.log.last_log_id(),
        );
        tracing::debug!(
            "quorum: pre-vote of node {}: {}",
            question.candidate,
            if yes { "yes" } else { "no" }
        );
        yes
    }

    /// Stands for election whenever this voter has not heard from a
    /// leader for an election timeout (after a leader lease, when it knew
    /// one) and a majority of voters would vote for it. Returns when the
    /// Raft member has shut down.
    pub async fn run(self: Rc<Self>) {
        self.stand_when_leaderless().await;
        tracing::info!("quorum: the Raft member stopped; no more elections here");
    }

    async fn stand_when_leaderless(&self) {
        let started = Instant::now();
        let mut last_round: Option<Instant> = None;
        let mut timeout = self.random_timeout();
        // Pre-votes refused in a row since a leader was last heard from.
        let mut refused = 0u64;
        loop {
            crate::rt::sleep(Duration::from_millis(QUORUM_ELECTION_CHECK_MILLISECONDS)).await;
            let Some(standing) = self.standing().await else {
                return;
            };
            let me = self.node_id;
            if standing.leading || !standing.voters.iter().any(|(id, _)| *id == me) {
                continue;
            }
            if standing.voters.len() == 1 {
                // The only voter: nobody else can lead, nobody to ask.
                if !standing.candidate && self.raft.trigger().elect().await.is_err() {
                    return;
                }
                continue;
            }
            // From the last word of a leader (a lease, then an election
            // timeout), or from this voter's last pre-vote that failed
            // (an election timeout: the lease was already waited out).
            let confirmed = standing.confirmed.map_or(started, |at| at.max(started));
            if last_round.is_some_and(|round| confirmed > round) {
                refused = 0;
            }
            let (since, wait) = match last_round {
                Some(round) if round > confirmed => (round, timeout),
                _ if standing.leader_known => (confirmed, self.lease() + timeout),
                _ => (confirmed, timeout),
            };
            if since.elapsed() < wait {
                continue;
            }
            last_round = Some(Instant::now());
            timeout = self.random_timeout();
            // A majority of all voters: with one configuration, which is
            // all corelog uses (hosts join as learners). A joint
            // configuration would need a majority of each.
            let others: Vec<(NodeId, String)> = standing
                .voters
                .into_iter()
                .filter(|(id, _)| *id != me)
                .collect();
            let voters = others.len() + 1;
            let tally = self.ask(others).await;
            let granted = 1 + tally.yes;
            if granted > voters / 2 {
                // A leader may have been heard from while the voters
                // answered: standing now would unseat it.
                let heard_since = self
                    .standing()
                    .await
                    .and_then(|now| now.confirmed)
                    .is_some_and(|at| last_round.is_some_and(|round| at > round));
                if heard_since {
                    continue;
                }
                tracing::info!(
                    "quorum: no leader heard from; {granted} of {voters} voters would vote for \
                     node {me}: standing for election"
                );
                refused = 0;
                if self.raft.trigger().elect().await.is_err() {
                    return;
                }
            } else {
                // Normal for a voter cut off from the others: said once,
                // then every 20 rounds, so a quorum that cannot elect
                // shows why without a line every second.
                refused += 1;
                if refused % 20 == 1 {
                    tracing::info!(
                        "quorum: no leader heard from for {:?}; node {me} does not stand: of \
                         the other voters {} would vote for it, {} would not, {} did not \
                         answer ({refused} such rounds in a row)",
                        confirmed.elapsed(),
                        tally.yes,
                        tally.no,
                        tally.silent
                    );
                }
            }
        }
    }

    /// Asks every other voter at once.
    async fn ask(&self, others: Vec<(NodeId, String)>) -> Tally {
        let question = PreVote {
            candidate: self.node_id,
            last_log_id: self.log.last_log_id(),
        };
        // A voter that takes longer than the shortest election timeout to
        // answer is as good as absent for an election.
        let limit = Duration::from_millis(self.timing.election_min);
        let addresses = others.into_iter().map(|(_, address)| address).collect();
        let mut tally = Tally::default();
        for answer in ask_each(addresses, || Request::PreVote(question), limit).await {
            match answer {
                Ok(Response::PreVote(true)) => tally.yes += 1,
                Ok(_) => tally.no += 1,
                Err(_) => tally.silent += 1,
            }
        }
        tally
    }
}

/// The other voters' answers to one pre-vote.
#[derive(Debug, Default)]
struct Tally {
    yes: usize,
    no: usize,
    /// Unreachable, or not in time.
    silent: usize,
}

/// A voter's pre-vote: yes unless it leads, heard from a leader within
/// its lease, or holds a log entry the asker lacks (Raft's own vote rule:
/// the asker's last entry at least as recent by term, then by index).
pub fn would_vote(
    leading: bool,
    heard_lately: bool,
    asker_last: Option<LogId>,
    own_last: Option<LogId>,
) -> bool {
    !leading && !heard_lately && asker_last >= own_last
}

#[cfg(test)]
mod tests {
    use super::would_vote;
    use crate::quorum::types::LogId;

    fn log_id(term: u64, index: u64) -> Option<LogId> {
        Some(openraft::LogId::new(
            openraft::CommittedLeaderId::new(term, 0),
            index,
        ))
    }

    #[test]
    fn a_voter_that_heard_from_its_leader_lately_says_no() {
        assert!(!would_vote(false, true, log_id(2, 10), log_id(2, 10)));
    }

    #[test]
    fn the_leader_says_no() {
        assert!(!would_vote(true, false, log_id(3, 20), log_id(2, 10)));
    }

    #[test]
    fn an_asker_missing_entries_gets_no() {
        // Fewer entries of the same term, or more of an older term.
        assert!(!would_vote(false, false, log_id(2, 9), log_id(2, 10)));
        assert!(!would_vote(false, false, log_id(1, 30), log_id(2, 10)));
        assert!(!would_vote(false, false, None, log_id(1, 1)));
    }

    #[test]
    fn a_leaderless_voter_says_yes_to_an_asker_as_up_to_date() {
        assert!(would_vote(false, false, log_id(2, 10), log_id(2, 10)));
        assert!(would_vote(false, false, log_id(3, 4), log_id(2, 10)));
        assert!(would_vote(false, false, None, None));
    }
}
