//! Durable state of the embedded control plane: SQLite in WAL mode (readers such as `waybill status`
//! never block a running `waybill run`), written by one thread in group commits.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};

use rusqlite::{Connection, OpenFlags, params};
use tokio::sync::oneshot;
use waybill_core::{AnyObject, Kind, ObjectRef};

use crate::error::{LocalError, Result};
use crate::integrity;
use crate::loader::FileStamp;
use crate::pending::{ObjectWrite, Pending};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS objects (key TEXT PRIMARY KEY, kind TEXT NOT NULL, body TEXT NOT NULL, source TEXT,
  status TEXT);
CREATE TABLE IF NOT EXISTS rejections (key TEXT PRIMARY KEY, message TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS manifest_files (path TEXT PRIMARY KEY, len INTEGER NOT NULL, modified_ns INTEGER,
  inode INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS written (key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS problems (id INTEGER PRIMARY KEY AUTOINCREMENT, message TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY AUTOINCREMENT, object TEXT NOT NULL, time TEXT NOT NULL,
  type TEXT NOT NULL, reason TEXT NOT NULL, message TEXT NOT NULL);
";

/// Most events kept in the database.
const MAX_EVENTS: i64 = 5000;

/// The file name of the state database inside the state directory.
pub const DB_FILE: &str = "state.db";

/// One stored event.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoredEvent {
    pub object: String,
    pub time: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub reason: String,
    pub message: String,
}

/// Everything a state database holds, as read at start-up or by `waybill status`.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub objects: Vec<(AnyObject, Option<String>)>,
    /// Object key → why its manifest was refused.
    pub rejections: Vec<(String, String)>,
    pub problems: Vec<String>,
    pub events: Vec<StoredEvent>,
    /// Manifest files the last run read cleanly, as they were then (see [`crate::loader`]).
    pub files: Vec<(String, FileStamp)>,
    /// Placement key → what its directory got when last written (see [`waybill_engine::Written`]).
    pub written: Vec<(String, waybill_engine::Written)>,
}

/// One stored object as read: kind, body, source file and status.
type Row = (String, String, Option<String>, Option<String>);

/// Parses stored objects on every core: at start-up, decoding tens of thousands of objects is most
/// of what opening the state costs (`docs/` benchmarks). Rows that do not parse are skipped with a
/// warning; the order of the rows is kept.
fn parse_rows(rows: Vec<Row>) -> Vec<(AnyObject, Option<String>)> {
    fn parse(rows: Vec<Row>) -> Vec<(AnyObject, Option<String>)> {
        let mut out = Vec::with_capacity(rows.len());
        for (kind, body, source, status) in rows {
            // The status is kept apart (older databases kept it in the body: then the column is empty).
            match Kind::parse(&kind).and_then(|k| AnyObject::from_json_parts(k, &body, status.as_deref()).ok()) {
                Some(obj) => out.push((obj, source)),
                None => tracing::warn!(kind, "skipping an unreadable object in the state database"),
            }
        }
        out
    }
    let threads = std::thread::available_parallelism().map(usize::from).unwrap_or(1);
    if threads < 2 || rows.len() < 1024 {
        return parse(rows);
    }
    let per = rows.len().div_ceil(threads);
    let mut chunks = Vec::with_capacity(threads);
    let mut rows = rows.into_iter();
    loop {
        let chunk: Vec<Row> = rows.by_ref().take(per).collect();
        if chunk.is_empty() {
            break;
        }
        chunks.push(chunk);
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks.into_iter().map(|chunk| scope.spawn(move || parse(chunk))).collect();
        // A parse that panicked is a bug: it panics here as it would have on this thread.
        handles.into_iter().flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
    })
}

/// The database key of an object: `Kind/namespace/name`.
pub fn key_of(r: &ObjectRef) -> String {
    format!("{}/{}/{}", r.kind, r.namespace, r.name)
}

/// Parses a database key back into an object reference.
pub fn ref_of(key: &str) -> Option<ObjectRef> {
    let mut parts = key.splitn(3, '/');
    let kind = Kind::parse(parts.next()?)?;
    let ns = parts.next()?;
    let name = parts.next()?;
    Some(ObjectRef::new(kind, ns, name))
}

/// What the writer thread shares with every handle.
struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
    /// Set, under the `pending` lock, from taking writes off it until they are committed; stays set
    /// while a failed write waits to be retried. With nothing pending and this clear, everything
    /// queued so far is durable and [`Persister::sync`] returns at once.
    writing: std::sync::atomic::AtomicBool,
}

