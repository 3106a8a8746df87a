//! Metadata records: the entries of the controller's append-only log, and
//! their binary encoding (big-endian, length-prefixed strings and lists).
//!
//! Placements are written with replicas, leader and leader epoch (record
//! types 6, 7 and 8). Logs written before partitions had replicas hold
//! types 1, 3 and 4, which name only each partition's shard; they still
//! decode, as a single replica that leads at epoch 0 (a move's epoch is
//! then derived when it is applied, see `state.rs`). A topic or partitions
//! whose placements that first format says exactly (one replica at epoch
//! 0, every new partition today) are still written in it.
//!
//! A partition's in-sync replicas travel in `PartitionChanged` (type 12),
//! and in a topic of a snapshot whose ISR differs somewhere from its
//! replicas (type 13); every other placement decodes with `isr =
//! replicas`, which is what a new partition has, and all a record written
//! before ISRs existed can mean.
//!
//! Invariants: `decode(encode(record)) == record`; every type ever written
//! stays decodable.

use bytes::{Buf, BufMut};

use super::{PartitionPlacement, NO_LEADER};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataRecord {
    /// A topic with the placement of each partition, in partition order.
    TopicCreated {
        id: [u8; 16],
        name: String,
        placement: Vec<PartitionPlacement>,
        configs: Vec<(String, String)>,
    },
    TopicDeleted {
        name: String,
    },
    /// New partitions appended after the existing ones.
    PartitionsAdded {
        name: String,
        placement: Vec<PartitionPlacement>,
    },
    /// Partitions moved to another shard (when `--cores` shrank): each
    /// partition index with its placement from then on.
    PartitionsMoved {
        name: String,
        moves: Vec<(u32, PartitionPlacement)>,
    },
    /// The topic's configs, replaced whole (AlterConfigs and
    /// IncrementalAlterConfigs).
    TopicConfigsSet {
        name: String,
        configs: Vec<(String, String)>,
    },
    /// A host joined the cluster, or came back (a new incarnation), with
    /// the address of each of its shards and of its quorum member. Written
    /// only by a quorum; unfences the host.
    HostRegistered(super::HostRegistration),
    /// The quorum leader fenced a host whose lease ran out (its shards
    /// leave Metadata), or unfenced one that heartbeated again.
    HostFenced {
        node_id: u32,
        fenced: bool,
    },
    /// A decommissioned host left the cluster.
    HostRemoved {
        node_id: u32,
    },
    /// One partition's placement from now on, ISR included: written for
    /// ISR changes (AlterPartition), elections and leader moves.
    PartitionChanged {
        name: String,
        partition: u32,
        placement: PartitionPlacement,
    },
    /// A partition's reassignment in progress from now on (KIP-455), or
    /// none (`None`: completed or cancelled). See `reassignment.rs`.
    ReassignmentSet {
        name: String,
        partition: u32,
        reassignment: Option<super::reassignment::Reassignment>,
    },
    /// The cluster's id, which every host reports to clients: the first
    /// quorum leader's own (its data dir's), set once; a later one is
    /// ignored. Written only by a quorum.
    ClusterIdSet {
        id: String,
    },
}

const TOPIC_CREATED: u8 = 1;
const TOPIC_DELETED: u8 = 2;
const PARTITIONS_ADDED: u8 = 3;
const PARTITIONS_MOVED: u8 = 4;
const TOPIC_CONFIGS_SET: u8 = 5;
const TOPIC_CREATED_WITH_REPLICAS: u8 = 6;
const PARTITIONS_ADDED_WITH_REPLICAS: u8 = 7;
const PARTITIONS_MOVED_WITH_EPOCHS: u8 = 8;
const HOST_REGISTERED: u8 = 9;
const HOST_FENCED: u8 = 10;
const HOST_REMOVED: u8 = 11;
const PARTITION_CHANGED: u8 = 12;
/// A topic whose placements need their ISR said (a snapshot's, once some
/// ISR differs from its replicas or a partition has no leader).
const TOPIC_CREATED_WITH_ISR: u8 = 13;
/// A partition's pending reassignment: its target and adding replicas
/// (an empty target: none pending).
const REASSIGNMENT_SET: u8 = 14;
const CLUSTER_ID_SET: u8 = 15;

