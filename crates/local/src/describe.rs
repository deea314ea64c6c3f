//! `waybill describe` and `waybill tree`: one object with everything around it (conditions, recent
//! events, its placements or its Destination, the store paths it owns), as `kubectl describe` and
//! `flux tree` show them.

use waybill_core::api::{Destination, Work, WorkPlacement};
use waybill_core::labels::WORK_LABEL;
use waybill_core::layout::StorePath;
use waybill_core::meta::{Condition, find_condition};
use waybill_core::owned::owned_paths;
use waybill_core::{AnyObject, Kind, ObjectRef, Resource};

use crate::error::{LocalError, Result};
use crate::inspect::Inspection;
use crate::occupancy;
use crate::view::{self, one_line};

/// Events shown by `describe`, most recent last.
const RECENT_EVENTS: usize = 20;

impl Inspection {
    /// `waybill describe KIND NAME`.
    pub fn describe(&self, r: &ObjectRef) -> Result<String> {
        let (obj, source) = self.find_with_source(r)?;
        let meta = obj.meta();
        let mut fields: Vec<Vec<String>> = vec![field("Kind:", r.kind.as_str()), field("Name:", &meta.name)];
        if !r.namespace.is_empty() {
            fields.push(field("Namespace:", &r.namespace));
        }
        let labels: Vec<String> = meta.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        fields.push(field("Labels:", &labels.join(",")));
        fields.push(field("Created:", meta.creation_timestamp.as_deref().unwrap_or("")));
        fields.push(field("Generation:", &meta.generation.to_string()));
        if let Some(deleting) = &meta.deletion_timestamp {
            fields.push(field("Deleting since:", deleting));
        }
        if !meta.finalizers.is_empty() {
            fields.push(field("Finalizers:", &meta.finalizers.join(",")));
        }
        if let Some(file) = source {
            fields.push(field("Manifest:", file));
        }
        if let Some(refused) = self.rejections.get(r) {
            fields.push(field("Manifest refused:", &format!("{refused} (the last accepted version stays in effect)")));
        }
        fields.extend(self.kind_fields(obj));
        let mut out = view::columns(&fields, "");
        out.push_str(&conditions_section(obj.conditions()));
        out.push_str(&self.related_section(obj));
        out.push_str(&self.events_section(r));
        Ok(out)
    }

    /// `waybill tree work NS/NAME` or `waybill tree destination NAME`: each placement and the store
    /// paths it owns.
    pub fn tree(&self, r: &ObjectRef) -> Result<String> {
        let obj = self.find(r)?;
        let placements: Vec<&WorkPlacement> = match obj {
            AnyObject::Work(w) => self.placements_of(w),
            AnyObject::Destination(d) => self.placements_on(d),
            _ => {
                return Err(LocalError::NoObject(format!(
                    "`tree` shows a Work or a Destination, not a {} (try `waybill describe`)",
                    r.kind
                )));
            }
        };
        let mut out = format!("{r}  {}\n", ready_word(obj.conditions()));
        for (i, p) in placements.iter().enumerate() {
            let last = i + 1 == placements.len();
            let (branch, stem) = if last { ("└── ", "    ") } else { ("├── ", "│   ") };
            let target = &p.spec.target_destination_name;
            let store = self.destination(target).and_then(|d| d.spec.state_store_ref.as_ref());
            let store = store.map_or(String::new(), |s| format!("  {}/{}", s.kind, s.name));
            out.push_str(&format!(
                "{branch}{}  {}  → Destination/{target}{store}\n",
                p.object_ref(),
                ready_word(p.conditions())
            ));
            let files = self.files_of(p);
            for (j, f) in files.iter().enumerate() {
                let twig = if j + 1 == files.len() { "└── " } else { "├── " };
                out.push_str(&format!("{stem}{twig}{}\n", one_line(f)));
            }
        }
        if placements.is_empty() {
            out.push_str("└── (no placements)\n");
        }
        Ok(out)
    }

    /// The placements of `work` (labelled with its name, in its namespace).
    pub(crate) fn placements_of(&self, work: &Work) -> Vec<&WorkPlacement> {
        self.placements_where(|p| {
            p.metadata.namespace == work.metadata.namespace
                && p.metadata.labels.get(WORK_LABEL) == Some(&work.metadata.name)
        })
    }

    /// The placements that target `destination`.
    fn placements_on(&self, destination: &Destination) -> Vec<&WorkPlacement> {
        self.placements_where(|p| p.spec.target_destination_name == destination.metadata.name)
    }

    fn placements_where(&self, keep: impl Fn(&WorkPlacement) -> bool) -> Vec<&WorkPlacement> {
        self.of_kind(Kind::WorkPlacement)
            .filter_map(|o| match o {
                AnyObject::WorkPlacement(p) if keep(p) => Some(p),
                _ => None,
            })
            .collect()
    }

    /// The repository paths (or bucket keys) `p` owns, with its store's own path in front; a note when
    /// they cannot be known.
    fn files_of(&self, p: &WorkPlacement) -> Vec<String> {
        let Some(destination) = self.destination(&p.spec.target_destination_name) else {
            return vec!["(its Destination no longer exists; the files it wrote there are left as they are)".into()];
        };
        let root = self.store_root(destination);
        match owned_paths(destination, p) {
            Ok(paths) => paths.iter().map(|f| f.under(&root).as_str().to_string()).collect(),
            Err(e) => vec![format!("(no files: {e})")],
        }
    }

    fn store_root(&self, destination: &Destination) -> StorePath {
        let path = occupancy::store_of(destination).and_then(|r| self.find(&r).ok()).map(|store| match store {
            AnyObject::GitStateStore(g) => g.spec.path.clone(),
            AnyObject::BucketStateStore(b) => b.spec.path.clone(),
            _ => String::new(),
        });
        path.and_then(|p| StorePath::from_store_path(&p).ok()).unwrap_or_else(StorePath::root)
    }

