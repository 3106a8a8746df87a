//! The checksummed frame format of the metadata files
//! (`__cluster_metadata/metadata.log`, `quorum.log`, `quorum.snapshot`):
//! `[payload length u32][CRC-32C of payload u32][payload]`, big-endian.
//!
//! Invariants: a frame is accepted only whole and with a matching CRC; at
//! replay the file is cut after the last accepted frame, since whatever
//! follows was never synced (a writer syncs before it acknowledges), so
//! nothing acknowledged is lost by cutting it.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

pub const FRAME_HEADER_BYTES: usize = 8;

/// Appends one frame holding `payload` to `out`.
pub fn encode(out: &mut Vec<u8>, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&crc32c::crc32c(payload).to_be_bytes());
    out.extend_from_slice(payload);
}

/// The whole frames at the start of `bytes`, in order: each payload with
/// the offset just past its frame. Stops at the first frame that is short,
/// longer than `payload_bytes_max`, or fails its CRC.
pub fn frames(bytes: &[u8], payload_bytes_max: usize) -> Frames<'_> {
    Frames {
        bytes,
        position: 0,
        payload_bytes_max,
    }
}

pub struct Frames<'a> {
    bytes: &'a [u8],
    position: usize,
    payload_bytes_max: usize,
}

impl<'a> Iterator for Frames<'a> {
    /// (payload, offset of the byte after the frame)
    type Item = (&'a [u8], usize);

    fn next(&mut self) -> Option<Self::Item> {
        let bytes = self.bytes;
        let position = self.position;
        if position + FRAME_HEADER_BYTES > bytes.len() {
            return None;
        }
        let word = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        let length = word(position) as usize;
        let crc = word(position + 4);
        let start = position + FRAME_HEADER_BYTES;
        if length > self.payload_bytes_max || start + length > bytes.len() {
            return None;
        }
        let payload = &bytes[start..start + length];
        if crc32c::crc32c(payload) != crc {
            return None;
        }
        self.position = start + length;
        Some((payload, self.position))
    }
}

/// Reads `file` whole, hands each frame's payload to `accept` in order
/// until it returns false or the frames end, and cuts the file after the
/// last accepted frame (synced), so appends continue from a whole frame.
pub fn replay(
    file: &mut File,
    path: &Path,
    payload_bytes_max: usize,
    mut accept: impl FnMut(&[u8]) -> bool,
) -> io::Result<()> {
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(0))?;
    file.read_to_end(&mut bytes)?;
    let mut kept = 0;
    for (payload, end) in frames(&bytes, payload_bytes_max) {
        if !accept(payload) {
            break;
        }
        kept = end;
    }
    if kept < bytes.len() {
        tracing::warn!(
            "{}: cutting {} bytes of an unsynced tail at position {kept}",
            path.display(),
            bytes.len() - kept
        );
        file.set_len(kept as u64)?;
        file.sync_all()?;
    }
    Ok(())
}

/// Writes `frames` (already encoded) at the end of `file` and syncs them.
pub fn append_synced(file: &mut File, frames: &[u8]) -> io::Result<()> {
    file.write_all(frames)?;
    file.sync_data()
}

/// Replaces the file at `path` with `bytes` so that a crash leaves either
/// the old file or the new one: a temporary file, synced, renamed over it,
/// and the directory synced so the rename itself is durable.
pub fn replace_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = std::path::PathBuf::from(temporary);
    {
        let mut file = File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&temporary, path)?;
    let directory = path.parent().unwrap_or(Path::new("."));
    File::open(directory)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_stop_at_a_short_or_damaged_frame() {
        let mut bytes = Vec::new();
        encode(&mut bytes, b"one");
        encode(&mut bytes, b"two");
        let whole = bytes.len();
        encode(&mut bytes, b"three");
        let payloads: Vec<_> = frames(&bytes, 16).map(|(payload, _)| payload).collect();
        assert_eq!(payloads, vec![&b"one"[..], b"two", b"three"]);
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let ends: Vec<_> = frames(&bytes, 16).map(|(_, end)| end).collect();
        assert_eq!(ends.last(), Some(&whole));
        assert_eq!(frames(&bytes[..whole - 1], 16).count(), 1);
        assert_eq!(
            frames(&bytes, 2).count(),
            0,
            "a frame over the bound stops replay"
        );
    }
}
