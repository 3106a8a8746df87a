//! corelog: a Kafka-wire-compatible broker, one shard per core.
//!
//! Start-up, in order: check the host (locked memory, io_uring), replay the
//! metadata log and move partitions off shards that no longer exist, bind
//! every shard's port, start one pinned executor per shard, wait until each
//! has opened its partitions, then print the ready line. SIGINT or SIGTERM
//! makes each shard close its partitions (sealing segments, durable) and exit.
//!
//! Invariants: a shard serves clients only after it installed the replayed
//! snapshot and opened its partitions, and the ready line is printed only
//! after every shard has; each shard stops listening before it closes its
//! partitions.

use corelog::{config, limits, metadata, rt, server, shard, tools};

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use config::Config;
use metadata::state::{Defaults, MetadataState};
use metadata::store::{self, MetadataStore};
use metadata::topic_config::BrokerDefaults;
use metadata::Snapshot;
use rt::channel::{cross_core, local_queue, CoreReceiver, CoreSender};
use shard::controller::{self, Controller};
use shard::{ControllerLink, ControllerRequest, Node, Shard, ShardMessage};

#[derive(Parser)]
#[command(
    name = "corelog",
    version,
    about = "A Kafka-wire-compatible streaming broker, thread-per-core on io_uring"
)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

// Parsed once at start-up: boxing the larger variant would save nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Commands {
    /// Run the broker.
    Serve(ServeArgs),
    /// Check this host for running corelog: each line PASS, WARN, FAIL or
    /// INFO, with the fix; exits 1 when any check FAILs.
    Check(CheckArgs),
    /// Topics of any Kafka-compatible cluster: create, list, describe,
    /// delete, alter-config, add-partitions.
    Topic(corelog::tools::topic::TopicArgs),
    /// Consumer groups: list, describe (lag), reset-offsets, delete.
    Group(corelog::tools::group::GroupArgs),
    /// Produce stdin's lines as records.
    Produce(corelog::tools::produce::ProduceArgs),
    /// Print a topic's records, alone or in a group.
    Consume(corelog::tools::consume::ConsumeArgs),
    /// Brokers, controller and API versions.
    Cluster(corelog::tools::cluster::ClusterArgs),
    /// A load test: produce or consume throughput and latency.
    Bench(corelog::tools::bench::BenchArgs),
}

