//! Behaviour of the simulated tenant, one module per area.

mod backend;
mod concurrency;
mod errors;
mod filters;
mod generator;
mod identity;
mod inbox_rules;
mod objects;
mod permissions;
mod rbac;
mod result_size;
mod role_groups;
mod writes;

use exorun_cmdlet::Call;
use exorun_sim_tenant::{Caller, ExoError, GenerateOptions, Tenant};
use serde_json::Value;

pub fn tenant() -> Tenant {
    Tenant::generate(&GenerateOptions::default())
}

pub fn admin() -> Caller {
    Caller::exchange_administrator("11111111-2222-3333-4444-555555555555")
}

/// Runs a call as Exchange Administrator and renders every object.
pub fn run(tenant: &Tenant, call: Call) -> Vec<Value> {
    let execution = tenant
        .execute(&admin(), &call)
        .unwrap_or_else(|e| panic!("{} failed: {e}", call.cmdlet));
    execution.page(0, execution.len())
}

/// Runs a call expecting exactly one object.
pub fn one(tenant: &Tenant, call: Call) -> Value {
    let mut objects = run(tenant, call);
    assert_eq!(objects.len(), 1, "expected one object");
    objects.remove(0)
}

pub fn fail(tenant: &Tenant, call: Call) -> ExoError {
    match tenant.execute(&admin(), &call) {
        Ok(_) => panic!("{} unexpectedly succeeded", call.cmdlet),
        Err(e) => e,
    }
}

pub fn mailbox(tenant: &Tenant, identity: &str) -> Value {
    one(tenant, Call::new("Get-Mailbox").param("Identity", identity))
}
