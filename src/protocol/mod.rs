//! Sans-IO protocol layer: frames, the RecordBatch header, error codes. Bytes
//! in, values out; nothing here touches a socket or a file.

pub mod batch;
pub mod decode_any;
pub mod error;
pub mod fetch_response;
pub mod frame;
pub mod records;

pub use error::ErrorCode;
