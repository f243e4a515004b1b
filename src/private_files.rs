//! Files that only the account running Gatehouse may read: the data directory (mode 0700)
//! and the files in it that hold secrets or everything else (the master key, the SQLite
//! database and its `-wal` and `-shm` files: mode 0600). Created that way, and tightened
//! at start, with a warning, when they exist with a looser mode.
//!
//! On systems without Unix permissions these functions only create what is missing.

use std::path::{Path, PathBuf};

/// The data directory: owner only (read, write, enter).
pub const PRIVATE_DIR_MODE: u32 = 0o700;
/// Secrets and the database: owner only (read, write).
pub const PRIVATE_FILE_MODE: u32 = 0o600;

#[derive(Debug, thiserror::Error)]
pub enum PrivateFileError {
    #[error("cannot create the directory {path}: {source}")]
    CreateDirectory { path: PathBuf, source: std::io::Error },
    #[error("cannot create {path}: {source}")]
    CreateFile { path: PathBuf, source: std::io::Error },
    #[error("cannot read the permissions of {path}: {source}")]
    ReadMode { path: PathBuf, source: std::io::Error },
    #[error(
        "{path} is readable by other accounts (mode {mode:o}) and cannot be restricted to its owner: {source}; \
         give it to the account Gatehouse runs as, or chmod {wanted:o} it"
    )]
    Restrict {
        path: PathBuf,
        mode: u32,
        wanted: u32,
        source: std::io::Error,
    },
}

/// Creates `dir` (and its missing parents) with mode 0700, or restricts an existing one
/// whose mode lets group or others in.
pub fn ensure_private_directory(dir: &Path) -> Result<(), PrivateFileError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(PRIVATE_DIR_MODE);
    }
    builder
        .create(dir)
        .map_err(|source| PrivateFileError::CreateDirectory {
            path: dir.to_path_buf(),
            source,
        })?;
    restrict(dir, PRIVATE_DIR_MODE, "directory").map(|_| ())
}

/// Restricts an existing file to mode 0600 when group or others may use it; a missing file
/// is left alone. Returns whether the mode was changed.
pub fn restrict_private_file(path: &Path) -> Result<bool, PrivateFileError> {
    match std::fs::symlink_metadata(path) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
        _ => restrict(path, PRIVATE_FILE_MODE, "file"),
    }
}

/// Creates an empty file with mode 0600 if none exists at `path` (an existing one is left
/// as it is). Returns whether it was created.
pub fn create_private_file(path: &Path) -> Result<bool, PrivateFileError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(PRIVATE_FILE_MODE);
    }
    match options.open(path) {
        Ok(_) => Ok(true),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(source) => Err(PrivateFileError::CreateFile {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Takes the group and other bits away from `path` if any is set (a stricter mode, such as
/// 0400, is kept), with a warning naming the path and both modes.
#[cfg(unix)]
fn restrict(path: &Path, wanted: u32, what: &str) -> Result<bool, PrivateFileError> {
    use std::os::unix::fs::PermissionsExt;
    let metadata = std::fs::metadata(path).map_err(|source| PrivateFileError::ReadMode {
        path: path.to_path_buf(),
        source,
    })?;
    let mode = metadata.permissions().mode() & 0o7777;
    if mode & 0o077 == 0 {
        return Ok(false);
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(wanted)).map_err(|source| {
        PrivateFileError::Restrict {
            path: path.to_path_buf(),
            mode,
            wanted,
            source,
        }
    })?;
    tracing::warn!(
        path = %path.display(),
        was = %format!("{mode:o}"),
        now = %format!("{wanted:o}"),
        "this {what} was readable by other accounts; it is now restricted to its owner"
    );
    Ok(true)
}

#[cfg(not(unix))]
fn restrict(_path: &Path, _wanted: u32, _what: &str) -> Result<bool, PrivateFileError> {
    Ok(false)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    fn set_mode(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn a_new_directory_is_private_and_a_loose_one_is_tightened() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data").join("gatehouse");
        ensure_private_directory(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);

        set_mode(&dir, 0o755);
        ensure_private_directory(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);

        // Stricter than needed is left as it is.
        set_mode(&dir, 0o500);
        ensure_private_directory(&dir).unwrap();
        assert_eq!(mode(&dir), 0o500);
        set_mode(&dir, 0o700);
    }

    #[test]
    fn files_are_created_private_and_loose_ones_are_tightened() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("gatehouse.sqlite");
        assert!(!restrict_private_file(&path).unwrap(), "a missing file is left alone");
        assert!(create_private_file(&path).unwrap());
        assert_eq!(mode(&path), 0o600);
        assert!(!create_private_file(&path).unwrap(), "an existing file is kept");

        set_mode(&path, 0o644);
        assert!(restrict_private_file(&path).unwrap());
        assert_eq!(mode(&path), 0o600);
        assert!(!restrict_private_file(&path).unwrap());

        set_mode(&path, 0o400);
        assert!(!restrict_private_file(&path).unwrap());
        assert_eq!(mode(&path), 0o400);
    }
}
