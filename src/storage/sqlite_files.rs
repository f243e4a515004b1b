//! The SQLite database holds every grant, session and encrypted secret: its file and the
//! `-wal` and `-shm` files beside it are kept at mode 0600. The database file is created
//! that way before SQLite opens it (SQLite then gives its `-wal` and `-shm` files the
//! database file's mode), and existing files with looser modes are restricted, with a
//! warning, before and after the pool opens.

use std::path::{Path, PathBuf};

use crate::private_files::{create_private_file, restrict_private_file, PrivateFileError};

/// Where an `sqlite:` URL keeps its database on disk, and whether SQLite may create it
/// (`mode=rwc`). `None` for in-memory databases and other schemes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct SqliteFile {
    pub path: PathBuf,
    pub create: bool,
}

impl SqliteFile {
    /// Reads the URL the way sqlx does: `sqlite://PATH?…` or `sqlite:PATH?…`, the path
    /// percent-decoded; `:memory:` and `mode=memory` are in memory.
    pub fn from_url(url: &str) -> Option<SqliteFile> {
        let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mode = url::form_urlencoded::parse(query.as_bytes())
            .find(|(key, _)| key == "mode")
            .map(|(_, value)| value.into_owned());
        if path.is_empty() || path == ":memory:" || mode.as_deref() == Some("memory") {
            return None;
        }
        let path = percent_decode(path)?;
        Some(SqliteFile {
            path: PathBuf::from(path),
            create: mode.as_deref() == Some("rwc"),
        })
    }

    /// The database file and the two SQLite keeps beside it in WAL mode.
    fn files(&self) -> [PathBuf; 3] {
        let with_suffix = |suffix: &str| {
            let mut name = self.path.clone().into_os_string();
            name.push(suffix);
            PathBuf::from(name)
        };
        [self.path.clone(), with_suffix("-wal"), with_suffix("-shm")]
    }

    /// Before SQLite opens the database: create it private if it may be created and is
    /// missing, and restrict whatever exists.
    pub fn prepare(&self) -> Result<(), PrivateFileError> {
        if self.create && self.path.parent().is_none_or(Path::exists) {
            create_private_file(&self.path)?;
        }
        self.restrict()
    }

    /// Restricts each of the three files that exists to mode 0600.
    pub fn restrict(&self) -> Result<(), PrivateFileError> {
        for file in self.files() {
            restrict_private_file(&file)?;
        }
        Ok(())
    }
}

/// `%20` -> ` `; a `%` not followed by two hex digits stays as it is (as sqlx reads it).
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        let escaped = (byte == b'%')
            .then(|| bytes.get(index + 1..index + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(decoded) => {
                out.push(decoded);
                index += 3;
            }
            None => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_file() {
        assert_eq!(
            SqliteFile::from_url("sqlite:///var/lib/gatehouse/gatehouse.sqlite?mode=rwc"),
            Some(SqliteFile {
                path: PathBuf::from("/var/lib/gatehouse/gatehouse.sqlite"),
                create: true,
            })
        );
        assert_eq!(
            SqliteFile::from_url("sqlite://data/my%20db.sqlite"),
            Some(SqliteFile {
                path: PathBuf::from("data/my db.sqlite"),
                create: false,
            })
        );
        assert_eq!(
            SqliteFile::from_url("sqlite:a+b.sqlite?mode=rw"),
            Some(SqliteFile {
                path: PathBuf::from("a+b.sqlite"),
                create: false,
            })
        );
        assert_eq!(
            SqliteFile::from_url("sqlite:100%25+%zz.sqlite").map(|file| file.path),
            Some(PathBuf::from("100%+%zz.sqlite"))
        );
        assert_eq!(SqliteFile::from_url("sqlite::memory:"), None);
        assert_eq!(SqliteFile::from_url("sqlite://shared?mode=memory"), None);
        assert_eq!(SqliteFile::from_url("postgres://db/gatehouse"), None);
    }

    #[cfg(unix)]
    #[test]
    fn the_database_file_is_created_private_and_its_companions_restricted() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = SqliteFile {
            path: dir.path().join("g.sqlite"),
            create: true,
        };
        let wal = dir.path().join("g.sqlite-wal");
        std::fs::write(&wal, b"").unwrap();
        std::fs::set_permissions(&wal, std::fs::Permissions::from_mode(0o644)).unwrap();
        file.prepare().unwrap();
        for path in [&file.path, &wal] {
            let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", path.display());
        }
        assert!(!dir.path().join("g.sqlite-shm").exists());

        let read_only = SqliteFile {
            path: dir.path().join("absent.sqlite"),
            create: false,
        };
        read_only.prepare().unwrap();
        assert!(!read_only.path.exists(), "not created without mode=rwc");
    }
}
