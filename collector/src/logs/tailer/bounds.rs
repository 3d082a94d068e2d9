//! The tailer's bounds: how it keeps hold of files a fast writer rotates and deletes, and
//! how it gives up unread data only by a limit, counting the bytes.
//!
//! - [`Tailer::check_live`]: while reading, a rotated live path triggers a scan at once;
//! - [`Tailer::adopt`]: live files the watcher opened at creation ([`super::super::early`])
//!   and that were deleted before a scan listed them are read through that handle;
//! - [`Tailer::note_vanished`] / [`Tailer::settle_vanished`]: a listed file deleted before it
//!   could be opened is counted (`rotated_unread`) once the next scan confirms it is nowhere;
//! - [`Tailer::over_backlog`]: the deleted files to give up when the unread bytes they pin
//!   exceed `max_deleted_backlog` (`backlog_limit`); `release_timeout` is applied in
//!   [`Tailer::release`] (`released`).
//!
//! Cost: a `stat` per open live file and an `fstat` per open deleted file every
//! `live_check` while reading; one directory listing per vanished file at the next scan.

use super::*;

/// A listed file that was gone before it could be opened (see [`Tailer::note_vanished`]).
pub(super) struct Vanished {
    dev: u64,
    ino: u64,
    seen: Seen,
    dir: PathBuf,
    /// Its size at listing minus what had been read of it.
    unread: u64,
}

/// What tells a file from a later one that reuses its inode number: a log file only grows
/// (until it is truncated, which the reader handles apart), and its birth time, where the
/// file system records one, does not change.
#[derive(Debug, Clone, Copy)]
pub(super) struct Seen {
    len: u64,
    born: Option<SystemTime>,
}

impl Seen {
    pub(super) fn of(m: &std::fs::Metadata) -> Seen {
        Seen {
            len: m.len(),
            born: m.created().ok(),
        }
    }

