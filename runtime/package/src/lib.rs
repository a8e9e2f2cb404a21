//! Shared plugins, from author to operator.
//!
//! A published plugin is a CNCF Wasm OCI artifact ([`artifact`]): an OCI
//! image manifest whose config (`application/vnd.wasm.config.v0+json`)
//! carries the component's WIT world and the plugin's `exorun.toml`, and
//! whose one layer is the component. The manifest digest therefore covers
//! the code and its permissions together, and that digest is what a
//! publisher signs ([`signing`], minisign's format) and what an operator's
//! trust policy ([`trust`]) and lock file ([`store`]) pin.
//!
//! Artifacts travel through an OCI registry ([`remote`], with
//! `oci-client`) or as an OCI image layout archive for air-gapped transfer
//! ([`layout`]); both are read through [`fetch::Fetch`], which caps every
//! blob before it is downloaded and checks every digest, so a hostile
//! registry or bundle can neither swap content nor exhaust memory.
//!
//! Nothing is written to the store or the lock unless the artifact, its
//! signature and the operator's trust policy all agree.

#![forbid(unsafe_code)]

pub mod artifact;
mod error;
pub mod fetch;
pub mod install;
pub mod layout;
pub mod media;
pub mod name;
pub mod remote;
pub mod signing;
pub mod store;
pub mod trust;
mod wit;

pub use artifact::{Artifact, Blob, Package};
pub use error::PackageError;
pub use name::{PackageName, RegistryRef};
