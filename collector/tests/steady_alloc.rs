//! A steady scrape (every series already in the per-target cache) allocates almost nothing:
//! parsing borrows from the body, the cache is looked up by the raw series bytes, and samples
//! go to the store by reference. Counted with a counting global allocator around
//! `ScrapeCache::append_body`, with an appender that stores nothing (so only the scrape path
//! is measured, not the store).

use lookout_collector::parse::Format;
use lookout_collector::scrape::append::{AppendOptions, ScrapeCache};
use lookout_store::{AppendStats, Appender, Labels, SeriesRef};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// Hands out references and keeps nothing.
struct Sink {
    next: SeriesRef,
    appended: u64,
}

impl Appender for Sink {
    fn append(
        &mut self,
        r: SeriesRef,
        _l: &Labels,
        _t: i64,
        _v: f64,
    ) -> lookout_store::Result<SeriesRef> {
        self.appended += 1;
        if r != 0 {
            return Ok(r);
        }
        self.next += 1;
        Ok(self.next)
    }
    fn commit(self: Box<Self>) -> lookout_store::Result<AppendStats> {
        Ok(AppendStats::default())
    }
    fn rollback(self: Box<Self>) {}
}

#[test]
fn steady_scrape_allocates_almost_nothing() {
    let mut body =
        String::from("# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\n");
    for i in 0..1000 {
        body.push_str(&format!(
            "http_requests_total{{method=\"GET\",code=\"200\",handler=\"/api/v{}\",instance_id=\"{i}\"}} {}\n",
            i % 7,
            i * 3
        ));
    }
    let opts = AppendOptions {
        honor_labels: false,
        honor_timestamps: true,
        sample_limit: 0,
        label_limit: 0,
        label_name_length_limit: 0,
        label_value_length_limit: 0,
        metric_relabel: Vec::new(),
    };
    let target = Labels::from_pairs([("job", "j"), ("instance", "i:1")]);
    let mut cache = ScrapeCache::new();
    let mut sink = Sink {
        next: 0,
        appended: 0,
    };
    // First scrape fills the cache.
    let a = cache
        .append_body(
            &mut sink,
            body.as_bytes(),
            Format::Text,
            1000,
            &target,
            &opts,
        )
        .unwrap();
    assert_eq!(a.series_added, 1000);
    // Steady scrapes.
    let before = ALLOCS.load(Relaxed);
    for k in 0..10 {
        let a = cache
            .append_body(
                &mut sink,
                body.as_bytes(),
                Format::Text,
                2000 + k,
                &target,
                &opts,
            )
            .unwrap();
        assert_eq!(a.series_added, 0);
        assert_eq!(a.scraped, 1000);
    }
    let per_scrape = (ALLOCS.load(Relaxed) - before) / 10;
    eprintln!("allocations per steady scrape of 1,000 samples: {per_scrape}");
    assert_eq!(sink.appended, 11_000);
    // 1,000 samples per scrape: allow a handful of allocations per scrape (metadata), never
    // one per sample.
    assert!(
        per_scrape <= 8,
        "{per_scrape} allocations per steady scrape of 1,000 samples"
    );
}
