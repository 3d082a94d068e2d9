//! lookout-config: typed configuration.

pub mod relabel;
