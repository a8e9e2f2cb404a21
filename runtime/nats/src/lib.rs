//! exorun across machines, on NATS JetStream.
//!
//! The tenant throttles the app as a whole, so every client of one tenant
//! and app, on whatever machine, must pace against one schedule.
//! [`NatsPace`] keeps that schedule (the limiter's [`PaceState`]) in a
//! JetStream key-value bucket and changes it by compare-and-swap, the
//! multi-machine counterpart of the file the CLI's processes share on one
//! machine. When NATS cannot be reached a client paces on its own state,
//! says so once, and tries NATS again a second later: a NATS outage slows
//! nobody down by more than one short wait.
//!
//! [`PaceState`]: exorun_exchange::client::limiter::pace::PaceState

#![forbid(unsafe_code)]

mod link;
mod pace;

pub use link::{LinkError, NatsLink};
pub use pace::{NatsPace, NatsPaceMaker, PACE_BUCKET};
