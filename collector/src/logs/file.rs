//! One tailed file: reading, splitting into physical lines, decoding, and the offset that is
//! safe to checkpoint.
//!
//! The safe offset is the start of the first byte whose line has not been emitted: the start
//! of a held partial CRI group, else the start of the incomplete physical line. Everything
//! before it has been handed to the index, so after the next commit a restart can resume
//! there without losing or repeating a line.
//!
//! A physical line longer than the maximum line size keeps only its start (the rest is read
//! and dropped until its newline), so memory per file is bounded by `max_line` plus the read
//! buffer. `.gz` files are read through a decoder; offsets count decompressed bytes.
//!
//! Cost: one `read` per call into a reused buffer; lines go to the assembler without a copy
//! unless they straddle reads.

use super::checkpoint::{FP_BYTES, FileId, fnv1a};
use super::decode::{Assembler, Entry, Format, Stream};
use super::metrics::LogMetrics;
use super::path::FileKind;
use flate2::read::MultiGzDecoder;
use lookout_store::{Label, Labels};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

/// Extra bytes kept beyond `max_line` for a CRI or JSON prefix.
const PREFIX_ROOM: usize = 256;

enum Source {
    Plain(File),
    Gz(Box<MultiGzDecoder<File>>),
}

/// A tailed file.
pub struct Tail {
    pub path: PathBuf,
    pub kind: FileKind,
    pub id: FileId,
    src: Source,
    /// Labels from the path; `base` adds the pod's labels to them.
    path_labels: Labels,
    base: Labels,
    /// The pod labels attached (pod files, once known).
    pub pod_labels: Option<super::podmeta::PodLabelSet>,
    /// While set, the file is not read: its pod's labels are awaited until then.
    pub meta_deadline: Option<Instant>,
    streams: [Option<Labels>; 3],
    asm: Assembler,
    max_line: usize,
    /// Content bytes consumed from the start.
    pos: u64,
    /// Start of the incomplete physical line (held in `held`).
    line_start: u64,
    held: Vec<u8>,
    discarding: bool,
    /// Start of the physical line that began the held partial group.
    group_start: u64,
    pub gone_since: Option<Instant>,
    pub last_data: Instant,
    pub at_eof: bool,
    /// Rate limit: bytes per second (0 = none) and the bucket.
    rate: u64,
    tokens: f64,
    refilled: Instant,
}

/// A sink that counts what is written to it.
struct CountingSink(u64);

