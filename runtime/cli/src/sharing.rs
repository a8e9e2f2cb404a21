//! What the shared-plugin commands have in common: how to reach a
//! registry, where a plugin comes from (a registry or a bundle), secrets
//! read from files or a prompt, and the audit record of each decision.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use exorun_audit::{AuditLog, Entry, Event, PackageEvent, PluginRef, RunInfo};
use exorun_package::RegistryRef;
use exorun_package::fetch::Fetch;
use exorun_package::layout::Bundle;
use exorun_package::remote::{Registry, RegistryOptions};
use exorun_package::store::RegistrySettings;
use secrecy::SecretString;

/// How to reach a registry. Credentials come from a file, never the
/// command line.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct RegistryArgs {
    /// Speak plain HTTP to the registry (a registry on this machine); the
    /// default is HTTPS.
    #[arg(long)]
    pub plain_http: bool,
    /// A PEM file of CA certificates to trust for the registry's HTTPS.
    #[arg(long, value_name = "FILE")]
    pub registry_ca: Option<PathBuf>,
    /// User name for the registry's basic authentication.
    #[arg(long, value_name = "USER", env = "EXORUN_REGISTRY_USER")]
    pub registry_user: Option<String>,
    /// File holding the registry password.
    #[arg(long, value_name = "FILE", env = "EXORUN_REGISTRY_PASSWORD_FILE")]
    pub registry_password_file: Option<PathBuf>,
}

impl RegistryArgs {
    /// What the lock remembers of these flags (paths made absolute; never
    /// the password itself).
    pub fn settings(&self) -> RegistrySettings {
        let absolute = |p: &PathBuf| std::path::absolute(p).unwrap_or_else(|_| p.clone());
        RegistrySettings {
            plain_http: self.plain_http,
            ca: self.registry_ca.as_ref().map(absolute),
            user: self.registry_user.clone(),
            password_file: self.registry_password_file.as_ref().map(absolute),
        }
    }

    /// These flags, or, when none was given, the settings the lock
    /// remembers from the install.
    pub fn or_remembered(&self, remembered: Option<&RegistrySettings>) -> RegistryArgs {
        let given = self.plain_http
            || self.registry_ca.is_some()
            || self.registry_user.is_some()
            || self.registry_password_file.is_some();
        match remembered {
            Some(r) if !given => RegistryArgs {
                plain_http: r.plain_http,
                registry_ca: r.ca.clone(),
                registry_user: r.user.clone(),
                registry_password_file: r.password_file.clone(),
            },
            _ => self.clone(),
        }
    }

    pub fn options(&self) -> anyhow::Result<RegistryOptions> {
        Ok(self.settings().options()?)
    }

    pub fn registry(&self, reference: &RegistryRef) -> anyhow::Result<Registry> {
        Ok(Registry::new(reference, &self.options()?)?)
    }
}

/// A bundle file or layout folder when `text` names one on disk, else a
/// registry reference.
pub fn open_source(text: &str, registry: &RegistryArgs) -> anyhow::Result<Box<dyn Fetch>> {
    let path = Path::new(text);
    if std::fs::symlink_metadata(path).is_ok() {
        return Ok(Box::new(Bundle::open(path)?));
    }
    let reference = RegistryRef::parse(text).with_context(|| {
        format!("'{text}' is neither a bundle file on disk nor a registry reference")
    })?;
    Ok(Box::new(registry.registry(&reference)?))
}

/// A secret from a file: its first line, without the line end.
pub fn read_secret_file(file: &Path, what: &str) -> anyhow::Result<SecretString> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("reading {what} from {}", file.display()))?;
    Ok(SecretString::from(
        text.lines().next().unwrap_or("").to_owned(),
    ))
}

/// A secret from a file, else a prompt on a terminal (twice when making a
/// new one).
pub fn read_secret(
    file: Option<&Path>,
    what: &str,
    flag: &str,
    confirm: bool,
) -> anyhow::Result<SecretString> {
    if let Some(file) = file {
        return read_secret_file(file, what);
    }
    if !std::io::stdin().is_terminal() {
        bail!("{what} is needed: give {flag} FILE (it is never taken on the command line)");
    }
    let first = rpassword::prompt_password(format!("{what}: "))
        .with_context(|| format!("reading {what} from the terminal"))?;
    if confirm {
        let second = rpassword::prompt_password(format!("{what} (again): "))
            .with_context(|| format!("reading {what} from the terminal"))?;
        if first != second {
            bail!("the two entries of {what} differ");
        }
    }
    Ok(SecretString::from(first))
}

/// Appends one package decision to the audit trail.
pub fn audit(path: &Path, plugin: PluginRef, event: PackageEvent) -> anyhow::Result<()> {
    append_audit(path, &RunInfo::new(plugin, "", ""), &Event::Package(event))
}

/// Appends one record that is not part of a plugin run (a package
/// decision, a credential step) to the audit trail at `path`.
pub fn append_audit(path: &Path, run: &RunInfo, event: &Event) -> anyhow::Result<()> {
    let mut log = AuditLog::open(path)
        .with_context(|| format!("opening the audit log {}", path.display()))?;
    log.append(Entry::new(run, event))
        .with_context(|| format!("writing the audit log {}", path.display()))?;
    Ok(())
}

/// Asks a yes/no question on stderr and reads the answer from stdin (a
/// terminal or a pipe); anything but y/yes, or the end of input, is no.
pub fn ask(question: &str) -> bool {
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    if std::io::stdin().read_line(&mut answer).is_err() {
        return false;
    }
    // A terminal echoes the answer; a pipe does not, so say what was read.
    if !std::io::stdin().is_terminal() {
        eprintln!("{}", answer.trim());
    }
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}
