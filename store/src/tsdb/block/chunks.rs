//! A block's `chunks` file: every chunk of the block back to back, each with its length and a
//! CRC32C, addressed by byte offset (the "chunk ref" stored in the index).
//!
//! Layout: the 8-byte magic [`CHUNKS_MAGIC`], then entries `uvarint(len) bytes[len] crc32c(4,
//! big-endian, of the bytes)`. In version 2 the bytes are a kind byte and a sealed chunk
//! ([`super::sealed`]); version 1 files (still read) hold bare XOR chunks
//! (`docs/chunk-format.md`).
//!
//! Invariants: the writer appends only; the reader is a read-only memory map and verifies a
//! chunk's checksum each time it hands the chunk out, so damage is reported (with the file and
//! offset) instead of decoded into wrong samples.
//!
//! Cost: writing is one buffered `write` per chunk; reading is a bounds check, a CRC32C over
//! the chunk (a few hundred bytes) and no copy. The file is never loaded whole into memory.

use crate::error::{Error, Result};
use crate::tsdb::enc::{Dec, put_uvarint};
use memmap2::Mmap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// First 8 bytes of a chunks file: "LKCHK", 0, 0, format version 2.
pub const CHUNKS_MAGIC: [u8; 8] = *b"LKCHK\x00\x00\x02";

/// The magic of version 1 (entries are bare XOR chunks), still read.
const CHUNKS_MAGIC_V1: [u8; 8] = *b"LKCHK\x00\x00\x01";

/// The chunks file's name inside a block directory.
pub const CHUNKS_FILE: &str = "chunks";

/// Appends chunks to a new chunks file.
#[derive(Debug)]
pub struct ChunksWriter {
    path: PathBuf,
    w: BufWriter<File>,
    offset: u64,
    scratch: Vec<u8>,
}

impl ChunksWriter {
    pub fn create(path: &Path) -> Result<Self> {
        let f = File::create(path).map_err(|e| io(path, e))?;
        let mut w = BufWriter::with_capacity(1 << 20, f);
        w.write_all(&CHUNKS_MAGIC).map_err(|e| io(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            w,
            offset: CHUNKS_MAGIC.len() as u64,
            scratch: Vec::with_capacity(16),
        })
    }

    /// The ref the next [`write`](Self::write) returns.
    pub fn next_ref(&self) -> u64 {
        self.offset
    }

    /// Writes one encoded chunk; returns its ref.
    pub fn write(&mut self, chunk: &[u8]) -> Result<u64> {
        let r = self.offset;
        self.scratch.clear();
        put_uvarint(&mut self.scratch, chunk.len() as u64);
        let crc = crc32c::crc32c(chunk).to_be_bytes();
        for part in [&self.scratch[..], chunk, &crc] {
            self.w.write_all(part).map_err(|e| io(&self.path, e))?;
        }
        self.offset += (self.scratch.len() + chunk.len() + crc.len()) as u64;
        Ok(r)
    }

    /// Flushes and fsyncs the file; returns its size.
    pub fn finish(self) -> Result<u64> {
        let f = self
            .w
            .into_inner()
            .map_err(|e| io(&self.path, e.into_error()))?;
        f.sync_all().map_err(|e| io(&self.path, e))?;
        Ok(self.offset)
    }
}

/// A memory-mapped chunks file.
#[derive(Debug)]
pub struct ChunksReader {
    path: PathBuf,
    map: Mmap,
    version: u8,
}

impl ChunksReader {
    pub fn open(path: &Path) -> Result<Self> {
        let f = File::open(path).map_err(|e| io(path, e))?;
        // SAFETY: block files are immutable once renamed into place; the store only ever
        // deletes them (unlinking keeps an existing mapping valid) and never truncates them.
        let map = unsafe { Mmap::map(&f) }.map_err(|e| io(path, e))?;
        let version = match map.get(..CHUNKS_MAGIC.len()) {
            Some(m) if m == CHUNKS_MAGIC => 2,
            Some(m) if m == CHUNKS_MAGIC_V1 => 1,
            _ => {
                return Err(Error::Corrupt {
                    path: path.to_path_buf(),
                    reason: "not a chunks file (bad magic)".into(),
                });
            }
        };
        Ok(Self {
            path: path.to_path_buf(),
            map,
            version,
        })
    }

    /// Format version from the magic: 1 (bare XOR chunks) or 2 (kind byte first).
    pub fn version(&self) -> u8 {
        self.version
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn len(&self) -> u64 {
        self.map.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.map.len() <= CHUNKS_MAGIC.len()
    }

    /// The bytes of the chunk at `r`, checksum verified.
    pub fn chunk(&self, r: u64) -> Result<&[u8]> {
        let corrupt = |reason: &str| Error::Corrupt {
            path: self.path.clone(),
            reason: format!("chunk at offset {r}: {reason}"),
        };
        let pos = usize::try_from(r).map_err(|_| corrupt("offset out of range"))?;
        if pos < CHUNKS_MAGIC.len() {
            return Err(corrupt("offset inside the file header"));
        }
        let mut d = Dec::at(&self.map, pos);
        let data = d
            .length()
            .and_then(|n| d.bytes(n))
            .ok_or_else(|| corrupt("runs past the end of the file"))?;
        let crc = d.u32().ok_or_else(|| corrupt("checksum missing"))?;
        if crc32c::crc32c(data) != crc {
            return Err(corrupt("checksum mismatch"));
        }
        Ok(data)
    }
}

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_round_trip_and_damage_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(CHUNKS_FILE);
        let mut w = ChunksWriter::create(&p).unwrap();
        let a = w.write(b"hello").unwrap();
        let b = w.write(&[7u8; 300]).unwrap();
        let size = w.finish().unwrap();
        assert_eq!(size, std::fs::metadata(&p).unwrap().len());
        let r = ChunksReader::open(&p).unwrap();
        assert_eq!(r.chunk(a).unwrap(), b"hello");
        assert_eq!(r.chunk(b).unwrap(), &[7u8; 300][..]);
        assert!(r.chunk(0).is_err());
        assert!(r.chunk(size).is_err());
        assert!(r.chunk(u64::MAX).is_err());
        drop(r);
        let mut bytes = std::fs::read(&p).unwrap();
        bytes[b as usize + 10] ^= 1;
        std::fs::write(&p, &bytes).unwrap();
        let r = ChunksReader::open(&p).unwrap();
        assert_eq!(r.chunk(a).unwrap(), b"hello");
        let e = r.chunk(b).unwrap_err().to_string();
        assert!(
            e.contains("checksum mismatch") && e.contains("chunks"),
            "{e}"
        );
        std::fs::write(&p, b"garbage!").unwrap();
        assert!(ChunksReader::open(&p).is_err());
    }
}
