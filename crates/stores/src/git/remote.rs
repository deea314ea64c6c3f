//! A remote repository mirrored in a bare cache repository: fetch (coalesced), build the batch on the
//! remote's tip, push without force, and on rejection fetch and rebuild (compatibility D5).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use git2::{AutotagOption, Direction, ErrorClass, ErrorCode, FetchOptions, FetchPrune, Oid, PushOptions, Repository};
use waybill_core::changeset::ChangeSet;
use waybill_core::layout::StorePath;

use super::auth::{Access, Diagnosis};
use super::commit::{self, git_err};
use super::local::init_bare;
use super::ref_guard::{RefGuard, lock_of};
use super::{GitSettings, Repo, contents_between, diff_commits, list_at, objects_to_memory, read_at, tip};
use crate::error::StoreError;
use crate::port::{Applied, BeforeAfter, FileChange};

/// How a remote is mirrored and written.
#[derive(Debug, Clone)]
pub struct RemoteOptions {
    /// The bare cache repository (kept between runs); a temporary one when `None`.
    pub cache_dir: Option<PathBuf>,
    /// Fetch at most this often before building a batch (Kratix's `git.minimumFetchInterval`); a
    /// rejected push always fetches.
    pub fetch_interval: Duration,
    /// Rebuild-and-push attempts when other writers keep moving the branch.
    pub max_push_attempts: usize,
    /// Attempts, with capped backoff, when the remote cannot be reached.
    pub unreachable_attempts: usize,
}

impl Default for RemoteOptions {
    fn default() -> Self {
        RemoteOptions {
            cache_dir: None,
            fetch_interval: Duration::from_secs(5),
            max_push_attempts: 10,
            unreachable_attempts: 3,
        }
    }
}

pub(super) struct RemoteRepo {
    repo: Repository,
    url: String,
    settings: GitSettings,
    access: Access,
    options: RemoteOptions,
    tracking: String,
    /// Every ref update in the cache goes through it, so a killed Waybill's lock file is recovered.
    guard: RefGuard,
    last_fetch: Option<Instant>,
    dry: Option<(Option<Oid>, Option<Oid>)>,
    _scratch: Option<tempfile::TempDir>,
}

/// Turns a libgit2 failure into the store's semantic error, with what the callbacks noticed.
fn classify(context: &str, e: &git2::Error, diagnosis: &Diagnosis) -> StoreError {
    if let Some(msg) = diagnosis.host_key.get() {
        return StoreError::PermissionDenied(format!("{context}: {msg}"));
    }
    if let Some(msg) = diagnosis.tls.borrow().as_ref() {
        return StoreError::Config(format!("{context}: TLS certificate verification failed: {msg}"));
    }
    let text = e.message();
    let lower = text.to_ascii_lowercase();
    if diagnosis.credentials_rejected.get()
        || e.code() == ErrorCode::Auth
        || lower.contains("401")
        || lower.contains("403")
    {
        // The credentials callback already says "authentication failed: …"; say it once.
        let text = text.strip_prefix("authentication failed: ").unwrap_or(text);
        return StoreError::PermissionDenied(format!("{context}: authentication failed: {text}"));
    }
    if e.code() == ErrorCode::Certificate {
        return StoreError::Config(format!("{context}: TLS certificate verification failed: {text}"));
    }
    if lower.contains("404") || lower.contains("not found") || lower.contains("does not appear to be a git repository")
    {
        return StoreError::NotFound(format!("{context}: {text}"));
    }
    let network = matches!(e.class(), ErrorClass::Net | ErrorClass::Os | ErrorClass::Ssh | ErrorClass::Http)
        && (lower.contains("connect")
            || lower.contains("refused")
            || lower.contains("resolve")
            || lower.contains("timed out")
            || lower.contains("unreachable")
            || lower.contains("reset by peer")
            || lower.contains("early eof")
            || lower.contains("unexpected disconnect"));
    if network || e.code() == ErrorCode::Timeout {
        return StoreError::Unreachable(format!("{context}: {text}"));
    }
    StoreError::Other(format!("{context}: {text}"))
}

fn backoff(attempt: usize) -> Duration {
    crate::backoff::delay(attempt, Duration::from_millis(250), Duration::from_secs(5))
}

impl RemoteRepo {
    pub(super) fn open(
        url: &str,
        settings: GitSettings,
        access: Access,
        options: RemoteOptions,
    ) -> Result<RemoteRepo, StoreError> {
        let (path, scratch) = match &options.cache_dir {
            Some(dir) if !settings.dry_run => (dir.clone(), None),
            _ => {
                let t = tempfile::Builder::new()
                    .prefix("waybill-git-")
                    .tempdir()
                    .map_err(|e| StoreError::Other(format!("failed to create a cache directory: {e}")))?;
                (t.path().to_path_buf(), Some(t))
            }
        };
        let repo = match Repository::open_bare(&path) {
            Ok(r) => r,
            Err(_) => {
                let _ = std::fs::remove_dir_all(&path);
                init_bare(&path, &settings.branch)?
            }
        };
        let tracking = format!("refs/remotes/origin/{}", settings.branch);
        let guard = RefGuard::new(repo.path());
        let mut me = RemoteRepo {
            repo,
            url: url.to_string(),
            settings,
            access,
            options,
            tracking,
            guard,
            last_fetch: None,
            dry: None,
            _scratch: scratch,
        };
        me.fetch(true)?;
        if me.settings.dry_run {
            objects_to_memory(&me.repo)?;
            let base = tip(&me.repo, &me.tracking)?;
            me.dry = Some((base, base));
        }
        Ok(me)
    }

