//! What the state database has yet to receive, merged by object: an object written ten times before the
//! writer thread gets to it is written once, so the queue holds at most one entry per object however
//! fast reconciles go (memory stays bounded in a burst) and SQLite does a tenth of the work.

use std::collections::HashMap;

use tokio::sync::oneshot;

use crate::loader::FileStamp;
use crate::persist::StoredEvent;

/// The pending write of one object row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ObjectWrite {
    /// The object without its status, and its status apart.
    Put {
        kind: &'static str,
        body: String,
        source: Option<String>,
        status: String,
    },
    Status(String),
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
        (ObjectWrite::Put { kind, body, source, .. }, ObjectWrite::Status(status)) => {
            ObjectWrite::Put { kind, body, source, status }
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

    fn put(body: &str, status: &str) -> ObjectWrite {
        ObjectWrite::Put { kind: "Work", body: body.into(), source: None, status: status.into() }
    }

    #[test]
    fn writes_of_one_object_merge_into_the_last_state() {
        let cases = vec![
            (vec![put("a", "s1"), ObjectWrite::Status("s2".into())], put("a", "s2")),
            (vec![put("a", "s1"), put("b", "s1")], put("b", "s1")),
            (
                vec![ObjectWrite::Status("s1".into()), ObjectWrite::Status("s2".into())],
                ObjectWrite::Status("s2".into()),
            ),
            (vec![put("a", "s1"), ObjectWrite::Delete], ObjectWrite::Delete),
            (vec![ObjectWrite::Delete, ObjectWrite::Status("s".into())], ObjectWrite::Delete),
            (vec![ObjectWrite::Delete, put("c", "s")], put("c", "s")),
        ];
        for (writes, want) in cases {
            let mut p = Pending::default();
            for w in writes.clone() {
                p.object("k".into(), w);
            }
            assert_eq!(p.objects.len(), 1);
            assert_eq!(p.objects["k"], want, "{writes:?}");
        }
    }

    #[test]
    fn a_failed_batch_goes_before_what_came_after_it() {
        let mut failed = Pending::default();
        failed.object("a".into(), put("a1", "s"));
        failed.object("b".into(), put("b1", "s"));
        failed.problems = Some(vec!["old".into()]);
        let mut newer = Pending::default();
        newer.object("a".into(), ObjectWrite::Status("s2".into()));
        newer.object("c".into(), ObjectWrite::Delete);
        let all = failed.then(newer);
        assert_eq!(all.objects["a"], put("a1", "s2"));
        assert_eq!(all.objects["b"], put("b1", "s"));
        assert_eq!(all.objects["c"], ObjectWrite::Delete);
        assert_eq!(all.problems, Some(vec!["old".into()]));
    }
}
