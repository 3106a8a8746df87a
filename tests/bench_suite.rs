//! `corelog bench suite` against two real brokers side by side, in a
//! small run: what it reports arrived, and its report files are written.

mod common;
#[path = "tools/support.rs"]
mod support;

use common::Broker;
use serde_json::Value;
use support::*;

/// The suite at 0.002 of the full sizes (a fifth of --quick, to stay within
/// seconds) against two brokers side by side: every workload's records
/// arrive, and the report's four files are written.
#[test]
fn bench_suite_runs_perf_workloads_side_by_side_and_writes_the_report() {
    let (first, second) = (Broker::start(1), Broker::start(1));
    let out = tempfile::tempdir().unwrap();
    let out_dir = out.path().join("report");
    let versus = second.bootstrap();
    let args = [
        "bench",
        "suite",
        "--scale",
        "0.002",
        "--versus",
        &versus,
        "--out",
        out_dir.to_str().unwrap(),
    ];
    let output = run(&first, &args, "");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    // The live progress line names the target and the workload.
    for label in [
        "[A] produce 1 KiB: 2000 records",
        "[B] catch-up consume: 2000 records",
    ] {
        assert!(stderr.contains(label), "no {label:?} in {stderr}");
    }
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("results.json")).unwrap())
            .unwrap();
    let targets = report["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 2);
    for (target, broker) in targets.iter().zip([&first, &second]) {
        let results = &target["results"];
        assert_eq!(target["brokers"], broker.bootstrap());
        assert_eq!(results["produce_1k"]["records"], 2000, "{results}");
        assert_eq!(results["catch_up"]["records"], 2000, "{results}");
        assert_eq!(results["tail"]["produce"]["records"], 1000, "{results}");
        assert_eq!(results["tail"]["consume"]["records"], 1000, "{results}");
        assert!(
            results["tail"]["consume"]["latency"]["p99_ms"]
                .as_f64()
                .unwrap()
                >= 0.0
        );
        assert_eq!(results["by_record_size"].as_object().unwrap().len(), 4);
        assert_eq!(results["fixed_rates"].as_object().unwrap().len(), 3);
        // What the suite says it wrote is on the broker.
        let run = report["date_unix_ms"].as_i64().unwrap();
        let written: i64 = high_watermarks(broker, &format!("bench-produce-1k-{run}"))
            .iter()
            .sum();
        assert_eq!(written, 2000);
    }
    let markdown = std::fs::read_to_string(out_dir.join("results.md")).unwrap();
    assert!(
        markdown.contains("| produce 1 KiB x 6 partitions: MB/s |") && markdown.contains("A / B"),
        "{markdown}"
    );
    for plot in ["throughput.svg", "latency.svg"] {
        let svg = std::fs::read_to_string(out_dir.join(plot)).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.matches("<polyline").count() == 2,
            "{svg}"
        );
    }
}
