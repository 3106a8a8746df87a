//! The quorum log on disk: ranges, truncation, purge and compaction,
//! the vote and committed id across a reopen, and a torn tail.

use std::fs::OpenOptions;
use std::path::Path;

use futures_lite::future::block_on;
use openraft::storage::{RaftLogStorage, RaftLogStorageExt};
use openraft::{EntryPayload, RaftLogReader};

use super::*;
use crate::metadata::record::MetadataRecord;
use crate::quorum::types::MetadataChange;

fn entry(term: u64, index: u64) -> Entry {
    Entry {
        log_id: openraft::testing::log_id(term, 0, index),
        payload: EntryPayload::Normal(MetadataChange(vec![MetadataRecord::TopicDeleted {
            name: format!("t{index}"),
        }])),
    }
}

fn indexes(store: &mut LogStore, range: impl RangeBounds<u64> + Clone + Debug) -> Vec<u64> {
    block_on(store.try_get_log_entries(range))
        .unwrap()
        .iter()
        .map(|entry| entry.log_id.index)
        .collect()
}

fn append(store: &mut LogStore, entries: impl IntoIterator<Item = Entry>) {
    block_on(store.blocking_append(entries)).unwrap();
}

fn log_path(dir: &Path) -> std::path::PathBuf {
    dir.join("__cluster_metadata/quorum.log")
}

#[test]
fn appends_read_back_by_range_and_truncate_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = LogStore::open(dir.path()).unwrap();
    append(&mut store, (1..=5).map(|index| entry(1, index)));
    assert_eq!(indexes(&mut store, 2..4), vec![2, 3]);
    assert_eq!(indexes(&mut store, ..=2), vec![1, 2]);
    assert_eq!(indexes(&mut store, 4..), vec![4, 5]);
    assert_eq!(indexes(&mut store, 4..4), Vec::<u64>::new());
    block_on(store.truncate(openraft::testing::log_id(1, 0, 4))).unwrap();
    append(&mut store, [entry(2, 4)]);
    let mut reopened = LogStore::open(dir.path()).unwrap();
    assert_eq!(indexes(&mut reopened, ..), vec![1, 2, 3, 4]);
    let entries = block_on(reopened.try_get_log_entries(4..5)).unwrap();
    assert_eq!(entries[0].log_id.leader_id.term, 2);
    match (&entries[0].payload, entry(2, 4).payload) {
        (EntryPayload::Normal(read), EntryPayload::Normal(written)) => assert_eq!(read, &written),
        _ => panic!("a normal entry reads back as one"),
    }
    let state = block_on(reopened.get_log_state()).unwrap();
    assert_eq!(state.last_log_id, Some(openraft::testing::log_id(2, 0, 4)));
    assert_eq!(state.last_purged_log_id, None);
}

#[test]
fn purge_compacts_the_file_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = LogStore::open(dir.path()).unwrap();
    append(&mut store, (1..=10).map(|index| entry(1, index)));
    let before = std::fs::metadata(log_path(dir.path())).unwrap().len();
    let purged = openraft::testing::log_id(1, 0, 6);
    block_on(store.purge(purged)).unwrap();
    let after = std::fs::metadata(log_path(dir.path())).unwrap().len();
    assert!(
        after < before,
        "the file was rewritten without the purged entries"
    );
    assert_eq!(indexes(&mut store, ..), vec![7, 8, 9, 10]);
    append(&mut store, [entry(1, 11)]);

    let mut reopened = LogStore::open(dir.path()).unwrap();
    assert_eq!(indexes(&mut reopened, ..), vec![7, 8, 9, 10, 11]);
    let state = block_on(reopened.get_log_state()).unwrap();
    assert_eq!(state.last_purged_log_id, Some(purged));
    block_on(reopened.purge(openraft::testing::log_id(1, 0, 11))).unwrap();
    let state = block_on(reopened.get_log_state()).unwrap();
    assert_eq!(state.last_log_id, Some(openraft::testing::log_id(1, 0, 11)));
    assert_eq!(reopened.entry_count(), 0);
    assert!(!dir
        .path()
        .join("__cluster_metadata/quorum.log.tmp")
        .exists());
}

#[test]
fn vote_and_committed_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = LogStore::open(dir.path()).unwrap();
    assert_eq!(block_on(store.read_vote()).unwrap(), None);
    let vote = Vote::new(3, 2);
    block_on(store.save_vote(&vote)).unwrap();
    append(&mut store, [entry(3, 1)]);
    let committed = Some(openraft::testing::log_id(3, 0, 1));
    block_on(store.save_committed(committed)).unwrap();
    let later = Vote::new_committed(4, 1);
    block_on(store.save_vote(&later)).unwrap();
    let mut reopened = LogStore::open(dir.path()).unwrap();
    assert_eq!(block_on(reopened.read_vote()).unwrap(), Some(later));
    assert_eq!(block_on(reopened.read_committed()).unwrap(), committed);
}

#[test]
fn a_torn_tail_is_cut_and_appends_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = LogStore::open(dir.path()).unwrap();
    append(&mut store, (1..=3).map(|index| entry(1, index)));
    drop(store);
    let path = log_path(dir.path());
    let length = std::fs::metadata(&path).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(length - 2)
        .unwrap();
    let mut reopened = LogStore::open(dir.path()).unwrap();
    assert_eq!(indexes(&mut reopened, ..), vec![1, 2]);
    assert!(std::fs::metadata(&path).unwrap().len() < length - 2);
    append(&mut reopened, [entry(1, 3)]);
    let mut again = LogStore::open(dir.path()).unwrap();
    assert_eq!(indexes(&mut again, ..), vec![1, 2, 3]);
}
