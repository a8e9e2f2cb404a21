//! Write Exchange Online automations in Rust for the exorun sandbox.
//!
//! An automation is a type that implements [`Automation`], exported with
//! [`export!`]. It reaches the tenant only through cmdlet calls, each of
//! which the host checks against the plugin's `exorun.toml` before it leaves
//! the host. It never sees a credential, the network or a file.
//!
//! The concepts, in the order every exorun SDK documents them:
//!
//! 1. **Run**: implement [`Automation::run`]; its `Ok` string is the output.
//! 2. **Call a cmdlet**: [`cmdlet`] builds a call, `.param(..)` adds
//!    parameters, `.invoke()` runs it.
//! 3. **Read pages lazily**: `.objects()` iterates over a large result one
//!    page at a time.
//! 4. **Batch**: [`invoke_many`] runs many calls concurrently on the host.
//! 5. **Handle errors**: [`Error`] says why a call failed (`Denied`,
//!    `NotFound`, `Throttled`, ...).
//! 6. **Log, progress, inputs**: [`log`], [`progress`], [`input`]; [`what_if`]
//!    says whether writes are only planned (`exorun run --what-if`).
//!
//! ```ignore
//! use exorun_sdk::{Automation, Error, cmdlet, objects::Mailbox};
//!
//! struct CountShared;
//!
//! impl Automation for CountShared {
//!     fn run() -> Result<String, Error> {
//!         let shared: Vec<Mailbox> = cmdlet("Get-Mailbox")
//!             .param("RecipientTypeDetails", "SharedMailbox")
//!             .param("ResultSize", "Unlimited")
//!             .invoke_as()?;
//!         Ok(format!("{} shared mailboxes", shared.len()))
//!     }
//! }
//!
//! exorun_sdk::export!(CountShared);
//! ```
//!
//! # Large tenants: a page at a time
//!
//! `invoke_as` holds every result at once; against 100,000 mailboxes that
//! is more than a plugin's memory. Read lazily with `.objects()` and work a
//! batch at a time, so memory holds one page and the output (this is how
//! `plugins/mailbox-report` measures 100,000 mailboxes within 64 MiB):
//!
//! ```ignore
//! let mut mailboxes = cmdlet("Get-Mailbox")
//!     .param("ResultSize", "Unlimited")
//!     .objects::<Mailbox>()?;
//! let mut done = 0;
//! loop {
//!     let batch: Vec<Mailbox> = mailboxes.by_ref().take(50).collect::<Result<_, _>>()?;
//!     if batch.is_empty() {
//!         break;
//!     }
//!     let calls = batch
//!         .iter()
//!         .map(|m| cmdlet("Get-MailboxStatistics").param("Identity", &m.primary_smtp_address))
//!         .collect();
//!     for (mailbox, stats) in batch.iter().zip(invoke_many(calls)) {
//!         // one output row per mailbox
//!     }
//!     done += batch.len() as u64;
//!     progress(done, None); // the total is known once the last page is read
//! }
//! ```

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "automation",
        pub_export_macro: true,
        export_macro_name: "__export_automation_world",
        default_bindings_module: "exorun_sdk::bindings",
    });
}

mod call;
mod error;
mod host;
pub mod objects;
pub mod size;
mod value;

pub use call::{Cmdlet, Objects, Pages, cmdlet, invoke_many};
pub use error::Error;
pub use host::{Input, input, log, progress, what_if};
pub use value::{Edit, Param};

/// An automation. `run` is called once per run; its `Ok` string is the
/// run's output (a CSV or JSON report, say).
pub trait Automation {
    fn run() -> Result<String, Error>;
}

/// Exports a type implementing [`Automation`] as the component's `run`.
#[macro_export]
macro_rules! export {
    ($ty:ty) => {
        #[doc(hidden)]
        struct __ExorunExport;
        impl $crate::bindings::Guest for __ExorunExport {
            fn run() -> ::core::result::Result<::std::string::String, ::std::string::String> {
                <$ty as $crate::Automation>::run().map_err(|e| e.to_string())
            }
        }
        $crate::bindings::__export_automation_world!(__ExorunExport with_types_in $crate::bindings);
    };
}
