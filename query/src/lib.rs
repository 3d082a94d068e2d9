//! lookout-query: PromQL evaluation and the Prometheus-compatible HTTP API.
