//! WAL files: naming, listing, the segment writer and the record reader.
//!
//! A segment is `wal/NNNNNNNN` (8 decimal digits, increasing); a checkpoint is
//! `wal/checkpoint.NNNNNNNN`, covering every segment up to that number. Both start with the
//! 8-byte [`FILE_MAGIC`] followed by framed records.
//!
//! Invariants: the writer only appends whole frames; when a write fails part-way (full disk)
//! it cuts the file back to the last whole frame, so a failed commit leaves nothing behind.
//! The reader stops at the first frame that is incomplete or fails its checksum and reports
//! the offset of the last good byte, which is where the file gets truncated on repair.
//!
//! Cost: reads stream through a 1 MiB buffer with one reusable body buffer; writes are one
//! `write` call per commit.

use super::record::{FRAME_HEADER, checksum, parse_header};
use crate::error::{Error, Result};
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The first 8 bytes of every segment and checkpoint: "LKWAL", 0, 0, format version 1.
pub const FILE_MAGIC: [u8; 8] = *b"LKWAL\x00\x00\x01";

pub const CHECKPOINT_PREFIX: &str = "checkpoint.";

pub fn segment_path(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!("{index:08}"))
}

pub fn checkpoint_path(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!("{CHECKPOINT_PREFIX}{index:08}"))
}

pub fn io_err(path: &Path, source: io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The WAL directory's contents: segment numbers and checkpoint numbers, both ascending.
#[derive(Debug, Default)]
pub struct Listing {
    pub segments: Vec<u64>,
    pub checkpoints: Vec<u64>,
}

pub fn list(dir: &Path) -> Result<Listing> {
    let mut l = Listing::default();
    for e in std::fs::read_dir(dir).map_err(|e| io_err(dir, e))? {
        let e = e.map_err(|e| io_err(dir, e))?;
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(n) = name.strip_prefix(CHECKPOINT_PREFIX) {
            if n.len() == 8
                && let Ok(i) = n.parse()
            {
                l.checkpoints.push(i);
            }
        } else if name.len() == 8
            && let Ok(i) = name.parse()
        {
            l.segments.push(i);
        }
    }
    l.segments.sort_unstable();
    l.checkpoints.sort_unstable();
    Ok(l)
}

/// Makes a directory entry change (create, rename, delete) durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err(dir, e))
}

/// Injected write failures, for testing the full-disk path without filling a disk.
#[derive(Debug, Default)]
pub struct FaultInjector {
    disk_full: AtomicBool,
}

impl FaultInjector {
    /// While set, every WAL write stores only half of its bytes and then fails with
    /// "no space left on device", as a real full disk does.
    pub fn set_disk_full(&self, full: bool) {
        self.disk_full.store(full, Ordering::SeqCst);
    }

    fn disk_full(&self) -> bool {
        self.disk_full.load(Ordering::SeqCst)
    }
}

/// An open segment being appended to.
#[derive(Debug)]
pub struct SegmentWriter {
    pub index: u64,
    pub path: PathBuf,
    pub file: Arc<File>,
    /// Bytes of whole frames in the file (the magic included).
    pub len: u64,
}

impl SegmentWriter {
    /// Creates segment `index` (which must not exist) with its magic, durably named.
    pub fn create(dir: &Path, index: u64) -> Result<Self> {
        let path = segment_path(dir, index);
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| io_err(&path, e))?;
        if let Err(e) = f.write_all(&FILE_MAGIC) {
            drop(f);
            let _ = std::fs::remove_file(&path);
            return Err(io_err(&path, e));
        }
        sync_dir(dir)?;
        Ok(Self {
            index,
            path,
            file: Arc::new(f),
            len: FILE_MAGIC.len() as u64,
        })
    }

    /// Appends whole frames; on failure cuts the file back so no partial frame remains.
    pub fn write(&mut self, buf: &[u8], fault: Option<&FaultInjector>) -> io::Result<()> {
        let res = match fault {
            Some(f) if f.disk_full() => (&*self.file)
                .write_all(&buf[..buf.len() / 2])
                .and(Err(io::Error::from_raw_os_error(28))),
            _ => (&*self.file).write_all(buf),
        };
        match res {
            Ok(()) => {
                self.len += buf.len() as u64;
                Ok(())
            }
            Err(e) => {
                // The file is opened without O_APPEND, so rewind the cursor too.
                let repaired = self.file.set_len(self.len).and_then(|()| {
                    use std::io::Seek;
                    (&*self.file)
                        .seek(io::SeekFrom::Start(self.len))
                        .map(|_| ())
                });
                match repaired {
                    Ok(()) => Err(e),
                    Err(r) => Err(io::Error::new(
                        e.kind(),
                        format!("{e}; cutting back the partial write failed too: {r}"),
                    )),
                }
            }
        }
    }
}

/// What reading one file found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReadOutcome {
    pub records: u64,
    /// Bytes of whole, valid frames (the magic included): everything after is bad.
    pub good_len: u64,
    pub file_len: u64,
    /// Why reading stopped before the end of the file, if it did.
    pub damage: Option<&'static str>,
}

/// Reads every valid record of `path` in order, calling `f(type byte, body)`; stops at the
/// first damaged frame. `f` returning `false` marks the body as malformed (counted as
/// damage at that frame).
pub fn read_file(path: &Path, mut f: impl FnMut(u8, &[u8]) -> bool) -> Result<ReadOutcome> {
    let file = File::open(path).map_err(|e| io_err(path, e))?;
    let file_len = file.metadata().map_err(|e| io_err(path, e))?.len();
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut out = ReadOutcome {
        file_len,
        ..ReadOutcome::default()
    };
    let mut magic = [0u8; 8];
    if let Err(e) = r.read_exact(&mut magic) {
        return match e.kind() {
            io::ErrorKind::UnexpectedEof => {
                out.damage = (file_len > 0).then_some("file shorter than its header");
                Ok(out)
            }
            _ => Err(io_err(path, e)),
        };
    }
    if magic != FILE_MAGIC {
        out.damage = Some("bad file magic");
        return Ok(out);
    }
    out.good_len = FILE_MAGIC.len() as u64;
    let mut body = Vec::new();
    loop {
        let mut h = [0u8; FRAME_HEADER];
        match read_full(&mut r, &mut h).map_err(|e| io_err(path, e))? {
            0 => return Ok(out),
            n if n < FRAME_HEADER => {
                out.damage = Some("torn frame header");
                return Ok(out);
            }
            _ => {}
        }
        let (len, crc, ty) = parse_header(&h);
        let len = u64::from(len);
        if len > file_len - out.good_len - FRAME_HEADER as u64 {
            out.damage = Some("torn record (length past end of file)");
            return Ok(out);
        }
        body.resize(len as usize, 0);
        r.read_exact(&mut body).map_err(|e| io_err(path, e))?;
        if checksum(ty, &body) != crc {
            out.damage = Some("checksum mismatch");
            return Ok(out);
        }
        if !f(ty, &body) {
            out.damage = Some("malformed record body");
            return Ok(out);
        }
        out.records += 1;
        out.good_len += FRAME_HEADER as u64 + len;
    }
}

/// Reads until `buf` is full or the end of input; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
