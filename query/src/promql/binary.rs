//! Binary operators: arithmetic, comparisons (filtering or `bool`), `atan2`, and the set
//! operators `and` / `or` / `unless`, between scalars and vectors, with `on` / `ignoring`
//! matching and `group_left` / `group_right`, following Prometheus 2.x: the metric name is
//! dropped by arithmetic and `bool`, one-to-one matching must be unique on both sides, and
//! many-to-one matching must be unique on the "one" side.
//!
//! Cost: each series' match signature is computed once and interned to an integer; per step
//! the "one" side is indexed by signature in flat arrays (no hashing per sample).

use super::check::is_set_op;
use super::eval::Ev;
use super::value::{
    Series, Value, del_labels, drop_name, keep_labels, merge_same_labels, set_label,
};
use crate::error::{Error, Result};
use lookout_store::Labels;
use promql_parser::parser::token::*;
use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};
use std::collections::{HashMap, HashSet};

/// Applies an arithmetic or comparison operator to two floats: `(value, keep)`.
pub fn elem(op: TokenId, l: f64, r: f64) -> Result<(f64, bool)> {
    Ok(match op {
        T_ADD => (l + r, true),
        T_SUB => (l - r, true),
        T_MUL => (l * r, true),
        T_DIV => (l / r, true),
        T_MOD => (l % r, true),
        T_POW => (l.powf(r), true),
        T_ATAN2 => (l.atan2(r), true),
        T_EQLC => (l, l == r),
        T_NEQ => (l, l != r),
        T_GTR => (l, l > r),
        T_LSS => (l, l < r),
        T_GTE => (l, l >= r),
        T_LTE => (l, l <= r),
        _ => {
            return Err(Error::BadData(format!(
                "operator {} not allowed here",
                promql_parser::parser::token::TokenType::new(op)
            )));
        }
    })
}

/// Arithmetic drops the metric name; comparisons and `atan2` keep it (Prometheus 2.x).
fn drops_name(op: TokenId) -> bool {
    matches!(op, T_ADD | T_SUB | T_MUL | T_DIV | T_MOD | T_POW)
}

fn is_comparison(op: TokenId) -> bool {
    matches!(op, T_EQLC | T_NEQ | T_GTR | T_LSS | T_GTE | T_LTE)
}

pub fn eval(ev: &Ev, b: &BinaryExpr) -> Result<Value> {
    let op = b.op.id();
    let ret_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
    let l = ev.eval(&b.lhs)?;
    let r = ev.eval(&b.rhs)?;
    match (l, r) {
        (Value::Scalar(a), Value::Scalar(c)) => {
            let mut out = Vec::with_capacity(a.len());
            for (x, y) in a.into_iter().zip(c) {
                let (v, keep) = elem(op, x, y)?;
                out.push(if is_comparison(op) {
                    if keep { 1.0 } else { 0.0 }
                } else {
                    v
                });
            }
            Ok(Value::Scalar(out))
        }
        (Value::Vector(v), Value::Scalar(s)) => vector_scalar(ev, op, v, &s, false, ret_bool),
        (Value::Scalar(s), Value::Vector(v)) => vector_scalar(ev, op, v, &s, true, ret_bool),
        (Value::Vector(l), Value::Vector(r)) => {
            let (on, mlabels) = match b.modifier.as_ref().and_then(|m| m.matching.as_ref()) {
                None => (false, Vec::new()),
                Some(LabelModifier::Include(l)) => (true, l.labels.clone()),
                Some(LabelModifier::Exclude(l)) => (false, l.labels.clone()),
            };
            let card = b
                .modifier
                .as_ref()
                .map(|m| m.card.clone())
                .unwrap_or(VectorMatchCardinality::OneToOne);
            let m = Matching {
                on,
                labels: mlabels,
                card,
            };
            if is_set_op(op) {
                set_op(ev, op, l, r, &m)
            } else {
                vector_vector(ev, op, l, r, &m, ret_bool)
            }
        }
        (l, r) => Err(Error::Execution(format!(
            "binary operator {} not defined between {} and {}",
            promql_parser::parser::token::TokenType::new(op),
            l.type_name(),
            r.type_name()
        ))),
    }
}

