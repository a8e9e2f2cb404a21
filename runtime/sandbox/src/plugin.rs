//! Loading a plugin: manifest → digest-checked component → import check →
//! `InstancePre`, done once so that each run only instantiates.

use std::path::Path;
use std::sync::Arc;

use exorun_policy::Manifest;
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, types::ComponentItem};

use crate::bindings::AutomationPre;
use crate::cache::CacheOutcome;
use crate::engine::Sandbox;
use crate::error::LoadError;
use crate::state::RunState;

/// Interfaces a plugin may import. Everything else, wasi:http above all, is
/// refused at load with the name of the offending import.
const ALLOWED_IMPORT_PREFIXES: &[&str] = &[
    "exorun:automation/",
    "wasi:cli/",
    "wasi:io/",
    "wasi:clocks/",
    "wasi:random/",
    "wasi:filesystem/",
    "wasi:sockets/",
];

/// A loaded plugin, ready to run any number of times concurrently.
#[derive(Clone)]
pub struct Plugin {
    pub(crate) inner: Arc<PluginInner>,
}

pub(crate) struct PluginInner {
    pub manifest: Arc<Manifest>,
    pub sha256: String,
    pub pre: AutomationPre<RunState>,
    pub cache: CacheOutcome,
}

impl Plugin {
    /// Loads the plugin whose manifest is at `path` (a file or a folder
    /// holding `exorun.toml`).
    pub fn load(sandbox: &Sandbox, path: &Path) -> Result<Plugin, LoadError> {
        let manifest = Manifest::load(path)?;
        Plugin::from_manifest(sandbox, manifest)
    }

    /// Loads the component a validated manifest names. The component must
    /// have exactly the digest the manifest pins.
    pub fn from_manifest(sandbox: &Sandbox, manifest: Manifest) -> Result<Plugin, LoadError> {
        manifest.within(&sandbox.config().ceilings)?;
        let path = &manifest.plugin.component;
        let bytes = std::fs::read(path).map_err(|source| LoadError::ReadComponent {
            path: path.clone(),
            source,
        })?;
        let actual = sha256_hex(&bytes);
        let Some(expected) = manifest.plugin.sha256.clone() else {
            return Err(LoadError::Unpinned {
                manifest: manifest.path.clone(),
            });
        };
        if actual != expected {
            return Err(LoadError::DigestMismatch {
                path: path.clone(),
                expected,
                actual,
            });
        }
        let engine = sandbox.engine();
        let compile_error = |e: wasmtime::Error| LoadError::Compile {
            path: path.clone(),
            message: format!("{e:#}"),
        };
        let (component, cache) = match sandbox.compile_cache() {
            Some(cache) => cache
                .load_or_compile(engine, &actual, &bytes)
                .map_err(compile_error)?,
            None => (
                Component::from_binary(engine, &bytes).map_err(compile_error)?,
                CacheOutcome::NotStored("no compile cache configured".into()),
            ),
        };
        drop(bytes);
        check_imports(engine, &component)?;
        let instance_pre = sandbox
            .inner
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Link {
                message: format!("{e:#}"),
            })?;
        let pre = AutomationPre::new(instance_pre).map_err(|e| LoadError::Link {
            message: format!("{e:#}"),
        })?;
        Ok(Plugin {
            inner: Arc::new(PluginInner {
                manifest: Arc::new(manifest),
                sha256: actual,
                pre,
                cache,
            }),
        })
    }

    pub fn manifest(&self) -> &Manifest {
        &self.inner.manifest
    }

    /// The same compiled plugin, its grants narrowed by the operator
    /// policy ([`Manifest::narrowed`]): runs of the result can do no more
    /// than runs of `self`, and each refusal names the layer that refused.
    pub fn narrowed(&self, policy: &exorun_policy::Policy) -> Plugin {
        if policy.is_empty() {
            return self.clone();
        }
        Plugin {
            inner: Arc::new(PluginInner {
                manifest: Arc::new(self.inner.manifest.narrowed(policy)),
                sha256: self.inner.sha256.clone(),
                pre: self.inner.pre.clone(),
                cache: self.inner.cache.clone(),
            }),
        }
    }

    /// Whether loading compiled the component or found it in the cache.
    pub fn cache_outcome(&self) -> &CacheOutcome {
        &self.inner.cache
    }

    /// The verified SHA-256 of the component, lowercase hex.
    pub fn sha256(&self) -> &str {
        &self.inner.sha256
    }
}

/// Names the first import outside the allowed interfaces, so the author
/// learns exactly what to remove (for example a stray wasi:http import).
fn check_imports(engine: &wasmtime::Engine, component: &Component) -> Result<(), LoadError> {
    for (name, item) in component.component_type().imports(engine) {
        let allowed = matches!(item.ty, ComponentItem::ComponentInstance(_))
            && ALLOWED_IMPORT_PREFIXES.iter().any(|p| name.starts_with(p));
        if !allowed {
            return Err(LoadError::UnsupportedImport {
                import: name.to_owned(),
            });
        }
    }
    Ok(())
}

/// Lowercase hex SHA-256, the form manifests pin.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
