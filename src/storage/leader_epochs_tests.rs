//! The leader-epoch cache alone: Kafka's end-offset rule, the order it
//! keeps, truncation from both ends, and its checkpoint file.

use super::*;

fn entry(epoch: i32, start_offset: i64) -> EpochEntry {
    EpochEntry {
        epoch,
        start_offset,
    }
}

fn cache(dir: &Path, entries: &[(i32, i64)]) -> LeaderEpochs {
    let entries = entries.iter().map(|&(epoch, start)| entry(epoch, start));
    LeaderEpochs::rebuilt(dir, entries.collect()).unwrap()
}

fn pairs(epochs: &LeaderEpochs) -> Vec<(i32, i64)> {
    epochs
        .entries()
        .iter()
        .map(|entry| (entry.epoch, entry.start_offset))
        .collect()
}

#[test]
fn end_offset_follows_kafkas_rule() {
    let dir = tempfile::tempdir().unwrap();
    let epochs = cache(dir.path(), &[(2, 10), (4, 25), (5, 40)]);
    let log_end = 55;
    // The latest epoch ends at the log end.
    assert_eq!(epochs.end_offset_for(5, log_end), Some((5, 55)));
    // A known epoch ends where the next one starts.
    assert_eq!(epochs.end_offset_for(2, log_end), Some((2, 25)));
    assert_eq!(epochs.end_offset_for(4, log_end), Some((4, 40)));
    // An unknown epoch between two: the largest one below it, and its end.
    assert_eq!(epochs.end_offset_for(3, log_end), Some((2, 25)));
    // Older than every entry: itself, ending where the log's first begins.
    assert_eq!(epochs.end_offset_for(1, log_end), Some((1, 10)));
    assert_eq!(epochs.end_offset_for(0, log_end), Some((0, 10)));
    // Newer than every entry, -1, or an empty cache: UNDEFINED.
    assert_eq!(epochs.end_offset_for(6, log_end), None);
    assert_eq!(epochs.end_offset_for(-1, log_end), None);
    let empty = cache(&dir.path().join("none"), &[]);
    assert_eq!(empty.end_offset_for(0, 0), None);
}

#[test]
fn only_a_newer_epoch_starts_an_entry() {
    let dir = tempfile::tempdir().unwrap();
    let epochs = cache(dir.path(), &[]);
    assert!(epochs.assign(1, 0).unwrap());
    assert!(!epochs.assign(1, 7).unwrap(), "same epoch, later batch");
    assert!(!epochs.assign(0, 9).unwrap(), "an older epoch");
    assert!(!epochs.assign(-1, 9).unwrap(), "no epoch at all");
    assert!(epochs.assign(3, 20).unwrap());
    assert_eq!(pairs(&epochs), vec![(1, 0), (3, 20)]);
    // A leader that took epoch 4 at offset 30 and never appended, then
    // epoch 5 at the same offset: 4 had no records and goes.
    assert!(epochs.assign(4, 30).unwrap());
    assert!(epochs.assign(5, 30).unwrap());
    assert_eq!(pairs(&epochs), vec![(1, 0), (3, 20), (5, 30)]);
}

#[test]
fn truncation_from_the_end_drops_entries_at_or_past_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let epochs = cache(dir.path(), &[(1, 0), (2, 10), (3, 20)]);
    epochs.truncate_from_end(21).unwrap();
    assert_eq!(pairs(&epochs), vec![(1, 0), (2, 10), (3, 20)]);
    epochs.truncate_from_end(20).unwrap();
    assert_eq!(pairs(&epochs), vec![(1, 0), (2, 10)]);
    epochs.truncate_from_end(3).unwrap();
    assert_eq!(pairs(&epochs), vec![(1, 0)]);
    epochs.truncate_from_end(0).unwrap();
    assert_eq!(pairs(&epochs), vec![]);
    assert_eq!(pairs(&LeaderEpochs::load(dir.path()).unwrap()), vec![]);
}

#[test]
fn truncation_from_the_start_clamps_the_entry_holding_it() {
    let dir = tempfile::tempdir().unwrap();
    let epochs = cache(dir.path(), &[(1, 0), (2, 10), (3, 20)]);
    epochs.truncate_from_start(0).unwrap();
    assert_eq!(pairs(&epochs), vec![(1, 0), (2, 10), (3, 20)]);
    epochs.truncate_from_start(15).unwrap();
    assert_eq!(pairs(&epochs), vec![(2, 15), (3, 20)]);
    epochs.truncate_from_start(20).unwrap();
    assert_eq!(pairs(&epochs), vec![(3, 20)]);
    epochs.truncate_from_start(30).unwrap();
    assert_eq!(pairs(&epochs), vec![(3, 30)]);
    assert_eq!(
        pairs(&LeaderEpochs::load(dir.path()).unwrap()),
        vec![(3, 30)]
    );
}

#[test]
fn the_checkpoint_is_kafkas_text_format_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let epochs = cache(dir.path(), &[(0, 0)]);
    epochs.assign(2, 150).unwrap();
    let text = std::fs::read_to_string(dir.path().join(CHECKPOINT_FILE)).unwrap();
    assert_eq!(text, "0\n2\n0 0\n2 150\n");
    assert!(!dir.path().join("leader-epoch-checkpoint.tmp").exists());
    let reopened = LeaderEpochs::load(dir.path()).unwrap();
    assert_eq!(pairs(&reopened), vec![(0, 0), (2, 150)]);
}

#[test]
fn a_damaged_or_missing_checkpoint_does_not_load() {
    let dir = tempfile::tempdir().unwrap();
    assert!(LeaderEpochs::load(dir.path()).is_none(), "missing");
    let path = dir.path().join(CHECKPOINT_FILE);
    for damaged in [
        "",
        "1\n1\n0 0\n",        // unknown version
        "0\n2\n0 0\n",        // fewer entries than counted
        "0\n1\n0 0\n1 5\n",   // more entries than counted
        "0\n1\n0 zero\n",     // not a number
        "0\n2\n3 10\n2 20\n", // epochs out of order
        "0\n2\n1 10\n2 5\n",  // offsets out of order
        "0\n1\n-1 0\n",       // a negative epoch
        "0\n1\n0 0 0\n",      // a field too many
        "0\n9999999999999\n", // an absurd count
    ] {
        std::fs::write(&path, damaged).unwrap();
        assert!(LeaderEpochs::load(dir.path()).is_none(), "{damaged:?}");
    }
    std::fs::write(&path, "0\n0\n").unwrap();
    assert_eq!(pairs(&LeaderEpochs::load(dir.path()).unwrap()), vec![]);
}

#[test]
fn a_new_empty_cache_writes_no_file() {
    let dir = tempfile::tempdir().unwrap();
    cache(dir.path(), &[]);
    assert!(!dir.path().join(CHECKPOINT_FILE).exists());
}
