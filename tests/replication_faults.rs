//! Replication under faults (issue 14, "What it must show"): a 3-host
//! `scripts/cluster.sh` cluster, a topic with 3 replicas and
//! `min.insync.replicas=2`, idempotent acks=all producers (the Rust test
//! client and kafkajs), consumers that keep running (Rust tail readers, a
//! kafkajs group, a kcat group), and seeded fault cycles: kill -9 the
//! leader's host and start it again, SIGSTOP it past the session timeout,
//! isolate it and heal, restart a follower's host. The checker
//! (`common/checker.rs`) then judges the whole history. The same checker
//! with `min.insync.replicas=1` and acks=1 must find the losses Kafka's
//! semantics allow there.
//!
//! Environment: CORELOG_FAULT_SEED replays a run (each run prints its
//! seed), CORELOG_FAULT_CYCLES sets the number of faults (5 by default; the
//! long run in docs/REPLICATION-FAULTS.md uses hundreds),
//! CORELOG_FAULT_REPLICATION_FACTOR (3 by default; 1 exercises the harness
//! on a cluster without replication). Needs root; skips (and passes)
//! without it.

mod common;
#[path = "replication_faults/workload.rs"]
mod workload;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::checker::{Recorder, Violation};
use common::cluster::{wait_for, Cluster, PartitionState};
use workload::ProducerSettings;

const HOSTS: usize = 3;
const PARTITIONS: i32 = 3;
/// The partition whose leader the faults aim at.
const TARGET: i32 = 0;
const SESSION_TIMEOUT: Duration = Duration::from_millis(3000);
const FLAGS: &[&str] = &[
    "--broker-session-timeout-ms",
    "3000",
    "--replica-lag-time-max-ms",
    "3000",
];
const INVALID_REPLICATION_FACTOR: i16 = 38;
/// How long the cluster may take to be whole again after a fault.
const RECOVERY: Duration = Duration::from_secs(90);

/// One cluster test of this file at a time: each runs 3 hosts, producers
/// and consumers, and on a small machine three at once starve the hosts'
/// quorum heartbeats past the 3 s session timeout (false fencing, then the
/// ISR shrinks to the host about to be faulted).
static ONE_CLUSTER_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_cluster_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_CLUSTER_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A small seeded generator (splitmix64): the same seed, the same faults.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut mixed = self.0;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        mixed ^ (mixed >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    fn millis(&mut self, low: u64, high: u64) -> Duration {
        Duration::from_millis(low + self.below(high - low + 1))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    KillLeader,
    PauseLeader,
    IsolateLeader,
    RestartFollower,
}

const FAULTS: [Fault; 4] = [
    Fault::KillLeader,
    Fault::PauseLeader,
    Fault::IsolateLeader,
    Fault::RestartFollower,
];

fn environment_number(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    Some(
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} is not a number")),
    )
}

/// The faults of a run: every kind once in a seeded order, then seeded
/// choices, so even a short run has each kind.
fn schedule(random: &mut Random, cycles: usize) -> Vec<Fault> {
    let mut order = FAULTS.to_vec();
    for index in (1..order.len()).rev() {
        order.swap(index, random.below(index as u64 + 1) as usize);
    }
    (0..cycles)
        .map(|cycle| match order.get(cycle) {
            Some(fault) => *fault,
            None => FAULTS[random.below(FAULTS.len() as u64) as usize],
        })
        .collect()
}