/// Handle to the writer thread; the thread ends once the last handle is gone.
#[derive(Clone)]
pub struct Persister {
    shared: Arc<Shared>,
}

fn open(path: &Path, flags: OpenFlags) -> Result<Connection> {
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|cause| LocalError::OpenState { path: path.to_path_buf(), cause })?;
    conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(LocalError::ReadState)?;
    Ok(conn)
}

/// Opens (creating if needed) the database at `path`, returns what it holds and a persister writing to it.
/// A database that existed but no longer reads as Waybill's is refused ([`integrity`]).
pub fn open_for_writing(path: &Path) -> Result<(Snapshot, Persister)> {
    let found = integrity::inspect(path)?;
    let conn = open(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE)?;
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;")
        .map_err(|cause| LocalError::OpenState { path: path.to_path_buf(), cause })?;
    if found == integrity::Found::Database {
        integrity::check_tables(&conn, path)?;
    }
    conn.execute_batch(SCHEMA).map_err(|cause| LocalError::OpenState { path: path.to_path_buf(), cause })?;
    add_status_column(&conn).map_err(|cause| LocalError::OpenState { path: path.to_path_buf(), cause })?;
    let snapshot = read_all(&conn)?;
    let shared = Arc::new(Shared {
        pending: Mutex::new(Pending::default()),
        wake: Condvar::new(),
        writing: std::sync::atomic::AtomicBool::new(false),
    });
    let (thread_shared, path_buf) = (shared.clone(), path.to_path_buf());
    std::thread::Builder::new()
        .name("waybill-persist".into())
        .spawn(move || writer_loop(conn, thread_shared, path_buf))
        .map_err(|e| LocalError::WriteState(format!("failed to start its thread: {e}")))?;
    Ok((snapshot, Persister { shared }))
}

/// Databases written before statuses were kept apart lack the `status` column.
fn add_status_column(conn: &Connection) -> rusqlite::Result<()> {
    let has: i64 =
        conn.query_row("SELECT count(*) FROM pragma_table_info('objects') WHERE name = 'status'", [], |r| r.get(0))?;
    if has == 0 {
        conn.execute_batch("ALTER TABLE objects ADD COLUMN status TEXT")?;
    }
    Ok(())
}

/// Reads a database without writing to it (for `waybill status` and `waybill plan`).
pub fn read_only(path: &Path) -> Result<Snapshot> {
    if integrity::inspect(path)? == integrity::Found::Nothing {
        return Err(LocalError::NoState(path.parent().map(Path::to_path_buf).unwrap_or_default()));
    }
    let conn = open(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    integrity::check_tables(&conn, path)?;
    read_all(&conn)
}

fn read_all(conn: &Connection) -> Result<Snapshot> {
    let mut snap = Snapshot::default();
    // A database of an older version, read without writing, has no status column yet.
    let has_status: i64 = conn
        .query_row("SELECT count(*) FROM pragma_table_info('objects') WHERE name = 'status'", [], |r| r.get(0))
        .map_err(LocalError::ReadState)?;
    let query = if has_status > 0 {
        "SELECT kind, body, source, status FROM objects ORDER BY key"
    } else {
        "SELECT kind, body, source, NULL FROM objects ORDER BY key"
    };
    let mut stmt = conn.prepare(query).map_err(LocalError::ReadState)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
            ))
        })
        .map_err(LocalError::ReadState)?;
    let rows: Vec<Row> = rows.collect::<rusqlite::Result<_>>().map_err(LocalError::ReadState)?;
    snap.objects = parse_rows(rows);
    let mut stmt = conn.prepare("SELECT key, message FROM rejections ORDER BY key").map_err(LocalError::ReadState)?;
    snap.rejections = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .and_then(Iterator::collect)
        .map_err(LocalError::ReadState)?;
    let mut stmt = conn.prepare("SELECT message FROM problems ORDER BY id").map_err(LocalError::ReadState)?;
    snap.problems = stmt.query_map([], |r| r.get(0)).and_then(Iterator::collect).map_err(LocalError::ReadState)?;
    let has_files: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'manifest_files'", [], |r| {
            r.get(0)
        })
        .map_err(LocalError::ReadState)?;
    if has_files > 0 {
        let mut stmt =
            conn.prepare("SELECT path, len, modified_ns, inode FROM manifest_files").map_err(LocalError::ReadState)?;
        snap.files = stmt
            .query_map([], |r| {
                let modified: Option<i64> = r.get(2)?;
                Ok((
                    r.get::<_, String>(0)?,
                    FileStamp {
                        len: r.get::<_, i64>(1)? as u64,
                        modified: modified.map(|ns| std::time::UNIX_EPOCH + std::time::Duration::from_nanos(ns as u64)),
                        inode: r.get::<_, i64>(3)? as u64,
                    },
                ))
            })
            .and_then(Iterator::collect)
            .map_err(LocalError::ReadState)?;
    }
    let has_written: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'written'", [], |r| r.get(0))
        .map_err(LocalError::ReadState)?;
    if has_written > 0 {
        let mut stmt = conn.prepare("SELECT key, fingerprint, id FROM written").map_err(LocalError::ReadState)?;
        snap.written = stmt
            .query_map([], |r| Ok((r.get(0)?, waybill_engine::Written { fingerprint: r.get(1)?, id: r.get(2)? })))
            .and_then(Iterator::collect)
            .map_err(LocalError::ReadState)?;
    }
    let mut stmt = conn
        .prepare("SELECT object, time, type, reason, message FROM events ORDER BY id")
        .map_err(LocalError::ReadState)?;
    snap.events = stmt
        .query_map([], |r| {
            Ok(StoredEvent {
                object: r.get(0)?,
                time: r.get(1)?,
                type_: r.get(2)?,
                reason: r.get(3)?,
                message: r.get(4)?,
            })
        })
        .and_then(Iterator::collect)
        .map_err(LocalError::ReadState)?;
    Ok(snap)
}

