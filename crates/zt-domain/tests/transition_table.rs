#![allow(clippy::unwrap_used)] // test code
//! The full transition table: every state × action × role, against a table
//! written out here by hand from the business rules (not derived from the code).

use zt_domain::case::{
    apply, Action, ActionInput, Actor, CaseState, CaseStatus, ClockEffect, Procedure,
};
use zt_domain::item::{SignMode, StepDef};
use zt_domain::role::Role;
use zt_domain::DomainError;

use Action as A;
use CaseStatus as S;
use Role as R;

fn steps() -> Vec<StepDef> {
    vec![
        StepDef {
            key: "review".into(),
            name: "审查".into(),
            roles: vec![R::Reviewer],
            mode: SignMode::Any,
        },
        StepDef {
            key: "decide".into(),
            name: "决定".into(),
            roles: vec![R::Approver],
            mode: SignMode::Any,
        },
    ]
}

fn full_input() -> ActionInput {
    ActionInput {
        opinion: Some("同意".into()),
        supplement_items: vec!["营业执照复印件不清晰".into()],
        procedure: Some(Procedure::ExpertReview),
    }
}

/// (state, action) → (roles allowed, resulting state, clock effect), for a
/// case at its first step (审查, reviewer) that has been accepted when the
/// state implies it.
fn expected(status: S, action: A) -> Option<(&'static [Role], S, ClockEffect)> {
    Some(match (status, action) {
        (S::Draft, A::Submit) => (&[R::Applicant], S::Submitted, ClockEffect::None),
        (S::Draft, A::Withdraw) => (&[R::Applicant], S::Withdrawn, ClockEffect::None),
        (S::Submitted, A::Accept) => (&[R::Clerk], S::InReview, ClockEffect::Start),
        (S::Submitted, A::RejectIntake) => (&[R::Clerk], S::RejectedAtIntake, ClockEffect::None),
        (S::Submitted, A::RequestSupplement) => {
            (&[R::Clerk], S::SupplementRequested, ClockEffect::None)
        }
        (S::Submitted, A::Withdraw) => (&[R::Applicant], S::Withdrawn, ClockEffect::None),
        // Supplement requested during review: the case was accepted.
        (S::SupplementRequested, A::Resubmit) => {
            (&[R::Applicant], S::InReview, ClockEffect::Resume)
        }
        (S::SupplementRequested, A::Withdraw) => (&[R::Applicant], S::Withdrawn, ClockEffect::Stop),
        (S::InReview, A::ApproveStep) => (&[R::Reviewer], S::InReview, ClockEffect::None),
        (S::InReview, A::Deny) => (&[R::Reviewer], S::Denied, ClockEffect::Stop),
        (S::InReview, A::RequestSupplement) => {
            (&[R::Reviewer], S::SupplementRequested, ClockEffect::Pause)
        }
        (S::InReview, A::Suspend) => (&[R::Reviewer], S::Suspended, ClockEffect::Pause),
        (S::InReview, A::Withdraw) => (&[R::Applicant], S::Withdrawn, ClockEffect::Stop),
        (S::Suspended, A::Resume) => (&[R::Reviewer], S::InReview, ClockEffect::Resume),
        (S::Suspended, A::Withdraw) => (&[R::Applicant], S::Withdrawn, ClockEffect::Stop),
        (S::Approved, A::Complete) => (&[R::Clerk, R::Approver], S::Completed, ClockEffect::None),
        (S::Denied, A::Complete) => (&[R::Clerk, R::Approver], S::Completed, ClockEffect::None),
        _ => return None,
    })
}

fn state_for(status: S) -> CaseState {
    let accepted = matches!(
        status,
        S::SupplementRequested
            | S::InReview
            | S::Suspended
            | S::Approved
            | S::Denied
            | S::Completed
    );
    CaseState {
        status,
        accepted,
        step: 0,
        signatures: vec![],
    }
}

#[test]
fn every_state_action_role() {
    let mut checked = 0;
    for status in S::ALL {
        for action in A::ALL {
            for role in R::ALL {
                checked += 1;
                let actor = Actor { user_id: 7, role };
                let got = apply(&state_for(status), &steps(), action, actor, &full_input());
                match expected(status, action) {
                    None => assert_eq!(
                        got,
                        Err(DomainError::InvalidTransition {
                            status: status.as_str(),
                            action: action.as_str()
                        }),
                        "{status:?} {action:?} {role:?} must be an invalid transition"
                    ),
                    Some((roles, to, clock)) if roles.contains(&role) => {
                        let out = got.unwrap_or_else(|e| {
                            panic!("{status:?} {action:?} {role:?} refused: {e:?}")
                        });
                        assert_eq!(out.state.status, to, "{status:?} {action:?} {role:?}");
                        assert_eq!(out.clock, clock, "{status:?} {action:?} {role:?}");
                    }
                    Some(_) => assert_eq!(
                        got,
                        Err(DomainError::RoleNotAllowed {
                            action: action.as_str()
                        }),
                        "{status:?} {action:?} {role:?} must be refused for the role"
                    ),
                }
            }
        }
    }
    assert_eq!(checked, CaseStatus::ALL.len() * 11 * 7);
}

