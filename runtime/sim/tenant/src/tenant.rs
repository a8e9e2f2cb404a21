//! The tenant: organisation facts plus a directory behind one lock.

use std::sync::Arc;

use exorun_cmdlet::Call;
use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::cmdlets::{self, Invocation};
use crate::directory::Directory;
use crate::error::{ExoError, TenantFileError};
use crate::execution::Execution;
use crate::generate::{self, GenerateOptions};
use crate::model::{Mailbox, Organization};
use crate::params::Params;
use crate::rbac::{self, Caller};

/// A simulated Exchange Online tenant. Safe to share between threads: reads
/// run concurrently, each write is applied whole under the lock, and results
/// hold snapshots, so a write never shows half-done to any reader.
#[derive(Debug)]
pub struct Tenant {
    org: Arc<Organization>,
    directory: RwLock<Directory>,
}

/// What identifies the tenant to the token endpoint and the REST URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantInfo {
    /// The tenant GUID, hyphenated lower case.
    pub id: String,
    pub display_name: String,
    /// `contoso.onmicrosoft.com`.
    pub initial_domain: String,
    /// The default (vanity) domain, `contoso.com`.
    pub default_domain: String,
    pub accepted_domains: Vec<String>,
}

impl Tenant {
    pub(crate) fn from_parts(org: Organization, directory: Directory) -> Tenant {
        Tenant {
            org: Arc::new(org),
            directory: RwLock::new(directory),
        }
    }

    /// A tenant generated from a seed; the same options give the same tenant.
    pub fn generate(opts: &GenerateOptions) -> Tenant {
        generate::generate(opts)
    }

    /// Loads a tenant file written by [`Tenant::to_json`] (or by hand).
    pub fn from_json(text: &str) -> Result<Tenant, TenantFileError> {
        crate::file::load(text)
    }

    /// The current state as a tenant file; reloads to an identical tenant.
    pub fn to_json(&self) -> String {
        crate::file::save(&self.org, &self.read())
    }

    pub fn info(&self) -> TenantInfo {
        TenantInfo {
            id: self.org.id.hyphenated().to_string(),
            display_name: self.org.display_name.clone(),
            initial_domain: self.org.initial_domain.clone(),
            default_domain: self.org.default_domain.clone(),
            accepted_domains: self.org.accepted_domains.clone(),
        }
    }

    /// Runs one cmdlet call as `caller`, as Exchange would: unknown cmdlet,
    /// then RBAC, then parameter binding, then the cmdlet itself.
    pub fn execute(&self, caller: &Caller, call: &Call) -> Result<Execution, ExoError> {
        let spec =
            cmdlets::find(&call.cmdlet).ok_or_else(|| ExoError::unknown_cmdlet(&call.cmdlet))?;
        if let Err(refused) = rbac::authorize(caller, spec.name, spec.access) {
            crate::roles::authorize_by_role_groups(self, caller, spec, call, refused)?;
        }
        let params = Params::bind(call, spec.parameters)?;
        let is_write = spec.access != rbac::Access::Read;
        if is_write && params.what_if() {
            // -WhatIf: the service answers with a confirmation message and changes nothing.
            return Ok(Execution::empty(self.org()));
        }
        let invocation = Invocation {
            tenant: self,
            caller,
            params,
        };
        let result = (spec.run)(&invocation);
        match &result {
            Ok(execution) => {
                tracing::debug!(cmdlet = spec.name, objects = execution.len(), "cmdlet ran")
            }
            Err(error) => {
                tracing::debug!(cmdlet = spec.name, code = %error.code, message = %error.message, "cmdlet failed")
            }
        }
        result
    }

    pub(crate) fn org(&self) -> Arc<Organization> {
        self.org.clone()
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Directory> {
        self.directory.read()
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, Directory> {
        self.directory.write()
    }

    /// Resolves a mailbox, lets `edit` change a copy (reading the rest of the
    /// directory as it likes), and swaps the copy in only if `edit` succeeded.
    pub(crate) fn edit_mailbox<R>(
        &self,
        identity: &str,
        edit: impl FnOnce(&mut Mailbox, &Directory) -> Result<R, ExoError>,
    ) -> Result<R, ExoError> {
        let mut dir = self.write();
        let position = dir.resolve_mailbox(identity)?;
        let Some(current) = dir.mailboxes.get(position) else {
            return Err(ExoError::not_found(identity));
        };
        let mut changed = Mailbox::clone(current);
        let outcome = edit(&mut changed, &dir)?;
        dir.replace_mailbox(position, changed);
        Ok(outcome)
    }
}