#[derive(clap::Args)]
struct CheckArgs {
    /// The data directory serve will use (created if missing, as serve does).
    #[arg(long, default_value = "./data")]
    data_dir: PathBuf,
    /// Shards serve will run (default: every available core).
    #[arg(long)]
    cores: Option<usize>,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// A Java-properties file with Kafka's broker property names
    /// (`log.dirs`, `listeners`, `num.partitions`, ...; corelog's own as
    /// `corelog.cores`, ...). Environment variables and flags override it.
    #[arg(long, env = "CORELOG_CONFIG")]
    config: Option<PathBuf>,
    /// Where partitions and metadata are kept.
    #[arg(long, env = "CORELOG_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// Address of shard 0; shard i listens on port + i (port 0: each shard
    /// takes an ephemeral port). Or a comma-separated address per shard.
    #[arg(
        long,
        env = "CORELOG_LISTEN",
        default_value = "0.0.0.0:9092",
        value_delimiter = ','
    )]
    listen: Vec<SocketAddr>,
    /// Host name clients are told to connect to.
    #[arg(long, env = "CORELOG_ADVERTISE", default_value = "localhost")]
    advertise: String,
    /// Shards to run, one per core (default: every available core).
    #[arg(long, env = "CORELOG_CORES")]
    cores: Option<usize>,
    /// num.partitions: partitions of auto-created topics.
    #[arg(long, env = "CORELOG_NUM_PARTITIONS", default_value_t = 1)]
    num_partitions: i32,
    /// auto.create.topics.enable.
    #[arg(long, env = "CORELOG_AUTO_CREATE_TOPICS", default_value_t = true, action = clap::ArgAction::Set)]
    auto_create_topics: bool,
    /// log.segment.bytes: default segment size of topics.
    #[arg(long, env = "CORELOG_LOG_SEGMENT_BYTES", default_value_t = limits::SEGMENT_BYTES_DEFAULT)]
    log_segment_bytes: u64,
    /// log.retention.ms: default retention.ms of topics (-1: forever).
    #[arg(long, env = "CORELOG_LOG_RETENTION_MS", default_value_t = limits::RETENTION_MILLISECONDS_DEFAULT, allow_negative_numbers = true)]
    log_retention_ms: i64,
    /// log.retention.bytes: default retention.bytes of topics (-1: no limit).
    #[arg(long, env = "CORELOG_LOG_RETENTION_BYTES", default_value_t = -1, allow_negative_numbers = true)]
    log_retention_bytes: i64,
    /// log.roll.ms: default segment.ms of topics.
    #[arg(long, env = "CORELOG_LOG_ROLL_MS", default_value_t = limits::SEGMENT_MILLISECONDS_DEFAULT)]
    log_roll_ms: i64,
    /// log.flush.interval.messages: default flush.messages of topics. Unset
    /// (with --log-flush-interval-ms unset too): every append is synced.
    #[arg(long, env = "CORELOG_LOG_FLUSH_INTERVAL_MESSAGES")]
    log_flush_interval_messages: Option<u64>,
    /// log.flush.interval.ms: default flush.ms of topics.
    #[arg(long, env = "CORELOG_LOG_FLUSH_INTERVAL_MS")]
    log_flush_interval_ms: Option<u64>,
    /// log.retention.check.interval.ms: how often old segments are deleted.
    #[arg(long, env = "CORELOG_LOG_RETENTION_CHECK_INTERVAL_MS", default_value_t = limits::RETENTION_CHECK_INTERVAL_MILLISECONDS_DEFAULT)]
    log_retention_check_interval_ms: u64,
    /// message.max.bytes: default largest batch of topics.
    #[arg(long, env = "CORELOG_MESSAGE_MAX_BYTES", default_value_t = limits::MESSAGE_BYTES_MAX_DEFAULT)]
    message_max_bytes: u32,
    /// socket.request.max.bytes: largest request frame.
    #[arg(long, env = "CORELOG_SOCKET_REQUEST_MAX_BYTES", default_value_t = limits::REQUEST_BYTES_MAX_DEFAULT)]
    socket_request_max_bytes: u32,
    /// queued.max.request.bytes: bytes of request frames each shard holds at
    /// once while reading and handling them (at least
    /// --socket-request-max-bytes); a frame that does not fit waits.
    #[arg(long, env = "CORELOG_QUEUED_MAX_REQUEST_BYTES", default_value_t = limits::QUEUED_REQUEST_BYTES_PER_SHARD_DEFAULT)]
    queued_max_request_bytes: u64,
    /// offsets.topic.num.partitions: partitions of __consumer_offsets when it
    /// is first created (fixed after that).
    #[arg(long, env = "CORELOG_OFFSETS_TOPIC_NUM_PARTITIONS", default_value_t = limits::OFFSETS_TOPIC_PARTITIONS_DEFAULT)]
    offsets_topic_num_partitions: i32,
    /// group.min.session.timeout.ms: shortest session timeout a member may ask for.
    #[arg(long, env = "CORELOG_GROUP_MIN_SESSION_TIMEOUT_MS", default_value_t = limits::GROUP_SESSION_TIMEOUT_MILLISECONDS_MIN_DEFAULT)]
    group_min_session_timeout_ms: u64,
    /// group.max.session.timeout.ms: longest session timeout a member may ask for.
    #[arg(long, env = "CORELOG_GROUP_MAX_SESSION_TIMEOUT_MS", default_value_t = limits::GROUP_SESSION_TIMEOUT_MILLISECONDS_MAX_DEFAULT)]
    group_max_session_timeout_ms: u64,
    /// group.initial.rebalance.delay.ms: how long the first rebalance of an
    /// empty group waits for more members to join.
    #[arg(long, env = "CORELOG_GROUP_INITIAL_REBALANCE_DELAY_MS", default_value_t = limits::GROUP_INITIAL_REBALANCE_DELAY_MILLISECONDS_DEFAULT)]
    group_initial_rebalance_delay_ms: u64,
    /// Bytes of recently appended batches each shard keeps in memory for
    /// tailing consumers (0: none; every fetch then reads the segments).
    #[arg(long, env = "CORELOG_TAIL_CACHE_BYTES", default_value_t = corelog::limits::TAIL_CACHE_BYTES_PER_SHARD_DEFAULT)]
    tail_cache_bytes: u64,
    /// How Fetch sends data older than the tail cache: `sendfile` (from the
    /// page cache, no copy, on the shard's blocking threads) or `copy`
    /// (io_uring reads into memory, then a socket write).
    #[arg(long, env = "CORELOG_FETCH_COLD_READS", value_enum, default_value_t = ColdReadsArgument::Sendfile)]
    fetch_cold_reads: ColdReadsArgument,
    /// How long a shard keeps polling for work before it parks in the
    /// kernel. Parking and waking through io_uring costs milliseconds of
    /// latency per request under light load (measured: acks=all p50 7 ms
    /// without, 0.5 ms with 500); polling costs CPU only while busy. 0: park
    /// at once.
    #[arg(long, env = "CORELOG_IDLE_SPIN_MICROSECONDS", default_value_t = corelog::limits::IDLE_SPIN_MICROSECONDS_DEFAULT)]
    idle_spin_microseconds: u64,
    /// node.id: this host in a cluster (0..1023). Shard s of host H is
    /// Kafka broker H * 1024 + s.
    #[arg(long, env = "CORELOG_NODE_ID", default_value_t = 0)]
    node_id: u32,
    /// controller.quorum.voters: `id@host:port,...`, the hosts whose shard 0
    /// runs the metadata quorum. Unset: a single host, no quorum.
    #[arg(long, env = "CORELOG_CONTROLLER_QUORUM_VOTERS")]
    controller_quorum_voters: Option<String>,
    /// Where this host's quorum member listens (default: its own entry in
    /// --controller-quorum-voters; required on a host that is not a voter).
    #[arg(long, env = "CORELOG_CONTROLLER_LISTEN")]
    controller_listen: Option<String>,
    /// broker.session.timeout.ms: a host silent this long is fenced and its
    /// shards leave Metadata.
    #[arg(long, env = "CORELOG_BROKER_SESSION_TIMEOUT_MS", default_value_t = limits::BROKER_SESSION_TIMEOUT_MILLISECONDS_DEFAULT)]
    broker_session_timeout_ms: u64,
    /// Do not pin shard i to CPU i: for several hosts sharing one machine
    /// (scripts/cluster.sh), which would otherwise all pin to the same CPUs.
    #[arg(long, env = "CORELOG_NO_PIN")]
    no_pin: bool,
    /// Where shard 0 serves Prometheus metrics (/metrics), /health and
    /// /ready over HTTP; `none` or empty: off. Port 0 takes an ephemeral
    /// port; the address is logged (`corelog: metrics on http://...`).
    #[arg(long, env = "CORELOG_METRICS_LISTEN", default_value = limits::METRICS_LISTEN_DEFAULT, value_parser = parse_metrics_listen)]
    metrics_listen: MetricsListen,
}

