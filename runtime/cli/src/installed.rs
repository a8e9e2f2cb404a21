//! Where installed plugins and the trust policy live, and how a plugin
//! argument (a folder, or the name of an installed plugin) becomes a
//! validated manifest.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use exorun_package::store::Store;
use exorun_policy::Manifest;

/// `--plugins-dir`: the store of installed plugins and its `exorun.lock`.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct StoreArg {
    /// Folder of installed plugins and their exorun.lock (default:
    /// plugins/ in the user's exorun data folder).
    #[arg(long, value_name = "DIR", env = "EXORUN_PLUGINS_DIR")]
    pub plugins_dir: Option<PathBuf>,
}

impl StoreArg {
    pub fn store(&self) -> anyhow::Result<Store> {
        let root = match &self.plugins_dir {
            Some(dir) => dir.clone(),
            None => crate::profiles::data_dir()?.join("plugins"),
        };
        Ok(Store::new(root))
    }
}

/// `--trust-policy`: the operator's trusted publisher keys.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct TrustArg {
    /// The trust policy file (default: trust.toml in the user's exorun
    /// config folder).
    #[arg(long, value_name = "FILE", env = "EXORUN_TRUST_POLICY")]
    pub trust_policy: Option<PathBuf>,
}

impl TrustArg {
    pub fn path(&self) -> PathBuf {
        self.trust_policy
            .clone()
            .unwrap_or_else(|| crate::profiles::config_dir().join("trust.toml"))
    }
}

/// A folder or `exorun.toml` on disk wins; otherwise the argument names an
/// installed plugin, loaded from the store after checking it against the
/// lock.
pub fn resolve(arg: &Path, store: &StoreArg) -> anyhow::Result<Manifest> {
    let text = arg.to_string_lossy();
    if text.contains('/') {
        return Ok(Manifest::load(arg)?);
    }
    if std::fs::symlink_metadata(arg).is_ok() {
        // A bare name that is both a folder here and an installed plugin
        // is not guessed at: which code runs must never depend on the
        // folder someone happens to be in.
        let installed = store
            .store()
            .ok()
            .and_then(|s| s.read().ok())
            .is_some_and(|plugins| plugins.iter().any(|p| p.name == text));
        if installed {
            bail!(
                "'{text}' is both a folder here and an installed plugin; say ./{text} for the folder"
            );
        }
        return Ok(Manifest::load(arg)?);
    }
    let store = store.store()?;
    let plugins = store.read().context("reading the installed plugins")?;
    let Some(entry) = plugins.into_iter().find(|p| p.name == text) else {
        bail!(
            "there is no plugin folder '{text}' here and no installed plugin of that name (`exorun list` shows what is installed in {})",
            store.root().display()
        );
    };
    store
        .load(&entry.current)
        .with_context(|| format!("loading the installed plugin {text}"))
}
