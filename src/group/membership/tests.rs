use super::*;

fn settings() -> GroupSettings {
    GroupSettings {
        initial_rebalance_delay: Duration::ZERO,
        members_max: 10,
    }
}

fn request(member_id: &str, protocols: &[&str]) -> JoinRequest {
    JoinRequest {
        member: MemberProfile {
            member_id: member_id.into(),
            group_instance_id: None,
            client_id: "client".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout: Duration::from_secs(10),
            rebalance_timeout: Duration::from_secs(30),
            protocols: protocols
                .iter()
                .map(|name| (name.to_string(), Bytes::from_static(b"m")))
                .collect(),
        },
        protocol_type: "consumer".into(),
        require_known_member_id: true,
    }
}

fn ids() -> impl FnMut() -> String {
    let mut next = 0;
    move || {
        next += 1;
        format!("member-{next}")
    }
}

fn now_result<T>(reply: Reply<T>) -> T {
    match reply {
        Reply::Now(result) => result,
        Reply::Wait(mut receiver) => receiver
            .try_recv()
            .expect("not cancelled")
            .expect("answered already"),
    }
}

/// Joins one member all the way to Stable; returns its id.
fn join_alone(group: &mut Group, ids: &mut dyn FnMut() -> String, now: Instant) -> String {
    let first = now_result(group.join(request("", &["range"]), ids, now));
    assert_eq!(first.error, ErrorCode::MEMBER_ID_REQUIRED);
    let joined = now_result(group.join(request(&first.member_id, &["range"]), ids, now));
    assert_eq!(joined.error, ErrorCode::NONE);
    assert_eq!(joined.leader, first.member_id);
    let generation = joined.generation_id;
    let assignments = vec![(first.member_id.clone(), Bytes::from_static(b"a"))];
    let SyncOutcome::Persist { assignments, .. } = group.sync(
        &first.member_id,
        None,
        generation,
        None,
        None,
        assignments,
        now,
    ) else {
        panic!("the leader persists first");
    };
    group.complete_sync(generation, assignments, Ok(()), now);
    assert_eq!(group.state(), GroupState::Stable);
    first.member_id
}

#[test]
fn a_member_joins_syncs_and_heartbeats() {
    let now = Instant::now();
    let mut group = Group::new("g", settings());
    let mut ids = ids();
    let member = join_alone(&mut group, &mut ids, now);
    assert_eq!(group.generation_id(), 1);
    assert_eq!(group.heartbeat(&member, None, 1, now), ErrorCode::NONE);
    assert_eq!(
        group.heartbeat(&member, None, 0, now),
        ErrorCode::ILLEGAL_GENERATION
    );
    assert_eq!(
        group.heartbeat("nobody", None, 1, now),
        ErrorCode::UNKNOWN_MEMBER_ID
    );
}

/// A stable group of one, then a second member whose JoinGroup waits for
/// the first to rejoin; returns both members' ids and that wait.
fn second_member_waits(
    group: &mut Group,
    ids: &mut dyn FnMut() -> String,
    now: Instant,
) -> (String, String, oneshot::Receiver<JoinResult>) {
    let first = join_alone(group, ids, now);
    let second = now_result(group.join(request("", &["range"]), ids, now));
    let Reply::Wait(waiting) = group.join(request(&second.member_id, &["range"]), ids, now) else {
        panic!("waits for the first member");
    };
    (first, second.member_id, waiting)
}

#[test]
fn no_protocols_is_inconsistent() {
    let mut group = Group::new("g", settings());
    let result = now_result(group.join(request("", &[]), &mut ids(), Instant::now()));
    assert_eq!(result.error, ErrorCode::INCONSISTENT_GROUP_PROTOCOL);
}

#[test]
fn a_second_member_triggers_a_rebalance_and_the_leader_gets_everyone() {
    let now = Instant::now();
    let mut group = Group::new("g", settings());
    let mut ids = ids();
    let (first, _, mut second_join) = second_member_waits(&mut group, &mut ids, now);
    assert_eq!(group.state(), GroupState::PreparingRebalance);
    assert_eq!(
        group.heartbeat(&first, None, 1, now),
        ErrorCode::REBALANCE_IN_PROGRESS
    );
    let leader = now_result(group.join(request(&first, &["range"]), &mut ids, now));
    assert_eq!(leader.generation_id, 2);
    assert_eq!(leader.members.len(), 2);
    let follower = second_join.try_recv().unwrap().unwrap();
    assert!(follower.members.is_empty());
    assert_eq!(follower.leader, first);
}

