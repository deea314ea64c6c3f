//! Turning a batch of change sets into one commit on top of a parent, without a working tree.

use std::collections::{HashMap, HashSet};

use git2::{Oid, Repository};
use waybill_core::changeset::{self, ChangeSet, Step};
use waybill_core::layout::StorePath;

use super::tree::TreeEditor;
use crate::error::StoreError;

/// Commit identity (`gitAuthor`, default `kratix` with an empty email).
#[derive(Debug, Clone)]
pub struct Author {
    pub name: String,
    pub email: String,
}

/// The result of building a batch on a parent.
pub struct Built {
    /// The new commit, or `None` when the batch changed nothing.
    pub commit: Option<Oid>,
    /// Per change set: whether it changed any file, or why it failed.
    pub outcomes: Vec<Result<bool, StoreError>>,
    /// The objects the commit needs that this build wrote (blobs, trees and the commit itself).
    pub written: Vec<Oid>,
}

pub(crate) fn git_err(context: &str, e: git2::Error) -> StoreError {
    StoreError::Other(format!("failed to {context}: {}", e.message()))
}

/// Applies `batch` on `parent`'s tree (an empty tree when `None`) and commits the result.
///
/// A change set that Git refuses (a name libgit2 will not put in a tree, say) fails alone: the batch
/// is retried without it, so one bad placement never blocks the others (`docs/hostile-inputs.md`).
pub fn build(
    repo: &Repository,
    parent: Option<Oid>,
    root: &StorePath,
    batch: &[ChangeSet],
    author: &Author,
) -> Result<Built, StoreError> {
    let all: Vec<usize> = (0..batch.len()).collect();
    let error = match build_some(repo, parent, root, batch, &all, author) {
        Ok(built) => return Ok(built),
        Err(e) if batch.len() <= 1 => return Ok(Built { commit: None, outcomes: vec![Err(e)], written: Vec::new() }),
        Err(e) => e,
    };
    tracing::warn!(change_sets = batch.len(), "a batch failed ({error}); isolating the change set that fails");
    let mut failed: Vec<Option<StoreError>> = Vec::with_capacity(batch.len());
    for i in 0..batch.len() {
        failed.push(build_some(repo, parent, root, batch, &[i], author).err());
    }
    let good: Vec<usize> = (0..batch.len()).filter(|i| failed[*i].is_none()).collect();
    let mut built = if good.is_empty() {
        Built { commit: None, outcomes: Vec::new(), written: Vec::new() }
    } else {
        build_some(repo, parent, root, batch, &good, author)?
    };
    let mut good_outcomes = std::mem::take(&mut built.outcomes).into_iter();
    built.outcomes = failed
        .into_iter()
        .map(|f| match f {
            Some(e) => Err(e),
            None => good_outcomes.next().unwrap_or(Ok(false)),
        })
        .collect();
    Ok(built)
}

/// Files a batch must put before its objects are written as one pack rather than as loose files.
const PACK_THRESHOLD: usize = 64;

/// Like [`build`], writing the new objects of a large batch as one pack: tens of thousands of loose
/// object files cost more in file creation than everything else a burst does (`docs/` benchmarks).
pub fn build_packed(
    repo: &Repository,
    parent: Option<Oid>,
    root: &StorePath,
    batch: &[ChangeSet],
    author: &Author,
) -> Result<Built, StoreError> {
    let puts: usize = batch.iter().flat_map(|s| &s.ops).map(op_files).sum();
    if puts < PACK_THRESHOLD {
        return build(repo, parent, root, batch, author);
    }
    // A handle of its own whose new objects stay in memory until they are written as one pack. The
    // pack holds exactly the objects this build wrote: libgit2's mempack dump would pack everything
    // the commit reaches, the whole repository, on every large batch ([`super::pack`]).
    let bulk = Repository::open(repo.path()).map_err(|e| git_err("open the repository", e))?;
    let odb = bulk.odb().map_err(|e| git_err("open the object database", e))?;
    let _mempack = odb.add_new_mempack_backend(1000).map_err(|e| git_err("prepare an in-memory object store", e))?;
    let started = std::time::Instant::now();
    let built = build(&bulk, parent, root, batch, author)?;
    tracing::debug!(elapsed = ?started.elapsed(), change_sets = batch.len(), objects = built.written.len(), "built a batch");
    if built.commit.is_some() {
        super::pack::write(&odb, &built.written)?;
        tracing::debug!(elapsed = ?started.elapsed(), "wrote its pack");
    }
    Ok(built)
}

