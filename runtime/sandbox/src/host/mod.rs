//! The host side of the `exorun:automation` imports. One file per import:
//! [`cmdlets`] is where every call is checked and carried to the tenant,
//! [`log`] the run log and progress, [`inputs`] the operator's inputs; the
//! log itself, with the plugin's stdout and stderr, is [`crate::run_log`].

pub mod boundary;
pub mod cmdlets;
mod convert;
pub mod filesystem;
pub mod inputs;
pub mod log;