/// `--metrics-listen`'s value: an address, or none.
#[derive(Debug, Clone, Copy)]
struct MetricsListen(Option<SocketAddr>);

fn parse_metrics_listen(value: &str) -> Result<MetricsListen, String> {
    corelog::metrics::parse_listen(value).map(MetricsListen)
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ColdReadsArgument {
    Sendfile,
    Copy,
}

fn main() -> ExitCode {
    let args = match parse_command_line() {
        Ok(Commands::Serve(args)) => args,
        Ok(Commands::Check(args)) => return check(args),
        Ok(Commands::Topic(args)) => return tools::exit(tools::topic::run(args)),
        Ok(Commands::Group(args)) => return tools::exit(tools::group::run(args)),
        Ok(Commands::Produce(args)) => return tools::exit(tools::produce::run(args)),
        Ok(Commands::Consume(args)) => return tools::exit(tools::consume::run(args)),
        Ok(Commands::Cluster(args)) => return tools::exit(tools::cluster::run(args)),
        Ok(Commands::Bench(args)) => return tools::exit(tools::bench::run(args)),
        Err(message) => {
            eprintln!("corelog: {message}");
            return ExitCode::FAILURE;
        }
    };
    keep_large_buffers_in_the_heap();
    match serve_config(args).and_then(serve) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("corelog: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The command line, with `serve --config FILE`'s settings under it: each
/// property the file sets becomes its flag's value unless the command line
/// or a `CORELOG_*` variable set that flag (file < environment < flags).
/// Err: the file cannot be read or holds a wrong value.
fn parse_command_line() -> Result<Commands, String> {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
    let (
        Commands::Serve(ServeArgs {
            config: Some(path), ..
        }),
        Some(("serve", serve_matches)),
    ) = (&cli.command, matches.subcommand())
    else {
        return Ok(cli.command);
    };
    let file = corelog::properties::load(path)?;
    for warning in &file.warnings {
        eprintln!("{warning}");
    }
    let set_elsewhere = |flag: &str| {
        matches!(
            serve_matches.value_source(flag),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        )
    };
    let arguments = corelog::properties::arguments(&file, set_elsewhere);
    let command_line = std::env::args_os().chain(arguments.into_iter().map(Into::into));
    Ok(Cli::try_parse_from(command_line)
        .unwrap_or_else(|error| error.exit())
        .command)
}

/// The validated-later `Config` the serve flags describe (Err: the quorum
/// flags do not parse).
fn serve_config(args: ServeArgs) -> Result<Config, String> {
    let quorum = match &args.controller_quorum_voters {
        Some(voters) => Some(
            config::QuorumConfig::parse(args.node_id, voters, args.controller_listen.as_deref())
                .map_err(|error| error.to_string())?,
        ),
        None if args.controller_listen.is_some() => {
            return Err("--controller-listen needs --controller-quorum-voters".into())
        }
        None => None,
    };
    Ok(Config {
        data_dir: args.data_dir,
        listen: args.listen,
        advertise_host: args.advertise,
        cores: args.cores.unwrap_or_else(available_cores),
        num_partitions: args.num_partitions,
        auto_create_topics: args.auto_create_topics,
        request_bytes_max: args.socket_request_max_bytes,
        queued_request_bytes_max: args.queued_max_request_bytes,
        topic_defaults: BrokerDefaults {
            segment_bytes: args.log_segment_bytes,
            max_message_bytes: args.message_max_bytes,
            retention_ms: args.log_retention_ms,
            retention_bytes: args.log_retention_bytes,
            segment_ms: args.log_roll_ms,
            flush_messages: args.log_flush_interval_messages,
            flush_ms: args.log_flush_interval_ms,
        },
        retention_check_interval_milliseconds: args.log_retention_check_interval_ms,
        offsets_topic_partitions: args.offsets_topic_num_partitions,
        group_session_timeout_min_milliseconds: args.group_min_session_timeout_ms,
        group_session_timeout_max_milliseconds: args.group_max_session_timeout_ms,
        group_initial_rebalance_delay_milliseconds: args.group_initial_rebalance_delay_ms,
        tail_cache_bytes: args.tail_cache_bytes,
        idle_spin_microseconds: args.idle_spin_microseconds,
        metrics_listen: args.metrics_listen.0,
        cold_reads: match args.fetch_cold_reads {
            ColdReadsArgument::Sendfile => corelog::partition::ColdReads::SendFile,
            ColdReadsArgument::Copy => corelog::partition::ColdReads::Copy,
        },
        node_id: args.node_id,
        quorum,
        broker_session_timeout_milliseconds: args.broker_session_timeout_ms,
        pin_cores: !args.no_pin,
    })
}

fn available_cores() -> usize {
    std::thread::available_parallelism()
        .map(|count| count.get())
        .unwrap_or(1)
}

/// `corelog check`: the report on stdout, exit status 1 when a check failed.
fn check(args: CheckArgs) -> ExitCode {
    let cores = args.cores.unwrap_or_else(available_cores);
    let checks = corelog::check::run(&args.data_dir, cores);
    for check in &checks {
        println!("{check}");
    }
    println!("{}", corelog::check::summary(&checks));
    if corelog::check::failed(&checks) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Everything shard 0 needs beyond what every shard gets.
struct ControllerParts {
    state: MetadataState,
    store: MetadataStore,
    from_shards: Vec<CoreReceiver<ControllerRequest>>,
    to_shards: Vec<CoreSender<ShardMessage>>,
    /// A host of a cluster: what its quorum member starts with.
    quorum: Option<shard::quorum_start::QuorumStart>,
}

fn serve(config: Config) -> Result<(), String> {
    check_host(&config)?;
    let cluster_id = Arc::new(
        store::cluster_id(&config.data_dir)
            .map_err(|error| format!("cannot read meta.properties: {error}"))?,
    );
    let (state, metadata_store, legacy) = open_metadata(&config)?;
    let snapshot = state.snapshot();
    let (listeners, nodes) = bind_listeners(&config)?;
    let quorum = prepare_quorum(&config, &nodes, legacy)?;
    let nodes = Arc::new(nodes);
    let config = Arc::new(config);
    let (mut controller_parts, links) = link_shards(config.cores, state, metadata_store);
    controller_parts.quorum = quorum;
    // A cluster host's shards serve once shard 0 says the host is
    // registered and caught up; a single host's at once.
    let metadata_ready = Arc::new(AtomicBool::new(config.quorum.is_none()));
    let shutdown = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, shutdown.clone())
            .map_err(|error| format!("cannot handle signals: {error}"))?;
    }
    let (ready_sender, ready) = crossbeam::channel::bounded::<Result<(), String>>(config.cores);
    let all_ready = Arc::new(AtomicBool::new(false));
    let metrics = corelog::metrics::start::roles(&config, &all_ready);
    let starts = shard_starts(
        ShardStarts {
            config: &config,
            nodes: &nodes,
            cluster_id: &cluster_id,
            snapshot: &snapshot,
            ready: &ready_sender,
            shutdown: &shutdown,
            metadata_ready: &metadata_ready,
        },
        listeners,
        controller_parts,
        links,
        metrics,
    );
    let threads = spawn_shards(&config, starts)?;
    drop(ready_sender);
    wait_until_ready(config.cores, &ready, &shutdown)?;
    all_ready.store(true, Ordering::Release);
    announce_ready(&config, &nodes);
    for thread in threads {
        if let Err(error) = thread.join() {
            eprintln!("corelog: a shard ended with an error: {error}");
        }
    }
    println!("corelog: shut down cleanly");
    Ok(())
}

/// Refuses to start on a host that cannot run this configuration: the
/// configuration itself, memory for IO, the open-files limit (raised and
/// split per shard), and the data directory.
fn check_host(config: &Config) -> Result<(), String> {
    config.validate().map_err(|error| error.to_string())?;
    rt::executor::check_host(config.cores, limits::IO_MEMORY_PER_SHARD_BYTES)
        .map_err(|error| error.to_string())?;
    // Raises RLIMIT_NOFILE and splits it per shard; refuses a limit too low.
    rt::os_limits::budget_open_files(config.cores).map_err(|error| error.to_string())?;
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|error| format!("cannot create {}: {error}", config.data_dir.display()))
}

/// The single host's metadata log, if a cluster host's data dir has one
/// still to import.
type Legacy = Option<(PathBuf, Vec<metadata::record::MetadataRecord>)>;

/// Reads the metadata log, then writes what this start changes: partitions
/// moved to the shards that now exist, and the offsets topic if missing.
/// A host of a cluster keeps its metadata in the quorum instead: its old
/// single-host log, if any, is returned to be imported, and not written.
fn open_metadata(config: &Config) -> Result<(MetadataState, MetadataStore, Legacy), String> {
    let (mut metadata_store, records) = MetadataStore::open(&config.data_dir)
        .map_err(|error| format!("cannot open the metadata log: {error}"))?;
    if config.quorum.is_some() {
        let legacy = (!records.is_empty()).then(|| (metadata_store.path().to_path_buf(), records));
        return Ok((MetadataState::default(), metadata_store, legacy));
    }
    if config
        .data_dir
        .join("__cluster_metadata/quorum.log")
        .exists()
    {
        return Err(format!(
            "{} belongs to a host of a cluster: start it with --controller-quorum-voters",
            config.data_dir.display()
        ));
    }
    let mut state = MetadataState::default();
    records
        .iter()
        .filter(|record| !record.concerns_hosts())
        .for_each(|record| state.apply(record));
    let here: Vec<u32> = (0..config.cores as u32)
        .map(|shard| metadata::broker_id(config.node_id, shard))
        .collect();
    let mut changes = state.plan_reassignment(&here);
    if state.topics().get(metadata::OFFSETS_TOPIC).is_none() {
        changes.extend(
            state
                .plan(
                    &metadata::offsets_topic_command(config.offsets_topic_partitions),
                    Defaults {
                        num_partitions: config.num_partitions,
                        shard_count: config.cores as u32,
                        node_id: config.node_id,
                    },
                )
                .map_err(|refused| {
                    format!(
                        "cannot create {}: {}",
                        metadata::OFFSETS_TOPIC,
                        refused.message
                    )
                })?,
        );
    }
    for record in changes {
        metadata_store
            .append(&record)
            .map_err(|error| format!("cannot write the metadata log: {error}"))?;
        state.apply(&record);
    }
    Ok((state, metadata_store, None))
}

/// A cluster host's quorum listener, bound, and its registration.
fn prepare_quorum(
    config: &Config,
    nodes: &[Node],
    legacy: Legacy,
) -> Result<Option<shard::quorum_start::QuorumStart>, String> {
    let Some(quorum) = &config.quorum else {
        return Ok(None);
    };
    let listener = bind_when_free(quorum.listen)
        .map_err(|error| format!("cannot listen on {} (quorum): {error}", quorum.listen))?;
    let quorum_address = quorum
        .voters
        .get(&config.node_id)
        .cloned()
        .unwrap_or_else(|| quorum.listen.to_string());
    let registration = metadata::HostRegistration {
        node_id: config.node_id,
        // Grows with every start, so a restart registers anew.
        incarnation: rt::now_milliseconds() as u64,
        host: config.advertise_host.clone(),
        ports: nodes.iter().map(|node| node.port).collect(),
        quorum_address,
        fenced: false,
    };
    Ok(Some(shard::quorum_start::QuorumStart {
        listener,
        registration,
        legacy,
    }))
}

/// One listener per shard, and the node each one is advertised as.
fn bind_listeners(config: &Config) -> Result<(Vec<TcpListener>, Vec<Node>), String> {
    let mut listeners = Vec::with_capacity(config.cores);
    let mut nodes = Vec::with_capacity(config.cores);
    for index in 0..config.cores {
        let address = config.listen_address(index);
        let listener = bind_when_free(address)
            .map_err(|error| format!("cannot listen on {address}: {error}"))?;
        let port = listener
            .local_addr()
            .map_err(|error| error.to_string())?
            .port();
        nodes.push(Node {
            node_id: metadata::broker_id(config.node_id, index as u32) as i32,
            host: config.advertise_host.clone(),
            port,
        });
        listeners.push(listener);
    }
    Ok((listeners, nodes))
}

/// The channels between the controller (shard 0) and every other shard:
/// the controller's ends, and one link per other shard.
fn link_shards(
    cores: usize,
    state: MetadataState,
    store: MetadataStore,
) -> (ControllerParts, Vec<FollowerLink>) {
    let mut parts = ControllerParts {
        state,
        store,
        from_shards: Vec::new(),
        to_shards: Vec::new(),
        quorum: None,
    };
    let mut links = Vec::new();
    for _ in 1..cores {
        let (to_controller, from_shard) =
            cross_core::<ControllerRequest>(limits::CROSS_CORE_QUEUE_MAX);
        let (to_shard, inbox) = cross_core::<ShardMessage>(limits::CROSS_CORE_QUEUE_MAX);
        parts.from_shards.push(from_shard);
        parts.to_shards.push(to_shard);
        links.push((to_controller, inbox));
    }
    (parts, links)
}

/// A shard's ends of its link to the controller.
type FollowerLink = (CoreSender<ControllerRequest>, CoreReceiver<ShardMessage>);

/// What every shard starts with, shared.
struct ShardStarts<'a> {
    config: &'a Arc<Config>,
    nodes: &'a Arc<Vec<Node>>,
    cluster_id: &'a Arc<String>,
    snapshot: &'a Arc<Snapshot>,
    ready: &'a crossbeam::channel::Sender<Result<(), String>>,
    shutdown: &'a Arc<AtomicBool>,
    metadata_ready: &'a Arc<AtomicBool>,
}