    /// Fetches the branch unless it was fetched within the interval (`force` always fetches).
    fn fetch(&mut self, force: bool) -> Result<(), StoreError> {
        if !force && self.last_fetch.is_some_and(|t| t.elapsed() < self.options.fetch_interval) {
            return Ok(());
        }
        let diagnosis = Diagnosis::default();
        let mut remote = self.repo.remote_anonymous(&self.url).map_err(|e| git_err("prepare the remote", e))?;
        let mut opts = FetchOptions::new();
        opts.remote_callbacks(self.access.callbacks(&diagnosis));
        opts.prune(FetchPrune::On);
        opts.download_tags(AutotagOption::None);
        let refspec = format!("+refs/heads/{b}:refs/remotes/origin/{b}", b = self.settings.branch);
        let locks = [lock_of(&self.tracking), "FETCH_HEAD.lock".to_string()];
        self.guard
            .run(&locks, || remote.fetch(&[refspec.as_str()], Some(&mut opts), None))?
            .map_err(|e| classify("failed to fetch latest remote state", &e, &diagnosis))?;
        self.last_fetch = Some(Instant::now());
        Ok(())
    }

    /// Pushes the local branch; `Ok(Some(reason))` when the remote refused it (another writer moved it).
    fn push(&mut self) -> Result<Option<String>, StoreError> {
        let diagnosis = Diagnosis::default();
        let rejected = std::cell::RefCell::new(None);
        let mut remote = self.repo.remote_anonymous(&self.url).map_err(|e| git_err("prepare the remote", e))?;
        let mut callbacks = self.access.callbacks(&diagnosis);
        callbacks.push_update_reference(|refname, status| {
            if let Some(status) = status {
                *rejected.borrow_mut() = Some(format!("{refname}: {status}"));
            }
            Ok(())
        });
        let mut opts = PushOptions::new();
        opts.remote_callbacks(callbacks);
        let refspec = format!("refs/heads/{b}:refs/heads/{b}", b = self.settings.branch);
        match remote.push(&[refspec.as_str()], Some(&mut opts)) {
            Ok(()) => {}
            Err(e) if e.code() == ErrorCode::NotFastForward => return Ok(Some(e.message().to_string())),
            Err(e) => return Err(classify("failed to push", &e, &diagnosis)),
        }
        drop(opts);
        Ok(rejected.into_inner())
    }

    fn current(&self) -> Result<Option<Oid>, StoreError> {
        match &self.dry {
            Some((_, virtual_tip)) => Ok(*virtual_tip),
            None => tip(&self.repo, &self.tracking),
        }
    }

    /// Runs `op`, retrying with capped backoff while the remote cannot be reached.
    fn reachable<T>(&mut self, mut op: impl FnMut(&mut Self) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let mut attempt = 0;
        loop {
            match op(self) {
                Err(StoreError::Unreachable(msg)) if attempt + 1 < self.options.unreachable_attempts => {
                    tracing::warn!(remote = %self.url, attempt, "remote unreachable, retrying: {msg}");
                    std::thread::sleep(backoff(attempt));
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

impl Repo for RemoteRepo {
    fn apply(&mut self, batch: &[ChangeSet]) -> Result<Applied, StoreError> {
        let mut force_fetch = false;
        for _ in 0..self.options.max_push_attempts {
            if self.dry.is_none() {
                self.reachable(|r| r.fetch(force_fetch))?;
            }
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
            let local = self.settings.refname();
            self.guard
                .run(&[lock_of(&local)], || self.repo.reference(&local, new, true, "waybill: commit"))?
                .map_err(|e| git_err("update the local branch", e))?;
            let pushing = std::time::Instant::now();
            let pushed = self.reachable(|r| r.push())?;
            tracing::debug!(elapsed = ?pushing.elapsed(), "pushed");
            match pushed {
                None => {
                    self.guard
                        .run(&[lock_of(&self.tracking)], || {
                            self.repo.reference(&self.tracking, new, true, "waybill: pushed")
                        })?
                        .map_err(|e| git_err("record the pushed commit", e))?;
                    return Ok(Applied {
                        version: Some(new.to_string()),
                        outcomes: built.outcomes,
                        ..Applied::default()
                    });
                }
                Some(reason) => {
                    tracing::info!(remote = %self.url, branch = %self.settings.branch, "push rejected ({reason}); rebuilding on the new tip");
                    force_fetch = true;
                }
            }
        }
        Err(StoreError::Conflict(format!(
            "failed to push to branch {}: other writers kept moving it during {} attempts",
            self.settings.branch, self.options.max_push_attempts
        )))
    }

    fn read(&mut self, path: &StorePath) -> Result<Option<Vec<u8>>, StoreError> {
        if self.dry.is_none() {
            self.reachable(|r| r.fetch(false))?;
        }
        read_at(&self.repo, self.current()?, &self.settings.root, path)
    }

    fn list(&mut self, dir: &StorePath) -> Result<Vec<StorePath>, StoreError> {
        if self.dry.is_none() {
            self.reachable(|r| r.fetch(false))?;
        }
        list_at(&self.repo, self.current()?, &self.settings.root, dir)
    }

    fn check_write_permission(&mut self) -> Result<(), StoreError> {
        if self.dry.is_some() {
            return Ok(());
        }
        self.reachable(|r| {
            let diagnosis = Diagnosis::default();
            let mut remote = r.repo.remote_anonymous(&r.url).map_err(|e| git_err("prepare the remote", e))?;
            let callbacks = r.access.callbacks(&diagnosis);
            let connected = remote.connect_auth(Direction::Push, Some(callbacks), None);
            match connected {
                Ok(mut conn) => {
                    conn.remote().disconnect().map_err(|e| git_err("disconnect", e))?;
                    Ok(())
                }
                Err(e) => Err(classify("write permission validation failed", &e, &diagnosis)),
            }
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