#[derive(Debug, PartialEq, Eq)]
pub struct DecodeError(pub &'static str);

impl MetadataRecord {
    /// Whether the record registers, fences or removes a host, or sets
    /// the cluster's id: written only by a cluster's quorum, so a single
    /// host's replay skips any it meets.
    pub fn concerns_hosts(&self) -> bool {
        matches!(
            self,
            MetadataRecord::HostRegistered(_)
                | MetadataRecord::HostFenced { .. }
                | MetadataRecord::HostRemoved { .. }
                | MetadataRecord::ClusterIdSet { .. }
        )
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            MetadataRecord::TopicCreated {
                id,
                name,
                placement,
                configs,
            } => {
                let first_format = first_format_fits(placement);
                let with_isr = !placement.iter().all(isr_is_replicas);
                out.put_u8(if first_format {
                    TOPIC_CREATED
                } else if with_isr {
                    TOPIC_CREATED_WITH_ISR
                } else {
                    TOPIC_CREATED_WITH_REPLICAS
                });
                out.put_slice(id);
                put_string(&mut out, name);
                if with_isr {
                    out.put_u32(placement.len() as u32);
                    placement
                        .iter()
                        .for_each(|placement| put_placement_with_isr(&mut out, placement));
                } else {
                    put_placements(&mut out, placement, first_format);
                }
                put_configs(&mut out, configs);
            }
            MetadataRecord::TopicDeleted { name } => {
                out.put_u8(TOPIC_DELETED);
                put_string(&mut out, name);
            }
            MetadataRecord::PartitionsAdded { name, placement } => {
                let first_format = first_format_fits(placement);
                out.put_u8(if first_format {
                    PARTITIONS_ADDED
                } else {
                    PARTITIONS_ADDED_WITH_REPLICAS
                });
                put_string(&mut out, name);
                put_placements(&mut out, placement, first_format);
            }
            MetadataRecord::PartitionsMoved { name, moves } => {
                debug_assert!(
                    moves
                        .iter()
                        .all(|(_, placement)| isr_is_replicas(placement)),
                    "a move with an ISR of its own is a PartitionChanged"
                );
                out.put_u8(PARTITIONS_MOVED_WITH_EPOCHS);
                put_string(&mut out, name);
                out.put_u32(moves.len() as u32);
                for (partition, placement) in moves {
                    out.put_u32(*partition);
                    put_placement(&mut out, placement);
                }
            }
            MetadataRecord::TopicConfigsSet { name, configs } => {
                out.put_u8(TOPIC_CONFIGS_SET);
                put_string(&mut out, name);
                put_configs(&mut out, configs);
            }
            MetadataRecord::PartitionChanged {
                name,
                partition,
                placement,
            } => {
                out.put_u8(PARTITION_CHANGED);
                put_string(&mut out, name);
                out.put_u32(*partition);
                put_placement_with_isr(&mut out, placement);
            }
            MetadataRecord::ReassignmentSet {
                name,
                partition,
                reassignment,
            } => {
                out.put_u8(REASSIGNMENT_SET);
                put_string(&mut out, name);
                out.put_u32(*partition);
                let (target, adding) = reassignment
                    .as_ref()
                    .map(|pending| (&pending.target[..], &pending.adding[..]))
                    .unwrap_or_default();
                put_u32_list(&mut out, target);
                put_u32_list(&mut out, adding);
            }
            MetadataRecord::ClusterIdSet { id } => {
                out.put_u8(CLUSTER_ID_SET);
                put_string(&mut out, id);
            }
            host_record => put_host_record(&mut out, host_record),
        }
        out
    }

    pub fn decode(mut bytes: &[u8]) -> Result<MetadataRecord, DecodeError> {
        let buf = &mut bytes;
        let record = match get_u8(buf)? {
            kind @ (TOPIC_CREATED | TOPIC_CREATED_WITH_REPLICAS | TOPIC_CREATED_WITH_ISR) => {
                if buf.remaining() < 16 {
                    return Err(DecodeError("short topic id"));
                }
                let mut id = [0u8; 16];
                buf.copy_to_slice(&mut id);
                let name = get_string(buf)?;
                let placement = match kind {
                    TOPIC_CREATED => get_shard_placements(buf)?,
                    TOPIC_CREATED_WITH_ISR => get_placements_with_isr(buf)?,
                    _ => get_placements(buf)?,
                };
                let configs = get_configs(buf)?;
                MetadataRecord::TopicCreated {
                    id,
                    name,
                    placement,
                    configs,
                }
            }
            TOPIC_DELETED => MetadataRecord::TopicDeleted {
                name: get_string(buf)?,
            },
            PARTITIONS_ADDED => MetadataRecord::PartitionsAdded {
                name: get_string(buf)?,
                placement: get_shard_placements(buf)?,
            },
            PARTITIONS_ADDED_WITH_REPLICAS => MetadataRecord::PartitionsAdded {
                name: get_string(buf)?,
                placement: get_placements(buf)?,
            },
            kind @ (PARTITIONS_MOVED | PARTITIONS_MOVED_WITH_EPOCHS) => {
                let name = get_string(buf)?;
                let count = get_u32(buf)?;
                let mut moves = Vec::new();
                for _ in 0..count {
                    let partition = get_u32(buf)?;
                    let placement = if kind == PARTITIONS_MOVED {
                        PartitionPlacement::single(get_u32(buf)?)
                    } else {
                        get_placement(buf)?
                    };
                    moves.push((partition, placement));
                }
                MetadataRecord::PartitionsMoved { name, moves }
            }
            TOPIC_CONFIGS_SET => MetadataRecord::TopicConfigsSet {
                name: get_string(buf)?,
                configs: get_configs(buf)?,
            },
            PARTITION_CHANGED => MetadataRecord::PartitionChanged {
                name: get_string(buf)?,
                partition: get_u32(buf)?,
                placement: get_placement_with_isr(buf)?,
            },
            kind @ (HOST_REGISTERED | HOST_FENCED | HOST_REMOVED) => get_host_record(kind, buf)?,
            REASSIGNMENT_SET => get_reassignment_set(buf)?,
            CLUSTER_ID_SET => MetadataRecord::ClusterIdSet {
                id: get_string(buf)?,
            },
            _ => return Err(DecodeError("unknown record type")),
        };
        if buf.has_remaining() {
            return Err(DecodeError("bytes after the record"));
        }
        Ok(record)
    }
}

