//! The tenants the service serves: connected on first use and kept, each
//! with its own token cache and adaptive limiter (the connection's), and
//! the operator policy that narrows every plugin run against it.
//!
//! How a connection is made (profiles, certificates, the built-in
//! simulator) is the embedding binary's business: it hands the service a
//! [`Connector`].

use std::collections::HashMap;
use std::sync::Arc;

use exorun_runner::Target;
use serde::Serialize;

use crate::config::TenantConfig;

/// A live connection to one tenant.
pub struct Connected {
    pub target: Target,
    /// Narrows every run against this tenant.
    pub policy: exorun_policy::Policy,
    /// What the dashboard shows of the connection that does not change:
    /// how it signs in.
    pub details: Vec<(String, String)>,
    /// What changes while it is connected (the token's and the
    /// certificate's expiry, throttling), read each time the tenant is
    /// shown.
    pub live: Option<LiveDetails>,
    /// Whatever must live as long as the connection (an in-process
    /// simulated tenant).
    pub keep_alive: Box<dyn std::any::Any + Send + Sync>,
}

/// Reads a connection's current state as `(label, text)` pairs.
pub type LiveDetails = std::sync::Arc<dyn Fn() -> Vec<(String, String)> + Send + Sync>;

#[async_trait::async_trait]
pub trait Connector: Send + Sync {
    async fn connect(&self, tenant: &TenantConfig) -> anyhow::Result<Connected>;
}

/// A tenant as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct TenantStatus {
    pub name: String,
    pub source: String,
    /// `None`: declared in serve.toml; else who added it through the API.
    pub added_by: Option<String>,
    pub max_concurrent_runs: u32,
    pub connected: bool,
    pub app_id: Option<String>,
    pub tenant: Option<String>,
    pub last_error: Option<String>,
    pub details: Vec<(String, String)>,
    pub running: u32,
}

/// The tenants the service serves: serve.toml's, and those an admin added
/// through the API (`crate::tenant_admin`), which can come and go while
/// the service runs.
pub struct Tenants {
    configs: parking_lot::RwLock<Vec<TenantConfig>>,
    connector: Arc<dyn Connector>,
    live: tokio::sync::Mutex<HashMap<String, Arc<Connected>>>,
    errors: parking_lot::Mutex<HashMap<String, String>>,
}

impl Tenants {
    pub fn new(configs: Vec<TenantConfig>, connector: Arc<dyn Connector>) -> Self {
        Tenants {
            configs: parking_lot::RwLock::new(configs),
            connector,
            live: tokio::sync::Mutex::new(HashMap::new()),
            errors: parking_lot::Mutex::new(HashMap::new()),
        }
    }

    pub fn config(&self, name: &str) -> Option<TenantConfig> {
        self.configs.read().iter().find(|t| t.name == name).cloned()
    }

    /// The tenant's own limit of runs at once, without copying its config
    /// (the queue asks on every decision).
    pub fn max_concurrent_runs(&self, name: &str) -> Option<u32> {
        self.configs
            .read()
            .iter()
            .find(|t| t.name == name)
            .map(|t| t.max_concurrent_runs)
    }

    pub fn names(&self) -> Vec<String> {
        self.configs.read().iter().map(|t| t.name.clone()).collect()
    }

    /// Serves one more tenant, with the connection that showed it signs
    /// in; a name taken is refused.
    pub async fn add(&self, config: TenantConfig, connected: Connected) -> Result<(), String> {
        let name = config.name.clone();
        {
            let mut configs = self.configs.write();
            if configs.iter().any(|t| t.name == name) {
                return Err(format!("a tenant named '{name}' exists already"));
            }
            configs.push(config);
        }
        self.live.lock().await.insert(name, Arc::new(connected));
        Ok(())
    }

    /// Stops serving a tenant: no new run finds it; runs holding its
    /// connection finish with it.
    pub async fn remove(&self, name: &str) -> Option<TenantConfig> {
        let removed = {
            let mut configs = self.configs.write();
            let index = configs.iter().position(|t| t.name == name)?;
            configs.remove(index)
        };
        self.disconnect(name).await;
        self.errors.lock().remove(name);
        Some(removed)
    }

    /// Forgets the tenant's connection (its token cache and limiter state):
    /// the next run signs in afresh, with the profile as it is now.
    /// Whether there was one.
    pub async fn disconnect(&self, name: &str) -> bool {
        self.live.lock().await.remove(name).is_some()
    }

    /// Connects a tenant that is not served yet, to check that it can be.
    pub async fn connect_new(&self, config: &TenantConfig) -> anyhow::Result<Connected> {
        self.connector.connect(config).await
    }

    /// The tenant's connection, made now if it was not yet (a failure is
    /// kept for the dashboard and tried again on the next run).
    pub async fn get(&self, name: &str) -> anyhow::Result<Arc<Connected>> {
        let Some(config) = self.config(name) else {
            anyhow::bail!("the service has no tenant '{name}'");
        };
        let mut live = self.live.lock().await;
        if let Some(c) = live.get(name) {
            return Ok(c.clone());
        }
        match self.connector.connect(&config).await {
            Ok(connected) => {
                let connected = Arc::new(connected);
                live.insert(name.to_owned(), connected.clone());
                self.errors.lock().remove(name);
                Ok(connected)
            }
            Err(e) => {
                self.errors.lock().insert(name.to_owned(), format!("{e:#}"));
                Err(e)
            }
        }
    }

    pub async fn status(&self, running: &HashMap<String, u32>) -> Vec<TenantStatus> {
        let live = self.live.lock().await;
        let errors = self.errors.lock().clone();
        let configs = self.configs.read().clone();
        configs
            .iter()
            .map(|t| {
                let c = live.get(&t.name);
                TenantStatus {
                    name: t.name.clone(),
                    source: match &t.source {
                        crate::config::TenantSource::Profile(p) => format!("profile {p}"),
                        crate::config::TenantSource::Simulated { mailboxes, seed } => {
                            format!("simulated ({mailboxes} mailboxes, seed {seed})")
                        }
                    },
                    added_by: t.added_by.clone(),
                    max_concurrent_runs: t.max_concurrent_runs,
                    connected: c.is_some(),
                    app_id: c.map(|c| c.target.app_id.clone()),
                    tenant: c.map(|c| c.target.name.clone()),
                    last_error: errors.get(&t.name).cloned(),
                    details: c
                        .map(|c| {
                            let mut details = c.details.clone();
                            if let Some(live) = &c.live {
                                details.extend(live());
                            }
                            details
                        })
                        .unwrap_or_default(),
                    running: running.get(&t.name).copied().unwrap_or(0),
                }
            })
            .collect()
    }
}
