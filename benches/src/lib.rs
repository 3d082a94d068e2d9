//! Shared helpers for lookout benches.
