//! The metrics endpoint on shard 0 (`--metrics-listen`): a minimal HTTP/1.1
//! responder for Prometheus and for health checks. One request per
//! connection, answered with `Connection: close`:
//! - `GET /metrics`: every shard's sample, gathered by message and merged
//!   (text format 0.0.4);
//! - `GET /health`: 200 while the process serves;
//! - `GET /ready`: 200 once every shard is serving, 503 before.
//!
//! Invariants: a request head is read within `METRICS_REQUEST_BYTES_MAX`
//! bytes and `METRICS_REQUEST_READ_MILLISECONDS`; at most
//! `METRICS_CONNECTIONS_MAX` connections are served at once (more get 503
//! at once); a shard that does not answer a scrape within
//! `METRICS_COLLECT_MILLISECONDS` is left out of it and counted in
//! `corelog_metrics_shards_missing`, so a busy or stuck shard never hangs
//! the endpoint.

use std::cell::Cell;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_channel::oneshot;

use super::collect::{sample, ShardSample};
use super::exposition::{render, Disk, Scrape};
use crate::limits::{
    METRICS_COLLECT_MILLISECONDS, METRICS_CONNECTIONS_MAX, METRICS_REQUEST_BYTES_MAX,
    METRICS_REQUEST_DRAIN_BYTES_MAX, METRICS_REQUEST_DRAIN_MILLISECONDS,
    METRICS_REQUEST_READ_MILLISECONDS,
};
use crate::rt::channel::ConnectedCoreSender;
use crate::rt::net::{Connection, ConnectionReader, Listener, SocketWriter};
use crate::shard::{Shard, ShardMessage};

/// What the endpoint serves from: shard 0, a way to every other shard's
/// inbox, and whether every shard is serving yet.
pub struct Endpoint {
    pub shard: Rc<Shard>,
    pub peers: Vec<ConnectedCoreSender<ShardMessage>>,
    pub ready: Arc<AtomicBool>,
    connections: Cell<usize>,
}

impl Endpoint {
    pub fn new(
        shard: Rc<Shard>,
        peers: Vec<ConnectedCoreSender<ShardMessage>>,
        ready: Arc<AtomicBool>,
    ) -> Rc<Endpoint> {
        Rc::new(Endpoint {
            shard,
            peers,
            ready,
            connections: Cell::new(0),
        })
    }
}

