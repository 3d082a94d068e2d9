//! Block size and restart figures for `benches/scripts/blocks_vs_prometheus.sh`.
//!
//!   block_size size FILE DIR
//!       Reads Prometheus text with millisecond timestamps (`name{labels} value ts`, as
//!       `shared/fixtures/node-exporter-6h.prom.gz` unpacked or `shared/tools/gen_series.py`
//!       print), writes lookout blocks under DIR/blocks exactly as the head cut does (2 h
//!       aligned, level 1), then merges them all into one block as compaction does, and
//!       prints one JSON line per stage: samples, series, blocks, chunks+index bytes.
//!   block_size restart DIR SERIES HOURS
//!       Appends SERIES series × HOURS at a 15 s interval through a `Db` (WAL on, 2 h blocks,
//!       maintenance passes as the agent runs them), closes it, then times `Db::open`.
//!   block_size reopen DIR [WORKERS]
//!       Times `Db::open` of an existing store only (for profiling replay on a copy of a
//!       `restart` directory; each open leaves one more empty segment behind), with WORKERS
//!       replay threads (default: one per core).
//!
//! Loading uses the store's public block API; nothing here is timed but the reopen.

use lookout_store::tsdb::block::Block;
use lookout_store::tsdb::block::meta::Compaction;
use lookout_store::tsdb::block::writer::BlockWriter;
use lookout_store::tsdb::block_set::BlockSet;
use lookout_store::tsdb::compact;
use lookout_store::{Appendable, Db, DbOptions, Label, Labels, SeriesRef};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;
use std::time::{Duration, Instant};

const RANGE: i64 = 2 * 3600 * 1000;

type Data = BTreeMap<Labels, Vec<(i64, f64)>>;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let res = match args.get(1).map(String::as_str) {
        Some("size") if args.len() == 4 => size(Path::new(&args[2]), Path::new(&args[3])),
        Some("restart") if args.len() == 5 => restart(&args[2], &args[3], &args[4]),
        Some("reopen") if args.len() == 3 || args.len() == 4 => {
            match args.get(3).map(|w| w.parse::<usize>()).transpose() {
                Ok(w) => reopen(&args[2], "null", "null", w.unwrap_or(0)),
                Err(_) => Err("WORKERS must be a number".into()),
            }
        }
        _ => Err(
            "usage: block_size size FILE DIR | block_size restart DIR SERIES HOURS | block_size reopen DIR [WORKERS]"
                .into(),
        ),
    };
    if let Err(e) = res {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// Parses `name{a="b",c="d"}` (escapes `\\`, `\"`, `\n`) into labels.
fn parse_key(key: &str) -> Result<Labels, String> {
    let (name, rest) = match key.find('{') {
        Some(i) => (&key[..i], &key[i + 1..]),
        None => (key, ""),
    };
    let mut pairs = vec![Label {
        name: "__name__".into(),
        value: name.into(),
    }];
    let rest = rest.strip_suffix('}').unwrap_or(rest);
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || *c == ' ') {
            chars.next();
        }
        let mut lname = String::new();
        for c in chars.by_ref() {
            if c == '=' {
                break;
            }
            lname.push(c);
        }
        if lname.is_empty() {
            break;
        }
        if chars.next() != Some('"') {
            return Err(format!("bad labels in {key:?}"));
        }
        let mut value = String::new();
        loop {
            match chars.next() {
                Some('\\') => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(c) => value.push(c),
                    None => return Err(format!("bad escape in {key:?}")),
                },
                Some('"') => break,
                Some(c) => value.push(c),
                None => return Err(format!("unterminated value in {key:?}")),
            }
        }
        pairs.push(Label { name: lname, value });
    }
    Ok(Labels::from_vec(pairs))
}

