//! A repository on this machine, written directly: the branch moves by compare-and-swap.

use std::path::Path;

use git2::{ErrorCode, Oid, Repository, RepositoryInitOptions};
use waybill_core::changeset::ChangeSet;
use waybill_core::layout::StorePath;

use super::commit::{self, git_err};
use super::ref_guard::{RefGuard, lock_of};
use super::{GitSettings, Repo, contents_between, diff_commits, list_at, objects_to_memory, read_at, tip};
use crate::error::StoreError;
use crate::port::{Applied, BeforeAfter, FileChange};

/// How often a batch is rebuilt on a moved branch before giving up.
const MAX_ATTEMPTS: usize = 10;
/// How often a locked branch is tried (with a short pause) before the write fails.
const LOCK_ATTEMPTS: usize = 4;

pub(super) struct LocalRepo {
    repo: Repository,
    refname: String,
    settings: GitSettings,
    /// Plan mode: the branch as it was, and the virtual tip built on it.
    dry: Option<(Option<Oid>, Option<Oid>)>,
    /// Every move of the branch goes through it, so a killed Waybill's lock file is recovered.
    guard: RefGuard,
    /// Plan mode over a repository that does not exist yet: a scratch one, removed on drop.
    _scratch: Option<tempfile::TempDir>,
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

/// Creates a bare repository whose HEAD names `branch`.
pub(super) fn init_bare(path: &Path, branch: &str) -> Result<Repository, StoreError> {
    let mut opts = RepositoryInitOptions::new();
    opts.bare(true).initial_head(branch).mkdir(true);
    Repository::init_opts(path, &opts).map_err(|e| {
        StoreError::Config(format!("failed to create bare repository at {}: {}", path.display(), e.message()))
    })
}

impl LocalRepo {
    pub(super) fn open(path: &Path, settings: GitSettings) -> Result<LocalRepo, StoreError> {
        let description = path.display().to_string();
        let mut scratch = None;
        let repo = if is_missing_or_empty(path) {
            if settings.dry_run {
                let dir = tempfile::Builder::new().prefix("waybill-plan-").tempdir().map_err(|e| {
                    StoreError::Config(format!("failed to create a scratch repository for the plan: {e}"))
                })?;
                let repo = init_bare(dir.path(), &settings.branch)?;
                scratch = Some(dir);
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
        let refname = settings.refname();
        let dry = if settings.dry_run {
            objects_to_memory(&repo)?;
            let base = tip(&repo, &refname)?;
            Some((base, base))
        } else {
            if !repo.is_bare()
                && repo.head().ok().and_then(|h| h.name().ok().map(str::to_string)).as_deref() == Some(refname.as_str())
            {
                tracing::warn!(repository = %description, branch = %settings.branch,
                    "branch is checked out in a working tree; Waybill moves the branch without touching the working tree");
            }
            None
        };
        let guard = RefGuard::new(repo.path());
        Ok(LocalRepo { repo, refname, settings, dry, guard, _scratch: scratch })
    }

    fn current(&self) -> Result<Option<Oid>, StoreError> {
        match &self.dry {
            Some((_, virtual_tip)) => Ok(*virtual_tip),
            None => tip(&self.repo, &self.refname),
        }
    }
}

impl Repo for LocalRepo {
    fn apply(&mut self, batch: &[ChangeSet]) -> Result<Applied, StoreError> {
        let mut locked = 0;
        for _ in 0..MAX_ATTEMPTS {
            let parent = self.current()?;
            // Plan mode keeps every object in memory: nothing is packed to disk.
            let build = if self.dry.is_some() { commit::build } else { commit::build_packed };
            let built = build(&self.repo, parent, &self.settings.root, batch, &self.settings.author)?;
            let Some(new) = built.commit else {
                return Ok(Applied { version: None, outcomes: built.outcomes, ..Applied::default() });
            };
            if let Some((_, virtual_tip)) = &mut self.dry {
                *virtual_tip = Some(new);
                return Ok(Applied { version: Some(new.to_string()), outcomes: built.outcomes, ..Applied::default() });
            }
            let moved = self.guard.run(&[lock_of(&self.refname)], || match parent {
                Some(old) => self.repo.reference_matching(&self.refname, new, true, old, "waybill: commit"),
                None => self.repo.reference(&self.refname, new, false, "waybill: commit"),
            })?;
            match moved {
                Ok(_) => {
                    return Ok(Applied {
                        version: Some(new.to_string()),
                        outcomes: built.outcomes,
                        ..Applied::default()
                    });
                }
                Err(e) if matches!(e.code(), ErrorCode::Modified | ErrorCode::Exists) => {
                    tracing::debug!(branch = %self.settings.branch, "branch moved while committing; rebuilding on the new tip");
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
                    let (min, max) = (std::time::Duration::from_millis(50), std::time::Duration::from_millis(400));
                    std::thread::sleep(crate::backoff::delay(locked - 1, min, max));
                }
                Err(e) => return Err(git_err("update the branch", e)),
            }
        }
        Err(StoreError::Conflict(format!(
            "failed to update branch {}: it kept moving during {MAX_ATTEMPTS} attempts",
            self.settings.branch
        )))
    }

    fn read(&mut self, path: &StorePath) -> Result<Option<Vec<u8>>, StoreError> {
        read_at(&self.repo, self.current()?, &self.settings.root, path)
    }

    fn list(&mut self, dir: &StorePath) -> Result<Vec<StorePath>, StoreError> {
        list_at(&self.repo, self.current()?, &self.settings.root, dir)
    }

    fn check_write_permission(&mut self) -> Result<(), StoreError> {
        if self.dry.is_some() {
            return Ok(());
        }
        // Unique per check: two stores on one repository may check at the same moment.
        let probe = self.repo.path().join(format!("waybill-write-check-{}-{}", std::process::id(), unique()));
        std::fs::write(&probe, b"").and_then(|()| std::fs::remove_file(&probe)).map_err(|e| {
            StoreError::PermissionDenied(format!(
                "write permission validation failed: {}: {e}",
                self.repo.path().display()
            ))
        })
    }

    fn pending_changes(&mut self) -> Result<Vec<FileChange>, StoreError> {
        match self.dry {
            Some((base, virtual_tip)) => diff_commits(&self.repo, base, virtual_tip),
            None => Ok(Vec::new()),
        }
    }

    fn planned_contents(&mut self, path: &str) -> Result<BeforeAfter, StoreError> {
        match self.dry {
            Some((base, virtual_tip)) => contents_between(&self.repo, base, virtual_tip, path),
            None => Ok((None, None)),
        }
    }
}