/// Longest pause between attempts to write state that failed to write.
const MAX_RETRY: std::time::Duration = std::time::Duration::from_secs(5);

/// Writes what is pending in group commits. A batch that fails (a full disk, say) is kept and written
/// again, before what came after it, until it succeeds; meanwhile every `sync` fails, so no reconcile
/// acts on a state store with state that is not durable (`docs/hostile-inputs.md`).
fn writer_loop(mut conn: Connection, shared: Arc<Shared>, path: PathBuf) {
    let mut carried = Pending::default();
    let mut failing: Option<String> = None;
    let mut failures = 0;
    let mut retry = std::time::Duration::from_millis(100);
    loop {
        let newer = {
            let mut pending = shared.pending.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if pending.has_work() {
                    break;
                }
                // Every handle is gone: what is pending was written, nobody can add more.
                if Arc::strong_count(&shared) == 1 && !carried.has_data() {
                    return;
                }
                let wait = if failing.is_some() { retry } else { std::time::Duration::from_millis(500) };
                let (next, timeout) = shared.wake.wait_timeout(pending, wait).unwrap_or_else(|e| e.into_inner());
                pending = next;
                if timeout.timed_out() && failing.is_some() {
                    break;
                }
            }
            if pending.has_data() || carried.has_data() {
                shared.writing.store(true, Ordering::SeqCst);
            }
            std::mem::take(&mut *pending)
        };
        let mut work = std::mem::take(&mut carried).then(newer);
        let waiters = std::mem::take(&mut work.waiters);
        let result = write_batch(&mut conn, &work).map_err(|e| format!("{}: {e}", path.display()));
        match &result {
            Ok(()) => {
                if failing.take().is_some() {
                    tracing::warn!("state database {} is written again", path.display());
                }
                failures = 0;
            }
            Err(e) => {
                if failing.as_deref() != Some(e.as_str()) {
                    tracing::error!(
                        "failed to write state database {e}; no state store is written until it can be written again"
                    );
                }
                failing = Some(e.clone());
                retry = waybill_stores::backoff::delay(failures, std::time::Duration::from_millis(100), MAX_RETRY);
                failures += 1;
                carried = work;
            }
        }
        if result.is_ok() {
            let _pending = shared.pending.lock().unwrap_or_else(|e| e.into_inner());
            shared.writing.store(false, Ordering::SeqCst);
        }
        for w in waiters {
            let _ = w.send(result.clone());
        }
    }
}

