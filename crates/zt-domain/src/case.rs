//! The case state machine. This module alone decides whether an action is
//! allowed: every (state, action, role) either yields the next state and what
//! happens to the statutory clock, or a refusal with a stable code.

use serde::{Deserialize, Serialize};

use crate::error::DomainError;
use crate::item::{SignMode, StepDef};
use crate::role::Role;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum CaseStatus {
    Draft,
    Submitted,
    SupplementRequested,
    RejectedAtIntake,
    InReview,
    Suspended,
    Approved,
    Denied,
    Completed,
    Withdrawn,
    /// V1's 已删除 (status 99): deleted by a V1 administrator. Reached by
    /// migration only; no V2 action leads here or out of here.
    Deleted,
}

impl CaseStatus {
    pub const ALL: [CaseStatus; 11] = [
        Self::Draft,
        Self::Submitted,
        Self::SupplementRequested,
        Self::RejectedAtIntake,
        Self::InReview,
        Self::Suspended,
        Self::Approved,
        Self::Denied,
        Self::Completed,
        Self::Withdrawn,
        Self::Deleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Submitted => "submitted",
            Self::SupplementRequested => "supplement_requested",
            Self::RejectedAtIntake => "rejected_at_intake",
            Self::InReview => "in_review",
            Self::Suspended => "suspended",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Completed => "completed",
            Self::Withdrawn => "withdrawn",
            Self::Deleted => "deleted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Draft => "草稿",
            Self::Submitted => "已提交，待受理",
            Self::SupplementRequested => "待补正",
            Self::RejectedAtIntake => "不予受理",
            Self::InReview => "审查中",
            Self::Suspended => "特别程序中",
            Self::Approved => "准予许可",
            Self::Denied => "不予许可",
            Self::Completed => "已办结",
            Self::Withdrawn => "已撤回",
            Self::Deleted => "已删除",
        }
    }

    pub fn label_of(s: &str) -> &'static str {
        Self::parse(s).map(Self::label_zh).unwrap_or("未知")
    }

    /// No action can follow.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::RejectedAtIntake | Self::Completed | Self::Withdrawn | Self::Deleted
        )
    }

    /// The statutory clock runs (the case counts for warnings).
    pub fn clock_running(self) -> bool {
        matches!(self, Self::InReview)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Action {
    Submit,
    Accept,
    RejectIntake,
    RequestSupplement,
    Resubmit,
    ApproveStep,
    Deny,
    Complete,
    Withdraw,
    Suspend,
    Resume,
}

impl Action {
    pub const ALL: [Action; 11] = [
        Self::Submit,
        Self::Accept,
        Self::RejectIntake,
        Self::RequestSupplement,
        Self::Resubmit,
        Self::ApproveStep,
        Self::Deny,
        Self::Complete,
        Self::Withdraw,
        Self::Suspend,
        Self::Resume,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submit => "submit",
            Self::Accept => "accept",
            Self::RejectIntake => "reject_intake",
            Self::RequestSupplement => "request_supplement",
            Self::Resubmit => "resubmit",
            Self::ApproveStep => "approve_step",
            Self::Deny => "deny",
            Self::Complete => "complete",
            Self::Withdraw => "withdraw",
            Self::Suspend => "suspend",
            Self::Resume => "resume",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Submit => "提交申请",
            Self::Accept => "受理",
            Self::RejectIntake => "不予受理",
            Self::RequestSupplement => "补正告知",
            Self::Resubmit => "补正后重新提交",
            Self::ApproveStep => "审批通过",
            Self::Deny => "不予许可",
            Self::Complete => "办结",
            Self::Withdraw => "撤回申请",
            Self::Suspend => "进入特别程序",
            Self::Resume => "恢复办理",
        }
    }

    pub fn label_of(s: &str) -> &'static str {
        Self::parse(s).map(Self::label_zh).unwrap_or("未知操作")
    }

    /// Actions an applicant takes on their own case.
    pub fn is_applicant_action(self) -> bool {
        matches!(self, Self::Submit | Self::Resubmit | Self::Withdraw)
    }
}

/// 特别程序: time spent in them does not count toward the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Procedure {
    /// 听证
    Hearing,
    /// 鉴定 (检验、检测、检疫)
    Appraisal,
    /// 专家评审
    ExpertReview,
    /// 公示
    Publicity,
}

