//! Set operations on assignments (topic id to partitions), for
//! reconciliation.

use std::collections::BTreeSet;

use super::Assignment;

pub(super) fn contains(assignment: &Assignment, topic_id: &uuid::Uuid, partition: i32) -> bool {
    assignment
        .get(topic_id)
        .is_some_and(|partitions| partitions.contains(&partition))
}

pub(super) fn is_empty(assignment: &Assignment) -> bool {
    assignment.values().all(BTreeSet::is_empty)
}

pub(super) fn is_subset(small: &Assignment, large: &Assignment) -> bool {
    small.iter().all(|(topic_id, partitions)| {
        partitions
            .iter()
            .all(|partition| contains(large, topic_id, *partition))
    })
}

pub(super) fn intersects(left: &Assignment, right: &Assignment) -> bool {
    left.iter().any(|(topic_id, partitions)| {
        partitions
            .iter()
            .any(|partition| contains(right, topic_id, *partition))
    })
}

pub(super) fn filtered(left: &Assignment, keep: impl Fn(&uuid::Uuid, i32) -> bool) -> Assignment {
    let mut result = Assignment::new();
    for (topic_id, partitions) in left {
        let chosen: BTreeSet<i32> = partitions
            .iter()
            .copied()
            .filter(|partition| keep(topic_id, *partition))
            .collect();
        if !chosen.is_empty() {
            result.insert(*topic_id, chosen);
        }
    }
    result
}

pub(super) fn intersection(left: &Assignment, right: &Assignment) -> Assignment {
    filtered(left, |topic_id, partition| {
        contains(right, topic_id, partition)
    })
}

pub(super) fn difference(left: &Assignment, right: &Assignment) -> Assignment {
    filtered(left, |topic_id, partition| {
        !contains(right, topic_id, partition)
    })
}
