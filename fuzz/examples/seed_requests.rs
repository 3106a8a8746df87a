//! Writes one request_decode corpus entry per advertised (API, version): the
//! default request of that API, encoded by kafka-protocol at that version,
//! in the target's input format. Run from the repository root:
//!
//!     cargo run --manifest-path fuzz/Cargo.toml --example seed_requests -- fuzz/corpus/request_decode

use corelog::protocol::decode_any::encode_default_request;
use corelog::server::api::SUPPORTED;

fn main() {
    let directory = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fuzz/corpus/request_decode".to_string());
    std::fs::create_dir_all(&directory).expect("the corpus directory can be made");
    let mut written = 0;
    for (api_key, versions) in SUPPORTED {
        for version in versions.clone() {
            let frame = encode_default_request(*api_key, version, 1)
                .expect("every advertised API has an encoder")
                .expect("a default request encodes");
            let mut entry = vec![*api_key as i16 as u8, version as u8];
            entry.extend_from_slice(&frame[4..]);
            let name = format!("default-{:02}-v{version:02}", *api_key as i16);
            std::fs::write(format!("{directory}/{name}"), entry).expect("the entry is written");
            written += 1;
        }
    }
    println!("seed_requests: {written} entries in {directory}");
}
