//! The Git backend: libgit2 in process, no working tree, no `git` child processes.
//!
//! A local repository (`file://` or a path) is written directly and its branch moves by
//! compare-and-swap. A remote one is mirrored in a bare cache repository: a batch becomes one commit on
//! the fetched tip and one push, and a rejected push is rebuilt on the new tip (compatibility D5).
//! Either way no commit of another writer is ever lost.

pub mod auth;
pub mod commit;
pub mod github_app;
pub mod known_hosts;
mod local;
pub mod location;
mod pack;
mod ref_guard;
mod remote;
pub mod socket;
mod thread;
pub mod tls;
pub mod tree;
pub(crate) mod tree_hash;

use async_trait::async_trait;
use git2::{ErrorCode, Oid, Repository};
use waybill_core::changeset::ChangeSet;
use waybill_core::layout::StorePath;

pub use auth::{Access, GitAuth};
pub use commit::Author;
use commit::git_err;
pub use remote::RemoteOptions;
use tree::TreeEditor;

use crate::error::StoreError;
use crate::port::{Applied, Backend, BeforeAfter, FileChange};

/// What a Git backend needs from its GitStateStore.
#[derive(Debug, Clone)]
pub struct GitSettings {
    pub branch: String,
    /// The store's `spec.path`, already validated.
    pub root: StorePath,
    pub author: Author,
    /// Plan mode: objects go to memory, the branch never moves.
    pub dry_run: bool,
}

impl GitSettings {
    fn refname(&self) -> String {
        format!("refs/heads/{}", self.branch)
    }
}

/// What both kinds of repository do; run on a blocking thread.
trait Repo: Send {
    fn apply(&mut self, batch: &[ChangeSet]) -> Result<Applied, StoreError>;
    fn read(&mut self, path: &StorePath) -> Result<Option<Vec<u8>>, StoreError>;
    fn list(&mut self, dir: &StorePath) -> Result<Vec<StorePath>, StoreError>;
    fn check_write_permission(&mut self) -> Result<(), StoreError>;
    fn pending_changes(&mut self) -> Result<Vec<FileChange>, StoreError>;
    fn planned_contents(&mut self, path: &str) -> Result<BeforeAfter, StoreError>;
}

/// A Git state store backend.
pub struct GitBackend {
    inner: Option<Box<dyn Repo>>,
    description: String,
    /// Where `inner` does its work.
    thread: thread::GitThread,
}

impl GitBackend {
    /// Opens the repository at `path`, creating a bare repository whose HEAD is the store's branch when
    /// nothing is there yet (compatibility D7). In plan mode nothing is created on disk.
    pub fn open_local(path: &std::path::Path, settings: GitSettings) -> Result<GitBackend, StoreError> {
        let repo = local::LocalRepo::open(path, settings)?;
        let thread = thread::GitThread::spawn("waybill-git")?;
        Ok(GitBackend { inner: Some(Box::new(repo)), description: path.display().to_string(), thread })
    }

    /// Mirrors the remote at `url` in a bare cache repository and fetches its branch (an empty remote,
    /// or one without the branch, is fine: the first push creates it).
    pub fn open_remote(
        url: &str,
        settings: GitSettings,
        access: Access,
        options: RemoteOptions,
    ) -> Result<GitBackend, StoreError> {
        let repo = remote::RemoteRepo::open(url, settings, access, options)?;
        let thread = thread::GitThread::spawn("waybill-git")?;
        Ok(GitBackend { inner: Some(Box::new(repo)), description: url.to_string(), thread })
    }

    /// Where the repository is, for messages.
    pub fn description(&self) -> &str {
        &self.description
    }

    async fn blocking<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut dyn Repo) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let mut inner = self
            .inner
            .take()
            .ok_or_else(|| StoreError::Other("failed to use the git writer: a previous operation panicked".into()))?;
        let (inner, out) = self
            .thread
            .run(move || {
                let out = f(inner.as_mut());
                (inner, out)
            })
            .await?;
        self.inner = Some(inner);
        out
    }
}

/// The commit a ref points at, `None` when the ref does not exist.
fn tip(repo: &Repository, refname: &str) -> Result<Option<Oid>, StoreError> {
    match repo.refname_to_id(refname) {
        Ok(oid) => Ok(Some(oid)),
        Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
        Err(e) => Err(git_err("read the branch", e)),
    }
}

