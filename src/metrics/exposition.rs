//! The samples of every shard as Prometheus text exposition format 0.0.4:
//! one `# HELP` and `# TYPE` per family, then its series, each labelled
//! with its `shard` (the disk's, which are the host's, are not).
//!
//! Names follow Prometheus conventions: `corelog_` first, the unit last
//! (`_bytes`, `_seconds`), `_total` on counters. Consumer-group lag is
//! joined here: the coordinating shard reports committed offsets, the
//! leading shard high watermarks.
//!
//! Invariants: every family named in [`FAMILIES`] is written, with its
//! HELP and TYPE, even when it has no series yet (so a dashboard's queries
//! name metrics that exist from the first scrape); label values are
//! escaped.

use std::collections::HashMap;
use std::fmt::Write;

use kafka_protocol::messages::ApiKey;

use super::collect::ShardSample;
use super::registry::{Counters, DurationHistogram, DURATION_BUCKETS_SECONDS};

/// The data directory's filesystem, the host-wide part of a scrape.
#[derive(Debug, Clone, Copy, Default)]
pub struct Disk {
    pub size_bytes: u64,
    pub free_bytes: u64,
}

/// What a scrape gathered.
pub struct Scrape<'a> {
    pub samples: &'a [ShardSample],
    /// Shards that did not answer in time.
    pub shards_missing: u64,
    pub disk: Option<Disk>,
}

/// Every family: name, type, help.
pub const FAMILIES: &[(&str, &str, &str)] = &[
    ("corelog_requests_total", "counter", "Requests admitted, by API."),
    ("corelog_request_errors_total", "counter", "Error codes answered (per response, topic, partition or group, where Kafka puts them), by API and code."),
    ("corelog_request_duration_seconds", "histogram", "Time from a request's header to its answer being ready (Produce: durable), by API."),
    ("corelog_topic_bytes_in_total", "counter", "Record bytes appended, by topic."),
    ("corelog_topic_records_in_total", "counter", "Records (offsets) appended, by topic."),
    ("corelog_topic_bytes_out_total", "counter", "Record bytes answered to Fetch, by topic."),
    ("corelog_topic_records_out_total", "counter", "Records answered to Fetch from memory (tail cache or copied reads; not sendfile ranges), by topic."),
    ("corelog_group_commit_round_duration_seconds", "histogram", "Duration of one group-commit round (all its syncs)."),
    ("corelog_tail_cache_hits_total", "counter", "Fetch reads served from the tail cache."),
    ("corelog_tail_cache_misses_total", "counter", "Fetch reads that went to the segment files."),
    ("corelog_tail_cache_bytes", "gauge", "Bytes held by the tail cache."),
    ("corelog_tail_cache_budget_bytes", "gauge", "The tail cache's budget."),
    ("corelog_open_files", "gauge", "Descriptors open, by kind (segment files, connections)."),
    ("corelog_open_files_budget", "gauge", "The shard's budget of descriptors, by kind."),
    ("corelog_connections", "gauge", "Client connections open."),
    ("corelog_partitions_led", "gauge", "Partitions this shard leads."),
    ("corelog_under_replicated_partitions", "gauge", "Partitions this shard leads with fewer in-sync replicas than replicas."),
    ("corelog_offline_partitions", "gauge", "Partitions of the cluster without a live leader (reported by shard 0 of each host: take the max over hosts, not the sum)."),
    ("corelog_log_size_bytes", "gauge", "Bytes of the logs of the partitions this shard leads."),
    ("corelog_disk_size_bytes", "gauge", "Size of the data directory's filesystem."),
    ("corelog_disk_free_bytes", "gauge", "Free bytes of the data directory's filesystem (available to corelog)."),
    ("corelog_disk_used_bytes", "gauge", "Used bytes of the data directory's filesystem."),
    ("corelog_consumer_group_lag", "gauge", "High watermark minus committed offset, by group and partition (shard: the coordinator)."),
    ("corelog_consumer_group_lag_omitted", "gauge", "Committed offsets left out of corelog_consumer_group_lag (past the bound per shard)."),
    ("corelog_metrics_shards_missing", "gauge", "Shards that did not answer this scrape in time."),
];

/// The whole response body of `/metrics`.
pub fn render(scrape: &Scrape) -> String {
    let mut out = String::with_capacity(16 * 1024);
    for (name, kind, help) in FAMILIES {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        family(&mut out, name, scrape);
    }
    out
}

