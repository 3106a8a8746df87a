//! `corelog serve --config FILE`: Kafka's property names start the real
//! broker, `CORELOG_*` variables override the file and flags override both,
//! and a wrong value is refused with its line before anything starts.
//!
//! The broker is started here directly (tests/common's `Broker` always
//! passes `--listen` and `--cores` flags, which would win over the file).

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{name, Client};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::MetadataRequest;

/// A broker started from a properties file, stopped (cleanly) on drop.
struct FileBroker {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl FileBroker {
    /// Writes `properties` (with `log.dirs` and a loopback ephemeral
    /// listener prepended) and starts `serve --config` with `environment`
    /// and `flags`; returns once the broker printed its ready line.
    fn start(properties: &str, environment: &[(&str, &str)], flags: &[&str]) -> FileBroker {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("server.properties");
        let text = format!(
            "log.dirs={}\nlisteners=PLAINTEXT://127.0.0.1:0\n\
             advertised.listeners=PLAINTEXT://127.0.0.1:9092\ncorelog.cores=1\n{properties}",
            dir.path().join("data").display()
        );
        std::fs::write(&path, text).expect("properties file");
        let mut child = serve_command(&path, environment, flags)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.path().join("stderr")).expect("stderr file"))
            .spawn()
            .expect("corelog starts");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut port = None;
        for line in lines.by_ref() {
            let line = line.expect("line");
            if let Some(rest) = line.strip_prefix("corelog: node ") {
                port = rest.rsplit(':').next().and_then(|port| port.parse().ok());
            }
            if line.starts_with("corelog: ready") {
                break;
            }
        }
        std::thread::spawn(move || for _ in lines {});
        FileBroker {
            child,
            port: port.expect("the broker printed its node before ready"),
            _dir: dir,
        }
    }

    /// What the broker wrote to stderr so far.
    fn stderr(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("stderr")).unwrap_or_default()
    }

    /// Partitions of `topic`, auto-created by this Metadata request.
    fn auto_created_partitions(&self, topic: &str) -> usize {
        let mut client = Client::connect(self.port);
        let request = MetadataRequest::default()
            .with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(name(topic)))
            ]))
            .with_allow_auto_topic_creation(true);
        let response = client.send(&request, 9);
        assert_eq!(response.topics[0].error_code, 0);
        response.topics[0].partitions.len()
    }
}

impl Drop for FileBroker {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
    }
}

/// `corelog serve --config path`, with no `CORELOG_*` variable inherited.
fn serve_command(path: &Path, environment: &[(&str, &str)], flags: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_corelog"));
    for (key, _) in std::env::vars() {
        if key.starts_with("CORELOG_") {
            command.env_remove(key);
        }
    }
    command
        .arg("serve")
        .arg("--config")
        .arg(path)
        .args(flags)
        .envs(environment.iter().copied());
    command
}

#[test]
fn the_file_sets_num_partitions_and_the_listener() {
    let broker = FileBroker::start("num.partitions=3\nbroker.id=0\n", &[], &[]);
    assert_eq!(broker.auto_created_partitions("from-file"), 3);
    let warnings = broker.stderr();
    assert!(
        warnings.contains("server.properties:6: broker.id is a Kafka broker property"),
        "{warnings}"
    );
}

#[test]
fn the_environment_overrides_the_file_and_a_flag_overrides_both() {
    let environment = [("CORELOG_NUM_PARTITIONS", "2")];
    let broker = FileBroker::start("num.partitions=3\n", &environment, &[]);
    assert_eq!(broker.auto_created_partitions("from-environment"), 2);
    drop(broker);
    let flags = ["--num-partitions", "4"];
    let broker = FileBroker::start("num.partitions=3\n", &environment, &flags);
    assert_eq!(broker.auto_created_partitions("from-flag"), 4);
}

#[test]
fn a_wrong_value_is_refused_with_its_line_and_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("server.properties");
    let text = format!(
        "# corelog\nlog.dirs={}\nnum.partitions=many\nbroker.id=0\n",
        dir.path().join("data").display()
    );
    std::fs::write(&path, text).expect("properties file");
    let output = serve_command(&path, &[], &[])
        .output()
        .expect("corelog runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "a wrong value started: {stderr}");
    assert!(
        stderr.contains("server.properties:3: num.partitions: 'many'"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!dir.path().join("data").exists(), "refused before start-up");
}