fn read(file: &Path) -> Result<(Data, u64), String> {
    let f = std::fs::File::open(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut data: Data = BTreeMap::new();
    let mut n = 0u64;
    let mut last_key = String::new();
    let mut last_labels = Labels::default();
    for line in std::io::BufReader::with_capacity(1 << 20, f).lines() {
        let line = line.map_err(|e| e.to_string())?;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut it = line.rsplitn(3, ' ');
        let (Some(ts), Some(v), Some(key)) = (it.next(), it.next(), it.next()) else {
            return Err(format!("bad line {line:?}"));
        };
        let t: i64 = ts
            .parse()
            .map_err(|_| format!("bad timestamp in {line:?}"))?;
        let v: f64 = match v {
            "NaN" => f64::NAN,
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().map_err(|_| format!("bad value in {line:?}"))?,
        };
        if key != last_key {
            last_labels = parse_key(key)?;
            last_key = key.to_owned();
        }
        let s = data.entry(last_labels.clone()).or_default();
        if s.last().is_none_or(|l| l.0 < t) {
            s.push((t, v));
            n += 1;
        }
    }
    Ok((data, n))
}

fn bytes(dir: &Path) -> u64 {
    ["chunks", "index"]
        .iter()
        .map(|f| std::fs::metadata(dir.join(f)).map_or(0, |m| m.len()))
        .sum()
}

fn size(file: &Path, dir: &Path) -> Result<(), String> {
    let (data, samples) = read(file)?;
    let blocks_dir = dir.join("blocks");
    let (lo, hi) = data
        .values()
        .flat_map(|s| [s.first(), s.last()])
        .flatten()
        .fold((i64::MAX, i64::MIN), |(a, b), s| (a.min(s.0), b.max(s.0)));
    let mut a = lo.div_euclid(RANGE) * RANGE;
    let mut total = 0u64;
    let mut nblocks = 0;
    while a <= hi {
        let mut w = BlockWriter::create(&blocks_dir).map_err(|e| e.to_string())?;
        for (l, s) in &data {
            let from = s.partition_point(|x| x.0 < a);
            let to = s.partition_point(|x| x.0 < a + RANGE);
            w.add_series(l.clone(), &s[from..to])
                .map_err(|e| e.to_string())?;
        }
        let c = Compaction {
            level: 1,
            ..Compaction::default()
        };
        if let Some((_, d)) = w.finish(a, a + RANGE, c).map_err(|e| e.to_string())? {
            total += bytes(&d);
            nblocks += 1;
        }
        a += RANGE;
    }
    println!(
        "{{\"stage\":\"2h\",\"samples\":{samples},\"series\":{},\"blocks\":{nblocks},\"bytes\":{total}}}",
        data.len()
    );
    let set = BlockSet::open(&blocks_dir).map_err(|e| e.to_string())?;
    let all = set.snapshot();
    let id = compact::compact(&set, &all)
        .map_err(|e| e.to_string())?
        .ok_or("nothing compacted")?;
    let b = Block::open(&blocks_dir.join(&id)).map_err(|e| e.to_string())?;
    println!(
        "{{\"stage\":\"compacted\",\"samples\":{},\"series\":{},\"blocks\":1,\"bytes\":{}}}",
        b.meta().stats.num_samples,
        b.meta().stats.num_series,
        bytes(b.dir())
    );
    Ok(())
}

fn restart(dir: &str, series: &str, hours: &str) -> Result<(), String> {
    let series: usize = series.parse().map_err(|_| "SERIES must be a number")?;
    let hours: f64 = hours.parse().map_err(|_| "HOURS must be a number")?;
    let steps = (hours * 240.0) as i64;
    let opts = || DbOptions {
        compact_interval: Duration::ZERO,
        ..DbOptions::default()
    };
    let labels: Vec<Labels> = (0..series)
        .map(|i| {
            Labels::from_pairs([
                ("__name__", format!("m{}", i % 100)),
                (
                    "instance",
                    format!("10.0.{}.{}:9100", i / 25_000, (i / 100) % 250),
                ),
                ("job", "node".into()),
                ("idx", (i % 1000).to_string()),
            ])
        })
        .collect();
    {
        let db = Db::open(dir, opts()).map_err(|e| e.to_string())?;
        let mut refs: Vec<SeriesRef> = vec![0; series];
        let t0 = 1_700_000_000_000i64;
        for k in 0..steps {
            let t = t0 + k * 15_000;
            let mut app = db.appender();
            for (i, r) in refs.iter_mut().enumerate() {
                let v = if i % 3 == 0 {
                    (k * (i as i64 % 17)) as f64
                } else {
                    (i % 50) as f64
                };
                *r = app
                    .append(*r, &labels[i], t, v)
                    .map_err(|e| e.to_string())?;
            }
            app.commit().map_err(|e| e.to_string())?;
            if k % 240 == 239 {
                db.compact().map_err(|e| e.to_string())?;
            }
        }
        db.compact().map_err(|e| e.to_string())?;
        db.close().map_err(|e| e.to_string())?;
    }
    reopen(dir, &series.to_string(), &hours.to_string(), 0)
}

/// Times `Db::open` of `dir` and prints one JSON line (`series`/`hours` as given).
fn reopen(dir: &str, series: &str, hours: &str, workers: usize) -> Result<(), String> {
    let opts = DbOptions {
        compact_interval: Duration::ZERO,
        replay_workers: workers,
        ..DbOptions::default()
    };
    let start = Instant::now();
    let db = Db::open(dir, opts).map_err(|e| e.to_string())?;
    let took = start.elapsed();
    let rs = db.replay_stats();
    println!(
        "{{\"stage\":\"restart\",\"series\":{series},\"hours\":{hours},\"blocks\":{},\"head_series\":{},\"replayed_samples\":{},\"checkpoint\":{},\"segments\":{},\"workers\":{},\"replay_seconds\":{:.3},\"open_seconds\":{:.3}}}",
        db.blocks().len(),
        db.head().num_series(),
        rs.samples,
        rs.checkpoint.is_some(),
        rs.segments,
        rs.workers,
        rs.duration.as_secs_f64(),
        took.as_secs_f64()
    );
    Ok(())
}