/// The series of family `name`.
fn family(out: &mut String, name: &str, scrape: &Scrape) {
    match name {
        "corelog_disk_size_bytes" | "corelog_disk_free_bytes" | "corelog_disk_used_bytes" => {
            if let Some(disk) = scrape.disk {
                let value = match name {
                    "corelog_disk_size_bytes" => disk.size_bytes,
                    "corelog_disk_free_bytes" => disk.free_bytes,
                    _ => disk.size_bytes.saturating_sub(disk.free_bytes),
                };
                series(out, name, &[], value as f64);
            }
        }
        "corelog_metrics_shards_missing" => {
            series(out, name, &[], scrape.shards_missing as f64);
        }
        "corelog_consumer_group_lag" => lag(out, scrape.samples),
        _ => {
            for sample in scrape.samples {
                shard_family(out, name, sample);
            }
        }
    }
}

/// The series of family `name` that `sample` (one shard) has.
fn shard_family(out: &mut String, name: &str, sample: &ShardSample) {
    let shard = sample.shard.to_string();
    let labels = [("shard", shard.as_str())];
    let counters = &sample.counters;
    let gauge = |out: &mut String, value: u64| series(out, name, &labels, value as f64);
    match name {
        "corelog_group_commit_round_duration_seconds" => {
            histogram(out, name, &labels, &counters.group_commit_rounds)
        }
        "corelog_tail_cache_hits_total" => gauge(out, counters.tail_cache_hits),
        "corelog_tail_cache_misses_total" => gauge(out, counters.tail_cache_misses),
        "corelog_tail_cache_bytes" => gauge(out, sample.tail_cache_bytes),
        "corelog_tail_cache_budget_bytes" => gauge(out, sample.tail_cache_budget_bytes),
        "corelog_open_files" | "corelog_open_files_budget" => {
            let (segments, connections) = if name == "corelog_open_files" {
                (sample.segment_files_open, sample.connections)
            } else {
                (sample.segment_files_budget, sample.connections_budget)
            };
            series(
                out,
                name,
                &[labels[0], ("kind", "segment")],
                segments as f64,
            );
            series(
                out,
                name,
                &[labels[0], ("kind", "connection")],
                connections as f64,
            );
        }
        "corelog_connections" => gauge(out, sample.connections),
        "corelog_partitions_led" => gauge(out, sample.partitions_led),
        "corelog_under_replicated_partitions" => gauge(out, sample.under_replicated_partitions),
        "corelog_offline_partitions" => gauge(out, sample.offline_partitions),
        "corelog_log_size_bytes" => gauge(out, sample.log_size_bytes),
        "corelog_consumer_group_lag_omitted" => gauge(out, sample.committed_offsets_omitted),
        _ => traffic_family(out, name, labels[0], counters),
    }
}

/// The per-API and per-topic families of one shard's counters.
fn traffic_family(out: &mut String, name: &str, shard: (&str, &str), counters: &Counters) {
    match name {
        "corelog_requests_total" => {
            for (key, count) in &counters.requests {
                let api = api_name(*key);
                series(out, name, &[shard, ("api", &api)], *count as f64);
            }
        }
        "corelog_request_errors_total" => {
            for ((key, code), count) in &counters.errors {
                let (api, code_text, error) = (api_name(*key), code.to_string(), error_name(*code));
                let labels = [
                    shard,
                    ("api", &api),
                    ("error_code", &code_text),
                    ("error", &error),
                ];
                series(out, name, &labels, *count as f64);
            }
        }
        "corelog_request_duration_seconds" => {
            for (key, durations) in &counters.request_durations {
                let api = api_name(*key);
                histogram(out, name, &[shard, ("api", &api)], durations);
            }
        }
        "corelog_topic_bytes_in_total"
        | "corelog_topic_records_in_total"
        | "corelog_topic_bytes_out_total"
        | "corelog_topic_records_out_total" => {
            for (topic, traffic) in &counters.topics {
                let value = match name {
                    "corelog_topic_bytes_in_total" => traffic.bytes_in,
                    "corelog_topic_records_in_total" => traffic.records_in,
                    "corelog_topic_bytes_out_total" => traffic.bytes_out,
                    _ => traffic.records_out,
                };
                series(out, name, &[shard, ("topic", topic)], value as f64);
            }
        }
        _ => {}
    }
}