    /// Whether `later` can be this file seen later.
    fn same_file(&self, later: &Seen) -> bool {
        later.len >= self.len
            && match (self.born, later.born) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

/// Whether a directory has an entry for this file (a second look, by inode, before a
/// vanished file is counted as lost).
pub(super) fn dir_holds(dir: &Path, ino: u64, seen: &Seen) -> bool {
    use std::os::unix::fs::DirEntryExt;
    std::fs::read_dir(dir).is_ok_and(|rd| {
        rd.filter_map(|e| e.ok()).any(|e| {
            e.ino() == ino
                && std::fs::metadata(e.path()).is_ok_and(|m| seen.same_file(&Seen::of(&m)))
        })
    })
}

impl Tailer {
    /// Called every `live_check` while reading: when the path of an open live file names
    /// another file now (it was rotated), scans at once, so that the new live file is held
    /// open (and read later even if it is rotated and deleted meanwhile) instead of waiting
    /// for the next periodic scan while the reader is busy. Cost: one `stat` per open live
    /// file per `live_check`.
    pub(super) fn check_live(&mut self) {
        let rotated = self.tails.iter().any(|t| {
            t.kind == FileKind::Live
                && t.gone_since.is_none()
                && !std::fs::metadata(&t.path)
                    .is_ok_and(|m| (m.dev_(), m.ino_()) == (t.id.dev, t.id.ino))
        });
        if rotated {
            self.scan();
        }
    }

    /// The deleted files to give up so that the unread bytes held in deleted files stay
    /// within `max_deleted_backlog`: those that went away first (their data is the oldest).
    /// Cost: one `fstat` per open file that went away.
    pub(super) fn over_backlog(&self) -> Vec<(u64, u64)> {
        let limit = self.opts.max_deleted_backlog;
        if limit == 0 {
            return Vec::new();
        }
        let mut held: Vec<(Instant, u64, (u64, u64))> = self
            .tails
            .iter()
            .filter_map(|t| {
                let since = t.gone_since?;
                let unread = t.deleted_unread()?;
                Some((since, unread, (t.id.dev, t.id.ino)))
            })
            .collect();
        let mut total: u64 = held.iter().map(|h| h.1).sum();
        if total <= limit {
            return Vec::new();
        }
        held.sort_by_key(|h| h.0);
        let mut out = Vec::new();
        for (_, unread, key) in held {
            if total <= limit {
                break;
            }
            total -= unread;
            out.push(key);
        }
        out
    }

    /// Remembers a listed file that was gone when the tailer tried to open it. It may have
    /// been renamed (then the next scan finds it under its new name) or deleted: the next
    /// scan tells, and counts its unread bytes as lost (reason `rotated_unread`) if it is
    /// found under no name. `offset`: where reading would have started, when known; else
    /// what an earlier handle on the same file read. A `.gz` is a copy of a rotated file
    /// (counted through that file if it was seen) and is not counted.
    pub(super) fn note_vanished(
        &mut self,
        c: &Candidate,
        meta: &std::fs::Metadata,
        offset: Option<u64>,
        first_scan: bool,
    ) {
        if c.kind == FileKind::Gz || (self.fresh_node && first_scan && self.opts.start_at_end) {
            return;
        }
        let key = (meta.dev_(), meta.ino_());
        let offset = offset.unwrap_or_else(|| {
            self.done
                .iter()
                .chain(self.restore.iter())
                .find(|r| (r.id.dev, r.id.ino) == key)
                .map_or(0, |r| r.offset)
        });
        let unread = meta.len().saturating_sub(offset);
        if unread > 0 {
            self.vanished.push(Vanished {
                dev: key.0,
                ino: key.1,
                seen: Seen::of(meta),
                dir: container_dir(&c.path).to_path_buf(),
                unread,
            });
        }
    }

    /// Counts the files that vanished before the previous scan could open them and are
    /// still nowhere (`present`: the files this scan listed).
    pub(super) fn settle_vanished(
        &mut self,
        pending: Vec<Vanished>,
        present: &HashMap<(u64, u64), Seen>,
    ) {
        for v in pending {
            let found = present
                .get(&(v.dev, v.ino))
                .is_some_and(|s| v.seen.same_file(s))
                || dir_holds(&v.dir, v.ino, &v.seen);
            if found {
                continue;
            }
            tracing::debug!(dir = %v.dir.display(), bytes = v.unread, "log file deleted before it could be read");
            self.metrics.lost(LossReason::RotatedUnread, v.unread);
        }
    }

    /// Starts reading, through the handle the watcher opened when they were created, live
    /// files that were deleted before any scan listed them (the others are listed and opened
    /// by path; their early handle is dropped).
    pub(super) fn adopt(
        &mut self,
        early: Vec<(PathBuf, std::fs::File)>,
        present: &HashMap<(u64, u64), Seen>,
        now: Instant,
    ) {
        use std::os::unix::fs::MetadataExt;
        let Some(root) = self.opts.pods_root.clone() else {
            return;
        };
        for (p, f) in early {
            let Ok(meta) = f.metadata() else {
                continue;
            };
            let key = (meta.dev_(), meta.ino_());
            let tracked = self.tails.iter().any(|t| (t.id.dev, t.id.ino) == key);
            if tracked || present.contains_key(&key) || meta.nlink() > 0 || meta.len() == 0 {
                continue;
            }
            let Some(labels) = path::pod_labels(&root, &p, &self.opts.node) else {
                continue;
            };
            let Ok(head) = read_head_of(&f) else {
                continue;
            };
            if self
                .done
                .iter()
                .any(|r| (r.id.dev, r.id.ino) == key && r.id.fp_matches(&head))
            {
                continue;
            }
            let id = identity(&meta, &head);
            match Tail::with_file(
                f,
                &p,
                FileKind::Live,
                id,
                0,
                labels,
                Format::Kube,
                self.opts.max_line_size,
                self.opts.rate_limit_bytes,
            ) {
                Ok(mut t) => {
                    self.attach_pod_labels(&mut t, now);
                    t.gone_since = Some(now);
                    self.metrics.files_opened.fetch_add(1, Relaxed);
                    self.metrics.files_adopted.fetch_add(1, Relaxed);
                    self.tails.push(t);
                }
                Err(e) => {
                    tracing::warn!(path = %p.display(), error = %e, "cannot read a deleted log file held since its creation");
                }
            }
        }
    }
}

#[cfg(test)]
impl Tailer {
    /// Test hook: handles `path` as a scan does a listed file whose metadata was `meta` (so a
    /// test can delete the file between the listing and the open, which a scan only meets by
    /// a race).
    pub(in crate::logs) fn track_as_listed(&mut self, path: &Path, meta: &std::fs::Metadata) {
        let (Some(root), Some(kind)) = (
            self.opts.pods_root.clone(),
            path.file_name()
                .and_then(|n| n.to_str())
                .and_then(path::classify),
        ) else {
            return;
        };
        let Some(labels) = path::pod_labels(&root, path, &self.opts.node) else {
            return;
        };
        let c = Candidate {
            path: path.to_path_buf(),
            kind,
            labels,
            format: Format::Kube,
        };
        let first_scan = !self.scanned_once;
        self.track(c, meta, Instant::now(), first_scan);
    }
}
