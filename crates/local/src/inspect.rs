//! What `waybill get`, `events`, `describe` and `tree` read: the state a run left in the state
//! directory, read without disturbing a running `waybill run`, so a user never needs `sqlite3` or
//! `git log` to see what happened.

use std::collections::BTreeMap;

use serde_json::json;
use waybill_core::api::Destination;
use waybill_core::conditions::READY;
use waybill_core::labels::WORK_LABEL;
use waybill_core::meta::find_condition;
use waybill_core::{AnyObject, Kind, ObjectRef};

use crate::error::{LocalError, Result};
use crate::persist::{self, StoredEvent};
use crate::platform::PlatformPaths;
use crate::view::{self, one_line};

/// Everything a state directory holds about the objects, as one read.
#[derive(Debug, Default)]
pub struct Inspection {
    /// Every object but Secrets (never stored), with the manifest file it came from.
    pub objects: Vec<(AnyObject, Option<String>)>,
    /// Why an object's latest manifest was refused.
    pub rejections: BTreeMap<ObjectRef, String>,
    /// Manifest problems that belong to no object.
    pub problems: Vec<String>,
    /// The most recent events, oldest first.
    pub events: Vec<StoredEvent>,
}

/// How `get` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetFormat {
    Table,
    Wide,
    Json,
    Yaml,
    Name,
}

impl Inspection {
    /// Reads the state directory of `paths` (read-only).
    pub fn read(paths: &PlatformPaths) -> Result<Inspection> {
        let snapshot = persist::read_only(&paths.db())?;
        Ok(Inspection {
            objects: snapshot.objects.into_iter().filter(|(o, _)| o.kind() != Kind::Secret).collect(),
            rejections: snapshot
                .rejections
                .into_iter()
                .filter_map(|(k, m)| persist::ref_of(&k).map(|r| (r, m)))
                .collect(),
            problems: snapshot.problems,
            events: snapshot.events,
        })
    }

    /// The object `r`, or an error that says how to find the right name.
    pub fn find(&self, r: &ObjectRef) -> Result<&AnyObject> {
        self.find_with_source(r).map(|(o, _)| o)
    }

    pub(crate) fn find_with_source(&self, r: &ObjectRef) -> Result<(&AnyObject, Option<&str>)> {
        if r.kind == Kind::Secret {
            return Err(LocalError::NoObject(
                "Secrets are never kept in the state directory; they are read from the manifests".into(),
            ));
        }
        self.objects.iter().find(|(o, _)| &o.object_ref() == r).map(|(o, s)| (o, s.as_deref())).ok_or_else(|| {
            LocalError::NoObject(format!("{r} in the state (`waybill get {}` lists them)", r.kind.plural()))
        })
    }

    /// Objects of `kind`, in the state's order (by kind, namespace, name).
    pub fn of_kind(&self, kind: Kind) -> impl Iterator<Item = &AnyObject> {
        self.objects.iter().map(|(o, _)| o).filter(move |o| o.kind() == kind)
    }

    /// The Destination named `name`, if it exists.
    pub fn destination(&self, name: &str) -> Option<&Destination> {
        self.of_kind(Kind::Destination).find_map(|o| match o {
            AnyObject::Destination(d) if d.metadata.name == name => Some(d),
            _ => None,
        })
    }

    /// Events about `about` (every event when `None`), oldest first.
    pub fn events_for(&self, about: Option<&ObjectRef>) -> Vec<&StoredEvent> {
        let key = about.map(persist::key_of);
        self.events.iter().filter(|e| key.as_ref().is_none_or(|k| &e.object == k)).collect()
    }

    /// `waybill events`: one line per event, oldest first.
    pub fn events_table(&self, about: Option<&ObjectRef>) -> String {
        let events = self.events_for(about);
        if events.is_empty() {
            return match about {
                Some(r) => format!("no events recorded for {r}\n"),
                None => "no events recorded\n".into(),
            };
        }
        let mut lines = vec![vec!["TIME".into(), "TYPE".into(), "REASON".into(), "OBJECT".into(), "MESSAGE".into()]];
        for e in events {
            let object = persist::ref_of(&e.object).map(|r| r.to_string()).unwrap_or_else(|| e.object.clone());
            lines.push(vec![
                e.time.clone(),
                e.type_.clone(),
                one_line(&e.reason),
                one_line(&object),
                one_line(&e.message),
            ]);
        }
        view::columns(&lines, "")
    }