/// Creates `topic`; a cluster without replication refuses a factor above
/// 1, and then the test fails saying so.
fn create_replicated_topic(
    cluster: &Cluster,
    topic: &str,
    replication_factor: i16,
    configs: &[(&str, &str)],
) {
    let code = cluster.create_topic(topic, PARTITIONS, replication_factor, configs);
    assert_ne!(
        code,
        Some(INVALID_REPLICATION_FACTOR),
        "CreateTopics {topic} with replication factor {replication_factor} answered \
         INVALID_REPLICATION_FACTOR: replication (issue 14) is not merged into this build, \
         and this test needs it (CORELOG_FAULT_REPLICATION_FACTOR=1 runs the harness alone)"
    );
    assert_eq!(code, Some(0), "CreateTopics {topic}\n{}", cluster.logs());
    let states = cluster.wait_in_sync(topic, Duration::from_secs(30));
    for state in &states {
        assert_eq!(
            state.replicas.len(),
            replication_factor as usize,
            "{state:?}"
        );
        let mut hosts: Vec<i32> = state.replicas.iter().map(|node| node / 1024).collect();
        hosts.sort();
        hosts.dedup();
        assert_eq!(
            hosts.len(),
            state.replicas.len(),
            "replicas on distinct hosts: {state:?}"
        );
    }
    println!("topic {topic}: {states:?}");
}

#[test]
fn seeded_faults_lose_no_acknowledged_record() {
    let seed = environment_number("CORELOG_FAULT_SEED")
        .unwrap_or_else(|| common::now_milliseconds() as u64 ^ u64::from(std::process::id()));
    let cycles = environment_number("CORELOG_FAULT_CYCLES").unwrap_or(5) as usize;
    let replication_factor =
        environment_number("CORELOG_FAULT_REPLICATION_FACTOR").unwrap_or(3) as i16;
    println!("fault seed {seed} (replay: CORELOG_FAULT_SEED={seed}), {cycles} cycles, replication factor {replication_factor}");
    let _turn = one_cluster_at_a_time();
    let Some(cluster) = Cluster::up("faults", HOSTS, 1, FLAGS) else {
        return;
    };
    let min_insync = replication_factor.min(2).to_string();
    let topic = "faults";
    create_replicated_topic(
        &cluster,
        topic,
        replication_factor,
        &[("min.insync.replicas", &min_insync)],
    );
    let mut random = Random(seed);
    let faults = schedule(&mut random, cycles);
    println!("faults: {faults:?}");
    let recorder = Recorder::new();
    let missing = run_workload_through(&cluster, &recorder, topic, &faults, &mut random);
    workload::final_read(
        &cluster,
        &recorder,
        topic,
        PARTITIONS,
        Duration::from_secs(60),
    );
    let report = recorder.check();
    println!("{report}");
    // How often a replica of the topic had to cut records its new leader
    // never had (the replica's "truncated to offset" log line): reported,
    // not required, since whether a killed leader held unreplicated
    // appends depends on timing.
    let truncations: usize = (0..HOSTS)
        .map(|host| {
            let log = cluster.log(host);
            let prefix = format!("{topic}-");
            log.lines()
                .filter(|line| line.contains(&prefix) && line.contains(": truncated to offset"))
                .count()
        })
        .sum();
    println!("truncations of {topic}'s replicas (host logs): {truncations}");
    for producer in ["rust-producer", "kafkajs-producer"] {
        let count = recorder.acknowledged_by(producer);
        println!("{producer}: {count} values acknowledged");
        assert!(
            count > 0,
            "{producer} got nothing acknowledged\n{}",
            cluster.logs()
        );
    }
    assert!(
        report.is_valid() && missing.is_empty(),
        "seed {seed}: the checker found violations, or consumers stopped short\n{report}\n{}\n{}",
        missing.join("\n"),
        cluster.logs()
    );
}

