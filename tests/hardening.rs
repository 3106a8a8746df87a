//! The broker at its edges: a prompt restart serves its first client, and
//! clients that announce huge frames and send them slowly neither grow the
//! broker's memory past its request budget nor hold up other clients.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{batch, create_topic, fetch, produce, Broker};
use kafka_protocol::records::Compression;

fn rss_kilobytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
        .expect("VmRSS")
}

fn kafkajs_dir() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kafkajs");
    assert!(
        dir.join("node_modules/kafkajs").exists(),
        "kafkajs is not installed: run scripts/test.sh, which installs it"
    );
    dir
}

/// Once a broker stopped cleanly, its ports refuse connections at once.
/// Closing a listener that io_uring still holds leaves it accepting for a
/// moment after the process exits; a client that connects then is reset
/// later instead of being refused (and retrying): the first kcat after a
/// restart failed with "all broker connections are down".
fn assert_nothing_accepts(ports: &[u16], round: usize) {
    let until = Instant::now() + Duration::from_millis(300);
    while Instant::now() < until {
        for &port in ports {
            if let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) {
                panic!(
                    "round {round}: port {port} accepted a connection after the broker exited ({:?})",
                    stream.local_addr()
                );
            }
        }
    }
}

/// Stop with SIGTERM, start again at once, and the very first kcat and the
/// very first kafkajs client (no retries) are served. Several rounds, since
/// the old failure (a listener that outlived its process and accepted
/// connections nobody served) was a race.
#[test]
fn a_prompt_restart_serves_its_first_clients() {
    assert!(
        common::kcat_available(),
        "kcat is not installed: run scripts/test.sh"
    );
    let kafkajs = kafkajs_dir();
    let mut broker = Broker::start_on_fixed_ports(2, &["--num-partitions", "2"]);
    let mut client = broker.client(0);
    create_topic(&mut client, "restarts", 2, &[]);
    drop(client);
    let mut produced = 0;
    for partition in 0..2 {
        let mut client = broker.client(partition as usize);
        let records = batch(
            &[(Some("k"), "before")],
            common::now_milliseconds(),
            Compression::None,
        );
        assert_eq!(
            produce(&mut client, "restarts", partition, records, 9, -1).0,
            0
        );
        produced += 1;
    }
    for round in 0..4 {
        broker.stop();
        assert_nothing_accepts(&broker.ports, round);
        broker.start_again();
        // kcat first: it reads every partition to its end and exits.
        let output = Command::new("timeout")
            .args([
                "30",
                "kcat",
                "-b",
                &broker.bootstrap(),
                "-C",
                "-t",
                "restarts",
            ])
            .args(["-o", "beginning", "-e", "-q", "-f", "%s\n"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .expect("kcat runs");
        let records = String::from_utf8_lossy(&output.stdout).lines().count();
        assert!(
            output.status.success() && records == produced,
            "round {round}: the first kcat after a restart read {records} of {produced} records: {}\n{}",
            String::from_utf8_lossy(&output.stderr),
            broker.log()
        );
        broker.stop();
        broker.start_again();
        let brokers = broker
            .ports
            .iter()
            .map(|port| format!("127.0.0.1:{port}"))
            .collect::<Vec<_>>()
            .join(",");
        let output = Command::new("timeout")
            .args(["30", "node", "first-connect.js", &brokers, "restarts"])
            .current_dir(&kafkajs)
            .output()
            .expect("node runs");
        assert!(
            output.status.success(),
            "round {round}: the first kafkajs client after a restart failed: {}\n{}",
            String::from_utf8_lossy(&output.stderr),
            broker.log()
        );
        produced += 1;
    }
}

/// Many connections announce 100 MiB frames (the default
/// socket.request.max.bytes) and send all but the last bytes, then stall.
/// The broker holds at most its request budget of them; the rest wait
/// without memory. Meanwhile another client produces, fetches and reads
/// metadata as usual.
#[test]
fn slow_huge_frames_stay_within_the_request_budget() {
    const FRAME_BYTES: usize = 100 * 1024 * 1024;
    const BUDGET_BYTES: u64 = 200 * 1024 * 1024;
    const CONNECTIONS: usize = 24;
    let broker = Broker::start_with(
        2,
        &[
            "--queued-max-request-bytes",
            &BUDGET_BYTES.to_string(),
            "--num-partitions",
            "1",
        ],
    );
    let pid = broker.pid().expect("the broker runs");
    let mut client = broker.client(0);
    create_topic(&mut client, "steady", 1, &[]);
    let rss_before = rss_kilobytes(pid);

    // A Produce v9 header claiming a 100 MiB frame, then zeros.
    let mut header = Vec::new();
    header.extend_from_slice(&(FRAME_BYTES as i32).to_be_bytes());
    header.extend_from_slice(&[0, 0, 0, 9, 0, 0, 0, 1, 0, 0]);
    let filler = Arc::new(vec![0u8; 1024 * 1024]);
    let stop = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..CONNECTIONS)
        .map(|index| {
            let port = broker.ports[index % 2];
            let header = header.clone();
            let filler = filler.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
                stream
                    .set_write_timeout(Some(Duration::from_millis(200)))
                    .unwrap();
                let _ = stream.write_all(&header);
                // All but the last megabyte, as fast as the broker takes it.
                let mut sent = header.len() - 4;
                while sent + filler.len() < FRAME_BYTES && !stop.load(Ordering::Relaxed) {
                    match stream.write(&filler) {
                        Ok(count) => sent += count,
                        Err(_) => std::thread::sleep(Duration::from_millis(50)),
                    }
                }
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                }
                stream
            })
        })
        .collect();

    // While they stall, another client is served as usual.
    let mut peak_kilobytes = 0;
    let started = Instant::now();
    let mut rounds = 0;
    while started.elapsed() < Duration::from_secs(8) {
        let round_started = Instant::now();
        let mut client = broker.client(0);
        let records = batch(
            &[(None, "steady")],
            common::now_milliseconds(),
            Compression::None,
        );
        let (error, offset) = produce(&mut client, "steady", 0, records, 9, -1);
        assert_eq!(error, 0, "produce during the slow frames");
        let (error, fetched, _) = fetch(&mut client, "steady", 0, offset, 12);
        assert!(
            error == 0 && !fetched.is_empty(),
            "fetch during the slow frames"
        );
        assert!(
            round_started.elapsed() < Duration::from_secs(3),
            "a small client waited {:?} behind the slow frames",
            round_started.elapsed()
        );
        rounds += 1;
        peak_kilobytes = peak_kilobytes.max(rss_kilobytes(pid));
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, Ordering::Relaxed);
    for sender in senders {
        drop(sender.join().expect("sender thread"));
    }
    let grown_bytes = (peak_kilobytes.saturating_sub(rss_before)) * 1024;
    // Two shards, each holding at most its budget of large frames plus its
    // small-frame pool; some slack for allocator and stacks.
    let allowed_bytes = 2 * (BUDGET_BYTES + 32 * 1024 * 1024) + 64 * 1024 * 1024;
    println!(
        "RSS before {} MiB, peak {} MiB (grown {} MiB, allowed {} MiB) over {rounds} client rounds",
        rss_before / 1024,
        peak_kilobytes / 1024,
        grown_bytes >> 20,
        allowed_bytes >> 20
    );
    assert!(
        grown_bytes <= allowed_bytes,
        "RSS grew {} MiB with {CONNECTIONS} slow 100 MiB frames, more than the budget allows ({} MiB)",
        grown_bytes >> 20,
        allowed_bytes >> 20
    );
    let mut client = broker.client(0);
    let records = batch(
        &[(None, "after")],
        common::now_milliseconds(),
        Compression::None,
    );
    assert_eq!(produce(&mut client, "steady", 0, records, 9, -1).0, 0);
}