impl Procedure {
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Hearing => "听证",
            Self::Appraisal => "检验检测鉴定",
            Self::ExpertReview => "专家评审",
            Self::Publicity => "公示",
        }
    }
}

/// One signature in the current step (会签 collects several).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    pub user_id: i64,
    pub role: Role,
}

/// What the state machine needs to know about a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseState {
    pub status: CaseStatus,
    /// Accepted (受理) at some point: decides where a resubmission returns.
    pub accepted: bool,
    /// Index into the item's steps while in review.
    pub step: usize,
    /// Signatures collected in the current step.
    pub signatures: Vec<Signature>,
}

impl CaseState {
    pub fn new_draft() -> Self {
        Self {
            status: CaseStatus::Draft,
            accepted: false,
            step: 0,
            signatures: Vec::new(),
        }
    }
}

/// Who acts, and in which role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    pub user_id: i64,
    pub role: Role,
}

/// What accompanies an action.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionInput {
    pub opinion: Option<String>,
    /// Everything the applicant must correct (一次性告知).
    pub supplement_items: Vec<String>,
    pub procedure: Option<Procedure>,
}

/// What happens to the statutory clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockEffect {
    None,
    /// 受理: counting starts on the next working day.
    Start,
    Pause,
    Resume,
    /// Decided or withdrawn: no more warnings.
    Stop,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub state: CaseState,
    pub clock: ClockEffect,
    /// The step that was completed by this action, if any.
    pub step_completed: Option<usize>,
}

fn invalid(status: CaseStatus, action: Action) -> DomainError {
    DomainError::InvalidTransition {
        status: status.as_str(),
        action: action.as_str(),
    }
}

fn role_refused(action: Action) -> DomainError {
    DomainError::RoleNotAllowed {
        action: action.as_str(),
    }
}

fn has_opinion(input: &ActionInput) -> bool {
    input
        .opinion
        .as_deref()
        .is_some_and(|o| !o.trim().is_empty())
}

