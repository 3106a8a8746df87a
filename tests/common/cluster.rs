//! A cluster of real `corelog` hosts started by `scripts/cluster.sh`, each
//! in its own network namespace, for the tests of issue 13.
//!
//! Invariants: one cluster at a time per test binary (`Cluster::up` holds a
//! static lock until the cluster is dropped, since the machine has 2 cores);
//! every cluster has its own interface prefix, subnet and directory, so an
//! earlier run's leftovers never collide with it; dropping a `Cluster` runs
//! `down`, and removes the directory unless the test is failing (then its
//! logs stay, and the path is printed).

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{CreateTopicsRequest, MetadataRequest, MetadataResponse};
use kafka_protocol::protocol::StrBytes;

use super::{name, Client};

/// Kafka listener of shard 0 and the broker-id stride (`H * 1024 + shard`),
/// as the script and the contract fix them.
pub const KAFKA_PORT: u16 = 9092;
pub const NODES_PER_HOST: i32 = 1024;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
static CLUSTERS_STARTED: AtomicU32 = AtomicU32::new(0);

/// What `status` says of one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostStatus {
    pub host: usize,
    /// running, stopped, dead or isolated.
    pub state: String,
    /// The quorum leader its log last named (-1: none known), if any.
    pub leader: Option<i32>,
}

/// One partition as Metadata v12 reports it (replication, issue 14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionState {
    pub partition: i32,
    pub error_code: i16,
    /// Broker id, or -1 while the partition has none.
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

impl PartitionState {
    /// The host of the leader, if there is one.
    pub fn leader_host(&self) -> Option<usize> {
        usize::try_from(self.leader)
            .ok()
            .map(|node| node / NODES_PER_HOST as usize)
    }

    /// Every replica in sync and a leader: a healthy partition.
    pub fn fully_in_sync(&self) -> bool {
        self.error_code == 0 && self.leader >= 0 && self.isr.len() == self.replicas.len()
    }
}

pub struct Cluster {
    pub hosts: usize,
    pub cores: usize,
    /// Interface prefix (`CORELOG_CLUSTER_NAME`).
    pub name: String,
    /// First three octets of the cluster's /24.
    pub subnet: String,
    pub dir: PathBuf,
    _one_at_a_time: MutexGuard<'static, ()>,
}

/// True when the tests can build namespaces; otherwise says why they skip.
pub fn can_run() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("skipped: cluster tests need root (network namespaces, veth pairs, a bridge)");
        return false;
    }
    true
}

