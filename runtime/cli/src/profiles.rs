//! Named connection profiles, so `exorun run --profile contoso plugin`
//! needs nothing else. They live in `config.toml` in the user's config
//! folder (`$XDG_CONFIG_HOME/exorun`, else `~/.config/exorun`), or in the
//! file `EXORUN_CONFIG` names:
//!
//! ```toml
//! [profiles.contoso]
//! organization = "contoso.onmicrosoft.com"
//! app-id = "00000000-0000-0000-0000-000000000000"
//! certificate-thumbprint = "84E05C1D98BCE3A5421D225B140B36E86A3D5534"
//! ```
//!
//! Passwords are never stored here; `certificate-password-file` may point
//! at a file readable only by the user.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    profiles: BTreeMap<String, ProfileFields>,
}

/// The user's exorun config folder.
pub fn config_dir() -> PathBuf {
    // Without a home folder at all, the current folder.
    etcetera::choose_base_strategy()
        .map(|folders| etcetera::BaseStrategy::config_dir(&folders))
        .unwrap_or_else(|_| PathBuf::from("."))
        .join("exorun")
}

/// The user's exorun data folder (`$XDG_DATA_HOME/exorun`, else
/// `~/.local/share/exorun`): the audit trail and run outputs live here.
pub fn data_dir() -> anyhow::Result<PathBuf> {
    match exorun_build::bundled::default_data_dir() {
        Some(dir) => Ok(dir),
        None => bail!("no data folder: set XDG_DATA_HOME or HOME, or pass --outputs-dir"),
    }
}

/// Where the tenant limiter's pacing is shared between this user's exorun
/// processes on this machine: `$XDG_STATE_HOME/exorun/pace` (else
/// `~/.local/state/exorun/pace`). `None` without a home folder, and then
/// each process paces alone.
pub fn pace_dir() -> Option<PathBuf> {
    let folders = etcetera::choose_base_strategy().ok()?;
    let state = etcetera::BaseStrategy::state_dir(&folders)
        .unwrap_or_else(|| etcetera::BaseStrategy::data_dir(&folders));
    Some(state.join("exorun").join("pace"))
}

/// The config file: `EXORUN_CONFIG`, else `config.toml` in [`config_dir`].
pub fn config_file() -> PathBuf {
    std::env::var_os("EXORUN_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| config_dir().join("config.toml"))
}

/// Where `--certificate-thumbprint` looks by default: the analogue of the
/// Windows personal certificate store.
pub fn default_certificate_store() -> PathBuf {
    config_dir().join("certificates")
}

/// Reads one profile by name.
pub fn load(name: &str) -> anyhow::Result<ProfileFields> {
    load_from(&config_file(), name)
}

/// Reads one profile by name from the config file at `path`.
fn load_from(path: &Path, name: &str) -> anyhow::Result<ProfileFields> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "profile '{name}' needs the config file {}, which cannot be read",
            path.display()
        )
    })?;
    let mut config: ConfigFile =
        toml::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
    match config.profiles.remove(name) {
        Some(profile) => Ok(profile),
        None => {
            let known: Vec<&str> = config.profiles.keys().map(String::as_str).collect();
            bail!(
                "there is no profile '{name}' in {}; it has: {}",
                path.display(),
                if known.is_empty() {
                    "(none)".to_owned()
                } else {
                    known.join(", ")
                }
            )
        }
    }
}

/// Profile fields, the same names as the flags.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ProfileFields {
    pub organization: Option<String>,
    pub app_id: Option<String>,
    pub certificate_file_path: Option<PathBuf>,
    pub certificate_password_file: Option<PathBuf>,
    pub certificate_thumbprint: Option<String>,
    pub certificate_store: Option<PathBuf>,
    pub exchange_environment_name: Option<String>,
    pub authority: Option<String>,
    pub exchange_url: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub managed_identity: Option<bool>,
    pub managed_identity_account_id: Option<String>,
    /// A file holding an access token obtained elsewhere.
    pub access_token_file: Option<PathBuf>,
    pub delegated_organization: Option<String>,
    pub graph_url: Option<String>,
}

/// Creates `dir` (and its parents) readable by this user only, 0700, for
/// files that hold keys or say where they are; `what` names it in the error.
pub fn create_private_dir(dir: &Path, what: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {what} {}", dir.display()))
}

/// What a profile's certificate becomes after a rotation.
pub enum CertificateSwitch<'a> {
    Thumbprint(&'a str),
    File(&'a Path),
}

/// Points profile `name` at a new certificate, keeping everything else in
/// the file (comments and order included), and replaces the file
/// atomically: a crash leaves the old file or the new one, never half.
pub fn switch_certificate(name: &str, to: CertificateSwitch<'_>) -> anyhow::Result<PathBuf> {
    let path = config_file();
    switch_certificate_in(&path, name, to)?;
    Ok(path)
}

fn switch_certificate_in(path: &Path, name: &str, to: CertificateSwitch<'_>) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .with_context(|| format!("reading {}", path.display()))?;
    let Some(profile) = doc
        .get_mut("profiles")
        .and_then(|p| p.get_mut(name))
        .and_then(|p| p.as_table_like_mut())
    else {
        bail!(
            "there is no profile '{name}' in {} any more",
            path.display()
        );
    };
    match to {
        CertificateSwitch::Thumbprint(thumbprint) => {
            profile.insert("certificate-thumbprint", toml_edit::value(thumbprint));
            profile.remove("certificate-file-path");
        }
        CertificateSwitch::File(file) => {
            let Some(file) = file.to_str() else {
                bail!("the new certificate's path {} is not UTF-8", file.display());
            };
            profile.insert("certificate-file-path", toml_edit::value(file));
            profile.remove("certificate-thumbprint");
        }
    }
    exorun_package::store::write_atomic(path, doc.to_string().as_bytes())
        .with_context(|| format!("replacing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switching_a_profiles_certificate_keeps_the_rest_of_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        std::fs::write(
            &file,
            "# mine\n[profiles.contoso]\norganization = \"contoso.onmicrosoft.com\" # home\ncertificate-thumbprint = \"AA\"\n\n[profiles.other]\norganization = \"x.onmicrosoft.com\"\n",
        )
        .unwrap();
        switch_certificate_in(&file, "contoso", CertificateSwitch::Thumbprint("BB")).unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(
            text,
            "# mine\n[profiles.contoso]\norganization = \"contoso.onmicrosoft.com\" # home\ncertificate-thumbprint = \"BB\"\n\n[profiles.other]\norganization = \"x.onmicrosoft.com\"\n"
        );
        switch_certificate_in(
            &file,
            "contoso",
            CertificateSwitch::File(Path::new("/c/new.pfx")),
        )
        .unwrap();
        let profile = load_from(&file, "contoso").unwrap();
        assert_eq!(
            profile.certificate_file_path.as_deref(),
            Some(Path::new("/c/new.pfx"))
        );
        assert_eq!(profile.certificate_thumbprint, None);
        assert!(
            switch_certificate_in(&file, "nobody", CertificateSwitch::Thumbprint("CC")).is_err()
        );
    }
}
