//! The client matrix (issue 11): real Kafka clients, each installed by
//! scripts/install-clients.sh from its registry, drive a 2-shard broker
//! through the same scenario. `tests/clients/<client>/run <phase> <bootstrap>
//! <topic> <group>` is the client's program; phase `first` creates the topic,
//! produces 100 keyed records and reads them in a consumer group, committing
//! the offsets; the broker then stops cleanly (SIGTERM) and starts again on
//! the same data dir; phase `second` produces 50 more, must read exactly
//! those in the same group (older ones mean the commits were lost), runs the
//! client's admin calls and prints `ok` last. One test per client, so each
//! passes or fails on its own; a client that is not installed fails.

mod common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::{name, Broker};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{BrokerId, ListOffsetsRequest};

/// How long one phase of a client may run before it is killed, in seconds:
/// three steps of at most 60 s each (the scenario's own bound), and start-up.
const PHASE_SECONDS: u64 = 200;

/// Partitions of the scenario's topic (the broker's `--num-partitions`).
const PARTITIONS: i32 = 3;

/// Records every client produces in phase `first`.
const FIRST_PHASE_RECORDS: i64 = 100;

/// The broker's log lines shown with a failure, counted from the end.
const BROKER_LOG_LINES: usize = 40;

/// One test per client directory under tests/clients.
macro_rules! client_matrix {
    ($($test:ident => $client:literal;)*) => {
        $(
            #[test]
            fn $test() {
                run_scenario($client);
            }
        )*
    };
}

client_matrix! {
    confluent_kafka => "confluent-kafka";
    kafka_python => "kafka-python";
    aiokafka => "aiokafka";
    kafkajs => "kafkajs";
    platformatic_kafka => "platformatic-kafka";
    kcat => "kcat";
    sarama => "sarama";
    kafka_go => "kafka-go";
    confluent_kafka_go => "confluent-kafka-go";
    rdkafka => "rdkafka";
}

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

/// The whole scenario for one client: first phase, clean restart, second
/// phase; panics with the client's output and the broker's log on a failure.
fn run_scenario(client: &str) {
    let program = clients_dir().join(client).join("run");
    assert!(
        program.exists(),
        "{} is missing: the client's scenario is not in this tree",
        program.display()
    );
    let mut broker = Broker::start_with(2, &["--num-partitions", &PARTITIONS.to_string()]);
    let topic = format!("matrix-{client}");
    let group = format!("matrix-{client}-group");

    let first = run_phase(&broker, &program, "first", &topic, &group);
    if !first.status.success() {
        panic!("{}", first.report(client, &broker));
    }

    broker.restart();
    // A broker that lost the topic would let phase `second` pass on a
    // recreated one (auto-creation, reading from the earliest offset): check
    // that the first phase's records are all still there.
    let kept = records_kept(&broker, &topic);
    assert_eq!(
        kept,
        FIRST_PHASE_RECORDS,
        "{client}: after the restart the topic has {kept} records, not {FIRST_PHASE_RECORDS}\n{}",
        first.report(client, &broker)
    );

    let second = run_phase(&broker, &program, "second", &topic, &group);
    let last_line = second
        .stdout
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty());
    if !second.status.success() || last_line.map(str::trim) != Some("ok") {
        panic!("{}", second.report(client, &broker));
    }
}

/// The sum of the topic's end offsets, each asked of every node and taken
/// from the one that leads the partition.
fn records_kept(broker: &Broker, topic: &str) -> i64 {
    (0..PARTITIONS)
        .map(|partition| {
            let request = ListOffsetsRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_topics(vec![ListOffsetsTopic::default()
                    .with_name(name(topic))
                    .with_partitions(vec![ListOffsetsPartition::default()
                        .with_partition_index(partition)
                        .with_timestamp(-1)])]);
            (0..broker.ports.len())
                .find_map(|node| {
                    let response = broker.client(node).send(&request, 3);
                    let answer = &response.topics.first()?.partitions.first()?;
                    (answer.error_code == 0).then_some(answer.offset)
                })
                .unwrap_or(0)
        })
        .sum()
}

struct Phase {
    name: &'static str,
    status: ExitStatus,
    timed_out: bool,
    stdout: String,
    stderr: String,
}

impl Phase {
    fn report(&self, client: &str, broker: &Broker) -> String {
        let log = broker.log();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(BROKER_LOG_LINES)..].join("\n");
        format!(
            "{client}: phase {} {}{}\n--- stdout\n{}--- stderr\n{}--- broker log (last {BROKER_LOG_LINES} lines)\n{tail}",
            self.name,
            self.status,
            if self.timed_out {
                format!(", killed after {PHASE_SECONDS} s")
            } else if self.status.success() {
                ", without `ok` last".to_string()
            } else {
                String::new()
            },
            self.stdout,
            self.stderr,
        )
    }
}

/// Runs one phase in its own process group (so a timeout ends the client's
/// helpers too), its output in files next to the broker's log.
fn run_phase(
    broker: &Broker,
    program: &Path,
    name: &'static str,
    topic: &str,
    group: &str,
) -> Phase {
    let stdout_path = broker.dir.path().join(format!("{name}.stdout"));
    let stderr_path = broker.dir.path().join(format!("{name}.stderr"));
    let mut child = Command::new(program)
        .args([name, &broker.bootstrap(), topic, group])
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).expect("stdout file"))
        .stderr(std::fs::File::create(&stderr_path).expect("stderr file"))
        .process_group(0)
        .spawn()
        .unwrap_or_else(|error| panic!("{} does not start: {error}", program.display()));
    let deadline = Instant::now() + Duration::from_secs(PHASE_SECONDS);
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the client") {
            break status;
        }
        if Instant::now() > deadline {
            timed_out = true;
            unsafe { kill_process(-(child.id() as i32), 9) };
            break child.wait().expect("wait for the killed client");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Phase {
        name,
        status,
        timed_out,
        stdout: std::fs::read_to_string(&stdout_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&stderr_path).unwrap_or_default(),
    }
}

extern "C" {
    #[link_name = "kill"]
    fn kill_process(pid: i32, signal: i32) -> i32;
}
