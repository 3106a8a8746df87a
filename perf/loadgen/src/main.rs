//! An end-to-end Kafka load generator on librdkafka: produce, consume, or
//! both at once (tail consume while producing), against any Kafka-compatible
//! broker. It reports records/s, MB/s and latency percentiles (ack latency
//! for produce: send to delivery report; end-to-end latency for consume:
//! the record's CreateTime to its arrival) from hdrhistogram, as a table and
//! as one JSON line, with a progress line every second while it runs.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Args, Parser, Subcommand, ValueEnum};
use hdrhistogram::Histogram;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::ClientContext;

#[derive(Parser)]
#[command(name = "corelog-loadgen", about = "Kafka load generator on librdkafka")]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Produce as fast as allowed; report ack latency.
    Produce(ProduceArgs),
    /// Consume a topic; report end-to-end latency from record timestamps.
    Consume(ConsumeArgs),
    /// Produce and tail-consume at once; report both.
    EndToEnd(ProduceArgs),
}

#[derive(Args, Clone)]
struct Common {
    /// bootstrap.servers
    #[arg(long, default_value = "localhost:9092")]
    bootstrap: String,
    #[arg(long, default_value = "loadgen")]
    topic: String,
    /// Stop after this many records (0: use --duration-seconds).
    #[arg(long, default_value_t = 0)]
    records: u64,
    /// Stop after this long when --records is 0.
    #[arg(long, default_value_t = 10)]
    duration_seconds: u64,
    /// Also write the JSON report to this file.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// Extra librdkafka settings, key=value (repeatable).
    #[arg(long = "set", value_parser = parse_setting)]
    settings: Vec<(String, String)>,
}

#[derive(Args, Clone)]
struct ProduceArgs {
    #[command(flatten)]
    common: Common,
    /// Bytes per record value.
    #[arg(long, default_value_t = 1024)]
    record_size: usize,
    /// Partitions of the topic, created when missing.
    #[arg(long, default_value_t = 6)]
    partitions: i32,
    #[arg(long, value_enum, default_value_t = Acks::All)]
    acks: Acks,
    /// compression.codec
    #[arg(long, default_value = "none")]
    compression: String,
    /// Give every record a key (spread over 1,000 keys).
    #[arg(long)]
    keyed: bool,
    /// Records per second to aim at (0: as fast as possible).
    #[arg(long, default_value_t = 0)]
    rate: u64,
}

#[derive(Args, Clone)]
struct ConsumeArgs {
    #[command(flatten)]
    common: Common,
    /// Consumer group (default: a fresh one reading from the beginning).
    #[arg(long)]
    group: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Acks {
    All,
    One,
    Zero,
}

fn parse_setting(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .ok_or_else(|| format!("expected key=value, got {text}"))
}

fn now_milliseconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or(0)
}

/// What one side measured.
struct Measured {
    records: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
    /// Microseconds.
    latency: Mutex<Histogram<u64>>,
}

impl Measured {
    fn new() -> Arc<Measured> {
        Arc::new(Measured {
            records: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            latency: Mutex::new(Histogram::new_with_bounds(1, 600_000_000, 3).unwrap()),
        })
    }

    fn record(&self, bytes: usize, latency_microseconds: u64) {
        self.records.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        let _ = self
            .latency
            .lock()
            .unwrap()
            .record(latency_microseconds.clamp(1, 600_000_000));
    }
}

struct Report {
    what: &'static str,
    records: u64,
    errors: u64,
    seconds: f64,
    p50: f64,
    p99: f64,
    p999: f64,
    max: f64,
    bytes: u64,
}

impl Report {
    fn of(what: &'static str, measured: &Measured, seconds: f64) -> Report {
        let latency = measured.latency.lock().unwrap();
        let milliseconds = |quantile: f64| latency.value_at_quantile(quantile) as f64 / 1000.0;
        Report {
            what,
            records: measured.records.load(Ordering::Relaxed),
            errors: measured.errors.load(Ordering::Relaxed),
            seconds,
            bytes: measured.bytes.load(Ordering::Relaxed),
            p50: milliseconds(0.5),
            p99: milliseconds(0.99),
            p999: milliseconds(0.999),
            max: latency.max() as f64 / 1000.0,
        }
    }

    fn records_per_second(&self) -> f64 {
        self.records as f64 / self.seconds.max(1e-9)
    }

    fn megabytes_per_second(&self) -> f64 {
        self.bytes as f64 / self.seconds.max(1e-9) / 1e6
    }

    fn json(&self) -> String {
        format!(
            "{{\"what\":\"{}\",\"records\":{},\"errors\":{},\"seconds\":{:.3},\"records_per_second\":{:.1},\"megabytes_per_second\":{:.3},\"latency_ms\":{{\"p50\":{:.3},\"p99\":{:.3},\"p99_9\":{:.3},\"max\":{:.3}}}}}",
            self.what,
            self.records,
            self.errors,
            self.seconds,
            self.records_per_second(),
            self.megabytes_per_second(),
            self.p50,
            self.p99,
            self.p999,
            self.max
        )
    }
}

