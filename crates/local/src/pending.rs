//! What the state database has yet to receive, merged by object: an object written ten times before the
//! writer thread gets to it is written once, so the queue holds at most one entry per object however
//! fast reconciles go (memory stays bounded in a burst) and SQLite does a tenth of the work.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::oneshot;
use waybill_core::AnyObject;

use crate::loader::FileStamp;
use crate::persist::StoredEvent;

/// The pending write of one object row. Objects are the store's own, shared: they are serialized when
/// written, so a queue that falls behind in a burst holds no second copy of them (a JSON body per
/// queued object, as large as the object).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ObjectWrite {
    /// The object from the manifest file `source`: the body (all but the status) of `body`, the status
    /// of `status` (the same object, or a later one once a status write merged in).
    Put {
        body: Arc<AnyObject>,
        status: Arc<AnyObject>,
        source: Option<String>,
    },
    /// The object's status alone.
    Status(Arc<AnyObject>),
    Delete,
}

/// Someone waiting for everything queued before it to be durable.
pub(crate) type Waiter = oneshot::Sender<Result<(), String>>;

/// Writes not yet in the database, merged; see the module documentation.
#[derive(Default)]
pub(crate) struct Pending {
    pub objects: HashMap<String, ObjectWrite>,
    pub events: Vec<StoredEvent>,
    pub rejections: Option<Vec<(String, String)>>,
    pub problems: Option<Vec<String>>,
    pub files: Option<Vec<(String, FileStamp)>>,
    /// Placement key → its directory's record (fingerprint, id), or `None` to forget it.
    pub written: HashMap<String, Option<(String, String)>>,
    pub waiters: Vec<Waiter>,
}

/// `older` followed by `newer`, as one write.
fn merged(older: ObjectWrite, newer: ObjectWrite) -> ObjectWrite {
    match (older, newer) {
        (ObjectWrite::Put { body, source, .. }, ObjectWrite::Status(status)) => {
            ObjectWrite::Put { body, status, source }
        }
        // A status for an object deleted meanwhile has nothing to update.
        (ObjectWrite::Delete, ObjectWrite::Status(_)) => ObjectWrite::Delete,
        (_, newer) => newer,
    }
}

impl Pending {
    /// Queues a write of the row `key`, merged with what is pending for it.
    pub(crate) fn object(&mut self, key: String, write: ObjectWrite) {
        let next = match self.objects.remove(&key) {
            Some(older) => merged(older, write),
            None => write,
        };
        self.objects.insert(key, next);
    }

    /// Whether there is anything to write.
    pub(crate) fn has_data(&self) -> bool {
        !self.objects.is_empty()
            || !self.events.is_empty()
            || self.rejections.is_some()
            || self.problems.is_some()
            || self.files.is_some()
            || !self.written.is_empty()
    }

    /// Whether there is anything to write or anyone to answer.
    pub(crate) fn has_work(&self) -> bool {
        self.has_data() || !self.waiters.is_empty()
    }

    /// `self` (written before, or failed to be) followed by `newer`, with `newer`'s waiters.
    pub(crate) fn then(mut self, newer: Pending) -> Pending {
        for (key, write) in newer.objects {
            self.object(key, write);
        }
        self.events.extend(newer.events);
        self.rejections = newer.rejections.or(self.rejections);
        self.problems = newer.problems.or(self.problems);
        self.files = newer.files.or(self.files);
        self.written.extend(newer.written);
        self.waiters.extend(newer.waiters);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use waybill_core::api::{Work, WorkSpec, WorkStatus};

    /// Work `name` whose status says `status` (in its observed generation).
    fn work(name: &str, status: i64) -> Arc<AnyObject> {
        let mut w = Work::new("default", name, WorkSpec::default());
        w.status = Some(WorkStatus { observed_generation: status, ..WorkStatus::default() });
        Arc::new(AnyObject::Work(w))
    }

    fn put(body: &str, status: i64) -> ObjectWrite {
        let object = work(body, status);
        ObjectWrite::Put { body: object.clone(), status: object, source: None }
    }

    fn status(name: &str, status: i64) -> ObjectWrite {
        ObjectWrite::Status(work(name, status))
    }

    /// What the row gets: the body's object (by name) and the status written with it.
    fn row(w: &ObjectWrite) -> String {
        let observed = |o: &AnyObject| match o {
            AnyObject::Work(w) => w.status.as_ref().map_or(-1, |s| s.observed_generation),
            _ => -1,
        };
        match w {
            ObjectWrite::Put { body, status, .. } => format!("put {} status {}", body.meta().name, observed(status)),
            ObjectWrite::Status(o) => format!("status {}", observed(o)),
            ObjectWrite::Delete => "delete".into(),
        }
    }

    #[test]
    fn writes_of_one_object_merge_into_the_last_state() {
        let cases = vec![
            (vec![put("a", 1), status("a", 2)], put("a", 2)),
            (vec![put("a", 1), put("b", 1)], put("b", 1)),
            (vec![status("a", 1), status("a", 2)], status("a", 2)),
            (vec![put("a", 1), ObjectWrite::Delete], ObjectWrite::Delete),
            (vec![ObjectWrite::Delete, status("a", 0)], ObjectWrite::Delete),
            (vec![ObjectWrite::Delete, put("c", 0)], put("c", 0)),
        ];
        for (writes, want) in cases {
            let mut p = Pending::default();
            for w in writes.clone() {
                p.object("k".into(), w);
            }
            assert_eq!(p.objects.len(), 1);
            assert_eq!(row(&p.objects["k"]), row(&want), "{writes:?}");
        }
    }

    #[test]
    fn a_queued_write_holds_the_stored_object_itself_not_a_copy() {
        let stored = work("a", 1);
        let mut p = Pending::default();
        p.object("k".into(), ObjectWrite::Put { body: stored.clone(), status: stored.clone(), source: None });
        let later = work("a", 2);
        p.object("k".into(), ObjectWrite::Status(later.clone()));
        let ObjectWrite::Put { body, status, .. } = &p.objects["k"] else { panic!("{:?}", p.objects) };
        assert!(Arc::ptr_eq(body, &stored) && Arc::ptr_eq(status, &later));
        assert_eq!(Arc::strong_count(&stored), 2, "the store's and the queue's");
    }

    #[test]
    fn a_failed_batch_goes_before_what_came_after_it() {
        let mut failed = Pending::default();
        failed.object("a".into(), put("a1", 0));
        failed.object("b".into(), put("b1", 0));
        failed.problems = Some(vec!["old".into()]);
        let mut newer = Pending::default();
        newer.object("a".into(), status("a1", 2));
        newer.object("c".into(), ObjectWrite::Delete);
        let all = failed.then(newer);
        assert_eq!(row(&all.objects["a"]), "put a1 status 2");
        assert_eq!(row(&all.objects["b"]), "put b1 status 0");
        assert_eq!(all.objects["c"], ObjectWrite::Delete);
        assert_eq!(all.problems, Some(vec!["old".into()]));
    }
}
