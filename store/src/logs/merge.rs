//! The merge policy of a log partition: size tiers with a cap on the merged segment.
//!
//! Segments are put in tiers by document count: tier 0 holds segments below `floor` docs
//! (the tiny ones a slow stream commits every second), tier `k` those of `floor * factor^k`
//! up to `floor * factor^(k+1)`. When a tier holds `factor` segments they are merged into one
//! of the next tier, so a line is rewritten about `log_factor(cap / flushed)` times in all;
//! tantivy's log policy with four segments per merge and no cap rewrote it
//! `log_4(partition / flushed)` times, which at 20 MB/s was more CPU than indexing itself.
//!
//! No merge produces more than `max_docs` documents: a merge maps every input segment (their
//! pages count in the process's RSS until the merge ends) and rewrites them, so the cap bounds
//! both the memory a merge touches and the work of one merge. Segments at or above half the
//! cap are final. A sealed partition's leftovers are packed by [`pack_for_seal`] under the
//! same cap.
//!
//! Cost: a sort of the segment list per call (tantivy calls it after each commit and merge).

use tantivy::index::{SegmentId, SegmentMeta};
use tantivy::indexer::{MergeCandidate, MergePolicy};

/// Size-tiered merges with a cap; see the module docs.
#[derive(Debug, Clone)]
pub struct TieredMergePolicy {
    /// Segments per merge (and the size ratio between tiers).
    pub factor: usize,
    /// Upper bound of tier 0, in documents.
    pub floor: u32,
    /// No merge output exceeds this many documents.
    pub max_docs: u32,
}

impl TieredMergePolicy {
    pub fn new(max_docs: u32) -> Self {
        TieredMergePolicy {
            factor: 8,
            floor: 20_000,
            max_docs: max_docs.max(2),
        }
    }

    fn tier(&self, docs: u32) -> u32 {
        let (mut t, mut bound) = (0u32, u64::from(self.floor.max(1)));
        let f = self.factor.max(2) as u64;
        while u64::from(docs) >= bound {
            t += 1;
            bound = bound.saturating_mul(f);
        }
        t
    }

    /// Merges to run now over `segs` (id, docs): in a tier holding at least `factor` open
    /// segments, groups taken smallest first of `factor` segments, or fewer when the next one
    /// would take the group over `max_docs` (at least two).
    pub fn candidates(&self, segs: &[(SegmentId, u32)]) -> Vec<Vec<SegmentId>> {
        let factor = self.factor.max(2);
        let mut open: Vec<(u32, u32, SegmentId)> = segs
            .iter()
            .filter(|(_, d)| u64::from(*d) * 2 < u64::from(self.max_docs))
            .map(|&(id, d)| (self.tier(d), d, id))
            .collect();
        open.sort_by_key(|&(t, d, _)| (t, d));
        let mut out = Vec::new();
        for tier in open.chunk_by(|a, b| a.0 == b.0) {
            let mut rest = tier;
            while rest.len() >= factor {
                let mut sum = 0u64;
                let mut n = 0;
                while n < factor && sum + u64::from(rest[n].1) <= u64::from(self.max_docs) {
                    sum += u64::from(rest[n].1);
                    n += 1;
                }
                if n < 2 {
                    break;
                }
                out.push(rest[..n].iter().map(|&(_, _, id)| id).collect());
                rest = &rest[n..];
            }
        }
        out
    }
}

impl MergePolicy for TieredMergePolicy {
    fn compute_merge_candidates(&self, segments: &[SegmentMeta]) -> Vec<MergeCandidate> {
        let segs: Vec<(SegmentId, u32)> = segments.iter().map(|s| (s.id(), s.num_docs())).collect();
        self.candidates(&segs)
            .into_iter()
            .map(MergeCandidate)
            .collect()
    }
}

