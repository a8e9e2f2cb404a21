//! `exorun serve`: the automation service for teams.
//!
//! A reader's map:
//! - [`config`]: serve.toml, validated strictly.
//! - [`service`]: the parts together, and every action people take (start,
//!   cancel, approve, reject), checked against their role and audited.
//! - [`queue`]: runs waiting, with per-tenant and per-plugin limits.
//! - [`schedule`]: cron slots, each fired exactly once.
//! - [`store`]: the history in SQLite.
//! - [`auth`]: API tokens, passwords, sessions, login limits.
//! - [`api`] and [`dashboard`]: HTTP, JSON and HTML.
//! - [`tenants`], [`plugins`]: connections and installed plugins.
//! - [`watch`]: a run's progress, logs and denials for the history.
//! - [`cluster`]: runs on many machines, through NATS JetStream.
//!
//! `docs/serve.md` is the operator's guide.

#![forbid(unsafe_code)]

pub mod api;
pub mod audit;
pub mod auth;
pub mod cluster;
pub mod config;
pub mod consent;
pub mod dashboard;
pub mod listen;
mod plan_view;
pub mod plugins;
pub mod queue;
pub mod schedule;
pub mod service;
pub mod store;
pub mod tenant_admin;
pub mod tenants;
pub mod watch;

pub use config::{ConfigError, ServeConfig};
pub use service::{Parts, Service};