impl Cluster {
    /// `scripts/cluster.sh up hosts --cores cores` with `extra_flags` for
    /// every host; `None` (the test skips) when not root. Panics, with the
    /// script's output, when the cluster does not come up.
    pub fn up(label: &str, hosts: usize, cores: usize, extra_flags: &[&str]) -> Option<Cluster> {
        if !can_run() {
            return None;
        }
        let guard = ONE_AT_A_TIME
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let sequence = CLUSTERS_STARTED.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let cluster = Cluster {
            hosts,
            cores,
            name: format!("c{:x}{}", pid & 0xffff, sequence % 100),
            subnet: format!("10.{}.{}", 80 + sequence % 40, pid % 250),
            dir: std::env::temp_dir().join(format!("corelog-cluster-{label}-{pid}-{sequence}")),
            _one_at_a_time: guard,
        };
        println!(
            "cluster {label}: {hosts} hosts x {cores} shards, {}.0/24, {}",
            cluster.subnet,
            cluster.dir.display()
        );
        let output = cluster
            .script()
            .args(["up", &hosts.to_string(), "--cores", &cores.to_string()])
            .env("CORELOG_CLUSTER_EXTRA", extra_flags.join(" "))
            .output()
            .expect("bash runs scripts/cluster.sh");
        assert!(
            output.status.success(),
            "cluster.sh up failed:\n{}",
            describe(&output)
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(
            stdout.lines().last().unwrap_or(""),
            cluster.bootstrap(),
            "up prints the bootstrap list last"
        );
        Some(cluster)
    }

    fn script(&self) -> Command {
        let mut command = Command::new("bash");
        command
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/cluster.sh"))
            .env("CORELOG_BIN", env!("CARGO_BIN_EXE_corelog"))
            .env("CORELOG_CLUSTER_DIR", &self.dir)
            .env("CORELOG_CLUSTER_NAME", &self.name)
            .env("CORELOG_CLUSTER_SUBNET", &self.subnet)
            .stdin(Stdio::null());
        command
    }

    /// Runs a subcommand; panics with its output when it fails.
    pub fn run(&self, arguments: &[&str]) -> String {
        let output = self
            .script()
            .args(arguments)
            .output()
            .expect("bash runs scripts/cluster.sh");
        assert!(
            output.status.success(),
            "cluster.sh {arguments:?} failed:\n{}",
            describe(&output)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    pub fn bootstrap(&self) -> String {
        (0..self.hosts)
            .map(|host| format!("{}:{KAFKA_PORT}", self.address(host)))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Host `host`'s own address.
    pub fn address(&self, host: usize) -> String {
        format!("{}.{}", self.subnet, host + 1)
    }

    /// Where the broker with Kafka id `node` (`host * 1024 + shard`) listens.
    pub fn node_address(&self, node: i32) -> SocketAddr {
        let host = (node / NODES_PER_HOST) as usize;
        let port = KAFKA_PORT + (node % NODES_PER_HOST) as u16;
        format!("{}:{port}", self.address(host)).parse().unwrap()
    }

    pub fn kill(&self, host: usize) {
        println!("cluster: kill -9 host {host}");
        self.run(&["kill", &host.to_string()]);
    }

    /// Starts a killed host again on its data; returns once it is ready.
    pub fn start(&self, host: usize) {
        println!("cluster: start host {host}, waiting for its ready line");
        self.run(&["start", &host.to_string()]);
    }

    pub fn stop(&self, host: usize) {
        println!("cluster: SIGSTOP host {host}");
        self.run(&["stop", &host.to_string()]);
    }

    pub fn cont(&self, host: usize) {
        println!("cluster: SIGCONT host {host}");
        self.run(&["cont", &host.to_string()]);
    }

    pub fn isolate(&self, host: usize) {
        println!("cluster: isolate host {host}");
        self.run(&["isolate", &host.to_string()]);
    }

    pub fn heal(&self) {
        println!("cluster: heal");
        self.run(&["heal"]);
    }

    /// Each host's state and known leader, from `status`.
    pub fn status(&self) -> Vec<HostStatus> {
        self.run(&["status"])
            .lines()
            .filter_map(|line| {
                // host H ADDRESS STATE leader X term T
                let words: Vec<&str> = line.split_whitespace().collect();
                (words.first() == Some(&"host") && words.len() >= 6).then(|| HostStatus {
                    host: words[1].parse().expect("host index"),
                    state: words[3].to_string(),
                    leader: words[5].parse().ok(),
                })
            })
            .collect()
    }

    /// The quorum leader a majority of the reachable running hosts name.
    pub fn leader(&self) -> Option<usize> {
        let status = self.run(&["status"]);
        let last = status.lines().last()?;
        let leader: i32 = last.strip_prefix("leader ")?.parse().ok()?;
        usize::try_from(leader).ok()
    }

    /// kill -9 then start: a crash and a restart on the same data.
    pub fn restart(&self, host: usize) {
        self.kill(host);
        self.start(host);
    }

    /// Hosts `status` reports running and reachable (neither stopped,
    /// dead nor isolated).
    pub fn reachable_hosts(&self) -> Vec<usize> {
        self.status()
            .into_iter()
            .filter(|status| status.state == "running")
            .map(|status| status.host)
            .collect()
    }

    /// Metadata for `topics` from the first reachable host that answers
    /// within 3 s, starting with host `first` (callers rotate it so one
    /// host's stale view does not stick).
    pub fn metadata_from_any(&self, topics: &[&str], first: usize) -> Option<MetadataResponse> {
        let mut hosts = self.reachable_hosts();
        hosts.sort_by_key(|host| (host + self.hosts - first % self.hosts) % self.hosts);
        hosts.into_iter().find_map(|host| {
            let mut client = self.try_client(host, 0, Duration::from_secs(3))?;
            try_metadata(&mut client, Some(topics))
        })
    }

    /// Every partition of `topic`, sorted, from any reachable host; `None`
    /// when none answers or the topic is unknown there.
    pub fn partitions(&self, topic: &str) -> Option<Vec<PartitionState>> {
        let metadata = self.metadata_from_any(&[topic], 0)?;
        partition_states(&metadata, topic)
    }

    /// The host leading `topic`'s `partition`, as a reachable host sees it.
    pub fn leader_host(&self, topic: &str, partition: i32) -> Option<usize> {
        self.partitions(topic)?
            .iter()
            .find(|state| state.partition == partition)?
            .leader_host()
    }

    /// CreateTopics v7 through the first reachable host: `topic` with
    /// `partitions` partitions of `replication_factor` replicas and
    /// `configs`; the error code, or `None` when no host answers.
    pub fn create_topic(
        &self,
        topic: &str,
        partitions: i32,
        replication_factor: i16,
        configs: &[(&str, &str)],
    ) -> Option<i16> {
        let text = |value: &str| StrBytes::from_string(value.to_string());
        let request = CreateTopicsRequest::default()
            .with_timeout_ms(10_000)
            .with_topics(vec![CreatableTopic::default()
                .with_name(name(topic))
                .with_num_partitions(partitions)
                .with_replication_factor(replication_factor)
                .with_configs(
                    configs
                        .iter()
                        .map(|(key, value)| {
                            CreatableTopicConfig::default()
                                .with_name(text(key))
                                .with_value(Some(text(value)))
                        })
                        .collect(),
                )]);
        self.reachable_hosts().into_iter().find_map(|host| {
            let mut client = self.try_client(host, 0, Duration::from_secs(15))?;
            Some(client.try_send(&request, 7)?.topics.first()?.error_code)
        })
    }

    /// Waits until every host runs and every partition of `topic` has a
    /// leader and all its replicas in sync; panics with the logs after
    /// `timeout`.
    pub fn wait_in_sync(&self, topic: &str, timeout: Duration) -> Vec<PartitionState> {
        wait_for(
            &format!("every host up and every partition of {topic} fully in sync"),
            timeout,
            || self.logs(),
            || {
                if self.reachable_hosts().len() != self.hosts {
                    return None;
                }
                let states = self.partitions(topic)?;
                states
                    .iter()
                    .all(PartitionState::fully_in_sync)
                    .then_some(states)
            },
        )
    }

    /// kcat against the bootstrap list, started in the background with
    /// its stdout piped (stderr to the cluster directory's kcat.log).
    pub fn spawn_kcat(&self, arguments: &[&str]) -> std::process::Child {
        assert!(
            super::kcat_available(),
            "kcat is not installed: run scripts/test.sh, which installs it"
        );
        let log = std::fs::File::create(self.dir.join("kcat.log")).expect("kcat.log");
        Command::new("kcat")
            .args(["-b", &self.bootstrap()])
            .args(arguments)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("kcat runs")
    }

    /// Host `host`'s log (every start of it, stdout and stderr).
    pub fn log(&self, host: usize) -> String {
        std::fs::read_to_string(self.dir.join(format!("host{host}.log"))).unwrap_or_default()
    }

    /// The last lines of every host's log, for a failure message.
    pub fn logs(&self) -> String {
        (0..self.hosts)
            .map(|host| {
                let log = self.log(host);
                let lines: Vec<&str> = log.lines().collect();
                let tail = lines[lines.len().saturating_sub(40)..].join("\n");
                format!("--- host {host}:\n{tail}\n")
            })
            .collect()
    }

    /// A client of host `host`'s shard `shard`, from the root namespace.
    pub fn client(&self, host: usize, shard: usize) -> Client {
        Client::connect_to(self.node_address(host as i32 * NODES_PER_HOST + shard as i32))
    }

    /// Like `client`, or `None` when the host does not accept within
    /// `timeout` (dead, isolated); replies are awaited `timeout` at most.
    pub fn try_client(&self, host: usize, shard: usize, timeout: Duration) -> Option<Client> {
        let address = self.node_address(host as i32 * NODES_PER_HOST + shard as i32);
        let stream = TcpStream::connect_timeout(&address, timeout).ok()?;
        let client = Client::over(stream);
        client.stream.set_read_timeout(Some(timeout)).unwrap();
        Some(client)
    }

    /// Metadata (every topic) from host `host`'s shard 0, or `None` when it
    /// does not answer within 10 s.
    pub fn metadata(&self, host: usize) -> Option<MetadataResponse> {
        let mut client = self.try_client(host, 0, Duration::from_secs(10))?;
        try_metadata(&mut client, None)
    }

    /// A client of the broker with Kafka id `node`, from the root namespace.
    pub fn node_client(&self, node: i32) -> Client {
        Client::connect_to(self.node_address(node))
    }

    /// A client of host `host`'s shard `shard` from inside the host's own
    /// namespace: it reaches the host while it is isolated. Replies are
    /// awaited `timeout` at most.
    pub fn client_inside(&self, host: usize, shard: usize, timeout: Duration) -> Client {
        let address = self.node_address(host as i32 * NODES_PER_HOST + shard as i32);
        let namespace = format!("/run/netns/{}h{host}", self.name);
        // A thread's network namespace is its own: enter it on a thread of
        // its own, whose socket stays in that namespace once connected.
        let stream = std::thread::spawn(move || {
            let file = std::fs::File::open(&namespace).expect("the host's namespace");
            use std::os::fd::AsRawFd;
            // SAFETY: setns on a descriptor we hold open; it changes only
            // this thread's network namespace.
            let entered = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(entered, 0, "setns: {}", std::io::Error::last_os_error());
            TcpStream::connect_timeout(&address, timeout)
                .unwrap_or_else(|error| panic!("connect to {address} inside: {error}"))
        })
        .join()
        .expect("connected inside the namespace");
        let client = Client::over(stream);
        client.stream.set_read_timeout(Some(timeout)).unwrap();
        client
    }

    /// Runs kcat (30 s at most) against the bootstrap list from the root
    /// namespace; its output, or a panic with its error and the logs.
    pub fn kcat(&self, arguments: &[&str]) -> String {
        assert!(
            super::kcat_available(),
            "kcat is not installed: run scripts/test.sh, which installs it"
        );
        let output = Command::new("timeout")
            .arg("30")
            .arg("kcat")
            .args(["-b", &self.bootstrap()])
            .args(arguments)
            .stdin(Stdio::null())
            .output()
            .expect("kcat runs");
        assert!(
            output.status.success(),
            "kcat {arguments:?} failed:\n{}\n{}",
            describe(&output),
            self.logs()
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let down = self.script().arg("down").output();
        if !matches!(&down, Ok(output) if output.status.success()) {
            eprintln!("cluster.sh down failed: {down:?}");
        }
        if std::thread::panicking() {
            eprintln!(
                "cluster logs kept in {} (the test failed)\n{}",
                self.dir.display(),
                self.logs()
            );
        } else if std::env::var_os("CORELOG_KEEP_CLUSTER").is_some() {
            eprintln!(
                "cluster logs kept in {} (CORELOG_KEEP_CLUSTER)",
                self.dir.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn describe(output: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Polls `check` every 200 ms until it gives a value; panics after
/// `timeout` with `what` and `context()` (the logs, say).
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    context: impl Fn() -> String,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    println!("waiting up to {} s for {what}", timeout.as_secs());
    let start = Instant::now();
    loop {
        if let Some(value) = check() {
            println!("  ... {what}: after {:.1} s", start.elapsed().as_secs_f64());
            return value;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {} s waiting for {what}\n{}",
            timeout.as_secs(),
            context()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Metadata v12 for `topics` (every topic when `None`), or `None` when the
/// connection fails or the reply does not come.
pub fn try_metadata(client: &mut Client, topics: Option<&[&str]>) -> Option<MetadataResponse> {
    let request = MetadataRequest::default()
        .with_topics(topics.map(|topics| {
            topics
                .iter()
                .map(|topic| MetadataRequestTopic::default().with_name(Some(name(topic))))
                .collect()
        }))
        .with_allow_auto_topic_creation(false);
    client.try_send(&request, 12)
}

/// Broker ids in a Metadata response, sorted.
pub fn broker_ids(metadata: &MetadataResponse) -> Vec<i32> {
    let mut ids: Vec<i32> = metadata
        .brokers
        .iter()
        .map(|broker| broker.node_id.0)
        .collect();
    ids.sort();
    ids
}

/// Leader of each partition of `topic` in a Metadata response (sorted by
/// partition), or `None` when the topic is missing or has an error.
pub fn topic_leaders(metadata: &MetadataResponse, topic: &str) -> Option<Vec<i32>> {
    let found = metadata
        .topics
        .iter()
        .find(|found| found.name.as_ref().map(|name| name.0.as_str()) == Some(topic))?;
    if found.error_code != 0 || found.partitions.is_empty() {
        return None;
    }
    let mut partitions = found.partitions.clone();
    partitions.sort_by_key(|partition| partition.partition_index);
    Some(
        partitions
            .iter()
            .map(|partition| partition.leader_id.0)
            .collect(),
    )
}

/// `topic`'s partitions in a Metadata response, sorted, or `None` when
/// the topic is missing or has an error.
pub fn partition_states(metadata: &MetadataResponse, topic: &str) -> Option<Vec<PartitionState>> {
    let found = metadata
        .topics
        .iter()
        .find(|found| found.name.as_ref().map(|name| name.0.as_str()) == Some(topic))?;
    if found.error_code != 0 || found.partitions.is_empty() {
        return None;
    }
    let ids =
        |nodes: &[kafka_protocol::messages::BrokerId]| nodes.iter().map(|node| node.0).collect();
    let mut states: Vec<PartitionState> = found
        .partitions
        .iter()
        .map(|partition| PartitionState {
            partition: partition.partition_index,
            error_code: partition.error_code,
            leader: partition.leader_id.0,
            leader_epoch: partition.leader_epoch,
            replicas: ids(&partition.replica_nodes),
            isr: ids(&partition.isr_nodes),
        })
        .collect();
    states.sort_by_key(|state| state.partition);
    Some(states)
}

/// The hosts of broker ids, sorted and without repeats.
pub fn hosts_of(nodes: &[i32]) -> Vec<i32> {
    let mut hosts: Vec<i32> = nodes.iter().map(|node| node / NODES_PER_HOST).collect();
    hosts.sort();
    hosts.dedup();
    hosts
}
