//! The login spool of an SQLite store: an append-only file beside the database where each
//! login's record is stored before the login is answered, one JSON line a record, and from where
//! the login log applies it to the audit trail and the statistics shortly after, in large
//! batches.
//!
//! Why a file: a commit of SQLite's WAL costs about fifteen `pwrite`s and seven file-lock calls,
//! ~100 µs of CPU on the 2-core machine kind, and a login must not wait for one. Why a mapped
//! one: even a `write` of a few lines costs ~10 µs of the kernel's page-cache bookkeeping, on the
//! cores the directory shares, where copying a line into a shared mapping costs a page fault
//! every few kilobytes. Both survive the process dying (the bytes are in the page cache), neither
//! is synced to the disk on every login: the spool keeps SQLite's own guarantee under
//! `synchronous = NORMAL`.
//!
//! A spool is created at its full size ([`CAPACITY`]), its blocks allocated up front so that a
//! full disk fails the creation (and the login that needed it) rather than a later write to the
//! mapping; the bytes after the last record are zeros. Each open store writes a spool of its own
//! (`<database file>-logins-<uuid>.spool`) and holds an exclusive `flock` on it while it lives;
//! a spool that nobody holds was left by a process that died, and [`crate::Store::migrate`]
//! replays it from where the `login_spool` table says it stopped.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{Ordering, fence};

use gatehouse_core::LoginRecord;
use memmap2::MmapMut;

const SUFFIX: &str = ".spool";
/// The size of a spool; one that cannot take the next record is retired for a fresh one (and
/// deleted once applied).
pub(crate) const CAPACITY: usize = 4 << 20;

/// Where the spools of one database file live, and what they are called.
#[derive(Clone, Debug)]
pub(crate) struct SpoolDir {
    dir: PathBuf,
    prefix: String,
    /// The size of each spool: [`CAPACITY`], smaller in tests.
    capacity: usize,
}

impl SpoolDir {
    pub(crate) fn for_database(database: &Path) -> Self {
        let file_name = database
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "gatehouse.db".to_owned());
        let dir = match database.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        Self {
            dir,
            prefix: format!("{file_name}-logins-"),
            capacity: CAPACITY,
        }
    }

    #[cfg(test)]
    pub(crate) fn with_capacity(self, capacity: usize) -> Self {
        Self { capacity, ..self }
    }

    /// A new, empty spool of [`CAPACITY`] bytes, locked by this process.
    pub(crate) fn create(&self) -> io::Result<Spool> {
        let name = format!("{}{}{SUFFIX}", self.prefix, uuid::Uuid::new_v4());
        let path = self.dir.join(&name);
        let mut options = OpenOptions::new();
        options.read(true).write(true).create_new(true);
        // Who logged in when is the audit trail's business: readable by the store's owner only.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&path).map_err(|e| named(&path, e))?;
        let prepared = file
            .try_lock()
            .map_err(io::Error::from)
            .and_then(|()| allocate(&file, self.capacity))
            // SAFETY: the file is this process's own, created just now, locked, and never
            // truncated while mapped; other stores open a spool only once its lock is free, that
            // is once this mapping is gone with its process or handle.
            .and_then(|()| unsafe { MmapMut::map_mut(&file) });
        let map = match prepared {
            Ok(map) => map,
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                return Err(named(&path, e));
            }
        };
        Ok(Spool {
            name,
            path,
            _file: file,
            map,
            lines: 0,
            bytes: 0,
        })
    }

    /// The names of the spool files present, held or not.
    pub(crate) fn names(&self) -> io::Result<HashSet<String>> {
        let mut names = HashSet::new();
        for entry in std::fs::read_dir(&self.dir).map_err(|e| named(&self.dir, e))? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if name.starts_with(&self.prefix) && name.ends_with(SUFFIX) {
                names.insert(name);
            }
        }
        Ok(names)
    }

    /// The spools that no live store holds, each now locked by the caller.
    pub(crate) fn orphans(&self) -> io::Result<Vec<Orphan>> {
        let mut orphans = Vec::new();
        for name in self.names()? {
            let path = self.dir.join(&name);
            let file = match File::open(&path) {
                Ok(file) => file,
                // Deleted meanwhile by the store that applied it.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(named(&path, e)),
            };
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => continue,
                Err(std::fs::TryLockError::Error(e)) => return Err(named(&path, e)),
            }
            // Applied and deleted between our listing and our lock.
            if !path.exists() {
                continue;
            }
            orphans.push(Orphan { name, path, file });
        }
        Ok(orphans)
    }
}

/// The spool a live store appends to.
pub(crate) struct Spool {
    pub(crate) name: String,
    pub(crate) path: PathBuf,
    /// Holds the lock.
    _file: File,
    map: MmapMut,
    /// Records appended so far: the index the next one gets.
    pub(crate) lines: u64,
    bytes: usize,
}

