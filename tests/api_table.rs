//! The table of APIs (`server::api`), proved against committed requests:
//! for every (API, version) that ApiVersions advertises there is a golden
//! request frame in `tests/golden/<api>/v<N>.hex`, and no golden file for
//! a version that is not advertised; each one decodes through the decode
//! path dispatch uses (`server::dispatch::decode`), and a real broker
//! answers each with a response frame carrying its correlation id rather
//! than closing the connection.
//!
//! The golden frames were written once by the ignored test
//! `write_missing_golden_requests` (`cargo test --test api_table --
//! --ignored`), which writes only the files that are missing: a new API or
//! version gets its frames, committed ones never change. Versions the codec
//! encodes come from the wire-fuzz templates (tests/common/frames.rs:
//! populated arrays and strings, not defaults); the older versions the
//! broker reads by hand are encoded here field by field from Kafka 3.9's
//! schemas.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use common::frames::{self, FUZZ_GROUP, FUZZ_TOPICS};
use common::{create_topic, Broker};
use corelog::server::api::SUPPORTED;
use corelog::server::dispatch;
use corelog::server::reply::Outcome;
use kafka_protocol::messages::ApiKey;

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden");

/// `ListOffsets` -> `list_offsets`: the directory of an API's frames.
fn directory(api_key: ApiKey) -> String {
    let mut name = String::new();
    for (index, letter) in format!("{api_key:?}").chars().enumerate() {
        if letter.is_ascii_uppercase() && index > 0 {
            name.push('_');
        }
        name.push(letter.to_ascii_lowercase());
    }
    name
}

fn golden_path(api_key: ApiKey, version: i16) -> PathBuf {
    PathBuf::from(GOLDEN)
        .join(directory(api_key))
        .join(format!("v{version}.hex"))
}

/// Each golden frame has a correlation id of its own, so a reply to the
/// wrong request cannot pass.
fn correlation_id(api_key: ApiKey, version: i16) -> i32 {
    0x0a70_0000 | (api_key as i32) << 8 | version as i32
}

fn advertised() -> Vec<(ApiKey, i16)> {
    SUPPORTED
        .iter()
        .flat_map(|(api_key, versions)| versions.clone().map(|version| (*api_key, version)))
        .collect()
}

/// (directory, version) of every golden file committed.
fn committed() -> BTreeSet<(String, i16)> {
    let mut found = BTreeSet::new();
    for api in std::fs::read_dir(GOLDEN).expect("tests/golden exists") {
        let api = api.unwrap();
        for file in std::fs::read_dir(api.path()).unwrap() {
            let file = file.unwrap().file_name().into_string().unwrap();
            let version = file
                .strip_prefix('v')
                .and_then(|rest| rest.strip_suffix(".hex"))
                .and_then(|number| number.parse().ok())
                .unwrap_or_else(|| panic!("{file}: golden files are named v<N>.hex"));
            found.insert((api.file_name().into_string().unwrap(), version));
        }
    }
    found
}

/// A golden frame: the request frame without its length prefix, in hex,
/// whitespace ignored.
fn read_golden(api_key: ApiKey, version: i16) -> Vec<u8> {
    let path = golden_path(api_key, version);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

#[test]
fn golden_requests_are_exactly_the_advertised_versions() {
    let expected: BTreeSet<(String, i16)> = advertised()
        .into_iter()
        .map(|(api_key, version)| (directory(api_key), version))
        .collect();
    let found = committed();
    let missing: Vec<_> = expected.difference(&found).collect();
    let extra: Vec<_> = found.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "advertised without a golden request (`cargo test --test api_table -- --ignored` \
         writes them): {missing:?}; golden requests for versions not advertised: {extra:?}"
    );
}

#[test]
fn every_golden_request_decodes_as_dispatch_decodes_it() {
    for (api_key, version) in advertised() {
        let frame = Bytes::from(read_golden(api_key, version));
        match dispatch::decode(frame) {
            Ok(context) => assert_eq!(
                (context.api_key, context.version, context.correlation_id),
                (api_key, version, correlation_id(api_key, version)),
            ),
            Err(Outcome::Close(why)) => panic!("{api_key:?} v{version}: {why}"),
            Err(_) => panic!("{api_key:?} v{version}: refused without a close"),
        }
    }
}