/// Groups of a sealed partition's segments to merge: every segment below half of `max_docs`,
/// packed smallest first into groups of at most `max_docs` documents; groups of one segment
/// are left alone.
pub fn pack_for_seal(segs: &[(SegmentId, u32)], max_docs: u32) -> Vec<Vec<SegmentId>> {
    let mut small: Vec<(u32, SegmentId)> = segs
        .iter()
        .filter(|(_, d)| u64::from(*d) * 2 < u64::from(max_docs))
        .map(|&(id, d)| (d, id))
        .collect();
    small.sort_by_key(|&(d, _)| d);
    let mut out = Vec::new();
    let (mut group, mut sum) = (Vec::new(), 0u64);
    for (d, id) in small {
        if sum + u64::from(d) > u64::from(max_docs) && !group.is_empty() {
            out.push(std::mem::take(&mut group));
            sum = 0;
        }
        sum += u64::from(d);
        group.push(id);
    }
    out.push(group);
    out.retain(|g| g.len() > 1);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<SegmentId> {
        (0..n).map(|_| SegmentId::generate_random()).collect()
    }

    #[test]
    fn tiers_grow_by_factor() {
        let p = TieredMergePolicy::new(1_000_000);
        assert_eq!(p.tier(0), 0);
        assert_eq!(p.tier(19_999), 0);
        assert_eq!(p.tier(20_000), 1);
        assert_eq!(p.tier(159_999), 1);
        assert_eq!(p.tier(160_000), 2);
    }

    #[test]
    fn merges_factor_segments_of_one_tier_only() {
        let p = TieredMergePolicy::new(10_000_000);
        let id = ids(12);
        // 7 small segments (tier 0) and 5 of tier 1: nothing to merge yet.
        let mut segs: Vec<(SegmentId, u32)> = id[..7].iter().map(|&i| (i, 1_000)).collect();
        segs.extend(id[7..].iter().map(|&i| (i, 50_000)));
        assert!(p.candidates(&segs).is_empty());
        // An eighth small one: exactly the tier-0 segments merge.
        let extra = SegmentId::generate_random();
        segs.push((extra, 2_000));
        let c = p.candidates(&segs);
        assert_eq!(c.len(), 1);
        let mut got = c[0].clone();
        let mut want: Vec<SegmentId> = id[..7].to_vec();
        want.push(extra);
        got.sort();
        want.sort();
        assert_eq!(got, want);
    }

    #[test]
    fn no_merge_exceeds_the_cap_and_big_segments_are_final() {
        let p = TieredMergePolicy::new(1_000_000);
        let id = ids(20);
        // 100k-doc segments: 8 of them would be 800k (under the cap).
        let segs: Vec<(SegmentId, u32)> = id[..16].iter().map(|&i| (i, 100_000)).collect();
        let c = p.candidates(&segs);
        assert_eq!(c.len(), 2);
        assert!(c.iter().all(|g| g.len() == 8));
        // 140k-doc segments: only 7 fit under the cap, so groups of 7 (the tier holds 20:
        // two groups, leaving 6, fewer than a merge's worth).
        let segs: Vec<(SegmentId, u32)> = id.iter().map(|&i| (i, 140_000)).collect();
        let c = p.candidates(&segs);
        assert_eq!(c.iter().map(Vec::len).collect::<Vec<_>>(), vec![7, 7]);
        // Seven of them: under a merge's worth, nothing yet.
        assert!(p.candidates(&segs[..7]).is_empty());
        // Segments at half the cap or more never merge.
        let segs: Vec<(SegmentId, u32)> = id.iter().map(|&i| (i, 500_000)).collect();
        assert!(p.candidates(&segs).is_empty());
        let p = TieredMergePolicy::new(100);
        let segs: Vec<(SegmentId, u32)> = id.iter().map(|&i| (i, 10)).collect();
        for g in p.candidates(&segs) {
            assert!(g.len() * 10 <= 100);
        }
    }

    #[test]
    fn seal_packs_small_segments_under_the_cap() {
        let id = ids(6);
        let segs = vec![
            (id[0], 600),
            (id[1], 100),
            (id[2], 300),
            (id[3], 200),
            (id[4], 400),
            (id[5], 2_000), // final: above half the cap
        ];
        let groups = pack_for_seal(&segs, 1_000);
        // Smallest first: 100+200+300+400 = 1000 fits; 600 alone stays.
        assert_eq!(groups.len(), 1);
        let mut g = groups[0].clone();
        g.sort();
        let mut want = vec![id[1], id[3], id[2], id[4]];
        want.sort();
        assert_eq!(g, want);
        assert!(pack_for_seal(&segs[5..], 1_000).is_empty());
        assert!(pack_for_seal(&[], 1_000).is_empty());
    }
}
