//! A checker for replicated logs in the spirit of Jepsen's Kafka workload
//! (issue 14): producers write unique values; the history records every
//! value sent, every acknowledgement (value, partition, offset), what
//! consumers read during the run (with the high watermarks they saw and
//! their positions) and a final full read of every partition from offset 0.
//! `History::check` then reports each kind of violation with a count and
//! examples.
//!
//! Invariants: a `History` only grows; `check` does not change it and
//! looks at nothing else (no clock, no broker), so the same history always
//! gives the same report. Values must be unique across every producer of
//! a run (each producer prefixes its own), else `Duplicated` is
//! meaningless.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex};

/// Examples kept per violation kind in a report.
pub const EXAMPLES_MAX: usize = 8;

/// The kinds of violation, in the order a report lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Violation {
    /// An acknowledged value missing from the final read.
    Lost,
    /// An acknowledged value read (in the final read) at another offset
    /// than the one its acknowledgement gave.
    Moved,
    /// One value acknowledged at two different (partition, offset)s.
    AcknowledgedTwice,
    /// One value read at two or more different (partition, offset)s.
    Duplicated,
    /// One (partition, offset) read holding two different values.
    OffsetConflict,
    /// A value read that no producer sent.
    Unknown,
    /// A reader saw a partition's high watermark go down.
    WatermarkBackwards,
    /// A reader's own position in a partition went down (it was sent back
    /// to an earlier offset: the log it read from lost its tail).
    PositionBackwards,
}

impl Violation {
    pub const ALL: [Violation; 8] = [
        Violation::Lost,
        Violation::Moved,
        Violation::AcknowledgedTwice,
        Violation::Duplicated,
        Violation::OffsetConflict,
        Violation::Unknown,
        Violation::WatermarkBackwards,
        Violation::PositionBackwards,
    ];
}

/// Where a value was placed: (partition, offset).
pub type Place = (i32, i64);

/// Everything observed in one run. Shared between the threads of a test
/// through `Recorder`.
#[derive(Default, Debug)]
pub struct History {
    /// Every value any producer sent, acknowledged or not.
    sent: HashSet<String>,
    /// Acknowledgements in the order they came: (value, place, producer).
    acknowledged: Vec<(String, Place, String)>,
    /// Reads during the run: (reader, place, value).
    reads: Vec<(String, Place, String)>,
    /// The final full read: place -> value.
    final_read: BTreeMap<Place, String>,
    /// Partitions the final read covered.
    final_partitions: HashSet<i32>,
    /// High watermarks in the order each reader saw them:
    /// (reader, partition, high watermark).
    watermarks: Vec<(String, i32, i64)>,
    /// Positions (next offset to read) in the order each reader had them.
    positions: Vec<(String, i32, i64)>,
}

/// A `History` behind a lock, cheap to clone into threads.
#[derive(Clone, Default)]
pub struct Recorder(pub Arc<Mutex<History>>);

impl Recorder {
    pub fn new() -> Recorder {
        Recorder::default()
    }

    fn with<T>(&self, action: impl FnOnce(&mut History) -> T) -> T {
        let mut history = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        action(&mut history)
    }

    /// Call before the value goes out: a value read later but never
    /// recorded as sent is `Unknown`.
    pub fn sent(&self, value: &str) {
        self.with(|history| history.sent.insert(value.to_string()));
    }

    pub fn acknowledged(&self, producer: &str, value: &str, partition: i32, offset: i64) {
        self.with(|history| {
            history.acknowledged.push((
                value.to_string(),
                (partition, offset),
                producer.to_string(),
            ))
        });
    }

    pub fn read(&self, reader: &str, partition: i32, offset: i64, value: &str) {
        self.with(|history| {
            history
                .reads
                .push((reader.to_string(), (partition, offset), value.to_string()))
        });
    }

    pub fn watermark(&self, reader: &str, partition: i32, high_watermark: i64) {
        self.with(|history| {
            history
                .watermarks
                .push((reader.to_string(), partition, high_watermark))
        });
    }

