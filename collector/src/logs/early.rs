//! Holding new live log files from the moment they are created.
//!
//! The tailer thread looks at directories only between reads, and a read can wait behind an
//! index commit; a fast writer whose runtime rotates every few MB and deletes old rotated files
//! can create, fill, rotate and delete a file in that time, and a file deleted before anyone
//! opened it is gone without a trace. So the file-system watcher, on its own thread, opens
//! every `<n>.log` created under the pods root as soon as the event arrives, and every
//! `<n>.log.<timestamp>` renamed into place ([`EarlyOpen::hold`]),
//! and keeps the handle here until the next scan takes it ([`EarlyOpen::take`]): the scan
//! adopts the handles of files no longer listed (renamed and deleted meanwhile) and reads them
//! through the handle; the others it opens by path as usual and drops the early handle.
//!
//! Invariants: at most `cap` handles are held (beyond that new files wait for the scan, as
//! without this module); only pod log files (`*.log` and rotated `*.log.<ts>` under the pods
//! root) are held.
//! Cost: one `open` per created log file on the watcher thread, one mutex per event.

use super::path::{self, FileKind};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Handles of live files opened when they were created.
#[derive(Debug)]
pub struct EarlyOpen {
    pods_root: PathBuf,
    cap: usize,
    held: Mutex<Vec<(PathBuf, File)>>,
}

impl EarlyOpen {
    pub fn new(pods_root: PathBuf, cap: usize) -> EarlyOpen {
        EarlyOpen {
            pods_root,
            cap,
            held: Mutex::new(Vec::new()),
        }
    }

    /// Opens and holds `p` if it is a live pod log file (called for created paths).
    pub fn hold(&self, p: &Path) {
        let kind = p
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(path::classify);
        let wanted = matches!(kind, Some(FileKind::Live | FileKind::Rotated));
        if !wanted || !p.starts_with(&self.pods_root) {
            return;
        }
        let Ok(mut held) = self.held.lock() else {
            return;
        };
        if held.len() >= self.cap {
            return;
        }
        if let Ok(f) = File::open(p)
            && f.metadata().is_ok_and(|m| m.is_file())
        {
            held.push((p.to_path_buf(), f));
        }
    }

    /// Handles a watcher event: holds the files it says were created, and the rotated files
    /// it says were renamed into place (a file created and rotated before its create event
    /// was handled is still held from its new name, until it is deleted).
    pub fn on_event(&self, e: &notify::Event) {
        use notify::EventKind;
        use notify::event::{ModifyKind, RenameMode};
        match e.kind {
            EventKind::Create(_) | EventKind::Modify(ModifyKind::Name(RenameMode::To)) => {
                for p in &e.paths {
                    self.hold(p);
                }
            }
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => {
                if let Some(p) = e.paths.get(1) {
                    self.hold(p);
                }
            }
            _ => {}
        }
    }

    /// Takes every handle held so far.
    pub fn take(&self) -> Vec<(PathBuf, File)> {
        self.held
            .lock()
            .map(|mut h| std::mem::take(&mut *h))
            .unwrap_or_default()
    }
}
