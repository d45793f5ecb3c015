//! The login spool of an SQLite store: an append-only file beside the database where each
//! login's record is stored before the login is answered, one JSON line a record, and from where
//! the login log applies it to the audit trail and the statistics shortly after, in large
//! batches.
//!
//! Why a file: a commit of SQLite's WAL costs about fifteen `pwrite`s and seven file-lock calls,
//! ~100 µs of CPU on the 2-core machine kind, and a login must not wait for one. Appending a
//! batch of lines is one `write`. Both survive the process dying (the bytes are in the page
//! cache), neither is synced to the disk on every login: the spool keeps SQLite's own guarantee
//! under `synchronous = NORMAL`.
//!
//! Each open store writes a spool of its own (`<database file>-logins-<uuid>.spool`) and holds
//! an exclusive `flock` on it while it lives; a spool that nobody holds was left by a process
//! that died, and [`crate::Store::migrate`] replays it from where the `login_spool` table says it
//! stopped.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use gatehouse_core::LoginRecord;

const SUFFIX: &str = ".spool";
/// A spool is retired for a fresh one once it holds this much (and deleted once applied).
pub(crate) const ROTATE_AT: u64 = 4 << 20;

/// Where the spools of one database file live, and what they are called.
#[derive(Clone, Debug)]
pub(crate) struct SpoolDir {
    dir: PathBuf,
    prefix: String,
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
        }
    }

    /// A new, empty spool, locked by this process.
    pub(crate) fn create(&self) -> io::Result<Spool> {
        let name = format!("{}{}{SUFFIX}", self.prefix, uuid::Uuid::new_v4());
        let path = self.dir.join(&name);
        let mut options = OpenOptions::new();
        options.append(true).create_new(true);
        // Who logged in when is the audit trail's business: readable by the store's owner only.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&path).map_err(|e| named(&path, e))?;
        file.try_lock().map_err(|e| named(&path, e.into()))?;
        Ok(Spool {
            name,
            path,
            file,
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
#[derive(Debug)]
pub(crate) struct Spool {
    pub(crate) name: String,
    pub(crate) path: PathBuf,
    file: File,
    /// Records appended so far: the index the next one gets.
    pub(crate) lines: u64,
    pub(crate) bytes: u64,
}

impl Spool {
    /// Appends `count` records, [`encode`]d, in one write; returns the index of the first. On
    /// failure the file is cut back to where it was, so no partial line is left for the next
    /// append to run into.
    pub(crate) fn append(&mut self, encoded: &[u8], count: u64) -> io::Result<u64> {
        if let Err(e) = (&self.file).write_all(encoded) {
            let _ = self.file.set_len(self.bytes);
            return Err(named(&self.path, e));
        }
        let first = self.lines;
        self.lines += count;
        self.bytes += encoded.len() as u64;
        Ok(first)
    }

    /// Deletes the file; the lock goes with the handle.
    pub(crate) fn remove(self) -> io::Result<()> {
        std::fs::remove_file(&self.path).map_err(|e| named(&self.path, e))
    }
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
pub(crate) fn encode(record: &LoginRecord) -> io::Result<Vec<u8>> {
    let mut line = serde_json::to_vec(record)?;
    line.push(b'\n');
    Ok(line)
}

fn named(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("login spool `{}`: {e}", path.display()))
}