fn write_batch(conn: &mut Connection, work: &Pending) -> rusqlite::Result<()> {
    if !work.has_data() {
        return Ok(());
    }
    tracing::debug!(objects = work.objects.len(), events = work.events.len(), "writing state");
    let tx = conn.transaction()?;
    // Before the objects: a placement deleted in this batch takes its record with it.
    for (key, record) in &work.written {
        match record {
            Some((fingerprint, id)) => {
                tx.prepare_cached(
                    "INSERT INTO written (key, fingerprint, id) VALUES (?1, ?2, ?3)
                     ON CONFLICT(key) DO UPDATE SET fingerprint = ?2, id = ?3",
                )?
                .execute(params![key, fingerprint, id])?;
            }
            None => {
                tx.prepare_cached("DELETE FROM written WHERE key = ?1")?.execute(params![key])?;
            }
        }
    }
    for (key, write) in &work.objects {
        match write {
            ObjectWrite::Put { body, status, source } => {
                let (kind, status) = (body.kind().as_str(), status.status_value().to_string());
                let mut without_status = AnyObject::clone(body);
                without_status.clear_status();
                let body = without_status.to_json_string();
                tx.prepare_cached(
                    "INSERT INTO objects (key, kind, body, source, status) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT(key) DO UPDATE SET kind = ?2, body = ?3, source = ?4, status = ?5",
                )?
                .execute(params![key, kind, body, source, status])?;
            }
            ObjectWrite::Status(object) => {
                let status = object.status_value().to_string();
                tx.prepare_cached("UPDATE objects SET status = ?2 WHERE key = ?1")?.execute(params![key, status])?;
            }
            ObjectWrite::Delete => {
                tx.prepare_cached("DELETE FROM objects WHERE key = ?1")?.execute(params![key])?;
                tx.prepare_cached("DELETE FROM written WHERE key = ?1")?.execute(params![key])?;
            }
        }
    }
    for e in &work.events {
        tx.prepare_cached("INSERT INTO events (object, time, type, reason, message) VALUES (?1, ?2, ?3, ?4, ?5)")?
            .execute(params![e.object, e.time, e.type_, e.reason, e.message])?;
    }
    if !work.events.is_empty() {
        tx.execute("DELETE FROM events WHERE id <= (SELECT MAX(id) FROM events) - ?1", params![MAX_EVENTS])?;
    }
    if let Some(list) = &work.rejections {
        tx.execute("DELETE FROM rejections", [])?;
        for (key, message) in list {
            tx.execute("INSERT OR REPLACE INTO rejections (key, message) VALUES (?1, ?2)", params![key, message])?;
        }
    }
    if let Some(list) = &work.files {
        tx.execute("DELETE FROM manifest_files", [])?;
        for (path, stamp) in list {
            let modified = stamp
                .modified
                .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
            tx.prepare_cached("INSERT INTO manifest_files (path, len, modified_ns, inode) VALUES (?1, ?2, ?3, ?4)")?
                .execute(params![path, stamp.len as i64, modified, stamp.inode as i64])?;
        }
    }
    if let Some(list) = &work.problems {
        tx.execute("DELETE FROM problems", [])?;
        for message in list {
            tx.execute("INSERT INTO problems (message) VALUES (?1)", params![message])?;
        }
    }
    tx.commit()
}

impl Persister {
    fn queue(&self, add: impl FnOnce(&mut Pending)) {
        add(&mut self.shared.pending.lock().unwrap_or_else(|e| e.into_inner()));
        self.shared.wake.notify_one();
    }

    /// Queues an object write (secrets are never persisted: they come back from manifests).
    pub fn put(&self, obj: &Arc<AnyObject>, source: Option<&str>) {
        if obj.kind() == Kind::Secret {
            return;
        }
        let write = ObjectWrite::Put { body: obj.clone(), status: obj.clone(), source: source.map(str::to_string) };
        self.queue(|p| p.object(key_of(&obj.object_ref()), write));
    }

    /// Queues a write of an object's status alone.
    pub fn put_status(&self, obj: &Arc<AnyObject>) {
        if obj.kind() == Kind::Secret {
            return;
        }
        let write = ObjectWrite::Status(obj.clone());
        self.queue(|p| p.object(key_of(&obj.object_ref()), write));
    }

    pub fn delete(&self, r: &ObjectRef) {
        self.queue(|p| p.object(key_of(r), ObjectWrite::Delete));
    }

    /// Queues a placement's [`waybill_engine::Written`] record (`None`: forget it).
    pub fn written(&self, placement: &ObjectRef, record: Option<&waybill_engine::Written>) {
        let record = record.map(|w| (w.fingerprint.clone(), w.id.clone()));
        self.queue(|p| {
            p.written.insert(key_of(placement), record);
        });
    }

    pub fn event(&self, event: StoredEvent) {
        self.queue(|p| p.events.push(event));
    }

    pub fn rejections(&self, list: Vec<(String, String)>) {
        self.queue(|p| p.rejections = Some(list));
    }