impl Spool {
    /// Appends one record, [`encode`]d; its index, or `None` when the spool has no room for it.
    /// The newline goes in last, so a process killed in the middle of the copy leaves a line
    /// without one, which replay leaves out, as it does a torn `write`.
    pub(crate) fn append(&mut self, line: &[u8]) -> Option<u64> {
        let (body, newline) = line.split_last_chunk::<1>()?;
        debug_assert_eq!(newline, b"\n");
        let end = self.bytes + line.len();
        if end > self.map.len() {
            return None;
        }
        self.map[self.bytes..end - 1].copy_from_slice(body);
        // The body before the newline, whatever order the copy wrote its bytes in.
        fence(Ordering::Release);
        // SAFETY: `end - 1` is inside the mapping (checked above); a volatile write is not
        // reordered before the fence by the compiler.
        unsafe { std::ptr::write_volatile(self.map.as_mut_ptr().add(end - 1), b'\n') };
        self.bytes = end;
        let index = self.lines;
        self.lines += 1;
        Some(index)
    }

    /// Deletes the file; the lock goes with the handle.
    pub(crate) fn remove(self) -> io::Result<()> {
        std::fs::remove_file(&self.path).map_err(|e| named(&self.path, e))
    }
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool")
            .field("path", &self.path)
            .field("lines", &self.lines)
            .finish_non_exhaustive()
    }
}

/// Gives `file` `len` bytes of zeros, written rather than left as a hole or an unwritten
/// extent: the file system reserves their blocks now (a full disk fails here, not at a write to
/// the mapping, which would kill the process with SIGBUS), and a first write to each page of the
/// mapping finds it in the page cache instead of converting an extent under the fault.
fn allocate(mut file: &File, len: usize) -> io::Result<()> {
    const CHUNK: usize = 64 << 10;
    static ZEROS: [u8; CHUNK] = [0; CHUNK];
    let mut left = len;
    while left > 0 {
        let n = left.min(CHUNK);
        file.write_all(&ZEROS[..n])?;
        left -= n;
    }
    Ok(())
}

/// A spool left by a store that is gone.
pub(crate) struct Orphan {
    pub(crate) name: String,
    pub(crate) path: PathBuf,
    file: File,
}

/// One line of an orphan spool: its index, and the record or why it could not be read.
pub(crate) type SpooledLine = (u64, Result<LoginRecord, String>);

impl Orphan {
    /// Its lines from index `from` on. A last line without its newline was cut short by the
    /// crash (its login was never answered) and is left out.
    pub(crate) fn lines_from(&self, from: u64) -> io::Result<Vec<SpooledLine>> {
        let mut reader = BufReader::new(&self.file);
        let mut lines = Vec::new();
        let mut line = Vec::new();
        let mut index = 0u64;
        loop {
            line.clear();
            // A line without its newline was cut short; the zeros after the last record of a
            // spool hold no newline either.
            if reader.read_until(b'\n', &mut line)? == 0 || line.last() != Some(&b'\n') {
                break;
            }
            if index >= from {
                let parsed = serde_json::from_slice(&line[..line.len() - 1])
                    .map_err(|e| format!("line {}: {e}", index + 1));
                lines.push((index, parsed));
            }
            index += 1;
        }
        Ok(lines)
    }

    pub(crate) fn remove(self) -> io::Result<()> {
        std::fs::remove_file(&self.path).map_err(|e| named(&self.path, e))
    }
}

/// A record as a spool line.
pub(crate) fn encode(record: &LoginRecord) -> io::Result<String> {
    let mut line = serde_json::to_string(record)?;
    line.push('\n');
    Ok(line)
}

fn named(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("login spool `{}`: {e}", path.display()))
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use super::*;

    #[test]
    fn a_spool_is_allocated_whole_and_takes_records_until_full() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = SpoolDir::for_database(&tmp.path().join("g.db")).with_capacity(64);
        let mut spool = dir.create().unwrap();
        assert_eq!(std::fs::metadata(&spool.path).unwrap().len(), 64);
        let line = b"{\"n\":12345678901234567890}\n"; // 27 bytes: two fit, a third not
        assert_eq!(spool.append(line), Some(0));
        assert_eq!(spool.append(line), Some(1));
        assert_eq!(spool.append(line), None);
        assert_eq!(spool.lines, 2);
        let bytes = std::fs::read(&spool.path).unwrap();
        assert_eq!(&bytes[..54], [&line[..], &line[..]].concat());
        assert!(
            bytes[54..].iter().all(|&b| b == 0),
            "zeros after the records"
        );
        // Held while it lives; once its handle is gone, an orphan whose zeros are no record.
        assert!(dir.orphans().unwrap().is_empty());
        drop(spool);
        let orphans = dir.orphans().unwrap();
        assert_eq!(orphans.len(), 1);
        let lines = orphans[0].lines_from(0).unwrap();
        assert_eq!(lines.len(), 2);
        assert!(lines.iter().all(|(_, l)| l.is_err()), "not login records");
    }
}
