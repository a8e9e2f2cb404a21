//! An open paged read (`cmdlets.pages`), its own module because the WIT
//! bindings name it as the resource's host type and the host functions
//! that fill it are built on those bindings.

use std::time::Instant;

use exorun_cmdlet::PageStream;

/// An open paged read, owned by the plugin through a `pages` handle.
pub struct PageReader {
    pub(crate) stream: Box<dyn PageStream>,
    /// Objects handed out so far, for the record.
    pub(crate) objects: u64,
    /// Its record in the run's list of calls.
    pub(crate) index: usize,
    pub(crate) started: Instant,
}