#[test]
fn a_member_that_does_not_rejoin_is_dropped_at_the_rebalance_timeout() {
    let now = Instant::now();
    let mut group = Group::new("g", settings());
    let mut ids = ids();
    let (first, second, mut waiting) = second_member_waits(&mut group, &mut ids, now);
    // The first member keeps heartbeating but never rejoins.
    let later = now + Duration::from_secs(29);
    assert_eq!(
        group.heartbeat(&first, None, 1, later),
        ErrorCode::REBALANCE_IN_PROGRESS
    );
    group.tick(later);
    assert!(
        waiting.try_recv().unwrap().is_none(),
        "still within the rebalance timeout"
    );
    group.tick(now + Duration::from_secs(31));
    let result = waiting.try_recv().unwrap().expect("the join completed");
    assert_eq!(result.generation_id, 2);
    assert_eq!(result.leader, second, "the remaining member leads");
    assert_eq!(result.members.len(), 1);
    assert!(!group.has_member(&first));
}

#[test]
fn a_silent_member_expires_and_the_group_empties() {
    let now = Instant::now();
    let mut group = Group::new("g", settings());
    let member = join_alone(&mut group, &mut ids(), now);
    group.tick(now + Duration::from_secs(5));
    assert!(group.has_member(&member));
    group.tick(now + Duration::from_secs(11));
    assert!(!group.has_member(&member));
    assert_eq!(group.state(), GroupState::Empty);
    assert_eq!(group.generation_id(), 2);
    assert!(
        group.protocol_type().is_some(),
        "an emptied group keeps its type"
    );
}

#[test]
fn a_static_member_rejoining_keeps_its_assignment() {
    let now = Instant::now();
    let mut group = Group::new("g", settings());
    let mut ids = ids();
    let mut static_request = request("", &["range"]);
    static_request.member.group_instance_id = Some("instance-1".into());
    let joined = now_result(group.join(static_request.clone(), &mut ids, now));
    assert_eq!(
        joined.error,
        ErrorCode::NONE,
        "static members need no member id round"
    );
    let assignment = vec![(joined.member_id.clone(), Bytes::from_static(b"p0"))];
    let SyncOutcome::Persist { assignments, .. } = group.sync(
        &joined.member_id,
        Some("instance-1"),
        1,
        None,
        None,
        assignment,
        now,
    ) else {
        panic!("the leader persists first");
    };
    group.complete_sync(1, assignments, Ok(()), now);
    let again = now_result(group.join(static_request, &mut ids, now));
    assert_eq!(again.error, ErrorCode::NONE);
    assert_eq!(again.generation_id, 1, "no rebalance");
    assert_ne!(again.member_id, joined.member_id);
    assert_eq!(
        group.heartbeat(&joined.member_id, Some("instance-1"), 1, now),
        ErrorCode::FENCED_INSTANCE_ID
    );
    let SyncOutcome::Reply(reply) = group.sync(
        &again.member_id,
        Some("instance-1"),
        1,
        None,
        None,
        Vec::new(),
        now,
    ) else {
        panic!("a stable group answers at once");
    };
    let synced = now_result(reply);
    assert_eq!(synced.assignment, Bytes::from_static(b"p0"));
}

#[test]
fn simple_commits_need_an_empty_group() {
    let now = Instant::now();
    let mut group = Group::new("g", settings());
    assert_eq!(group.check_commit("", None, -1, now), Ok(()));
    let member = join_alone(&mut group, &mut ids(), now);
    assert_eq!(
        group.check_commit("", None, -1, now),
        Err(ErrorCode::UNKNOWN_MEMBER_ID)
    );
    assert_eq!(
        group.check_commit("stranger", None, 1, now),
        Err(ErrorCode::UNKNOWN_MEMBER_ID)
    );
    assert_eq!(
        group.check_commit(&member, None, 7, now),
        Err(ErrorCode::ILLEGAL_GENERATION)
    );
    assert_eq!(group.check_commit(&member, None, 1, now), Ok(()));
}