/// The records about hosts (a quorum's only): types 9, 10 and 11.
fn put_host_record(out: &mut Vec<u8>, record: &MetadataRecord) {
    match record {
        MetadataRecord::HostRegistered(host) => {
            out.put_u8(HOST_REGISTERED);
            out.put_u32(host.node_id);
            out.put_u64(host.incarnation);
            put_string(out, &host.host);
            let ports: Vec<u32> = host.ports.iter().map(|&port| u32::from(port)).collect();
            put_u32_list(out, &ports);
            put_string(out, &host.quorum_address);
        }
        MetadataRecord::HostFenced { node_id, fenced } => {
            out.put_u8(HOST_FENCED);
            out.put_u32(*node_id);
            out.put_u8(u8::from(*fenced));
        }
        MetadataRecord::HostRemoved { node_id } => {
            out.put_u8(HOST_REMOVED);
            out.put_u32(*node_id);
        }
        other => unreachable!("not a host record: {other:?}"),
    }
}

fn get_host_record(kind: u8, buf: &mut &[u8]) -> Result<MetadataRecord, DecodeError> {
    Ok(match kind {
        HOST_REGISTERED => {
            let node_id = get_u32(buf)?;
            let incarnation = get_u64(buf)?;
            let host = get_string(buf)?;
            let ports = get_u32_list(buf)?
                .into_iter()
                .map(|port| u16::try_from(port).map_err(|_| DecodeError("port past 65535")))
                .collect::<Result<Vec<u16>, DecodeError>>()?;
            MetadataRecord::HostRegistered(super::HostRegistration {
                node_id,
                incarnation,
                host,
                ports,
                quorum_address: get_string(buf)?,
                fenced: false,
            })
        }
        HOST_FENCED => MetadataRecord::HostFenced {
            node_id: get_u32(buf)?,
            fenced: get_u8(buf)? != 0,
        },
        _ => MetadataRecord::HostRemoved {
            node_id: get_u32(buf)?,
        },
    })
}

