use super::*;

fn entries(text: &str) -> Vec<Entry> {
    parse(text)
}

fn value_of<'a>(settings: &'a FileSettings, flag: &str) -> Option<&'a str> {
    settings
        .settings
        .iter()
        .find(|setting| setting.flag == flag)
        .map(|setting| setting.value.as_str())
}

#[test]
fn parses_comments_separators_and_continuations() {
    let parsed = entries(
        "# comment\n! also\n\n  num.partitions = 3\nlog.dirs: /a,/b\nlisteners=PLAINTEXT://127.0.0.1:1,\\\n   PLAINTEXT://127.0.0.1:2\nempty\n",
    );
    let pairs: Vec<(&str, &str, usize)> = parsed
        .iter()
        .map(|entry| (entry.key.as_str(), entry.value.as_str(), entry.line))
        .collect();
    assert_eq!(
        pairs,
        vec![
            ("num.partitions", "3", 4),
            ("log.dirs", "/a,/b", 5),
            (
                "listeners",
                "PLAINTEXT://127.0.0.1:1,PLAINTEXT://127.0.0.1:2",
                6
            ),
            ("empty", "", 8),
        ]
    );
}

#[test]
fn maps_kafka_names_to_flags() {
    let text = "log.dirs=/var/corelog,/other\nlisteners=PLAINTEXT://:9092\n\
        advertised.listeners=PLAINTEXT://broker.example:9092\nauto.create.topics.enable=FALSE\n\
        log.retention.hours=2\nlog.roll.hours=1\ncorelog.cores=4\ncorelog.fetch.cold.reads=copy\n";
    let settings = map("f", &entries(text)).unwrap();
    assert_eq!(value_of(&settings, "data_dir"), Some("/var/corelog"));
    assert_eq!(value_of(&settings, "listen"), Some("0.0.0.0:9092"));
    assert_eq!(value_of(&settings, "advertise"), Some("broker.example"));
    assert_eq!(value_of(&settings, "auto_create_topics"), Some("false"));
    assert_eq!(value_of(&settings, "log_retention_ms"), Some("7200000"));
    assert_eq!(value_of(&settings, "log_roll_ms"), Some("3600000"));
    assert_eq!(value_of(&settings, "cores"), Some("4"));
    assert_eq!(value_of(&settings, "fetch_cold_reads"), Some("copy"));
    assert!(settings.warnings.is_empty());
}

#[test]
fn the_most_precise_retention_key_wins_in_any_order() {
    let text = "log.retention.ms=5\nlog.retention.hours=1\nlog.retention.minutes=1\n";
    let settings = map("f", &entries(text)).unwrap();
    assert_eq!(value_of(&settings, "log_retention_ms"), Some("5"));
    let forever = map("f", &entries("log.retention.hours=-1\n")).unwrap();
    assert_eq!(value_of(&forever, "log_retention_ms"), Some("-1"));
}

#[test]
fn several_listeners_become_one_address_each() {
    let text = "listeners=PLAINTEXT://127.0.0.1:9092, PLAINTEXT://[::1]:9093\n";
    let settings = map("f", &entries(text)).unwrap();
    assert_eq!(
        value_of(&settings, "listen"),
        Some("127.0.0.1:9092,[::1]:9093")
    );
}

#[test]
fn unknown_and_unimplemented_keys_warn_once_each() {
    let text = "broker.id=0\nno.such.key=1\nnum.partitions=2\n";
    let settings = map("server.properties", &entries(text)).unwrap();
    assert_eq!(settings.warnings.len(), 2);
    assert!(settings.warnings[0].contains("server.properties:1: broker.id"));
    assert!(settings.warnings[0].contains("does not implement"));
    assert!(settings.warnings[1].contains("server.properties:2: no.such.key"));
    assert!(settings.warnings[1].contains("unknown"));
    assert_eq!(value_of(&settings, "num_partitions"), Some("2"));
}

#[test]
fn a_wrong_value_names_file_line_key_and_reason() {
    let text = "# header\nnum.partitions=3\nlog.segment.bytes=lots\n";
    let error = map("server.properties", &entries(text)).unwrap_err();
    assert_eq!(
        error,
        "server.properties:3: log.segment.bytes: 'lots' is not a non-negative integer"
    );
    for bad in [
        "listeners=127.0.0.1:9092",
        "listeners=SSL://127.0.0.1:9092",
        "listeners=PLAINTEXT://localhost:9092",
        "auto.create.topics.enable=yes",
        "message.max.bytes=-1",
        "log.retention.hours=-2",
        "corelog.fetch.cold.reads=mmap",
        "log.dirs=",
    ] {
        assert!(map("f", &entries(bad)).is_err(), "{bad} accepted");
    }
}

#[test]
fn flags_and_environment_win_over_the_file() {
    let settings = map("f", &entries("num.partitions=3\ncorelog.cores=2\n")).unwrap();
    let all = arguments(&settings, |_| false);
    assert_eq!(all, vec!["--num-partitions=3", "--cores=2"]);
    let without_cores = arguments(&settings, |flag| flag == "cores");
    assert_eq!(without_cores, vec!["--num-partitions=3"]);
}