fn print_reports(reports: &[Report], json: Option<&std::path::Path>) {
    println!(
        "| {:<22} | {:>10} | {:>12} | {:>9} | {:>9} | {:>9} | {:>9} | {:>9} |",
        "measure", "records", "records/s", "MB/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms"
    );
    println!(
        "|{:-<24}|{:->12}|{:->14}|{:->11}|{:->11}|{:->11}|{:->11}|{:->11}|",
        "", "", "", "", "", "", "", ""
    );
    for report in reports {
        println!(
            "| {:<22} | {:>10} | {:>12.0} | {:>9.1} | {:>9.3} | {:>9.3} | {:>9.3} | {:>9.3} |",
            report.what,
            report.records,
            report.records_per_second(),
            report.megabytes_per_second(),
            report.p50,
            report.p99,
            report.p999,
            report.max
        );
    }
    let line = format!(
        "[{}]",
        reports
            .iter()
            .map(Report::json)
            .collect::<Vec<_>>()
            .join(",")
    );
    println!("{line}");
    if let Some(path) = json {
        if let Err(error) = std::fs::write(path, format!("{line}\n")) {
            eprintln!("cannot write {}: {error}", path.display());
        }
    }
}

struct DeliveryContext {
    measured: Arc<Measured>,
}

impl ClientContext for DeliveryContext {}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = Box<(Instant, usize)>;

    fn delivery(&self, result: &DeliveryResult<'_>, opaque: Self::DeliveryOpaque) {
        let (sent, bytes) = *opaque;
        match result {
            Ok(_) => self
                .measured
                .record(bytes, sent.elapsed().as_micros() as u64),
            Err(_) => {
                self.measured.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

fn client_config(common: &Common) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &common.bootstrap);
    for (key, value) in &common.settings {
        config.set(key, value);
    }
    config
}

fn create_topic(common: &Common, partitions: i32) -> Result<(), String> {
    let admin: AdminClient<DefaultClientContext> = client_config(common)
        .create()
        .map_err(|error| format!("admin client: {error}"))?;
    let topic = NewTopic::new(&common.topic, partitions, TopicReplication::Fixed(1));
    let results = futures_executor::block_on(admin.create_topics(
        &[topic],
        &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
    ))
    .map_err(|error| format!("create topic: {error}"))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => return Err(format!("create topic {topic}: {code}")),
        }
    }
    Ok(())
}

/// Prints a progress line every second until `done`.
fn progress(
    label: &'static str,
    measured: Arc<Measured>,
    done: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let started = Instant::now();
        let mut last = 0u64;
        while !done.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(200));
            let elapsed = started.elapsed().as_secs();
            if elapsed > last {
                last = elapsed;
                let records = measured.records.load(Ordering::Relaxed);
                let bytes = measured.bytes.load(Ordering::Relaxed);
                let p99 = measured.latency.lock().unwrap().value_at_quantile(0.99) as f64 / 1000.0;
                eprintln!(
                    "[{elapsed:>4}s] {label}: {records} records, {:.0} records/s, {:.1} MB/s, p99 {p99:.2} ms",
                    records as f64 / started.elapsed().as_secs_f64(),
                    bytes as f64 / started.elapsed().as_secs_f64() / 1e6
                );
            }
        }
    })
}

fn finished(common: &Common, started: Instant, count: u64) -> bool {
    if common.records > 0 {
        count >= common.records
    } else {
        started.elapsed() >= Duration::from_secs(common.duration_seconds)
    }
}

fn produce(arguments: &ProduceArgs, stop: Arc<AtomicBool>) -> Result<Report, String> {
    let common = &arguments.common;
    create_topic(common, arguments.partitions)?;
    let measured = Measured::new();
    let mut config = client_config(common);
    config
        .set(
            "acks",
            match arguments.acks {
                Acks::All => "all",
                Acks::One => "1",
                Acks::Zero => "0",
            },
        )
        .set("compression.codec", &arguments.compression)
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "1000000");
    // --set wins over the defaults above.
    for (key, value) in &common.settings {
        config.set(key, value);
    }
    let producer: ThreadedProducer<DeliveryContext> = config
        .create_with_context(DeliveryContext {
            measured: measured.clone(),
        })
        .map_err(|error| format!("producer: {error}"))?;
    let done = Arc::new(AtomicBool::new(false));
    let reporter = progress("produce", measured.clone(), done.clone());
    let payload = vec![b'r'; arguments.record_size];
    let started = Instant::now();
    let mut sent = 0u64;
    while !finished(common, started, sent) && !stop.load(Ordering::Relaxed) {
        if arguments.rate > 0 {
            let due = started + Duration::from_secs_f64(sent as f64 / arguments.rate as f64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        let key = format!("key-{}", sent % 1000);
        let mut record =
            BaseRecord::with_opaque_to(&common.topic, Box::new((Instant::now(), payload.len())))
                .payload(&payload)
                .timestamp(now_milliseconds());
        if arguments.keyed {
            record = record.key(&key);
        }
        let mut pending = record;
        loop {
            match producer.send(pending) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    pending = back;
                    std::thread::sleep(Duration::from_micros(200));
                }
                Err((error, _)) => return Err(format!("send: {error}")),
            }
        }
        sent += 1;
    }
    producer
        .flush(Duration::from_secs(120))
        .map_err(|error| format!("flush: {error}"))?;
    let seconds = started.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let _ = reporter.join();
    Ok(Report::of("produce (ack latency)", &measured, seconds))
}

