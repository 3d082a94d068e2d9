//! Synthetic Prometheus text-format (0.0.4) payloads for the scrape harness.
//!
//! A [`Payload`] describes one target's exposition: node-exporter-like families (CPU seconds,
//! memory, network, disk, filesystem), two request histograms, process metrics, and as many
//! cAdvisor-like per-container families as it takes to reach the requested series count. The
//! series set is the same on every target (as on real nodes, `instance` is what tells them
//! apart); the values differ per target and move between scrapes.
//!
//! Invariants:
//! - exactly `series` sample lines per render, families contiguous, each with `# HELP` and
//!   `# TYPE` lines first;
//! - counters, histogram buckets, `_sum` and `_count` never decrease for a given target as the
//!   elapsed time grows, and buckets are cumulative (`le` ascending ⇒ counts non-decreasing,
//!   `+Inf` = `_count`);
//! - values depend only on (seed, target, series, elapsed time): rendering is stateless, so any
//!   number of connections can render concurrently.
//!
//! Cost: the text of every line up to its value is built once ([`Payload::new`]) and shared by
//! all targets; a render copies those bytes and formats one number per line (two or three cheap
//! integer hashes, no float parsing, no allocation once `out` has grown to the body size).

use std::fmt::Write as _;

/// How one sample value moves over time.
#[derive(Debug, Clone, Copy)]
enum Model {
    /// Same value on every target and every scrape (MTU, `up`-like flags).
    Const(f64),
    /// `start + rate * t`, start and rate jittered per target (0.5×–1.5×).
    Counter { start: f64, rate: f64 },
    /// Jittered per target (0.75×–1.25×), then a new value within ±`rel` every second.
    Gauge { base: f64, rel: f64 },
    /// One line of a histogram whose observation count grows like a counter.
    Hist {
        start: f64,
        rate: f64,
        part: HistPart,
    },
}

#[derive(Debug, Clone, Copy)]
enum HistPart {
    /// Cumulative bucket holding this fraction of the observations (1.0 for `+Inf`).
    Bucket(f64),
    /// `_sum`: count × mean observation.
    Sum(f64),
    /// `_count`.
    Count,
}

/// One sample line: the static text before its value ends at `text_end`.
#[derive(Debug, Clone, Copy)]
struct Slot {
    text_end: usize,
    /// Hash key for per-target jitter; all lines of one histogram share it.
    key: u32,
    decimals: u8,
    model: Model,
}

/// One series before it is laid out: metric name (with `_bucket` etc.), labels, value model.
#[derive(Debug)]
pub(crate) struct SeriesDef {
    pub(crate) name: String,
    pub(crate) labels: Vec<(&'static str, String)>,
    pub(crate) decimals: u8,
    model: Model,
    key: u32,
}

/// A metric family before it is laid out.
#[derive(Debug)]
pub(crate) struct FamilyDef {
    pub(crate) name: String,
    pub(crate) help: &'static str,
    pub(crate) kind: &'static str,
    pub(crate) series: Vec<SeriesDef>,
}

/// The precomputed exposition of one target shape; see the module header.
#[derive(Debug)]
pub struct Payload {
    text: Vec<u8>,
    slots: Vec<Slot>,
    seed: u64,
    families: usize,
}

impl Payload {
    /// Lays out exactly `series` sample lines (0 gives an empty body). `seed` picks the
    /// per-target jitter; two payloads with the same arguments render identical bytes.
    pub fn new(series: usize, seed: u64) -> Self {
        let families = crate::catalog::families(series);
        let mut text = Vec::new();
        let mut slots = Vec::with_capacity(series);
        for fam in &families {
            // Writing into a Vec<u8> through fmt::Write cannot fail.
            let _ = write!(
                Bytes(&mut text),
                "# HELP {} {}\n# TYPE {} {}\n",
                fam.name,
                fam.help,
                fam.name,
                fam.kind
            );
            for s in &fam.series {
                text.extend_from_slice(s.name.as_bytes());
                if !s.labels.is_empty() {
                    text.push(b'{');
                    for (i, (k, v)) in s.labels.iter().enumerate() {
                        if i > 0 {
                            text.push(b',');
                        }
                        let _ = write!(Bytes(&mut text), "{k}=\"{v}\"");
                    }
                    text.push(b'}');
                }
                text.push(b' ');
                slots.push(Slot {
                    text_end: text.len(),
                    key: s.key,
                    decimals: s.decimals,
                    model: s.model,
                });
                text.push(b'\n');
            }
        }
        debug_assert_eq!(slots.len(), series);
        Self {
            text,
            slots,
            seed,
            families: families.len(),
        }
    }

    /// Number of sample lines in each render.
    pub fn series(&self) -> usize {
        self.slots.len()
    }

    /// Number of metric families (HELP/TYPE pairs) in each render.
    pub fn families(&self) -> usize {
        self.families
    }

    /// Approximate body size in bytes (static text plus ~12 bytes per value).
    pub fn approx_len(&self) -> usize {
        self.text.len() + 12 * self.slots.len()
    }

