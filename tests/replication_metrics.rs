//! The replica-health gauges on a 3-host cluster (issues 14 and 15): with
//! every host up, no partition is under-replicated or offline; once one
//! host is killed and fenced, the host that took over leadership of a
//! 3-replica partition reports it under-replicated (its ISR lost the dead
//! host), and the 1-replica partitions that lived on the dead host are
//! offline.
//! The gauges are scraped from inside each host's network namespace, where
//! its metrics listener (127.0.0.1:9644 by default) is. Needs root; skips
//! (and passes) without it.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::Duration;

use common::cluster::{wait_for, Cluster};

const HOSTS: usize = 3;

/// The sum of every series of metric `name` on host `host`, or `None`
/// when its /metrics does not answer.
fn scrape_sum(cluster: &Cluster, host: usize, name: &str) -> Option<f64> {
    let namespace = format!("/run/netns/{}h{host}", cluster.name);
    // A thread's network namespace is its own: scrape from a thread that
    // entered the host's.
    let body = std::thread::spawn(move || -> Option<String> {
        let file = std::fs::File::open(&namespace).ok()?;
        // SAFETY: setns on a descriptor we hold open; it changes only this
        // thread's network namespace.
        if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return None;
        }
        let mut stream =
            TcpStream::connect_timeout(&"127.0.0.1:9644".parse().ok()?, Duration::from_secs(5))
                .ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        stream
            .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .ok()?;
        let mut body = String::new();
        stream.read_to_string(&mut body).ok()?;
        Some(body)
    })
    .join()
    .ok()??;
    if !body.starts_with("HTTP/1.") || !body.contains(name) {
        return None;
    }
    Some(
        body.lines()
            .filter(|line| line.starts_with(name) && line[name.len()..].starts_with(['{', ' ']))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum(),
    )
}

#[test]
fn a_dead_host_shows_as_under_replicated_and_offline_partitions() {
    let Some(cluster) = Cluster::up("health", HOSTS, 1, &["--broker-session-timeout-ms", "3000"])
    else {
        return;
    };
    let logs = || cluster.logs();
    wait_for("a 3-replica topic", Duration::from_secs(30), logs, || {
        (cluster.create_topic("replicated", 1, 3, &[])? == 0).then_some(())
    });
    wait_for(
        "a 1-replica topic on every host",
        Duration::from_secs(30),
        logs,
        || (cluster.create_topic("single", 2 * HOSTS as i32, 1, &[])? == 0).then_some(()),
    );
    cluster.wait_in_sync("replicated", Duration::from_secs(30));
    for host in 0..HOSTS {
        let healthy = wait_for("the gauges", Duration::from_secs(10), logs, || {
            Some((
                scrape_sum(&cluster, host, "corelog_under_replicated_partitions")?,
                scrape_sum(&cluster, host, "corelog_offline_partitions")?,
            ))
        });
        assert_eq!(healthy, (0.0, 0.0), "host {host} with every host up");
    }
    let dead = cluster
        .leader_host("replicated", 0)
        .expect("a leader of replicated-0");
    let survivor = (dead + 1) % HOSTS;
    // Leaders are balanced over hosts, so the dead host leads some of
    // `single`'s partitions: those go offline.
    let stranded = wait_for("single's leaders", Duration::from_secs(10), logs, || {
        let partitions = cluster.partitions("single")?;
        (partitions.len() == 2 * HOSTS).then(|| {
            partitions
                .iter()
                .filter(|partition| partition.leader_host() == Some(dead))
                .count() as f64
        })
    });
    assert!(stranded >= 1.0, "host {dead} leads part of single");
    cluster.kill(dead);
    let new_leader = wait_for(
        "a new leader of replicated-0",
        Duration::from_secs(45),
        logs,
        || {
            cluster
                .leader_host("replicated", 0)
                .filter(|host| *host != dead)
        },
    );
    // The new leader's ISR no longer holds the dead host: under-replicated
    // there. The 1-replica partition on the dead host has no leader: every
    // surviving host's shard 0 counts it offline.
    let (under_replicated, offline) = wait_for(
        "the gauges to see the dead host",
        Duration::from_secs(30),
        logs,
        || {
            let under = scrape_sum(&cluster, new_leader, "corelog_under_replicated_partitions")?;
            let offline = scrape_sum(&cluster, survivor, "corelog_offline_partitions")?;
            (under >= 1.0 && offline >= 1.0).then_some((under, offline))
        },
    );
    assert_eq!(under_replicated, 1.0, "replicated-0 on host {new_leader}");
    assert_eq!(offline, stranded, "the dead host's partitions of single");
}