/// Applies `action` by `actor` to a case in `state`, filed under an item with
/// `steps`. Pure: the caller persists the outcome.
///
/// Checks come in a fixed order: the action must exist in the current state
/// (409 `CASE_INVALID_TRANSITION`), then the role must be allowed (403
/// `CASE_ROLE_NOT_ALLOWED`), then the input must be complete (422).
pub fn apply(
    state: &CaseState,
    steps: &[StepDef],
    action: Action,
    actor: Actor,
    input: &ActionInput,
) -> Result<Outcome, DomainError> {
    use Action as A;
    use CaseStatus as S;

    let current_step = steps.get(state.step);
    let step_roles: &[Role] = current_step.map(|s| s.roles.as_slice()).unwrap_or(&[]);
    let in_step = step_roles.contains(&actor.role);

    let next = |status: S| CaseState {
        status,
        ..state.clone()
    };
    let done = |st: CaseState, clock: ClockEffect| {
        Ok(Outcome {
            state: st,
            clock,
            step_completed: None,
        })
    };

    match (state.status, action) {
        (S::Draft, A::Submit) => {
            require_role(action, actor, &[Role::Applicant])?;
            done(next(S::Submitted), ClockEffect::None)
        }
        (S::Submitted, A::Accept) => {
            require_role(action, actor, &[Role::Clerk])?;
            let st = CaseState {
                status: S::InReview,
                accepted: true,
                step: 0,
                signatures: Vec::new(),
            };
            done(st, ClockEffect::Start)
        }
        (S::Submitted, A::RejectIntake) => {
            require_role(action, actor, &[Role::Clerk])?;
            require_opinion(input)?;
            done(next(S::RejectedAtIntake), ClockEffect::None)
        }
        (S::Submitted, A::RequestSupplement) => {
            require_role(action, actor, &[Role::Clerk])?;
            require_supplement(input)?;
            done(next(S::SupplementRequested), ClockEffect::None)
        }
        (S::InReview, A::RequestSupplement) => {
            if !in_step {
                return Err(role_refused(action));
            }
            require_supplement(input)?;
            done(next(S::SupplementRequested), ClockEffect::Pause)
        }
        (S::SupplementRequested, A::Resubmit) => {
            require_role(action, actor, &[Role::Applicant])?;
            if state.accepted {
                done(next(S::InReview), ClockEffect::Resume)
            } else {
                done(next(S::Submitted), ClockEffect::None)
            }
        }
        (S::InReview, A::ApproveStep) => {
            let step = current_step.ok_or_else(|| invalid(state.status, action))?;
            if !in_step {
                return Err(role_refused(action));
            }
            require_opinion(input)?;
            if state
                .signatures
                .iter()
                .any(|s| s.user_id == actor.user_id || s.role == actor.role)
            {
                return Err(DomainError::AlreadySigned);
            }
            let mut signatures = state.signatures.clone();
            signatures.push(Signature {
                user_id: actor.user_id,
                role: actor.role,
            });
            let step_done = match step.mode {
                SignMode::Any => true,
                SignMode::All => step
                    .roles
                    .iter()
                    .all(|r| signatures.iter().any(|s| s.role == *r)),
            };
            if !step_done {
                return done(
                    CaseState {
                        signatures,
                        ..state.clone()
                    },
                    ClockEffect::None,
                );
            }
            let completed = Some(state.step);
            if state.step + 1 < steps.len() {
                let st = CaseState {
                    step: state.step + 1,
                    signatures: Vec::new(),
                    ..state.clone()
                };
                Ok(Outcome {
                    state: st,
                    clock: ClockEffect::None,
                    step_completed: completed,
                })
            } else {
                let st = CaseState {
                    status: S::Approved,
                    signatures,
                    ..state.clone()
                };
                Ok(Outcome {
                    state: st,
                    clock: ClockEffect::Stop,
                    step_completed: completed,
                })
            }
        }
        (S::InReview, A::Deny) => {
            if !in_step {
                return Err(role_refused(action));
            }
            require_opinion(input)?;
            done(next(S::Denied), ClockEffect::Stop)
        }
        (S::InReview, A::Suspend) => {
            if !in_step {
                return Err(role_refused(action));
            }
            if input.procedure.is_none() {
                return Err(DomainError::ProcedureRequired);
            }
            require_opinion(input)?;
            done(next(S::Suspended), ClockEffect::Pause)
        }
        (S::Suspended, A::Resume) => {
            if !in_step {
                return Err(role_refused(action));
            }
            done(next(S::InReview), ClockEffect::Resume)
        }
        (S::Approved | S::Denied, A::Complete) => {
            require_role(action, actor, &[Role::Clerk, Role::Approver])?;
            done(next(S::Completed), ClockEffect::None)
        }
        (
            S::Draft | S::Submitted | S::SupplementRequested | S::InReview | S::Suspended,
            A::Withdraw,
        ) => {
            require_role(action, actor, &[Role::Applicant])?;
            let clock = if state.accepted {
                ClockEffect::Stop
            } else {
                ClockEffect::None
            };
            done(next(S::Withdrawn), clock)
        }
        (status, action) => Err(invalid(status, action)),
    }
}

fn require_role(action: Action, actor: Actor, allowed: &[Role]) -> Result<(), DomainError> {
    if allowed.contains(&actor.role) {
        Ok(())
    } else {
        Err(role_refused(action))
    }
}

fn require_opinion(input: &ActionInput) -> Result<(), DomainError> {
    if has_opinion(input) {
        Ok(())
    } else {
        Err(DomainError::OpinionRequired)
    }
}

fn require_supplement(input: &ActionInput) -> Result<(), DomainError> {
    if input.supplement_items.iter().all(|s| s.trim().is_empty()) {
        return Err(DomainError::SupplementListRequired);
    }
    require_opinion(input)
}

/// The actions a role could take on a case in this state (for the UI's buttons).
pub fn available_actions(state: &CaseState, steps: &[StepDef], actor: Actor) -> Vec<Action> {
    let full = ActionInput {
        opinion: Some("-".into()),
        supplement_items: vec!["-".into()],
        procedure: Some(Procedure::Hearing),
    };
    Action::ALL
        .into_iter()
        .filter(|a| apply(state, steps, *a, actor, &full).is_ok())
        .collect()
}
