//! Finding the operator policy for a run: the files in the policy folder
//! (`$EXORUN_POLICY_DIR`, else `policy/` in the user's config folder) and
//! any given with `--policy`. Every file found applies; none is ever
//! skipped for being broken, since a policy that silently stopped applying
//! would widen every plugin at once.
//!
//! - `default.toml`: every tenant.
//! - `<tenant>.toml` (`contoso.onmicrosoft.com.toml`): that tenant only.
//! - `--policy FILE` (repeatable): on top of both.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use exorun_policy::{Policy, PolicyFile};

#[derive(clap::Args, Clone, Debug, Default)]
pub struct PolicyArgs {
    /// An operator policy file applied on top of the policy folder's
    /// default.toml and <tenant>.toml (repeatable). A policy only narrows
    /// what plugins may do.
    #[arg(long = "policy", value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// The policy folder: `EXORUN_POLICY_DIR`, else `policy/` in the config
/// folder.
pub fn policy_dir() -> PathBuf {
    std::env::var_os("EXORUN_POLICY_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::profiles::config_dir().join("policy"))
}

/// The policy for runs against `tenant` (its domain, as in
/// `--organization`); `None` loads the default policy and `--policy` only.
pub fn load(args: &PolicyArgs, tenant: Option<&str>) -> anyhow::Result<Policy> {
    let dir = policy_dir();
    let mut policy = Policy::none();
    if let Some(file) = present(&dir.join("default.toml"), "default policy")? {
        policy.push(file);
    }
    if let Some(tenant) = tenant {
        let tenant = tenant.to_ascii_lowercase();
        if !is_domain(&tenant) {
            bail!(
                "'{tenant}' is not a tenant domain, so its policy file cannot be looked up; name the tenant by its domain (contoso.onmicrosoft.com)"
            );
        }
        let path = dir.join(format!("{tenant}.toml"));
        if let Some(file) = present(&path, &format!("policy for {tenant}"))? {
            policy.push(file);
        }
    }
    for path in &args.files {
        let file = PolicyFile::load(path, &path.display().to_string())
            .with_context(|| format!("reading the operator policy {}", path.display()))?;
        policy.push(file);
    }
    Ok(policy)
}

/// Tells the operator which policy files apply, on stderr.
pub fn notice(policy: &Policy) {
    for file in policy.files() {
        eprintln!(
            "exorun: operator policy: {} ({})",
            file.label,
            file.path.display()
        );
    }
}

/// Loads a policy file that exists; a file that exists but cannot be read
/// or is invalid is an error, never skipped.
fn present(path: &Path, label: &str) -> anyhow::Result<Option<PolicyFile>> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        _ => PolicyFile::load(path, label)
            .map(Some)
            .with_context(|| format!("reading the {label} ({})", path.display())),
    }
}

/// A DNS name: letters, digits, dashes and dots, no empty label. Keeps a
/// tenant name from reaching outside the policy folder.
fn is_domain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::is_domain;

    #[test]
    fn only_domains_name_a_tenant_policy_file() {
        assert!(is_domain("contoso.onmicrosoft.com"));
        assert!(is_domain("fabrikam-eu.onmicrosoft.com"));
        for bad in [
            "",
            "..",
            "../etc/passwd",
            "a/b",
            "a..b",
            ".a",
            "a b",
            "default\0",
        ] {
            assert!(!is_domain(bad), "{bad:?}");
        }
    }
}
