use super::*;
use uuid::Uuid;

const TOPIC: Uuid = Uuid::from_u64_pair(7, 7);
const OTHER_TOPIC: Uuid = Uuid::from_u64_pair(8, 8);

fn settings() -> ConsumerSettings {
    ConsumerSettings {
        session_timeout: SESSION_TIMEOUT_DEFAULT,
        heartbeat_interval: HEARTBEAT_INTERVAL_DEFAULT,
        members_max: 10,
    }
}

/// Metadata with topic "t" of `partitions` partitions and "u" of two.
fn metadata(partitions: i32) -> impl Fn(&str) -> Option<TopicPartitions> {
    move |name| match name {
        "t" => Some(TopicPartitions {
            id: TOPIC,
            partitions,
        }),
        "u" => Some(TopicPartitions {
            id: OTHER_TOPIC,
            partitions: 2,
        }),
        _ => None,
    }
}

fn owned(partitions: &[i32]) -> Assignment {
    if partitions.is_empty() {
        return Assignment::new();
    }
    BTreeMap::from([(TOPIC, partitions.iter().copied().collect())])
}

fn partitions(assignment: &Assignment) -> Vec<i32> {
    assignment
        .get(&TOPIC)
        .map(|set| set.iter().copied().collect())
        .unwrap_or_default()
}

fn join_request(member_id: &str, topics: &[&str]) -> HeartbeatRequest {
    HeartbeatRequest {
        member_id: member_id.to_string(),
        member_epoch: 0,
        rebalance_timeout: Some(Duration::from_secs(60)),
        subscribed_topic_names: Some(topics.iter().map(|topic| topic.to_string()).collect()),
        owned: Some(Assignment::new()),
        ..HeartbeatRequest::default()
    }
}

fn beat(member_id: &str, epoch: i32, owns: Option<&[i32]>) -> HeartbeatRequest {
    HeartbeatRequest {
        member_id: member_id.to_string(),
        member_epoch: epoch,
        owned: owns.map(owned),
        ..HeartbeatRequest::default()
    }
}

struct Harness {
    group: ConsumerProtocolGroup,
    partitions: i32,
    now: Instant,
}

impl Harness {
    fn new(partitions: i32) -> Harness {
        Harness {
            group: ConsumerProtocolGroup::new("g", settings()),
            partitions,
            now: Instant::now(),
        }
    }

    fn send(&mut self, request: HeartbeatRequest) -> Result<HeartbeatReply, Refusal> {
        let topics = metadata(self.partitions);
        self.group
            .heartbeat(request, &topics, &mut || "generated".to_string(), self.now)
    }

    fn ok(&mut self, request: HeartbeatRequest) -> HeartbeatReply {
        self.send(request).expect("accepted")
    }
}

#[test]
fn a_member_joins_and_gets_every_partition() {
    let mut harness = Harness::new(4);
    let reply = harness.ok(join_request("", &["t"]));
    assert_eq!(reply.member_id, "generated");
    assert_eq!(reply.member_epoch, 1);
    assert_eq!(reply.heartbeat_interval, HEARTBEAT_INTERVAL_DEFAULT);
    assert_eq!(
        partitions(reply.assignment.as_ref().unwrap()),
        vec![0, 1, 2, 3]
    );
    assert_eq!(harness.group.state(), ConsumerGroupState::Stable);
    // A heartbeat with nothing new gets no assignment back.
    let reply = harness.ok(beat("generated", 1, None));
    assert_eq!(reply.member_epoch, 1);
    assert_eq!(reply.assignment, None);
}

#[test]
fn a_partition_moves_only_after_its_owner_revoked_it() {
    let mut harness = Harness::new(4);
    harness.ok(join_request("a", &["t"]));
    // b joins: epoch 2, a target split, but a still owns everything.
    let reply = harness.ok(join_request("b", &["t"]));
    assert_eq!(reply.member_epoch, 2);
    assert_eq!(
        partitions(reply.assignment.as_ref().unwrap()),
        Vec::<i32>::new()
    );
    assert_eq!(harness.group.state(), ConsumerGroupState::Reconciling);
    let target_a = partitions(&harness.group.target_of("a"));
    let target_b = partitions(&harness.group.target_of("b"));
    assert_eq!(target_a.len(), 2);
    assert_eq!(target_b.len(), 2);
    // a learns what to revoke; its epoch stays until it has.
    let reply = harness.ok(beat("a", 1, Some(&[0, 1, 2, 3])));
    assert_eq!(reply.member_epoch, 1);
    assert_eq!(partitions(reply.assignment.as_ref().unwrap()), target_a);
    // b still waits: a has not confirmed.
    let reply = harness.ok(beat("b", 2, Some(&[])));
    assert_eq!(reply.assignment, None);
    // a still reports the revoked partitions: nothing moves.
    let reply = harness.ok(beat("a", 1, Some(&[0, 1, 2, 3])));
    assert_eq!(reply.member_epoch, 1);
    let reply = harness.ok(beat("a", 1, Some(&target_a)));
    assert_eq!(reply.member_epoch, 2);
    // Now b gets its partitions.
    let reply = harness.ok(beat("b", 2, Some(&[])));
    assert_eq!(partitions(reply.assignment.as_ref().unwrap()), target_b);
    assert_eq!(harness.group.state(), ConsumerGroupState::Stable);
}

