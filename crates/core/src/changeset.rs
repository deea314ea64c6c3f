//! Change sets: what one reconcile asks a state store to do, and the pure rules that turn the tracked
//! (`none`-mode) operations into plain puts and deletes against the store's current content.
//!
//! Operations are declarative so a store's writer can re-apply a pending change set on a newer tip
//! (compatibility D5) and coalesce many of them into one commit (compatibility D4).

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::Arc;

use crate::content::{self, ContentError};
use crate::layout::StorePath;
use crate::statefile::{self, StateFileError};

/// File content shared between change sets without copying.
pub type Blob = Arc<[u8]>;

/// A file's content in an operation: bytes, or a Work's text in Kratix's encoding (gzip, then base64)
/// that is decoded only when a writer builds the file. A burst queues thousands of change sets before
/// their commit; holding the Works' own text (shared, not copied) rather than a decoded copy of every
/// file keeps the decoded copies out of the burst's peak memory (the README's scale table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Bytes(Blob),
    /// Text in Kratix's encoding, decoded to at most `limit` bytes: the limit its sender checked it
    /// against, so decoding it again gives the same bytes.
    Encoded {
        text: Arc<str>,
        limit: u64,
    },
}

impl Content {
    /// The content's bytes, decoded when encoded.
    pub fn bytes(&self) -> Result<Cow<'_, [u8]>, ContentError> {
        match self {
            Content::Bytes(b) => Ok(Cow::Borrowed(b)),
            Content::Encoded { text, limit } => content::decode_limited(text, *limit).map(Cow::Owned),
        }
    }

    /// The content's bytes as a shared blob (shared as they are when not encoded).
    pub fn to_blob(&self) -> Result<Blob, ContentError> {
        match self {
            Content::Bytes(b) => Ok(b.clone()),
            Content::Encoded { text, limit } => content::decode_limited(text, *limit).map(Blob::from),
        }
    }
}

impl From<Blob> for Content {
    fn from(b: Blob) -> Self {
        Content::Bytes(b)
    }
}

impl From<Vec<u8>> for Content {
    fn from(b: Vec<u8>) -> Self {
        Content::Bytes(b.into())
    }
}

impl From<&[u8]> for Content {
    fn from(b: &[u8]) -> Self {
        Content::Bytes(b.into())
    }
}

/// Whether a change set writes (`Update from:`) or only removes (`Delete from:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Update,
    Delete,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Update => "Update",
            Action::Delete => "Delete",
        }
    }
}

/// One operation; paths are relative to the store's root (they already include the destination path).
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Write one file.
    Put { path: StorePath, content: Content },
    /// Remove a file, or a whole directory with everything below it. Absent paths are not an error.
    Delete { path: StorePath },
    /// Make `dir` hold exactly `files` (full paths below `dir`): the `nestedByMetadata` write.
    ReplaceDir { dir: StorePath, files: Vec<(StorePath, Content)> },
    /// The `none`-mode write: put `files`, delete what the previous `state_file` listed and `files` no
    /// longer has, and record `files` in `state_file`. Old entries are re-based under `dir`.
    ///
    /// `slash`: the Destination's path starts with `/`, so the entries do too, as Kratix writes them
    /// (docs/compatibility.md).
    PutTracked { dir: StorePath, state_file: StorePath, files: Vec<(StorePath, Content)>, slash: bool },
    /// The `none`-mode deletion: delete what `state_file` lists, then the state file. A missing state file
    /// means nothing was written (compatibility D14). Listed files in `keep` stay: another placement now
    /// writes them.
    DeleteTracked { dir: StorePath, state_file: StorePath, keep: Vec<StorePath> },
    /// Leave `dir` as it is, provided the store still gives it the id `id` (what [`Op::ReplaceDir`]
    /// left there when the placement's content was last written): a rerun's unchanged placement is
    /// answered without decoding or hashing its files (the README's scale table). A store that cannot
    /// tell, or where the id differs, fails the change set alone with its "changed" error, and the
    /// sender sends the full [`Op::ReplaceDir`] instead. It expands to no step: backends check it first.
    Unchanged { dir: StorePath, id: String },
}

/// What one reconcile submits to a store's writer.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeSet {
    /// Placement name, or `kratix-canary`, for the commit message.
    pub name: String,
    pub action: Action,
    pub ops: Vec<Op>,
    /// The root the paths are relative to, when not the store's own `spec.path`: the store path a
    /// Destination's files were written under before it changed (they are moved, `docs/hostile-inputs.md`).
    pub root: Option<StorePath>,
}

