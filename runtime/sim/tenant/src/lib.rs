//! The simulated Exchange Online tenant: an in-memory directory of
//! mailboxes, users, contacts and groups, and the cmdlets that read and
//! change it, answering exactly as the real service does (object shapes,
//! annotations, error bodies, RBAC, `-ResultSize`).
//!
//! The HTTPS server (`exorun-sim`) serves a [`Tenant`] over the real
//! InvokeCommand protocol; the sandbox's tests use it in process through
//! [`InProcessBackend`]. Demos and tests therefore never touch a real
//! Microsoft 365 tenant.

#![forbid(unsafe_code)]

mod backend;
mod cmdlets;
mod directory;
mod error;
mod execution;
mod file;
mod filter;
mod generate;
mod model;
mod names;
mod params;
mod rbac;
mod render;
mod roles;
mod shape;
mod size;
mod tenant;
mod time;

pub use backend::InProcessBackend;
pub use cmdlets::{names as cmdlet_names, parameters as cmdlet_parameters};
pub use error::{DOMAIN_CONTROLLER, ExoError, MessageLocation, TenantFileError};
pub use execution::{Execution, MORE_RESULTS_WARNING};
pub use generate::GenerateOptions;
pub use rbac::{
    Caller, EXCHANGE_ADMINISTRATOR, EXCHANGE_RECIPIENT_ADMINISTRATOR, GLOBAL_ADMINISTRATOR,
    GLOBAL_READER, SECURITY_READER,
};
pub use size::format_bytes;
pub use tenant::{Tenant, TenantInfo};

#[cfg(test)]
mod tests {
    use super::*;

    fn shareable<T: Send + Sync + 'static>() {}

    #[test]
    fn tenant_results_and_backend_can_be_shared_between_threads() {
        shareable::<Tenant>();
        shareable::<Execution>();
        shareable::<InProcessBackend>();
        shareable::<ExoError>();
    }
}