/// Runs every client while the faults happen; once they are over, stops
/// the producers and waits for every consumer to have read every
/// acknowledged value. Returns what each consumer missed (empty: none).
fn run_workload_through(
    cluster: &Cluster,
    recorder: &Recorder,
    topic: &str,
    faults: &[Fault],
    random: &mut Random,
) -> Vec<String> {
    let stop_producing = AtomicBool::new(false);
    let stop_reading = AtomicBool::new(false);
    let acks_all = ProducerSettings {
        label: "rust-producer",
        acks: -1,
        idempotent: true,
    };
    std::thread::scope(|scope| {
        for partition in 0..PARTITIONS {
            let (stop_producing, stop_reading) = (&stop_producing, &stop_reading);
            scope.spawn(move || {
                workload::rust_producer(
                    cluster,
                    recorder,
                    topic,
                    partition,
                    acks_all,
                    stop_producing,
                )
            });
            scope.spawn(move || {
                workload::rust_reader(cluster, recorder, topic, partition, stop_reading)
            });
        }
        let mut guard = workload::StopGuard {
            flags: vec![&stop_producing, &stop_reading],
            children: start_outside_clients(scope, cluster, recorder, topic).into(),
        };
        run_faults(cluster, recorder, topic, faults, random);
        println!("faults over: stopping the producers");
        stop_producing.store(true, Ordering::Relaxed);
        let producer = &mut guard.children[0];
        drop(producer.stdin.take());
        workload::finish(producer, Duration::from_secs(30));
        // The Rust producers have stopped once their last batch is answered
        // or given up; give them that long before taking the tally.
        std::thread::sleep(Duration::from_secs(6));
        let mut missing = wait_for_consumers(recorder);
        if let Ok(Some(status)) = guard.children[2].try_wait() {
            let log = std::fs::read_to_string(cluster.dir.join("kcat.log")).unwrap_or_default();
            missing.push(format!("kcat exited early ({status}): {}", log.trim()));
        }
        stop_reading.store(true, Ordering::Relaxed);
        let consumer = &mut guard.children[1];
        drop(consumer.stdin.take());
        workload::finish(consumer, Duration::from_secs(20));
        // Dropping the guard kills kcat.
        drop(guard);
        missing
    })
}

/// The kafkajs producer and consumer and the kcat consumer, each with a
/// thread of `scope` recording what it prints.
fn start_outside_clients<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    cluster: &Cluster,
    recorder: &'scope Recorder,
    topic: &str,
) -> [std::process::Child; 3] {
    let partitions = PARTITIONS.to_string();
    let mut producer = workload::spawn_kafkajs(
        cluster,
        &["produce", &cluster.bootstrap(), topic, &partitions],
        "kafkajs-producer.log",
    );
    let mut consumer = workload::spawn_kafkajs(
        cluster,
        &["consume", &cluster.bootstrap(), topic, "faults-kafkajs"],
        "kafkajs-consumer.log",
    );
    // kcat exits for good on librdkafka's "all broker connections are
    // down", which counts a broker down from its last failure until it is
    // connected again. With sparse connections (the default) it reconnects
    // only to brokers it needs, so faults on each host in turn (a killed
    // leader's host that leads nothing after its restart, then another)
    // add up to "all down" while two hosts are serving: Apache Kafka's
    // brokers would end kcat the same way. Keeping a connection to every
    // broker is a consumer setting, and the group still has to ride out
    // every failover.
    let mut kcat = cluster.spawn_kcat(&[
        "-G",
        "faults-kcat",
        "-X",
        "enable.sparse.connections=false",
        "-X",
        "reconnect.backoff.max.ms=1000",
        "-X",
        "auto.offset.reset=earliest",
        "-u",
        "-q",
        "-f",
        "read %p %o %s\n",
        topic,
    ]);
    for (child, who) in [
        (&mut producer, "kafkajs-producer"),
        (&mut consumer, "kafkajs-consumer"),
        (&mut kcat, "kcat"),
    ] {
        let stdout = child.stdout.take().expect("piped stdout");
        scope.spawn(move || workload::record_lines(stdout, who, recorder));
    }
    [producer, consumer, kcat]
}

/// Each fault in turn, after a seeded pause; after each, waits for the
/// cluster to be whole and the producers to progress again.
fn run_faults(
    cluster: &Cluster,
    recorder: &Recorder,
    topic: &str,
    faults: &[Fault],
    random: &mut Random,
) {
    wait_for_progress(cluster, recorder, "the first acknowledgements");
    for (cycle, fault) in faults.iter().enumerate() {
        std::thread::sleep(random.millis(1000, 3000));
        inject(cluster, recorder, topic, *fault, random, cycle);
        cluster.wait_in_sync(topic, RECOVERY);
        wait_for_progress(
            cluster,
            recorder,
            &format!("acknowledgements after fault {cycle}"),
        );
    }
}