impl ChangeSet {
    pub fn new(name: impl Into<String>, action: Action, ops: Vec<Op>) -> Self {
        ChangeSet { name: name.into(), action, ops, root: None }
    }

    /// The same change set with paths relative to `root` instead of the store's path.
    pub fn under_root(mut self, root: StorePath) -> Self {
        self.root = Some(root);
        self
    }

    /// The root this change set's paths are relative to, given the store's.
    pub fn root_or<'a>(&'a self, store_root: &'a StorePath) -> &'a StorePath {
        self.root.as_ref().unwrap_or(store_root)
    }
}

/// A primitive step: put or delete one path (a delete may name a directory).
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Put(StorePath, Content),
    Delete(StorePath),
}

impl Op {
    /// The state file whose current content [`expand`] needs for this operation, if any.
    pub fn state_file(&self) -> Option<&StorePath> {
        match self {
            Op::PutTracked { state_file, .. } | Op::DeleteTracked { state_file, .. } => Some(state_file),
            _ => None,
        }
    }
}

/// Expands one operation into primitive steps; `previous` is the current content of its
/// [`Op::state_file`] (`None` when it has none or the file is absent).
pub fn expand(op: &Op, previous: Option<&[u8]>) -> Result<Vec<Step>, StateFileError> {
    Ok(match op {
        Op::Put { path, content } => vec![Step::Put(path.clone(), content.clone())],
        Op::Delete { path } => vec![Step::Delete(path.clone())],
        Op::ReplaceDir { dir, files } => {
            let mut steps = vec![Step::Delete(dir.clone())];
            steps.extend(files.iter().map(|(p, c)| Step::Put(p.clone(), c.clone())));
            steps
        }
        Op::PutTracked { dir, state_file, files, slash } => {
            expand_put_tracked(dir, state_file, files, *slash, previous)?
        }
        Op::DeleteTracked { dir, state_file, keep } => {
            let mut steps = expand_delete_tracked(dir, state_file, previous)?;
            steps.retain(|s| !matches!(s, Step::Delete(p) if keep.contains(p)));
            steps
        }
        Op::Unchanged { .. } => Vec::new(),
    })
}

/// Expands a `PutTracked` against the previous state file's bytes.
pub fn expand_put_tracked(
    dir: &StorePath,
    state_file: &StorePath,
    files: &[(StorePath, Content)],
    slash: bool,
    previous: Option<&[u8]>,
) -> Result<Vec<Step>, StateFileError> {
    let new: BTreeSet<&StorePath> = files.iter().map(|(p, _)| p).collect();
    let mut steps = Vec::with_capacity(files.len() + 2);
    for old in previous_entries(dir, previous)? {
        if !new.contains(&old) {
            steps.push(Step::Delete(old));
        }
    }
    for (path, content) in files {
        steps.push(Step::Put(path.clone(), content.clone()));
    }
    let listed: Vec<StorePath> = files.iter().map(|(p, _)| p.clone()).collect();
    steps.push(Step::Put(state_file.clone(), Content::from(statefile::render(&listed, slash).into_bytes())));
    Ok(steps)
}

/// Expands a `DeleteTracked` against the state file's bytes (`None`: nothing was ever written).
pub fn expand_delete_tracked(
    dir: &StorePath,
    state_file: &StorePath,
    previous: Option<&[u8]>,
) -> Result<Vec<Step>, StateFileError> {
    let Some(bytes) = previous else {
        return Ok(Vec::new());
    };
    let mut steps: Vec<Step> = previous_entries(dir, Some(bytes))?.into_iter().map(Step::Delete).collect();
    steps.push(Step::Delete(state_file.clone()));
    Ok(steps)
}

/// Refuses steps that would put a file at a path Git or a checkout cannot hold, once the store's root
/// is prefixed ([`crate::pathrules::check_repository_path`]). Deletions are never refused.
pub fn check_paths(steps: &[Step], root: &StorePath) -> Result<(), crate::layout::PathProblem> {
    for step in steps {
        if let Step::Put(path, _) = step {
            crate::pathrules::check_repository_path(path.under(root).as_str())?;
        }
    }
    Ok(())
}

fn previous_entries(dir: &StorePath, previous: Option<&[u8]>) -> Result<Vec<StorePath>, StateFileError> {
    let Some(bytes) = previous else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for entry in statefile::parse(bytes)? {
        match statefile::rebase(&entry, dir) {
            Ok(path) => out.push(path),
            // A listed path outside the destination is never deleted: it is not ours to touch.
            Err(_) => continue,
        }
    }
    Ok(out)
}

