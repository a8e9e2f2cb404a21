//! Tenants managed through the API: an admin adds a tenant (a connection
//! profile saved on the service's machine by `exorun connect
//! --save-profile`, or a simulated tenant), removes one that nothing
//! depends on any more, or makes the service sign in to one afresh (after
//! its certificate was rotated, say). serve.toml's tenants stay managed in
//! the file; those added here are kept in the history database.

use crate::audit::Action;
use crate::config::{ServeConfig, TenantConfig, TenantSource, check_name};
use crate::service::{ActionError, Actor, Service};
use crate::store::{PlanStatus, RunFilter, RunStatus, Store};

/// Tenants an admin may add through the API (each may start a simulated
/// tenant or hold a connection): a stolen admin session cannot exhaust the
/// machine with them.
const MAX_ADDED_TENANTS: usize = 100;

/// The tenants to serve at start: serve.toml's, then those added through
/// the API. A tenant the file now declares under the same name is the
/// file's: the API's row is dropped, with a warning.
pub fn served_tenants(config: &ServeConfig, store: &Store) -> anyhow::Result<Vec<TenantConfig>> {
    let mut tenants = config.tenants.clone();
    let added = store.blocking(|c| crate::store::tenants::list_tenants(c))?;
    for tenant in added {
        if config.tenant(&tenant.name).is_some() {
            tracing::warn!(
                tenant = %tenant.name,
                "serve.toml now declares a tenant an admin had added through the API; the file's wins"
            );
            let name = tenant.name.clone();
            store.blocking(move |c| crate::store::tenants::delete_tenant(c, &name).map(drop))?;
            continue;
        }
        tenants.push(tenant);
    }
    Ok(tenants)
}

/// A tenant as an admin asks to add it.
#[derive(Clone, Debug, Default)]
pub struct NewTenant {
    pub name: String,
    /// A connection profile on the service's machine.
    pub profile: Option<String>,
    /// A simulated tenant started inside the service.
    pub simulated: bool,
    pub sim_mailboxes: Option<usize>,
    pub sim_seed: Option<u64>,
    pub max_concurrent_runs: Option<u32>,
}

impl NewTenant {
    fn checked(&self, default_limit: u32, added_by: &str) -> Result<TenantConfig, ActionError> {
        let invalid = |m: String| ActionError::Invalid(m);
        check_name(&self.name, "tenant").map_err(invalid)?;
        let source = match (&self.profile, self.simulated) {
            (Some(profile), false) => {
                let ok = !profile.is_empty()
                    && profile.len() <= 64
                    && !profile.chars().any(char::is_control);
                if !ok || self.sim_mailboxes.is_some() || self.sim_seed.is_some() {
                    return Err(invalid(
                        "profile must name a connection profile (1-64 characters), without sim_mailboxes or sim_seed".to_owned(),
                    ));
                }
                TenantSource::Profile(profile.clone())
            }
            (None, true) => TenantSource::Simulated {
                mailboxes: match self.sim_mailboxes {
                    None => 50,
                    Some(n @ 1..=100_000) => n,
                    Some(n) => {
                        return Err(invalid(format!(
                            "sim_mailboxes = {n}: a simulated tenant has 1 to 100000 mailboxes"
                        )));
                    }
                },
                seed: self.sim_seed.unwrap_or(1),
            },
            (Some(_), true) => {
                return Err(invalid(
                    "give profile or simulated = true, not both".to_owned(),
                ));
            }
            (None, false) => {
                return Err(invalid(
                    "give profile (a profile saved by `exorun connect --save-profile` on the service's machine) or simulated = true".to_owned(),
                ));
            }
        };
        let max_concurrent_runs = match self.max_concurrent_runs {
            None => default_limit,
            Some(0) => return Err(invalid("max_concurrent_runs must be at least 1".to_owned())),
            Some(n) => n,
        };
        Ok(TenantConfig {
            name: self.name.clone(),
            source,
            max_concurrent_runs,
            added_by: Some(added_by.to_owned()),
        })
    }
}

