//! Work reconciler (compatibility C10, C11): schedule workload groups onto Destinations, keep placements
//! in line, delete stale ones, and compute the Work's status once from everything seen (compatibility D11).

use waybill_core::api::{Destination, Resource, Work, WorkPlacement, WorkStatus};
use waybill_core::conditions::{READY, SCHEDULE_SUCCEEDED, WRITE_SUCCEEDED, work as w};
use waybill_core::labels::{REPO_CLEANUP_FINALIZER, WORK_CLEANUP_FINALIZER, WORK_LABEL};
use waybill_core::meta::{Condition, ConditionStatus, find_condition, set_condition};
use waybill_core::scheduling::{self, GroupOutcome, Operation, Plan, PlannedPlacement};
use waybill_core::status;

use crate::action::{Action, SLOW_REQUEUE};
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::port::{ControlPlane, CpError, Event};

impl<C: ControlPlane> Engine<C> {
    pub(crate) async fn reconcile_work(&self, namespace: &str, name: &str) -> Result<Action> {
        let Some(work) = self.cp.get::<Work>(namespace, name).await? else {
            return Ok(Action::done());
        };
        let about = work.object_ref();
        if work.metadata.is_deleting() {
            return self.delete_work(&work).await;
        }
        let work = if work.metadata.has_finalizer(WORK_CLEANUP_FINALIZER) {
            work
        } else {
            match self.modify::<Work>(namespace, name, |o| o.metadata.add_finalizer(WORK_CLEANUP_FINALIZER)).await? {
                Some(w) => w,
                None => return Ok(Action::done()),
            }
        };

        let (plan, placements) = match self.schedule(&work).await {
            Ok(done) => done,
            Err(e) => {
                self.report_scheduling_error(&work, &e).await;
                return Err(e);
            }
        };

        let failing: Vec<String> = placements
            .iter()
            .filter(|p| {
                find_condition(p.conditions(), WRITE_SUCCEEDED).is_some_and(|c| c.status == ConditionStatus::False)
            })
            .map(|p| p.metadata.name.clone())
            .collect();
        let generation = work.metadata.generation;
        let conditions = status::work_conditions(&plan, &failing, generation);
        let (placements_total, placements_created) = status::work_counters(&plan);
        let (_, changed) = self
            .modify_status::<Work>(namespace, name, |o, now| {
                let st = o.status.get_or_insert_with(WorkStatus::default);
                let mut changed = false;
                for c in conditions.clone() {
                    changed |= set_condition(&mut st.conditions, c, now);
                }
                if (st.work_placements, st.work_placements_created, st.observed_generation)
                    != (placements_total, placements_created, generation)
                {
                    st.work_placements = placements_total;
                    st.work_placements_created = placements_created;
                    st.observed_generation = generation;
                    changed = true;
                }
                changed
            })
            .await?;

        let unscheduled = plan.ids_with(GroupOutcome::Unscheduled);
        if changed {
            let schedule = &conditions[0];
            debug_assert_eq!(schedule.type_, SCHEDULE_SUCCEEDED);
            let event = match schedule.reason.as_str() {
                w::ALL_SCHEDULED => Some(Event::normal(w::ALL_SCHEDULED, w::ALL_SCHEDULED_MSG)),
                // Kratix's message carries a trailing space; kept for anyone matching it.
                w::MISPLACED_REASON => Some(Event::warning(w::MISPLACED_REASON, format!("{} ", schedule.message))),
                w::FAILING => Some(Event::warning(w::FAILING, schedule.message.clone())),
                _ => None,
            };
            if let Some(event) = event {
                self.event(&about, event).await;
            }
            for id in &unscheduled {
                self.event(
                    &about,
                    Event::normal(
                        "NoMatchingDestination",
                        format!("waiting for a destination with labels for workloadGroup: {id}"),
                    ),
                )
                .await;
            }
            if work.is_resource_request() && !unscheduled.is_empty() {
                let msg = format!("waiting for destination for workload group: [{}]", unscheduled.join(","));
                self.event(&about, Event::normal("WaitingDestination", msg)).await;
            }
        }
        if work.is_resource_request() && !unscheduled.is_empty() {
            return Ok(Action::requeue(SLOW_REQUEUE));
        }
        Ok(Action::done())
    }

