//! `corelog check` run as an operator runs it, and the systemd unit that
//! runs it before the broker.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Every check `corelog check` reports, in order: kernel, io_uring,
/// memlock, nofile, governor, filesystem, o_direct, free_space, thp, numa.
const CHECKS: [&str; 10] = corelog::check::NAMES;

const DATA_DIR_CHECKS: [&str; 3] = ["filesystem", "o_direct", "free_space"];

/// Runs `corelog check --data-dir <data_dir>`: each check's status by name
/// (asserting each is reported once, with a fix unless it passed), and
/// whether the command succeeded.
fn run_check(data_dir: &Path) -> (BTreeMap<String, String>, bool) {
    let output = Command::new(env!("CARGO_BIN_EXE_corelog"))
        .args(["check", "--cores", "2", "--data-dir"])
        .arg(data_dir)
        .output()
        .expect("run corelog check");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    let mut statuses = BTreeMap::new();
    for line in stdout.lines() {
        let mut words = line.split_whitespace();
        let (Some(status), Some(name)) = (words.next(), words.next()) else {
            continue;
        };
        if !["PASS", "WARN", "FAIL", "INFO"].contains(&status) {
            continue;
        }
        assert!(CHECKS.contains(&name), "unknown check in {line:?}");
        if status == "WARN" || status == "FAIL" {
            assert!(line.contains(". Fix: "), "no fix on {line:?}");
        }
        let earlier = statuses.insert(name.to_string(), status.to_string());
        assert_eq!(earlier, None, "{name} reported twice");
    }
    for name in CHECKS {
        assert!(
            statuses.contains_key(name),
            "{name} not reported:\n{stdout}"
        );
    }
    assert!(stdout
        .lines()
        .last()
        .unwrap_or("")
        .starts_with("corelog check: "));
    (statuses, output.status.success())
}

#[test]
fn every_check_is_reported_once_and_only_a_fail_fails() {
    let data_dir = tempfile::tempdir().unwrap();
    let (statuses, succeeded) = run_check(data_dir.path());
    let any_failed = statuses.values().any(|status| status == "FAIL");
    assert_eq!(succeeded, !any_failed, "{statuses:?}");
    let leftovers: Vec<_> = std::fs::read_dir(data_dir.path()).unwrap().collect();
    assert!(leftovers.is_empty(), "the check left {leftovers:?}");
}

#[test]
fn a_data_dir_that_is_a_file_fails_the_data_dir_checks() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let (statuses, succeeded) = run_check(file.path());
    for name in DATA_DIR_CHECKS {
        assert_eq!(statuses[name], "FAIL", "{name}");
    }
    assert!(!succeeded);
}

fn unit_text() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/systemd/corelog.service");
    std::fs::read_to_string(path).expect("deploy/systemd/corelog.service")
}

/// The unit's keys by section, as systemd reads them: comments and blank
/// lines skipped, every other line `[Section]` or `Key=value`.
fn unit_keys(text: &str) -> BTreeMap<(String, String), String> {
    let mut section = String::new();
    let mut keys = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
        {
            section = name.to_string();
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("not Key=value: {line:?}"));
        assert!(!section.is_empty(), "{key} before any section");
        keys.insert((section.clone(), key.to_string()), value.to_string());
    }
    keys
}

#[test]
fn the_systemd_unit_has_what_the_broker_needs() {
    let text = unit_text();
    let keys = unit_keys(&text);
    let service = |key: &str| {
        keys.get(&("Service".to_string(), key.to_string()))
            .unwrap_or_else(|| panic!("[Service] has no {key}"))
            .as_str()
    };
    assert_eq!(service("User"), "corelog");
    assert_eq!(service("StateDirectory"), "corelog");
    assert_eq!(
        service("ExecStart"),
        "/usr/local/bin/corelog serve --data-dir /var/lib/corelog"
    );
    assert_eq!(
        service("ExecStartPre"),
        "/usr/local/bin/corelog check --data-dir /var/lib/corelog"
    );
    assert_eq!(service("LimitMEMLOCK"), "infinity");
    assert_eq!(service("LimitNOFILE"), "1048576");
    assert_eq!(service("Restart"), "on-failure");
    assert_eq!(service("RestartSec"), "2");
    assert_eq!(service("KillSignal"), "SIGTERM");
    let stop: u64 = service("TimeoutStopSec").parse().expect("seconds");
    assert!(
        stop >= 60,
        "TimeoutStopSec {stop} leaves too little to seal partitions"
    );
    assert_eq!(service("AmbientCapabilities"), "");
    assert!(keys.contains_key(&("Install".to_string(), "WantedBy".to_string())));
    println!("the unit's keys were checked by the Rust parser");
    verify_with_systemd(&text);
}

/// `systemd-analyze verify` when the host has it: a copy of the unit that
/// names the built binary (verify insists the ExecStart program exists),
/// and any complaint on its output fails the test, since verify exits 0 on
/// unknown keys and malformed lines.
fn verify_with_systemd(text: &str) {
    let available = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    if !available {
        println!("systemd-analyze is not installed: verify not run (the Rust parser did)");
        return;
    }
    let directory = tempfile::tempdir().unwrap();
    let unit = directory.path().join("corelog.service");
    std::fs::write(
        &unit,
        text.replace("/usr/local/bin/corelog", env!("CARGO_BIN_EXE_corelog")),
    )
    .unwrap();
    let output = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .expect("run systemd-analyze verify");
    let complaints = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success() && complaints.trim().is_empty(),
        "systemd-analyze verify: {complaints}"
    );
    println!("systemd-analyze verify passed");
}
