//! The Git backend: libgit2 in process, no working tree, no `git` child processes.
//!
//! Local repositories (`file://` or a path) are written directly: the batch becomes one commit and the
//! branch moves by compare-and-swap, so a concurrent writer never loses a commit (difference 5).

pub mod commit;
pub mod location;
pub mod tree;

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use git2::{ErrorCode, Oid, Repository, RepositoryInitOptions};
use waybill_core::changeset::ChangeSet;
use waybill_core::layout::StorePath;

pub use commit::Author;
use commit::git_err;
use tree::TreeEditor;

use crate::error::StoreError;
use crate::port::{Applied, Backend, FileChange};

/// How often a batch is rebuilt on a moved branch before giving up.
const MAX_ATTEMPTS: usize = 10;
/// How often a locked branch is tried (with a short pause) before the write fails.
const LOCK_ATTEMPTS: usize = 4;

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

/// A Git state store backend.
pub struct GitBackend {
    inner: Option<Box<LocalRepo>>,
    description: String,
}

struct LocalRepo {
    repo: Repository,
    refname: String,
    settings: GitSettings,
    dry: Option<DryRun>,
    _scratch: Option<ScratchDir>,
}

/// A temporary directory removed on drop (plan mode over a repository that does not exist yet).
struct ScratchDir(PathBuf);

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct DryRun {
    base: Option<Oid>,
    tip: Option<Oid>,
}

impl GitBackend {
    /// Opens the repository at `path`, creating a bare repository whose HEAD is the store's branch when
    /// nothing is there yet (difference 7). In plan mode nothing is created on disk.
    pub fn open_local(path: &Path, settings: GitSettings) -> Result<GitBackend, StoreError> {
        let description = path.display().to_string();
        let mut scratch = None;
        let repo = if is_missing_or_empty(path) {
            if settings.dry_run {
                let dir = std::env::temp_dir().join(format!("waybill-plan-{}-{}", std::process::id(), unique()));
                let repo = init_bare(&dir, &settings.branch)?;
                scratch = Some(ScratchDir(dir));
                repo
            } else {
                std::fs::create_dir_all(path).map_err(|e| {
                    StoreError::Config(format!("failed to create repository directory {description}: {e}"))
                })?;
                init_bare(path, &settings.branch)?
            }
        } else {
            Repository::open(path).map_err(|e| {
                StoreError::NotFound(format!("failed to open git repository at {description}: {}", e.message()))
            })?
        };
        let refname = format!("refs/heads/{}", settings.branch);
        let dry = if settings.dry_run {
            let odb = repo.odb().map_err(|e| git_err("open the object database", e))?;
            odb.add_new_mempack_backend(1000).map_err(|e| git_err("prepare an in-memory object store", e))?;
            let base = tip(&repo, &refname)?;
            Some(DryRun { base, tip: base })
        } else {
            if !repo.is_bare()
                && repo.head().ok().and_then(|h| h.name().ok().map(str::to_string)).as_deref() == Some(refname.as_str())
            {
                tracing::warn!(repository = %description, branch = %settings.branch,
                    "branch is checked out in a working tree; Waybill moves the branch without touching the working tree");
            }
            None
        };
        Ok(GitBackend {
            inner: Some(Box::new(LocalRepo { repo, refname, settings, dry, _scratch: scratch })),
            description,
        })
    }

    /// Where the repository is, for messages.
    pub fn description(&self) -> &str {
        &self.description
    }

    async fn blocking<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut LocalRepo) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let mut inner = self
            .inner
            .take()
            .ok_or_else(|| StoreError::Other("failed to use the git writer: a previous operation panicked".into()))?;
        let (inner, out) = tokio::task::spawn_blocking(move || {
            let out = f(&mut inner);
            (inner, out)
        })
        .await
        .map_err(|e| StoreError::Other(format!("failed to run a git operation: {e}")))?;
        self.inner = Some(inner);
        out
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn is_missing_or_empty(path: &Path) -> bool {
    match std::fs::read_dir(path) {
        Ok(mut entries) => entries.next().is_none(),
        Err(_) => !path.exists(),
    }
}

fn init_bare(path: &Path, branch: &str) -> Result<Repository, StoreError> {
    let mut opts = RepositoryInitOptions::new();
    opts.bare(true).initial_head(branch).mkdir(true);
    Repository::init_opts(path, &opts).map_err(|e| {
        StoreError::Config(format!("failed to create bare repository at {}: {}", path.display(), e.message()))
    })
}