fn tree_of(repo: &Repository, commit: Option<Oid>) -> Result<Option<Oid>, StoreError> {
    match commit {
        Some(c) => Ok(Some(repo.find_commit(c).map_err(|e| git_err("read the branch tip", e))?.tree_id())),
        None => Ok(None),
    }
}

/// A file at `commit`.
fn read_at(
    repo: &Repository,
    commit: Option<Oid>,
    root: &StorePath,
    path: &StorePath,
) -> Result<Option<Vec<u8>>, StoreError> {
    let mut editor = TreeEditor::new(repo, tree_of(repo, commit)?);
    commit::read(repo, &mut editor, root, path)
}

/// A file (by repository path) as it is at `base` and at `tip`, for `plan --diff`.
fn contents_between(
    repo: &Repository,
    base: Option<Oid>,
    tip: Option<Oid>,
    path: &str,
) -> Result<BeforeAfter, StoreError> {
    let path = StorePath::parse(path).map_err(|e| StoreError::Other(format!("failed to read {path:?}: {e}")))?;
    let root = StorePath::root();
    Ok((read_at(repo, base, &root, &path)?, read_at(repo, tip, &root, &path)?))
}

/// Every file below `dir` at `commit`, relative to the store's root.
fn list_at(
    repo: &Repository,
    commit: Option<Oid>,
    root: &StorePath,
    dir: &StorePath,
) -> Result<Vec<StorePath>, StoreError> {
    let mut editor = TreeEditor::new(repo, tree_of(repo, commit)?);
    let files = editor.list_files(dir.under(root).as_str()).map_err(|e| git_err("list the tree", e))?;
    Ok(files
        .into_iter()
        .filter_map(|f| StorePath::parse(&f).ok())
        .filter_map(|p| p.strip_prefix(root).and_then(|rel| StorePath::parse(rel).ok()))
        .collect())
}

/// Files changed between two commits (plan mode).
fn diff_commits(repo: &Repository, old: Option<Oid>, new: Option<Oid>) -> Result<Vec<FileChange>, StoreError> {
    let tree = |c: Option<Oid>| -> Result<Option<git2::Tree<'_>>, StoreError> {
        match c {
            Some(c) => Ok(Some(repo.find_commit(c).and_then(|c| c.tree()).map_err(|e| git_err("read a tree", e))?)),
            None => Ok(None),
        }
    };
    let (old, new) = (tree(old)?, tree(new)?);
    let diff = repo.diff_tree_to_tree(old.as_ref(), new.as_ref(), None).map_err(|e| git_err("diff the trees", e))?;
    let mut out = Vec::new();
    for delta in diff.deltas() {
        let path = |f: git2::DiffFile<'_>| f.path().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
        match delta.status() {
            git2::Delta::Added => out.push(FileChange::Added(path(delta.new_file()))),
            git2::Delta::Deleted => out.push(FileChange::Deleted(path(delta.old_file()))),
            _ => out.push(FileChange::Modified(path(delta.new_file()))),
        }
    }
    out.sort();
    Ok(out)
}

/// Sends new objects of a dry run to memory, so plan mode writes nothing to disk.
fn objects_to_memory(repo: &Repository) -> Result<(), StoreError> {
    let odb = repo.odb().map_err(|e| git_err("open the object database", e))?;
    odb.add_new_mempack_backend(1000).map(|_| ()).map_err(|e| git_err("prepare an in-memory object store", e))
}

#[async_trait]
impl Backend for GitBackend {
    async fn apply(&mut self, batch: &[ChangeSet]) -> Result<Applied, StoreError> {
        let batch = batch.to_vec();
        self.blocking(move |r| r.apply(&batch)).await
    }

    async fn read(&mut self, path: &StorePath) -> Result<Option<Vec<u8>>, StoreError> {
        let path = path.clone();
        self.blocking(move |r| r.read(&path)).await
    }

    async fn list(&mut self, dir: &StorePath) -> Result<Vec<StorePath>, StoreError> {
        let dir = dir.clone();
        self.blocking(move |r| r.list(&dir)).await
    }

    async fn check_write_permission(&mut self) -> Result<(), StoreError> {
        self.blocking(|r| r.check_write_permission()).await
    }

    async fn pending_changes(&mut self) -> Result<Vec<FileChange>, StoreError> {
        self.blocking(|r| r.pending_changes()).await
    }

    async fn planned_contents(&mut self, path: &str) -> Result<BeforeAfter, StoreError> {
        let path = path.to_string();
        self.blocking(move |r| r.planned_contents(&path)).await
    }

    fn keeps_dir_ids(&self) -> bool {
        true
    }
}
