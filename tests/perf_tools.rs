//! The perf tools on a tiny workload against the real broker, so they cannot
//! rot: the librdkafka load generator (perf/loadgen, built by
//! scripts/test.sh) in each mode. Full benchmark runs stay out of the tests.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::Broker;

fn loadgen() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("perf/loadgen/target/release/corelog-loadgen");
    assert!(
        path.exists(),
        "{} is not built: run scripts/test.sh (it builds perf/loadgen)",
        path.display()
    );
    path
}

/// Runs the load generator; returns its JSON report line.
fn run(arguments: &[&str]) -> String {
    let output = Command::new("timeout")
        .arg("120")
        .arg(loadgen())
        .args(arguments)
        .output()
        .expect("the load generator runs");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "loadgen {arguments:?} failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .find(|line| line.starts_with("[{"))
        .unwrap_or_else(|| panic!("no JSON report in {stdout}"))
        .to_string()
}

#[test]
fn the_librdkafka_load_generator_runs_each_mode() {
    let broker = Broker::start_with(2, &["--group-initial-rebalance-delay-ms", "0"]);
    let bootstrap = broker.bootstrap();
    let produced = run(&[
        "produce",
        "--bootstrap",
        &bootstrap,
        "--topic",
        "tiny",
        "--records",
        "2000",
        "--record-size",
        "100",
        "--partitions",
        "2",
        "--keyed",
        "--compression",
        "gzip",
    ]);
    assert!(
        produced.contains("\"records\":2000,\"errors\":0"),
        "{produced}"
    );
    let consumed = run(&[
        "consume",
        "--bootstrap",
        &bootstrap,
        "--topic",
        "tiny",
        "--records",
        "2000",
    ]);
    assert!(
        consumed.contains("\"records\":2000,\"errors\":0"),
        "{consumed}"
    );
    let json = broker.dir.path().join("report.json");
    let both = run(&[
        "end-to-end",
        "--bootstrap",
        &bootstrap,
        "--topic",
        "tail",
        "--records",
        "500",
        "--rate",
        "1000",
        "--acks",
        "one",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(
        both.contains("produce (ack latency)") && both.contains("consume (end-to-end)"),
        "{both}"
    );
    assert_eq!(std::fs::read_to_string(&json).unwrap().trim(), both);
}
