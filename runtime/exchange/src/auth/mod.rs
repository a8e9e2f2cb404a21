//! Signing in: the certificate, the client assertion it signs, the token
//! request, and the cache that makes one token serve every run.

pub(crate) mod acquire;
pub mod assertion;
pub mod certificate;
pub mod claims;
pub mod cloud;
pub mod given_token;
pub mod managed_identity;
pub mod self_signed;
mod store;
pub mod summary;
pub mod token;
pub mod token_cache;
pub mod token_error;
