//! The bench suite's report, as perf/ writes it: `results.json` (all that
//! was measured), `results.md` (a table with each target side by side and
//! their ratio, and the exact command) and two SVG line charts against
//! record size, `throughput.svg` (MB/s) and `latency.svg` (p99 ack ms).
//!
//! Everything here reads the JSON report only, so a report can be
//! rewritten from a `results.json` alone.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

use super::bench_suite::{RATE_SHARES, RECORD_SIZES};

/// Writes the four files under `out` (created if missing).
pub fn write(out: &Path, report: &Value) -> std::io::Result<()> {
    std::fs::create_dir_all(out)?;
    let pretty = serde_json::to_string_pretty(report).expect("a JSON value prints");
    std::fs::write(out.join("results.json"), pretty + "\n")?;
    std::fs::write(out.join("results.md"), markdown(report))?;
    let throughput = |result: &Value| result.pointer("/megabytes_per_second")?.as_f64();
    let latency = |result: &Value| result.pointer("/latency/p99_ms")?.as_f64();
    let plots = [
        (
            "throughput.svg",
            "Produce throughput by record size",
            "MB/s",
            &throughput as &Extract,
        ),
        (
            "latency.svg",
            "Produce p99 ack latency by record size",
            "ms",
            &latency,
        ),
    ];
    for (file, title, unit, extract) in plots {
        std::fs::write(out.join(file), svg(report, title, unit, extract))?;
    }
    Ok(())
}

type Extract = dyn Fn(&Value) -> Option<f64>;

/// One row of the table: its label and where its value is in a target's
/// results.
fn rows(partitions: i64) -> Vec<(String, String)> {
    let mut rows = vec![
        (
            format!("produce 1 KiB x {partitions} partitions: MB/s"),
            "/produce_1k/megabytes_per_second".to_string(),
        ),
        (
            "produce 1 KiB: records/s".into(),
            "/produce_1k/records_per_second".into(),
        ),
        (
            "produce 1 KiB: p99 ack ms".into(),
            "/produce_1k/latency/p99_ms".into(),
        ),
    ];
    for size in RECORD_SIZES {
        rows.push((
            format!("produce {size} B records: MB/s"),
            format!("/by_record_size/{size}/megabytes_per_second"),
        ));
    }
    for share in RATE_SHARES {
        rows.push((
            format!("fixed rate {share}% of max: p99 ack ms"),
            format!("/fixed_rates/{share}/latency/p99_ms"),
        ));
    }
    rows.extend([
        (
            "tail consume: p99 end-to-end ms".to_string(),
            "/tail/consume/latency/p99_ms".to_string(),
        ),
        (
            "tail consume: MB/s".into(),
            "/tail/consume/megabytes_per_second".into(),
        ),
        (
            "catch-up consume: MB/s".into(),
            "/catch_up/megabytes_per_second".into(),
        ),
    ]);
    rows
}

fn targets(report: &Value) -> &[Value] {
    report["targets"].as_array().map_or(&[], Vec::as_slice)
}

/// The Markdown report: the table, ratios when there are two targets, and
/// the command that produced it.
pub fn markdown(report: &Value) -> String {
    let targets = targets(report);
    let mut out = String::from("# corelog bench suite\n\n");
    let _ = writeln!(
        out,
        "Scale: {} of the full workload sizes; acks={}; one request in flight per connection.\n",
        report["scale"], report["acks"]
    );
    for target in targets {
        let _ = writeln!(
            out,
            "- {}: {}",
            target["name"].as_str().unwrap_or("?"),
            target["brokers"].as_str().unwrap_or("?")
        );
    }
    out.push('\n');
    let mut header = String::from("| workload |");
    let mut rule = String::from("|---|");
    for target in targets {
        let _ = write!(header, " {} |", target["name"].as_str().unwrap_or("?"));
        rule.push_str("---|");
    }
    if targets.len() == 2 {
        header.push_str(" A / B |");
        rule.push_str("---|");
    }
    let _ = writeln!(out, "{header}\n{rule}");
    for (label, pointer) in rows(report["partitions"].as_i64().unwrap_or(0)) {
        let values: Vec<Option<f64>> = targets
            .iter()
            .map(|target| target["results"].pointer(&pointer).and_then(Value::as_f64))
            .collect();
        let _ = write!(out, "| {label} |");
        for value in &values {
            let _ = write!(
                out,
                " {} |",
                value.map_or("n/a".to_string(), |v| format!("{v:.1}"))
            );
        }
        if let [Some(a), Some(b)] = values[..] {
            let _ = write!(
                out,
                " {} |",
                if b > 0.0 {
                    format!("{:.2}", a / b)
                } else {
                    "n/a".into()
                }
            );
        } else if values.len() == 2 {
            out.push_str(" n/a |");
        }
        out.push('\n');
    }
    out.push_str("\nFor latency rows, a ratio below 1 means A is faster.\n\n## Command\n\n```\n");
    for command in report["commands"].as_array().into_iter().flatten() {
        let _ = writeln!(out, "{}", command.as_str().unwrap_or_default());
    }
    out.push_str("```\n");
    out
}