/// A reassignment record: its adding replicas are among its target ones.
fn get_reassignment_set(buf: &mut &[u8]) -> Result<MetadataRecord, DecodeError> {
    let name = get_string(buf)?;
    let partition = get_u32(buf)?;
    let target = get_u32_list(buf)?;
    let adding = get_u32_list(buf)?;
    if !adding.iter().all(|replica| target.contains(replica)) {
        return Err(DecodeError("adding replicas outside the target"));
    }
    let reassignment =
        (!target.is_empty()).then_some(super::reassignment::Reassignment { target, adding });
    Ok(MetadataRecord::ReassignmentSet {
        name,
        partition,
        reassignment,
    })
}

fn put_string(out: &mut Vec<u8>, value: &str) {
    out.put_u32(value.len() as u32);
    out.put_slice(value.as_bytes());
}

fn put_configs(out: &mut Vec<u8>, configs: &[(String, String)]) {
    out.put_u32(configs.len() as u32);
    for (key, value) in configs {
        put_string(out, key);
        put_string(out, value);
    }
}

fn get_configs(buf: &mut &[u8]) -> Result<Vec<(String, String)>, DecodeError> {
    let count = get_u32(buf)?;
    let mut configs = Vec::new();
    for _ in 0..count {
        configs.push((get_string(buf)?, get_string(buf)?));
    }
    Ok(configs)
}

fn put_u32_list(out: &mut Vec<u8>, values: &[u32]) {
    out.put_u32(values.len() as u32);
    for &value in values {
        out.put_u32(value);
    }
}

fn put_placement(out: &mut Vec<u8>, placement: &PartitionPlacement) {
    put_u32_list(out, &placement.replicas);
    out.put_u32(placement.leader);
    out.put_i32(placement.leader_epoch);
}

/// Whether the first format (a shard per partition) says all of
/// `placements`: each is one replica leading at epoch 0. Such records are
/// written in it, so a data dir stays readable by the version before
/// replicas until a placement needs more (a move, or more replicas).
fn first_format_fits(placements: &[PartitionPlacement]) -> bool {
    placements
        .iter()
        .all(|placement| *placement == PartitionPlacement::single(placement.leader))
}

fn put_placements(out: &mut Vec<u8>, placements: &[PartitionPlacement], first_format: bool) {
    if first_format {
        let leaders: Vec<u32> = placements
            .iter()
            .map(|placement| placement.leader)
            .collect();
        put_u32_list(out, &leaders);
        return;
    }
    out.put_u32(placements.len() as u32);
    for placement in placements {
        put_placement(out, placement);
    }
}

fn get_placement(buf: &mut &[u8]) -> Result<PartitionPlacement, DecodeError> {
    let replicas = get_u32_list(buf)?;
    let leader = get_u32(buf)?;
    let leader_epoch = get_u32(buf)? as i32;
    if !replicas.contains(&leader) || leader_epoch < 0 {
        return Err(DecodeError("a placement whose leader is not a replica"));
    }
    Ok(PartitionPlacement {
        isr: replicas.clone(),
        replicas,
        leader,
        leader_epoch,
    })
}

/// Whether a placement says nothing the formats before ISR could not:
/// its ISR is its replicas (as they decode) and it has a leader.
fn isr_is_replicas(placement: &PartitionPlacement) -> bool {
    placement.isr == placement.replicas && placement.leader != NO_LEADER
}