/// One start per listener: shard 0 is the controller, the others follow.
fn shard_starts(
    shared: ShardStarts,
    listeners: Vec<TcpListener>,
    controller_parts: ControllerParts,
    links: Vec<FollowerLink>,
    metrics: Vec<corelog::metrics::start::Role>,
) -> Vec<ShardStart> {
    let mut controller_parts = Some(controller_parts);
    let mut links = links.into_iter();
    let mut starts = Vec::with_capacity(listeners.len());
    for ((index, listener), metrics) in listeners.into_iter().enumerate().zip(metrics) {
        let role = if index == 0 {
            ShardRole::Controller(controller_parts.take().expect("one controller"))
        } else {
            let (to_controller, inbox) = links.next().expect("a link per shard");
            ShardRole::Follower {
                to_controller,
                inbox,
            }
        };
        starts.push(ShardStart {
            index: index as u32,
            config: shared.config.clone(),
            nodes: shared.nodes.clone(),
            cluster_id: shared.cluster_id.clone(),
            snapshot: shared.snapshot.clone(),
            listener,
            role,
            metrics,
            ready: shared.ready.clone(),
            shutdown: shared.shutdown.clone(),
            metadata_ready: shared.metadata_ready.clone(),
        });
    }
    starts
}

/// One thread per shard, pinned to its CPU when there are enough.
fn spawn_shards(
    config: &Config,
    starts: Vec<ShardStart>,
) -> Result<Vec<rt::executor::ShardThread<()>>, String> {
    let online_cpus = std::thread::available_parallelism()
        .map(|count| count.get())
        .unwrap_or(1);
    let idle_spin = Duration::from_micros(config.idle_spin_microseconds);
    let mut threads = Vec::with_capacity(starts.len());
    for (index, start) in starts.into_iter().enumerate() {
        let cpu = (config.pin_cores && config.cores <= online_cpus).then_some(index);
        let thread = rt::executor::spawn_shard(index, cpu, idle_spin, move || run_shard(start))
            .map_err(|error| error.to_string())?;
        threads.push(thread);
    }
    Ok(threads)
}

