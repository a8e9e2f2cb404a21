//! Integration tests of the audit trail, one binary (faster to build).

mod common;
mod concurrency;
mod crash;
mod roundtrip;
mod segments;
mod tamper;