fn vector_scalar(
    ev: &Ev,
    op: TokenId,
    mut v: Vec<Series>,
    s: &[f64],
    swap: bool,
    ret_bool: bool,
) -> Result<Value> {
    let drop = drops_name(op) || ret_bool;
    for se in &mut v {
        if drop {
            se.labels = drop_name(&se.labels);
        }
        let mut out = Vec::with_capacity(se.pts.len());
        for &(i, x) in &se.pts {
            let (l, r) = if swap {
                (s[i as usize], x)
            } else {
                (x, s[i as usize])
            };
            let (mut val, mut keep) = elem(op, l, r)?;
            if is_comparison(op) && swap {
                val = r;
            }
            if ret_bool {
                val = if keep { 1.0 } else { 0.0 };
                keep = true;
            }
            if keep {
                out.push((i, val));
            }
        }
        se.pts = out;
    }
    v.retain(|s| !s.pts.is_empty());
    Ok(Value::Vector(merge_same_labels(v, ev.n() == 1)?))
}

struct Matching {
    on: bool,
    labels: Vec<String>,
    card: VectorMatchCardinality,
}

impl Matching {
    fn signature(&self, l: &Labels, buf: &mut String) {
        buf.clear();
        for lab in l.iter() {
            let inc = if self.on {
                self.labels.contains(&lab.name)
            } else {
                lab.name != "__name__" && !self.labels.contains(&lab.name)
            };
            if inc {
                buf.push_str(&lab.name);
                buf.push('\u{ff}');
                buf.push_str(&lab.value);
                buf.push('\u{ff}');
            }
        }
    }

    fn include(&self) -> &[String] {
        match &self.card {
            VectorMatchCardinality::ManyToOne(l) | VectorMatchCardinality::OneToMany(l) => {
                &l.labels
            }
            _ => &[],
        }
    }
}

/// Interns the match signature of each series of `l` and `r`: `(lhs ids, rhs ids, count)`.
fn signatures(m: &Matching, l: &[Series], r: &[Series]) -> (Vec<u32>, Vec<u32>, usize) {
    let mut ids: HashMap<String, u32> = HashMap::new();
    let mut buf = String::new();
    let mut sig = |s: &Series| {
        m.signature(&s.labels, &mut buf);
        let n = ids.len() as u32;
        *ids.entry(buf.clone()).or_insert(n)
    };
    let li: Vec<u32> = l.iter().map(&mut sig).collect();
    let ri: Vec<u32> = r.iter().map(&mut sig).collect();
    (li, ri, ids.len())
}

/// Walks series cursors step by step: calls `f(step, [(series, value)])` for every step at
/// which at least one series has a point.
struct Cursor<'s> {
    v: &'s [Series],
    cur: Vec<usize>,
    buf: Vec<(usize, f64)>,
}

impl<'s> Cursor<'s> {
    fn new(v: &'s [Series]) -> Self {
        Cursor {
            v,
            cur: vec![0; v.len()],
            buf: Vec::with_capacity(v.len()),
        }
    }
    fn at(&mut self, i: usize) -> &[(usize, f64)] {
        self.buf.clear();
        for (si, s) in self.v.iter().enumerate() {
            if let Some(&(st, x)) = s.pts.get(self.cur[si])
                && st as usize == i
            {
                self.buf.push((si, x));
                self.cur[si] += 1;
            }
        }
        &self.buf
    }
}

fn set_op(ev: &Ev, op: TokenId, l: Vec<Series>, r: Vec<Series>, m: &Matching) -> Result<Value> {
    let (lsig, rsig, nsig) = signatures(m, &l, &r);
    let n = ev.n();
    let mut lout: Vec<Vec<(u32, f64)>> = vec![Vec::new(); l.len()];
    let mut rout: Vec<Vec<(u32, f64)>> = vec![Vec::new(); r.len()];
    let mut lstamp = vec![u32::MAX; nsig];
    let mut rstamp = vec![u32::MAX; nsig];
    let (mut lc, mut rc) = (Cursor::new(&l), Cursor::new(&r));
    for i in 0..n {
        ev.ctx.tick()?;
        let st = i as u32;
        let ls = lc.at(i).to_vec();
        let rs = rc.at(i);
        for &(si, _) in rs {
            rstamp[rsig[si] as usize] = st;
        }
        for &(si, _) in &ls {
            lstamp[lsig[si] as usize] = st;
        }
        match op {
            T_LAND => {
                for &(si, x) in &ls {
                    if rstamp[lsig[si] as usize] == st {
                        lout[si].push((st, x));
                    }
                }
            }
            T_LUNLESS => {
                for &(si, x) in &ls {
                    if rstamp[lsig[si] as usize] != st {
                        lout[si].push((st, x));
                    }
                }
            }
            _ => {
                for &(si, x) in &ls {
                    lout[si].push((st, x));
                }
                for &(si, x) in rs {
                    if lstamp[rsig[si] as usize] != st {
                        rout[si].push((st, x));
                    }
                }
            }
        }
    }
    let mut out: Vec<Series> = Vec::new();
    for (s, pts) in l.into_iter().zip(lout).chain(r.into_iter().zip(rout)) {
        if !pts.is_empty() {
            out.push(Series {
                labels: s.labels,
                pts,
            });
        }
    }
    Ok(Value::Vector(merge_same_labels(out, n == 1)?))
}