/// Accepts scrape connections until the listener is stopped.
pub async fn serve(listener: Listener, endpoint: Rc<Endpoint>) {
    loop {
        let connection = match listener.accept().await {
            Ok(connection) => connection,
            Err(_) if listener.is_shut_down() => return,
            Err(error) => {
                tracing::warn!("metrics: accept failed: {error}");
                crate::rt::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let endpoint = endpoint.clone();
        crate::rt::spawn_detached(async move {
            let busy = endpoint.connections.get() >= METRICS_CONNECTIONS_MAX;
            endpoint.connections.set(endpoint.connections.get() + 1);
            answer(connection, &endpoint, busy).await;
            endpoint.connections.set(endpoint.connections.get() - 1);
        });
    }
}

/// Reads one request head and writes its response; any failure just
/// closes the connection.
async fn answer(connection: Connection, endpoint: &Endpoint, busy: bool) {
    let (mut reader, mut writer) = connection.split();
    let head = read_head(&mut reader).await;
    let response = match &head {
        Err(Refused::Closed) => return,
        Err(Refused::TooLarge) => response(431, "text/plain", "request head too large\n"),
        Ok(_) if busy => response(503, "text/plain", "too many scrapes at once\n"),
        Ok(head) => route(head, endpoint).await,
    };
    let _ = writer.write_all(&response).await;
    if let Err(Refused::TooLarge) = head {
        drain(&mut reader).await;
    }
}

/// Reads and drops what the client still sends (bounded), so closing with
/// unread bytes does not reset the connection before it read the answer.
async fn drain(reader: &mut ConnectionReader) {
    let mut buffer = [0u8; 1024];
    let limit = Duration::from_millis(METRICS_REQUEST_DRAIN_MILLISECONDS);
    let mut dropped = 0;
    while dropped < METRICS_REQUEST_DRAIN_BYTES_MAX {
        match reader.read_within(&mut buffer, limit).await {
            Ok(count) if count > 0 => dropped += count,
            _ => return,
        }
    }
}

enum Refused {
    /// The peer closed, stalled or failed before a whole head arrived.
    Closed,
    TooLarge,
}

/// The request head, up to the blank line that ends it.
async fn read_head(reader: &mut ConnectionReader) -> Result<String, Refused> {
    let mut head = Vec::with_capacity(512);
    let mut buffer = [0u8; 1024];
    let limit = Duration::from_millis(METRICS_REQUEST_READ_MILLISECONDS);
    loop {
        let count = reader
            .read_within(&mut buffer, limit)
            .await
            .map_err(|_| Refused::Closed)?;
        if count == 0 {
            return Err(Refused::Closed);
        }
        head.extend_from_slice(&buffer[..count]);
        if let Some(end) = find_end(&head) {
            head.truncate(end);
            return Ok(String::from_utf8_lossy(&head).into_owned());
        }
        if head.len() > METRICS_REQUEST_BYTES_MAX {
            return Err(Refused::TooLarge);
        }
    }
}

/// Where the head ends (`\r\n\r\n`, or `\n\n` from lenient clients).
fn find_end(head: &[u8]) -> Option<usize> {
    let crlf = head.windows(4).position(|window| window == b"\r\n\r\n");
    let lf = head.windows(2).position(|window| window == b"\n\n");
    crlf.into_iter().chain(lf).min()
}

/// The response to a request head.
async fn route(head: &str, endpoint: &Endpoint) -> Vec<u8> {
    let mut words = head.lines().next().unwrap_or_default().split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    if method != "GET" {
        return response(405, "text/plain", "only GET is served\n");
    }
    // The query string, if any, changes nothing.
    let path = target.split('?').next().unwrap_or("");
    match path {
        "/metrics" => {
            let body = scrape(endpoint).await;
            response(200, "text/plain; version=0.0.4; charset=utf-8", &body)
        }
        "/health" => response(200, "text/plain", "ok\n"),
        "/ready" if endpoint.ready.load(Ordering::Acquire) => {
            response(200, "text/plain", "ready\n")
        }
        "/ready" => response(503, "text/plain", "starting\n"),
        _ => response(
            404,
            "text/plain",
            "not found: try /metrics, /health or /ready\n",
        ),
    }
}

/// Asks every other shard for its sample, samples shard 0 meanwhile, and
/// renders them all.
async fn scrape(endpoint: &Endpoint) -> String {
    let mut waiting = Vec::with_capacity(endpoint.peers.len());
    for peer in &endpoint.peers {
        let (reply, receiver) = oneshot::channel();
        if peer.send(ShardMessage::Collect { reply }).await.is_ok() {
            waiting.push(receiver);
        }
    }
    let mut samples = vec![sample(&endpoint.shard)];
    let mut shards_missing = endpoint.peers.len() - waiting.len();
    for receiver in waiting {
        match within_collect_time(receiver).await {
            Some(sample) => samples.push(sample),
            None => shards_missing += 1,
        }
    }
    samples.sort_by_key(|sample| sample.shard);
    render(&Scrape {
        samples: &samples,
        shards_missing: shards_missing as u64,
        disk: disk(&endpoint.shard.config.data_dir),
    })
}

async fn within_collect_time(receiver: oneshot::Receiver<ShardSample>) -> Option<ShardSample> {
    let limit = Duration::from_millis(METRICS_COLLECT_MILLISECONDS);
    futures_lite::future::or(async { receiver.await.ok() }, async {
        crate::rt::sleep(limit).await;
        None
    })
    .await
}

/// The data directory's filesystem: size and space available to corelog
/// (statvfs, a metadata call that does not touch the disk).
pub fn disk(path: &Path) -> Option<Disk> {
    let path = CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs writes only into `stats`; `path` is NUL-terminated.
    let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(path.as_ptr(), &mut stats) } != 0 {
        return None;
    }
    let block = stats.f_frsize as u64;
    Some(Disk {
        size_bytes: stats.f_blocks as u64 * block,
        free_bytes: stats.f_bavail as u64 * block,
    })
}

/// A whole HTTP/1.1 response that closes the connection.
fn response(status: u16, content_type: &str, body: &str) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "Service Unavailable",
    };
    let mut bytes = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    bytes.extend_from_slice(body.as_bytes());
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_ends_at_the_first_blank_line() {
        assert_eq!(find_end(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nrest"), Some(23));
        assert_eq!(find_end(b"GET / HTTP/1.0\n\n"), Some(14));
        assert_eq!(find_end(b"GET / HTTP/1.1\r\nHost: x\r\n"), None);
    }

    #[test]
    fn a_response_names_its_length_and_closes() {
        let text = String::from_utf8(response(503, "text/plain", "starting\n")).unwrap();
        assert!(text.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(text.contains("Content-Length: 9\r\nConnection: close\r\n\r\nstarting\n"));
    }
}
