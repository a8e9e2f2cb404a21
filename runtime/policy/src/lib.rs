//! What a plugin may do, and the gate that enforces it on every call.
//!
//! [`Manifest`] parses and validates `exorun.toml` strictly (unknown keys,
//! duplicates, bad patterns and non Verb-Noun names are errors with file,
//! line and column), each table by the [`capability`] that owns it. [`Capabilities`] is the validated allow-list, and
//! [`check`] is the one function every cmdlet call crosses before it
//! may leave the host: JEA's `VisibleCmdlets` with `ValidateSet` and
//! `ValidatePattern`, without JEA's most-permissive merging.

#![forbid(unsafe_code)]

mod capabilities;
pub mod capability;
mod gate;
mod inputs;
mod limits;
mod manifest;
pub mod operator;
mod ordinal;
mod outputs;
mod pattern;
pub mod scope;
mod source;
mod wildcard;

pub use capabilities::{
    Capabilities, CmdletRefusal, CmdletRule, Constraint, ParamRule, Pattern, PolicyConstraint,
    RefusedBecause, SetEntry,
};
pub use capability::{Capability, Change, Direction, Grant, Grants, Section};
pub use gate::{Denial, DenyReason, Layer, MAX_CALL_BYTES, call_bytes, check};
pub use inputs::{InputError, InputSpec, InputType, InputValue, ResolvedInputs};
pub use limits::{Ceilings, LimitError, Limits};
pub use manifest::{MAX_MANIFEST_BYTES, Manifest, PluginInfo};
pub use operator::{AppliedPolicy, Narrowing, Origin, Policy, PolicyFile};
pub use outputs::{MAX_OUTPUTS_FILES, MAX_OUTPUTS_MIB, Outputs};
pub use source::ManifestError;