fn result_labels(op: TokenId, many: &Labels, one: &Labels, m: &Matching, ret_bool: bool) -> Labels {
    let mut l = if !drops_name(op) {
        many.clone()
    } else {
        drop_name(many)
    };
    if matches!(m.card, VectorMatchCardinality::OneToOne) {
        l = if m.on {
            keep_labels(&l, &m.labels)
        } else {
            del_labels(&l, &m.labels)
        };
    }
    for name in m.include() {
        l = set_label(&l, name, one.get(name).unwrap_or(""));
    }
    if ret_bool { drop_name(&l) } else { l }
}

fn vector_vector(
    ev: &Ev,
    op: TokenId,
    l: Vec<Series>,
    r: Vec<Series>,
    m: &Matching,
    ret_bool: bool,
) -> Result<Value> {
    let swapped = matches!(m.card, VectorMatchCardinality::OneToMany(_));
    let one_to_one = matches!(m.card, VectorMatchCardinality::OneToOne);
    let (many, one) = if swapped { (r, l) } else { (l, r) };
    let (msig, osig, nsig) = signatures(m, &many, &one);
    let n = ev.n();
    let mut ostamp = vec![u32::MAX; nsig];
    let mut oat = vec![(0usize, 0.0f64); nsig];
    let mut matched = vec![u32::MAX; nsig];
    let mut inserted: HashSet<(u32, usize)> = HashSet::new();
    let mut pair_out: HashMap<(usize, usize), usize> = HashMap::new();
    let mut by_labels: HashMap<Labels, usize> = HashMap::new();
    let mut out: Vec<Series> = Vec::new();
    let (mut mc, mut oc) = (Cursor::new(&many), Cursor::new(&one));
    for i in 0..n {
        ev.ctx.tick()?;
        let st = i as u32;
        let os = oc.at(i);
        if os.is_empty() {
            mc.at(i);
            continue;
        }
        for &(si, x) in os {
            let g = osig[si] as usize;
            if ostamp[g] == st {
                let side = if swapped { "left" } else { "right" };
                return Err(Error::Execution(format!(
                    "found duplicate series for the match group on the {side} hand-side of the operation: \
                     [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                    one[oat[g].0].labels, one[si].labels
                )));
            }
            ostamp[g] = st;
            oat[g] = (si, x);
        }
        inserted.clear();
        let ms = mc.at(i).to_vec();
        for (si, x) in ms {
            let g = msig[si] as usize;
            if ostamp[g] != st {
                continue;
            }
            let (oi, ox) = oat[g];
            let (lv, rv) = if swapped { (ox, x) } else { (x, ox) };
            let (mut val, keep) = elem(op, lv, rv)?;
            if ret_bool {
                val = if keep { 1.0 } else { 0.0 };
            } else if !keep {
                continue;
            }
            let o = match pair_out.get(&(si, oi)) {
                Some(&o) => o,
                None => {
                    let lab = result_labels(op, &many[si].labels, &one[oi].labels, m, ret_bool);
                    let o = *by_labels.entry(lab.clone()).or_insert_with(|| {
                        out.push(Series {
                            labels: lab,
                            pts: Vec::new(),
                        });
                        out.len() - 1
                    });
                    pair_out.insert((si, oi), o);
                    o
                }
            };
            if one_to_one {
                if matched[g] == st {
                    return Err(Error::Execution(
                        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into(),
                    ));
                }
                matched[g] = st;
            } else if !inserted.insert((g as u32, o)) {
                return Err(Error::Execution(
                    "multiple matches for labels: grouping labels must ensure unique matches"
                        .into(),
                ));
            }
            let pts = &mut out[o].pts;
            if pts.last().is_some_and(|p| p.0 == st) {
                return Err(Error::Execution(
                    "vector cannot contain metrics with the same labelset".into(),
                ));
            }
            pts.push((st, val));
        }
    }
    out.retain(|s| !s.pts.is_empty());
    ev.ctx.add_samples(out.iter().map(|s| s.pts.len()).sum())?;
    Ok(Value::Vector(out))
}