/// One fault on the host leading partition `TARGET` (or, for
/// `RestartFollower`, on another host holding a replica of it), then the
/// repair.
fn inject(
    cluster: &Cluster,
    recorder: &Recorder,
    topic: &str,
    fault: Fault,
    random: &mut Random,
    cycle: usize,
) {
    let state = target_state(cluster, topic);
    let leader = state.leader_host().expect("a leader");
    println!(
        "fault {cycle}: {fault:?}; partition {TARGET} leader {} epoch {} isr {:?}",
        state.leader, state.leader_epoch, state.isr
    );
    let hold = SESSION_TIMEOUT + random.millis(1000, 3000);
    let replicated = state.replicas.len() > 1;
    match fault {
        Fault::KillLeader => {
            cluster.kill(leader);
            outage(cluster, recorder, topic, leader, hold, replicated);
            cluster.start(leader);
        }
        Fault::PauseLeader => {
            cluster.stop(leader);
            outage(cluster, recorder, topic, leader, hold, replicated);
            cluster.cont(leader);
        }
        Fault::IsolateLeader => {
            cluster.isolate(leader);
            outage(cluster, recorder, topic, leader, hold, replicated);
            cluster.heal();
        }
        Fault::RestartFollower => {
            let mut others: Vec<usize> = state
                .replicas
                .iter()
                .map(|node| (*node / 1024) as usize)
                .filter(|host| *host != leader)
                .collect();
            if others.is_empty() {
                others = (0..HOSTS).filter(|host| *host != leader).collect();
            }
            let follower = others[random.below(others.len() as u64) as usize];
            cluster.kill(follower);
            std::thread::sleep(random.millis(200, 2000));
            cluster.start(follower);
        }
    }
    let after = target_state(cluster, topic);
    println!(
        "fault {cycle} repaired; partition {TARGET} leader {} epoch {} isr {:?}",
        after.leader, after.leader_epoch, after.isr
    );
}

/// While `down` (the target's leader host) is out for `hold`: with
/// replicas, a leader on another host is elected and acks=all produce
/// goes on (min.insync.replicas=2 of the 2 hosts left); without, the
/// partition just waits for its host.
fn outage(
    cluster: &Cluster,
    recorder: &Recorder,
    topic: &str,
    down: usize,
    hold: Duration,
    replicated: bool,
) {
    let start = Instant::now();
    if replicated {
        let elected = wait_for(
            &format!("a leader of {topic}-{TARGET} on a host other than {down}"),
            SESSION_TIMEOUT + Duration::from_secs(20),
            || cluster.logs(),
            || {
                cluster
                    .leader_host(topic, TARGET)
                    .filter(|host| *host != down)
            },
        );
        println!("  host {elected} took over partition {TARGET}");
        wait_for_progress(
            cluster,
            recorder,
            &format!("acknowledgements while host {down} is out"),
        );
    }
    std::thread::sleep(hold.saturating_sub(start.elapsed()));
}

fn target_state(cluster: &Cluster, topic: &str) -> PartitionState {
    wait_for(
        &format!("a leader of {topic}-{TARGET}"),
        RECOVERY,
        || cluster.logs(),
        || {
            let states = cluster.partitions(topic)?;
            let state = states.into_iter().find(|state| state.partition == TARGET)?;
            state.leader_host().map(|_| state)
        },
    )
}

/// Waits until more values are acknowledged than now: the producers make
/// progress again.
fn wait_for_progress(cluster: &Cluster, recorder: &Recorder, what: &str) {
    let before = recorder.acknowledged_count();
    wait_for(
        what,
        RECOVERY,
        || cluster.logs(),
        || (recorder.acknowledged_count() > before + 3 * workload::BATCH_VALUES).then_some(()),
    );
}

