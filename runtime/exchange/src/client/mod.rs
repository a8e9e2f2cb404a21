//! Calling Exchange: the InvokeCommand backend and its parts.

pub mod deadline;
pub mod encoding;
pub mod errors;
pub mod invoke;
pub mod limiter;
pub mod paging;
pub mod retry;