    /// `waybill get KIND [NAME]`: `name` narrows to one object (an error if it does not exist).
    pub fn get(&self, kind: Kind, name: Option<&ObjectRef>, format: GetFormat) -> Result<String> {
        let selected: Vec<&AnyObject> = match name {
            Some(r) => vec![self.find(r)?],
            None => self.of_kind(kind).collect(),
        };
        Ok(match format {
            GetFormat::Table | GetFormat::Wide => self.table(kind, &selected, format == GetFormat::Wide),
            GetFormat::Name => selected
                .iter()
                .map(|o| format!("{}.{}/{}\n", kind.as_str().to_ascii_lowercase(), group(kind), o.meta().name))
                .collect(),
            GetFormat::Json | GetFormat::Yaml => {
                let value = match (name, selected.as_slice()) {
                    (Some(_), [one]) => one.to_json(),
                    _ => json!({
                        "apiVersion": "v1",
                        "kind": "List",
                        "items": selected.iter().map(|o| o.to_json()).collect::<Vec<_>>(),
                    }),
                };
                if format == GetFormat::Json {
                    format!("{}\n", serde_json::to_string_pretty(&value).unwrap_or_default())
                } else {
                    serde_saphyr::to_string(&value).unwrap_or_default()
                }
            }
        })
    }

    fn table(&self, kind: Kind, objects: &[&AnyObject], wide: bool) -> String {
        let mut head: Vec<String> = Vec::new();
        if kind.namespaced() {
            head.push("NAMESPACE".into());
        }
        head.extend(["NAME", "READY", "REASON"].map(String::from));
        if wide {
            head.extend(wide_columns(kind).iter().map(|c| c.to_string()));
        }
        head.push("MESSAGE".into());
        let mut lines = vec![head];
        for o in objects {
            let r = o.object_ref();
            let mut conditions = o.conditions().to_vec();
            if let Some(msg) = self.rejections.get(&r) {
                view::reject(&mut conditions, msg, o.meta().generation);
            }
            let ready = find_condition(&conditions, READY);
            let mut line = Vec::new();
            if kind.namespaced() {
                line.push(r.namespace.clone());
            }
            line.push(one_line(&r.name));
            line.push(ready.map_or("Unknown".into(), |c| c.status.as_str().to_string()));
            line.push(ready.map_or(String::new(), |c| one_line(&c.reason)));
            if wide {
                line.extend(self.wide_values(o).into_iter().map(|v| one_line(&v)));
            }
            line.push(ready.map_or(String::new(), |c| one_line(&c.message)));
            lines.push(line);
        }
        if objects.is_empty() {
            return format!("no {} in the state\n", kind.plural());
        }
        view::columns(&lines, "")
    }

    fn wide_values(&self, o: &AnyObject) -> Vec<String> {
        match o {
            AnyObject::Destination(d) => {
                let store = d.spec.state_store_ref.as_ref().map_or(String::new(), |s| format!("{}/{}", s.kind, s.name));
                let labels: Vec<String> = d.metadata.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                vec![store, d.path().to_string(), d.spec.filepath.mode.as_str().into(), labels.join(",")]
            }
            AnyObject::Work(w) => {
                let placements = self.placements_of(w).len();
                vec![w.spec.promise_name.clone(), w.spec.resource_name.clone(), placements.to_string()]
            }
            AnyObject::WorkPlacement(p) => {
                let work = p.metadata.labels.get(WORK_LABEL).cloned().unwrap_or_default();
                vec![work, p.spec.target_destination_name.clone(), p.spec.workloads.len().to_string()]
            }
            AnyObject::GitStateStore(g) => vec![g.spec.url.clone(), g.spec.branch.clone(), g.spec.path.clone()],
            AnyObject::BucketStateStore(b) => {
                vec![b.spec.endpoint.clone(), b.spec.bucket_name.clone(), b.spec.path.clone()]
            }
            AnyObject::Secret(_) => Vec::new(),
        }
    }
}

fn wide_columns(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Destination => &["STATE STORE", "PATH", "MODE", "LABELS"],
        Kind::Work => &["PROMISE", "RESOURCE", "PLACEMENTS"],
        Kind::WorkPlacement => &["WORK", "DESTINATION", "FILES"],
        Kind::GitStateStore => &["URL", "BRANCH", "PATH"],
        Kind::BucketStateStore => &["ENDPOINT", "BUCKET", "PATH"],
        Kind::Secret => &[],
    }
}

fn group(kind: Kind) -> &'static str {
    match kind {
        Kind::Secret => "",
        _ => waybill_core::kind::KRATIX_GROUP,
    }
}
