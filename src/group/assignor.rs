//! Server-side partition assignors of the consumer group protocol (KIP-848):
//! `uniform` (the default, as in Kafka when a member names none) and
//! `range`, the two Kafka ships.
//!
//! Pure functions: members with their subscriptions and current target, the
//! subscribed topics with their partition counts, in; a new target out.
//!
//! Invariants of every result:
//! - each partition of a subscribed topic goes to at most one member, and
//!   only to a member subscribed to its topic;
//! - every partition of a topic someone subscribes to is assigned;
//! - `uniform`: while a member holds two partitions more than another member
//!   that could take one of them, it gives one up, so with the same
//!   subscriptions everywhere counts differ by at most one; what a member had
//!   and may keep, it keeps (stickiness), apart from that balancing;
//! - `range`: for each topic, members in member id order get contiguous
//!   ranges, the first `partitions % members` one partition more.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

/// Partitions by topic id, as the heartbeat response carries them.
pub type Assignment = BTreeMap<Uuid, BTreeSet<i32>>;

/// The assignors a member may name in `server_assignor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assignor {
    Uniform,
    Range,
}

impl Assignor {
    /// `None` for a name Kafka would answer UNSUPPORTED_ASSIGNOR to.
    pub fn from_name(name: &str) -> Option<Assignor> {
        match name {
            "uniform" => Some(Assignor::Uniform),
            "range" => Some(Assignor::Range),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Assignor::Uniform => "uniform",
            Assignor::Range => "range",
        }
    }
}

/// A subscribed topic as the metadata knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicPartitions {
    pub id: Uuid,
    pub partitions: i32,
}

/// One member's input: what it subscribes to and what it was last given.
pub struct MemberInput<'a> {
    pub subscribed: &'a BTreeSet<String>,
    pub current: &'a Assignment,
}

/// The new target assignment of every member (members that get nothing map
/// to an empty assignment).
pub fn assign(
    assignor: Assignor,
    members: &BTreeMap<String, MemberInput<'_>>,
    topics: &BTreeMap<String, TopicPartitions>,
) -> BTreeMap<String, Assignment> {
    match assignor {
        Assignor::Uniform => uniform(members, topics),
        Assignor::Range => range(members, topics),
    }
}

fn range(
    members: &BTreeMap<String, MemberInput<'_>>,
    topics: &BTreeMap<String, TopicPartitions>,
) -> BTreeMap<String, Assignment> {
    let mut result: BTreeMap<String, Assignment> = members
        .keys()
        .map(|member_id| (member_id.clone(), Assignment::new()))
        .collect();
    for (name, topic) in topics {
        let subscribers: Vec<&String> = members
            .iter()
            .filter(|(_, member)| member.subscribed.contains(name))
            .map(|(member_id, _)| member_id)
            .collect();
        if subscribers.is_empty() || topic.partitions <= 0 {
            continue;
        }
        let count = subscribers.len() as i32;
        let quota = topic.partitions / count;
        let extra = topic.partitions % count;
        let mut next = 0;
        for (position, member_id) in subscribers.into_iter().enumerate() {
            let take = quota + i32::from((position as i32) < extra);
            if take > 0 {
                result
                    .get_mut(member_id)
                    .expect("every member has an entry")
                    .entry(topic.id)
                    .or_default()
                    .extend(next..next + take);
            }
            next += take;
        }
        debug_assert_eq!(next, topic.partitions);
    }
    result
}

fn uniform(
    members: &BTreeMap<String, MemberInput<'_>>,
    topics: &BTreeMap<String, TopicPartitions>,
) -> BTreeMap<String, Assignment> {
    let names_by_id: BTreeMap<Uuid, (&String, i32)> = topics
        .iter()
        .map(|(name, topic)| (topic.id, (name, topic.partitions)))
        .collect();
    let eligible = |member: &MemberInput<'_>, topic_id: &Uuid, partition: i32| {
        names_by_id.get(topic_id).is_some_and(|(name, partitions)| {
            partition >= 0 && partition < *partitions && member.subscribed.contains(*name)
        })
    };
    // Keep what each member had and may still have, once.
    let mut owner: BTreeMap<(Uuid, i32), String> = BTreeMap::new();
    let mut result: BTreeMap<String, Assignment> = BTreeMap::new();
    for (member_id, member) in members {
        let kept = result.entry(member_id.clone()).or_default();
        for (topic_id, partitions) in member.current {
            for &partition in partitions {
                if eligible(member, topic_id, partition)
                    && !owner.contains_key(&(*topic_id, partition))
                {
                    owner.insert((*topic_id, partition), member_id.clone());
                    kept.entry(*topic_id).or_default().insert(partition);
                }
            }
        }
    }
    let mut counts: BTreeMap<&String, usize> = result
        .iter()
        .map(|(member_id, assignment)| (member_id, assignment.values().map(BTreeSet::len).sum()))
        .collect();
    // Every free partition to the least loaded member that may take it.
    let mut unassigned = Vec::new();
    for topic in topics.values() {
        for partition in 0..topic.partitions.max(0) {
            if !owner.contains_key(&(topic.id, partition)) {
                unassigned.push((topic.id, partition));
            }
        }
    }
    for (topic_id, partition) in unassigned {
        let chosen = members
            .iter()
            .filter(|(_, member)| eligible(member, &topic_id, partition))
            .min_by_key(|(member_id, _)| (counts[member_id], *member_id))
            .map(|(member_id, _)| member_id);
        if let Some(member_id) = chosen {
            owner.insert((topic_id, partition), member_id.clone());
            *counts.get_mut(member_id).expect("counted") += 1;
        }
    }
    balance(&mut owner, &mut counts, members, &eligible);
    by_member(owner, members)
}

