//! What-if and approval.
//!
//! 1. `capture`: `exorun run --what-if` runs the plugin against a
//!    [`WhatIfBackend`]: reads go to the tenant for real, every call that
//!    is not read-only is captured instead of sent and answered with a
//!    simulated success (no objects), so the plugin runs to its end.
//! 2. `file`: the captured calls become a [`Plan`] (JSON): plugin and
//!    digest, tenant, inputs and each intended call in order, with a
//!    checksum of its content.
//! 3. `render`: `exorun plan show` renders it for review, one line per
//!    change, grouped by the object it changes.
//! 4. `check` and `apply`: `exorun apply` refuses a plan that was
//!    altered, is older than allowed, or names another plugin build or
//!    tenant, checks every call again against the current manifest, and
//!    then sends exactly those calls, in order, each one audited.

#![forbid(unsafe_code)]

mod apply;
mod capture;
mod check;
mod file;
mod render;

pub use apply::{ApplyReport, apply};
pub use capture::WhatIfBackend;
pub use check::{PlanCheck, Refusal, check_plan, human, parse_duration};
pub use file::{PLAN_FORMAT, Plan, PlanError, PlanFile, PlanPlugin, ReadPlan};
pub use render::{object_of, render_call, render_plan};