/// Consumes `common.topic`: as a member of `group` (a fresh one when
/// `None`), or, with `assign_partitions`, by assigning partitions 0..n
/// from the beginning directly, so no group rebalance delays the start.
fn consume(
    common: &Common,
    group: Option<String>,
    assign_partitions: Option<i32>,
    expected: u64,
    stop: Arc<AtomicBool>,
) -> Result<Report, String> {
    let measured = Measured::new();
    let group = group.unwrap_or_else(|| format!("loadgen-{}", now_milliseconds()));
    let consumer: BaseConsumer = client_config(common)
        .set("group.id", &group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "true")
        .create()
        .map_err(|error| format!("consumer: {error}"))?;
    match assign_partitions {
        Some(partitions) => {
            let mut list = TopicPartitionList::new();
            for partition in 0..partitions {
                list.add_partition_offset(&common.topic, partition, Offset::Beginning)
                    .map_err(|error| format!("assign: {error}"))?;
            }
            consumer
                .assign(&list)
                .map_err(|error| format!("assign: {error}"))?;
        }
        None => consumer
            .subscribe(&[&common.topic])
            .map_err(|error| format!("subscribe: {error}"))?,
    }
    let done = Arc::new(AtomicBool::new(false));
    let reporter = progress("consume", measured.clone(), done.clone());
    let started = Instant::now();
    let limit = if expected > 0 {
        expected
    } else {
        common.records
    };
    loop {
        let count = measured.records.load(Ordering::Relaxed);
        if limit > 0 && count >= limit {
            break;
        }
        if limit == 0 && started.elapsed() >= Duration::from_secs(common.duration_seconds) {
            break;
        }
        if stop.load(Ordering::Relaxed) && limit == 0 {
            break;
        }
        if started.elapsed() > Duration::from_secs(common.duration_seconds.max(1) * 10 + 60) {
            return Err(format!("consumed only {count} of {limit} records"));
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                let bytes = message.payload().map_or(0, |payload| payload.len());
                let latency = message
                    .timestamp()
                    .to_millis()
                    .map(|stamp| (now_milliseconds() - stamp).max(0) as u64 * 1000)
                    .unwrap_or(0);
                measured.record(bytes, latency);
            }
            Some(Err(error)) => {
                measured.errors.fetch_add(1, Ordering::Relaxed);
                eprintln!("consume: {error}");
            }
            None => {}
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let _ = reporter.join();
    Ok(Report::of("consume (end-to-end)", &measured, seconds))
}

fn main() -> std::process::ExitCode {
    let outcome = match Cli::parse().mode {
        Mode::Produce(arguments) => {
            produce(&arguments, Arc::new(AtomicBool::new(false))).map(|report| {
                print_reports(&[report], arguments.common.json.as_deref());
            })
        }
        Mode::Consume(arguments) => consume(
            &arguments.common,
            arguments.group.clone(),
            None,
            0,
            Arc::new(AtomicBool::new(false)),
        )
        .map(|report| print_reports(&[report], arguments.common.json.as_deref())),
        Mode::EndToEnd(arguments) => {
            // The consumer starts first and reads what the producer writes.
            if let Err(error) = create_topic(&arguments.common, arguments.partitions) {
                eprintln!("corelog-loadgen: {error}");
                return std::process::ExitCode::FAILURE;
            }
            let stop = Arc::new(AtomicBool::new(false));
            let consumer_arguments = arguments.common.clone();
            let consumer_stop = stop.clone();
            let expected = arguments.common.records;
            let partitions = arguments.partitions;
            let consumer = std::thread::spawn(move || {
                consume(
                    &consumer_arguments,
                    None,
                    Some(partitions),
                    expected,
                    consumer_stop,
                )
            });
            // Time for the consumer's first fetches to be waiting.
            std::thread::sleep(Duration::from_secs(1));
            let produced = produce(&arguments, Arc::new(AtomicBool::new(false)));
            stop.store(true, Ordering::Relaxed);
            let consumed = consumer
                .join()
                .unwrap_or_else(|_| Err("consumer panicked".into()));
            match (produced, consumed) {
                (Ok(produced), Ok(consumed)) => {
                    print_reports(&[produced, consumed], arguments.common.json.as_deref());
                    Ok(())
                }
                (Err(error), _) | (_, Err(error)) => Err(error),
            }
        }
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("corelog-loadgen: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
