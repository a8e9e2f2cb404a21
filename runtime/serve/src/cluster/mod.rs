//! exorun on many machines: the service queues runs on NATS JetStream
//! ([`Dispatch`]), `exorun worker`s take and run them ([`Worker`]), and the
//! workers' reports come back as events the service writes into its
//! history. `docs/scale-out.md` tells the whole design; this module is its
//! service side and its worker side, sharing the messages in [`events`].
//!
//! Every message is sealed with a key the service and the workers share
//! ([`seal`]): NATS access alone neither queues a run nor writes history.
//!
//! What a delivery guarantees, in one place: a run's message is acked only
//! once its end is on record, so a run is never lost with its worker. A
//! run delivered again first reads what earlier attempts reported: one that
//! ended is not run again; one that recorded the intent of any write is
//! never run again blindly but ends for an operator to decide, listing
//! those writes; only a run that cannot have written runs again.

pub mod dispatch;
pub mod events;
pub mod seal;
mod worker;

pub use dispatch::{DeadLetterView, Dispatch};
pub use worker::{Worker, WorkerOptions};

use std::sync::Arc;

/// The key of the lease whose holder fires the schedules.
pub const SCHEDULE_LEASE: &str = "schedules";

/// Service instances sharing one history elect the one that fires
/// schedules by a lease in NATS ([`exorun_nats::Lease`]).
pub struct LeaseLeader(pub Arc<exorun_nats::Lease>);

#[async_trait::async_trait]
impl crate::schedule::Leader for LeaseLeader {
    async fn is_leader(&self) -> bool {
        self.0.held()
    }
}
