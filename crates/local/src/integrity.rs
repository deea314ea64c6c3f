//! Refusing damaged state: the state database is the record of what Waybill wrote into each state
//! store. Starting from empty state because the database was zeroed or truncated would forget that
//! record, and files of objects removed later would stay behind for good; so a database that existed and
//! no longer reads as one is refused with a way out, never silently replaced.

use std::io::Read;
use std::path::{Path, PathBuf};

use rusqlite::Connection;

use crate::error::{LocalError, Result};

/// The first bytes of every SQLite database.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// What the state directory held before the database was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// No state yet: the database is created.
    Nothing,
    /// A database that reads as one; it must hold Waybill's tables.
    Database,
}

fn wal_of(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_os_string();
    name.push("-wal");
    PathBuf::from(name)
}

fn damaged(path: &Path, why: impl Into<String>) -> LocalError {
    LocalError::DamagedState { path: path.to_path_buf(), why: why.into() }
}

/// Inspects the database's files before SQLite opens them (SQLite would take an empty file with a
/// write-ahead log beside it for an empty database).
pub fn inspect(db: &Path) -> Result<Found> {
    let wal = wal_of(db);
    let wal_len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    let db_len = match std::fs::metadata(db) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if wal_len > 0 {
                return Err(damaged(db, "it is missing, but its write-ahead log is still there"));
            }
            return Ok(Found::Nothing);
        }
        Err(e) => return Err(LocalError::Io { path: db.to_path_buf(), cause: e }),
    };
    if db_len == 0 {
        if wal_len > 0 {
            return Err(damaged(db, "it is empty (truncated), but its write-ahead log is still there"));
        }
        return Ok(Found::Nothing);
    }
    let mut header = [0u8; 16];
    let read = std::fs::File::open(db).and_then(|mut f| f.read_exact(&mut header));
    match read {
        Ok(()) if &header == SQLITE_MAGIC => Ok(Found::Database),
        Ok(()) => Err(damaged(db, "its header is not an SQLite database's (was it zeroed or overwritten?)")),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(damaged(db, "it is truncated")),
        Err(e) => Err(LocalError::Io { path: db.to_path_buf(), cause: e }),
    }
}

/// Checks, once open, that a database that existed holds Waybill's state.
pub fn check_tables(conn: &Connection, db: &Path) -> Result<()> {
    let objects: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'objects'", [], |r| r.get(0))
        .map_err(|e| damaged(db, format!("it cannot be read: {e}")))?;
    if objects == 0 {
        return Err(damaged(db, "it holds no Waybill state (no objects table)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damaged_databases_are_told_from_missing_ones() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("state.db");
        assert_eq!(inspect(&db).unwrap(), Found::Nothing);
        std::fs::write(&db, b"").unwrap();
        assert_eq!(inspect(&db).unwrap(), Found::Nothing);
        std::fs::write(wal_of(&db), b"wal frames").unwrap();
        assert!(inspect(&db).unwrap_err().to_string().contains("empty (truncated)"));
        std::fs::remove_file(&db).unwrap();
        assert!(inspect(&db).unwrap_err().to_string().contains("missing"));
        std::fs::write(&db, vec![0u8; 4096]).unwrap();
        assert!(inspect(&db).unwrap_err().to_string().contains("zeroed"));
        std::fs::write(&db, b"SQLite").unwrap();
        assert!(inspect(&db).unwrap_err().to_string().contains("truncated"));
    }
}