fn op_files(op: &changeset::Op) -> usize {
    match op {
        changeset::Op::Put { .. } => 1,
        changeset::Op::ReplaceDir { files, .. } | changeset::Op::PutTracked { files, .. } => files.len(),
        _ => 0,
    }
}

/// Builds the change sets `which` of `batch` into one commit; any error fails them all.
fn build_some(
    repo: &Repository,
    parent: Option<Oid>,
    root: &StorePath,
    batch: &[ChangeSet],
    which: &[usize],
    author: &Author,
) -> Result<Built, StoreError> {
    let parent_commit = match parent {
        Some(oid) => Some(repo.find_commit(oid).map_err(|e| git_err("read the branch tip", e))?),
        None => None,
    };
    let base_tree = parent_commit.as_ref().map(|c| c.tree_id());
    let mut editor = TreeEditor::new(repo, base_tree);
    let mut outcomes = Vec::with_capacity(which.len());
    let mut applied: Vec<&ChangeSet> = Vec::new();
    // Blobs written by this build, so content that appears twice is written once.
    let mut written: HashSet<Oid> = HashSet::new();
    for set in which.iter().map(|i| &batch[*i]) {
        let root = set.root_or(root);
        if let Some(unchanged) = still_in_place(&mut editor, root, set).map_err(|e| git_err("read the tree", e))? {
            outcomes.push(unchanged.map(|()| false));
            continue;
        }
        match expand(repo, &mut editor, root, set) {
            Ok(_) if in_place(&mut editor, root, set).map_err(|e| git_err("read the tree", e))? => {
                outcomes.push(Ok(false));
            }
            Ok(steps) => {
                let changed = apply_steps(repo, &mut editor, root, steps, &mut written)?;
                if changed {
                    applied.push(set);
                }
                outcomes.push(Ok(changed));
            }
            Err(e) => outcomes.push(Err(e)),
        }
    }
    let tree_id = editor.write().map_err(|e| git_err("write the tree", e))?;
    if base_tree == Some(tree_id) || (base_tree.is_none() && applied.is_empty()) {
        return Ok(Built { commit: None, outcomes, written: Vec::new() });
    }
    let tree = repo.find_tree(tree_id).map_err(|e| git_err("read the new tree", e))?;
    if base_tree.is_none() && tree.is_empty() {
        return Ok(Built { commit: None, outcomes, written: Vec::new() });
    }
    let message = changeset::commit_message(&applied);
    let parents: Vec<Oid> = parent.into_iter().collect();
    let commit = write_commit(repo, tree_id, &parents, author, &message)?;
    let mut new: Vec<Oid> = written.into_iter().collect();
    new.extend_from_slice(editor.written_trees());
    new.push(commit);
    Ok(Built { commit: Some(commit), outcomes, written: new })
}

/// Writes a commit object directly, as `git commit` would: libgit2's signatures refuse the empty email
/// that Kratix's default author (`kratix`, no email) has.
fn write_commit(
    repo: &Repository,
    tree: Oid,
    parents: &[Oid],
    author: &Author,
    message: &str,
) -> Result<Oid, StoreError> {
    let clean =
        |s: &str| s.chars().filter(|c| !matches!(c, '<' | '>' | '\n' | '\0')).collect::<String>().trim().to_string();
    let name = match clean(&author.name) {
        n if n.is_empty() => "kratix".to_string(),
        n => n,
    };
    let email = clean(&author.email);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let ident = format!("{name} <{email}> {now} +0000");
    let mut body = format!("tree {tree}\n");
    for p in parents {
        body.push_str(&format!("parent {p}\n"));
    }
    body.push_str(&format!("author {ident}\ncommitter {ident}\n\n{message}"));
    if !body.ends_with('\n') {
        body.push('\n');
    }
    let odb = repo.odb().map_err(|e| git_err("open the object database", e))?;
    odb.write(git2::ObjectType::Commit, body.as_bytes()).map_err(|e| git_err("create the commit", e))
}