/// A Fetch that asks for 2 GiB gets at most the broker's cap
/// (`fetch.max.bytes`, 55 MiB) and can read on from where it ended.
#[test]
fn a_fetch_response_is_capped_by_the_broker() {
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use kafka_protocol::messages::{BrokerId, FetchRequest};
    const CAP_BYTES: usize = 55 * 1024 * 1024;
    let broker = Broker::start_with(1, &["--num-partitions", "1"]);
    let mut client = broker.client(0);
    create_topic(&mut client, "wide", 1, &[]);
    let value = "v".repeat(1000 * 1024 - 200);
    // 64 batches of about 1 MiB: more than the cap.
    for _ in 0..64 {
        let records = batch(
            &[(None, value.as_str())],
            common::now_milliseconds(),
            Compression::None,
        );
        assert_eq!(produce(&mut client, "wide", 0, records, 9, -1).0, 0);
    }
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(i32::MAX)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(common::name("wide"))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(i32::MAX)])]);
    let response = client.send(&request, 12);
    let records = response.responses[0].partitions[0].records.clone().unwrap();
    assert!(
        records.len() <= CAP_BYTES && records.len() > CAP_BYTES - 2 * 1024 * 1024,
        "a fetch asking for 2 GiB returned {} bytes",
        records.len()
    );
    let read = common::decode_records(&records);
    let next = read.last().expect("records").offset + 1;
    assert!(next < 64, "everything came back despite the cap");
    let (error, rest, _) = fetch(&mut client, "wide", 0, next, 12);
    assert!(error == 0 && !rest.is_empty());
}
