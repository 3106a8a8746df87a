//! The broker's log (`--log-format`, `--log-filter`, `--log-level`) and
//! its start-up progress, read from a real broker's stderr.

mod common;

use common::{create_topic, Broker};
use serde_json::Value;

/// The broker's stderr, line by line, as JSON.
fn json_lines(broker: &Broker) -> Vec<Value> {
    broker
        .log()
        .lines()
        .filter(|line| !line.is_empty())
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: not JSON: {line}"))
        })
        .collect()
}

#[test]
fn json_lines_parse_and_name_their_shard() {
    let mut broker = Broker::start_with(2, &["--log-format", "json"]);
    assert_eq!(create_topic(&mut broker.client(0), "events", 4, &[]), 0);
    broker.stop();
    let lines = json_lines(&broker);
    assert!(!lines.is_empty(), "the broker logged nothing");
    for line in &lines {
        assert!(line.get("shard").is_some(), "no shard field: {line}");
        for field in ["timestamp", "level", "target", "message"] {
            assert!(line[field].is_string(), "no {field}: {line}");
        }
    }
    // Each shard reports its start-up from its own thread, under its span.
    for shard in 0..2 {
        assert!(
            lines.iter().any(|line| line["shard"] == shard
                && line["level"] == "INFO"
                && line["message"]
                    .as_str()
                    .is_some_and(|message| message.contains("segments were scanned"))),
            "no start-up line of shard {shard}: {}",
            broker.log()
        );
    }
    // The main thread's lines are on no shard.
    assert!(
        lines
            .iter()
            .any(|line| line["shard"].is_null() && line["message"] == "shut down cleanly"),
        "{}",
        broker.log()
    );
}

#[test]
fn text_lines_keep_their_prefix_and_name_their_shard() {
    let mut broker = Broker::start(2);
    broker.stop();
    let log = broker.log();
    let summaries: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("segments were scanned"))
        .collect();
    assert_eq!(summaries.len(), 2, "{log}");
    for shard in 0..2 {
        let line = summaries
            .iter()
            .find(|line| line.starts_with(&format!("corelog: shard {shard}: opened ")))
            .unwrap_or_else(|| panic!("no summary of shard {shard}: {log}"));
        assert!(line.ends_with(&format!(" shard={shard}")), "{line}");
    }
    assert!(
        log.lines().any(|line| line == "corelog: shut down cleanly"),
        "{log}"
    );
}

#[test]
fn a_warn_filter_shows_no_info_lines() {
    for arguments in [&["--log-filter", "warn"][..], &["--log-level", "warn"]] {
        let mut broker = Broker::start_with(1, arguments);
        assert_eq!(create_topic(&mut broker.client(0), "events", 2, &[]), 0);
        broker.stop();
        let log = broker.log();
        for line in log.lines() {
            assert!(
                line.starts_with("corelog: warning: ") || line.starts_with("corelog: error: "),
                "{arguments:?} let through: {line}"
            );
        }
        assert!(!log.contains("segments were scanned"), "{log}");
    }
}

#[test]
fn a_wrong_filter_is_refused_with_the_reason() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_corelog"))
        .args(["serve", "--log-filter", "corelog=loudest", "--cores", "1"])
        .args([
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            "/nonexistent/never",
        ])
        .output()
        .expect("corelog runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--log-filter"), "{stderr}");
}

/// 2,500 partitions on one shard: reopening them reports progress every
/// 1,000 partitions, then a summary with the time it took.
#[test]
fn restarting_over_many_partitions_reports_progress_and_a_summary() {
    let mut broker = Broker::start_with(1, &["--offsets-topic-num-partitions", "2500"]);
    broker.restart();
    broker.stop();
    let log = broker.log();
    let since_restart = log
        .rsplit_once("corelog: shut down cleanly")
        .map_or(log.as_str(), |(before, _)| before);
    let since_restart = since_restart
        .rsplit_once("corelog: shut down cleanly")
        .map_or(since_restart, |(_, after)| after);
    for opened in [1000, 2000] {
        let progress = format!("recovering: {opened} of 2500 partitions opened");
        assert!(since_restart.contains(&progress), "no {progress:?}: {log}");
    }
    let summary = since_restart
        .lines()
        .find(|line| line.contains("segments were scanned"))
        .unwrap_or_else(|| panic!("no summary: {log}"));
    assert!(
        summary.starts_with("corelog: shard 0: opened 2500 partitions in ")
            && summary.contains("bytes scanned"),
        "{summary}"
    );
}