/// A line chart of `extract` of each by-record-size result, one line per
/// target (no plotting library: a few SVG elements).
fn svg(report: &Value, title: &str, unit: &str, extract: &Extract) -> String {
    const WIDTH: f64 = 640.0;
    const HEIGHT: f64 = 400.0;
    const LEFT: f64 = 70.0;
    const BOTTOM: f64 = 50.0;
    const COLORS: [&str; 2] = ["#1f77b4", "#d62728"];
    let series: Vec<(String, Vec<f64>)> = targets(report)
        .iter()
        .map(|target| {
            let values = RECORD_SIZES
                .iter()
                .map(|size| {
                    target["results"]["by_record_size"]
                        .get(size.to_string())
                        .and_then(extract)
                        .unwrap_or(0.0)
                })
                .collect();
            let name = format!(
                "{}: {}",
                target["name"].as_str().unwrap_or("?"),
                target["brokers"].as_str().unwrap_or("?")
            );
            (name, values)
        })
        .collect();
    let top = series
        .iter()
        .flat_map(|(_, values)| values.iter().copied())
        .fold(1e-9, f64::max)
        * 1.1;
    let x = |index: usize| {
        LEFT + index as f64 * (WIDTH - LEFT - 20.0) / (RECORD_SIZES.len() - 1) as f64
    };
    let y = |value: f64| HEIGHT - BOTTOM - value / top * (HEIGHT - BOTTOM - 30.0);
    let (center, axis, right) = (WIDTH / 2.0, HEIGHT - BOTTOM, WIDTH - 20.0);
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <text x=\"{center}\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">{title}</text>\n\
         <line x1=\"{LEFT}\" y1=\"{axis}\" x2=\"{right}\" y2=\"{axis}\" stroke=\"black\"/>\n\
         <line x1=\"{LEFT}\" y1=\"30\" x2=\"{LEFT}\" y2=\"{axis}\" stroke=\"black\"/>\n"
    );
    for (index, size) in RECORD_SIZES.iter().enumerate() {
        let label = if *size >= 1024 {
            format!("{} KiB", size / 1024)
        } else {
            format!("{size} B")
        };
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{label}</text>",
            x(index),
            HEIGHT - BOTTOM + 18.0
        );
    }
    for step in 0..5 {
        let value = top * f64::from(step) / 4.0;
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{value:.1}</text>",
            LEFT - 6.0,
            y(value) + 4.0
        );
    }
    let middle = HEIGHT / 2.0;
    let _ = writeln!(out, "<text x=\"16\" y=\"{middle}\" transform=\"rotate(-90 16 {middle})\" text-anchor=\"middle\">{unit}</text>");
    for (row, ((name, values), color)) in series.iter().zip(COLORS).enumerate() {
        let points: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(index, value)| format!("{:.1},{:.1}", x(index), y(*value)))
            .collect();
        let _ = writeln!(
            out,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>",
            points.join(" ")
        );
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" fill=\"{color}\">{}</text>",
            LEFT + 10.0,
            40 + row * 16,
            escape(name)
        );
    }
    out.push_str("</svg>\n");
    out
}

/// Text safe inside an SVG element.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