impl io::Write for CountingSink {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0 += b.len() as u64;
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads up to `FP_BYTES` of a file's (decompressed) start.
pub fn read_head(path: &Path, kind: FileKind) -> io::Result<Vec<u8>> {
    let f = File::open(path)?;
    let mut head = Vec::with_capacity(FP_BYTES);
    match kind {
        FileKind::Gz => MultiGzDecoder::new(f)
            .take(FP_BYTES as u64)
            .read_to_end(&mut head)?,
        _ => f.take(FP_BYTES as u64).read_to_end(&mut head)?,
    };
    Ok(head)
}

/// Reads up to `FP_BYTES` of an open plain file's start (without moving its position).
pub fn read_head_of(f: &File) -> io::Result<Vec<u8>> {
    let len = f.metadata()?.len().min(FP_BYTES as u64) as usize;
    let mut head = vec![0u8; len];
    let n = f.read_at(&mut head, 0)?;
    head.truncate(n);
    Ok(head)
}

/// The identity of a file given its metadata and head.
pub fn identity(meta: &std::fs::Metadata, head: &[u8]) -> FileId {
    FileId {
        dev: meta.dev(),
        ino: meta.ino(),
        fp_len: head.len() as u32,
        fp: fnv1a(head),
    }
}

impl Tail {
    /// Tails an open file (last known at `path`) from `offset` (content bytes).
    #[allow(clippy::too_many_arguments)]
    pub fn with_file(
        mut f: File,
        path: &Path,
        kind: FileKind,
        id: FileId,
        offset: u64,
        base: Labels,
        format: Format,
        max_line: usize,
        rate: u64,
    ) -> io::Result<Tail> {
        let src = match kind {
            FileKind::Gz => {
                let mut d = MultiGzDecoder::new(f);
                let skipped = io::copy(&mut (&mut d).take(offset), &mut io::sink())?;
                if skipped < offset {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "checkpoint beyond the end of the compressed file",
                    ));
                }
                Source::Gz(Box::new(d))
            }
            _ => {
                let len = f.metadata()?.len();
                let at = if offset > len { 0 } else { offset };
                f.seek(SeekFrom::Start(at))?;
                Source::Plain(f)
            }
        };
        let offset = match &src {
            Source::Plain(f) => f
                .metadata()
                .map(|m| if offset > m.len() { 0 } else { offset })
                .unwrap_or(0),
            Source::Gz(_) => offset,
        };
        Ok(Tail {
            path: path.to_path_buf(),
            kind,
            id,
            src,
            path_labels: base.clone(),
            base,
            pod_labels: None,
            meta_deadline: None,
            streams: [None, None, None],
            asm: Assembler::new(format, max_line),
            max_line,
            pos: offset,
            line_start: offset,
            held: Vec::new(),
            discarding: false,
            group_start: offset,
            gone_since: None,
            last_data: Instant::now(),
            at_eof: false,
            rate,
            tokens: rate as f64,
            refilled: Instant::now(),
        })
    }

    /// The offset safe to checkpoint.
    pub fn safe_offset(&self) -> u64 {
        if self.asm.has_partial() {
            self.group_start
        } else {
            self.line_start
        }
    }

    /// The file's size through the open handle (plain files; 0 for a `.gz`, whose
    /// decompressed size is not known before it is read).
    pub fn known_size(&self) -> u64 {
        match &self.src {
            Source::Plain(f) => f.metadata().map(|m| m.len()).unwrap_or(0),
            Source::Gz(_) => 0,
        }
    }

    /// Bytes written but not read yet (plain files).
    pub fn lag(&self) -> u64 {
        self.known_size().saturating_sub(self.pos)
    }

    /// Bytes not read yet, for the loss count when the file is given up: for a plain file its
    /// current size through the open handle (so a deleted file still counts) minus the bytes
    /// read; for a `.gz`, the rest is decompressed and counted (the size of the decompressed
    /// content is not known otherwise). An unreadable rest counts what could be decoded.
    pub fn unread_bytes(&mut self) -> u64 {
        match &mut self.src {
            Source::Plain(f) => f
                .metadata()
                .map(|m| m.len().saturating_sub(self.pos))
                .unwrap_or(0),
            Source::Gz(d) => {
                let mut counter = CountingSink(0);
                let _ = io::copy(d, &mut counter);
                counter.0
            }
        }
    }

    /// For a plain file deleted from every directory (no links left) while held open: the
    /// bytes not read yet, which only this handle keeps on disk. `None` otherwise.
    pub fn deleted_unread(&self) -> Option<u64> {
        match &self.src {
            Source::Plain(f) => {
                let m = f.metadata().ok()?;
                (m.nlink() == 0).then(|| m.len().saturating_sub(self.pos))
            }
            Source::Gz(_) => None,
        }
    }

    /// Attaches a pod's labels (labels from the path win on a clash).
    pub fn set_pod_labels(&mut self, pod: super::podmeta::PodLabelSet) {
        let mut v: Vec<Label> = pod.to_vec();
        v.extend(self.path_labels.iter().cloned());
        self.base = Labels::from_vec(v);
        self.streams = [None, None, None];
        self.pod_labels = Some(pod);
    }

    /// The pod UID of a pod log file.
    pub fn pod_uid(&self) -> Option<&str> {
        self.path_labels.get("pod_uid")
    }

    /// Labels of entries written to `s`.
    pub fn labels(&mut self, s: Stream) -> &Labels {
        let i = s as usize;
        let base = &self.base;
        self.streams[i].get_or_insert_with(|| {
            if s == Stream::None {
                return base.clone();
            }
            let mut v: Vec<Label> = base.iter().cloned().collect();
            v.push(Label {
                name: "stream".into(),
                value: s.as_str().into(),
            });
            Labels::from_vec(v)
        })
    }

    fn admit(&mut self, e: &Entry, m: &LogMetrics) -> bool {
        if self.rate == 0 {
            return true;
        }
        let now = Instant::now();
        let dt = now.duration_since(self.refilled).as_secs_f64();
        self.refilled = now;
        self.tokens = (self.tokens + dt * self.rate as f64).min(self.rate as f64);
        let cost = e.line.len().max(1) as f64;
        if self.tokens >= cost {
            self.tokens -= cost;
            true
        } else {
            m.dropped(super::metrics::DropReason::RateLimit, 1);
            false
        }
    }

    fn emit(
        &mut self,
        phys: &[u8],
        start: u64,
        cut: bool,
        now_ns: i64,
        m: &LogMetrics,
        out: &mut Vec<Entry>,
    ) {
        if !self.asm.has_partial() {
            self.group_start = start;
        }
        if let Some(e) = self.asm.push_cut(phys, cut, now_ns, m) {
            m.lines_read.fetch_add(1, Relaxed);
            if self.admit(&e, m) {
                out.push(e);
            }
        }
    }

    /// Reads once (at most `buf.len()` bytes) and decodes the complete lines; returns the
    /// bytes read (0 at end of file).
    pub fn read_some(
        &mut self,
        buf: &mut [u8],
        now_ns: i64,
        m: &LogMetrics,
        out: &mut Vec<Entry>,
    ) -> io::Result<usize> {
        let n = match &mut self.src {
            Source::Plain(f) => f.read(buf)?,
            Source::Gz(d) => d.read(buf)?,
        };
        if n == 0 {
            self.at_eof = true;
            self.check_truncation(m)?;
            return Ok(0);
        }
        self.at_eof = false;
        self.last_data = Instant::now();
        m.bytes_read.fetch_add(n as u64, Relaxed);
        let base = self.pos;
        self.pos += n as u64;
        let limit = self.max_line + PREFIX_ROOM;
        let mut i = 0;
        while i < n {
            match memchr::memchr(b'\n', &buf[i..n]) {
                Some(j) => {
                    let end = i + j;
                    if self.discarding || !self.held.is_empty() {
                        if !self.discarding {
                            let room = limit.saturating_sub(self.held.len());
                            let take = (end - i).min(room);
                            self.held.extend_from_slice(&buf[i..i + take]);
                            self.discarding = take < end - i;
                        }
                        let held = std::mem::take(&mut self.held);
                        let cut = std::mem::take(&mut self.discarding);
                        self.emit(&held, self.line_start, cut, now_ns, m, out);
                        self.held = held;
                        self.held.clear();
                    } else if end - i > limit {
                        self.emit(&buf[i..i + limit], base + i as u64, true, now_ns, m, out);
                    } else {
                        self.emit(&buf[i..end], base + i as u64, false, now_ns, m, out);
                    }
                    i = end + 1;
                    self.line_start = base + i as u64;
                }
                None => {
                    if !self.discarding {
                        let room = limit.saturating_sub(self.held.len());
                        let take = (n - i).min(room);
                        self.held.extend_from_slice(&buf[i..i + take]);
                        self.discarding = take < n - i;
                    }
                    i = n;
                }
            }
        }
        self.refresh_fingerprint();
        Ok(n)
    }

    fn refresh_fingerprint(&mut self) {
        if (self.id.fp_len as usize) >= FP_BYTES || self.pos <= u64::from(self.id.fp_len) {
            return;
        }
        if let Source::Plain(f) = &self.src {
            let mut head = vec![0u8; FP_BYTES.min(self.pos as usize)];
            if f.read_exact_at(&mut head, 0).is_ok() {
                self.id.fp_len = head.len() as u32;
                self.id.fp = fnv1a(&head);
            }
        }
    }

    fn check_truncation(&mut self, m: &LogMetrics) -> io::Result<()> {
        if let Source::Plain(f) = &mut self.src {
            let len = f.metadata()?.len();
            if len < self.pos {
                m.file_truncations.fetch_add(1, Relaxed);
                f.seek(SeekFrom::Start(0))?;
                self.pos = 0;
                self.line_start = 0;
                self.group_start = 0;
                self.held.clear();
                self.discarding = false;
                self.asm.reset();
                self.at_eof = false;
            }
        }
        Ok(())
    }

    /// Emits whatever is held (an unterminated line, a partial group): the file is finished
    /// or has been idle long enough.
    pub fn flush(&mut self, now_ns: i64, m: &LogMetrics, out: &mut Vec<Entry>) {
        if !self.held.is_empty() || self.discarding {
            m.unterminated_lines.fetch_add(1, Relaxed);
            let held = std::mem::take(&mut self.held);
            let cut = std::mem::take(&mut self.discarding);
            self.emit(&held, self.line_start, cut, now_ns, m, out);
            self.line_start = self.pos;
        }
        if let Some(e) = self.asm.flush(m) {
            m.lines_read.fetch_add(1, Relaxed);
            if self.admit(&e, m) {
                out.push(e);
            }
        }
        self.line_start = self.pos;
    }

    /// Whether an unterminated line or partial group is held.
    pub fn holds_partial(&self) -> bool {
        !self.held.is_empty() || self.discarding || self.asm.has_partial()
    }
}
