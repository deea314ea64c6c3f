//! The store paths a placement owns, as its reconciler writes them (compatibility C5 to C7): what
//! `waybill tree` and `waybill describe` show, so a user can tell which files belong to which Work
//! without reading the repository.

use crate::api::{Destination, FilepathMode, WorkPlacement};
use crate::labels::PIPELINE_NAME_LABEL;
use crate::layout::{self, PathProblem, StorePath};

/// The files `placement` owns on `destination`, relative to the store's root (prefix them with the
/// store's own path for the repository path). In `aggregatedYAML` mode the one aggregate file is shared
/// by every placement of the Destination.
pub fn owned_paths(destination: &Destination, placement: &WorkPlacement) -> Result<Vec<StorePath>, PathProblem> {
    let dir = StorePath::for_destination(destination)?;
    match destination.spec.filepath.mode {
        FilepathMode::NestedByMetadata => {
            let pipeline = placement.metadata.labels.get(PIPELINE_NAME_LABEL).map(String::as_str).unwrap_or("");
            let pdir = layout::placement_dir(&dir, placement, pipeline)?;
            placement.spec.workloads.iter().map(|w| pdir.join_file(&w.filepath)).collect()
        }
        FilepathMode::None => {
            let mut out: Vec<StorePath> =
                placement.spec.workloads.iter().map(|w| dir.join_file(&w.filepath)).collect::<Result<_, _>>()?;
            out.push(layout::state_file_path(&dir, placement)?);
            Ok(out)
        }
        FilepathMode::AggregatedYaml => Ok(vec![layout::aggregate_path(destination, &dir)?]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{DestinationSpec, FilepathSpec, WorkPlacementSpec, Workload};

    fn destination(path: &str, mode: FilepathMode, filename: &str) -> Destination {
        Destination::new(
            "d",
            DestinationSpec {
                path: Some(path.into()),
                filepath: FilepathSpec { mode, filename: filename.into() },
                ..Default::default()
            },
        )
    }

    fn placement(resource: &str) -> WorkPlacement {
        let mut p = WorkPlacement::new(
            "default",
            "wp",
            WorkPlacementSpec {
                target_destination_name: "d".into(),
                promise_name: "redis".into(),
                resource_name: resource.into(),
                id: "5058f1af8388633f609cadb75a75dc9d".into(),
                workloads: vec![
                    Workload { filepath: "redis.yaml".into(), content: "".into() },
                    Workload { filepath: "sub/x.yaml".into(), content: "".into() },
                ],
                ..Default::default()
            },
        );
        p.metadata.labels.insert(PIPELINE_NAME_LABEL.into(), "instance-configure".into());
        p
    }

    #[test]
    fn each_layout_names_the_files_its_placements_own() {
        for (dest, resource, want) in [
            (
                destination("worker-1", FilepathMode::NestedByMetadata, ""),
                "my-redis",
                vec![
                    "worker-1/resources/default/redis/my-redis/instance-configure/5058f/redis.yaml",
                    "worker-1/resources/default/redis/my-redis/instance-configure/5058f/sub/x.yaml",
                ],
            ),
            (
                destination("worker-1", FilepathMode::NestedByMetadata, ""),
                "",
                vec![
                    "worker-1/dependencies/redis/instance-configure/5058f/redis.yaml",
                    "worker-1/dependencies/redis/instance-configure/5058f/sub/x.yaml",
                ],
            ),
            (
                destination("/flat", FilepathMode::None, ""),
                "my-redis",
                vec!["flat/redis.yaml", "flat/sub/x.yaml", "flat/.kratix/default-wp.yaml"],
            ),
            (destination(".", FilepathMode::AggregatedYaml, "all.yaml"), "my-redis", vec!["all.yaml"]),
        ] {
            let got = owned_paths(&dest, &placement(resource)).unwrap();
            let got: Vec<&str> = got.iter().map(StorePath::as_str).collect();
            assert_eq!(got, want, "{:?}", dest.spec);
        }
    }

    #[test]
    fn an_escaping_filepath_is_an_error_not_a_path() {
        let mut p = placement("r");
        p.spec.workloads[0].filepath = "../../x.yaml".into();
        assert!(owned_paths(&destination("d", FilepathMode::NestedByMetadata, ""), &p).is_err());
    }
}
