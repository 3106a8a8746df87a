//! corelog: a Kafka-wire-compatible broker, one shard per core.
//!
//! Start-up, in order: check the host (locked memory, io_uring), replay the
//! metadata log and move partitions off shards that no longer exist, bind
//! every shard's port, start one pinned executor per shard, wait until each
//! has opened its partitions, then print the ready line. SIGINT or SIGTERM
//! makes each shard close its partitions (sealing segments, durable) and exit;
//! a host of a cluster first asks the quorum to move leadership off it.
//!
//! Invariants: a shard serves clients only after it installed the replayed
//! snapshot and opened its partitions, and the ready line is printed only
//! after every shard has; each shard stops listening before it closes its
//! partitions.

use corelog::{config, limits, metadata, rt, server, shard, tools};

mod command_line;

use command_line::{
    available_cores, log_settings, parse_command_line, serve_config, CheckArgs, Commands,
};

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use config::Config;
use metadata::state::{Defaults, MetadataState};
use metadata::store::{self, MetadataStore};
use metadata::Snapshot;
use rt::channel::{cross_core, local_queue, CoreReceiver, CoreSender};
use shard::controller::{self, Controller};
use shard::{ControllerLink, ControllerRequest, Node, Shard, ShardMessage};

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
    let (filter, format) = log_settings(&args);
    if let Err(message) = corelog::logging::install(&filter, format) {
        eprintln!("corelog: {message}");
        return ExitCode::FAILURE;
    }
    for warning in &args.file_warnings {
        tracing::warn!("{warning}");
    }
    match serve_config(args).and_then(serve) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            ExitCode::FAILURE
        }
    }
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
            tracing::error!("a shard ended with an error: {error}");
        }
    }
    tracing::info!("shut down cleanly");
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
                    metadata_defaults(config),
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
                    tracing::info!("{address} is still in use; waiting for it to be released");
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
    rt::spawn_detached(corelog::replication::run(shard.clone()));
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
    if config.quorum.is_some() {
        controlled_shutdown(&shard, index, config.node_id).await;
    }
    shard.close_all().await;
}

/// A host of a cluster stopping: shard 0 asks the quorum to move
/// leadership and ISR membership off this host (ShutdownHost), and every
/// shard waits until its metadata shows no partition led here, at most
/// `CONTROLLED_SHUTDOWN_WAIT_MILLISECONDS`, so its partitions close only
/// once other replicas lead them.
async fn controlled_shutdown(shard: &Rc<Shard>, index: u32, node_id: u32) {
    let limit = Duration::from_millis(limits::CONTROLLED_SHUTDOWN_WAIT_MILLISECONDS);
    let leads_here = || {
        shard.metadata.snapshot().topics.values().any(|topic| {
            topic.placement.iter().any(|placement| {
                placement.leader != metadata::NO_LEADER
                    && metadata::host_of(placement.leader) == node_id
            })
        })
    };
    let moved = rt::within(limit, async {
        if index == 0 {
            let answer = shard
                .metadata
                .submit(metadata::Command::ShutdownHost { node_id })
                .await;
            if let Err(refused) = answer {
                tracing::warn!("controlled shutdown refused: {}", refused.message);
            }
        }
        while leads_here() {
            rt::sleep(Duration::from_millis(limits::SHUTDOWN_CHECK_MILLISECONDS)).await;
        }
    })
    .await;
    if index == 0 {
        match moved {
            Some(()) => tracing::info!("controlled shutdown: node {node_id} leads no partition"),
            None => tracing::warn!(
                "controlled shutdown: node {node_id} still leads partitions after {} ms; closing anyway",
                limits::CONTROLLED_SHUTDOWN_WAIT_MILLISECONDS
            ),
        }
    }
}

/// What the metadata planner takes from the broker's flags: the same on a
/// single host's start-up check and in its controller.
fn metadata_defaults(config: &Config) -> Defaults {
    Defaults {
        num_partitions: config.num_partitions,
        shard_count: config.cores as u32,
        node_id: config.node_id,
        replication_factor: config.default_replication_factor,
        unclean_leader_election: config.topic_defaults.unclean_leader_election,
        quorum_voters: config
            .quorum
            .as_ref()
            .map_or(0, |quorum| quorum.voters.len()),
    }
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
    let defaults = metadata_defaults(&config);
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
                    tracing::error!("{message}");
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