    /// Schedules every group and brings the placements in line; returns the plan and the placements as
    /// stored.
    async fn schedule(&self, work: &Work) -> Result<(Plan, Vec<WorkPlacement>)> {
        let (namespace, name) = (work.metadata.ns(), work.metadata.name.as_str());
        if let Some(invalid) = scheduling::invalid_selector(work) {
            return Err(crate::error::EngineError::Scheduling(invalid));
        }
        let destinations = self.cp.list_all::<Destination>().await?;
        let existing = self.cp.list::<WorkPlacement>(Some(namespace), &[(WORK_LABEL, name)]).await?;
        let plan = scheduling::plan(work, &destinations, &existing);
        let (promise, resource) = (work.spec.promise_name.as_str(), work.spec.resource_name.as_str());
        for planned in &plan.placements {
            let result = if planned.misplaced { "misplaced" } else { "scheduled" };
            let target = planned.placement.spec.target_destination_name.as_str();
            self.metrics.outcome(result, promise, resource, namespace, target);
        }
        for _ in plan.ids_with(scheduling::GroupOutcome::Unscheduled) {
            self.metrics.outcome("unscheduled", promise, resource, namespace, "");
        }
        let mut placements: Vec<WorkPlacement> = Vec::with_capacity(plan.placements.len());
        for planned in &plan.placements {
            if let Some(stored) = self.apply_planned(work, planned).await? {
                placements.push(stored);
            }
        }
        for stale in &plan.stale {
            match self.cp.delete::<WorkPlacement>(namespace, stale).await {
                Ok(()) | Err(CpError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok((plan, placements))
    }

    /// A scheduling error is reported on the Work (Kratix swallows it: compatibility D11) before the
    /// runner retries.
    async fn report_scheduling_error(&self, work: &Work, error: &EngineError) {
        let ids: Vec<String> = work.spec.workload_groups.iter().map(|g| g.effective_id()).collect();
        let message = format!("Failed to schedule or update for workloadGroups: [{}]", ids.join(","));
        let generation = work.metadata.generation;
        let f = ConditionStatus::False;
        let result = self
            .modify_status::<Work>(work.metadata.ns(), &work.metadata.name, |o, now| {
                let st = o.status.get_or_insert_with(WorkStatus::default);
                let a = set_condition(
                    &mut st.conditions,
                    Condition::new(SCHEDULE_SUCCEEDED, f, w::FAILED_TO_SCHEDULE, message.clone())
                        .with_generation(generation),
                    now,
                );
                let b = set_condition(
                    &mut st.conditions,
                    Condition::new(READY, f, w::FAILED_TO_SCHEDULE, w::MSG_PENDING).with_generation(generation),
                    now,
                );
                a || b
            })
            .await;
        if let Ok((_, true)) = result {
            self.event(&work.object_ref(), Event::warning(w::FAILED_TO_SCHEDULE, format!("{message}: {error}"))).await;
        }
    }

    /// Creates or updates one planned placement and its scheduling status; returns it as stored.
    async fn apply_planned(&self, work: &Work, planned: &PlannedPlacement) -> Result<Option<WorkPlacement>> {
        let desired = &planned.placement;
        let (ns, name) = (desired.metadata.ns().to_string(), desired.metadata.name.clone());
        let stored = match planned.operation {
            Operation::Created => match self.cp.create(desired.clone()).await {
                Ok(p) => Some(p),
                Err(CpError::AlreadyExists(_)) => self.cp.get::<WorkPlacement>(&ns, &name).await?,
                Err(e) => return Err(e.into()),
            },
            Operation::Updated => {
                self.modify::<WorkPlacement>(&ns, &name, |p| {
                    if p.metadata.is_deleting() {
                        return false;
                    }
                    let before = (p.metadata.clone(), p.spec.clone());
                    p.metadata.labels = desired.metadata.labels.clone();
                    p.metadata.annotations = desired.metadata.annotations.clone();
                    p.metadata.owner_references = desired.metadata.owner_references.clone();
                    p.metadata.add_finalizer(REPO_CLEANUP_FINALIZER);
                    p.spec = desired.spec.clone();
                    before != (p.metadata.clone(), p.spec.clone())
                })
                .await?
            }
            Operation::Unchanged => Some(desired.clone()),
        };
        let Some(stored) = stored else {
            return Ok(None);
        };
        if planned.operation != Operation::Unchanged {
            let msg = format!("workplacement reconciled: {name}, operation: {}", planned.operation.as_str());
            self.event(&work.object_ref(), Event::normal("WorkplacementReconciled", msg)).await;
        }
        let generation = stored.metadata.generation;
        let misplaced = planned.misplaced;
        let (after, changed) = self
            .modify_status::<WorkPlacement>(&ns, &name, |p, now| {
                let st = p.status.get_or_insert_with(Default::default);
                let mut changed = status::set_placement_scheduled(&mut st.conditions, misplaced, generation, now);
                if st.observed_generation != generation {
                    st.observed_generation = generation;
                    changed = true;
                }
                changed
            })
            .await?;
        if changed && misplaced {
            let msg = format!(
                "labels for destination: {} no longer match the expected labels, marking this workplacement as misplaced",
                stored.spec.target_destination_name
            );
            self.event(&stored.object_ref(), Event::warning("DestinationSelectorMismatch", msg)).await;
        }
        if changed && misplaced && planned.target_gone {
            // Kratix's conditions only speak of selectors; say plainly why, and what moves the Work.
            let msg = format!(
                "Destination {:?} no longer exists; WorkPlacement {ns}/{name} stays misplaced until it is deleted, \
                 which lets the Work be scheduled again (README: Misplaced Works)",
                stored.spec.target_destination_name
            );
            self.event(&stored.object_ref(), Event::warning("DestinationNotFound", msg.clone())).await;
            self.event(&work.object_ref(), Event::warning("DestinationNotFound", msg)).await;
        }
        Ok(after.or(Some(stored)))
    }

    /// Work deletion (compatibility C11, D25): delete its placements, then let the Work go. Each placement's own
    /// finalizer removes its files.
    async fn delete_work(&self, work: &Work) -> Result<Action> {
        let (ns, name) = (work.metadata.ns(), work.metadata.name.as_str());
        let about = work.object_ref();
        let placements = self.cp.list::<WorkPlacement>(Some(ns), &[(WORK_LABEL, name)]).await?;
        let mut errors = Vec::new();
        for p in placements.iter().filter(|p| !p.metadata.is_deleting()) {
            match self.cp.delete::<WorkPlacement>(ns, &p.metadata.name).await {
                Ok(()) | Err(CpError::NotFound(_)) => {}
                Err(e) => {
                    self.event(
                        &about,
                        Event::warning("FailedDelete", format!("deleting associated workplacement failed: {e}")),
                    )
                    .await;
                    errors.push(e.to_string());
                }
            }
        }
        if !errors.is_empty() {
            return Err(EngineError::DeletePlacements(errors.join(",")));
        }
        self.modify::<Work>(ns, name, |o| o.metadata.remove_finalizer(WORK_CLEANUP_FINALIZER)).await?;
        Ok(Action::done())
    }
}
