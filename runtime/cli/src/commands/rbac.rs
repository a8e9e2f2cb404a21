//! `exorun rbac plan` and `exorun rbac check`: an Exchange role for the app
//! that allows exactly what the plugins need, so the tenant itself refuses
//! the rest (docs/exchange-role.md).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use exorun_cmdlet::{Backend, Call, CmdletError};
use exorun_policy::Manifest;
use exorun_rbac::{Names, Needs, Plan, TenantRbac, parents};
use serde_json::{Value as Json, json};

use crate::installed::{StoreArg, resolve};
use crate::operator_policy::{self, PolicyArgs};
use crate::tenant::{self, TenantArgs};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Print the PowerShell that makes a management role, scope and role
    /// group allowing exactly what the plugins need, for the app alone.
    Plan(Args),
    /// Compare the tenant's generated role, scope and role group with the
    /// plan; exit 1 when they differ.
    Check(Args),
}

#[derive(clap::Args)]
pub struct Args {
    /// Plugin folders or installed plugin names; without any, every
    /// installed plugin.
    plugins: Vec<PathBuf>,
    /// Prefix of the objects made: roles "<prefix> <parent role>", scope
    /// "<prefix> write scope", role group "<prefix> plugins".
    #[arg(long, default_value = "exorun")]
    prefix: String,
    /// The app's service principal (enterprise application) object id in
    /// Entra; by default the one its access token names.
    #[arg(long, value_name = "ID")]
    service_principal_object_id: Option<String>,
    /// Print JSON: the plan's calls and notes, or the drift.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    tenant: TenantArgs,
    #[command(flatten)]
    policy: PolicyArgs,
    #[command(flatten)]
    store: StoreArg,
}

pub fn main(command: Command) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match command {
        Command::Plan(args) => runtime.block_on(plan(args)),
        Command::Check(args) => runtime.block_on(check(args)),
    }
}

/// What both commands start from: the connection, the names and the plan.
struct Planned {
    tenant: tenant::Tenant,
    names: Names,
    plan: Plan,
    needs: Needs,
    /// The Entra roles the app's token carries (`wids`).
    entra_roles: Vec<String>,
}

async fn planned(args: &Args) -> anyhow::Result<Planned> {
    let tenant = tenant::connect(&args.tenant).await?;
    eprintln!("exorun: {}", tenant.notice);
    let policy = operator_policy::load(&args.policy, Some(tenant.connection.target_tenant()))?;
    operator_policy::notice(&policy);
    let manifests = manifests(args)?;
    let narrowed: Vec<Manifest> = manifests.iter().map(|m| m.narrowed(&policy)).collect();
    let mut needs = Needs::of(&narrowed.iter().collect::<Vec<_>>());
    let claims = tenant
        .connection
        .token_claims()
        .await
        .context("signing in as the app")?;
    let object_id = match (&args.service_principal_object_id, &claims.oid) {
        (Some(id), _) | (None, Some(id)) => id.clone(),
        (None, None) => bail!(
            "the app's access token names no service principal (oid); give its enterprise application's object id with --service-principal-object-id"
        ),
    };
    let names = Names {
        prefix: args.prefix.clone(),
        app_id: tenant.app_id.clone(),
        service_principal_object_id: object_id,
    };
    let backend = tenant.backend.clone();
    // Exchange's scopes name a group by its distinguished name.
    if let Some(filter) = &needs.write_scope {
        let mut dns = BTreeMap::new();
        for group in filter.groups() {
            let found = read(
                backend.as_ref(),
                Call::new("Get-Recipient").param("Identity", group),
            )
            .await
            .with_context(|| format!("reading the group '{group}' of a [scope]"))?;
            let dn = found
                .first()
                .and_then(|g| g["DistinguishedName"].as_str())
                .with_context(|| {
                    format!("the group '{group}' of a [scope] has no distinguished name")
                })?;
            dns.insert(group.to_owned(), dn.to_owned());
        }
        needs.write_scope =
            Some(filter.with_groups(&|g| dns.get(g).cloned().unwrap_or_else(|| g.to_owned())));
    }
    let mut parent_entries = BTreeMap::new();
    for (cmdlet, _) in needs.cmdlets.values() {
        let Some(parent) = parents::parent_of(cmdlet) else {
            continue;
        };
        if parent_entries.contains_key(parent) {
            continue;
        }
        let entries = role_entries(backend.as_ref(), parent)
            .await?
            .with_context(|| format!("the tenant has no role '{parent}'"))?;
        parent_entries.insert(parent.to_owned(), entries);
    }
    let plan = exorun_rbac::plan(&needs, &parent_entries, &names)?;
    Ok(Planned {
        tenant,
        names,
        plan,
        needs,
        entra_roles: claims.wids,
    })
}

/// The plugins given, or every installed one.
fn manifests(args: &Args) -> anyhow::Result<Vec<Manifest>> {
    if !args.plugins.is_empty() {
        return args
            .plugins
            .iter()
            .map(|p| resolve(p, &args.store))
            .collect();
    }
    let store = args.store.store()?;
    let installed = store.read().context("reading the installed plugins")?;
    if installed.is_empty() {
        bail!("no plugin is installed; name plugin folders to plan for");
    }
    // Loaded from the entries just read: resolving each by name would read
    // the lock again per plugin, and refuse a name that is also a folder here.
    installed
        .iter()
        .map(|p| {
            store
                .load(&p.current)
                .with_context(|| format!("loading the installed plugin {}", p.name))
        })
        .collect()
}

