//! The controller's metadata log on disk: `data-dir/__cluster_metadata/metadata.log`,
//! a sequence of frames `[payload length u32][CRC-32C of payload u32][payload]`
//! (see `frame.rs`, shared with the quorum's log and snapshot).
//!
//! Invariants: a record is durable (written and synced) before the change it
//! describes is applied or answered. At start, replay stops at the first
//! frame that is short or fails its CRC, and the file is cut there: such a
//! frame was never synced, so no client was told it happened.
//!
//! Metadata changes are rare (topic admin), so this file uses blocking
//! std::fs calls on the controller's core instead of the direct-IO path.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::frame;
use super::record::MetadataRecord;
use crate::limits::METADATA_RECORD_BYTES_MAX;

pub struct MetadataStore {
    path: PathBuf,
    file: File,
}

impl MetadataStore {
    /// Opens the log and returns every record in it, in order.
    pub fn open(data_dir: &Path) -> io::Result<(MetadataStore, Vec<MetadataRecord>)> {
        let dir = data_dir.join("__cluster_metadata");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("metadata.log");
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)?;
        let mut records = Vec::new();
        frame::replay(&mut file, &path, METADATA_RECORD_BYTES_MAX, |payload| {
            match MetadataRecord::decode(payload) {
                Ok(record) => {
                    records.push(record);
                    true
                }
                Err(error) => {
                    tracing::warn!(
                        "metadata log {}: undecodable record after {} records: {}",
                        path.display(),
                        records.len(),
                        error.0
                    );
                    false
                }
            }
        })?;
        Ok((MetadataStore { path, file }, records))
    }

    /// Appends one record and makes it durable.
    pub fn append(&mut self, record: &MetadataRecord) -> io::Result<()> {
        let mut frames = Vec::new();
        frame::encode(&mut frames, &record.encode());
        frame::append_synced(&mut self.file, &frames)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The cluster id, made once and kept in `data-dir/meta.properties` like Kafka's.
pub fn cluster_id(data_dir: &Path) -> io::Result<String> {
    let path = data_dir.join("meta.properties");
    if let Ok(text) = std::fs::read_to_string(&path) {
        if let Some(id) = text
            .lines()
            .find_map(|line| line.strip_prefix("cluster.id="))
        {
            return Ok(id.trim().to_string());
        }
    }
    let id = base64_url(&random_bytes::<16>()?);
    std::fs::write(&path, format!("version=1\ncluster.id={id}\n"))?;
    File::open(&path)?.sync_all()?;
    Ok(id)
}

/// Random bytes from the kernel, for topic and cluster ids.
pub fn random_bytes<const N: usize>() -> io::Result<[u8; N]> {
    let mut bytes = [0u8; N];
    File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes)
}

/// Kafka prints cluster ids as URL-safe base64 without padding.
fn base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let value = chunk
            .iter()
            .enumerate()
            .fold(0u32, |value, (index, &byte)| {
                value | (u32::from(byte) << (16 - 8 * index))
            });
        for index in 0..=chunk.len() {
            out.push(ALPHABET[((value >> (18 - 6 * index)) & 0x3f) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_and_cuts_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let record = MetadataRecord::TopicDeleted { name: "a".into() };
        {
            let (mut store, records) = MetadataStore::open(dir.path()).unwrap();
            assert!(records.is_empty());
            store.append(&record).unwrap();
            store
                .append(&MetadataRecord::TopicDeleted { name: "b".into() })
                .unwrap();
        }
        let path = dir.path().join("__cluster_metadata/metadata.log");
        let length = std::fs::metadata(&path).unwrap().len();
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(length - 2).unwrap();
        let (_, records) = MetadataStore::open(dir.path()).unwrap();
        assert_eq!(records, vec![record]);
        assert!(std::fs::metadata(&path).unwrap().len() < length - 2);
    }

    #[test]
    fn cluster_id_is_stable() {
        let dir = tempfile::tempdir().unwrap();
        let first = cluster_id(dir.path()).unwrap();
        assert_eq!(first.len(), 22);
        assert_eq!(cluster_id(dir.path()).unwrap(), first);
    }
}
