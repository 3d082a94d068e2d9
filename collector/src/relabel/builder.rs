//! [`LabelBuilder`]: the mutable label set relabel rules work on.
//!
//! It behaves like Prometheus' `labels.Builder`: `set` adds or overwrites, an empty value is
//! the same as no label (`set(n, "")` deletes), `get` of a missing label is `None`, and the
//! result converts to sorted, unique [`Labels`].
//!
//! Invariants: entries are sorted by name, names are unique, values are non-empty.
//!
//! Order detail kept from Prometheus: `range_order` lists labels the way
//! `labels.Builder.Range` visits them (untouched initial labels by name, then labels written by
//! `set` in the order they were first written since their last deletion). `labelmap` visits
//! labels in that order, so when two labels map to the same name the later one wins exactly as
//! in Prometheus.
//!
//! Cost: names and values are `Cow`s, so a builder made from borrowed labels copies nothing
//! until a rule writes; `get` is a binary search; `set`/`del` are a binary search plus a shift
//! of the (short) entry vector.

use std::borrow::Cow;

use lookout_store::{Label, Labels};

#[derive(Debug, Clone)]
struct Entry<'a> {
    name: Cow<'a, str>,
    value: Cow<'a, str>,
    /// 0 for an initial label never written since; otherwise the order of its first write.
    seq: u32,
}

/// A mutable label set (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct LabelBuilder<'a> {
    entries: Vec<Entry<'a>>,
    next_seq: u32,
}

impl<'a> LabelBuilder<'a> {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder over `labels`, borrowing their names and values.
    pub fn from_labels(labels: &'a Labels) -> Self {
        let entries = labels
            .iter()
            .map(|l| Entry {
                name: Cow::Borrowed(l.name.as_str()),
                value: Cow::Borrowed(l.value.as_str()),
                seq: 0,
            })
            .collect();
        LabelBuilder {
            entries,
            next_seq: 0,
        }
    }

    /// A builder over initial pairs in any order: later duplicates win and empty values are
    /// dropped, as for [`Labels::from_pairs`].
    pub fn from_pairs<N, V>(pairs: impl IntoIterator<Item = (N, V)>) -> Self
    where
        N: Into<Cow<'a, str>>,
        V: Into<Cow<'a, str>>,
    {
        let mut entries: Vec<Entry<'a>> = pairs
            .into_iter()
            .map(|(n, v)| Entry {
                name: n.into(),
                value: v.into(),
                seq: 0,
            })
            .collect();
        // Stable: among equal names the last written stays last, and wins below.
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        let mut out: Vec<Entry<'a>> = Vec::with_capacity(entries.len());
        for e in entries {
            match out.last_mut() {
                Some(last) if last.name == e.name => *last = e,
                _ => out.push(e),
            }
        }
        out.retain(|e| !e.value.is_empty());
        LabelBuilder {
            entries: out,
            next_seq: 0,
        }
    }

    fn find(&self, name: &str) -> Result<usize, usize> {
        self.entries.binary_search_by(|e| e.name.as_ref().cmp(name))
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.find(name).ok().map(|i| self.entries[i].value.as_ref())
    }

    /// Sets `name` to `value`; an empty value deletes the label.
    pub fn set(&mut self, name: &str, value: impl Into<Cow<'a, str>>) {
        let value = value.into();
        if value.is_empty() {
            self.del(name);
            return;
        }
        match self.find(name) {
            Ok(i) => {
                let e = &mut self.entries[i];
                e.value = value;
                if e.seq == 0 {
                    e.seq = bump(&mut self.next_seq);
                }
            }
            Err(i) => {
                let seq = bump(&mut self.next_seq);
                self.entries.insert(
                    i,
                    Entry {
                        name: Cow::Owned(name.to_owned()),
                        value,
                        seq,
                    },
                );
            }
        }
    }

    /// Removes `name` if present.
    pub fn del(&mut self, name: &str) {
        if let Ok(i) = self.find(name) {
            self.entries.remove(i);
        }
    }

    /// Keeps only the labels for which `keep(name, value)` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &str) -> bool) {
        self.entries.retain(|e| keep(&e.name, &e.value));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The labels as `(name, value)`, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.entries
            .iter()
            .map(|e| (e.name.as_ref(), e.value.as_ref()))
    }

    /// Entry indices in Prometheus' `Builder.Range` order (see the module docs). Indices
    /// stay valid until the next write.
    pub(crate) fn range_order(&self) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..self.entries.len()).collect();
        // Entries are sorted by name, so a stable sort by write order keeps untouched initial
        // labels (seq 0) first and in name order.
        idx.sort_by_key(|&i| self.entries[i].seq);
        idx
    }

    /// The name and value of the entry at `i` (an index from [`LabelBuilder::range_order`]).
    pub(crate) fn entry(&self, i: usize) -> (&str, &Cow<'a, str>) {
        let e = &self.entries[i];
        (&e.name, &e.value)
    }

    /// The current labels.
    pub fn labels(&self) -> Labels {
        Labels::from_sorted(
            self.entries
                .iter()
                .map(|e| Label {
                    name: e.name.to_string(),
                    value: e.value.to_string(),
                })
                .collect(),
        )
    }

    /// The labels, reusing owned strings.
    pub fn into_labels(self) -> Labels {
        Labels::from_sorted(
            self.entries
                .into_iter()
                .map(|e| Label {
                    name: e.name.into_owned(),
                    value: e.value.into_owned(),
                })
                .collect(),
        )
    }
}

fn bump(seq: &mut u32) -> u32 {
    *seq = seq.saturating_add(1);
    *seq
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_del_and_empty_means_absent() {
        let base = Labels::from_pairs([("b", "2"), ("a", "1")]);
        let mut b = LabelBuilder::from_labels(&base);
        assert_eq!(b.get("a"), Some("1"));
        assert_eq!(b.get("z"), None);
        b.set("c", "3");
        b.set("a", "x");
        b.set("b", "");
        b.del("nope");
        assert_eq!(b.get("b"), None);
        assert_eq!(b.labels(), Labels::from_pairs([("a", "x"), ("c", "3")]));
        b.del("a");
        assert_eq!(b.len(), 1);
        assert_eq!(b.into_labels(), Labels::from_pairs([("c", "3")]));
    }

    #[test]
    fn from_pairs_sorts_dedups_and_drops_empty() {
        let b = LabelBuilder::from_pairs([("b", "1"), ("a", "2"), ("b", "3"), ("c", "")]);
        let got: Vec<_> = b.iter().collect();
        assert_eq!(got, vec![("a", "2"), ("b", "3")]);
    }

    #[test]
    fn snapshot_order_is_untouched_by_name_then_written_by_first_write() {
        let base = Labels::from_pairs([("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")]);
        let mut b = LabelBuilder::from_labels(&base);
        b.set("z", "new"); // written first
        b.set("b", "rewritten"); // initial label written: moves after z
        b.set("z", "again"); // rewrite keeps z's place
        b.del("c");
        b.set("c", "back"); // deleted then set: written last
        let order: Vec<String> = b
            .range_order()
            .into_iter()
            .map(|i| {
                let (n, v) = b.entry(i);
                format!("{n}={v}")
            })
            .collect();
        assert_eq!(order, ["a=1", "d=4", "z=again", "b=rewritten", "c=back"]);
    }
}