/// Waits for every shard to say it is serving, or for the first failure
/// (a shard that failed to start stops the others).
fn wait_until_ready(
    cores: usize,
    ready: &crossbeam::channel::Receiver<Result<(), String>>,
    shutdown: &AtomicBool,
) -> Result<(), String> {
    for _ in 0..cores {
        match ready.recv() {
            Ok(Ok(())) => {}
            Ok(Err(message)) => {
                shutdown.store(true, Ordering::SeqCst);
                return Err(message);
            }
            Err(_) => return Err("a shard stopped during start-up".into()),
        }
    }
    Ok(())
}

fn announce_ready(config: &Config, nodes: &[Node]) {
    for node in nodes.iter() {
        println!(
            "corelog: node {} listening on {}:{}",
            node.node_id, node.host, node.port
        );
    }
    println!(
        "corelog: ready ({} shards, data in {})",
        config.cores,
        config.data_dir.display()
    );
}

/// Binds `address`, waiting while it is still in use. After a crash the
/// previous process's listening socket outlives it briefly (io_uring tears
/// down its pending accepts asynchronously), so a prompt restart would
/// otherwise fail.
fn bind_when_free(address: SocketAddr) -> std::io::Result<TcpListener> {
    let deadline =
        std::time::Instant::now() + Duration::from_millis(limits::BIND_RETRY_MILLISECONDS);
    let mut said = false;
    loop {
        match TcpListener::bind(address) {
            Err(error)
                if error.kind() == std::io::ErrorKind::AddrInUse
                    && std::time::Instant::now() < deadline =>
            {
                if !said {
                    eprintln!("corelog: {address} is still in use; waiting for it to be released");
                    said = true;
                }
                std::thread::sleep(Duration::from_millis(
                    limits::BIND_RETRY_INTERVAL_MILLISECONDS,
                ));
            }
            result => return result,
        }
    }
}