#[test]
fn a_member_that_leaves_frees_its_partitions() {
    let mut harness = Harness::new(4);
    harness.ok(join_request("a", &["t"]));
    harness.ok(join_request("b", &["t"]));
    let target_a = partitions(&harness.group.target_of("a"));
    harness.ok(beat("a", 1, Some(&[0, 1, 2, 3])));
    harness.ok(beat("a", 1, Some(&target_a)));
    harness.ok(beat("b", 2, Some(&[])));
    let reply = harness.ok(beat("b", LEAVE_EPOCH, None));
    assert_eq!(reply.member_epoch, LEAVE_EPOCH);
    assert_eq!(harness.group.group_epoch(), 3);
    let reply = harness.ok(beat("a", 2, None));
    assert_eq!(reply.member_epoch, 3);
    assert_eq!(
        partitions(reply.assignment.as_ref().unwrap()),
        vec![0, 1, 2, 3]
    );
    // Leaving twice: the member is gone.
    let refusal = harness.send(beat("b", LEAVE_EPOCH, None)).unwrap_err();
    assert_eq!(refusal.code, ErrorCode::UNKNOWN_MEMBER_ID);
}

#[test]
fn wrong_epochs_are_fenced_and_unknown_members_refused() {
    let mut harness = Harness::new(2);
    harness.ok(join_request("a", &["t"]));
    let refusal = harness.send(beat("a", 5, None)).unwrap_err();
    assert_eq!(refusal.code, ErrorCode::FENCED_MEMBER_EPOCH);
    harness.ok(join_request("b", &["t"]));
    // a at epoch 2 after revoking; the previous epoch is accepted only
    // with owned partitions within its assignment (a lost reply).
    harness.ok(beat("a", 1, Some(&[0, 1])));
    let target_a = partitions(&harness.group.target_of("a"));
    assert_eq!(harness.ok(beat("a", 1, Some(&target_a))).member_epoch, 2);
    assert_eq!(harness.ok(beat("a", 1, Some(&target_a))).member_epoch, 2);
    let refusal = harness.send(beat("a", 1, Some(&[0, 1]))).unwrap_err();
    assert_eq!(refusal.code, ErrorCode::FENCED_MEMBER_EPOCH);
    // Epoch 0 needs a full join request.
    let refusal = harness.send(beat("a", JOIN_EPOCH, None)).unwrap_err();
    assert_eq!(refusal.code, ErrorCode::INVALID_REQUEST);
    let refusal = harness.send(beat("nobody", 2, None)).unwrap_err();
    assert_eq!(refusal.code, ErrorCode::UNKNOWN_MEMBER_ID);
    // A fenced member rejoins with epoch 0 and the same id.
    let reply = harness.ok(join_request("a", &["t"]));
    assert_eq!(reply.member_id, "a");
    assert_eq!(reply.member_epoch, 2);
    assert_eq!(partitions(reply.assignment.as_ref().unwrap()), target_a);
}

#[test]
fn a_silent_member_expires_after_the_session_timeout() {
    let mut harness = Harness::new(4);
    harness.ok(join_request("a", &["t"]));
    harness.ok(join_request("b", &["t"]));
    harness.now += SESSION_TIMEOUT_DEFAULT / 2;
    harness.ok(beat("b", 2, Some(&[])));
    harness.group.tick(harness.now);
    assert_eq!(harness.group.members().count(), 2);
    harness.now += SESSION_TIMEOUT_DEFAULT / 2;
    harness.group.tick(harness.now);
    let remaining: Vec<&str> = harness
        .group
        .members()
        .map(|m| m.member_id.as_str())
        .collect();
    assert_eq!(remaining, vec!["b"]);
    // a's partitions were never released by a live member: b takes all.
    let reply = harness.ok(beat("b", 2, Some(&[])));
    assert_eq!(reply.member_epoch, 3);
    assert_eq!(
        partitions(reply.assignment.as_ref().unwrap()),
        vec![0, 1, 2, 3]
    );
    let refusal = harness.send(beat("a", 1, None)).unwrap_err();
    assert_eq!(refusal.code, ErrorCode::UNKNOWN_MEMBER_ID);
}

