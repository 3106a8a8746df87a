//! A real full disk: the data dir is a small tmpfs (mounted by the test, as
//! root) that producers fill. Produce gets KAFKA_STORAGE_ERROR, logged once;
//! reads and other requests go on; the broker does not exit; once a topic is
//! deleted, writes work again.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{batch, create_topic, decode_records, fetch, name, produce, Broker};
use kafka_protocol::messages::*;
use kafka_protocol::records::Compression;

const KAFKA_STORAGE_ERROR: i16 = 56;

/// Unmounts the tmpfs when the test ends, however it ends.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn big_batch(tag: &str) -> bytes::Bytes {
    let value = format!("{tag}-{}", "f".repeat(60 * 1024));
    batch(
        &[(None, value.as_str())],
        1_700_000_000_000,
        Compression::None,
    )
}

fn mount_tmpfs(path: &Path, megabytes: usize) -> Result<Mount, String> {
    std::fs::create_dir_all(path).map_err(|error| error.to_string())?;
    let output = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
        .arg(path)
        .output()
        .map_err(|error| error.to_string())?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).to_string());
    }
    Ok(Mount(path.to_path_buf()))
}

#[test]
fn a_full_disk_gets_storage_errors_and_writes_resume_after_a_delete() {
    let mut mount = None;
    let mut mount_error = None;
    let mut broker = Broker::start_prepared(
        1,
        &[
            "--offsets-topic-num-partitions",
            "1",
            "--log-segment-bytes",
            "1048576",
        ],
        |data| match mount_tmpfs(data, 16) {
            Ok(mounted) => mount = Some(mounted),
            Err(error) => mount_error = Some(error),
        },
    );
    // Mounting needs root (CAP_SYS_ADMIN), which this machine's sessions and
    // CI have. Where it is refused the test cannot run at all: it says so
    // loudly rather than fail the whole suite for the host's sake.
    if mount.is_none() {
        let why = mount_error.unwrap_or_default();
        assert!(
            why.contains("permission")
                || why.contains("not permitted")
                || why.contains("superuser"),
            "mounting a tmpfs failed for another reason: {why}"
        );
        eprintln!("NOT RUN: the full-disk test needs permission to mount a tmpfs: {why}");
        return;
    }

    let mut client = broker.client(0);
    assert_eq!(create_topic(&mut client, "spare", 1, &[]), 0);
    assert_eq!(create_topic(&mut client, "full", 1, &[]), 0);
    for index in 0..60 {
        assert_eq!(
            produce(
                &mut client,
                "spare",
                0,
                big_batch(&format!("s{index}")),
                7,
                -1
            )
            .0,
            0
        );
    }
    let mut written = 0;
    let refused = loop {
        let (code, _) = produce(
            &mut client,
            "full",
            0,
            big_batch(&format!("f{written}")),
            7,
            -1,
        );
        if code != 0 {
            break code;
        }
        written += 1;
        assert!(written < 400, "a 16 MiB disk never filled");
    };
    assert_eq!(refused, KAFKA_STORAGE_ERROR);
    assert!(written > 10, "only {written} batches fit");
    for _ in 0..3 {
        assert_eq!(
            produce(&mut client, "full", 0, big_batch("again"), 7, -1).0,
            KAFKA_STORAGE_ERROR
        );
    }
    let log = broker.log();
    assert_eq!(
        log.matches("until a write succeeds (logged once)").count(),
        1,
        "{log}"
    );
    assert!(
        log.contains("No space left on device"),
        "the cause is named: {log}"
    );

    // Reads work and the broker keeps serving.
    let (code, bytes, high_watermark) = fetch(&mut client, "full", 0, 0, 11);
    assert_eq!((code, high_watermark), (0, written));
    assert!(!decode_records(&bytes).is_empty());
    assert!(broker.is_running());

    // Deleting a topic frees space; writes to the full partition resume.
    let deleted = client.send(
        &DeleteTopicsRequest::default()
            .with_topic_names(vec![name("spare")])
            .with_timeout_ms(5000),
        4,
    );
    assert_eq!(deleted.responses[0].error_code, 0);
    assert_eq!(
        produce(&mut client, "full", 0, big_batch("resumed"), 7, -1),
        (0, written)
    );
    assert!(broker.log().contains("writes work again"));
    let (code, _, high_watermark) = fetch(&mut client, "full", 0, written, 11);
    assert_eq!((code, high_watermark), (0, written + 1));
    broker.stop();
    drop(mount);
}
