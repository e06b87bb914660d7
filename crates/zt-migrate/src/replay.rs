//! V1's status and approval log → a V2 status and timeline (README §3.10,
//! design §2.8). Pure. V1 logged staff decisions and withdrawals only, so the
//! steps it did not log (submission, an administrator's deletion, the closing
//! of a refusal) are derived and marked as such. V1's status is authoritative:
//! the replay only supplies each event's from/to, and a replay that ends
//! elsewhere is reported, not "fixed".

use chrono::NaiveDateTime;
use zt_domain::case::CaseStatus;

/// One approval-log row, decoded.
#[derive(Debug, Clone)]
pub struct LogEntry {
    pub log_id: i64,
    pub at: NaiveDateTime,
    pub node: String,
    pub action: String,
    pub opinion: String,
    pub user_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// From an approval-log row.
    Log(i64),
    /// A step V1 did not log; the text says why it is known.
    Derived(&'static str),
}

#[derive(Debug, Clone)]
pub struct Event {
    pub origin: Origin,
    pub action: &'static str,
    pub from: Option<CaseStatus>,
    pub to: CaseStatus,
    pub at: NaiveDateTime,
    /// Index into the input logs, for the actor and texts.
    pub log: Option<usize>,
    pub role: &'static str,
}

#[derive(Debug, Clone)]
pub struct Replayed {
    pub status: CaseStatus,
    pub accepted: bool,
    pub step: i64,
    pub events: Vec<Event>,
    pub decided_at: Option<NaiveDateTime>,
    /// The last 补正 request, for a case waiting for it.
    pub supplement: Option<usize>,
    /// The replay of the log ends in another status than V1's: (replayed, V1's).
    pub mismatch: Option<(CaseStatus, CaseStatus)>,
    /// V1 `05` reached by 审核不通过 (不予许可), closed like a completion.
    pub denied: bool,
}

pub fn role_of_node(node: &str) -> &'static str {
    match node {
        "科室审核" => "reviewer",
        "分管领导审批" => "approver",
        "申请人撤回" => "applicant",
        _ => "clerk",
    }
}

/// The case facts the replay needs besides the log.
pub struct CaseFacts {
    pub v1_status: String,
    pub submitted_at: NaiveDateTime,
    /// V1's `finish_time`, or (D13) the 办结 log's time.
    pub finished_at: Option<NaiveDateTime>,
    pub updated_at: Option<NaiveDateTime>,
    /// Review levels of the item (1 or 2).
    pub levels: i64,
}