    /// Records which manifest files were read cleanly, and how they looked.
    pub fn files(&self, list: Vec<(String, FileStamp)>) {
        self.queue(|p| p.files = Some(list));
    }

    pub fn problems(&self, list: Vec<String>) {
        self.queue(|p| p.problems = Some(list));
    }

    /// Resolves once everything queued before it is committed.
    pub async fn sync(&self) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = self.shared.pending.lock().unwrap_or_else(|e| e.into_inner());
            // Nothing queued and nothing being written: all of it is durable already (a rerun's
            // thousands of reconciles that change nothing never wait for the writer thread).
            if !pending.has_data() && !self.shared.writing.load(Ordering::SeqCst) {
                return Ok(());
            }
            pending.waiters.push(tx);
        }
        self.shared.wake.notify_one();
        rx.await.map_err(|_| "the persistence thread stopped".to_string())?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use waybill_core::api::{Destination, DestinationSpec, DestinationStatus};

    fn dest(message: &str) -> AnyObject {
        let mut d = Destination::new("d", DestinationSpec::default());
        d.status = Some(DestinationStatus { observed_generation: 7, ..Default::default() });
        d.metadata.annotations.insert("note".into(), message.into());
        AnyObject::Destination(d)
    }

    #[tokio::test]
    async fn statuses_are_written_apart_and_read_back_with_their_object() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join(DB_FILE);
        let (_, persister) = open_for_writing(&db).unwrap();
        persister.put(&Arc::new(dest("spec")), Some("d.yaml"));
        let mut updated = dest("ignored: a status write never changes the body");
        if let AnyObject::Destination(d) = &mut updated {
            d.status.as_mut().unwrap().observed_generation = 9;
        }
        persister.put_status(&Arc::new(updated));
        persister.sync().await.unwrap();
        let snapshot = read_only(&db).unwrap();
        let AnyObject::Destination(d) = &snapshot.objects[0].0 else { panic!("{:?}", snapshot.objects) };
        assert_eq!(d.metadata.annotations["note"], "spec");
        assert_eq!(d.status.as_ref().unwrap().observed_generation, 9);
        assert_eq!(snapshot.objects[0].1.as_deref(), Some("d.yaml"));
    }

    /// A placement's record is read back by the next run, and goes with its placement: a record left
    /// behind could never match anything, but would grow the database forever.
    #[tokio::test]
    async fn written_records_are_read_back_and_deleted_with_their_object() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join(DB_FILE);
        let (_, persister) = open_for_writing(&db).unwrap();
        let (kept, gone, forgotten) = (
            dest("kept"),
            AnyObject::Destination(Destination::new("e", Default::default())),
            AnyObject::Destination(Destination::new("f", Default::default())),
        );
        let record = |id: &str| waybill_engine::Written { fingerprint: "f".repeat(64), id: id.into() };
        for obj in [&kept, &gone, &forgotten] {
            persister.put(&Arc::new(obj.clone()), None);
            persister.written(&obj.object_ref(), Some(&record(&obj.meta().name)));
        }
        persister.sync().await.unwrap();
        persister.delete(&gone.object_ref());
        persister.written(&forgotten.object_ref(), None);
        persister.sync().await.unwrap();
        let snapshot = read_only(&db).unwrap();
        assert_eq!(snapshot.written, vec![(key_of(&kept.object_ref()), record("d"))]);
    }

    #[test]
    fn a_database_of_the_previous_format_is_read_and_upgraded() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join(DB_FILE);
        {
            let conn = Connection::open(&db).unwrap();
            // The schema as the previous version wrote it: the status inside the body.
            let old_schema = SCHEMA.replace(", source TEXT,\n  status TEXT)", ", source TEXT)");
            assert_ne!(old_schema, SCHEMA);
            conn.execute_batch(&format!("PRAGMA journal_mode=WAL; {old_schema}")).unwrap();
            conn.execute(
                "INSERT INTO objects VALUES ('Destination//d', 'Destination', ?1, 'd.yaml')",
                params![dest("old").to_json_string()],
            )
            .unwrap();
        }
        let read = |snapshot: &Snapshot| match &snapshot.objects[0].0 {
            AnyObject::Destination(d) => d.status.as_ref().unwrap().observed_generation,
            other => panic!("{other:?}"),
        };
        assert_eq!(read(&read_only(&db).unwrap()), 7, "read as it was, without writing");
        let (snapshot, _) = open_for_writing(&db).unwrap();
        assert_eq!(read(&snapshot), 7, "and after the upgrade");
    }
}
