//! Compiled relabel regexes shared by pattern: every rule with the same anchored pattern holds
//! the same `Arc<Regex>`, so the many identical rules that generated jobs carry (the
//! Prometheus Operator's chain repeats `(.+)`, `true`, port-name keeps... in every job of
//! every monitor) are compiled and stored once, and cloning a checked rule (configs are
//! copied between discovery and the scrape manager) copies a pointer, not a regex (a
//! `Regex` clone allocates a fresh match-cache pool of a few KiB).
//!
//! Invariants: entries are weak, so a pattern no rule uses any more is freed with its last
//! rule; dead entries are pruned when the table has doubled since the last prune. A `Regex`
//! is safe to use from many threads at once (its cache pool is per thread), so sharing
//! changes nothing for the relabel engine. Cost: one mutex section and one hash of the
//! pattern per compile; compiling happens outside the lock.

use regex::{Regex, RegexBuilder};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError, Weak};

struct Table {
    by_pattern: HashMap<String, Weak<Regex>>,
    prune_at: usize,
}

static TABLE: LazyLock<Mutex<Table>> = LazyLock::new(|| {
    Mutex::new(Table {
        by_pattern: HashMap::new(),
        prune_at: 256,
    })
});

fn lookup(pattern: &str) -> Option<Arc<Regex>> {
    let t = TABLE.lock().unwrap_or_else(PoisonError::into_inner);
    t.by_pattern.get(pattern).and_then(Weak::upgrade)
}

/// The compiled `pattern` (with `size_limit`), shared with every other user of the same
/// pattern. Patterns are compared exactly; the size limit is the caller's constant.
pub fn compile(pattern: &str, size_limit: usize) -> Result<Arc<Regex>, regex::Error> {
    if let Some(r) = lookup(pattern) {
        return Ok(r);
    }
    let built = Arc::new(RegexBuilder::new(pattern).size_limit(size_limit).build()?);
    let mut t = TABLE.lock().unwrap_or_else(PoisonError::into_inner);
    // Another thread may have compiled it meanwhile: keep the first.
    if let Some(r) = t.by_pattern.get(pattern).and_then(Weak::upgrade) {
        return Ok(r);
    }
    if t.by_pattern.len() >= t.prune_at {
        t.by_pattern.retain(|_, w| w.strong_count() > 0);
        t.prune_at = (t.by_pattern.len() * 2).max(256);
    }
    t.by_pattern
        .insert(pattern.to_string(), Arc::downgrade(&built));
    Ok(built)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_pattern_same_regex_until_dropped() {
        let a = compile("^(?s:shared_regex_test_(.+))$", 1 << 20).expect("a");
        let b = compile("^(?s:shared_regex_test_(.+))$", 1 << 20).expect("b");
        assert!(Arc::ptr_eq(&a, &b));
        let c = compile("^(?s:shared_regex_test_other)$", 1 << 20).expect("c");
        assert!(!Arc::ptr_eq(&a, &c));
        assert!(a.is_match("shared_regex_test_x"));
        let weak = Arc::downgrade(&a);
        drop((a, b));
        assert!(weak.upgrade().is_none(), "freed with its last user");
        let d = compile("^(?s:shared_regex_test_(.+))$", 1 << 20).expect("d");
        assert!(d.is_match("shared_regex_test_y"));
    }

    #[test]
    fn errors_are_not_cached() {
        assert!(compile("(", 1 << 20).is_err());
        assert!(compile("(", 1 << 20).is_err());
    }
}
