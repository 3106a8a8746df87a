//! The count of client connections open on one shard, against which the
//! listener enforces the shard's share of the open-file budget.
//!
//! Invariants: the count is the number of connections accepted and not yet
//! finished on this shard (the listener counts one up on accept and down
//! when the connection's task ends); it never goes below zero (asserted).

use std::cell::Cell;

#[derive(Default)]
pub struct Connections {
    open: Cell<usize>,
}

impl Connections {
    pub fn count(&self) -> usize {
        self.open.get()
    }

    /// A connection was accepted.
    pub fn opened(&self) {
        self.open.set(self.open.get() + 1);
    }

    /// A connection ended.
    pub fn closed(&self) {
        let open = self.open.get();
        assert!(open > 0, "a connection closed that was never counted open");
        self.open.set(open - 1);
    }
}