fn put_placement_with_isr(out: &mut Vec<u8>, placement: &PartitionPlacement) {
    put_placement(out, placement);
    put_u32_list(out, &placement.isr);
}

/// A placement with its ISR: the ISR a non-empty subset of the replicas,
/// and the leader one of the ISR or [`NO_LEADER`].
fn get_placement_with_isr(buf: &mut &[u8]) -> Result<PartitionPlacement, DecodeError> {
    let replicas = get_u32_list(buf)?;
    let leader = get_u32(buf)?;
    let leader_epoch = get_u32(buf)? as i32;
    let isr = get_u32_list(buf)?;
    if isr.is_empty() || !isr.iter().all(|member| replicas.contains(member)) {
        return Err(DecodeError(
            "an ISR that is not a non-empty subset of the replicas",
        ));
    }
    if (leader != NO_LEADER && !isr.contains(&leader)) || leader_epoch < 0 {
        return Err(DecodeError("a placement whose leader is not in its ISR"));
    }
    Ok(PartitionPlacement {
        replicas,
        leader,
        leader_epoch,
        isr,
    })
}

fn get_placements_with_isr(buf: &mut &[u8]) -> Result<Vec<PartitionPlacement>, DecodeError> {
    let count = get_u32(buf)? as usize;
    // Each placement takes at least 16 bytes: a bound before allocating.
    if buf.remaining() < count.saturating_mul(16) {
        return Err(DecodeError("short list"));
    }
    (0..count).map(|_| get_placement_with_isr(buf)).collect()
}

fn get_placements(buf: &mut &[u8]) -> Result<Vec<PartitionPlacement>, DecodeError> {
    let count = get_u32(buf)? as usize;
    // Each placement takes at least 12 bytes: a bound before allocating.
    if buf.remaining() < count.saturating_mul(12) {
        return Err(DecodeError("short list"));
    }
    (0..count).map(|_| get_placement(buf)).collect()
}

/// The placements of the first format: one shard (the leader) each.
fn get_shard_placements(buf: &mut &[u8]) -> Result<Vec<PartitionPlacement>, DecodeError> {
    Ok(get_u32_list(buf)?
        .into_iter()
        .map(PartitionPlacement::single)
        .collect())
}

fn get_u8(buf: &mut &[u8]) -> Result<u8, DecodeError> {
    if buf.remaining() < 1 {
        return Err(DecodeError("short record"));
    }
    Ok(buf.get_u8())
}

fn get_u32(buf: &mut &[u8]) -> Result<u32, DecodeError> {
    if buf.remaining() < 4 {
        return Err(DecodeError("short record"));
    }
    Ok(buf.get_u32())
}

fn get_u64(buf: &mut &[u8]) -> Result<u64, DecodeError> {
    if buf.remaining() < 8 {
        return Err(DecodeError("short record"));
    }
    Ok(buf.get_u64())
}

fn get_string(buf: &mut &[u8]) -> Result<String, DecodeError> {
    let length = get_u32(buf)? as usize;
    if buf.remaining() < length {
        return Err(DecodeError("short string"));
    }
    let value = String::from_utf8(buf[..length].to_vec())
        .map_err(|_| DecodeError("string is not UTF-8"))?;
    buf.advance(length);
    Ok(value)
}

