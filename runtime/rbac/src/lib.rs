//! Defence in depth: an Exchange role for the app that allows exactly what
//! the installed plugins need, so the tenant itself refuses the rest even
//! if exorun's own gate were bypassed.
//!
//! - [`Needs`]: the union of the plugins' effective permissions: cmdlets,
//!   their parameters, and the recipients their writes may reach.
//! - [`parents`]: which built-in role holds each cmdlet.
//! - [`plan()`]: the commands an admin runs once. They make custom roles
//!   narrowed from those parents, a management scope, the app's service
//!   principal and a role group. [`powershell`] prints them as a script.
//! - [`check()`]: how the tenant's role, scope and group differ from the
//!   plan.

mod check;
mod needs;
pub mod parents;
mod plan;
pub mod powershell;

pub use check::{Drift, TenantRbac, check};
pub use needs::Needs;
pub use plan::{Names, Plan, PlanError, plan};
