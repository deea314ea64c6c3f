//! Condition types, reasons and messages: Kratix's exact strings (compatibility C9 to C13), plus Waybill's
//! own reasons for what Kratix does not report (compatibility D3, D9, D10, D17, D19, D28).

pub const READY: &str = "Ready";
pub const SCHEDULE_SUCCEEDED: &str = "ScheduleSucceeded";
pub const WRITE_SUCCEEDED: &str = "WriteSucceeded";

/// Destination reasons and messages (compatibility C9).
pub mod destination {
    pub const NOT_READY: &str = "DestinationNotReady";
    pub const NOT_READY_MSG: &str = "Destination is not ready";
    pub const FINALIZER_UPDATE_FAILED: &str = "DestinationFinalizerUpdateFailed";
    pub const STATE_STORE_NOT_FOUND: &str = "StateStoreNotFound";
    pub const STATE_STORE_NOT_READY: &str = "StateStoreNotReady";
    pub const STATE_STORE_UNREACHABLE: &str = "StateStoreUnreachable";
    pub const STATE_STORE_WRITE_FAILED: &str = "StateStoreWriteFailed";
    pub const WRITE_FAILED_PREFIX: &str = "Failed to write test documents to State Store: ";
    pub const TEST_DOCUMENTS_WRITTEN: &str = "TestDocumentsWritten";
    pub const TEST_DOCUMENTS_WRITTEN_MSG: &str = "Test documents written to State Store";
    pub const READY: &str = "DestinationReady";
    pub const READY_MSG: &str = "Destination is ready";
    pub const READY_EVENT_MSG: &str = "Destination is Ready";
    pub const DELETING: &str = "Deleting";
}

/// State store reasons and messages (compatibility C13).
pub mod store {
    pub const READY: &str = "StateStoreReady";
    pub const READY_MSG: &str = "State store is ready";
    pub const SECRET_NOT_FOUND: &str = "SecretNotFound";
    pub const ERROR: &str = "StateStoreError";
    pub const ERROR_INITIALISING_WRITER: &str = "ErrorInitialisingWriter";
    pub const ERROR_VALIDATING_PERMISSIONS: &str = "ErrorValidatingPermissions";
    pub const VALIDATING_PREFIX: &str = "Error validating state store permissions: ";
    pub const UNREACHABLE: &str = "StateStoreUnreachable";
    pub const BUCKET_NOT_FOUND: &str = "BucketNotFound";
    pub const REPOSITORY_NOT_FOUND: &str = "RepositoryNotFound";
    pub const STATUS_READY: &str = "Ready";
    pub const STATUS_NOT_READY: &str = "NotReady";
}

/// Work reasons and messages (compatibility C11). The Ready messages are a contract.
pub mod work {
    pub const ALL_SCHEDULED: &str = "AllWorkplacementsScheduled";
    pub const ALL_SCHEDULED_MSG: &str = "All workplacements scheduled successfully";
    pub const UNSCHEDULED: &str = "UnscheduledWorkloads";
    pub const MISPLACED_REASON: &str = "DestinationSelectorMismatch";
    pub const MISPLACED_READY_REASON: &str = "Misplaced";
    pub const FAILING: &str = "WorkplacementsFailing";
    pub const FAILED_TO_SCHEDULE: &str = "FailedToScheduleWorkloads";
    pub const MSG_READY: &str = "Ready";
    pub const MSG_PENDING: &str = "Pending";
    pub const MSG_MISPLACED: &str = "Misplaced";
    pub const MSG_FAILING: &str = "Failing";
}

/// WorkPlacement reasons and messages (compatibility C12), plus Waybill's path and content reasons.
pub mod placement {
    pub const SCHEDULED: &str = "ScheduledToDestination";
    pub const SCHEDULED_MSG: &str = "Scheduled to correct Destination";
    pub const MISPLACED_REASON: &str = "DestinationSelectorMismatch";
    pub const MISPLACED_MSG: &str = "Target destination no longer matches destinationSelectors";
    pub const MISPLACED: &str = "Misplaced";
    pub const WRITTEN: &str = "WorkloadsWrittenToStateStore";
    pub const WRITTEN_MSG: &str = "Workloads written to State Store";
    pub const WRITTEN_TO_TARGET: &str = "WorkloadsWrittenToTargetDestination";
    pub const FAILED_WRITE: &str = "WorkloadsFailedWrite";
    pub const INVALID_PATH: &str = "InvalidWorkloadPath";
    pub const INVALID_CONTENT: &str = "InvalidWorkloadContent";
    /// Another placement already writes one of this placement's paths (`docs/hostile-inputs.md`).
    pub const PATH_CONFLICT: &str = "PathConflict";
    pub const MSG_READY: &str = "Ready";
    pub const MSG_PENDING: &str = "Pending";
    pub const MSG_FAILING: &str = "Failing";
}

/// Reason Waybill gives an object whose manifest was refused (the embedded control plane's admission).
pub const INVALID_MANIFEST: &str = "InvalidManifest";
