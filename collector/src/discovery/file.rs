//! `file_sd_configs`: target files (YAML or JSON) found by glob, re-read when they change
//! (inotify through `notify`) and every `refresh_interval` as a fallback, as Prometheus does.
//!
//! A file that fails to parse keeps its previous groups (and bumps
//! `lookout_file_sd_read_errors_total`): a half-written file never drops targets. A file that
//! disappears drops its groups. Each group gets `__meta_filepath`.

use super::{TargetGroup, Update, to_group};
use crate::telemetry::Telemetry;
use lookout_store::{Label, Labels};
use notify::Watcher;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use tokio::sync::mpsc;

/// Expands the globs (only `*`, `?` and `[...]` in the last path element, like Prometheus).
pub fn expand(patterns: &[String]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in patterns {
        let path = Path::new(p);
        let (dir, pat) = match (path.parent(), path.file_name().and_then(|f| f.to_str())) {
            (Some(d), Some(f)) => (
                if d.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    d
                },
                f,
            ),
            _ => continue,
        };
        let Ok(rd) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in rd.flatten() {
            if let Some(name) = e.file_name().to_str()
                && glob_match(pat, name)
            {
                out.push(dir.join(name));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Shell-style match of one path element: `*`, `?`, `[abc]`, `[a-z]`, `[!x]`.
pub fn glob_match(pat: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len()).any(|i| go(&p[1..], &n[i..])),
            Some('?') => !n.is_empty() && go(&p[1..], &n[1..]),
            Some('[') => {
                let Some(end) = p.iter().position(|c| *c == ']') else {
                    return n.first() == Some(&'[') && go(&p[1..], &n[1..]);
                };
                let Some(c) = n.first() else { return false };
                let mut set = &p[1..end];
                let neg = matches!(set.first(), Some('!') | Some('^'));
                if neg {
                    set = &set[1..];
                }
                let mut hit = false;
                let mut i = 0;
                while i < set.len() {
                    if i + 2 < set.len() && set[i + 1] == '-' {
                        hit |= set[i] <= *c && *c <= set[i + 2];
                        i += 3;
                    } else {
                        hit |= set[i] == *c;
                        i += 1;
                    }
                }
                hit != neg && go(&p[end + 1..], &n[1..])
            }
            Some(ch) => n.first() == Some(ch) && go(&p[1..], &n[1..]),
        }
    }
    let p: Vec<char> = pat.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

fn read_file(path: &Path) -> Result<Vec<TargetGroup>, String> {
    let content = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let scs = lookout_config::parse_file_sd(&content, path).map_err(|e| e.to_string())?;
    let fp = path.display().to_string();
    Ok(scs
        .iter()
        .enumerate()
        .map(|(i, sc)| {
            let mut g = to_group(format!("{fp}:{i}"), sc);
            let mut l = g.labels.into_vec();
            l.push(Label {
                name: "__meta_filepath".into(),
                value: fp.clone(),
            });
            g.labels = Labels::from_vec(l);
            g
        })
        .collect())
}

/// Runs one job's file_sd provider until the channel closes or `stop` fires.
pub async fn run(
    job: String,
    provider: String,
    cfg: lookout_config::FileSdConfig,
    tx: mpsc::Sender<Update>,
    telemetry: Arc<Telemetry>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let (ntx, mut nrx) = mpsc::channel::<()>(1);
    // Watch the directories of the globs; any event triggers a re-read.
    let mut watcher = notify::recommended_watcher(move |_res: notify::Result<notify::Event>| {
        let _ = ntx.try_send(());
    })
    .ok();
    if let Some(w) = watcher.as_mut() {
        let mut dirs: Vec<PathBuf> = cfg
            .files
            .iter()
            .filter_map(|f| Path::new(f).parent().map(Path::to_path_buf))
            .map(|d| {
                if d.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    d
                }
            })
            .collect();
        dirs.sort();
        dirs.dedup();
        for d in dirs {
            if let Err(e) = w.watch(&d, notify::RecursiveMode::NonRecursive) {
                tracing::warn!(dir = %d.display(), error = %e, "file_sd: cannot watch directory; relying on refresh_interval");
            }
        }
    }
    let mut last: BTreeMap<PathBuf, Vec<TargetGroup>> = BTreeMap::new();
    let mut sent: Option<Vec<TargetGroup>> = None;
    let refresh = if cfg.refresh_interval.is_zero() {
        Duration::from_secs(300)
    } else {
        cfg.refresh_interval
    };
    loop {
        let files = expand(&cfg.files);
        last.retain(|p, _| files.contains(p));
        for f in &files {
            match read_file(f) {
                Ok(g) => {
                    last.insert(f.clone(), g);
                }
                Err(e) => {
                    telemetry.file_sd_read_errors_total.fetch_add(1, Relaxed);
                    tracing::warn!(job = %job, error = %e, "file_sd: keeping previous targets of a file that failed to read");
                }
            }
        }
        let groups: Vec<TargetGroup> = last.values().flatten().cloned().collect();
        if sent.as_ref() != Some(&groups) {
            if tx
                .send(Update {
                    job: job.clone(),
                    provider: provider.clone(),
                    groups: groups.clone(),
                })
                .await
                .is_err()
            {
                return;
            }
            sent = Some(groups);
        }
        tokio::select! {
            _ = tokio::time::sleep(refresh) => {}
            Some(()) = nrx.recv() => {
                // Let a writer finish (editors write in several steps).
                tokio::time::sleep(Duration::from_millis(100)).await;
                while nrx.try_recv().is_ok() {}
            }
            _ = stop.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("*.yaml", "a.yaml"));
        assert!(!glob_match("*.yaml", "a.yml"));
        assert!(glob_match("t?.json", "t1.json"));
        assert!(glob_match("[ab]*", "bx"));
        assert!(!glob_match("[!ab]*", "bx"));
        assert!(glob_match("n[0-9]", "n7"));
    }
}
