//! The upgrade path of issue 13: a data dir written by a single-host
//! corelog (no quorum flags) starts as a one-host cluster with every
//! topic, record and committed offset intact; its old metadata log is
//! imported once (a restart does not import it again); and a cluster's
//! data dir started without the quorum flags is refused with the fix.

mod common;

use std::process::Command;

use common::Broker;

/// Runs a `corelog` client subcommand against `brokers`; its stdout.
fn tool(brokers: &str, args: &[&str], input: Option<&str>) -> String {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_corelog"))
        .args(args)
        .args(["-b", brokers])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("corelog runs");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input.unwrap_or("").as_bytes()).unwrap();
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "corelog {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The group's committed offset per partition of `topic`.
fn committed(brokers: &str, group: &str) -> Vec<(i64, i64)> {
    let described = tool(
        brokers,
        &["group", "describe", group, "--format", "json"],
        None,
    );
    let json: serde_json::Value = serde_json::from_str(&described).expect("json");
    let mut offsets: Vec<(i64, i64)> = json["partitions"]
        .as_array()
        .expect("partitions")
        .iter()
        .map(|partition| {
            (
                partition["partition"].as_i64().unwrap(),
                partition["committed_offset"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    offsets.sort();
    offsets
}

/// A free port below the kernel's ephemeral range, so no outgoing
/// connection takes it between this check and the broker's bind.
fn free_port() -> u16 {
    let start = 12_000 + (std::process::id() % 89) as u16 * 100;
    (start..32_000)
        .step_by(3)
        .find(|&port| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok())
        .expect("a free port below the ephemeral range")
}

#[test]
fn a_single_host_data_dir_starts_as_a_one_host_cluster() {
    let mut broker = Broker::start(2);
    let brokers = broker.bootstrap();
    tool(
        &brokers,
        &[
            "topic",
            "create",
            "kept",
            "--partitions",
            "4",
            "--replicas",
            "1",
        ],
        None,
    );
    let lines: String = (0..40).map(|i| format!("k{i}:v{i}\n")).collect();
    tool(&brokers, &["produce", "kept", "-K", ":"], Some(&lines));
    // A group reads 40 and commits.
    let read = tool(
        &brokers,
        &["consume", "kept", "-G", "g", "-e", "-f", "%s\\n"],
        None,
    );
    assert_eq!(read.lines().count(), 40, "{read}");
    let before = committed(&brokers, "g");
    assert_eq!(before.iter().map(|(_, offset)| offset).sum::<i64>(), 40);
    broker.stop();

    let voters = format!("0@127.0.0.1:{}", free_port());
    let cluster_flags = [
        "--node-id",
        "0",
        "--controller-quorum-voters",
        voters.as_str(),
    ];
    broker.start_again_with(&cluster_flags);
    let log = broker.log();
    assert!(
        log.contains("corelog: imported"),
        "the old metadata log is imported: {log}"
    );
    assert!(
        broker
            .data_dir()
            .join("__cluster_metadata/metadata.log.imported")
            .exists(),
        "the imported log is set aside"
    );
    let brokers = broker.bootstrap();
    let all = tool(&brokers, &["consume", "kept", "-e", "-f", "%k=%s\\n"], None);
    let mut got: Vec<&str> = all.lines().collect();
    got.sort();
    let mut wanted: Vec<String> = (0..40).map(|i| format!("k{i}=v{i}")).collect();
    wanted.sort();
    assert_eq!(got, wanted, "every record is there after the upgrade");
    assert_eq!(
        committed(&brokers, "g"),
        before,
        "committed offsets are intact"
    );
    // The cluster takes changes through its quorum, and keeps them.
    tool(
        &brokers,
        &[
            "topic",
            "create",
            "after",
            "--partitions",
            "2",
            "--replicas",
            "1",
        ],
        None,
    );
    broker.stop();
    broker.start_again_with(&cluster_flags);
    assert_eq!(
        broker.log().matches("corelog: imported").count(),
        1,
        "a restart does not import again (the log holds every start's lines)"
    );
    let brokers = broker.bootstrap();
    let listed = tool(&brokers, &["topic", "list", "--format", "json"], None);
    assert!(
        listed.contains("\"kept\"") && listed.contains("\"after\""),
        "{listed}"
    );
    assert_eq!(committed(&brokers, "g"), before);
    broker.stop();

    // Without the quorum flags, a cluster's data dir is refused with the fix.
    let output = Command::new(env!("CARGO_BIN_EXE_corelog"))
        .args(["serve", "--cores", "1", "--listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(broker.data_dir())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("--controller-quorum-voters"), "{said}");
}
