//! Shared pieces of the Prometheus comparison test.
pub mod corpus;
pub mod data;
pub mod http;