/// The commit message for a batch of change sets (compatibility D4): Kratix's own message for one
/// change set; otherwise a count in the subject and one line per change set in the body.
pub fn commit_message(sets: &[&ChangeSet]) -> String {
    match sets {
        [one] => format!("{} from: {}", one.action.as_str(), one.name),
        many => {
            let action = if many.iter().any(|c| c.action == Action::Update) { Action::Update } else { Action::Delete };
            let mut lines: Vec<String> =
                many.iter().map(|c| format!("{} from: {}", c.action.as_str(), c.name)).collect();
            lines.dedup();
            format!("{} from: {} placements\n\n{}\n", action.as_str(), many.len(), lines.join("\n"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> StorePath {
        StorePath::parse(s).unwrap()
    }

    fn blob(s: &str) -> Content {
        Content::from(s.as_bytes())
    }

    #[test]
    fn encoded_content_gives_the_bytes_it_encodes_within_its_limit_and_plain_bytes_are_shared() {
        let text: Arc<str> = content::encode(b"kind: ConfigMap\n").into();
        let encoded = Content::Encoded { text: text.clone(), limit: 1024 };
        assert_eq!(&*encoded.bytes().unwrap(), b"kind: ConfigMap\n");
        assert_eq!(&*encoded.to_blob().unwrap(), b"kind: ConfigMap\n");
        let too_small = Content::Encoded { text, limit: 4 };
        assert!(matches!(too_small.bytes(), Err(ContentError::TooLarge(4))), "the limit holds when decoded again");
        let corrupt = Content::Encoded { text: "H4sIAAAA".into(), limit: 1024 };
        assert!(corrupt.bytes().is_err());
        let blob = Blob::from(&b"plain"[..]);
        let plain = Content::from(blob.clone());
        assert!(matches!(plain.bytes().unwrap(), Cow::Borrowed(b) if std::ptr::eq(b, &*blob)), "not copied");
        assert!(Arc::ptr_eq(&plain.to_blob().unwrap(), &blob));
    }

    #[test]
    fn a_shrinking_placement_deletes_only_what_it_listed() {
        // Compatibility C6: old state file [banana, apple, fruit] → deletes banana and apple.
        let dir = p("test-path");
        let state = p("test-path/.kratix/default-test-work-placement.yaml");
        let files = vec![(p("test-path/fruit.yaml"), blob("a")), (p("test-path/file2.yaml"), blob("b"))];
        let steps = expand_put_tracked(
            &dir,
            &state,
            &files,
            false,
            Some(b"files:\n- banana.yaml\n- apple.yaml\n- fruit.yaml\n"),
        )
        .unwrap();
        let deletes: Vec<&str> = steps
            .iter()
            .filter_map(|s| match s {
                Step::Delete(p) => Some(p.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(deletes, vec!["test-path/banana.yaml", "test-path/apple.yaml"]);
        let last = steps.last().unwrap();
        assert_eq!(last, &Step::Put(state.clone(), blob("files:\n- test-path/fruit.yaml\n- test-path/file2.yaml\n")));
    }

    #[test]
    fn deleting_without_a_state_file_deletes_nothing() {
        let steps = expand_delete_tracked(&p("d"), &p("d/.kratix/ns-wp.yaml"), None).unwrap();
        assert!(steps.is_empty());
        let steps =
            expand_delete_tracked(&p("d"), &p("d/.kratix/ns-wp.yaml"), Some(b"files:\n- d/a.yaml\n- ../../etc/x\n"))
                .unwrap();
        assert_eq!(steps, vec![Step::Delete(p("d/a.yaml")), Step::Delete(p("d/.kratix/ns-wp.yaml"))]);
    }

    #[test]
    fn commit_messages_keep_kratix_wording_for_one_change() {
        let one = ChangeSet::new("wp-1", Action::Update, vec![]);
        let two = ChangeSet::new("wp-2", Action::Delete, vec![]);
        assert_eq!(commit_message(&[&one]), "Update from: wp-1");
        assert_eq!(commit_message(&[&two]), "Delete from: wp-2");
        assert_eq!(
            commit_message(&[&one, &two]),
            "Update from: 2 placements\n\nUpdate from: wp-1\nDelete from: wp-2\n"
        );
    }
}