fn get_u32_list(buf: &mut &[u8]) -> Result<Vec<u32>, DecodeError> {
    let count = get_u32(buf)? as usize;
    if buf.remaining() < count.saturating_mul(4) {
        return Err(DecodeError("short list"));
    }
    (0..count).map(|_| get_u32(buf)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placement(leader: u32, leader_epoch: i32) -> PartitionPlacement {
        PartitionPlacement {
            replicas: vec![leader],
            leader,
            leader_epoch,
            isr: vec![leader],
        }
    }

    #[test]
    fn host_records_round_trip() {
        let records = [
            MetadataRecord::HostRegistered(crate::metadata::HostRegistration {
                node_id: 7,
                incarnation: 1_764_000_000_000,
                host: "10.77.0.8".into(),
                ports: vec![9092, 9093],
                quorum_address: "10.77.0.8:9099".into(),
                fenced: false,
            }),
            MetadataRecord::HostFenced {
                node_id: 7,
                fenced: true,
            },
            MetadataRecord::HostRemoved { node_id: 7 },
            MetadataRecord::ClusterIdSet {
                id: "Np3Tw5bQfNAof8dg6_KO0Q".into(),
            },
        ];
        for record in records {
            let bytes = record.encode();
            assert_eq!(MetadataRecord::decode(&bytes).unwrap(), record);
            assert!(record.concerns_hosts());
            assert!(MetadataRecord::decode(&bytes[..bytes.len() - 1]).is_err());
        }
    }

    #[test]
    fn records_round_trip() {
        let records = [
            MetadataRecord::TopicCreated {
                id: [7; 16],
                name: "orders".into(),
                placement: vec![placement(0, 0), placement(1, 3), placement(0, 0)],
                configs: vec![("retention.ms".into(), "1000".into())],
            },
            MetadataRecord::TopicDeleted {
                name: "orders".into(),
            },
            MetadataRecord::PartitionsAdded {
                name: "t".into(),
                placement: vec![placement(1, 0)],
            },
            MetadataRecord::PartitionsMoved {
                name: "t".into(),
                moves: vec![(2, placement(0, 1))],
            },
            MetadataRecord::TopicConfigsSet {
                name: "t".into(),
                configs: vec![("retention.bytes".into(), "4096".into())],
            },
        ];
        let tags: Vec<u8> = records.iter().map(|record| record.encode()[0]).collect();
        assert_eq!(
            tags,
            vec![
                TOPIC_CREATED_WITH_REPLICAS,
                TOPIC_DELETED,
                PARTITIONS_ADDED,
                PARTITIONS_MOVED_WITH_EPOCHS,
                TOPIC_CONFIGS_SET
            ],
            "the first format where it says everything"
        );
        for record in records {
            let bytes = record.encode();
            assert_eq!(MetadataRecord::decode(&bytes), Ok(record));
            assert!(MetadataRecord::decode(&bytes[..bytes.len() - 1]).is_err());
        }
    }

    /// Records as the version before replicas wrote them (shard ids only)
    /// read as one replica leading at epoch 0.
    #[test]
    fn records_of_the_first_format_read_as_single_replicas_at_epoch_zero() {
        let mut created = vec![TOPIC_CREATED];
        created.extend_from_slice(&[7; 16]);
        put_string(&mut created, "orders");
        put_u32_list(&mut created, &[0, 1]);
        put_configs(&mut created, &[]);
        assert_eq!(
            MetadataRecord::decode(&created),
            Ok(MetadataRecord::TopicCreated {
                id: [7; 16],
                name: "orders".into(),
                placement: vec![placement(0, 0), placement(1, 0)],
                configs: vec![],
            })
        );
        let mut added = vec![PARTITIONS_ADDED];
        put_string(&mut added, "orders");
        put_u32_list(&mut added, &[1]);
        assert_eq!(
            MetadataRecord::decode(&added),
            Ok(MetadataRecord::PartitionsAdded {
                name: "orders".into(),
                placement: vec![placement(1, 0)],
            })
        );
        let mut moved = vec![PARTITIONS_MOVED];
        put_string(&mut moved, "orders");
        // One move: partition 1 to shard 0.
        moved.put_u32(1);
        moved.put_u32(1);
        moved.put_u32(0);
        assert_eq!(
            MetadataRecord::decode(&moved),
            Ok(MetadataRecord::PartitionsMoved {
                name: "orders".into(),
                moves: vec![(1, placement(0, 0))],
            })
        );
    }

    #[test]
    fn placements_with_isr_round_trip() {
        let changed = PartitionPlacement {
            replicas: vec![0, 1024, 2048],
            leader: 1024,
            leader_epoch: 4,
            isr: vec![1024, 2048],
        };
        let leaderless = PartitionPlacement {
            replicas: vec![0, 1024],
            leader: NO_LEADER,
            leader_epoch: 2,
            isr: vec![1024],
        };
        let records = [
            MetadataRecord::PartitionChanged {
                name: "t".into(),
                partition: 3,
                placement: changed.clone(),
            },
            MetadataRecord::PartitionChanged {
                name: "t".into(),
                partition: 0,
                placement: leaderless.clone(),
            },
            MetadataRecord::TopicCreated {
                id: [9; 16],
                name: "t".into(),
                placement: vec![changed, leaderless],
                configs: vec![],
            },
        ];
        let tags: Vec<u8> = records.iter().map(|record| record.encode()[0]).collect();
        assert_eq!(
            tags,
            vec![PARTITION_CHANGED, PARTITION_CHANGED, TOPIC_CREATED_WITH_ISR]
        );
        for record in records {
            let bytes = record.encode();
            assert_eq!(MetadataRecord::decode(&bytes), Ok(record));
            assert!(MetadataRecord::decode(&bytes[..bytes.len() - 1]).is_err());
        }
    }

    #[test]
    fn reassignments_round_trip() {
        let records = [
            MetadataRecord::ReassignmentSet {
                name: "t".into(),
                partition: 2,
                reassignment: Some(crate::metadata::reassignment::Reassignment {
                    target: vec![1024, 2048],
                    adding: vec![2048],
                }),
            },
            MetadataRecord::ReassignmentSet {
                name: "t".into(),
                partition: 0,
                reassignment: None,
            },
        ];
        for record in records {
            let bytes = record.encode();
            assert_eq!(bytes[0], REASSIGNMENT_SET);
            assert_eq!(MetadataRecord::decode(&bytes), Ok(record));
            assert!(MetadataRecord::decode(&bytes[..bytes.len() - 1]).is_err());
        }
    }

    /// A placement of the formats before ISRs decodes with isr = replicas.
    #[test]
    fn placements_without_isr_read_with_every_replica_in_sync() {
        let mut bytes = vec![PARTITIONS_ADDED_WITH_REPLICAS];
        put_string(&mut bytes, "t");
        bytes.put_u32(1);
        put_u32_list(&mut bytes, &[1024, 0]);
        bytes.put_u32(0);
        bytes.put_i32(2);
        let Ok(MetadataRecord::PartitionsAdded { placement, .. }) = MetadataRecord::decode(&bytes)
        else {
            panic!("decodes");
        };
        assert_eq!(placement[0].isr, vec![1024, 0]);
    }

    #[test]
    fn an_isr_outside_the_replicas_or_empty_is_refused() {
        for (isr, leader) in [(vec![], NO_LEADER), (vec![5], 5), (vec![0], 1024)] {
            let mut bytes = vec![PARTITION_CHANGED];
            put_string(&mut bytes, "t");
            bytes.put_u32(0);
            put_u32_list(&mut bytes, &[0, 1024]);
            bytes.put_u32(leader);
            bytes.put_i32(1);
            put_u32_list(&mut bytes, &isr);
            assert!(
                MetadataRecord::decode(&bytes).is_err(),
                "{isr:?} led by {leader}"
            );
        }
    }

    #[test]
    fn a_leader_outside_its_replicas_is_refused() {
        let mut bytes = vec![PARTITIONS_ADDED_WITH_REPLICAS];
        put_string(&mut bytes, "t");
        bytes.put_u32(1);
        put_u32_list(&mut bytes, &[0]);
        bytes.put_u32(1);
        bytes.put_i32(0);
        assert!(MetadataRecord::decode(&bytes).is_err());
    }
}

/// On the quorum's wire a record travels in its own binary encoding.
impl serde::Serialize for MetadataRecord {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.encode())
    }
}

impl<'de> serde::Deserialize<'de> for MetadataRecord {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let bytes = <Vec<u8>>::deserialize(deserializer)?;
        MetadataRecord::decode(&bytes).map_err(|error| serde::de::Error::custom(error.0))
    }
}
