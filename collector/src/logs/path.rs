//! Where log files are and what their paths say.
//!
//! Kubernetes: `<pods_root>/<namespace>_<pod>_<uid>/<container>/<n>.log`, rotated to
//! `<n>.log.<timestamp>` and later `<n>.log.<timestamp>.gz`. Namespaces and pod names cannot
//! contain `_`, so the directory splits unambiguously on its first two `_`.
//! Host logs: configured globs with `*`/`?` in the file name only.
//!
//! Cost: one `read_dir` per pod and container directory per scan.

use lookout_store::Labels;
use std::path::{Path, PathBuf};

/// What kind of file a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// The live `<n>.log` (or a host log file).
    Live,
    /// Renamed by rotation, plain.
    Rotated,
    /// Rotated and compressed.
    Gz,
}

/// Classifies a file name under a container directory; `None`: not a log file (or a
/// temporary file of the compressor).
pub fn classify(name: &str) -> Option<FileKind> {
    if name.ends_with(".tmp") || name.starts_with('.') {
        return None;
    }
    if name.ends_with(".log") {
        return Some(FileKind::Live);
    }
    if !name.contains(".log.") {
        return None;
    }
    if name.ends_with(".gz") {
        Some(FileKind::Gz)
    } else {
        Some(FileKind::Rotated)
    }
}

/// The pod coordinates in a pod directory name.
pub fn parse_pod_dir(name: &str) -> Option<(&str, &str, &str)> {
    let (ns, rest) = name.split_once('_')?;
    let (pod, uid) = rest.split_once('_')?;
    (!ns.is_empty() && !pod.is_empty() && !uid.is_empty()).then_some((ns, pod, uid))
}

/// Labels of a pod log file (without `stream`, which is per line).
pub fn pod_labels(pods_root: &Path, file: &Path, node: &str) -> Option<Labels> {
    let rel = file.strip_prefix(pods_root).ok()?;
    let mut comps = rel.components();
    let pod_dir = comps.next()?.as_os_str().to_str()?;
    let container = comps.next()?.as_os_str().to_str()?;
    let (ns, pod, uid) = parse_pod_dir(pod_dir)?;
    Some(Labels::from_pairs([
        ("namespace", ns),
        ("pod", pod),
        ("pod_uid", uid),
        ("container", container),
        ("node", node),
        ("job", "kubernetes-pods"),
    ]))
}

/// Labels of a host log file matched by a glob.
pub fn host_labels(file: &Path, node: &str) -> Labels {
    Labels::from_pairs([
        ("filename", file.to_string_lossy().as_ref()),
        ("node", node),
        ("job", "host"),
    ])
}

/// `*` and `?` matching of one file name.
pub fn name_matches(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while n < name.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == name[n]) {
            p += 1;
            n += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some(p);
            mark = n;
            p += 1;
        } else if let Some(s) = star {
            p = s + 1;
            mark += 1;
            n = mark;
        } else {
            return false;
        }
    }
    while p < pattern.len() && pattern[p] == b'*' {
        p += 1;
    }
    p == pattern.len()
}

/// Files matching a glob (wildcards in the file name only), sorted.
pub fn glob(pattern: &str) -> Vec<PathBuf> {
    let path = Path::new(pattern);
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Vec::new();
    };
    let name = name.to_string_lossy();
    if !name.contains(['*', '?']) {
        return if path.is_file() {
            vec![path.to_path_buf()]
        } else {
            Vec::new()
        };
    }
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter(|e| name_matches(name.as_bytes(), e.file_name().as_encoded_bytes()))
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_paths() {
        let root = Path::new("/var/log/pods");
        let l = pod_labels(
            root,
            Path::new("/var/log/pods/kube-system_coredns-abc_1234-5678/coredns/0.log"),
            "n1",
        )
        .unwrap();
        assert_eq!(l.get("namespace"), Some("kube-system"));
        assert_eq!(l.get("pod"), Some("coredns-abc"));
        assert_eq!(l.get("pod_uid"), Some("1234-5678"));
        assert_eq!(l.get("container"), Some("coredns"));
        assert_eq!(l.get("node"), Some("n1"));
        assert!(pod_labels(root, Path::new("/var/log/pods/bad/c/0.log"), "n").is_none());
        assert!(pod_labels(root, Path::new("/elsewhere/a_b_c/c/0.log"), "n").is_none());
    }

    #[test]
    fn kinds() {
        assert_eq!(classify("0.log"), Some(FileKind::Live));
        assert_eq!(classify("0.log.20240101-120000"), Some(FileKind::Rotated));
        assert_eq!(classify("0.log.20240101-120000.gz"), Some(FileKind::Gz));
        assert_eq!(classify("0.log.20240101-120000.gz.tmp"), None);
        assert_eq!(classify("notes.txt"), None);
    }

    #[test]
    fn globs() {
        assert!(name_matches(b"*.log", b"syslog.log"));
        assert!(name_matches(b"sys?og*", b"syslog.1"));
        assert!(!name_matches(b"*.log", b"syslog.log.1"));
        assert!(name_matches(b"*", b""));
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a.log"), "x").unwrap();
        std::fs::write(d.path().join("b.txt"), "x").unwrap();
        let got = glob(&format!("{}/*.log", d.path().display()));
        assert_eq!(got, vec![d.path().join("a.log")]);
        assert_eq!(glob(&format!("{}/b.txt", d.path().display())).len(), 1);
        assert!(glob("/nonexistent-dir-x/*.log").is_empty());
    }
}
