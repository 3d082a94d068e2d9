//! The searcher: [`LogSearcher`] over a [`LogIndex`].
//!
//! A search takes a snapshot of the partitions overlapping its range, and in each:
//! 1. resolves the stream selector against the partition's stream dictionary (v4: streams
//!    without lines in the range are skipped) or, in older partitions, against the dictionary
//!    of every segment's `stream` column (streams are few; each distinct label set is decoded
//!    and matched once per search), giving the stream ids / column ordinals that match;
//! 2. builds a tantivy query from the pushed-down line filters ([`super::filter::pushdown`]);
//! 3. walks the matching documents of each segment whose `ts` range overlaps, reading `ts`
//!    (and, unless every stream matches, the stream id from `meta` or the column ordinal)
//!    from the fast columns and
//!    dropping those outside the range or of other streams.
//!
//! The stream is not looked up through postings: partitions written since the `stream` field
//! stopped being indexed have none (indexing it was ~8% of ingest CPU), older ones still
//! do and are searched the same way.
//!
//! `select` keeps the best `page` candidates by (time, position) in a bounded heap, reads
//! their lines in order, applies the exact filters and the caller's `keep`, and pages on
//! (strictly after the last candidate) until it has `limit` rows or runs out. It visits
//! partitions and segments in the direction's time order (newest first for backward) and,
//! once the heap is full, skips every segment whose `ts` range lies wholly beyond the worst
//! candidate's time: for "the latest 100 lines" only the newest segments are walked.
//!
//! Cost: postings + one fast-field read per candidate; stored text is read (zstd block
//! decompression, cached per segment) only for rows returned or filtered exactly.

use super::error::{LogError, Result};
use super::partition::Partition;
use super::schema::{Fields, MetaFields, decode_stream, unpack_meta, unpack_meta_v4};
use super::streams::StreamEntry;
use super::{Direction, Level, LogIndex, LogQuery, LogRow, LogSearcher, SelectorStats};
use crate::labels::Labels;
use crate::matcher::Matcher;
use std::cell::Cell;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::sync::Arc;
use tantivy::columnar::{Column, StrColumn};
use tantivy::query::{AllQuery, BooleanQuery, EnableScoring, Occur, Query};
use tantivy::schema::Value;
use tantivy::store::StoreReader;
use tantivy::{DocId, Searcher, SegmentReader, TantivyDocument};

/// Decoded stream label sets of one search, by encoded `stream` value; `None`: does not match.
type StreamCache = HashMap<String, Option<Arc<Labels>>>;

fn matches_all(labels: &Labels, matchers: &[Matcher]) -> bool {
    matchers
        .iter()
        .all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
}

fn resolve(cache: &mut StreamCache, key: &str, matchers: &[Matcher]) -> Option<Arc<Labels>> {
    if let Some(v) = cache.get(key) {
        return v.clone();
    }
    let v = decode_stream(key)
        .filter(|l| matches_all(l, matchers))
        .map(Arc::new);
    cache.insert(key.to_string(), v.clone());
    v
}

/// A segment's stream / level / length / flags columns, in its partition's form.
enum MetaCols {
    WithStream(Column<u64>),
    Packed(Column<u64>),
    Separate {
        level: Column<u64>,
        len: Column<u64>,
        flags: Column<u64>,
    },
}

impl MetaCols {
    /// `(level, len, flags)` of `doc`.
    fn get(&self, doc: DocId) -> (u64, u64, u64) {
        match self {
            MetaCols::WithStream(m) => {
                let (_, level, len, flags) = unpack_meta_v4(m.first(doc).unwrap_or(0));
                (level, len, flags)
            }
            MetaCols::Packed(m) => unpack_meta(m.first(doc).unwrap_or(0)),
            MetaCols::Separate { level, len, flags } => (
                level.first(doc).unwrap_or(0),
                len.first(doc).unwrap_or(0),
                flags.first(doc).unwrap_or(0),
            ),
        }
    }
}

