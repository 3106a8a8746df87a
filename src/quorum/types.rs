//! The quorum's openraft type configuration: what a Raft entry carries
//! (`MetadataChange`, the metadata records of one change), what applying
//! it answers (`Applied`), and the runtime (`GlommioRuntime`).
//!
//! Invariants: a `MetadataChange` is encoded with the records' own binary
//! encoding (record.rs), so the quorum log, the wire and the single-host
//! metadata log agree on what a record is; `decode(encode(change)) ==
//! change`.

use std::fmt;
use std::io::Cursor;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use super::runtime::GlommioRuntime;
use crate::metadata::record::MetadataRecord;

openraft::declare_raft_types!(
    /// The openraft types of the metadata quorum.
    pub TypeConfig:
        D = MetadataChange,
        R = Applied,
        NodeId = u64,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = GlommioRuntime,
);

/// A quorum member's id: the host's `node.id`.
pub type NodeId = u64;
pub type Raft = openraft::Raft<TypeConfig>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type LogId = openraft::LogId<NodeId>;
pub type Vote = openraft::Vote<NodeId>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, openraft::BasicNode>;
pub type StoredMembership = openraft::StoredMembership<NodeId, openraft::BasicNode>;
pub type StorageError = openraft::StorageError<NodeId>;

/// One metadata change: records applied together, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetadataChange(pub Vec<MetadataRecord>);

/// What applying an entry answers: the metadata version after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    pub version: u64,
}

impl fmt::Display for MetadataChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "metadata change of {} records", self.0.len())
    }
}

impl MetadataChange {
    /// `[record length u32][record]...`, each record in record.rs's encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for record in &self.0 {
            let bytes = record.encode();
            out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
            out.extend_from_slice(&bytes);
        }
        out
    }

    pub fn decode(mut bytes: &[u8]) -> Result<MetadataChange, &'static str> {
        let mut records = Vec::new();
        while !bytes.is_empty() {
            if bytes.len() < 4 {
                return Err("a metadata change ends inside a record length");
            }
            let length = u32::from_be_bytes(bytes[..4].try_into().expect("4 bytes")) as usize;
            let rest = &bytes[4..];
            if length > rest.len() {
                return Err("a metadata change ends inside a record");
            }
            let record = MetadataRecord::decode(&rest[..length]).map_err(|error| error.0)?;
            records.push(record);
            bytes = &rest[length..];
        }
        Ok(MetadataChange(records))
    }
}

/// Human-readable formats (JSON) get the encoding as lowercase hex, binary
/// formats get it as bytes.
impl Serialize for MetadataChange {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let bytes = self.encode();
        if serializer.is_human_readable() {
            serializer.serialize_str(&hex(&bytes))
        } else {
            serializer.serialize_bytes(&bytes)
        }
    }
}

impl<'de> Deserialize<'de> for MetadataChange {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            deserializer.deserialize_str(ChangeVisitor)
        } else {
            deserializer.deserialize_bytes(ChangeVisitor)
        }
    }
}

struct ChangeVisitor;

impl<'de> Visitor<'de> for ChangeVisitor {
    type Value = MetadataChange;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("metadata records, as bytes or hex")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<MetadataChange, E> {
        let bytes = unhex(text).ok_or_else(|| E::custom("a metadata change is not hex"))?;
        self.visit_bytes(&bytes)
    }

    fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<MetadataChange, E> {
        MetadataChange::decode(bytes).map_err(E::custom)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<MetadataChange, A::Error> {
        let mut bytes = Vec::new();
        while let Some(byte) = seq.next_element::<u8>()? {
            bytes.push(byte);
        }
        self.visit_bytes(&bytes)
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[(byte >> 4) as usize] as char);
        out.push(DIGITS[(byte & 0xf) as usize] as char);
    }
    out
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let digit = |byte: u8| (byte as char).to_digit(16).map(|value| value as u8);
    text.as_bytes()
        .chunks(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::PartitionPlacement;

    #[test]
    fn a_change_survives_json_and_the_record_encoding() {
        let change = MetadataChange(vec![
            MetadataRecord::TopicCreated {
                id: [7; 16],
                name: "a".into(),
                placement: vec![PartitionPlacement::single(1)],
                configs: vec![("retention.ms".into(), "5".into())],
            },
            MetadataRecord::TopicDeleted { name: "b".into() },
        ]);
        let json = serde_json::to_string(&change).unwrap();
        assert_eq!(
            serde_json::from_str::<MetadataChange>(&json).unwrap(),
            change
        );
        assert_eq!(MetadataChange::decode(&change.encode()).unwrap(), change);
        let encoded = change.encode();
        assert!(MetadataChange::decode(&encoded[..encoded.len() - 1]).is_err());
        assert!(serde_json::from_str::<MetadataChange>("\"0g\"").is_err());
    }
}
