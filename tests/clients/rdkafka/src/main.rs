//! The client-matrix scenario (see `tests/clients/README` convention in
//! CLIENT-SCENARIO.md) for the Rust `rdkafka` crate with the librdkafka it
//! bundles and compiles from source.
//!
//! Usage: `corelog-client-rdkafka <first|second> <bootstrap> <topic> <group>`.
//! One line per step on stdout; on any failure the reason on stderr and a
//! non-zero exit.

use std::collections::BTreeMap;
use std::future::Future;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

const CLIENT_NAME: &str = "rdkafka";
/// Every step of the convention ends within this.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);
/// The convention's topic has 3 partitions.
const PARTITION_COUNT: i32 = 3;

type StepResult<T> = Result<T, String>;

struct Scenario {
    bootstrap: String,
    topic: String,
    group: String,
}

/// Counts the steps begun, so a step's watchdog knows whether its step ended.
static STEPS_BEGUN: AtomicU64 = AtomicU64::new(0);

/// Runs one step under the convention's timeout, naming it in the error. Some
/// of rdkafka's calls block the runtime's only thread (a synchronous commit,
/// closing a consumer), where no async timeout can fire, so a watchdog thread
/// ends the process when the step overruns.
async fn step<T>(name: &str, work: impl Future<Output = StepResult<T>>) -> StepResult<T> {
    let step_number = STEPS_BEGUN.fetch_add(1, Ordering::SeqCst) + 1;
    let watched_name = name.to_string();
    std::thread::spawn(move || {
        std::thread::sleep(STEP_TIMEOUT);
        if STEPS_BEGUN.load(Ordering::SeqCst) == step_number {
            eprintln!(
                "rdkafka: {watched_name}: no result within {} s",
                STEP_TIMEOUT.as_secs()
            );
            std::process::exit(1);
        }
    });
    let result = work.await.map_err(|reason| format!("{name}: {reason}"));
    // The next step's number, or one past the last: this watchdog stands down.
    STEPS_BEGUN.fetch_add(1, Ordering::SeqCst);
    result
}