enum ShardRole {
    Controller(ControllerParts),
    Follower {
        to_controller: CoreSender<ControllerRequest>,
        inbox: CoreReceiver<ShardMessage>,
    },
}

struct ShardStart {
    index: u32,
    config: Arc<Config>,
    nodes: Arc<Vec<Node>>,
    cluster_id: Arc<String>,
    snapshot: Arc<Snapshot>,
    listener: TcpListener,
    role: ShardRole,
    metrics: corelog::metrics::start::Role,
    ready: crossbeam::channel::Sender<Result<(), String>>,
    shutdown: Arc<AtomicBool>,
    /// Set once this host's metadata is in force (at once on a single host).
    metadata_ready: Arc<AtomicBool>,
}

/// The main future of one shard, on its own core.
async fn run_shard(start: ShardStart) {
    let ShardStart {
        index,
        config,
        nodes,
        cluster_id,
        snapshot,
        listener,
        role,
        metrics,
        ready,
        shutdown,
        metadata_ready,
    } = start;
    let shard = match role {
        ShardRole::Controller(parts) => {
            start_controller(index, config.clone(), nodes, cluster_id, parts).await
        }
        ShardRole::Follower {
            to_controller,
            inbox,
        } => {
            let link = ControllerLink::Remote(to_controller.connect().await);
            let shard = Rc::new(Shard::new(index, config.clone(), nodes, cluster_id, link));
            rt::spawn_detached(controller::serve_inbox(
                shard.clone(),
                inbox.connect().await,
            ));
            shard
        }
    };
    let metrics_listening = corelog::metrics::start::start(&shard, metrics);
    if config.quorum.is_none() {
        shard.install(snapshot).await;
    } else if index == 0 {
        // start_controller returned: the host is registered and caught up.
        metadata_ready.store(true, Ordering::SeqCst);
    }
    while !metadata_ready.load(Ordering::SeqCst) && !shutdown.load(Ordering::Relaxed) {
        rt::sleep(Duration::from_millis(20)).await;
    }
    let timers = shard.clone();
    rt::spawn_detached(async move { timers.groups.run_timers().await });
    rt::spawn_detached(shard::retention::run(shard.clone()));
    rt::spawn_detached(shard::flush::run(shard.clone()));
    let listener = rt::net::Listener::from_std(listener);
    let listening = listener.stopper();
    rt::spawn_detached(server::listener::serve(shard.clone(), listener));
    let _ = ready.send(Ok(()));
    while !shutdown.load(Ordering::Relaxed) {
        rt::sleep(Duration::from_millis(limits::SHUTDOWN_CHECK_MILLISECONDS)).await;
    }
    // Stop listening before anything else, so clients are refused (and
    // retry) rather than accepted by a broker that is going away.
    listening.stop();
    if let Some(metrics_listening) = metrics_listening {
        metrics_listening.stop();
    }
    shard.close_all().await;
}

