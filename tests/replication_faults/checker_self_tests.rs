//! The checker on hand-made histories: a clean one is valid, and each kind
//! of violation is found alone, counted and shown, so a clean report from
//! the cluster runs means something.

use crate::common::checker::{Recorder, Violation};

/// Three values acknowledged at 0/0, 0/1 and 1/0, read during the run and
/// in the final read exactly there, watermarks and positions only rising.
fn clean() -> Recorder {
    let recorder = Recorder::new();
    for (value, partition, offset) in [("a", 0, 0), ("b", 0, 1), ("c", 1, 0)] {
        recorder.sent(value);
        recorder.acknowledged("producer", value, partition, offset);
        recorder.read("reader", partition, offset, value);
        recorder.position("reader", partition, offset + 1);
        recorder.watermark("reader", partition, offset + 1);
    }
    recorder.sent("unacknowledged");
    for (value, partition, offset) in [("a", 0, 0), ("b", 0, 1), ("c", 1, 0)] {
        recorder.final_read(partition, offset, value);
    }
    recorder
}

/// Asserts `recorder`'s report has exactly `count` violations of `kind`
/// and none of any other kind.
fn assert_only(recorder: &Recorder, kind: Violation, count: usize) {
    let report = recorder.check();
    println!("{report}");
    for other in Violation::ALL {
        let expected = if other == kind { count } else { 0 };
        assert_eq!(report.count(other), expected, "{other:?} in\n{report}");
    }
    assert_eq!(report.examples(kind).len(), count.min(8));
    assert!(!report.is_valid());
    assert!(report.to_string().contains(&format!("{kind:?}: {count}")));
}

#[test]
fn a_clean_history_is_valid() {
    let report = clean().check();
    assert!(report.is_valid(), "{report}");
    assert_eq!(
        (report.sent, report.acknowledged, report.final_records),
        (4, 3, 3)
    );
}

#[test]
fn an_acknowledged_value_missing_at_the_end_is_lost() {
    let recorder = clean();
    recorder.sent("d");
    recorder.acknowledged("producer", "d", 1, 1);
    assert_only(&recorder, Violation::Lost, 1);
    // A partition the final read never covered loses all its values.
    recorder.sent("e");
    recorder.acknowledged("producer", "e", 2, 0);
    assert_eq!(recorder.check().count(Violation::Lost), 2);
}

#[test]
fn a_value_read_elsewhere_than_acknowledged_moved() {
    let recorder = clean();
    recorder.sent("d");
    recorder.acknowledged("producer", "d", 1, 1);
    recorder.final_read(1, 2, "d");
    assert_only(&recorder, Violation::Moved, 1);
}

#[test]
fn a_value_acknowledged_at_two_places_is_reported() {
    let recorder = clean();
    recorder.acknowledged("retrying producer", "a", 0, 5);
    let report = recorder.check();
    assert_eq!(report.count(Violation::AcknowledgedTwice), 1, "{report}");
}

#[test]
fn a_value_at_two_offsets_is_duplicated() {
    let recorder = clean();
    recorder.final_read(0, 2, "a");
    assert_only(&recorder, Violation::Duplicated, 1);
}

#[test]
fn an_offset_read_with_two_values_conflicts() {
    let recorder = clean();
    // A reader saw "x" at 0/1 before a failover; the final read has "b".
    recorder.sent("x");
    recorder.read("reader", 0, 5, "x");
    recorder.read("other reader", 0, 1, "x");
    let report = recorder.check();
    assert_eq!(report.count(Violation::OffsetConflict), 1, "{report}");
    assert_eq!(report.count(Violation::Duplicated), 1, "{report}");
    assert!(report.examples(Violation::OffsetConflict)[0].contains("0/1"));
}

#[test]
fn a_value_nobody_sent_is_unknown() {
    let recorder = clean();
    recorder.read("reader", 1, 1, "garbage");
    assert_only(&recorder, Violation::Unknown, 1);
}

#[test]
fn a_high_watermark_going_down_is_reported_per_reader() {
    let recorder = clean();
    recorder.watermark("reader", 0, 1);
    // Another reader's lower watermark is not a drop.
    recorder.watermark("late reader", 0, 0);
    assert_only(&recorder, Violation::WatermarkBackwards, 1);
}

#[test]
fn a_position_going_down_is_reported() {
    let recorder = clean();
    recorder.position("reader", 1, 0);
    recorder.position("reader", 1, 0);
    // Counted once per drop below the highest seen.
    assert_only(&recorder, Violation::PositionBackwards, 2);
}

#[test]
fn examples_are_bounded_but_counts_are_not() {
    let recorder = clean();
    for index in 0..20 {
        let value = format!("lost-{index}");
        recorder.sent(&value);
        recorder.acknowledged("producer", &value, 0, 10 + index);
    }
    assert_only(&recorder, Violation::Lost, 20);
}