impl Service {
    /// Adds a tenant after checking that it signs in; kept across
    /// restarts.
    pub async fn add_tenant(
        &self,
        actor: &Actor,
        new: NewTenant,
    ) -> Result<TenantConfig, ActionError> {
        let name = new.name.chars().take(64).collect::<String>();
        let label = self
            .require_admin(
                actor,
                "managing tenants",
                Action {
                    action: "tenant.add",
                    tenant: Some(&name),
                    ..Action::default()
                },
            )
            .await?;
        let action = Action {
            actor: &label,
            action: "tenant.add",
            tenant: Some(&name),
            ..Action::default()
        };
        if self.cluster.is_some() {
            let e = ActionError::Refused {
                rule: "config",
                message: "this service queues runs for workers ([queue] in serve.toml), which run only the tenants their config declares: add the tenant to the serve.toml the service and the workers share".to_owned(),
            };
            return Err(self.refuse(action, e).await);
        }
        let tenant = match new.checked(self.config.limits.per_tenant, &label) {
            Ok(tenant) => tenant,
            Err(e) => return Err(self.refuse(action, e).await),
        };
        let added = self
            .tenants
            .names()
            .len()
            .saturating_sub(self.config.tenants.len());
        if added >= MAX_ADDED_TENANTS {
            let e = ActionError::Conflict(format!(
                "{added} tenants were added through the API, the most the service takes; remove one first, or declare tenants in serve.toml"
            ));
            return Err(self.refuse(action, e).await);
        }
        if self.tenants.config(&tenant.name).is_some() {
            let e =
                ActionError::Conflict(format!("a tenant named '{}' exists already", tenant.name));
            return Err(self.refuse(action, e).await);
        }
        let connected = match self.tenants.connect_new(&tenant).await {
            Ok(connected) => connected,
            Err(e) => {
                let e = ActionError::Invalid(format!(
                    "tenant '{}' cannot sign in: {e:#}; nothing was added",
                    tenant.name
                ));
                return Err(self.refuse(action, e).await);
            }
        };
        let source = match &tenant.source {
            TenantSource::Profile(p) => format!("profile {p}"),
            TenantSource::Simulated { mailboxes, seed } => {
                format!("simulated ({mailboxes} mailboxes, seed {seed})")
            }
        };
        self.audit_or_refuse(Action {
            message: Some(format!(
                "{source}, at most {} run(s) at once",
                tenant.max_concurrent_runs
            )),
            ..action
        })
        .await?;
        let row = tenant.clone();
        let by = label.clone();
        self.store
            .call(move |c| crate::store::tenants::insert_tenant(c, &row, &by))
            .await?;
        self.tenants
            .add(tenant.clone(), connected)
            .await
            .map_err(ActionError::Conflict)?;
        Ok(tenant)
    }

    /// Removes a tenant added through the API, once no schedule, queued or
    /// running run, or plan waiting for approval needs it.
    pub async fn remove_tenant(&self, actor: &Actor, name: &str) -> Result<(), ActionError> {
        let label = self
            .require_admin(
                actor,
                "managing tenants",
                Action {
                    action: "tenant.remove",
                    tenant: Some(name),
                    ..Action::default()
                },
            )
            .await?;
        let action = Action {
            actor: &label,
            action: "tenant.remove",
            tenant: Some(name),
            ..Action::default()
        };
        let Some(tenant) = self.tenants.config(name) else {
            return Err(ActionError::NotFound(format!(
                "the service has no tenant '{name}'"
            )));
        };
        if tenant.added_by.is_none() {
            let e = ActionError::Refused {
                rule: "config",
                message: format!(
                    "tenant '{name}' is declared in serve.toml: remove it there and restart the service"
                ),
            };
            return Err(self.refuse(action, e).await);
        }
        if let Some(why) = self.tenant_in_use(name).await? {
            return Err(self.refuse(action, ActionError::Conflict(why)).await);
        }
        self.audit_or_refuse(action).await?;
        let owned = name.to_owned();
        self.store
            .call(move |c| crate::store::tenants::delete_tenant(c, &owned))
            .await?;
        self.tenants.remove(name).await;
        Ok(())
    }

    /// What still needs a tenant, said as the reason it cannot go.
    async fn tenant_in_use(&self, name: &str) -> Result<Option<String>, ActionError> {
        let owned = name.to_owned();
        let (schedules, runs, plans) = self
            .store
            .read(move |c| {
                let schedules: Vec<String> = crate::store::schedules::list_schedules(c)?
                    .into_iter()
                    .filter(|s| s.tenant == owned)
                    .map(|s| s.name)
                    .collect();
                let mut runs = 0;
                for status in [RunStatus::Queued, RunStatus::Running] {
                    let filter = RunFilter {
                        status: Some(status),
                        tenant: Some(owned.clone()),
                        limit: 100,
                        ..RunFilter::default()
                    };
                    runs += crate::store::runs::list_runs(c, &filter)?.len();
                }
                let plans = crate::store::runs::list_plans(c, Some(PlanStatus::Pending))?
                    .into_iter()
                    .filter(|p| p.tenant == owned)
                    .count();
                Ok((schedules, runs, plans))
            })
            .await?;
        Ok(if !schedules.is_empty() {
            Some(format!(
                "schedule(s) {} run against tenant '{name}': delete them first",
                schedules.join(", ")
            ))
        } else if runs > 0 {
            Some(format!(
                "{runs} run(s) against tenant '{name}' are queued or running: cancel them or let them finish first"
            ))
        } else if plans > 0 {
            Some(format!(
                "{plans} plan(s) for tenant '{name}' wait for approval: reject them or let them expire first"
            ))
        } else {
            None
        })
    }

    /// Forgets the tenant's connection and signs in afresh; the answer is
    /// the sign-in's error, if it failed (the tenant stays, and the next
    /// run tries again).
    pub async fn reconnect_tenant(
        &self,
        actor: &Actor,
        name: &str,
    ) -> Result<Option<String>, ActionError> {
        let label = self
            .require_admin(
                actor,
                "managing tenants",
                Action {
                    action: "tenant.reconnect",
                    tenant: Some(name),
                    ..Action::default()
                },
            )
            .await?;
        if self.tenants.config(name).is_none() {
            return Err(ActionError::NotFound(format!(
                "the service has no tenant '{name}'"
            )));
        }
        self.audit_or_refuse(Action {
            actor: &label,
            action: "tenant.reconnect",
            tenant: Some(name),
            ..Action::default()
        })
        .await?;
        self.tenants.disconnect(name).await;
        Ok(self.tenants.get(name).await.err().map(|e| format!("{e:#}")))
    }
}
