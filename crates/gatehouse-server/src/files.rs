//! Files at rest that hold secrets: the SQLite database (password hashes, sealed signing keys,
//! session and token hashes) with its `-wal`/`-shm` files, and the key file (`app.rs`). They are
//! created readable by their owner only, whatever the umask.

use std::path::Path;

/// Creates the SQLite file of `url`, mode 0600, before the driver opens it: SQLite then creates
/// `-wal` and `-shm` with the database file's own mode. An existing file is left as it is, with a
/// warning when others may read it.
pub fn prepare_sqlite_file(url: &str) {
    let Some(path) = crate::config::sqlite_file(url) else {
        return;
    };
    let path = Path::new(path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            for suffix in ["", "-wal", "-shm"] {
                let mut name = path.as_os_str().to_owned();
                name.push(suffix);
                warn_if_readable_by_others(Path::new(&name));
            }
        }
        // The driver reports a missing folder or a read-only one with the store URL.
        Err(_) => {}
    }
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            path = %path.display(),
            mode = format!("{:o}", meta.permissions().mode() & 0o777),
            "the store file is readable by other users; it holds password hashes: chmod 600 it"
        );
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_: &Path) {}
