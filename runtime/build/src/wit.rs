//! The WIT contract, compiled into the build tool.
//!
//! Python and JavaScript guests generate their bindings from WIT at build
//! time. Embedding the contract means a plugin is always built against the
//! exact interface this exorun version's host links, wherever the plugin
//! folder lives.

use std::path::Path;

use crate::BuildError;

/// `wit/automation.wit` as this exorun was built with it.
pub const AUTOMATION_WIT: &str = include_str!("../../../wit/automation.wit");

/// The world every plugin targets.
pub const WORLD: &str = "automation";

/// Writes the contract into a fresh folder for a guest toolchain to read.
pub fn write_to(dir: &Path) -> Result<(), BuildError> {
    let path = dir.join("automation.wit");
    std::fs::write(&path, AUTOMATION_WIT).map_err(|source| BuildError::Io { path, source })
}
