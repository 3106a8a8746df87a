//! Metadata records: the entries of the controller's append-only log, and
//! their binary encoding (big-endian, length-prefixed strings and lists).

use bytes::{Buf, BufMut};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataRecord {
    /// A topic with one shard (its leader) per partition, in partition order.
    TopicCreated {
        id: [u8; 16],
        name: String,
        placement: Vec<u32>,
        configs: Vec<(String, String)>,
    },
    TopicDeleted {
        name: String,
    },
    /// New partitions appended after the existing ones.
    PartitionsAdded {
        name: String,
        placement: Vec<u32>,
    },
    /// Partitions moved to another shard (when `--cores` shrank).
    PartitionsMoved {
        name: String,
        moves: Vec<(u32, u32)>,
    },
    /// The topic's configs, replaced whole (AlterConfigs and
    /// IncrementalAlterConfigs).
    TopicConfigsSet {
        name: String,
        configs: Vec<(String, String)>,
    },
}

const TOPIC_CREATED: u8 = 1;
const TOPIC_DELETED: u8 = 2;
const PARTITIONS_ADDED: u8 = 3;
const PARTITIONS_MOVED: u8 = 4;
const TOPIC_CONFIGS_SET: u8 = 5;

#[derive(Debug, PartialEq, Eq)]
pub struct DecodeError(pub &'static str);

impl MetadataRecord {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            MetadataRecord::TopicCreated {
                id,
                name,
                placement,
                configs,
            } => {
                out.put_u8(TOPIC_CREATED);
                out.put_slice(id);
                put_string(&mut out, name);
                put_u32_list(&mut out, placement);
                put_configs(&mut out, configs);
            }
            MetadataRecord::TopicDeleted { name } => {
                out.put_u8(TOPIC_DELETED);
                put_string(&mut out, name);
            }
            MetadataRecord::PartitionsAdded { name, placement } => {
                out.put_u8(PARTITIONS_ADDED);
                put_string(&mut out, name);
                put_u32_list(&mut out, placement);
            }
            MetadataRecord::PartitionsMoved { name, moves } => {
                out.put_u8(PARTITIONS_MOVED);
                put_string(&mut out, name);
                out.put_u32(moves.len() as u32);
                for &(partition, shard) in moves {
                    out.put_u32(partition);
                    out.put_u32(shard);
                }
            }
            MetadataRecord::TopicConfigsSet { name, configs } => {
                out.put_u8(TOPIC_CONFIGS_SET);
                put_string(&mut out, name);
                put_configs(&mut out, configs);
            }
        }
        out
    }

    pub fn decode(mut bytes: &[u8]) -> Result<MetadataRecord, DecodeError> {
        let buf = &mut bytes;
        let record = match get_u8(buf)? {
            TOPIC_CREATED => {
                if buf.remaining() < 16 {
                    return Err(DecodeError("short topic id"));
                }
                let mut id = [0u8; 16];
                buf.copy_to_slice(&mut id);
                let name = get_string(buf)?;
                let placement = get_u32_list(buf)?;
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
                placement: get_u32_list(buf)?,
            },
            PARTITIONS_MOVED => {
                let name = get_string(buf)?;
                let count = get_u32(buf)?;
                let mut moves = Vec::new();
                for _ in 0..count {
                    moves.push((get_u32(buf)?, get_u32(buf)?));
                }
                MetadataRecord::PartitionsMoved { name, moves }
            }
            TOPIC_CONFIGS_SET => MetadataRecord::TopicConfigsSet {
                name: get_string(buf)?,
                configs: get_configs(buf)?,
            },
            _ => return Err(DecodeError("unknown record type")),
        };
        if buf.has_remaining() {
            return Err(DecodeError("bytes after the record"));
        }
        Ok(record)
    }
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

    #[test]
    fn records_round_trip() {
        let records = [
            MetadataRecord::TopicCreated {
                id: [7; 16],
                name: "orders".into(),
                placement: vec![0, 1, 0],
                configs: vec![("retention.ms".into(), "1000".into())],
            },
            MetadataRecord::TopicDeleted {
                name: "orders".into(),
            },
            MetadataRecord::PartitionsAdded {
                name: "t".into(),
                placement: vec![1],
            },
            MetadataRecord::PartitionsMoved {
                name: "t".into(),
                moves: vec![(2, 0)],
            },
            MetadataRecord::TopicConfigsSet {
                name: "t".into(),
                configs: vec![("retention.bytes".into(), "4096".into())],
            },
        ];
        for record in records {
            let bytes = record.encode();
            assert_eq!(MetadataRecord::decode(&bytes), Ok(record));
            assert!(MetadataRecord::decode(&bytes[..bytes.len() - 1]).is_err());
        }
    }
}