/// Shard 0: its shard, and the controller task that owns the metadata log,
/// fed by the local queue and by a forwarder per other shard.
async fn start_controller(
    index: u32,
    config: Arc<Config>,
    nodes: Arc<Vec<Node>>,
    cluster_id: Arc<String>,
    parts: ControllerParts,
) -> Rc<Shard> {
    let (queue_sender, queue) = local_queue::<ControllerRequest>(limits::CROSS_CORE_QUEUE_MAX);
    let shard = Rc::new(Shard::new(
        index,
        config.clone(),
        nodes,
        cluster_id,
        ControllerLink::Local(queue_sender.clone()),
    ));
    for from_shard in parts.from_shards {
        let from_shard = from_shard.connect().await;
        rt::spawn_detached(controller::forward(from_shard, queue_sender.clone()));
    }
    let mut peers = Vec::new();
    for to_shard in parts.to_shards {
        peers.push(to_shard.connect().await);
    }
    let defaults = Defaults {
        num_partitions: config.num_partitions,
        shard_count: config.cores as u32,
        node_id: config.node_id,
    };
    let shards = controller::Broadcast {
        peers,
        local: shard.clone(),
    };
    match parts.quorum {
        None => {
            let controller = Controller {
                state: parts.state,
                store: parts.store,
                defaults,
                shards,
            };
            rt::spawn_detached(controller.run(queue));
            shard
        }
        Some(quorum) => {
            let started =
                shard::quorum_start::start(&config, quorum, defaults, shards, queue).await;
            match started {
                Ok(_) => shard,
                Err(message) => {
                    eprintln!("corelog: {message}");
                    std::process::exit(1);
                }
            }
        }
    }
}

/// Request bodies and direct-IO buffers are often a megabyte or more. glibc
/// serves such sizes with a fresh mmap each time, so every produce request
/// paid page faults and the kernel's zeroing of those pages (about 6% of
/// the broker's CPU under load, by perf). Serving them from the heap, and
/// keeping up to 256 MiB of freed heap for reuse, avoids that.
fn keep_large_buffers_in_the_heap() {
    // SAFETY: mallopt only tunes the allocator; called before any thread.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, limits::HEAP_MMAP_THRESHOLD_BYTES);
        libc::mallopt(libc::M_TRIM_THRESHOLD, limits::HEAP_TRIM_THRESHOLD_BYTES);
    }
}
