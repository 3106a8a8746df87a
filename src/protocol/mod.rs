//! Sans-IO protocol layer: frames, the RecordBatch header, error codes,
//! response pieces. Bytes in, values out; nothing here touches a socket or a
//! file.
//!
//! Invariants: nothing here imports the runtime (`rt`) or anything else that
//! does IO; a response that sends file regions is generic over the region type
//! (`piece::Region`), which the runtime supplies.

pub mod batch;
pub mod decode_any;
pub mod error;
pub mod fetch_response;
pub mod frame;
pub mod legacy_records;
pub mod legacy_requests;
pub mod piece;
pub mod records;

pub use error::ErrorCode;
