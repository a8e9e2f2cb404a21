//! Installed plugins, as the service runs them: read from the plugin
//! store (checked against its lock on every load) and compiled once per
//! component digest.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use exorun_package::store::Store as PluginStore;
use exorun_sandbox::{Plugin, Sandbox};
use serde::Serialize;

/// A plugin as the API shows it: what it is and what it may do.
#[derive(Clone, Debug, Serialize)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
    pub package: String,
    pub reference: String,
    pub digest: String,
    pub signer: String,
    pub installed: String,
    pub pending_upgrade: Option<String>,
    pub approval: crate::config::Approval,
    pub inputs: Vec<InputInfo>,
    /// The permissions as `exorun inspect --json` shows them.
    pub permissions: serde_json::Value,
    /// The same as `exorun inspect` prints them.
    pub permission_lines: Vec<String>,
    /// Why the installed plugin cannot be loaded, if it cannot.
    pub error: Option<String>,
    pub writes: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct InputInfo {
    pub name: String,
    pub kind: String,
    pub required: bool,
    pub sensitive: bool,
    pub description: String,
}

pub struct Plugins {
    store: PluginStore,
    sandbox: Arc<Sandbox>,
    compiled: tokio::sync::Mutex<HashMap<String, Plugin>>,
}

impl Plugins {
    pub fn new(dir: PathBuf, sandbox: Arc<Sandbox>) -> Self {
        Plugins {
            store: PluginStore::new(dir),
            sandbox,
            compiled: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The store of installed plugins and its lock.
    pub fn store(&self) -> &PluginStore {
        &self.store
    }

    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// The installed plugin's manifest, checked against the lock, without
    /// compiling its component (what an API request needs to check inputs).
    pub async fn manifest(&self, name: &str) -> anyhow::Result<exorun_policy::Manifest> {
        let store = self.store.clone();
        let owned = name.to_owned();
        tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let plugins = store.read()?;
            let Some(entry) = plugins.into_iter().find(|p| p.name == owned) else {
                anyhow::bail!(
                    "no plugin '{owned}' is installed in {} (install it with `exorun install --plugins-dir`)",
                    store.root().display()
                );
            };
            Ok(store.load(&entry.current)?)
        })
        .await?
    }

    /// The installed plugin, compiled. Checked against the lock each time,
    /// so a plugin upgraded or removed under the service is seen at once.
    pub async fn load(&self, name: &str) -> anyhow::Result<Plugin> {
        let manifest = self.manifest(name).await?;
        let digest = manifest.plugin.sha256.clone().unwrap_or_default();
        let key = format!("{name}@{digest}");
        let mut compiled = self.compiled.lock().await;
        if let Some(plugin) = compiled.get(&key) {
            return Ok(plugin.clone());
        }
        let sandbox = self.sandbox.clone();
        let plugin = tokio::task::spawn_blocking(move || Plugin::from_manifest(&sandbox, manifest))
            .await??;
        compiled.retain(|k, _| !k.starts_with(&format!("{name}@")));
        compiled.insert(key, plugin.clone());
        Ok(plugin)
    }

    /// Every installed plugin, with what it may do.
    pub async fn list(
        &self,
        config: &crate::config::ServeConfig,
    ) -> anyhow::Result<Vec<PluginInfo>> {
        let store = self.store.clone();
        let entries = tokio::task::spawn_blocking(move || store.read()).await??;
        let mut out = Vec::new();
        for entry in entries {
            let store = self.store.clone();
            let current = entry.current.clone();
            let manifest = tokio::task::spawn_blocking(move || store.load(&current)).await?;
            let (inputs, permissions, permission_lines, writes, error) = match &manifest {
                Ok(m) => (
                    m.inputs()
                        .iter()
                        .map(|i| InputInfo {
                            name: i.name.clone(),
                            kind: i.ty.name().to_owned(),
                            required: i.required,
                            sensitive: i.sensitive,
                            description: i.description.clone(),
                        })
                        .collect(),
                    m.grants().permissions_json(),
                    m.grants().permission_lines(),
                    !m.capabilities().is_read_only(),
                    None,
                ),
                Err(e) => (
                    Vec::new(),
                    serde_json::Value::Null,
                    Vec::new(),
                    false,
                    Some(e.to_string()),
                ),
            };
            out.push(PluginInfo {
                approval: config.plugin(&entry.name).approval,
                name: entry.name,
                version: entry.current.version,
                package: entry.package,
                reference: entry.current.reference,
                digest: entry.current.digest,
                signer: entry
                    .current
                    .signer
                    .map(|s| format!("{s}"))
                    .unwrap_or_else(|| "unsigned".to_owned()),
                installed: entry.installed,
                pending_upgrade: entry.pending.map(|p| p.version.version),
                inputs,
                permissions,
                permission_lines,
                writes,
                error,
            });
        }
        Ok(out)
    }
}