#[test]
fn error_codes_are_stable() {
    let e = apply(
        &state_for(S::Completed),
        &steps(),
        A::Accept,
        Actor {
            user_id: 1,
            role: R::Clerk,
        },
        &full_input(),
    )
    .unwrap_err();
    assert_eq!(e.code(), "CASE_INVALID_TRANSITION");
    assert!(e.message_zh().contains("已办结"));
    let e = apply(
        &state_for(S::Submitted),
        &steps(),
        A::Accept,
        Actor {
            user_id: 1,
            role: R::Reviewer,
        },
        &full_input(),
    )
    .unwrap_err();
    assert_eq!(e.code(), "CASE_ROLE_NOT_ALLOWED");
}

#[test]
fn resubmission_before_acceptance_returns_to_intake() {
    let st = CaseState {
        status: S::SupplementRequested,
        accepted: false,
        step: 0,
        signatures: vec![],
    };
    let out = apply(
        &st,
        &steps(),
        A::Resubmit,
        Actor {
            user_id: 1,
            role: R::Applicant,
        },
        &ActionInput::default(),
    )
    .unwrap();
    assert_eq!(out.state.status, S::Submitted);
    assert_eq!(out.clock, ClockEffect::None);
}

#[test]
fn opinions_and_lists_are_required() {
    let none = ActionInput::default();
    let clerk = Actor {
        user_id: 1,
        role: R::Clerk,
    };
    let reviewer = Actor {
        user_id: 2,
        role: R::Reviewer,
    };
    assert_eq!(
        apply(
            &state_for(S::Submitted),
            &steps(),
            A::RejectIntake,
            clerk,
            &none
        ),
        Err(DomainError::OpinionRequired)
    );
    assert_eq!(
        apply(
            &state_for(S::Submitted),
            &steps(),
            A::RequestSupplement,
            clerk,
            &ActionInput {
                opinion: Some("x".into()),
                ..none.clone()
            }
        ),
        Err(DomainError::SupplementListRequired)
    );
    assert_eq!(
        apply(
            &state_for(S::InReview),
            &steps(),
            A::Suspend,
            reviewer,
            &ActionInput {
                opinion: Some("x".into()),
                ..none.clone()
            }
        ),
        Err(DomainError::ProcedureRequired)
    );
    assert_eq!(
        apply(
            &state_for(S::InReview),
            &steps(),
            A::ApproveStep,
            reviewer,
            &ActionInput {
                opinion: Some("  ".into()),
                ..none
            }
        ),
        Err(DomainError::OpinionRequired)
    );
}

#[test]
fn two_steps_end_approved() {
    let ok = full_input();
    let st = state_for(S::InReview);
    let out = apply(
        &st,
        &steps(),
        A::ApproveStep,
        Actor {
            user_id: 2,
            role: R::Reviewer,
        },
        &ok,
    )
    .unwrap();
    assert_eq!(
        (out.state.status, out.state.step, out.step_completed),
        (S::InReview, 1, Some(0))
    );
    // The reviewer cannot act at the approver's step.
    let refused = apply(
        &out.state,
        &steps(),
        A::ApproveStep,
        Actor {
            user_id: 2,
            role: R::Reviewer,
        },
        &ok,
    );
    assert_eq!(
        refused,
        Err(DomainError::RoleNotAllowed {
            action: "approve_step"
        })
    );
    let out = apply(
        &out.state,
        &steps(),
        A::ApproveStep,
        Actor {
            user_id: 3,
            role: R::Approver,
        },
        &ok,
    )
    .unwrap();
    assert_eq!(
        (out.state.status, out.clock, out.step_completed),
        (S::Approved, ClockEffect::Stop, Some(1))
    );
}

#[test]
fn countersign_needs_every_role_and_or_sign_needs_one() {
    let joint = vec![StepDef {
        key: "joint".into(),
        name: "联合审查".into(),
        roles: vec![R::Reviewer, R::Approver],
        mode: SignMode::All,
    }];
    let ok = full_input();
    let st = state_for(S::InReview);
    let out = apply(
        &st,
        &joint,
        A::ApproveStep,
        Actor {
            user_id: 2,
            role: R::Reviewer,
        },
        &ok,
    )
    .unwrap();
    assert_eq!(out.state.status, S::InReview);
    assert_eq!(out.step_completed, None);
    assert_eq!(out.state.signatures.len(), 1);
    // The same person or role cannot sign twice.
    assert_eq!(
        apply(
            &out.state,
            &joint,
            A::ApproveStep,
            Actor {
                user_id: 2,
                role: R::Reviewer
            },
            &ok
        ),
        Err(DomainError::AlreadySigned)
    );
    assert_eq!(
        apply(
            &out.state,
            &joint,
            A::ApproveStep,
            Actor {
                user_id: 9,
                role: R::Reviewer
            },
            &ok
        ),
        Err(DomainError::AlreadySigned)
    );
    let out = apply(
        &out.state,
        &joint,
        A::ApproveStep,
        Actor {
            user_id: 3,
            role: R::Approver,
        },
        &ok,
    )
    .unwrap();
    assert_eq!(out.state.status, S::Approved);

    let either = vec![StepDef {
        mode: SignMode::Any,
        ..joint[0].clone()
    }];
    let out = apply(
        &st,
        &either,
        A::ApproveStep,
        Actor {
            user_id: 3,
            role: R::Approver,
        },
        &ok,
    )
    .unwrap();
    assert_eq!(out.state.status, S::Approved);
}
