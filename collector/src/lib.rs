//! lookout-collector: discovery, scraping, exposition parsing, relabeling, and the agent that
//! wires them to the store and the HTTP API.

pub mod agent;
pub mod alerts;
pub mod discovery;
pub mod http;
pub mod logs;
pub mod parse;
pub mod relabel;
pub mod scrape;
pub mod telemetry;