/// Reads a root-relative file through the editor (so earlier change sets of the batch are visible).
pub fn read(
    repo: &Repository,
    editor: &mut TreeEditor<'_>,
    root: &StorePath,
    path: &StorePath,
) -> Result<Option<Vec<u8>>, StoreError> {
    let full = path.under(root);
    match editor.read(full.as_str()).map_err(|e| git_err("read the tree", e))? {
        Some(oid) => Ok(Some(repo.find_blob(oid).map_err(|e| git_err("read a blob", e))?.content().to_vec())),
        None => Ok(None),
    }
}

fn expand(
    repo: &Repository,
    editor: &mut TreeEditor<'_>,
    root: &StorePath,
    set: &ChangeSet,
) -> Result<Vec<Step>, StoreError> {
    let mut steps = Vec::new();
    for op in &set.ops {
        let previous = match op.state_file() {
            Some(file) => read(repo, editor, root, file)?,
            None => None,
        };
        let expanded = changeset::expand(op, previous.as_deref()).map_err(|e| {
            StoreError::InvalidState(format!("{e} ({})", op.state_file().map(ToString::to_string).unwrap_or_default()))
        })?;
        steps.extend(expanded);
    }
    changeset::check_paths(&steps, root).map_err(|e| StoreError::InvalidPath(e.to_string()))?;
    Ok(steps)
}

/// For a change set of [`changeset::Op::Unchanged`] operations, whether every directory still has the
/// id it expects and no earlier change set of the batch touched it; `None` for any other change set.
fn still_in_place(
    editor: &mut TreeEditor<'_>,
    root: &StorePath,
    set: &ChangeSet,
) -> Result<Option<Result<(), StoreError>>, git2::Error> {
    if !set.ops.iter().any(|op| matches!(op, changeset::Op::Unchanged { .. })) {
        return Ok(None);
    }
    for op in &set.ops {
        let changeset::Op::Unchanged { dir, id } = op else {
            return Ok(Some(Err(StoreError::Changed(format!(
                "failed to apply change set {}: an unchanged directory cannot be combined with other changes",
                set.name
            )))));
        };
        let full = dir.under(root);
        let present = editor.untouched_dir(full.as_str())?;
        if present.map(|p| p.to_string()).as_deref() != Some(id.as_str()) {
            return Ok(Some(Err(StoreError::Changed(format!("directory {full} changed since it was last written")))));
        }
    }
    Ok(Some(Ok(())))
}

/// Whether `set` only replaces directories with what they already hold, as a rerun's placements do:
/// then nothing needs reading, editing or writing. Decided from ids alone (see [`super::tree_hash`]);
/// `false` sends the set the general way, which gives the same answer more slowly.
fn in_place(editor: &mut TreeEditor<'_>, root: &StorePath, set: &ChangeSet) -> Result<bool, git2::Error> {
    for op in &set.ops {
        let changeset::Op::ReplaceDir { dir, files } = op else {
            return Ok(false);
        };
        let full = dir.under(root);
        let Some(present) = editor.untouched_dir(full.as_str())? else {
            return Ok(false);
        };
        // Content that does not decode is not in place: the general way reports it.
        let Ok(decoded) = files.iter().map(|(p, c)| c.bytes().map(|b| (p, b))).collect::<Result<Vec<_>, _>>() else {
            return Ok(false);
        };
        if super::tree_hash::dir_id(dir, decoded.iter().map(|(p, b)| (*p, b.as_ref())))? != Some(present) {
            return Ok(false);
        }
    }
    Ok(!set.ops.is_empty())
}

