//! The deterministic data set both engines get: counters with resets, gauges with NaN and
//! ±Inf, a series that goes stale and comes back, classic histograms, series with mismatched
//! label sets, and series with gaps longer than the lookback.

use lookout_query::api::write::{Label, Sample, TimeSeries, WriteRequest};

/// Start of the data (ms); a multiple of one hour.
pub const T0: i64 = 1_699_999_200_000;
/// Sample interval (ms).
pub const STEP: i64 = 15_000;
/// Number of samples per series (one hour).
pub const N: i64 = 241;

pub struct Gen(u64);

impl Gen {
    pub fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    /// In `[0, 1)` with three decimals (exactly representable sums stay simple).
    pub fn unit(&mut self) -> f64 {
        (self.next() % 1000) as f64 / 1000.0
    }
}

pub struct Def {
    pub labels: Vec<(String, String)>,
    /// `(index, value)`; the index is the sample number (time `T0 + i * STEP`).
    pub samples: Vec<(i64, f64)>,
}

fn def(name: &str, labels: &[(&str, &str)]) -> Def {
    let mut l: Vec<(String, String)> = vec![("__name__".into(), name.into())];
    l.extend(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Def {
        labels: l,
        samples: Vec::new(),
    }
}

pub fn build() -> Vec<Def> {
    let mut g = Gen(42);
    let mut out = Vec::new();
    // Counters with resets.
    for job in ["api", "db"] {
        for inst in ["i0", "i1", "i2"] {
            for method in ["get", "post"] {
                let mut d = def(
                    "http_requests_total",
                    &[("job", job), ("instance", inst), ("method", method)],
                );
                let mut v = (g.next() % 100) as f64;
                let reset_at = 40 + (g.next() % 150) as i64;
                for i in 0..N {
                    if i == reset_at {
                        v = (g.next() % 5) as f64;
                    } else {
                        v += (g.next() % 20) as f64;
                    }
                    d.samples.push((i, v));
                }
                out.push(d);
            }
        }
    }
    // Gauges; one series carries NaN now and then.
    for inst in ["i0", "i1", "i2"] {
        for mode in ["user", "system"] {
            let mut d = def("cpu_usage", &[("instance", inst), ("mode", mode)]);
            for i in 0..N {
                let v = if inst == "i1" && mode == "user" && i % 17 == 5 {
                    f64::NAN
                } else {
                    g.unit() * 100.0
                };
                d.samples.push((i, v));
            }
            out.push(d);
        }
    }
    // A gauge that goes stale at 30m and comes back at 40m.
    for inst in ["i0", "i1"] {
        let mut d = def("memory_bytes", &[("instance", inst)]);
        for i in 0..N {
            if inst == "i1" && (120..160).contains(&i) {
                if i == 120 {
                    d.samples.push((i, f64::from_bits(0x7ff0_0000_0000_0002)));
                }
                continue;
            }
            d.samples
                .push((i, 1e6 + (g.next() % 10_000) as f64 * 100.0));
        }
        out.push(d);
    }
    // Temperatures with infinities.
    for room in ["a", "b"] {
        let mut d = def("temperature", &[("room", room)]);
        for i in 0..N {
            let v = match (room, i % 50) {
                ("a", 10) => f64::INFINITY,
                ("b", 20) => f64::NEG_INFINITY,
                _ => 15.0 + g.unit() * 10.0,
            };
            d.samples.push((i, v));
        }
        out.push(d);
    }
    // Classic histograms.
    let les = ["0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"];
    for job in ["api", "db"] {
        let mut counts = [0f64; 7];
        let mut sum = 0.0;
        let mut defs: Vec<Def> = les
            .iter()
            .map(|le| {
                def(
                    "request_duration_seconds_bucket",
                    &[("job", job), ("le", le)],
                )
            })
            .collect();
        let mut dsum = def("request_duration_seconds_sum", &[("job", job)]);
        let mut dcount = def("request_duration_seconds_count", &[("job", job)]);
        for i in 0..N {
            for _ in 0..(g.next() % 10) {
                let obs = g.unit() * 3.0;
                sum += obs;
                for (k, le) in [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, f64::INFINITY]
                    .iter()
                    .enumerate()
                {
                    if obs <= *le {
                        counts[k] += 1.0;
                    }
                }
            }
            for (k, d) in defs.iter_mut().enumerate() {
                d.samples.push((i, counts[k]));
            }
            dsum.samples.push((i, sum));
            dcount.samples.push((i, counts[6]));
        }
        out.append(&mut defs);
        out.push(dsum);
        out.push(dcount);
    }
    // up and an info-style metric for joins.
    for (job, inst) in [
        ("api", "i0"),
        ("api", "i1"),
        ("api", "i2"),
        ("db", "i0"),
        ("db", "i1"),
        ("db", "i2"),
    ] {
        let mut d = def("up", &[("job", job), ("instance", inst)]);
        for i in 0..N {
            d.samples.push((
                i,
                if inst == "i2" && job == "db" && i > 200 {
                    0.0
                } else {
                    1.0
                },
            ));
        }
        out.push(d);
    }
    for (inst, ver) in [("i0", "1.0"), ("i1", "1.1"), ("i2", "2.0")] {
        let mut d = def("build_info", &[("instance", inst), ("version", ver)]);
        for i in 0..N {
            d.samples.push((i, 1.0));
        }
        out.push(d);
    }
    // Mismatched label sets.
    for labels in [
        &[("a", "1")][..],
        &[("a", "1"), ("b", "2")],
        &[("c", "3")],
        &[("a", "2"), ("c", "3")],
    ] {
        let mut d = def("mixed", labels);
        for i in 0..N {
            d.samples.push((i, (i % 7) as f64 + labels.len() as f64));
        }
        out.push(d);
    }
    // Gaps longer than the lookback.
    for inst in ["i0", "i1"] {
        let mut d = def("gappy", &[("instance", inst)]);
        for i in 0..N {
            let on = if inst == "i0" {
                (i / 40) % 2 == 0
            } else {
                (i / 30) % 2 == 1
            };
            if on {
                d.samples.push((i, i as f64 * 0.5));
            }
        }
        out.push(d);
    }
    out
}

/// The write requests covering `[from, to)` sample indexes for every series.
pub fn request(defs: &[Def], from: i64, to: i64) -> WriteRequest {
    WriteRequest {
        timeseries: defs
            .iter()
            .filter_map(|d| {
                let samples: Vec<Sample> = d
                    .samples
                    .iter()
                    .filter(|(i, _)| *i >= from && *i < to)
                    .map(|&(i, v)| Sample {
                        value: v,
                        timestamp: T0 + i * STEP,
                    })
                    .collect();
                let mut labels: Vec<Label> = d
                    .labels
                    .iter()
                    .map(|(n, v)| Label {
                        name: n.clone(),
                        value: v.clone(),
                    })
                    .collect();
                labels.sort_by(|a, b| a.name.cmp(&b.name));
                (!samples.is_empty()).then(|| TimeSeries {
                    labels,
                    samples,
                    histograms: vec![],
                })
            })
            .collect(),
    }
}