#[test]
fn a_member_that_does_not_revoke_in_time_is_fenced() {
    let mut harness = Harness::new(4);
    harness.ok(join_request("a", &["t"]));
    harness.ok(join_request("b", &["t"]));
    harness.ok(beat("a", 1, Some(&[0, 1, 2, 3])));
    harness.now += Duration::from_secs(30);
    harness.ok(beat("a", 1, Some(&[0, 1, 2, 3])));
    harness.ok(beat("b", 2, Some(&[])));
    harness.now += Duration::from_secs(31);
    harness.group.tick(harness.now);
    assert!(harness
        .group
        .members()
        .all(|member| member.member_id == "b"));
}

#[test]
fn a_subscription_change_bumps_the_group_epoch() {
    let mut harness = Harness::new(2);
    harness.ok(join_request("a", &["t"]));
    assert_eq!(harness.group.group_epoch(), 1);
    let mut request = beat("a", 1, Some(&[0, 1]));
    request.subscribed_topic_names = Some(vec!["t".to_string(), "u".to_string()]);
    let reply = harness.ok(request);
    assert_eq!(reply.member_epoch, 2);
    let assignment = reply.assignment.unwrap();
    assert_eq!(assignment[&OTHER_TOPIC], BTreeSet::from([0, 1]));
    // The same subscription again changes nothing.
    let mut request = beat("a", 2, None);
    request.subscribed_topic_names = Some(vec!["u".to_string(), "t".to_string()]);
    assert_eq!(harness.ok(request).member_epoch, 2);
    // Dropping a topic revokes it first.
    let mut request = beat("a", 2, None);
    request.subscribed_topic_names = Some(vec!["u".to_string()]);
    let reply = harness.ok(request);
    assert_eq!(reply.member_epoch, 2);
    assert!(!reply.assignment.unwrap().contains_key(&TOPIC));
}

#[test]
fn more_partitions_bump_the_group_epoch() {
    let mut harness = Harness::new(2);
    harness.ok(join_request("a", &["t"]));
    harness.partitions = 3;
    let reply = harness.ok(beat("a", 1, None));
    assert_eq!(harness.group.group_epoch(), 2);
    assert_eq!(reply.member_epoch, 2);
    assert_eq!(
        partitions(reply.assignment.as_ref().unwrap()),
        vec![0, 1, 2]
    );
}

#[test]
fn offset_requests_check_the_member_epoch() {
    let mut harness = Harness::new(2);
    let group = &mut harness;
    assert_eq!(group.group.check_commit("", -1, 8), Ok(()));
    group.ok(join_request("a", &["t"]));
    assert_eq!(
        group.group.check_commit("", -1, 9),
        Err(ErrorCode::UNKNOWN_MEMBER_ID)
    );
    assert_eq!(group.group.check_commit("a", 1, 9), Ok(()));
    assert_eq!(
        group.group.check_commit("a", 0, 9),
        Err(ErrorCode::STALE_MEMBER_EPOCH)
    );
    assert_eq!(
        group.group.check_commit("a", 1, 8),
        Err(ErrorCode::UNSUPPORTED_VERSION)
    );
    assert_eq!(group.group.check_fetch(None, -1), Ok(()));
    assert_eq!(group.group.check_fetch(Some("a"), 1), Ok(()));
    assert_eq!(
        group.group.check_fetch(Some("a"), 2),
        Err(ErrorCode::STALE_MEMBER_EPOCH)
    );
    assert_eq!(
        group.group.check_fetch(Some("b"), 1),
        Err(ErrorCode::UNKNOWN_MEMBER_ID)
    );
}

#[test]
fn unknown_assignors_and_full_groups_are_refused() {
    let mut harness = Harness::new(2);
    let mut request = join_request("a", &["t"]);
    request.server_assignor = Some("sticky".to_string());
    assert_eq!(
        harness.send(request).unwrap_err().code,
        ErrorCode::UNSUPPORTED_ASSIGNOR
    );
    let mut request = join_request("a", &["t"]);
    request.server_assignor = Some("range".to_string());
    harness.ok(request);
    assert_eq!(harness.group.assignor(), Assignor::Range);
    for index in 1..10 {
        harness.ok(join_request(&format!("m{index}"), &["t"]));
    }
    let refusal = harness
        .send(join_request("one-too-many", &["t"]))
        .unwrap_err();
    assert_eq!(refusal.code, ErrorCode::GROUP_MAX_SIZE_REACHED);
}