    fn kind_fields(&self, obj: &AnyObject) -> Vec<Vec<String>> {
        match obj {
            AnyObject::Destination(d) => {
                let store =
                    d.spec.state_store_ref.as_ref().map_or("(none)".into(), |s| format!("{}/{}", s.kind, s.name));
                let dir = StorePath::for_destination(d).map(|dir| dir.under(&self.store_root(d)));
                let dir = dir.map_or_else(|e| format!("(invalid: {e})"), |d| format!("{}/", d.as_str()));
                vec![
                    field("State store:", &store),
                    field("Directory:", &dir),
                    field("Mode:", d.spec.filepath.mode.as_str()),
                    field("Cleanup:", d.spec.cleanup.as_str()),
                    field("Strict labels:", &d.spec.strict_match_labels.to_string()),
                ]
            }
            AnyObject::Work(w) => {
                let mut out = vec![field("Promise:", &w.spec.promise_name)];
                if w.is_resource_request() {
                    out.push(field("Resource:", &w.spec.resource_name));
                }
                for g in &w.spec.workload_groups {
                    let selectors = serde_json::to_string(&g.destination_selectors).unwrap_or_default();
                    let what = format!("{} file(s), selectors {selectors}", g.workloads.len());
                    out.push(field(&format!("Group {}:", waybill_core::layout::short_id(&g.effective_id())), &what));
                }
                out
            }
            AnyObject::WorkPlacement(p) => vec![
                field("Work:", p.metadata.labels.get(WORK_LABEL).map_or("", String::as_str)),
                field("Destination:", &p.spec.target_destination_name),
                field("Workloads:", &p.spec.workloads.len().to_string()),
            ],
            AnyObject::GitStateStore(g) => vec![
                field("URL:", &g.spec.url),
                field("Branch:", &g.spec.branch),
                field("Path:", &g.spec.path),
                field("Secret:", g.spec.secret_ref.as_ref().map_or("", |s| s.name.as_str())),
            ],
            AnyObject::BucketStateStore(b) => vec![
                field("Endpoint:", &b.spec.endpoint),
                field("Bucket:", &b.spec.bucket_name),
                field("Path:", &b.spec.path),
                field("Secret:", b.spec.secret_ref.as_ref().map_or("", |s| s.name.as_str())),
            ],
            AnyObject::Secret(_) => Vec::new(),
        }
    }

    fn related_section(&self, obj: &AnyObject) -> String {
        match obj {
            AnyObject::Work(w) => placements_section(&self.placements_of(w)),
            AnyObject::Destination(d) => placements_section(&self.placements_on(d)),
            AnyObject::WorkPlacement(p) => {
                let mut out = String::from("Files:\n");
                for f in self.files_of(p) {
                    out.push_str(&format!("  {}\n", one_line(&f)));
                }
                out
            }
            AnyObject::GitStateStore(_) | AnyObject::BucketStateStore(_) => {
                let me = obj.object_ref();
                let users: Vec<String> = self
                    .of_kind(Kind::Destination)
                    .filter_map(|o| match o {
                        AnyObject::Destination(d) if occupancy::store_of(d).as_ref() == Some(&me) => {
                            Some(format!("  {}  {}\n", d.metadata.name, ready_word(d.conditions())))
                        }
                        _ => None,
                    })
                    .collect();
                format!("Destinations:\n{}", if users.is_empty() { "  (none)\n".into() } else { users.concat() })
            }
            AnyObject::Secret(_) => String::new(),
        }
    }

    fn events_section(&self, r: &ObjectRef) -> String {
        let events = self.events_for(Some(r));
        let mut out = String::from("Events:\n");
        if events.is_empty() {
            out.push_str("  (none)\n");
            return out;
        }
        let recent = &events[events.len().saturating_sub(RECENT_EVENTS)..];
        let lines: Vec<Vec<String>> = recent
            .iter()
            .map(|e| vec![e.time.clone(), e.type_.clone(), one_line(&e.reason), one_line(&e.message)])
            .collect();
        out.push_str(&view::columns(&lines, "  "));
        out
    }
}

fn field(name: &str, value: &str) -> Vec<String> {
    vec![name.to_string(), one_line(value)]
}

fn ready_word(conditions: &[Condition]) -> String {
    match find_condition(conditions, waybill_core::conditions::READY) {
        Some(c) if c.is_true() => "Ready".into(),
        Some(c) => format!("not Ready ({}: {})", one_line(&c.reason), one_line(&c.message)),
        None => "Ready unknown".into(),
    }
}

fn conditions_section(conditions: &[Condition]) -> String {
    let mut out = String::from("Conditions:\n");
    if conditions.is_empty() {
        out.push_str("  (none yet)\n");
        return out;
    }
    let mut lines = vec![["TYPE", "STATUS", "REASON", "SINCE", "MESSAGE"].map(String::from).to_vec()];
    for c in conditions {
        lines.push(vec![
            c.type_.clone(),
            c.status.as_str().to_string(),
            one_line(&c.reason),
            c.last_transition_time.clone(),
            one_line(&c.message),
        ]);
    }
    out.push_str(&view::columns(&lines, "  "));
    out
}

fn placements_section(placements: &[&WorkPlacement]) -> String {
    let mut out = String::from("Placements:\n");
    if placements.is_empty() {
        out.push_str("  (none)\n");
        return out;
    }
    let lines: Vec<Vec<String>> = placements
        .iter()
        .map(|p| vec![p.object_ref().to_string(), p.spec.target_destination_name.clone(), ready_word(p.conditions())])
        .collect();
    out.push_str(&view::columns(&lines, "  "));
    out
}
