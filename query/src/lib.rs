//! lookout-query: PromQL evaluation and the Prometheus-compatible HTTP API.
//!
//! The API reads samples only through `lookout_store::Querier`, and learns about scrape
//! targets and metric metadata through [`api::TargetSource`], which the collector implements:
//! so this crate never depends on the collector.

pub mod api;
pub mod error;
pub mod http_client;
pub mod loki;
pub mod notifier;
pub mod promql;
pub mod rules;
pub mod selector;
pub mod template;

pub use error::{Error, Result};