/// `logs` in chronological order (action_time, then log_id: D14).
pub fn replay(facts: &CaseFacts, logs: &[LogEntry]) -> Replayed {
    let mut events = Vec::new();
    let mut state = CaseStatus::Draft;
    if facts.v1_status != "00" {
        events.push(Event {
            origin: Origin::Derived("submitted: V1 records the submission time, not a log row"),
            action: "submit",
            from: Some(CaseStatus::Draft),
            to: CaseStatus::Submitted,
            at: facts.submitted_at,
            log: None,
            role: "applicant",
        });
        state = CaseStatus::Submitted;
    }
    let mut accepted = false;
    let mut step: i64 = 0;
    let mut decided_at = None;
    let mut supplement = None;
    let mut denied = false;
    for (i, l) in logs.iter().enumerate() {
        let from = state;
        let (action, to) = match l.action.as_str() {
            "受理" => {
                accepted = true;
                step = 0;
                ("accept", CaseStatus::InReview)
            }
            "补正" => {
                supplement = Some(i);
                ("request_supplement", CaseStatus::SupplementRequested)
            }
            "不予受理" => ("reject_intake", CaseStatus::RejectedAtIntake),
            "审核通过" => {
                step += 1;
                if step >= facts.levels {
                    decided_at = Some(l.at);
                    ("approve_step", CaseStatus::Approved)
                } else {
                    ("approve_step", CaseStatus::InReview)
                }
            }
            "审核不通过" => {
                denied = true;
                decided_at = Some(l.at);
                ("deny", CaseStatus::Denied)
            }
            "办结" => ("complete", CaseStatus::Completed),
            "撤回" => ("withdraw", CaseStatus::Withdrawn),
            _ => ("v1_unknown", state),
        };
        // A supplement answered before acceptance: V1 did not log the
        // re-submission, the status simply went back to 01.
        let from = if from == CaseStatus::SupplementRequested && action != "request_supplement" {
            CaseStatus::Submitted
        } else {
            from
        };
        events.push(Event {
            origin: Origin::Log(l.log_id),
            action,
            from: Some(from),
            to,
            at: l.at,
            log: Some(i),
            role: role_of_node(&l.node),
        });
        state = to;
    }
    let v1_mapped = match facts.v1_status.as_str() {
        "00" => CaseStatus::Draft,
        "01" => CaseStatus::Submitted,
        "02" | "03" => CaseStatus::InReview,
        "04" => CaseStatus::Approved,
        "05" if denied => CaseStatus::Completed,
        "05" => CaseStatus::RejectedAtIntake,
        "06" => CaseStatus::SupplementRequested,
        "07" => CaseStatus::Withdrawn,
        "09" => CaseStatus::Completed,
        _ => CaseStatus::Deleted,
    };
    // A refusal closed V1's case; V2's `denied` still waits for 办结.
    if facts.v1_status == "05" && denied {
        events.push(Event {
            origin: Origin::Derived("closed: V1 closed a refusal (不予许可) with its finish_time"),
            action: "complete",
            from: Some(CaseStatus::Denied),
            to: CaseStatus::Completed,
            at: facts
                .finished_at
                .or(decided_at)
                .unwrap_or(facts.submitted_at),
            log: None,
            role: "clerk",
        });
        state = CaseStatus::Completed;
    }
    if facts.v1_status == "99" {
        events.push(Event {
            origin: Origin::Derived("deleted: a V1 administrator deleted the case (status 99)"),
            action: "v1_delete",
            from: Some(state),
            to: CaseStatus::Deleted,
            at: facts.updated_at.unwrap_or(facts.submitted_at),
            log: None,
            role: "sysadmin",
        });
        state = CaseStatus::Deleted;
    }
    // 01 after a 补正: the applicant re-submitted, at the last update.
    if facts.v1_status == "01" && state == CaseStatus::SupplementRequested {
        events.push(Event {
            origin: Origin::Derived("resubmitted: V1 status 01 after a 补正 request"),
            action: "resubmit",
            from: Some(CaseStatus::SupplementRequested),
            to: CaseStatus::Submitted,
            at: facts.updated_at.unwrap_or(facts.submitted_at),
            log: None,
            role: "applicant",
        });
        state = CaseStatus::Submitted;
    }
    let mismatch = (state != v1_mapped).then_some((state, v1_mapped));
    if v1_mapped == CaseStatus::Approved {
        step = facts.levels;
    }
    Replayed {
        status: v1_mapped,
        accepted: accepted
            && !matches!(
                v1_mapped,
                CaseStatus::Submitted
                    | CaseStatus::SupplementRequested
                    | CaseStatus::RejectedAtIntake
            ),
        step,
        events,
        decided_at,
        supplement: (v1_mapped == CaseStatus::SupplementRequested)
            .then_some(supplement)
            .flatten(),
        mismatch,
        denied,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    fn log(id: i64, at: &str, node: &str, action: &str) -> LogEntry {
        LogEntry {
            log_id: id,
            at: t(at),
            node: node.into(),
            action: action.into(),
            opinion: String::new(),
            user_id: Some(7),
        }
    }

    fn facts(status: &str, levels: i64) -> CaseFacts {
        CaseFacts {
            v1_status: status.into(),
            submitted_at: t("2020-01-02 09:00:00"),
            finished_at: Some(t("2020-01-09 10:00:00")),
            updated_at: Some(t("2020-01-09 10:00:00")),
            levels,
        }
    }

    #[test]
    fn a_completed_case_with_two_levels() {
        let logs = [
            log(1, "2020-01-02 10:00:00", "窗口受理", "受理"),
            log(2, "2020-01-03 10:00:00", "科室审核", "审核通过"),
            log(3, "2020-01-06 10:00:00", "分管领导审批", "审核通过"),
            log(4, "2020-01-09 10:00:00", "办结", "办结"),
        ];
        let r = replay(&facts("09", 2), &logs);
        assert_eq!(r.status, CaseStatus::Completed);
        assert!(r.accepted && r.mismatch.is_none());
        let actions: Vec<_> = r.events.iter().map(|e| (e.action, e.to)).collect();
        assert_eq!(
            actions,
            [
                ("submit", CaseStatus::Submitted),
                ("accept", CaseStatus::InReview),
                ("approve_step", CaseStatus::InReview),
                ("approve_step", CaseStatus::Approved),
                ("complete", CaseStatus::Completed),
            ]
        );
        assert_eq!(r.decided_at, Some(t("2020-01-06 10:00:00")));
        assert_eq!(r.events[3].role, "approver");
    }

    #[test]
    fn both_kinds_of_05() {
        let intake = [log(1, "2020-01-02 10:00:00", "窗口受理", "不予受理")];
        let r = replay(&facts("05", 1), &intake);
        assert_eq!(r.status, CaseStatus::RejectedAtIntake);
        assert!(!r.accepted && !r.denied && r.mismatch.is_none());

        let review = [
            log(1, "2020-01-02 10:00:00", "窗口受理", "受理"),
            log(2, "2020-01-03 10:00:00", "科室审核", "审核不通过"),
        ];
        let r = replay(&facts("05", 1), &review);
        assert_eq!(r.status, CaseStatus::Completed);
        assert!(r.accepted && r.denied && r.mismatch.is_none());
        let last = r.events.last().unwrap();
        assert_eq!(
            (last.action, last.at),
            ("complete", t("2020-01-09 10:00:00"))
        );
        assert!(matches!(last.origin, Origin::Derived(_)));
    }

    #[test]
    fn drafts_have_no_events_and_deleted_cases_a_derived_one() {
        let r = replay(&facts("00", 1), &[]);
        assert_eq!(r.status, CaseStatus::Draft);
        assert!(r.events.is_empty());
        let r = replay(&facts("99", 1), &[]);
        assert_eq!(r.status, CaseStatus::Deleted);
        assert_eq!(r.events.last().unwrap().action, "v1_delete");
        assert!(r.mismatch.is_none());
    }

    #[test]
    fn supplement_then_resubmission_then_acceptance() {
        let logs = [
            log(1, "2020-01-02 10:00:00", "窗口受理", "补正"),
            log(2, "2020-01-05 10:00:00", "窗口受理", "受理"),
        ];
        let r = replay(&facts("02", 1), &logs);
        assert_eq!(r.status, CaseStatus::InReview);
        assert_eq!(r.events[2].from, Some(CaseStatus::Submitted));
        assert!(r.mismatch.is_none());

        let waiting = replay(&facts("06", 1), &logs[..1]);
        assert_eq!(waiting.status, CaseStatus::SupplementRequested);
        assert_eq!(waiting.supplement, Some(0));
        assert!(!waiting.accepted);

        let back = replay(&facts("01", 1), &logs[..1]);
        assert_eq!(back.events.last().unwrap().action, "resubmit");
        assert!(back.mismatch.is_none());
    }

    #[test]
    fn withdrawal_and_a_replay_that_disagrees() {
        let logs = [
            log(1, "2020-01-02 10:00:00", "窗口受理", "受理"),
            log(2, "2020-01-03 10:00:00", "申请人撤回", "撤回"),
        ];
        let r = replay(&facts("07", 1), &logs);
        assert_eq!(r.status, CaseStatus::Withdrawn);
        assert!(r.accepted);
        assert_eq!(r.events[2].role, "applicant");
        // V1 says approved, the log never got there: V1's status stands.
        let r = replay(&facts("04", 2), &logs[..1]);
        assert_eq!(r.status, CaseStatus::Approved);
        assert_eq!(
            r.mismatch,
            Some((CaseStatus::InReview, CaseStatus::Approved))
        );
    }
}
