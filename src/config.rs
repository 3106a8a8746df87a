//! The broker's validated configuration, with units in names.
//!
//! Invariants: a `Config` the broker runs with passed [`Config::validate`]:
//! every bound it names lies within the one `limits.rs` sets, and the
//! settings that depend on each other agree (a message fits in a request,
//! a request fits in the queued-request budget, min session timeout at
//! most the max).

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use crate::metadata::topic_config::BrokerDefaults;

#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    /// One address: shard 0 listens there, shard i on the port i up (or an
    /// ephemeral port each, when the port is 0). One address per shard:
    /// shard i listens on the i-th (a stand-in for several brokers whose
    /// ports are not consecutive, as kafkajs's test suite expects).
    pub listen: Vec<SocketAddr>,
    /// Host clients are told to connect to.
    pub advertise_host: String,
    pub cores: usize,
    /// `num.partitions`: partitions of auto-created topics and of
    /// CreateTopics requests that leave the count to the broker.
    pub num_partitions: i32,
    /// `auto.create.topics.enable`.
    pub auto_create_topics: bool,
    /// `socket.request.max.bytes`.
    pub request_bytes_max: u32,
    /// `queued.max.request.bytes`, per shard.
    pub queued_request_bytes_max: u64,
    pub topic_defaults: BrokerDefaults,
    /// `log.retention.check.interval.ms`.
    pub retention_check_interval_milliseconds: u64,
    /// `offsets.topic.num.partitions`, used when the offsets topic is created.
    pub offsets_topic_partitions: i32,
    /// `group.min.session.timeout.ms` and `group.max.session.timeout.ms`.
    pub group_session_timeout_min_milliseconds: u64,
    pub group_session_timeout_max_milliseconds: u64,
    /// `group.initial.rebalance.delay.ms`.
    pub group_initial_rebalance_delay_milliseconds: u64,
    /// Bytes of recent batches each shard keeps for tailing consumers.
    pub tail_cache_bytes: u64,
    /// How Fetch sends data older than the tail cache.
    pub cold_reads: crate::partition::ColdReads,
    /// How long a shard polls for work before parking.
    pub idle_spin_microseconds: u64,
    /// `node.id`: this host in a cluster. Shard s of host H is Kafka broker
    /// `H * SHARDS_MAX + s` (`metadata::broker_id`); 0 on a single host.
    pub node_id: u32,
    /// The metadata quorum this host belongs to; `None`: a single host
    /// whose shard 0 is the controller, with no quorum.
    pub quorum: Option<QuorumConfig>,
    /// `broker.session.timeout.ms`: a host that has not heartbeated the
    /// quorum leader for this long is fenced (its shards leave Metadata).
    pub broker_session_timeout_milliseconds: u64,
    /// `default.replication.factor`: replicas of a topic created without
    /// one (-1 in CreateTopics, or auto-created).
    pub default_replication_factor: i16,
    /// `replica.lag.time.max.ms`: a follower that has not caught up with
    /// its leader's log end for this long leaves the ISR.
    pub replica_lag_time_max_milliseconds: u64,
    /// Pin shard i to CPU i (when there are enough CPUs); off when several
    /// hosts share a machine.
    pub pin_cores: bool,
    /// Where shard 0 serves /metrics, /health and /ready (`None`: off).
    pub metrics_listen: Option<SocketAddr>,
}

/// `controller.quorum.voters` and where this host's quorum member listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumConfig {
    /// Voter node id to its quorum address (`host:port`).
    pub voters: BTreeMap<u32, String>,
    /// Where this host's quorum member listens.
    pub listen: SocketAddr,
}

impl QuorumConfig {
    /// From `--controller-quorum-voters` (`id@host:port,...`) and
    /// `--controller-listen` (default: this node's own voter address).
    pub fn parse(
        node_id: u32,
        voters: &str,
        listen: Option<&str>,
    ) -> Result<QuorumConfig, ConfigError> {
        let mut parsed = BTreeMap::new();
        for voter in voters.split(',').map(str::trim).filter(|v| !v.is_empty()) {
            let (id, address) = voter.split_once('@').ok_or_else(|| {
                ConfigError(format!(
                    "--controller-quorum-voters: '{voter}' is not id@host:port"
                ))
            })?;
            let id: u32 = id.parse().map_err(|_| {
                ConfigError(format!(
                    "--controller-quorum-voters: '{id}' is not a node id"
                ))
            })?;
            if address
                .rsplit_once(':')
                .and_then(|(_, port)| port.parse::<u16>().ok())
                .is_none()
            {
                return Err(ConfigError(format!(
                    "--controller-quorum-voters: '{address}' is not host:port"
                )));
            }
            if parsed.insert(id, address.to_string()).is_some() {
                return Err(ConfigError(format!(
                    "--controller-quorum-voters names node {id} twice"
                )));
            }
        }
        if parsed.is_empty() {
            return Err(ConfigError(
                "--controller-quorum-voters names no voter".into(),
            ));
        }
        let listen_text = match (listen, parsed.get(&node_id)) {
            (Some(listen), _) => listen.to_string(),
            (None, Some(own)) => own.clone(),
            (None, None) => {
                return Err(ConfigError(format!(
                    "node {node_id} is not a voter: give --controller-listen, the address its quorum member listens on"
                )))
            }
        };
        let listen = listen_text
            .to_socket_addrs()
            .ok()
            .and_then(|mut addresses| addresses.next())
            .ok_or_else(|| {
                ConfigError(format!(
                    "--controller-listen: cannot resolve '{listen_text}'"
                ))
            })?;
        Ok(QuorumConfig {
            voters: parsed,
            listen,
        })
    }