/// Waits up to 60 s for each consumer to have read every acknowledged
/// value; what each still misses after that.
fn wait_for_consumers(recorder: &Recorder) -> Vec<String> {
    let acknowledged = recorder.acknowledged_values();
    let consumers = ["rust-reader", "kafkajs-consumer", "kcat"];
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let missing: Vec<String> = consumers
            .iter()
            .filter_map(|consumer| {
                let read = recorder.values_read_by(consumer);
                let mut absent: Vec<&String> = acknowledged
                    .keys()
                    .filter(|value| !read.contains(*value))
                    .collect();
                absent.sort();
                (!absent.is_empty()).then(|| {
                    format!(
                        "consumer {consumer} has not read {} of {} acknowledged values, e.g. {:?}",
                        absent.len(),
                        acknowledged.len(),
                        &absent[..absent.len().min(5)]
                    )
                })
            })
            .collect();
        if missing.is_empty() || Instant::now() > deadline {
            println!(
                "consumers: {}",
                if missing.is_empty() {
                    "each read every acknowledged value"
                } else {
                    "some stopped short"
                }
            );
            return missing;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// With `min.insync.replicas=1` and acks=1, Kafka allows a leader to
/// acknowledge records no follower has, and to lose them when it dies:
/// the checker must find exactly such losses. The followers' hosts are
/// paused while acks=1 values go to the leader (so no follower can have
/// them, and the quorum cannot shrink the ISR), then the leader's host is
/// killed, the followers resume and one of them is elected; the old
/// leader, restarted, must truncate. Values acknowledged with acks=all
/// before must all survive.
#[test]
fn acks_one_with_min_insync_one_loses_what_kafka_allows() {
    let _turn = one_cluster_at_a_time();
    let Some(cluster) = Cluster::up("losses", HOSTS, 1, FLAGS) else {
        return;
    };
    let topic = "losses";
    create_replicated_topic(&cluster, topic, 3, &[("min.insync.replicas", "1")]);
    let recorder = Recorder::new();
    let leader = cluster.leader_host(topic, TARGET).expect("a leader");
    let followers: Vec<usize> = (0..HOSTS).filter(|host| *host != leader).collect();
    let safe = produce_for(
        &cluster,
        &recorder,
        topic,
        ProducerSettings {
            label: "rust-producer-acks-all",
            acks: -1,
            idempotent: true,
        },
        Duration::from_secs(2),
    );
    for follower in &followers {
        cluster.stop(*follower);
    }
    // Under replica.lag.time.max.ms (3 s): the leader has no reason yet to
    // ask for a smaller ISR (which the paused quorum could not commit
    // anyway, but a request left in a socket might be after the resume).
    let risky = produce_for(
        &cluster,
        &recorder,
        topic,
        ProducerSettings {
            label: "rust-producer-acks-1",
            acks: 1,
            idempotent: false,
        },
        Duration::from_secs(1),
    );
    assert!(
        risky > 0,
        "acks=1 produce to the leader alone succeeded\n{}",
        cluster.logs()
    );
    cluster.kill(leader);
    for follower in &followers {
        cluster.cont(*follower);
    }
    let new_leader = wait_for(
        "a new leader of the target partition",
        RECOVERY,
        || cluster.logs(),
        || {
            cluster
                .leader_host(topic, TARGET)
                .filter(|host| *host != leader)
        },
    );
    println!("host {new_leader} leads after the old leader's death: {safe} acks=all values before, {risky} acks=1 after");
    cluster.start(leader);
    cluster.wait_in_sync(topic, RECOVERY);
    workload::final_read(&cluster, &recorder, topic, 1, Duration::from_secs(60));
    let report = recorder.check();
    println!("{report}");
    // The followers were paused before the first acks=1 value went out, so
    // at most a fetch the leader answered just before (left unread in a
    // paused follower's socket, appended on resume, as Kafka would) can
    // have carried some of them: the values lost are the acks=1 values
    // from some offset on, at least one of them, and no acks=all value.
    // None lost means the old leader's tail survived its return; a gap, or
    // an acks=all value lost, that truncation cut the wrong records.
    let lost = report.count(Violation::Lost);
    assert!(
        (1..=risky).contains(&lost),
        "the checker should find between 1 and the {risky} acks=1 values lost, found {lost}\n{report}\n{}",
        cluster.logs()
    );
    let final_values = recorder.values_read_by("final");
    let mut risky_places: Vec<(i64, bool)> = recorder
        .acknowledged_values()
        .into_iter()
        .filter(|(value, _)| value.starts_with("rust-producer-acks-1-"))
        .map(|(value, (_, offset))| (offset, final_values.contains(&value)))
        .collect();
    risky_places.sort();
    let survivors = risky_places.iter().take_while(|(_, kept)| *kept).count();
    assert_eq!(
        risky_places.len() - survivors,
        lost,
        "the lost values are exactly the acks=1 values from offset {:?} on\n{report}",
        risky_places.get(survivors)
    );
    assert!(
        report
            .examples(Violation::Lost)
            .iter()
            .all(|example| example.starts_with("rust-producer-acks-1-")),
        "only acks=1 values are lost\n{report}"
    );
    println!("{survivors} acks=1 values reached a follower before its pause; {lost} lost");
}

/// Runs one Rust producer on partition `TARGET` for `how_long`; the values
/// it got acknowledged.
fn produce_for(
    cluster: &Cluster,
    recorder: &Recorder,
    topic: &str,
    settings: ProducerSettings,
    how_long: Duration,
) -> usize {
    let before = recorder.acknowledged_count();
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let stop = &stop;
        scope.spawn(move || {
            workload::rust_producer(cluster, recorder, topic, TARGET, settings, stop)
        });
        std::thread::sleep(how_long);
        stop.store(true, Ordering::Relaxed);
    });
    recorder.acknowledged_count() - before
}

