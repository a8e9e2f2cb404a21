//! Where the non-Rust toolchains live.
//!
//! Python and JavaScript plugins are built with tools the exorun checkout
//! installs for itself (`make toolchains`): componentize-py in the checkout's
//! `.venv`, componentize-js and esbuild under `sdk/js/node_modules`. A plugin
//! folder may live anywhere, so the checkout is found by walking up from the
//! plugin folder first and from the `exorun` binary second; with neither
//! (an installed binary), the SDKs compiled into exorun are unpacked into
//! its data folder and used ([`crate::bundled`]). Environment variables
//! override each piece for installs that keep them elsewhere.

use std::path::{Path, PathBuf};

/// The exorun checkout (or install prefix) that holds the SDKs.
#[derive(Clone, Debug)]
pub struct Toolchain {
    root: Option<PathBuf>,
}

impl Toolchain {
    /// Finds the checkout nearest to `plugin_dir`, then nearest to the
    /// running executable, else the SDKs bundled into exorun.
    pub fn discover(plugin_dir: &Path) -> Toolchain {
        let from_plugin = std::path::absolute(plugin_dir).ok();
        let from_exe = std::env::current_exe().ok();
        let root = [from_plugin, from_exe]
            .into_iter()
            .flatten()
            .find_map(|start| {
                start
                    .ancestors()
                    .find(|d| is_checkout(d))
                    .map(Path::to_path_buf)
            })
            .or_else(bundled);
        Toolchain { root }
    }

    /// A toolchain rooted at `root` (tests and benchmarks pass the checkout).
    pub fn at(root: &Path) -> Toolchain {
        Toolchain {
            root: Some(root.to_path_buf()),
        }
    }

    pub fn root(&self) -> Option<&Path> {
        self.root.as_deref()
    }

    /// The `exorun` Python package (sdk/python), put on the guest's path.
    pub fn python_sdk(&self) -> Option<PathBuf> {
        env_path("EXORUN_PYTHON_SDK")
            .or_else(|| self.under("sdk/python"))
            .filter(|p| p.join("exorun").is_dir())
    }

    /// The componentize-py executable: `EXORUN_COMPONENTIZE_PY`, the
    /// checkout's `.venv`, or the one on PATH.
    pub fn componentize_py(&self) -> PathBuf {
        env_path("EXORUN_COMPONENTIZE_PY")
            .or_else(|| {
                self.under(".venv/bin/componentize-py")
                    .filter(|p| p.is_file())
            })
            .unwrap_or_else(|| PathBuf::from("componentize-py"))
    }

    /// The JavaScript SDK folder, holding `build.mjs` and its node_modules.
    pub fn js_sdk(&self) -> Option<PathBuf> {
        env_path("EXORUN_JS_SDK")
            .or_else(|| self.under("sdk/js"))
            .filter(|p| p.join("build.mjs").is_file())
    }

    /// The Node.js executable (`EXORUN_NODE` or `node` on PATH).
    pub fn node(&self) -> PathBuf {
        env_path("EXORUN_NODE").unwrap_or_else(|| PathBuf::from("node"))
    }

    fn under(&self, rel: &str) -> Option<PathBuf> {
        self.root.as_ref().map(|r| r.join(rel))
    }
}

/// The SDKs bundled into exorun, unpacked into its data folder.
fn bundled() -> Option<PathBuf> {
    let data = crate::bundled::default_data_dir()?;
    match crate::bundled::unpack(&data) {
        Ok(root) => Some(root),
        Err(error) => {
            tracing::warn!(%error, "cannot unpack the SDKs bundled into exorun");
            None
        }
    }
}

/// A folder is an exorun checkout when it has the WIT contract and the SDKs.
pub(crate) fn is_checkout(dir: &Path) -> bool {
    dir.join("wit/automation.wit").is_file() && dir.join("sdk").is_dir()
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}
