//! Status decisions: a Work's conditions computed once from everything the reconcile saw
//! (compatibility D11), and a placement's scheduling and write conditions (compatibility C12).

use crate::conditions::{READY, SCHEDULE_SUCCEEDED, WRITE_SUCCEEDED, placement as wp, work as w};
use crate::meta::{Condition, ConditionStatus, find_condition, set_condition};
use crate::scheduling::{GroupOutcome, Plan};

fn bracket(items: &[String]) -> String {
    format!("[{}]", items.join(","))
}

/// A Work's `ScheduleSucceeded` and `Ready` conditions. Precedence: failing placements, then
/// unscheduled groups, then misplaced groups; otherwise everything is scheduled.
pub fn work_conditions(plan: &Plan, failing: &[String], generation: i64) -> [Condition; 2] {
    let unscheduled = plan.ids_with(GroupOutcome::Unscheduled);
    let misplaced = plan.ids_with(GroupOutcome::Misplaced);
    let f = ConditionStatus::False;
    let (schedule, ready) = if !failing.is_empty() {
        let msg = format!("Workplacements failed to write: {}", bracket(failing));
        (Condition::new(SCHEDULE_SUCCEEDED, f, w::FAILING, msg), Condition::new(READY, f, w::FAILING, w::MSG_FAILING))
    } else if !unscheduled.is_empty() {
        let msg = format!("No matching destination found for workloadGroups: {}", bracket(&unscheduled));
        (
            Condition::new(SCHEDULE_SUCCEEDED, f, w::UNSCHEDULED, msg),
            Condition::new(READY, f, w::UNSCHEDULED, w::MSG_PENDING),
        )
    } else if !misplaced.is_empty() {
        let msg = format!(
            "Target destination no longer matches destinationSelectors for workloadGroups: {}",
            bracket(&misplaced)
        );
        (
            Condition::new(SCHEDULE_SUCCEEDED, f, w::MISPLACED_REASON, msg),
            Condition::new(READY, f, w::MISPLACED_READY_REASON, w::MSG_MISPLACED),
        )
    } else {
        let t = ConditionStatus::True;
        (
            Condition::new(SCHEDULE_SUCCEEDED, t, w::ALL_SCHEDULED, w::ALL_SCHEDULED_MSG),
            Condition::new(READY, t, w::ALL_SCHEDULED, w::MSG_READY),
        )
    };
    [schedule.with_generation(generation), ready.with_generation(generation)]
}

/// `status.workPlacements` and `status.workPlacementsCreated`: placements the Work should have
/// (one per scheduled target, plus one per unscheduled group) and placements it has.
pub fn work_counters(plan: &Plan) -> (i64, i64) {
    let created = plan.placements.len() as i64;
    let unscheduled = plan.ids_with(GroupOutcome::Unscheduled).len() as i64;
    (created + unscheduled, created)
}

/// Applies the scheduler's view of a placement (compatibility C12); returns whether anything changed.
/// Unlike Kratix, a placement that matches again and was written goes straight back to Ready
/// (compatibility D22).
pub fn set_placement_scheduled(conditions: &mut Vec<Condition>, misplaced: bool, generation: i64, now: &str) -> bool {
    let f = ConditionStatus::False;
    if misplaced {
        let a = set_condition(
            conditions,
            Condition::new(READY, f, wp::MISPLACED, wp::MISPLACED).with_generation(generation),
            now,
        );
        let b = set_condition(
            conditions,
            Condition::new(SCHEDULE_SUCCEEDED, f, wp::MISPLACED_REASON, wp::MISPLACED_MSG).with_generation(generation),
            now,
        );
        return a || b;
    }
    let scheduled = Condition::new(SCHEDULE_SUCCEEDED, ConditionStatus::True, wp::SCHEDULED, wp::SCHEDULED_MSG)
        .with_generation(generation);
    let changed = set_condition(conditions, scheduled, now);
    let written = find_condition(conditions, WRITE_SUCCEEDED).is_some_and(Condition::is_true);
    let ready = if written {
        Condition::new(READY, ConditionStatus::True, wp::WRITTEN_TO_TARGET, wp::MSG_READY)
    } else {
        match find_condition(conditions, READY) {
            // A write failure keeps its Failing until the next write decides.
            Some(r)
                if [wp::FAILED_WRITE, wp::INVALID_PATH, wp::INVALID_CONTENT, wp::PATH_CONFLICT]
                    .contains(&r.reason.as_str()) =>
            {
                return changed;
            }
            _ => Condition::new(READY, f, wp::SCHEDULED, wp::MSG_PENDING),
        }
    };
    set_condition(conditions, ready.with_generation(generation), now) || changed
}

