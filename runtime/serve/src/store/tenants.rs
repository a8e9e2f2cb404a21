//! Tenants an admin added through the API, kept across restarts.

use rusqlite::{Connection, params};

use super::Result;
use crate::config::{TenantConfig, TenantSource};

/// Every tenant added through the API, by name.
pub fn list_tenants(conn: &Connection) -> Result<Vec<TenantConfig>> {
    let mut stmt = conn.prepare_cached(
        "SELECT name, profile, sim_mailboxes, sim_seed, max_concurrent_runs, added_by
         FROM tenants ORDER BY name",
    )?;
    let rows = stmt.query_map([], |r| {
        let profile: Option<String> = r.get(1)?;
        let mailboxes: Option<i64> = r.get(2)?;
        let seed: Option<i64> = r.get(3)?;
        let source = match profile {
            Some(profile) => TenantSource::Profile(profile),
            None => TenantSource::Simulated {
                mailboxes: usize::try_from(mailboxes.unwrap_or(50)).unwrap_or(50),
                seed: u64::try_from(seed.unwrap_or(1)).unwrap_or(1),
            },
        };
        Ok(TenantConfig {
            name: r.get(0)?,
            source,
            max_concurrent_runs: u32::try_from(r.get::<_, i64>(4)?).unwrap_or(1),
            added_by: Some(r.get(5)?),
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Adds a tenant; a name taken is a conflict.
pub fn insert_tenant(conn: &Connection, tenant: &TenantConfig, added_by: &str) -> Result<()> {
    let (profile, mailboxes, seed) = match &tenant.source {
        TenantSource::Profile(p) => (Some(p.clone()), None, None),
        TenantSource::Simulated { mailboxes, seed } => (
            None,
            Some(i64::try_from(*mailboxes).unwrap_or(i64::MAX)),
            Some(i64::try_from(*seed).unwrap_or(i64::MAX)),
        ),
    };
    let inserted = conn.execute(
        "INSERT INTO tenants (name, profile, sim_mailboxes, sim_seed, max_concurrent_runs, added_by, added_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (name) DO NOTHING",
        params![
            tenant.name,
            profile,
            mailboxes,
            seed,
            tenant.max_concurrent_runs,
            added_by,
            super::now_text()
        ],
    )?;
    if inserted == 0 {
        return Err(super::StoreError::Conflict(format!(
            "a tenant named '{}' exists already",
            tenant.name
        )));
    }
    Ok(())
}

/// Removes a tenant added through the API; whether it was there.
pub fn delete_tenant(conn: &Connection, name: &str) -> Result<bool> {
    Ok(conn.execute("DELETE FROM tenants WHERE name = ?1", [name])? > 0)
}