#[path = "replication_faults/checker_self_tests.rs"]
mod checker_self_tests;

/// The whole pipeline (clients, final read, checker) on a real cluster
/// finds records a host lost, with or without replication: a topic with
/// one replica, acks=all values, then the leader's host is killed and its
/// segment cut in half before it starts again (recovery drops the torn
/// tail). The checker must report the values past the cut as Lost.
#[test]
fn the_checker_finds_what_a_damaged_log_lost() {
    let _turn = one_cluster_at_a_time();
    let Some(cluster) = Cluster::up("damage", HOSTS, 1, FLAGS) else {
        return;
    };
    let topic = "damaged";
    assert_eq!(cluster.create_topic(topic, PARTITIONS, 1, &[]), Some(0));
    cluster.wait_in_sync(topic, Duration::from_secs(30));
    let recorder = Recorder::new();
    let leader = cluster.leader_host(topic, TARGET).expect("a leader");
    let settings = ProducerSettings {
        label: "rust-producer",
        acks: -1,
        idempotent: true,
    };
    let acknowledged = produce_for(&cluster, &recorder, topic, settings, Duration::from_secs(2));
    assert!(acknowledged > 0, "nothing acknowledged\n{}", cluster.logs());
    cluster.kill(leader);
    let directory = cluster.dir.join(format!("host{leader}/{topic}-{TARGET}"));
    let active = common::segment_files(&directory)
        .last()
        .map(|name| directory.join(name))
        .unwrap_or_else(|| panic!("no segment in {}", directory.display()));
    let length = std::fs::metadata(&active).expect("the segment").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&active)
        .and_then(|file| file.set_len(length / 2))
        .expect("cut the segment");
    println!(
        "cut {} from {length} to {} bytes",
        active.display(),
        length / 2
    );
    cluster.start(leader);
    cluster.wait_in_sync(topic, RECOVERY);
    workload::final_read(&cluster, &recorder, topic, 1, Duration::from_secs(60));
    let report = recorder.check();
    println!("{report}");
    let lost = report.count(Violation::Lost);
    assert!(
        lost > 0 && lost < acknowledged,
        "{acknowledged} acknowledged, half the segment cut: the checker should find some (not all) lost\n{report}"
    );
}
