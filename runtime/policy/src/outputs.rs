//! `[outputs]`: the one capability that touches the host's disk. A plugin
//! that declares it gets a fresh folder for each run to write report files
//! into (CSV, JSON, HTML), capped in bytes and files; a plugin without it
//! gets no filesystem at all.

use crate::limits::{Ceilings, LimitError};

/// Most MiB any manifest may ask for, whatever the operator allows.
pub const MAX_OUTPUTS_MIB: u64 = 4096;
/// Most files (and folders) any manifest may ask for.
pub const MAX_OUTPUTS_FILES: u64 = 10_000;

/// What a plugin's output folder may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outputs {
    /// Total size of the files in the folder (their length, so a sparse
    /// file counts whole).
    pub max_mib: u64,
    /// Files and folders in it.
    pub max_files: u64,
}

impl Default for Outputs {
    /// What an empty `[outputs]` table grants: a report or two.
    fn default() -> Self {
        Outputs {
            max_mib: 16,
            max_files: 100,
        }
    }
}

impl Outputs {
    pub fn max_bytes(&self) -> u64 {
        self.max_mib.saturating_mul(1 << 20)
    }

    /// Refuses a plugin that asks for more than the operator allows.
    pub fn within(&self, ceilings: &Ceilings) -> Result<(), LimitError> {
        if self.max_mib > ceilings.outputs_mib {
            return Err(LimitError {
                what: "MiB of output files",
                table: "outputs",
                key: "max-mib",
                flag: "--max-outputs-mib",
                asked: self.max_mib,
                ceiling: ceilings.outputs_mib,
            });
        }
        Ok(())
    }
}