/// Lag of every committed offset whose partition's high watermark some
/// shard reported: high watermark minus committed offset (0 when the
/// commit is ahead, as after a truncation).
fn lag(out: &mut String, samples: &[ShardSample]) {
    let high_watermarks: HashMap<(&str, i32), i64> = samples
        .iter()
        .flat_map(|sample| sample.high_watermarks.iter())
        .map(|(topic, partition, high_watermark)| ((topic.as_str(), *partition), *high_watermark))
        .collect();
    for sample in samples {
        let shard = sample.shard.to_string();
        for (group, topic, partition, offset) in &sample.committed_offsets {
            let Some(high_watermark) = high_watermarks.get(&(topic.as_str(), *partition)) else {
                continue;
            };
            let partition = partition.to_string();
            let labels = [
                ("shard", shard.as_str()),
                ("group", group.as_str()),
                ("topic", topic.as_str()),
                ("partition", partition.as_str()),
            ];
            let lag = (high_watermark - offset).max(0);
            series(out, "corelog_consumer_group_lag", &labels, lag as f64);
        }
    }
}

fn histogram(out: &mut String, name: &str, labels: &[(&str, &str)], histogram: &DurationHistogram) {
    let bucket_name = format!("{name}_bucket");
    let mut cumulative = 0;
    for (index, count) in histogram.buckets.iter().enumerate() {
        cumulative += count;
        let bound = DURATION_BUCKETS_SECONDS
            .get(index)
            .map_or_else(|| "+Inf".to_string(), |bound| bound.to_string());
        let mut with_bound = labels.to_vec();
        with_bound.push(("le", &bound));
        series(out, &bucket_name, &with_bound, cumulative as f64);
    }
    series(out, &format!("{name}_sum"), labels, histogram.sum_seconds);
    series(
        out,
        &format!("{name}_count"),
        labels,
        histogram.count as f64,
    );
}

/// One line: `name{label="value",...} value`.
fn series(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (index, (label, text)) in labels.iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            let _ = write!(out, "{label}=\"{}\"", escape(text));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// A label value as the text format wants it: backslash, quote and
/// newline escaped.
fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains(['\\', '"', '\n']) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        text.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n"),
    )
}

fn api_name(key: i16) -> String {
    ApiKey::try_from(key)
        .map(|api| format!("{api:?}"))
        .unwrap_or_else(|_| format!("key{key}"))
}

fn error_name(code: i16) -> String {
    kafka_protocol::error::ResponseError::try_from_code(code)
        .map(|error| format!("{error:?}"))
        .unwrap_or_else(|| "None".to_string())
}

#[cfg(test)]
mod tests {
    use super::super::registry::TopicTraffic;
    use super::*;

    fn sample(shard: u32) -> ShardSample {
        ShardSample {
            shard,
            ..ShardSample::default()
        }
    }

    #[test]
    fn lag_joins_the_coordinators_offsets_with_the_leaders_high_watermarks() {
        let mut coordinator = sample(0);
        coordinator.committed_offsets = vec![
            ("g".into(), "t".into(), 1, 4),
            ("g".into(), "gone".into(), 0, 4),
        ];
        let mut leader = sample(1);
        leader.high_watermarks = vec![("t".into(), 1, 10)];
        let text = render(&Scrape {
            samples: &[coordinator, leader],
            shards_missing: 0,
            disk: None,
        });
        assert!(text.contains(
            "corelog_consumer_group_lag{shard=\"0\",group=\"g\",topic=\"t\",partition=\"1\"} 6\n"
        ));
        assert!(!text.contains("topic=\"gone\""));
    }

    #[test]
    fn every_family_has_help_and_type_and_labels_are_escaped() {
        let mut one = sample(3);
        one.counters.topics.insert(
            "a\"b".into(),
            TopicTraffic {
                bytes_in: 7,
                ..TopicTraffic::default()
            },
        );
        one.counters.requests.insert(0, 2);
        one.counters
            .request_durations
            .entry(0)
            .or_default()
            .observe(std::time::Duration::from_millis(3));
        let text = render(&Scrape {
            samples: &[one],
            shards_missing: 0,
            disk: None,
        });
        for (name, kind, _) in FAMILIES {
            assert!(text.contains(&format!("# TYPE {name} {kind}\n")), "{name}");
        }
        assert!(text.contains("corelog_topic_bytes_in_total{shard=\"3\",topic=\"a\\\"b\"} 7\n"));
        assert!(text.contains("corelog_requests_total{shard=\"3\",api=\"Produce\"} 2\n"));
        assert!(text.contains(
            "corelog_request_duration_seconds_bucket{shard=\"3\",api=\"Produce\",le=\"0.005\"} 1\n"
        ));
        assert!(text.contains(
            "corelog_request_duration_seconds_bucket{shard=\"3\",api=\"Produce\",le=\"0.0025\"} 0\n"
        ));
        assert!(text
            .contains("corelog_request_duration_seconds_count{shard=\"3\",api=\"Produce\"} 1\n"));
    }
}
