//! The metadata-log reader at start: `MetadataStore::open` replaying
//! `__cluster_metadata/metadata.log`, then what `serve` does with the
//! records (apply each to `MetadataState`, plan reassignment to the shards
//! that exist, plan the offsets topic), and each topic's stored configs
//! turned into its log config, as a partition does when it opens.
//!
//! Input: a shard count byte, then chunks `[length u16][payload]`, each
//! written as a frame with a correct CRC so the payload reaches the record
//! decoder; a chunk whose length runs past the input is written as it is (a
//! torn tail the reader must cut). The file lives on tmpfs when there is one.
//!
//! Must hold: nothing panics; replay keeps whole frames only and cuts the
//! rest.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use corelog::limits::{MESSAGE_BYTES_MAX_DEFAULT, SEGMENT_BYTES_DEFAULT};
use corelog::metadata::state::{Defaults, MetadataState};
use corelog::metadata::store::MetadataStore;
use corelog::metadata::topic_config::{self, BrokerDefaults};
use corelog::metadata::{offsets_topic_command, OFFSETS_TOPIC};
use libfuzzer_sys::fuzz_target;

fn data_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let shm = PathBuf::from("/dev/shm");
        let base = if shm.is_dir() { shm } else { std::env::temp_dir() };
        // Directories of earlier fuzzing processes that are gone (libFuzzer's
        // -fork starts one process per job, and none removes its own).
        for entry in std::fs::read_dir(&base).into_iter().flatten().flatten() {
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(|name| name.strip_prefix("corelog-fuzz-metadata-")) else {
                continue;
            };
            if !PathBuf::from("/proc").join(pid).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let dir = base.join(format!("corelog-fuzz-metadata-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("__cluster_metadata")).expect("a scratch directory");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&shards, mut rest)) = data.split_first() else {
        return;
    };
    let shard_count = u32::from(shards % 8) + 1;
    let mut file = Vec::with_capacity(rest.len() * 2);
    let mut whole_frames_bytes = 0;
    while let Some((length, after)) = rest.split_first_chunk::<2>() {
        let length = u16::from_be_bytes(*length) as usize;
        if length > after.len() {
            break;
        }
        let payload = &after[..length];
        file.extend_from_slice(&(length as u32).to_be_bytes());
        file.extend_from_slice(&crc32c::crc32c(payload).to_be_bytes());
        file.extend_from_slice(payload);
        whole_frames_bytes = file.len();
        rest = &after[length..];
    }
    file.extend_from_slice(rest);
    let path = data_dir().join("__cluster_metadata/metadata.log");
    std::fs::write(&path, &file).expect("the scratch file is writable");

    let (_store, records) = MetadataStore::open(data_dir()).expect("the log opens");
    let kept = std::fs::metadata(&path).expect("the log is there").len() as usize;
    assert!(kept <= whole_frames_bytes, "replay kept a partial frame");

    let mut state = MetadataState::default();
    // As a single host's start does: host records are a quorum's only.
    records
        .iter()
        .filter(|record| !record.concerns_hosts())
        .for_each(|record| state.apply(record));
    let here: Vec<u32> = (0..shard_count).collect();
    let mut changes = state.plan_reassignment(&here);
    if state.topics().get(OFFSETS_TOPIC).is_none() {
        let defaults = Defaults {
            num_partitions: 1,
            shard_count,
            node_id: 0,
            replication_factor: 1,
            unclean_leader_election: false,
            quorum_voters: 0,
        };
        if let Ok(created) = state.plan(&offsets_topic_command(50), defaults) {
            changes.extend(created);
        }
    }
    changes.iter().for_each(|record| state.apply(record));
    let snapshot = state.snapshot();
    let defaults = BrokerDefaults {
        segment_bytes: SEGMENT_BYTES_DEFAULT,
        max_message_bytes: MESSAGE_BYTES_MAX_DEFAULT,
        retention_ms: 604_800_000,
        retention_bytes: -1,
        segment_ms: 604_800_000,
        flush_messages: None,
        flush_ms: None,
        min_insync_replicas: 1,
        unclean_leader_election: false,
    };
    for topic in snapshot.topics.values() {
        for placement in &topic.placement {
            assert!(
                placement.replicas.iter().all(|&shard| shard < shard_count),
                "a replica left on a shard that does not exist"
            );
            assert!(
                placement.replicas.contains(&placement.leader),
                "a leader that is not one of its replicas"
            );
            assert!(placement.leader_epoch >= 0, "a negative leader epoch");
        }
        let _ = topic_config::log_config(&topic.configs, &defaults);
    }
});