#[test]
fn a_real_broker_answers_every_golden_request() {
    let broker = Broker::start_with(1, &["--group-initial-rebalance-delay-ms", "0"]);
    let mut admin = broker.client(0);
    for topic in FUZZ_TOPICS {
        assert_eq!(create_topic(&mut admin, topic, 2, &[]), 0);
    }
    for (api_key, version) in advertised() {
        let frame = read_golden(api_key, version);
        let mut client = broker.client(0);
        client
            .stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut framed = (frame.len() as i32).to_be_bytes().to_vec();
        framed.extend_from_slice(&frame);
        client.stream.write_all(&framed).unwrap();
        let response = client
            .read_frame()
            .unwrap_or_else(|error| panic!("{api_key:?} v{version}: no response ({error})"));
        assert!(
            response.len() >= 4,
            "{api_key:?} v{version}: a short response"
        );
        assert_eq!(
            i32::from_be_bytes(response[..4].try_into().unwrap()),
            correlation_id(api_key, version),
            "{api_key:?} v{version}: the response answers another request"
        );
    }
    assert!(
        !broker.log().contains("closing connection from"),
        "{}",
        broker.log()
    );
}

// ---------------------------------------------------------------------------
// The generator of the golden frames.

#[test]
#[ignore = "writes the golden requests that are missing; run once per new API or version"]
fn write_missing_golden_requests() {
    let templates = frames::templates();
    let mut written = 0;
    for (api_key, version) in advertised() {
        let path = golden_path(api_key, version);
        if path.exists() {
            continue;
        }
        let frame = golden_frame(&templates, api_key, version);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let lines: Vec<String> = frame
            .chunks(32)
            .map(|line| line.iter().map(|byte| format!("{byte:02x}")).collect())
            .collect();
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        written += 1;
    }
    println!("wrote {written} golden requests under {GOLDEN}");
}

fn golden_frame(templates: &[frames::Template], api_key: ApiKey, version: i16) -> Vec<u8> {
    let codec_min = api_key.valid_versions().min;
    let template = |version: i16| {
        templates
            .iter()
            .find(|template| (template.api_key, template.version) == (api_key, version))
            .unwrap_or_else(|| panic!("no template of {api_key:?} v{version}"))
    };
    if version >= codec_min {
        let mut frame = frames::encode_header(api_key, version, correlation_id(api_key, version));
        frame.extend_from_slice(&template(version).body[template(version).header_length..]);
        return frame;
    }
    let mut frame = Fields::default();
    frame
        .i16(api_key as i16)
        .i16(version)
        .i32(correlation_id(api_key, version))
        .string("api-table");
    match (api_key, version) {
        // Same layout as the codec's oldest version (the handler reads
        // them as that version).
        (ApiKey::CreateTopics, 1) | (ApiKey::DeleteTopics, 0) | (ApiKey::OffsetFetch, 0) => {
            let oldest = template(codec_min);
            frame
                .bytes
                .extend_from_slice(&oldest.body[oldest.header_length..]);
        }
        (ApiKey::Produce, _) => produce_message_sets(&mut frame, version),
        (ApiKey::Fetch, _) => fetch_message_sets(&mut frame, version),
        (ApiKey::ListOffsets, 0) => list_offsets_v0(&mut frame),
        (ApiKey::OffsetForLeaderEpoch, 0 | 1) => offset_for_leader_epoch_v0_v1(&mut frame),
        (ApiKey::CreateTopics, 0) => create_topics_v0(&mut frame),
        (ApiKey::DescribeConfigs, 0) => describe_configs_v0(&mut frame),
        (ApiKey::OffsetCommit, 0 | 1) => offset_commit_v0_v1(&mut frame, version),
        _ => panic!("{api_key:?} v{version} is read by hand: add its encoder here"),
    }
    frame.bytes
}

/// The classic (non-flexible) wire types, written big-endian.
#[derive(Default)]
struct Fields {
    bytes: Vec<u8>,
}