/// Applies one change set's steps; returns whether they changed any file (a directory replaced by the
/// same files, say, changes nothing), so commit messages name only the change sets that did something.
fn apply_steps(
    repo: &Repository,
    editor: &mut TreeEditor<'_>,
    root: &StorePath,
    steps: Vec<Step>,
    written: &mut HashSet<Oid>,
) -> Result<bool, StoreError> {
    let edit = |e| git_err("edit the tree", e);
    let mut before: HashMap<String, Option<Oid>> = HashMap::new();
    for step in steps {
        match step {
            Step::Put(path, content) => {
                let full = path.under(root);
                if !before.contains_key(full.as_str()) {
                    let old = editor.read(full.as_str()).map_err(edit)?;
                    before.insert(full.to_string(), old);
                }
                // Decoded here, one file at a time, so queued change sets hold no decoded copies.
                let content = content.bytes().map_err(|e| StoreError::undecodable(&path, e))?;
                // Hashing is cheap, writing is not: an object already in the tree is in the repository.
                let oid = Oid::hash_object(git2::ObjectType::Blob, &content).map_err(|e| git_err("hash a blob", e))?;
                let present = before.get(full.as_str()).copied().flatten() == Some(oid);
                if !present && written.insert(oid) {
                    repo.blob(&content).map_err(|e| git_err("write a blob", e))?;
                }
                editor.put(full.as_str(), oid).map_err(edit)?;
            }
            Step::Delete(path) => {
                let full = path.under(root);
                for file in editor.list_files(full.as_str()).map_err(edit)? {
                    if let std::collections::hash_map::Entry::Vacant(slot) = before.entry(file) {
                        let old = editor.read(slot.key()).map_err(edit)?;
                        slot.insert(old);
                    }
                }
                editor.remove(full.as_str()).map_err(edit)?;
            }
        }
    }
    for (path, old) in before {
        if editor.read(&path).map_err(edit)? != old {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use waybill_core::changeset::{Action, Content, Op};

    fn put_many(files: std::ops::Range<usize>, size: usize) -> ChangeSet {
        let ops = files
            .map(|i| {
                let mut content = format!("file {i}\n").into_bytes();
                content.extend((0..size).map(|j| ((i * 31 + j * 7) % 251) as u8));
                Op::Put {
                    path: StorePath::parse(&format!("dir-{}/file-{i}.yaml", i % 7)).unwrap(),
                    content: content.into(),
                }
            })
            .collect();
        ChangeSet::new("burst", Action::Update, ops)
    }

    /// A new bare repository and Kratix's default author.
    fn bare() -> (tempfile::TempDir, Repository, Author) {
        crate::init();
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        (dir, repo, Author { name: "kratix".into(), email: String::new() })
    }

    /// Object counts of the repository's packs, from their headers, oldest first.
    fn pack_counts(repo: &Repository) -> Vec<u32> {
        let mut packs: Vec<_> = std::fs::read_dir(repo.path().join("objects/pack"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "pack"))
            .map(|p| (std::fs::metadata(&p).unwrap().modified().unwrap(), std::fs::read(&p).unwrap()))
            .collect();
        packs.sort_by_key(|(t, _)| *t);
        packs.into_iter().map(|(_, b)| u32::from_be_bytes([b[8], b[9], b[10], b[11]])).collect()
    }

    fn assert_reads_back(repo: &Repository, commit: Oid, set: &ChangeSet) {
        let tree = repo.find_commit(commit).unwrap().tree().unwrap();
        for op in &set.ops {
            let Op::Put { path, content } = op else { unreachable!() };
            let entry = tree.get_path(std::path::Path::new(path.as_str())).unwrap();
            assert_eq!(repo.find_blob(entry.id()).unwrap().content(), &content.bytes().unwrap()[..], "{path}");
        }
    }

    #[test]
    fn a_large_batch_packs_only_the_objects_it_wrote_not_the_whole_repository() {
        let (dir, repo, author) = bare();
        let first = put_many(0..300, 200);
        let built = build_packed(&repo, None, &StorePath::root(), std::slice::from_ref(&first), &author).unwrap();
        let one = built.commit.expect("a commit");
        // 300 blobs, 7 directories and the root, the commit.
        assert_eq!(pack_counts(&repo), vec![309]);
        let second = put_many(300..400, 200);
        let built = build_packed(&repo, Some(one), &StorePath::root(), std::slice::from_ref(&second), &author).unwrap();
        let two = built.commit.expect("a commit");
        // 100 new blobs, the 7 directories and the root again, the commit: nothing of the first 300.
        assert_eq!(pack_counts(&repo), vec![309, 109]);
        assert_reads_back(&repo, two, &first);
        assert_reads_back(&repo, two, &second);
        assert_eq!(repo.find_commit(two).unwrap().parent_id(0).unwrap(), one);
        // Git itself reads the packs: checksums, entries and every object the branch reaches.
        repo.reference("refs/heads/main", two, true, "test").unwrap();
        let fsck =
            std::process::Command::new("git").args(["fsck", "--full", "--strict"]).current_dir(dir.path()).output();
        let fsck = fsck.expect("the git CLI runs");
        assert!(fsck.status.success(), "git fsck: {}", String::from_utf8_lossy(&fsck.stderr));
    }

    #[test]
    fn encoded_content_is_written_decoded_and_content_that_does_not_decode_fails_its_set_alone() {
        let (_dir, repo, author) = bare();
        let encoded = |text: &str| Content::Encoded { text: text.into(), limit: 1024 };
        let good = ChangeSet::new(
            "good",
            Action::Update,
            vec![Op::Put {
                path: StorePath::parse("a.yaml").unwrap(),
                content: encoded(&waybill_core::content::encode(b"kind: ConfigMap\n")),
            }],
        );
        let bad = ChangeSet::new(
            "bad",
            Action::Update,
            vec![Op::Put { path: StorePath::parse("b.yaml").unwrap(), content: encoded("H4sIAAAA") }],
        );
        let built = build(&repo, None, &StorePath::root(), &[good, bad], &author).unwrap();
        assert!(built.outcomes[0].is_ok(), "{:?}", built.outcomes);
        let err = built.outcomes[1].as_ref().expect_err("undecodable content fails").to_string();
        assert!(err.starts_with("failed to decode b.yaml: "), "{err}");
        let tree = repo.find_commit(built.commit.expect("a commit")).unwrap().tree().unwrap();
        let blob = repo.find_blob(tree.get_name("a.yaml").unwrap().id()).unwrap();
        assert_eq!(blob.content(), b"kind: ConfigMap\n");
        assert!(tree.get_name("b.yaml").is_none());
    }

    #[test]
    fn a_small_batch_is_written_without_a_pack() {
        let (_dir, repo, author) = bare();
        let set = put_many(0..10, 100);
        let built = build_packed(&repo, None, &StorePath::root(), std::slice::from_ref(&set), &author).unwrap();
        assert!(pack_counts(&repo).is_empty());
        assert_reads_back(&repo, built.commit.expect("a commit"), &set);
    }

    /// Files of one directory: a few names (some nested, some sharing a prefix with a directory) and
    /// small contents, so sets often coincide.
    fn dir_files() -> impl proptest::strategy::Strategy<Value = std::collections::BTreeMap<String, String>> {
        let name = proptest::sample::select(vec!["a.yaml", "a-b.yaml", "a/x.yaml", "a/y.yaml", "b/c/d.yaml", "z"]);
        let content = proptest::sample::select(vec!["", "1\n", "2\n"]);
        proptest::collection::btree_map(name.prop_map(String::from), content.prop_map(String::from), 0..4)
    }

    fn replace(files: &std::collections::BTreeMap<String, String>) -> ChangeSet {
        let dir = StorePath::parse("resources/ns/p/r/pipe").unwrap();
        let files = files
            .iter()
            .map(|(name, content)| (dir.join_file(name).unwrap(), Content::from(content.as_bytes())))
            .collect();
        ChangeSet::new("p", Action::Update, vec![Op::ReplaceDir { dir, files }])
    }

    /// The directory's files at `commit`, by their paths below it.
    fn files_at(repo: &Repository, commit: Option<Oid>) -> std::collections::BTreeMap<String, String> {
        let mut out = std::collections::BTreeMap::new();
        let Some(commit) = commit else { return out };
        let tree = repo.find_commit(commit).unwrap().tree().unwrap();
        let Ok(entry) = tree.get_path(std::path::Path::new("resources/ns/p/r/pipe")) else { return out };
        repo.find_tree(entry.id())
            .unwrap()
            .walk(git2::TreeWalkMode::PreOrder, |prefix, e| {
                if e.kind() == Some(git2::ObjectType::Blob) {
                    let content = repo.find_blob(e.id()).unwrap().content().to_vec();
                    out.insert(format!("{prefix}{}", e.name().unwrap()), String::from_utf8(content).unwrap());
                }
                git2::TreeWalkResult::Ok
            })
            .unwrap();
        out
    }

    fn unchanged(id: &str) -> ChangeSet {
        let dir = StorePath::parse("resources/ns/p/r/pipe").unwrap();
        ChangeSet::new("p", Action::Update, vec![Op::Unchanged { dir, id: id.to_string() }])
    }

    /// A rerun's placement asks by the id its directory got: the same id is in place (no commit),
    /// another id, a missing directory, or one an earlier change set of the batch touched is "changed".
    #[test]
    fn an_unchanged_directory_is_answered_by_its_id_alone() {
        let (_dir, repo, author) = bare();
        let root = StorePath::root();
        let files: std::collections::BTreeMap<String, String> =
            [("a.yaml", "1\n"), ("b/c.yaml", "2\n")].into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        let first = replace(&files);
        let one = build(&repo, None, &root, std::slice::from_ref(&first), &author).unwrap().commit.unwrap();
        let id = super::super::tree_hash::tree_id(files.iter().map(|(k, v)| (k.as_str(), v.as_bytes())))
            .unwrap()
            .unwrap()
            .to_string();
        let placed = repo.find_commit(one).unwrap().tree().unwrap();
        let placed = placed.get_path(std::path::Path::new("resources/ns/p/r/pipe")).unwrap().id().to_string();
        assert_eq!(id, placed, "the id computed from the files is the one Git gave the directory");

        let built = build(&repo, Some(one), &root, &[unchanged(&id)], &author).unwrap();
        assert!(built.commit.is_none());
        assert_eq!(built.outcomes, vec![Ok(false)]);

        let other = "0".repeat(40);
        let touched = replace(&[("a.yaml".to_string(), "9\n".to_string())].into_iter().collect());
        let cases: Vec<(&str, Option<Oid>, Vec<ChangeSet>)> = vec![
            ("another id", Some(one), vec![unchanged(&other)]),
            ("no directory", None, vec![unchanged(&id)]),
            ("touched earlier in the batch", Some(one), vec![touched, unchanged(&id)]),
        ];
        for (what, parent, batch) in cases {
            let built = build(&repo, parent, &root, &batch, &author).unwrap();
            let last = built.outcomes.last().unwrap();
            assert!(matches!(last, Err(StoreError::Changed(_))), "{what}: {last:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Deciding from ids that a directory is in place never skips a change: after any replacement
        /// (alone, or after another one in the same batch) the directory holds exactly the new files,
        /// and the change set reports a change exactly when the files differ.
        #[test]
        fn a_replaced_directory_holds_exactly_its_new_files(
            before in dir_files(), middle in dir_files(), after in dir_files(), same_batch in any::<bool>()
        ) {
            let (_d, repo, author) = bare();
            let root = StorePath::root();
            let first = build(&repo, None, &root, &[replace(&before)], &author).unwrap().commit;
            let (batch, baseline) = if same_batch {
                (vec![replace(&middle), replace(&after)], before.clone())
            } else {
                (vec![replace(&after)], before.clone())
            };
            let built = build(&repo, first, &root, &batch, &author).unwrap();
            let tip = built.commit.or(first);
            prop_assert_eq!(files_at(&repo, tip), after.clone());
            let last = built.outcomes.last().unwrap().as_ref().unwrap();
            let previous = if same_batch { &middle } else { &baseline };
            prop_assert_eq!(*last, previous != &after);
        }
    }
}