/// Stream labels by id / column ordinal: `None` not looked at yet, `Some(None)` no match.
type ByOrd = Vec<Option<Option<Arc<Labels>>>>;

/// Where a segment's documents name their stream.
enum StreamSrc {
    /// v4: the id in `meta`; the partition's selection (labels of the matching streams with
    /// lines in range, by id), shared by its segments.
    Dict(Arc<[Option<Arc<Labels>>]>),
    /// v1-v3: the ordinal in the segment's `stream` column, labels resolved per segment.
    Column(Option<StrColumn>, ByOrd),
}

struct SegView<'a> {
    reader: &'a SegmentReader,
    ts: Column<i64>,
    meta: MetaCols,
    stream: StreamSrc,
    /// Ids / ordinals of the streams the selector matches; `None`: every stream matches.
    allowed: Option<Arc<[bool]>>,
    store: Option<StoreReader>,
}

struct PartView {
    part: Arc<Partition>,
    searcher: Searcher,
    /// The partition's stream dictionary, read after `searcher`: it names every stream the
    /// searcher's documents carry.
    streams: Option<Arc<[StreamEntry]>>,
}

fn idx_err(p: &Partition, e: tantivy::TantivyError) -> LogError {
    LogError::index(&p.dir, e)
}

impl<'a> SegView<'a> {
    fn open(pv: &PartView, reader: &'a SegmentReader) -> Result<SegView<'a>> {
        let p = &pv.part;
        let ff = reader.fast_fields();
        let stream = match &pv.streams {
            Some(_) => StreamSrc::Dict(Arc::from([])),
            None => {
                let col = ff.str("stream").map_err(|e| idx_err(p, e))?;
                let n = col.as_ref().map_or(0, |s| s.num_terms());
                StreamSrc::Column(col, vec![None; n])
            }
        };
        Ok(SegView {
            reader,
            ts: ff.i64("ts").map_err(|e| idx_err(p, e))?,
            meta: match p.fields.meta {
                MetaFields::WithStream(_) => {
                    MetaCols::WithStream(ff.u64("meta").map_err(|e| idx_err(p, e))?)
                }
                MetaFields::Packed(_) => {
                    MetaCols::Packed(ff.u64("meta").map_err(|e| idx_err(p, e))?)
                }
                MetaFields::Separate { .. } => MetaCols::Separate {
                    level: ff.u64("level").map_err(|e| idx_err(p, e))?,
                    len: ff.u64("len").map_err(|e| idx_err(p, e))?,
                    flags: ff.u64("flags").map_err(|e| idx_err(p, e))?,
                },
            },
            stream,
            allowed: None,
            store: None,
        })
    }

    /// The stream id / column ordinal of `doc`.
    #[inline]
    fn ord(&self, doc: DocId) -> Option<u64> {
        match (&self.stream, &self.meta) {
            (StreamSrc::Dict(_), MetaCols::WithStream(m)) => {
                m.first(doc).map(|v| u64::from(unpack_meta_v4(v).0))
            }
            (StreamSrc::Dict(_), _) => None,
            (StreamSrc::Column(c, _), _) => c.as_ref()?.ords().first(doc),
        }
    }

    /// Resolves `matchers` against every stream of the segment's `stream` column (v1-v3):
    /// sets `allowed` and returns whether any stream matches.
    fn select_column(&mut self, cache: &mut StreamCache, matchers: &[Matcher]) -> bool {
        let StreamSrc::Column(Some(col), by_ord) = &mut self.stream else {
            self.allowed = Some(Arc::from([]));
            return false;
        };
        let mut allowed = vec![false; by_ord.len()];
        let mut key = String::new();
        for (ord, slot) in allowed.iter_mut().enumerate() {
            key.clear();
            if let Ok(true) = col.ord_to_str(ord as u64, &mut key) {
                let v = resolve(cache, &key, matchers);
                *slot = v.is_some();
                by_ord[ord] = Some(v);
            }
        }
        let any = allowed.iter().any(|&a| a);
        let all = allowed.iter().all(|&a| a);
        self.allowed = if all { None } else { Some(allowed.into()) };
        any
    }

    /// Whether `doc` is of a stream the selector matches.
    #[inline]
    fn stream_allowed(&self, doc: DocId) -> bool {
        match &self.allowed {
            None => true,
            Some(a) => self
                .ord(doc)
                .is_some_and(|o| a.get(o as usize).copied().unwrap_or(false)),
        }
    }

    fn overlaps(&self, start: i64, end: i64) -> bool {
        self.reader.num_docs() > 0 && self.ts.min_value() < end && self.ts.max_value() >= start
    }

    fn labels(
        &mut self,
        doc: DocId,
        cache: &mut StreamCache,
        matchers: &[Matcher],
    ) -> Option<Arc<Labels>> {
        let ord = self.ord(doc)? as usize;
        match &mut self.stream {
            StreamSrc::Dict(labels) => labels.get(ord)?.clone(),
            StreamSrc::Column(col, by_ord) => {
                if let Some(v) = by_ord.get(ord)?.as_ref() {
                    return v.clone();
                }
                let mut key = String::new();
                let v = match col.as_ref()?.ord_to_str(ord as u64, &mut key) {
                    Ok(true) => resolve(cache, &key, matchers),
                    _ => None,
                };
                by_ord[ord] = Some(v.clone());
                v
            }
        }
    }

    fn line(&mut self, p: &Partition, f: &Fields, doc: DocId) -> Result<String> {
        if self.store.is_none() {
            self.store = Some(
                self.reader
                    .get_store_reader(8)
                    .map_err(|e| LogError::io(&p.dir, e))?,
            );
        }
        let Some(store) = self.store.as_ref() else {
            return Ok(String::new());
        };
        let d: TantivyDocument = store.get(doc).map_err(|e| idx_err(p, e))?;
        Ok(d.get_first(f.line)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string())
    }

    fn row(&mut self, doc: DocId, ts: i64, labels: Arc<Labels>) -> LogRow {
        let (level, bytes, flags) = self.meta.get(doc);
        LogRow {
            ts_ns: ts,
            labels,
            line: String::new(),
            level: Level::from_code(level),
            bytes,
            flags,
        }
    }
}

impl LogIndex {
    fn views(&self, start: i64, end: i64) -> Vec<PartView> {
        self.partitions()
            .into_iter()
            .filter(|p| p.overlaps(start, end))
            .map(|p| {
                let searcher = p.reader.searcher();
                PartView {
                    streams: p.streams.as_ref().map(|d| d.snapshot()),
                    searcher,
                    part: p,
                }
            })
            .collect()
    }
}

/// The query of one partition (its line filters), `None` when no stream of any of `segs`
/// matches the selector; sets each segment's `allowed` streams.
fn partition_query(
    pv: &PartView,
    segs: &mut [SegView<'_>],
    q: &LogQuery,
    cache: &mut StreamCache,
) -> Result<Option<Box<dyn Query>>> {
    let f = pv.part.fields;
    let mut any = false;
    if let Some(dict) = &pv.streams {
        // Once per partition: the dictionary is the partition's, not the segment's.
        let labels: Arc<[Option<Arc<Labels>>]> = dict
            .iter()
            .map(|e| {
                e.overlaps(q.start_ns, q.end_ns)
                    .then(|| resolve(cache, &e.key, &q.matchers))
                    .flatten()
            })
            .collect();
        let allowed: Arc<[bool]> = labels.iter().map(Option::is_some).collect();
        any = allowed.contains(&true);
        let allowed = (!allowed.iter().all(|&a| a)).then_some(allowed);
        for sv in segs.iter_mut() {
            sv.stream = StreamSrc::Dict(labels.clone());
            sv.allowed = allowed.clone();
        }
    }
    for sv in segs.iter_mut() {
        if matches!(sv.stream, StreamSrc::Column(..)) {
            any |= sv.select_column(cache, &q.matchers);
        }
    }
    if !any {
        return Ok(None);
    }
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    for lq in super::filter::pushdown(&pv.searcher, f.line, &q.filters, (q.start_ns, q.end_ns))? {
        clauses.push((Occur::Must, lq));
    }
    Ok(Some(match clauses.len() {
        0 => Box::new(AllQuery),
        1 => clauses
            .pop()
            .map(|(_, q)| q)
            .unwrap_or_else(|| Box::new(AllQuery)),
        _ => Box::new(BooleanQuery::new(clauses)),
    }))
}

/// Calls `f(segment index, doc, ts)` for each document matching `query` in range, visiting
/// the segments in `order` and leaving out those `skip` rejects (asked just before each).
#[allow(clippy::too_many_arguments)]
fn for_each_doc(
    pv: &PartView,
    segs: &[SegView<'_>],
    order: &[usize],
    query: &dyn Query,
    start: i64,
    end: i64,
    skip: &dyn Fn(&SegView<'_>) -> bool,
    f: &mut dyn FnMut(usize, DocId, i64) -> bool,
) -> Result<()> {
    let weight = query
        .weight(EnableScoring::disabled_from_searcher(&pv.searcher))
        .map_err(|e| idx_err(&pv.part, e))?;
    for &si in order {
        let seg = &segs[si];
        if !seg.overlaps(start, end)
            || seg.allowed.as_ref().is_some_and(|a| !a.contains(&true))
            || skip(seg)
        {
            continue;
        }
        let mut stop = false;
        weight
            .for_each_no_score(seg.reader, &mut |docs| {
                if stop {
                    return;
                }
                for &d in docs {
                    if let Some(ts) = seg.ts.first(d)
                        && ts >= start
                        && ts < end
                        && seg.stream_allowed(d)
                        && !f(si, d, ts)
                    {
                        stop = true;
                        return;
                    }
                }
            })
            .map_err(|e| idx_err(&pv.part, e))?;
        if stop {
            break;
        }
    }
    Ok(())
}

/// The order in which `select` visits segments: those that may hold the first lines in
/// `dir` first (newest lines first for backward), so the candidate heap fills with good
/// candidates early and later segments can be skipped whole.
fn visit_order(segs: &[SegView<'_>], dir: Direction) -> Vec<usize> {
    let mut order: Vec<usize> = (0..segs.len()).collect();
    match dir {
        Direction::Backward => order.sort_by_key(|&i| std::cmp::Reverse(segs[i].ts.max_value())),
        Direction::Forward => order.sort_by_key(|&i| segs[i].ts.min_value()),
    }
    order
}

fn seg_views(pv: &PartView) -> Result<Vec<SegView<'_>>> {
    pv.searcher
        .segment_readers()
        .iter()
        .map(|r| SegView::open(pv, r))
        .collect()
}

/// Sort key of a candidate; ascending = result order.
type Key = (i64, u32, u32, u32);

fn key(dir: Direction, ts: i64, p: usize, s: usize, d: DocId) -> Key {
    let (p, s) = (p as u32, s as u32);
    match dir {
        Direction::Forward => (ts, p, s, d),
        Direction::Backward => (!ts, !p, !s, !d),
    }
}

fn unkey(dir: Direction, k: Key) -> (usize, usize, DocId) {
    match dir {
        Direction::Forward => (k.1 as usize, k.2 as usize, k.3),
        Direction::Backward => (!k.1 as usize, !k.2 as usize, !k.3),
    }
}

impl LogSearcher for LogIndex {
    fn select(
        &self,
        q: &LogQuery,
        direction: Direction,
        limit: usize,
        keep: &mut dyn FnMut(&mut LogRow) -> bool,
    ) -> Result<Vec<LogRow>> {
        let mut out = Vec::new();
        if limit == 0 || q.start_ns >= q.end_ns {
            return Ok(out);
        }
        let views = self.views(q.start_ns, q.end_ns);
        let mut cache = StreamCache::new();
        let mut queries = Vec::with_capacity(views.len());
        let mut segs = Vec::with_capacity(views.len());
        for pv in &views {
            let mut sv = seg_views(pv)?;
            queries.push(partition_query(pv, &mut sv, q, &mut cache)?);
            segs.push(sv);
        }
        let orders: Vec<Vec<usize>> = segs.iter().map(|s| visit_order(s, direction)).collect();
        let mut part_order: Vec<usize> = (0..views.len()).collect();
        if direction == Direction::Backward {
            part_order.reverse(); // partitions are oldest first
        }
        let mut cursor: Option<Key> = None;
        let mut page = limit.clamp(64, 1 << 16);
        loop {
            let mut heap: BinaryHeap<Key> = BinaryHeap::with_capacity(page + 1);
            // Once the heap is full: the time of its worst candidate. A segment whose lines
            // all come after it (before it, backward) cannot supply a better one; equal
            // times can (ties are broken by position), so those are not skipped.
            let bound: Cell<Option<i64>> = Cell::new(None);
            let skip = |sv: &SegView<'_>| match (bound.get(), direction) {
                (Some(b), Direction::Backward) => sv.ts.max_value() < b,
                (Some(b), Direction::Forward) => sv.ts.min_value() > b,
                (None, _) => false,
            };
            for &pi in &part_order {
                let Some(query) = &queries[pi] else { continue };
                for_each_doc(
                    &views[pi],
                    &segs[pi],
                    &orders[pi],
                    query.as_ref(),
                    q.start_ns,
                    q.end_ns,
                    &skip,
                    &mut |si, d, ts| {
                        let k = key(direction, ts, pi, si, d);
                        if cursor.is_some_and(|c| k <= c) {
                            return true;
                        }
                        if heap.len() < page {
                            heap.push(k);
                        } else if heap.peek().is_some_and(|top| k < *top) {
                            heap.pop();
                            heap.push(k);
                        }
                        if heap.len() == page
                            && let Some(top) = heap.peek()
                        {
                            bound.set(Some(match direction {
                                Direction::Forward => top.0,
                                Direction::Backward => !top.0,
                            }));
                        }
                        true
                    },
                )?;
            }
            let full = heap.len() == page;
            let cands = heap.into_sorted_vec();
            for k in &cands {
                let (pi, si, d) = unkey(direction, *k);
                let ts = match direction {
                    Direction::Forward => k.0,
                    Direction::Backward => !k.0,
                };
                let sv = &mut segs[pi][si];
                let Some(labels) = sv.labels(d, &mut cache, &q.matchers) else {
                    continue;
                };
                let mut row = sv.row(d, ts, labels);
                row.line = sv.line(&views[pi].part, &views[pi].part.fields, d)?;
                if q.filters.iter().all(|f| f.matches(&row.line)) && keep(&mut row) {
                    out.push(row);
                    if out.len() >= limit {
                        return Ok(out);
                    }
                }
            }
            match cands.last() {
                Some(last) if full => cursor = Some(*last),
                _ => return Ok(out),
            }
            page = (page * 4).min(1 << 20);
        }
    }

    fn scan(
        &self,
        q: &LogQuery,
        need_line: bool,
        visit: &mut dyn FnMut(&LogRow) -> bool,
    ) -> Result<()> {
        if q.start_ns >= q.end_ns {
            return Ok(());
        }
        let need_line = need_line || !q.filters.is_empty();
        let mut cache = StreamCache::new();
        for pv in self.views(q.start_ns, q.end_ns) {
            let mut segs = seg_views(&pv)?;
            let Some(query) = partition_query(&pv, &mut segs, q, &mut cache)? else {
                continue;
            };
            let mut err = None;
            let mut stopped = false;
            // Collect per segment, then read rows (the walk borrows the segment views).
            let mut hits: Vec<(usize, DocId, i64)> = Vec::new();
            for si in 0..segs.len() {
                hits.clear();
                for_each_doc(
                    &pv,
                    &segs[si..si + 1],
                    &[0],
                    query.as_ref(),
                    q.start_ns,
                    q.end_ns,
                    &|_| false,
                    &mut |_, d, ts| {
                        hits.push((si, d, ts));
                        true
                    },
                )?;
                let sv = &mut segs[si];
                for &(_, d, ts) in &hits {
                    let Some(labels) = sv.labels(d, &mut cache, &q.matchers) else {
                        continue;
                    };
                    let mut row = sv.row(d, ts, labels);
                    if need_line {
                        match sv.line(&pv.part, &pv.part.fields, d) {
                            Ok(l) => row.line = l,
                            Err(e) => {
                                err = Some(e);
                                break;
                            }
                        }
                        if !q.filters.iter().all(|f| f.matches(&row.line)) {
                            continue;
                        }
                    }
                    if !visit(&row) {
                        stopped = true;
                        break;
                    }
                }
                if err.is_some() || stopped {
                    break;
                }
            }
            if let Some(e) = err {
                return Err(e);
            }
            if stopped {
                return Ok(());
            }
        }
        Ok(())
    }

    fn series(&self, matchers: &[Matcher], start_ns: i64, end_ns: i64) -> Result<Vec<Labels>> {
        let mut cache = StreamCache::new();
        let mut out = BTreeSet::new();
        for pv in self.views(start_ns, end_ns) {
            if let Some(dict) = &pv.streams {
                for e in dict.iter().filter(|e| e.overlaps(start_ns, end_ns)) {
                    if let Some(l) = resolve(&mut cache, &e.key, matchers) {
                        out.insert((*l).clone());
                    }
                }
                continue;
            }
            for seg in pv.searcher.segment_readers() {
                let ts = seg
                    .fast_fields()
                    .i64("ts")
                    .map_err(|e| idx_err(&pv.part, e))?;
                if seg.num_docs() == 0 || ts.min_value() >= end_ns || ts.max_value() < start_ns {
                    continue;
                }
                let Some(col) = seg
                    .fast_fields()
                    .str("stream")
                    .map_err(|e| idx_err(&pv.part, e))?
                else {
                    continue;
                };
                let mut key = String::new();
                for ord in 0..col.num_terms() as u64 {
                    key.clear();
                    if let Ok(true) = col.ord_to_str(ord, &mut key)
                        && let Some(l) = resolve(&mut cache, &key, matchers)
                    {
                        out.insert((*l).clone());
                    }
                }
            }
        }
        Ok(out.into_iter().collect())
    }

    fn label_names(&self, matchers: &[Matcher], start_ns: i64, end_ns: i64) -> Result<Vec<String>> {
        let mut names = BTreeSet::new();
        for s in self.series(matchers, start_ns, end_ns)? {
            for l in s.iter() {
                names.insert(l.name.clone());
            }
        }
        Ok(names.into_iter().collect())
    }

    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<String>> {
        let mut vals = BTreeSet::new();
        for s in self.series(matchers, start_ns, end_ns)? {
            if let Some(v) = s.get(name) {
                vals.insert(v.to_string());
            }
        }
        Ok(vals.into_iter().collect())
    }

    fn stats(&self, matchers: &[Matcher], start_ns: i64, end_ns: i64) -> Result<SelectorStats> {
        let q = LogQuery {
            matchers: matchers.to_vec(),
            start_ns,
            end_ns,
            filters: Vec::new(),
        };
        let mut s = SelectorStats::default();
        let mut streams = BTreeSet::new();
        self.scan(&q, false, &mut |r| {
            s.entries += 1;
            s.bytes += r.bytes;
            if !streams.contains(&*r.labels) {
                streams.insert((*r.labels).clone());
            }
            true
        })?;
        s.streams = streams.len() as u64;
        for pv in self.views(start_ns, end_ns) {
            s.chunks += pv.searcher.segment_readers().len() as u64;
        }
        Ok(s)
    }
}