impl Fields {
    fn i8(&mut self, value: i8) -> &mut Self {
        self.bytes.push(value as u8);
        self
    }
    fn i16(&mut self, value: i16) -> &mut Self {
        self.bytes.extend_from_slice(&value.to_be_bytes());
        self
    }
    fn i32(&mut self, value: i32) -> &mut Self {
        self.bytes.extend_from_slice(&value.to_be_bytes());
        self
    }
    fn i64(&mut self, value: i64) -> &mut Self {
        self.bytes.extend_from_slice(&value.to_be_bytes());
        self
    }
    fn string(&mut self, value: &str) -> &mut Self {
        self.i16(value.len() as i16);
        self.bytes.extend_from_slice(value.as_bytes());
        self
    }
    /// i32 length, then the bytes.
    fn blob(&mut self, value: &[u8]) -> &mut Self {
        self.i32(value.len() as i32);
        self.bytes.extend_from_slice(value);
        self
    }
}

/// A message set of two messages (magic 0 for Produce v0-v1, 1 for v2).
fn message_set(magic: i8) -> Vec<u8> {
    let mut set = Fields::default();
    let messages: [(i64, &[u8], &[u8]); 2] = [(0, b"key", b"golden-value"), (1, b"", b"second")];
    for (offset, key, value) in messages {
        let mut message = Fields::default();
        message.i8(magic).i8(0);
        if magic == 1 {
            message.i64(1_700_000_000_000 + offset);
        }
        message.blob(key).blob(value);
        let checksum = crc32fast::hash(&message.bytes);
        set.i64(offset)
            .i32(4 + message.bytes.len() as i32)
            .i32(checksum as i32);
        set.bytes.extend_from_slice(&message.bytes);
    }
    set.bytes
}

fn produce_message_sets(frame: &mut Fields, version: i16) {
    let magic = if version >= 2 { 1 } else { 0 };
    frame.i16(-1).i32(1500).i32(2);
    for topic in FUZZ_TOPICS {
        frame.string(topic).i32(1).i32(1).blob(&message_set(magic));
    }
}

fn fetch_message_sets(frame: &mut Fields, version: i16) {
    frame.i32(-1).i32(20).i32(1);
    if version >= 3 {
        frame.i32(1 << 20);
    }
    frame.i32(2);
    for topic in FUZZ_TOPICS {
        frame.string(topic).i32(2);
        for partition in 0..2 {
            frame.i32(partition).i64(0).i32(64 * 1024);
        }
    }
}

fn list_offsets_v0(frame: &mut Fields) {
    frame.i32(-1).i32(1).string(FUZZ_TOPICS[0]).i32(2);
    for (partition, timestamp) in [(0, -1), (1, -2)] {
        frame.i32(partition).i64(timestamp).i32(3);
    }
}

fn offset_for_leader_epoch_v0_v1(frame: &mut Fields) {
    frame.i32(1).string(FUZZ_TOPICS[0]).i32(2);
    for partition in 0..2 {
        frame.i32(partition).i32(0);
    }
}

fn create_topics_v0(frame: &mut Fields) {
    frame.i32(1).string("api-table-v0").i32(2).i16(1);
    frame.i32(0); // no explicit assignments
    frame.i32(2);
    frame.string("retention.ms").string("86400000");
    frame.string("cleanup.policy").string("delete");
    frame.i32(5000);
}

fn describe_configs_v0(frame: &mut Fields) {
    frame.i32(1).i8(2).string(FUZZ_TOPICS[0]);
    frame.i32(2).string("retention.ms").string("cleanup.policy");
}

fn offset_commit_v0_v1(frame: &mut Fields, version: i16) {
    frame.string(FUZZ_GROUP);
    if version >= 1 {
        frame.i32(-1).string("");
    }
    frame.i32(1).string(FUZZ_TOPICS[0]).i32(2);
    for partition in 0..2 {
        frame.i32(partition).i64(40 + partition as i64);
        if version >= 1 {
            frame.i64(1_700_000_000_000);
        }
        frame.string("golden-metadata");
    }
}
