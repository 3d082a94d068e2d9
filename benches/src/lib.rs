//! Shared helpers for lookout benches.

mod catalog;
pub mod exposition;
pub mod target_server;