    pub fn position(&self, reader: &str, partition: i32, offset: i64) {
        self.with(|history| {
            history
                .positions
                .push((reader.to_string(), partition, offset))
        });
    }

    /// One record of the final read of `partition` (which must start at
    /// offset 0 and end at the high watermark).
    pub fn final_read(&self, partition: i32, offset: i64, value: &str) {
        self.with(|history| {
            history.final_partitions.insert(partition);
            // Two values at one offset in the final read is a conflict;
            // keep the first here, the read list keeps both.
            history
                .final_read
                .entry((partition, offset))
                .or_insert_with(|| value.to_string());
            history
                .reads
                .push(("final".to_string(), (partition, offset), value.to_string()));
        });
    }

    /// Marks `partition` as covered by the final read even when it held
    /// nothing.
    pub fn final_partition(&self, partition: i32) {
        self.with(|history| history.final_partitions.insert(partition));
    }

    /// Acknowledged values so far, for liveness checks during the run.
    pub fn acknowledged_count(&self) -> usize {
        self.with(|history| history.acknowledged.len())
    }

    /// Values `producer` got acknowledged so far.
    pub fn acknowledged_by(&self, producer: &str) -> usize {
        self.with(|history| {
            history
                .acknowledged
                .iter()
                .filter(|(_, _, who)| who == producer)
                .count()
        })
    }

    /// Acknowledged values so far (value -> place).
    pub fn acknowledged_values(&self) -> HashMap<String, Place> {
        self.with(|history| {
            history
                .acknowledged
                .iter()
                .map(|(value, place, _)| (value.clone(), *place))
                .collect()
        })
    }

    /// The distinct values `reader` has read so far.
    pub fn values_read_by(&self, reader: &str) -> HashSet<String> {
        self.with(|history| {
            history
                .reads
                .iter()
                .filter(|(who, _, _)| who == reader)
                .map(|(_, _, value)| value.clone())
                .collect()
        })
    }

    pub fn check(&self) -> Report {
        self.with(|history| history.check())
    }
}

/// What `check` found: per kind, a count and a few examples.
#[derive(Debug, Default)]
pub struct Report {
    pub sent: usize,
    pub acknowledged: usize,
    pub final_records: usize,
    pub reads: usize,
    found: BTreeMap<Violation, (usize, Vec<String>)>,
}

impl Report {
    fn add(&mut self, kind: Violation, example: String) {
        let (count, examples) = self.found.entry(kind).or_default();
        *count += 1;
        if examples.len() < EXAMPLES_MAX {
            examples.push(example);
        }
    }

    pub fn count(&self, kind: Violation) -> usize {
        self.found.get(&kind).map_or(0, |(count, _)| *count)
    }

    pub fn examples(&self, kind: Violation) -> &[String] {
        self.found
            .get(&kind)
            .map_or(&[][..], |(_, examples)| examples)
    }

    /// True when no violation of any kind was found.
    pub fn is_valid(&self) -> bool {
        self.found.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            formatter,
            "checker: {} values sent, {} acknowledged, {} records in the final read, {} reads",
            self.sent, self.acknowledged, self.final_records, self.reads
        )?;
        if self.is_valid() {
            return writeln!(formatter, "checker: valid (no violation of any kind)");
        }
        for (kind, (count, examples)) in &self.found {
            writeln!(formatter, "checker: {kind:?}: {count}")?;
            for example in examples {
                writeln!(formatter, "    {example}")?;
            }
        }
        Ok(())
    }
}

impl History {
    pub fn check(&self) -> Report {
        let mut report = Report {
            sent: self.sent.len(),
            acknowledged: self.acknowledged.len(),
            final_records: self.final_read.len(),
            reads: self.reads.len(),
            ..Report::default()
        };
        self.check_acknowledged(&mut report);
        self.check_reads(&mut report);
        check_monotonic(
            &self.watermarks,
            Violation::WatermarkBackwards,
            "high watermark",
            &mut report,
        );
        check_monotonic(
            &self.positions,
            Violation::PositionBackwards,
            "position",
            &mut report,
        );
        report
    }