/// Records a successful write (compatibility C12); Ready only when the placement is not misplaced.
pub fn set_placement_written(conditions: &mut Vec<Condition>, generation: i64, now: &str) -> bool {
    let t = ConditionStatus::True;
    let mut changed = set_condition(
        conditions,
        Condition::new(WRITE_SUCCEEDED, t, wp::WRITTEN, wp::WRITTEN_MSG).with_generation(generation),
        now,
    );
    let misplaced = find_condition(conditions, SCHEDULE_SUCCEEDED).is_some_and(|c| c.status == ConditionStatus::False);
    if !misplaced {
        changed |= set_condition(
            conditions,
            Condition::new(READY, t, wp::WRITTEN_TO_TARGET, wp::MSG_READY).with_generation(generation),
            now,
        );
    }
    changed
}

/// Records a failed write: `WriteSucceeded=False` with `reason` and the error, `Ready=False` with the
/// same reason and message `Failing`.
pub fn set_placement_failed(
    conditions: &mut Vec<Condition>,
    reason: &str,
    error: &str,
    generation: i64,
    now: &str,
) -> bool {
    let f = ConditionStatus::False;
    let a =
        set_condition(conditions, Condition::new(WRITE_SUCCEEDED, f, reason, error).with_generation(generation), now);
    let b =
        set_condition(conditions, Condition::new(READY, f, reason, wp::MSG_FAILING).with_generation(generation), now);
    a || b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(groups: &[(&str, GroupOutcome)]) -> Plan {
        Plan { groups: groups.iter().map(|(id, o)| (id.to_string(), *o)).collect(), ..Default::default() }
    }

    #[test]
    fn work_conditions_follow_the_precedence_table() {
        type Case = (Plan, Vec<String>, (&'static str, &'static str, &'static str));
        let cases: Vec<Case> = vec![
            (
                plan(&[("a", GroupOutcome::Scheduled)]),
                vec![],
                ("AllWorkplacementsScheduled", "All workplacements scheduled successfully", "Ready"),
            ),
            (
                plan(&[("a", GroupOutcome::Unscheduled), ("b", GroupOutcome::Unscheduled)]),
                vec![],
                ("UnscheduledWorkloads", "No matching destination found for workloadGroups: [a,b]", "Pending"),
            ),
            (
                plan(&[("a", GroupOutcome::Misplaced)]),
                vec![],
                (
                    "DestinationSelectorMismatch",
                    "Target destination no longer matches destinationSelectors for workloadGroups: [a]",
                    "Misplaced",
                ),
            ),
            (
                plan(&[("a", GroupOutcome::Misplaced), ("b", GroupOutcome::Unscheduled)]),
                vec![],
                ("UnscheduledWorkloads", "No matching destination found for workloadGroups: [b]", "Pending"),
            ),
            (
                plan(&[("a", GroupOutcome::Scheduled)]),
                vec!["test".into()],
                ("WorkplacementsFailing", "Workplacements failed to write: [test]", "Failing"),
            ),
        ];
        for (p, failing, (reason, message, ready_message)) in cases {
            let [schedule, ready] = work_conditions(&p, &failing, 3);
            assert_eq!((schedule.reason.as_str(), schedule.message.as_str()), (reason, message));
            assert_eq!(ready.message, ready_message);
            assert_eq!(ready.status == ConditionStatus::True, ready_message == "Ready");
            assert_eq!(schedule.observed_generation, 3);
        }
    }

    #[test]
    fn a_new_placement_is_scheduled_and_pending() {
        let mut conds = Vec::new();
        assert!(set_placement_scheduled(&mut conds, false, 1, "t"));
        let summary: Vec<_> =
            conds.iter().map(|c| (c.type_.as_str(), c.status, c.reason.as_str(), c.message.as_str())).collect();
        assert_eq!(
            summary,
            vec![
                (
                    "ScheduleSucceeded",
                    ConditionStatus::True,
                    "ScheduledToDestination",
                    "Scheduled to correct Destination"
                ),
                ("Ready", ConditionStatus::False, "ScheduledToDestination", "Pending"),
            ]
        );
        assert!(!set_placement_scheduled(&mut conds, false, 1, "t"));
    }

    #[test]
    fn a_written_placement_stays_ready_when_rescheduled() {
        let mut conds = Vec::new();
        set_placement_scheduled(&mut conds, false, 1, "t");
        set_placement_written(&mut conds, 1, "t");
        assert!(!set_placement_scheduled(&mut conds, false, 1, "t"));
        assert_eq!(find_condition(&conds, READY).unwrap().message, "Ready");
        assert_eq!(conds.len(), 3);
    }

    #[test]
    fn a_misplaced_placement_stays_misplaced_after_a_write() {
        let mut conds = Vec::new();
        set_placement_scheduled(&mut conds, true, 1, "t");
        set_placement_written(&mut conds, 1, "t");
        assert_eq!(find_condition(&conds, READY).unwrap().message, "Misplaced");
        set_placement_scheduled(&mut conds, false, 1, "t");
        assert_eq!(find_condition(&conds, READY).unwrap().message, "Ready");
    }
}
