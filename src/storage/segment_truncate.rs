//! Cutting a segment's tail: what `Log::truncate_to` does to the segment
//! holding the truncation point (a follower dropping what its leader does
//! not have).
//!
//! Invariants: the cut is at a batch boundary, so the segment stays a run
//! of whole contiguous batches; the bytes past the cut in its last block are
//! overwritten with zeros and the file synced before the segment's memory
//! says it ends there, so neither a read nor a later recovery scan can see
//! a dropped batch again.

use std::io;

use super::{align_down, align_up, record_batch, scan, Segment, SegmentState};
use crate::rt::file::{OpenSegmentFile, SegmentFile};
use crate::storage::index::{OffsetIndex, TimeIndex};

impl<F: SegmentFile> Segment<F> {
    /// Drops every batch holding an offset at or after `offset` (a batch
    /// that straddles `offset` goes whole, so the segment may end below
    /// it). Returns the segment's next offset afterwards. The indexes,
    /// size and newest timestamp are rebuilt from the batches kept.
    pub async fn truncate_to(&self, offset: i64) -> io::Result<i64> {
        let Some(first_dropped) = self.find_batch(offset.max(self.base_offset)).await? else {
            return Ok(self.next_offset());
        };
        let cut = first_dropped.position;
        self.unseal()?;
        let file = self.file.writing().await?;
        let mut state = SegmentState {
            size: 0,
            tail: Vec::new(),
            next_offset: self.base_offset,
            max_timestamp: -1,
            offset_index: OffsetIndex::default(),
            time_index: TimeIndex::default(),
            bytes_since_index: 0,
        };
        let scanned = scan(&file, 0, cut, false, |summary| {
            record_batch(&mut state, self.base_offset, summary);
            true
        })
        .await?;
        assert_eq!(scanned, cut, "the batches below a batch boundary are whole");
        let block_start = align_down(cut);
        state.tail = file
            .read_at(block_start, (cut - block_start) as usize)
            .await?
            .to_vec();
        if !state.tail.is_empty() {
            // The last block again, zeros after the cut.
            let mut block = self
                .file
                .allocate(align_up(state.tail.len()), state.tail.len());
            block.as_mut_slice()[..state.tail.len()].copy_from_slice(&state.tail);
            file.write_at(block, block_start).await?;
        }
        file.truncate(align_up(cut as usize) as u64).await?;
        drop(file);
        self.file.sync().await?;
        debug_assert_eq!(state.size, cut);
        let next_offset = state.next_offset;
        *self.state.borrow_mut() = state;
        Ok(next_offset)
    }
}
