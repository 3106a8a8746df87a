//! Producer ids for idempotent producers, unique across shards, hosts and
//! restarts without asking another core or host: shard s of host H hands
//! out `(H * 2^32 + counter) * SHARDS_MAX + s` (host 0's ids are those a
//! single host always handed out, so an upgraded data dir never repeats
//! one), and reserves counters on disk a block at a time
//! (`data-dir/producer-ids/shard-<s>` holds the first counter not reserved).
//! A restart continues after the last reserved block, so an id is never
//! given twice even if the process was killed mid-block.
//!
//! Lives on its shard. The reservation write is a small blocking file write
//! once per `PRODUCER_ID_BLOCK` ids.

use std::cell::Cell;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::limits::{PRODUCER_ID_BLOCK, SHARDS_MAX};

pub struct ProducerIds {
    shard: u32,
    node_id: u32,
    path: PathBuf,
    /// (next counter, first counter not reserved); `None` until first use.
    counters: Cell<Option<(u64, u64)>>,
}

impl ProducerIds {
    pub fn new(data_dir: &Path, node_id: u32, shard: u32) -> ProducerIds {
        ProducerIds {
            shard,
            node_id,
            path: data_dir.join("producer-ids").join(format!("shard-{shard}")),
            counters: Cell::new(None),
        }
    }

    pub fn allocate(&self) -> io::Result<i64> {
        let (next, reserved) = match self.counters.get() {
            Some(counters) => counters,
            None => {
                let reserved = self.read_reserved()?;
                (reserved, reserved)
            }
        };
        let reserved = if next >= reserved {
            let reserved = next + PRODUCER_ID_BLOCK;
            self.write_reserved(reserved)?;
            reserved
        } else {
            reserved
        };
        self.counters.set(Some((next + 1, reserved)));
        // Counters stay below 2^32 per shard (4 billion producers), so
        // hosts' ranges never meet.
        let counter = (u64::from(self.node_id) << 32) + next;
        Ok((counter * SHARDS_MAX as u64 + u64::from(self.shard)) as i64)
    }

    fn read_reserved(&self) -> io::Result<u64> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => text.trim().parse::<u64>().map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} does not hold a number", self.path.display()),
                )
            }),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(0),
            Err(error) => Err(error),
        }
    }

    /// Write-then-rename, synced, so a crash leaves the old or new value.
    fn write_reserved(&self, reserved: u64) -> io::Result<()> {
        let dir = self.path.parent().expect("a file in a directory");
        std::fs::create_dir_all(dir)?;
        let temporary = self.path.with_extension("tmp");
        let mut file = std::fs::File::create(&temporary)?;
        writeln!(file, "{reserved}")?;
        file.sync_all()?;
        std::fs::rename(&temporary, &self.path)?;
        std::fs::File::open(dir)?.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_per_shard_and_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let first = ProducerIds::new(dir.path(), 0, 3);
        let ids: Vec<i64> = (0..3).map(|_| first.allocate().unwrap()).collect();
        assert_eq!(ids, vec![3, 1024 + 3, 2048 + 3]);
        // A restart skips the rest of the reserved block.
        let again = ProducerIds::new(dir.path(), 0, 3);
        assert_eq!(
            again.allocate().unwrap(),
            (PRODUCER_ID_BLOCK * 1024 + 3) as i64
        );
        let other = ProducerIds::new(dir.path(), 0, 0);
        assert_eq!(other.allocate().unwrap(), 0);
        // Host 2's shard 0 starts in a range of its own.
        let host = tempfile::tempdir().unwrap();
        let remote = ProducerIds::new(host.path(), 2, 0);
        assert_eq!(remote.allocate().unwrap(), (2i64 << 32) * 1024);
    }
}