    /// Lost, Moved and AcknowledgedTwice: every acknowledgement against
    /// the final read.
    fn check_acknowledged(&self, report: &mut Report) {
        let final_places = self.final_places();
        let mut first_place: HashMap<&str, (Place, &str)> = HashMap::new();
        for (value, place, producer) in &self.acknowledged {
            match first_place.get(value.as_str()) {
                Some((earlier, earlier_producer)) if earlier != place => report.add(
                    Violation::AcknowledgedTwice,
                    format!(
                        "{value}: acknowledged at {} ({earlier_producer}) and at {} ({producer})",
                        show(*earlier),
                        show(*place)
                    ),
                ),
                Some(_) => continue,
                None => {
                    first_place.insert(value, (*place, producer));
                }
            }
            let found = final_places.get(value.as_str());
            match found {
                None if !self.final_partitions.contains(&place.0) => report.add(
                    Violation::Lost,
                    format!("{value}: partition {} was not read at the end", place.0),
                ),
                None => report.add(
                    Violation::Lost,
                    format!(
                        "{value}: acknowledged at {} by {producer}, not in the final read (which holds {:?} there)",
                        show(*place),
                        self.final_read.get(place)
                    ),
                ),
                Some(places) if !places.contains(place) => report.add(
                    Violation::Moved,
                    format!(
                        "{value}: acknowledged at {}, read at {}",
                        show(*place),
                        places.iter().map(|&at| show(at)).collect::<Vec<_>>().join(", ")
                    ),
                ),
                Some(_) => {}
            }
        }
    }

    /// value -> every place the final read holds it.
    fn final_places(&self) -> HashMap<&str, Vec<Place>> {
        let mut places: HashMap<&str, Vec<Place>> = HashMap::new();
        for (place, value) in &self.final_read {
            places.entry(value).or_default().push(*place);
        }
        places
    }

    /// Duplicated, OffsetConflict and Unknown, over every read (during the
    /// run and the final one).
    fn check_reads(&self, report: &mut Report) {
        let mut places_of: BTreeMap<&str, BTreeMap<Place, &str>> = BTreeMap::new();
        let mut values_at: BTreeMap<Place, BTreeMap<&str, &str>> = BTreeMap::new();
        for (reader, place, value) in &self.reads {
            places_of
                .entry(value)
                .or_default()
                .entry(*place)
                .or_insert(reader);
            values_at
                .entry(*place)
                .or_default()
                .entry(value)
                .or_insert(reader);
            if !self.sent.contains(value) {
                report.add(
                    Violation::Unknown,
                    format!("{value:?} read by {reader} at {}", show(*place)),
                );
            }
        }
        for (value, places) in places_of.iter().filter(|(_, places)| places.len() > 1) {
            let listed: Vec<String> = places
                .iter()
                .map(|(place, reader)| format!("{} ({reader})", show(*place)))
                .collect();
            report.add(
                Violation::Duplicated,
                format!("{value} read at {}", listed.join(", ")),
            );
        }
        for (place, values) in values_at.iter().filter(|(_, values)| values.len() > 1) {
            let listed: Vec<String> = values
                .iter()
                .map(|(value, reader)| format!("{value} ({reader})"))
                .collect();
            report.add(
                Violation::OffsetConflict,
                format!("{} held {}", show(*place), listed.join(" and ")),
            );
        }
    }
}

/// Each (reader, partition)'s sequence of `observations` must never go
/// down; each drop is one violation of `kind`.
fn check_monotonic(
    observations: &[(String, i32, i64)],
    kind: Violation,
    what: &str,
    report: &mut Report,
) {
    let mut last: HashMap<(&str, i32), i64> = HashMap::new();
    for (reader, partition, value) in observations {
        let key = (reader.as_str(), *partition);
        if let Some(&previous) = last.get(&key) {
            if *value < previous {
                report.add(
                    kind,
                    format!(
                        "{reader} saw partition {partition}'s {what} go from {previous} to {value}"
                    ),
                );
            }
        }
        let highest = last.entry(key).or_insert(*value);
        *highest = (*highest).max(*value);
    }
}

fn show((partition, offset): Place) -> String {
    format!("{partition}/{offset}")
}