    /// Appends the body of `target` as scraped `elapsed_secs` after the server started.
    pub fn render(&self, target: u32, elapsed_secs: f64, out: &mut Vec<u8>) {
        let tseed = mix(self.seed ^ (u64::from(target) << 32));
        let tick = elapsed_secs.max(0.0) as u64;
        let mut pos = 0usize;
        for slot in &self.slots {
            let end = slot.text_end;
            out.extend_from_slice(&self.text[pos..end]);
            let v = value(slot, tseed, tick, elapsed_secs);
            write_fixed(out, v, slot.decimals);
            pos = end;
        }
        out.extend_from_slice(&self.text[pos..]);
    }
}

/// Value of one line for one target at time `t` (seconds since start).
fn value(slot: &Slot, tseed: u64, tick: u64, t: f64) -> f64 {
    let k = tseed ^ u64::from(slot.key).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    match slot.model {
        Model::Const(v) => v,
        Model::Counter { start, rate } => {
            start * (0.5 + unit(mix(k ^ 1))) + rate * (0.5 + unit(mix(k ^ 2))) * t
        }
        Model::Gauge { base, rel } => {
            let b = base * (0.75 + 0.5 * unit(mix(k ^ 3)));
            if rel == 0.0 {
                b
            } else {
                b * (1.0
                    + rel * (2.0 * unit(mix(k ^ tick.wrapping_mul(0xA24B_AED4_963E_E407))) - 1.0))
            }
        }
        Model::Hist { start, rate, part } => {
            let count =
                (start * (0.5 + unit(mix(k ^ 1))) + rate * (0.5 + unit(mix(k ^ 2))) * t).floor();
            match part {
                HistPart::Bucket(cdf) => (count * cdf).floor(),
                HistPart::Sum(mean) => count * mean,
                HistPart::Count => count,
            }
        }
    }
}

/// splitmix64 finaliser: a cheap, well-mixed 64-bit hash.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Maps a hash to [0, 1).
fn unit(h: u64) -> f64 {
    (h >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Writes a non-negative value with a fixed number of decimals (0–6), without allocating.
/// Negative or non-finite inputs are written as 0.
fn write_fixed(out: &mut Vec<u8>, v: f64, decimals: u8) {
    let decimals = decimals.min(6);
    let scale = 10u64.pow(u32::from(decimals));
    let v = if v.is_finite() && v > 0.0 { v } else { 0.0 };
    let scaled = (v * scale as f64).round() as u64; // saturates on overflow
    write_u64(out, scaled / scale);
    if decimals > 0 {
        out.push(b'.');
        let frac = scaled % scale;
        let mut digits = [b'0'; 6];
        let mut f = frac;
        for d in digits[..usize::from(decimals)].iter_mut().rev() {
            *d = b'0' + (f % 10) as u8;
            f /= 10;
        }
        out.extend_from_slice(&digits[..usize::from(decimals)]);
    }
}

fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// `fmt::Write` over a byte vector, for laying out the static text.
struct Bytes<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Bytes<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

// Constructors used by the catalog, kept here so the value model stays private.
impl SeriesDef {
    fn new(name: &str, labels: Vec<(&'static str, String)>, decimals: u8, model: Model) -> Self {
        Self {
            name: name.to_owned(),
            labels,
            decimals,
            model,
            key: 0,
        }
    }

    pub(crate) fn constant(name: &str, labels: Vec<(&'static str, String)>, v: f64) -> Self {
        Self::new(name, labels, 0, Model::Const(v))
    }

    pub(crate) fn counter(
        name: &str,
        labels: Vec<(&'static str, String)>,
        decimals: u8,
        start: f64,
        rate: f64,
    ) -> Self {
        Self::new(name, labels, decimals, Model::Counter { start, rate })
    }

    pub(crate) fn gauge(
        name: &str,
        labels: Vec<(&'static str, String)>,
        decimals: u8,
        base: f64,
        rel: f64,
    ) -> Self {
        Self::new(name, labels, decimals, Model::Gauge { base, rel })
    }

    /// The `_bucket` lines, `_sum` and `_count` of one histogram with the given upper bounds
    /// (`+Inf` is added), median observation `median` and observation rate `rate` per second.
    pub(crate) fn histogram(
        base: &str,
        labels: Vec<(&'static str, String)>,
        bounds: &[f64],
        median: f64,
        rate: f64,
    ) -> Vec<Self> {
        let start = rate * 50_000.0;
        let hist = |part| Model::Hist { start, rate, part };
        let bucket_name = format!("{base}_bucket");
        let mut out = Vec::with_capacity(bounds.len() + 3);
        for &le in bounds {
            // Log-logistic CDF: a cheap stand-in for a log-normal latency distribution.
            let cdf = 1.0 / (1.0 + (-2.5 * (le.ln() - median.ln())).exp());
            let mut l = labels.clone();
            l.push(("le", format!("{le}")));
            out.push(Self::new(&bucket_name, l, 0, hist(HistPart::Bucket(cdf))));
        }
        let mut l = labels.clone();
        l.push(("le", "+Inf".to_owned()));
        out.push(Self::new(&bucket_name, l, 0, hist(HistPart::Bucket(1.0))));
        out.push(Self::new(
            &format!("{base}_sum"),
            labels.clone(),
            3,
            hist(HistPart::Sum(median * 1.3)),
        ));
        out.push(Self::new(
            &format!("{base}_count"),
            labels,
            0,
            hist(HistPart::Count),
        ));
        out
    }

    /// Gives every series a distinct jitter key, except that the lines of one histogram
    /// (same labels apart from `le`, same base name) share one.
    pub(crate) fn assign_keys(families: &mut [FamilyDef]) {
        let mut next = 1u32;
        for fam in families {
            let mut last_hist: Option<Vec<(&'static str, String)>> = None;
            for s in &mut fam.series {
                if let Model::Hist { .. } = s.model {
                    let group: Vec<_> = s
                        .labels
                        .iter()
                        .filter(|(k, _)| *k != "le")
                        .cloned()
                        .collect();
                    if last_hist.as_ref() != Some(&group) {
                        next += 1;
                        last_hist = Some(group);
                    }
                    s.key = next;
                } else {
                    next += 1;
                    s.key = next;
                    last_hist = None;
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "exposition_tests.rs"]
mod tests;
