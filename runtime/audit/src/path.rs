//! Where the audit trail lives by default.
//!
//! The user's data folder, because the trail belongs to the operator's
//! account and must survive cache cleaners: `$XDG_DATA_HOME/exorun/audit.jsonl`,
//! else `~/.local/share/exorun/audit.jsonl`; `EXORUN_AUDIT_LOG` names the
//! file outright (for a shared or shipped location).

use std::path::PathBuf;

use etcetera::BaseStrategy;

use crate::error::AuditError;

/// The variable that overrides the location.
pub const ENV_AUDIT_LOG: &str = "EXORUN_AUDIT_LOG";

/// The resolved default location of the audit log. An empty
/// `EXORUN_AUDIT_LOG` counts as unset; the XDG rules (an absolute
/// `XDG_DATA_HOME`, else `~/.local/share`) are `etcetera`'s.
pub fn default_path() -> Result<PathBuf, AuditError> {
    if let Some(path) = std::env::var_os(ENV_AUDIT_LOG).filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    let folders = etcetera::choose_base_strategy().map_err(|_| AuditError::NoLocation)?;
    Ok(folders.data_dir().join("exorun").join("audit.jsonl"))
}