    pub fn is_voter(&self, node_id: u32) -> bool {
        self.voters.contains_key(&node_id)
    }
}

#[derive(Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Config {
    /// Where shard `index` listens.
    pub fn listen_address(&self, index: usize) -> SocketAddr {
        match self.listen.as_slice() {
            [single] => {
                let mut address = *single;
                if address.port() != 0 {
                    address.set_port(address.port() + index as u16);
                }
                address
            }
            several => several[index],
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_shards_and_listen()?;
        self.validate_sizes()?;
        self.validate_timeouts_and_host()?;
        self.validate_replication()
    }

    /// `default.replication.factor`, `min.insync.replicas` and
    /// `replica.lag.time.max.ms`: each at least 1 (whether enough hosts
    /// are live is known only when a topic is created).
    fn validate_replication(&self) -> Result<(), ConfigError> {
        if self.default_replication_factor < 1 {
            return Err(ConfigError(
                "--default-replication-factor must be at least 1".into(),
            ));
        }
        if self.topic_defaults.min_insync_replicas < 1 {
            return Err(ConfigError(
                "--min-insync-replicas must be at least 1".into(),
            ));
        }
        if self.replica_lag_time_max_milliseconds < 1 {
            return Err(ConfigError(
                "--replica-lag-time-max-ms must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// `--cores` and `--listen`: one address, or one per shard.
    fn validate_shards_and_listen(&self) -> Result<(), ConfigError> {
        if self.cores == 0 || self.cores > crate::limits::SHARDS_MAX {
            return Err(ConfigError(format!(
                "--cores must be between 1 and {}",
                crate::limits::SHARDS_MAX
            )));
        }
        match self.listen.as_slice() {
            [] => return Err(ConfigError("--listen must name an address".into())),
            [single]
                if single.port() != 0
                    && u32::from(single.port()) + self.cores as u32 - 1 > u32::from(u16::MAX) =>
            {
                return Err(ConfigError(
                    "--listen port plus --cores runs past port 65535".into(),
                ));
            }
            // One address: shard i listens on its port + i.
            [_] => {}
            several if several.len() != self.cores => {
                return Err(ConfigError(format!(
                    "--listen names {} addresses for {} shards: give one, or one per shard",
                    several.len(),
                    self.cores
                )));
            }
            _ => {}
        }
        Ok(())
    }

    /// Partition counts, segment and message sizes, and request memory.
    fn validate_sizes(&self) -> Result<(), ConfigError> {
        if self.num_partitions < 1 || self.num_partitions > crate::limits::PARTITIONS_PER_TOPIC_MAX
        {
            return Err(ConfigError(format!(
                "--num-partitions must be between 1 and {}",
                crate::limits::PARTITIONS_PER_TOPIC_MAX
            )));
        }
        if self.topic_defaults.segment_bytes < crate::limits::SEGMENT_BYTES_MIN
            || self.topic_defaults.segment_bytes > crate::limits::SEGMENT_BYTES_MAX
        {
            return Err(ConfigError(format!(
                "--log-segment-bytes must be between {} and {}",
                crate::limits::SEGMENT_BYTES_MIN,
                crate::limits::SEGMENT_BYTES_MAX
            )));
        }
        if self.topic_defaults.max_message_bytes >= self.request_bytes_max {
            return Err(ConfigError(
                "--message-max-bytes must be below --socket-request-max-bytes".into(),
            ));
        }
        if self.queued_request_bytes_max < u64::from(self.request_bytes_max) {
            return Err(ConfigError(
                "--queued-max-request-bytes must be at least --socket-request-max-bytes".into(),
            ));
        }
        if self.offsets_topic_partitions < 1
            || self.offsets_topic_partitions > crate::limits::PARTITIONS_PER_TOPIC_MAX
        {
            return Err(ConfigError(format!(
                "--offsets-topic-num-partitions must be between 1 and {}",
                crate::limits::PARTITIONS_PER_TOPIC_MAX
            )));
        }
        Ok(())
    }

    /// Group session timeouts, the retention and roll intervals, and the
    /// advertised host.
    fn validate_timeouts_and_host(&self) -> Result<(), ConfigError> {
        if self.group_session_timeout_min_milliseconds > self.group_session_timeout_max_milliseconds
        {
            return Err(ConfigError(
                "--group-min-session-timeout-ms must not exceed --group-max-session-timeout-ms"
                    .into(),
            ));
        }
        if self.retention_check_interval_milliseconds == 0 {
            return Err(ConfigError(
                "--log-retention-check-interval-ms must be at least 1".into(),
            ));
        }
        if self.topic_defaults.segment_ms < 1 {
            return Err(ConfigError("--log-roll-ms must be at least 1".into()));
        }
        if self.node_id >= crate::limits::NODES_MAX {
            return Err(ConfigError(format!(
                "--node-id must be below {}",
                crate::limits::NODES_MAX
            )));
        }
        if self.broker_session_timeout_milliseconds < crate::limits::HOST_HEARTBEAT_MILLISECONDS * 2
        {
            return Err(ConfigError(format!(
                "--broker-session-timeout-ms must be at least {}",
                crate::limits::HOST_HEARTBEAT_MILLISECONDS * 2
            )));
        }
        if self.advertise_host.is_empty() {
            return Err(ConfigError("--advertise must name a host".into()));
        }
        Ok(())
    }
}