async fn read(backend: &dyn Backend, call: Call) -> Result<Vec<Json>, CmdletError> {
    let objects = backend.invoke(&call).await?;
    Ok(objects
        .iter()
        .filter_map(|o| serde_json::from_str(o).ok())
        .collect())
}

/// A role's entries (cmdlet → parameters); `None` when there is no such
/// role.
async fn role_entries(
    backend: &dyn Backend,
    role: &str,
) -> anyhow::Result<Option<BTreeMap<String, Vec<String>>>> {
    let call = Call::new("Get-ManagementRoleEntry").param("Identity", format!("{role}\\*"));
    let objects = match read(backend, call).await {
        Ok(objects) => objects,
        Err(CmdletError::NotFound { .. }) => return Ok(None),
        Err(e @ CmdletError::Forbidden { .. }) => {
            return Err(e).with_context(|| {
                format!(
                    "reading the entries of role '{role}': this connection may not read Exchange's role configuration. Once the app's own Entra role is gone that is as it should be: run `exorun rbac` with a connection that may (a profile of an admin app, or one with the Global Reader role)"
                )
            });
        }
        Err(e) => return Err(e).with_context(|| format!("reading the entries of role '{role}'")),
    };
    Ok(Some(
        objects
            .iter()
            .filter_map(|e| {
                let name = e["Name"].as_str()?.to_owned();
                let parameters = e["Parameters"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|p| p.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                Some((name, parameters))
            })
            .collect(),
    ))
}

/// The Entra roles that make a role group pointless while the app has
/// them: Exchange adds them to whatever the role group allows.
const BROAD_ROLES: &[&str] = &[
    "Global Administrator",
    "Exchange Administrator",
    "Exchange Recipient Administrator",
];

fn broad_roles(wids: &[String]) -> Vec<&'static str> {
    super::connect::ROLE_NAMES
        .iter()
        .filter(|(id, name)| {
            BROAD_ROLES.contains(name) && wids.iter().any(|w| w.eq_ignore_ascii_case(id))
        })
        .map(|(_, name)| *name)
        .collect()
}

async fn plan(args: Args) -> anyhow::Result<ExitCode> {
    let planned = planned(&args).await?;
    if args.json {
        let out = json!({
            "plugins": planned.needs.plugins,
            "calls": planned.plan.calls,
            "script": planned.plan.calls.iter().map(exorun_rbac::powershell::command).collect::<Vec<_>>(),
            "notes": planned.plan.notes,
            "entraRoles": broad_roles(&planned.entra_roles),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    let heading = format!(
        "exorun rbac plan for {} on {}: exactly what {} need{}.",
        planned.names.app_id,
        planned.tenant.name,
        planned.needs.plugins.join(", "),
        if planned.needs.plugins.len() == 1 {
            "s"
        } else {
            ""
        }
    );
    print!(
        "{}",
        exorun_rbac::powershell::script(&planned.plan, &heading)
    );
    for role in broad_roles(&planned.entra_roles) {
        eprintln!(
            "exorun: the app holds the Entra role {role}: remove it once the role group is in place, or the role group narrows nothing"
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn check(args: Args) -> anyhow::Result<ExitCode> {
    let planned = planned(&args).await?;
    let backend = planned.tenant.backend.clone();
    let backend = backend.as_ref();
    let mut tenant = TenantRbac::default();
    for role in planned.plan.roles.keys() {
        tenant
            .roles
            .insert(role.clone(), role_entries(backend, role).await?);
    }
    let optional = |result: Result<Vec<Json>, CmdletError>| match result {
        Ok(mut objects) if !objects.is_empty() => Ok(Some(objects.remove(0))),
        Ok(_) | Err(CmdletError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    };
    let scope = optional(
        read(
            backend,
            Call::new("Get-ManagementScope").param("Identity", planned.names.scope()),
        )
        .await,
    )?;
    tenant.write_scope = scope.and_then(|s| s["RecipientFilter"].as_str().map(str::to_owned));
    let group = optional(
        read(
            backend,
            Call::new("Get-RoleGroup").param("Identity", planned.names.group()),
        )
        .await,
    )?;
    let strings = |v: &Json| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    tenant.group = group.map(|g| {
        (
            strings(&g["Roles"]),
            strings(&g["Members"]),
            g["CustomRecipientWriteScope"].as_str().map(str::to_owned),
        )
    });
    tenant.service_principal = optional(
        read(
            backend,
            Call::new("Get-ServicePrincipal").param("Identity", planned.names.app_id.as_str()),
        )
        .await,
    )?
    .is_some();
    let drift = exorun_rbac::check(&planned.plan, &planned.names, &tenant);
    let broad = broad_roles(&planned.entra_roles);
    if args.json {
        let out = json!({
            "inStep": drift.is_empty(),
            "drift": drift.iter().map(|d| json!({"widens": d.widens, "text": d.text})).collect::<Vec<_>>(),
            "entraRoles": broad,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else if drift.is_empty() {
        println!(
            "in step: the tenant's role group '{}' allows exactly what {} need",
            planned.names.group(),
            planned.needs.plugins.join(", ")
        );
    } else {
        println!("the tenant differs from the plan:");
        for d in &drift {
            let mark = if d.widens { "WIDER" } else { "narrower" };
            println!("  {mark:<8}  {}", d.text);
        }
    }
    for role in &broad {
        eprintln!(
            "exorun: the app still holds the Entra role {role}: Exchange adds it to the role group, which then narrows nothing"
        );
    }
    Ok(if drift.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