/// Moves partitions from a member holding two more than one that could
/// take them, until none can move. Each move lowers the sum of squared
/// counts, so this ends; the bound only guards against a bug.
fn balance<'a>(
    owner: &mut BTreeMap<(Uuid, i32), String>,
    counts: &mut BTreeMap<&'a String, usize>,
    members: &'a BTreeMap<String, MemberInput<'_>>,
    eligible: &dyn Fn(&MemberInput<'_>, &Uuid, i32) -> bool,
) {
    let moves_max = owner.len() * members.len().max(1) + 1;
    for _ in 0..moves_max {
        let mut moved = false;
        let keys: Vec<(Uuid, i32)> = owner.keys().rev().copied().collect();
        'search: for (topic_id, partition) in keys {
            let from = owner[&(topic_id, partition)].clone();
            let from_count = counts[&from];
            for (member_id, member) in members {
                if counts[member_id] + 1 < from_count && eligible(member, &topic_id, partition) {
                    owner.insert((topic_id, partition), member_id.clone());
                    *counts.get_mut(&from).expect("counted") -= 1;
                    *counts.get_mut(member_id).expect("counted") += 1;
                    moved = true;
                    break 'search;
                }
            }
        }
        if !moved {
            break;
        }
    }
}

/// Each member's partitions, from the owner of each partition.
fn by_member(
    owner: BTreeMap<(Uuid, i32), String>,
    members: &BTreeMap<String, MemberInput<'_>>,
) -> BTreeMap<String, Assignment> {
    let mut result: BTreeMap<String, Assignment> = members
        .keys()
        .map(|member_id| (member_id.clone(), Assignment::new()))
        .collect();
    for ((topic_id, partition), member_id) in owner {
        result
            .get_mut(&member_id)
            .expect("owners are members")
            .entry(topic_id)
            .or_default()
            .insert(partition);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(number: u64, partitions: i32) -> TopicPartitions {
        TopicPartitions {
            id: Uuid::from_u64_pair(0, number),
            partitions,
        }
    }

    fn count(assignment: &Assignment) -> usize {
        assignment.values().map(BTreeSet::len).sum()
    }

    fn subscriptions(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|name| name.to_string()).collect()
    }

    #[test]
    fn uniform_balances_and_keeps_what_it_can() {
        let topics = BTreeMap::from([("t".to_string(), topic(1, 7))]);
        let subscribed = subscriptions(&["t"]);
        let empty = Assignment::new();
        let all: Assignment = BTreeMap::from([(topic(1, 7).id, (0..7).collect())]);
        let members = BTreeMap::from([
            (
                "a".to_string(),
                MemberInput {
                    subscribed: &subscribed,
                    current: &all,
                },
            ),
            (
                "b".to_string(),
                MemberInput {
                    subscribed: &subscribed,
                    current: &empty,
                },
            ),
        ]);
        let result = assign(Assignor::Uniform, &members, &topics);
        let (a, b) = (count(&result["a"]), count(&result["b"]));
        assert_eq!(a + b, 7);
        assert!(a.abs_diff(b) <= 1, "{result:?}");
        // a keeps the partitions b does not take.
        assert!(result["a"][&topic(1, 7).id]
            .iter()
            .all(|p| all[&topic(1, 7).id].contains(p)));
        // Stable: assigning again from the result changes nothing.
        let members_again = BTreeMap::from([
            (
                "a".to_string(),
                MemberInput {
                    subscribed: &subscribed,
                    current: &result["a"],
                },
            ),
            (
                "b".to_string(),
                MemberInput {
                    subscribed: &subscribed,
                    current: &result["b"],
                },
            ),
        ]);
        assert_eq!(assign(Assignor::Uniform, &members_again, &topics), result);
    }

    #[test]
    fn uniform_gives_only_subscribed_topics() {
        let topics = BTreeMap::from([
            ("t".to_string(), topic(1, 2)),
            ("u".to_string(), topic(2, 4)),
        ]);
        let only_t = subscriptions(&["t"]);
        let both = subscriptions(&["t", "u"]);
        let empty = Assignment::new();
        let members = BTreeMap::from([
            (
                "a".to_string(),
                MemberInput {
                    subscribed: &only_t,
                    current: &empty,
                },
            ),
            (
                "b".to_string(),
                MemberInput {
                    subscribed: &both,
                    current: &empty,
                },
            ),
        ]);
        let result = assign(Assignor::Uniform, &members, &topics);
        assert!(!result["a"].contains_key(&topic(2, 4).id));
        assert_eq!(count(&result["a"]) + count(&result["b"]), 6);
        assert_eq!(result["b"][&topic(2, 4).id].len(), 4);
    }

    #[test]
    fn range_gives_contiguous_ranges_in_member_order() {
        let topics = BTreeMap::from([("t".to_string(), topic(1, 5))]);
        let subscribed = subscriptions(&["t"]);
        let empty = Assignment::new();
        let members: BTreeMap<String, MemberInput> = ["b", "a"]
            .iter()
            .map(|id| {
                (
                    id.to_string(),
                    MemberInput {
                        subscribed: &subscribed,
                        current: &empty,
                    },
                )
            })
            .collect();
        let result = assign(Assignor::Range, &members, &topics);
        let id = topic(1, 5).id;
        assert_eq!(result["a"][&id], BTreeSet::from([0, 1, 2]));
        assert_eq!(result["b"][&id], BTreeSet::from([3, 4]));
    }
}