impl Scenario {
    fn config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap);
        config.set("client.id", "corelog-client-matrix-rdkafka");
        config
    }

    fn admin(&self) -> StepResult<AdminClient<DefaultClientContext>> {
        self.config()
            .create()
            .map_err(|error| format!("admin client: {error}"))
    }

    async fn create_topic(&self) -> StepResult<()> {
        let admin = self.admin()?;
        let new_topic = NewTopic::new(&self.topic, PARTITION_COUNT, TopicReplication::Fixed(1));
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        let results = admin
            .create_topics([&new_topic], &options)
            .await
            .map_err(|error| format!("CreateTopics request failed: {error}"))?;
        for result in results {
            if let Err((name, code)) = result {
                return Err(format!("CreateTopics answered {code:?} for {name}"));
            }
        }
        println!(
            "create topic {} with {PARTITION_COUNT} partitions: ok",
            self.topic
        );
        Ok(())
    }

    async fn produce(&self, indexes: std::ops::Range<u32>) -> StepResult<()> {
        let producer: FutureProducer = self
            .config()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("message.timeout.ms", "50000")
            .create()
            .map_err(|error| format!("producer: {error}"))?;
        let mut deliveries = Vec::new();
        for index in indexes.clone() {
            let key = format!("k{index}");
            let value = format!("{CLIENT_NAME}:{index}");
            let record = FutureRecord::to(&self.topic).key(&key).payload(&value);
            let delivery = producer
                .send_result(record)
                .map_err(|(error, _)| format!("enqueue of record {index}: {error}"))?;
            deliveries.push((index, delivery));
        }
        for (index, delivery) in deliveries {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((error, _))) => {
                    return Err(format!("record {index} not acknowledged: {error}"))
                }
                Err(_) => {
                    return Err(format!(
                        "record {index}: producer dropped its delivery report"
                    ))
                }
            }
        }
        println!(
            "produce {} keyed records (idempotent, acks=all), i in {}..{}: all acknowledged",
            indexes.len(),
            indexes.start,
            indexes.end
        );
        Ok(())
    }

    /// Checks, before the second phase reads, that the records and the
    /// group's committed offsets of the first phase outlived the restart:
    /// the partitions' end offsets add up to every record produced so far
    /// and the group has a committed offset on each partition.
    async fn survived(&self, record_count: i64) -> StepResult<()> {
        let consumer: StreamConsumer = self
            .config()
            .set("group.id", &self.group)
            .create()
            .map_err(|error| format!("consumer: {error}"))?;
        let mut total = 0;
        let mut partitions = TopicPartitionList::new();
        for partition in 0..PARTITION_COUNT {
            let (_, high) = consumer
                .fetch_watermarks(&self.topic, partition, Duration::from_secs(30))
                .map_err(|error| format!("end offset of partition {partition}: {error}"))?;
            total += high;
            partitions.add_partition(&self.topic, partition);
        }
        if total != record_count {
            return Err(format!(
                "the topic's partitions end at offsets adding up to {total}, {record_count} records were produced"
            ));
        }
        let committed = consumer
            .committed_offsets(partitions, Duration::from_secs(30))
            .map_err(|error| format!("read the committed offsets: {error}"))?;
        let mut found = BTreeMap::new();
        for element in committed.elements() {
            match element.offset() {
                Offset::Offset(offset) if element.error().is_ok() => {
                    found.insert(element.partition(), offset);
                }
                other => {
                    return Err(format!(
                        "partition {} has no committed offset ({other:?}, {:?}): the group's commits were lost",
                        element.partition(),
                        element.error()
                    ))
                }
            }
        }
        println!("after the restart: the topic holds {total} records, the group's committed offsets are {found:?}");
        Ok(())
    }

    /// Reads the group's share of the topic until every value of `expected`
    /// has arrived once; a value outside it (an old one after a restart means
    /// lost commits), a repeat or a wrong key fails. Commits synchronously
    /// what was read and closes the consumer.
    async fn consume(&self, expected: std::ops::Range<u32>) -> StepResult<()> {
        let consumer: StreamConsumer = self
            .config()
            .set("group.id", &self.group)
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .create()
            .map_err(|error| format!("consumer: {error}"))?;
        consumer
            .subscribe(&[&self.topic])
            .map_err(|error| format!("subscribe: {error}"))?;
        let mut seen = vec![false; expected.len()];
        let mut remaining = expected.len();
        let mut next_offsets: BTreeMap<i32, i64> = BTreeMap::new();
        while remaining > 0 {
            let message = consumer
                .recv()
                .await
                .map_err(|error| format!("receive: {error}"))?;
            let value = std::str::from_utf8(message.payload().unwrap_or_default())
                .map_err(|_| format!("value at offset {} is not UTF-8", message.offset()))?;
            let index: u32 = value
                .strip_prefix(&format!("{CLIENT_NAME}:"))
                .and_then(|number| number.parse().ok())
                .ok_or_else(|| format!("unexpected value {value:?}"))?;
            if !expected.contains(&index) {
                return Err(format!(
                    "received value {value:?} (partition {} offset {}), outside {}..{}: {}",
                    message.partition(),
                    message.offset(),
                    expected.start,
                    expected.end,
                    if index < expected.start {
                        "the committed offsets were lost"
                    } else {
                        "never produced"
                    }
                ));
            }
            let key =
                std::str::from_utf8(message.key().unwrap_or_default()).unwrap_or("<not UTF-8>");
            if key != format!("k{index}") {
                return Err(format!("value {value:?} arrived with key {key:?}"));
            }
            let slot = (index - expected.start) as usize;
            if seen[slot] {
                return Err(format!("value {value:?} received twice"));
            }
            seen[slot] = true;
            remaining -= 1;
            next_offsets.insert(message.partition(), message.offset() + 1);
        }
        println!(
            "consume in group {}: values {}..{} each once with their keys",
            self.group, expected.start, expected.end
        );
        let mut offsets = TopicPartitionList::new();
        for (partition, next_offset) in &next_offsets {
            offsets
                .add_partition_offset(&self.topic, *partition, Offset::Offset(*next_offset))
                .map_err(|error| format!("offset list: {error}"))?;
        }
        consumer
            .commit(&offsets, CommitMode::Sync)
            .map_err(|error| format!("commit: {error}"))?;
        let committed = consumer
            .committed_offsets(offsets.clone(), Duration::from_secs(30))
            .map_err(|error| format!("read back the committed offsets: {error}"))?;
        for element in committed.elements() {
            let wanted = next_offsets.get(&element.partition()).copied();
            if element.offset() != Offset::Offset(wanted.unwrap_or(-1)) {
                return Err(format!(
                    "partition {} committed offset reads back as {:?}, committed {wanted:?}",
                    element.partition(),
                    element.offset()
                ));
            }
        }
        println!("commit offsets {next_offsets:?} synchronously: read back equal");
        consumer.unsubscribe();
        drop(consumer);
        println!("close consumer: ok");
        Ok(())
    }

    async fn admin_checks(&self) -> StepResult<()> {
        let admin = self.admin()?;
        let metadata = admin
            .inner()
            .fetch_metadata(None, Duration::from_secs(30))
            .map_err(|error| format!("list topics: {error}"))?;
        if !metadata
            .topics()
            .iter()
            .any(|topic| topic.name() == self.topic)
        {
            return Err(format!("list topics does not show {}", self.topic));
        }
        println!("list topics: includes {}", self.topic);

        let metadata = admin
            .inner()
            .fetch_metadata(Some(&self.topic), Duration::from_secs(30))
            .map_err(|error| format!("describe topic: {error}"))?;
        let topic = metadata
            .topics()
            .iter()
            .find(|topic| topic.name() == self.topic)
            .ok_or_else(|| format!("describe topic: {} missing", self.topic))?;
        if let Some(error) = topic.error() {
            return Err(format!("describe topic: error {error:?}"));
        }
        let partitions = topic.partitions();
        if partitions.len() != PARTITION_COUNT as usize {
            return Err(format!(
                "describe topic: {} partitions, expected {PARTITION_COUNT}",
                partitions.len()
            ));
        }
        for partition in partitions {
            if partition.leader() < 0 || partition.error().is_some() {
                return Err(format!(
                    "describe topic: partition {} has leader {} error {:?}",
                    partition.id(),
                    partition.leader(),
                    partition.error()
                ));
            }
        }
        println!("describe topic: {PARTITION_COUNT} partitions, each with a leader");

        let groups = admin
            .inner()
            .fetch_group_list(None, Duration::from_secs(30))
            .map_err(|error| format!("list groups: {error}"))?;
        if !groups
            .groups()
            .iter()
            .any(|group| group.name() == self.group)
        {
            return Err(format!("list groups does not show {}", self.group));
        }
        let described = admin
            .inner()
            .fetch_group_list(Some(&self.group), Duration::from_secs(30))
            .map_err(|error| format!("describe group: {error}"))?;
        let group = described
            .groups()
            .iter()
            .find(|group| group.name() == self.group)
            .ok_or_else(|| format!("describe group: {} missing", self.group))?;
        println!(
            "list and describe groups: {} is there, state {:?}",
            self.group,
            group.state()
        );

        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        let results = admin
            .delete_topics(&[&self.topic], &options)
            .await
            .map_err(|error| format!("DeleteTopics request failed: {error}"))?;
        for result in results {
            if let Err((name, code)) = result {
                return Err(format!("DeleteTopics answered {code:?} for {name}"));
            }
        }
        println!("delete topic {}: ok", self.topic);

        let metadata = admin
            .inner()
            .fetch_metadata(None, Duration::from_secs(30))
            .map_err(|error| format!("list topics after delete: {error}"))?;
        if metadata
            .topics()
            .iter()
            .any(|topic| topic.name() == self.topic)
        {
            return Err(format!(
                "list topics still shows {} after its deletion",
                self.topic
            ));
        }
        println!("list topics: {} is gone", self.topic);
        Ok(())
    }
}

async fn run(phase: &str, scenario: &Scenario) -> StepResult<()> {
    match phase {
        "first" => {
            step("create topic", scenario.create_topic()).await?;
            step("produce", scenario.produce(0..100)).await?;
            step("consume", scenario.consume(0..100)).await?;
        }
        "second" => {
            step("produce", scenario.produce(100..150)).await?;
            step("survived the restart", scenario.survived(150)).await?;
            step("consume", scenario.consume(100..150)).await?;
            step("admin", scenario.admin_checks()).await?;
            println!("ok");
        }
        other => return Err(format!("unknown phase {other:?}: first or second")),
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().collect();
    let [_, phase, bootstrap, topic, group] = arguments.as_slice() else {
        eprintln!("usage: corelog-client-rdkafka <first|second> <bootstrap> <topic> <group>");
        return ExitCode::from(2);
    };
    let scenario = Scenario {
        bootstrap: bootstrap.clone(),
        topic: topic.clone(),
        group: group.clone(),
    };
    match run(phase, &scenario).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("rdkafka {phase}: {reason}");
            ExitCode::FAILURE
        }
    }
}
