//! Where the audit trail lives by default.
//!
//! The user's data folder, because the trail belongs to the operator's
//! account and must survive cache cleaners: `$XDG_DATA_HOME/exorun/audit.jsonl`,
//! else `~/.local/share/exorun/audit.jsonl`; `EXORUN_AUDIT_LOG` names the
//! file outright (for a shared or shipped location).

use std::ffi::OsString;
use std::path::PathBuf;

use crate::error::AuditError;

/// The variable that overrides the location.
pub const ENV_AUDIT_LOG: &str = "EXORUN_AUDIT_LOG";

/// The resolved default location of the audit log.
pub fn default_path() -> Result<PathBuf, AuditError> {
    path_from_env(|name| std::env::var_os(name))
}

/// [`default_path`] with the environment passed in, so it can be tested
/// without touching the process environment. Empty variables count as
/// unset, and a relative `XDG_DATA_HOME` is ignored as the XDG spec says.
pub fn path_from_env(var: impl Fn(&str) -> Option<OsString>) -> Result<PathBuf, AuditError> {
    let set = |name: &str| var(name).filter(|v| !v.is_empty());
    if let Some(path) = set(ENV_AUDIT_LOG) {
        return Ok(PathBuf::from(path));
    }
    let data_home = set("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| set("HOME").map(|home| PathBuf::from(home).join(".local/share")))
        .ok_or(AuditError::NoLocation)?;
    Ok(data_home.join("exorun").join("audit.jsonl"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn the_override_wins_over_everything() {
        let vars = [
            ("EXORUN_AUDIT_LOG", "/srv/audit/x.jsonl"),
            ("XDG_DATA_HOME", "/data"),
            ("HOME", "/home/a"),
        ];
        assert_eq!(
            path_from_env(env(&vars)).unwrap(),
            PathBuf::from("/srv/audit/x.jsonl")
        );
    }

    #[test]
    fn xdg_data_home_comes_before_home() {
        let vars = [("XDG_DATA_HOME", "/data"), ("HOME", "/home/a")];
        assert_eq!(
            path_from_env(env(&vars)).unwrap(),
            PathBuf::from("/data/exorun/audit.jsonl")
        );
    }

    #[test]
    fn home_is_used_when_xdg_is_unset_empty_or_relative() {
        for xdg in ["", "relative/dir"] {
            let vars = [
                ("XDG_DATA_HOME", xdg),
                ("HOME", "/home/a"),
                ("EXORUN_AUDIT_LOG", ""),
            ];
            assert_eq!(
                path_from_env(env(&vars)).unwrap(),
                PathBuf::from("/home/a/.local/share/exorun/audit.jsonl")
            );
        }
    }

    #[test]
    fn no_variables_at_all_is_an_error() {
        assert!(matches!(
            path_from_env(env(&[])),
            Err(AuditError::NoLocation)
        ));
    }
}