fn tip(repo: &Repository, refname: &str) -> Result<Option<Oid>, StoreError> {
    match repo.refname_to_id(refname) {
        Ok(oid) => Ok(Some(oid)),
        Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
        Err(e) => Err(git_err("read the branch", e)),
    }
}

impl LocalRepo {
    fn current(&self) -> Result<Option<Oid>, StoreError> {
        match &self.dry {
            Some(d) => Ok(d.tip),
            None => tip(&self.repo, &self.refname),
        }
    }

    fn apply(&mut self, batch: &[ChangeSet]) -> Result<Applied, StoreError> {
        let mut locked = 0;
        for _ in 0..MAX_ATTEMPTS {
            let parent = self.current()?;
            let built = commit::build(&self.repo, parent, &self.settings.root, batch, &self.settings.author)?;
            let Some(new) = built.commit else {
                return Ok(Applied { version: None, outcomes: built.outcomes });
            };
            if let Some(d) = &mut self.dry {
                d.tip = Some(new);
                return Ok(Applied { version: Some(new.to_string()), outcomes: built.outcomes });
            }
            let moved = match parent {
                Some(old) => self.repo.reference_matching(&self.refname, new, true, old, "waybill: commit"),
                None => self.repo.reference(&self.refname, new, false, "waybill: commit"),
            };
            match moved {
                Ok(_) => {
                    return Ok(Applied { version: Some(new.to_string()), outcomes: built.outcomes });
                }
                Err(e) if matches!(e.code(), ErrorCode::Modified | ErrorCode::Exists) => {
                    tracing::debug!(branch = %self.settings.branch, "branch moved while committing; rebuilding on the new tip");
                    continue;
                }
                Err(e) if e.code() == ErrorCode::Locked => {
                    locked += 1;
                    if locked >= LOCK_ATTEMPTS {
                        return Err(StoreError::Conflict(format!(
                            "failed to update branch {}: it is locked ({}.lock exists: another process is writing, or one \
                             that crashed left its lock behind)",
                            self.settings.branch, self.refname
                        )));
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50 * locked as u64));
                    continue;
                }
                Err(e) => return Err(git_err("update the branch", e)),
            }
        }
        Err(StoreError::Conflict(format!(
            "failed to update branch {}: it kept moving during {MAX_ATTEMPTS} attempts",
            self.settings.branch
        )))
    }

    fn read(&self, path: &StorePath) -> Result<Option<Vec<u8>>, StoreError> {
        let tree = match self.current()? {
            Some(c) => Some(self.repo.find_commit(c).map_err(|e| git_err("read the branch tip", e))?.tree_id()),
            None => None,
        };
        let mut editor = TreeEditor::new(&self.repo, tree);
        commit::read(&self.repo, &mut editor, &self.settings.root, path)
    }

    fn list(&self, dir: &StorePath) -> Result<Vec<StorePath>, StoreError> {
        let tree = match self.current()? {
            Some(c) => Some(self.repo.find_commit(c).map_err(|e| git_err("read the branch tip", e))?.tree_id()),
            None => None,
        };
        let mut editor = TreeEditor::new(&self.repo, tree);
        let files =
            editor.list_files(dir.under(&self.settings.root).as_str()).map_err(|e| git_err("list the tree", e))?;
        Ok(files
            .into_iter()
            .filter_map(|f| StorePath::parse(&f).ok())
            .filter_map(|p| p.strip_prefix(&self.settings.root).and_then(|rel| StorePath::parse(rel).ok()))
            .collect())
    }

    fn check_write_permission(&self) -> Result<(), StoreError> {
        if self.dry.is_some() {
            return Ok(());
        }
        let probe = self.repo.path().join(format!("waybill-write-check-{}", std::process::id()));
        std::fs::write(&probe, b"").and_then(|()| std::fs::remove_file(&probe)).map_err(|e| {
            StoreError::PermissionDenied(format!(
                "write permission validation failed: {}: {e}",
                self.repo.path().display()
            ))
        })
    }

    fn pending_changes(&self) -> Result<Vec<FileChange>, StoreError> {
        let Some(d) = &self.dry else {
            return Ok(Vec::new());
        };
        let tree_of = |c: Option<Oid>| -> Result<Option<git2::Tree<'_>>, StoreError> {
            match c {
                Some(c) => {
                    Ok(Some(self.repo.find_commit(c).and_then(|c| c.tree()).map_err(|e| git_err("read a tree", e))?))
                }
                None => Ok(None),
            }
        };
        let (old, new) = (tree_of(d.base)?, tree_of(d.tip)?);
        let diff =
            self.repo.diff_tree_to_tree(old.as_ref(), new.as_ref(), None).map_err(|e| git_err("diff the trees", e))?;
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
}
