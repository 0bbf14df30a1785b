//! Refusals of the deployment engine: each one sentence saying what was refused and the next
//! step (with the exact command), and a stable `code()` for the UI and `--json`.

/// Why a deployment operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeployError {
    #[error("no deployment {0}: `patchdesk deploy list` shows them")]
    UnknownDeployment(i64),
    #[error(
        "no group or host named {0:?}: `patchdesk host list` shows the hosts and their groups"
    )]
    UnknownScope(String),
    #[error("deployment {id} is not at a gate ({waiting}): nothing to decide yet")]
    NotAtGate { id: i64, waiting: String },
    #[error("the {stage} gate of deployment {id} is no-go ({reasons}): a plain go is refused. Decide no-go (`patchdesk deploy no-go {id}`), or override it with a written reason (`patchdesk deploy go {id} --override-no-go --reason \"…\"`)")]
    NoGoGate {
        id: i64,
        stage: String,
        reasons: String,
    },
    #[error("{what} needs a written reason (--reason \"…\"); nothing was changed")]
    ReasonMissing { what: String },
    #[error(
        "{host} is not part of deployment {id}: `patchdesk deploy status {id}` lists its hosts"
    )]
    HostNotInDeployment { id: i64, host: String },
    #[error("{host} is {state} in deployment {id}: only a pending, failed or attention host can be excluded; to undo its update, roll it back (`patchdesk deploy rollback {id} --host {host}`)")]
    CannotExclude {
        id: i64,
        host: String,
        state: super::HostState,
    },
    #[error("{host} is already excluded from deployment {id} ({reason})")]
    AlreadyExcluded {
        id: i64,
        host: String,
        reason: String,
    },
    #[error("deployment {id} is {state}: only a plan that never started can be deleted; a started deployment stays in the history (finish it or roll it back)")]
    NotPlanned {
        id: i64,
        state: super::DeploymentState,
    },
    #[error("deployment {id} is being changed by {holder}, until {until} at the latest unless renewed; nothing was done: try again when it has finished, or add --wait to wait for it")]
    Busy {
        id: i64,
        holder: String,
        until: String,
    },
}

impl DeployError {
    pub fn code(&self) -> &'static str {
        match self {
            DeployError::UnknownDeployment(_) => "unknown_deployment",
            DeployError::UnknownScope(_) => "unknown_scope",
            DeployError::NotAtGate { .. } => "not_at_gate",
            DeployError::NoGoGate { .. } => "no_go_gate",
            DeployError::ReasonMissing { .. } => "reason_missing",
            DeployError::HostNotInDeployment { .. } => "host_not_in_deployment",
            DeployError::CannotExclude { .. } => "cannot_exclude",
            DeployError::AlreadyExcluded { .. } => "already_excluded",
            DeployError::Busy { .. } => "deployment_busy",
            DeployError::NotPlanned { .. } => "not_planned",
        }
    }
}
