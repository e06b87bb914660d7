//! The data-sharing & exchange platform (gxpt.md): typed operations over a
//! [`GxClient`].
//!
//! | operation | endpoint |
//! |---|---|
//! | [`GxptClient::verify_person`], [`GxptClient::check_identity`] | `population/verify` (+ `population/query`) |
//! | [`GxptClient::query_person`] | `population/query` |
//! | [`GxptClient::query_enterprise`] | `enterprise/query` |
//! | [`GxptClient::query_licenses`] | `licenses/query` |
//! | [`GxptClient::push_case_event`] | `cases/push` |
//! | [`GxptClient::reconcile`], [`GxptClient::reconcile_day`] | `cases/reconcile` |
//!
//! Every operation is safe to repeat, so every one retries per the client's
//! policy. Values are taken exactly as the platform sends them; a code the
//! specification does not define (an unknown enterprise status, gender or
//! licence type) is an [`GxError::InvalidResponse`], never a guess.

mod digest;
pub mod validate;

#[cfg(test)]
pub(crate) use digest::tests_support::spec_events;

pub use digest::{
    canonical_record, content_sm3_of, day_digest, diff, digest_order, occurred_date, DayDigest,
    ReconcileDiff, ReconcileEntry,
};

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::client::GxClient;
use crate::error::GxError;

/// The business endpoints of gxpt.
pub mod paths {
    pub const POPULATION_VERIFY: &str = "/gx/v1/population/verify";
    pub const POPULATION_QUERY: &str = "/gx/v1/population/query";
    pub const ENTERPRISE_QUERY: &str = "/gx/v1/enterprise/query";
    pub const LICENSES_QUERY: &str = "/gx/v1/licenses/query";
    pub const CASES_PUSH: &str = "/gx/v1/cases/push";
    pub const CASES_RECONCILE: &str = "/gx/v1/cases/reconcile";
    /// All six, in the order of gxpt.md.
    pub const ALL: [&str; 6] = [
        POPULATION_VERIFY,
        POPULATION_QUERY,
        ENTERPRISE_QUERY,
        LICENSES_QUERY,
        CASES_PUSH,
        CASES_RECONCILE,
    ];
}

// ---------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------

/// GB/T 2261.1 gender code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Gender {
    #[serde(rename = "1")]
    Male,
    #[serde(rename = "2")]
    Female,
}

/// A person of the population register (§2.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub id_number: String,
    pub name: String,
    pub gender: Gender,
    pub birth_date: NaiveDate,
    pub ethnicity: String,
    pub address: String,
    pub division_code: String,
    /// `false` for deceased persons (死亡注销).
    pub alive: bool,
}

/// The outcome of 身份核验 with the register's life status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IdentityCheck {
    /// The ID number is registered under exactly this name; the person is alive.
    Match,
    /// The ID number is registered under exactly this name, and the person
    /// is deceased.
    Deceased,
    /// The ID number is registered, under another name.
    NameMismatch,
    /// The ID number (well-formed) is not in the register.
    NotRegistered,
}

/// Enterprise registration status (§1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EnterpriseStatus {
    /// 存续
    #[serde(rename = "存续")]
    Active,
    /// 注销
    #[serde(rename = "注销")]
    Deregistered,
    /// 吊销 (business licence revoked)
    #[serde(rename = "吊销")]
    Revoked,
}

impl EnterpriseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "存续",
            Self::Deregistered => "注销",
            Self::Revoked => "吊销",
        }
    }
}

/// An enterprise (or individual business) of the register (§3.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enterprise {
    pub uscc: String,
    pub name: String,
    pub legal_representative: String,
    pub status: EnterpriseStatus,
    /// Whole yuan; may exceed 2^31.
    pub registered_capital_cny: i64,
    pub established_date: NaiveDate,
    pub address: String,
}

/// Licence types (§1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum LicenseType {
    #[serde(rename = "居民身份证")]
    IdCard,
    #[serde(rename = "结婚证")]
    MarriageCertificate,
    #[serde(rename = "学位证书")]
    DegreeCertificate,
    #[serde(rename = "驾驶证")]
    DrivingLicence,
    #[serde(rename = "营业执照")]
    BusinessLicence,
}

impl LicenseType {
    pub const ALL: [LicenseType; 5] = [
        Self::IdCard,
        Self::MarriageCertificate,
        Self::DegreeCertificate,
        Self::DrivingLicence,
        Self::BusinessLicence,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::IdCard => "居民身份证",
            Self::MarriageCertificate => "结婚证",
            Self::DegreeCertificate => "学位证书",
            Self::DrivingLicence => "驾驶证",
            Self::BusinessLicence => "营业执照",
        }
    }
}

/// An electronic licence (§3.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct License {
    pub license_no: String,
    pub license_type: LicenseType,
    pub holder_id: String,
    pub holder_name: String,
    pub issuer: String,
    pub issued_date: NaiveDate,
    /// Last day of validity; `None` = long-term (长期).
    pub valid_until: Option<NaiveDate>,
}

impl License {
    /// Whether the licence is valid on `date` (the platform also returns
    /// expired licences). `valid_until` is the last valid day.
    pub fn is_valid_on(&self, date: NaiveDate) -> bool {
        date >= self.issued_date && self.valid_until.is_none_or(|last| date <= last)
    }
}

/// Case events (§4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CaseEventKind {
    /// 申请
    Submitted,
    /// 受理
    Accepted,
    /// 不予受理
    RejectedAtIntake,
    /// 补正告知
    SupplementRequested,
    /// 补正提交
    Supplemented,
    /// 准予许可
    Approved,
    /// 不予许可
    Denied,
    /// 办结
    Completed,
    /// 撤回
    Withdrawn,
    /// 好差评
    Rated,
}

impl CaseEventKind {
    pub const ALL: [CaseEventKind; 10] = [
        Self::Submitted,
        Self::Accepted,
        Self::RejectedAtIntake,
        Self::SupplementRequested,
        Self::Supplemented,
        Self::Approved,
        Self::Denied,
        Self::Completed,
        Self::Withdrawn,
        Self::Rated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submitted => "SUBMITTED",
            Self::Accepted => "ACCEPTED",
            Self::RejectedAtIntake => "REJECTED_AT_INTAKE",
            Self::SupplementRequested => "SUPPLEMENT_REQUESTED",
            Self::Supplemented => "SUPPLEMENTED",
            Self::Approved => "APPROVED",
            Self::Denied => "DENIED",
            Self::Completed => "COMPLETED",
            Self::Withdrawn => "WITHDRAWN",
            Self::Rated => "RATED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One event of one case, as pushed (§4.1). Its content identity is
/// [`CaseEvent::content_sm3`]: keep the value exactly as pushed (in
/// particular `occurred_at` as a string) to reconcile it later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseEvent {
    pub case_no: String,
    /// 1, 2, 3 … per case, numbered by the sender.
    pub seq: u32,
    pub event: CaseEventKind,
    /// RFC 3339 with offset, e.g. `2025-03-01T09:30:00+08:00`.
    pub occurred_at: String,
    pub item_code: String,
    pub dept_code: String,
    /// Citizen ID number or USCC of the applicant.
    pub applicant_id: String,
    /// Free structure; numbers must be integers within ±(2^53−1).
    pub payload: Map<String, Value>,
}

impl CaseEvent {
    /// The pushed object: exactly the eight members.
    pub fn record(&self) -> Value {
        let mut m = Map::new();
        m.insert("case_no".into(), Value::String(self.case_no.clone()));
        m.insert("seq".into(), Value::from(self.seq));
        m.insert("event".into(), Value::String(self.event.as_str().into()));
        m.insert(
            "occurred_at".into(),
            Value::String(self.occurred_at.clone()),
        );
        m.insert("item_code".into(), Value::String(self.item_code.clone()));
        m.insert("dept_code".into(), Value::String(self.dept_code.clone()));
        m.insert(
            "applicant_id".into(),
            Value::String(self.applicant_id.clone()),
        );
        m.insert("payload".into(), Value::Object(self.payload.clone()));
        Value::Object(m)
    }

    /// `canonical_json` of [`CaseEvent::record`].
    pub fn canonical_record(&self) -> Vec<u8> {
        canonical_record(&self.record())
    }

    /// The content identity gxpt computes for this event.
    pub fn content_sm3(&self) -> String {
        content_sm3_of(&self.record())
    }

    /// The reconciliation day (UTC+08:00) of `occurred_at`.
    pub fn occurred_date(&self) -> Option<NaiveDate> {
        occurred_date(&self.occurred_at)
    }

    /// The entry gxpt will list for this event.
    pub fn entry(&self) -> ReconcileEntry {
        ReconcileEntry {
            case_no: self.case_no.clone(),
            seq: self.seq,
            content_sm3: self.content_sm3(),
        }
    }

    /// Checks the rules of §4.1 locally (gxpt checks them again and answers
    /// `400 GX_BAD_PARAM`); `Err` names the member.
    pub fn validate(&self) -> Result<(), String> {
        use validate::*;
        if !is_valid_case_no(&self.case_no) {
            return Err("case_no must match [A-Za-z0-9][A-Za-z0-9._/-]{0,63}".into());
        }
        if !(1..=2_147_483_647).contains(&self.seq) {
            return Err("seq must be in 1..=2147483647".into());
        }
        if parse_occurred_at(&self.occurred_at).is_none() {
            return Err("occurred_at must be an RFC 3339 date-time with offset".into());
        }
        if !is_valid_code(&self.item_code) {
            return Err("item_code must match [A-Za-z0-9][A-Za-z0-9._-]{0,63}".into());
        }
        if !is_valid_code(&self.dept_code) {
            return Err("dept_code must match [A-Za-z0-9][A-Za-z0-9._-]{0,63}".into());
        }
        if !(is_valid_id_number(&self.applicant_id) || is_valid_uscc(&self.applicant_id)) {
            return Err("applicant_id must be a valid citizen ID number or USCC".into());
        }
        check_payload_value(&Value::Object(self.payload.clone()), "payload", 0)?;
        if self.canonical_record().len() > MAX_CANONICAL_RECORD {
            return Err("canonical record larger than 65536 bytes".into());
        }
        Ok(())
    }
}

/// The answer to a push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushReceipt {
    /// Opaque, ≤ 64 characters; the same for a repeated identical push.
    pub receipt_id: String,
}

/// The answer of `cases/reconcile`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reconciliation {
    pub date: NaiveDate,
    pub count: u64,
    pub digest: String,
    /// Present when asked for, in digest order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries: Option<Vec<ReconcileEntry>>,
}

/// The result of [`GxptClient::reconcile_day`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconcileOutcome {
    pub date: NaiveDate,
    /// Computed from the events given, restricted to `date`.
    pub local: DayDigest,
    /// As the platform answered.
    pub platform: DayDigest,
    /// `None` when count and digest are equal; otherwise the differences,
    /// from the platform's entries.
    pub diff: Option<ReconcileDiff>,
}

impl ReconcileOutcome {
    /// Every event of that day arrived exactly once with the right content.
    pub fn is_consistent(&self) -> bool {
        self.local == self.platform
    }
}

/// The entries of `events` that belong to `date` (UTC+08:00), each
/// `(case_no, seq)` once. Fails on an event with an invalid `occurred_at`
/// (gxpt refuses it, so it cannot be in any day) and on two different
/// contents for one `(case_no, seq)`.
pub fn entries_for_date(
    events: &[CaseEvent],
    date: NaiveDate,
) -> Result<Vec<ReconcileEntry>, GxError> {
    let mut by_key: BTreeMap<(String, u32), ReconcileEntry> = BTreeMap::new();
    for e in events {
        let Some(d) = e.occurred_date() else {
            return Err(GxError::InvalidInput(format!(
                "case {} seq {}: occurred_at is not RFC 3339 with offset",
                e.case_no, e.seq
            )));
        };
        if d != date {
            continue;
        }
        let entry = e.entry();
        match by_key.get(&(e.case_no.clone(), e.seq)) {
            Some(prev) if prev.content_sm3 != entry.content_sm3 => {
                return Err(GxError::InvalidInput(format!(
                    "case {} seq {} given twice with different content",
                    e.case_no, e.seq
                )));
            }
            Some(_) => {}
            None => {
                by_key.insert((e.case_no.clone(), e.seq), entry);
            }
        }
    }
    Ok(by_key.into_values().collect())
}

// ---------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------

#[derive(Serialize)]
struct VerifyReq<'a> {
    id_number: &'a str,
    name: &'a str,
}
#[derive(Deserialize)]
struct VerifyResp {
    #[serde(rename = "match")]
    matched: bool,
}
#[derive(Serialize)]
struct IdReq<'a> {
    id_number: &'a str,
}
#[derive(Deserialize)]
struct PersonResp {
    person: Person,
}
#[derive(Serialize)]
struct UsccReq<'a> {
    uscc: &'a str,
}
#[derive(Deserialize)]
struct EnterpriseResp {
    enterprise: Enterprise,
}
#[derive(Serialize)]
struct LicensesReq<'a> {
    holder_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    license_type: Option<LicenseType>,
}
#[derive(Deserialize)]
struct LicensesResp {
    licenses: Vec<License>,
}
#[derive(Serialize)]
struct ReconcileReq {
    date: String,
    include_entries: bool,
}

/// The typed operations of gxpt.
#[derive(Debug, Clone)]
pub struct GxptClient {
    gx: GxClient,
}

impl GxptClient {
    pub fn new(gx: GxClient) -> Self {
        Self { gx }
    }

    pub fn gx(&self) -> &GxClient {
        &self.gx
    }

    /// 身份核验 (§2.1): whether `id_number` is registered under exactly
    /// `name`. Says nothing about life status; see [`Self::check_identity`].
    /// A malformed ID number or name is `Rejected { code: "GX_BAD_PARAM" }`.
    pub async fn verify_person(&self, id_number: &str, name: &str) -> Result<bool, GxError> {
        let r: VerifyResp = self
            .gx
            .call(paths::POPULATION_VERIFY, &VerifyReq { id_number, name })
            .await?;
        Ok(r.matched)
    }

    /// 人口基础信息查询 (§2.2); `None` for a well-formed ID number that is
    /// not registered.
    pub async fn query_person(&self, id_number: &str) -> Result<Option<Person>, GxError> {
        let r: Result<PersonResp, _> = self
            .gx
            .call(paths::POPULATION_QUERY, &IdReq { id_number })
            .await;
        match r {
            Ok(p) if p.person.id_number == id_number => Ok(Some(p.person)),
            Ok(_) => Err(GxError::InvalidResponse(
                "population/query answered for another ID number".into(),
            )),
            Err(GxError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Identity verification with life status: `verify`, then `query` to
    /// tell a deceased person from a living one and a wrong name from an
    /// unregistered number.
    pub async fn check_identity(
        &self,
        id_number: &str,
        name: &str,
    ) -> Result<IdentityCheck, GxError> {
        let matched = self.verify_person(id_number, name).await?;
        let person = self.query_person(id_number).await?;
        match (matched, person) {
            (true, Some(p)) if p.name == name => Ok(if p.alive {
                IdentityCheck::Match
            } else {
                IdentityCheck::Deceased
            }),
            (false, Some(p)) if p.name != name => Ok(IdentityCheck::NameMismatch),
            (false, None) => Ok(IdentityCheck::NotRegistered),
            _ => Err(GxError::InvalidResponse(
                "population/verify and population/query disagree".into(),
            )),
        }
    }

    /// 法人基础信息查询 (§3.1); `None` for a well-formed USCC that is not
    /// registered.
    pub async fn query_enterprise(&self, uscc: &str) -> Result<Option<Enterprise>, GxError> {
        let r: Result<EnterpriseResp, _> = self
            .gx
            .call(paths::ENTERPRISE_QUERY, &UsccReq { uscc })
            .await;
        match r {
            Ok(e) if e.enterprise.uscc == uscc => Ok(Some(e.enterprise)),
            Ok(_) => Err(GxError::InvalidResponse(
                "enterprise/query answered for another USCC".into(),
            )),
            Err(GxError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// 电子证照查询 (§3.2): the licences of a holder (citizen ID number or
    /// USCC), of one type or all; empty for an unknown holder. Expired
    /// licences are included (see [`License::is_valid_on`]).
    pub async fn query_licenses(
        &self,
        holder_id: &str,
        license_type: Option<LicenseType>,
    ) -> Result<Vec<License>, GxError> {
        let r: LicensesResp = self
            .gx
            .call(
                paths::LICENSES_QUERY,
                &LicensesReq {
                    holder_id,
                    license_type,
                },
            )
            .await?;
        if r.licenses
            .iter()
            .any(|l| l.holder_id != holder_id || license_type.is_some_and(|t| t != l.license_type))
        {
            return Err(GxError::InvalidResponse(
                "licenses/query answered licences of another holder or type".into(),
            ));
        }
        Ok(r.licenses)
    }

    /// 办件过程信息推送 (§4.1). Idempotent on `(case_no, seq)`: the same
    /// content again answers the same receipt, so time-outs and lost
    /// answers are retried safely; different content for a stored
    /// `(case_no, seq)` is [`GxError::Conflict`] and is never retried.
    pub async fn push_case_event(&self, event: &CaseEvent) -> Result<PushReceipt, GxError> {
        let r: PushReceipt = self.gx.call(paths::CASES_PUSH, &event.record()).await?;
        if r.receipt_id.is_empty() || r.receipt_id.chars().count() > 64 {
            return Err(GxError::InvalidResponse(
                "receipt_id must be 1–64 characters".into(),
            ));
        }
        Ok(r)
    }

    /// 推送对账 (§4.2): count and digest of `date`'s reconciliation set, with
    /// the entries when asked. The answer is checked for consistency with
    /// itself (date; entries hash to the count and digest).
    pub async fn reconcile(
        &self,
        date: NaiveDate,
        include_entries: bool,
    ) -> Result<Reconciliation, GxError> {
        let r: Reconciliation = self
            .gx
            .call(
                paths::CASES_RECONCILE,
                &ReconcileReq {
                    date: date.format("%Y-%m-%d").to_string(),
                    include_entries,
                },
            )
            .await?;
        if r.date != date {
            return Err(GxError::InvalidResponse(
                "cases/reconcile answered for another date".into(),
            ));
        }
        match (&r.entries, include_entries) {
            (Some(entries), true) => {
                let d = day_digest(entries);
                if d.count != r.count || d.digest != r.digest {
                    return Err(GxError::InvalidResponse(
                        "cases/reconcile entries do not give its count and digest".into(),
                    ));
                }
            }
            (None, true) => {
                return Err(GxError::InvalidResponse(
                    "cases/reconcile answered without the entries asked for".into(),
                ))
            }
            _ => {}
        }
        Ok(r)
    }

    /// Reconciles one day against what the platform pushed: `pushed` may
    /// hold events of any day (those of other days are ignored). Asks for
    /// count and digest; on a difference, asks again with the entries and
    /// reports what is missing, unexpected or conflicting. Re-pushing the
    /// missing events (idempotent) is the caller's decision.
    pub async fn reconcile_day(
        &self,
        date: NaiveDate,
        pushed: &[CaseEvent],
    ) -> Result<ReconcileOutcome, GxError> {
        let local_entries = entries_for_date(pushed, date)?;
        let local = day_digest(&local_entries);
        let first = self.reconcile(date, false).await?;
        let platform = DayDigest {
            count: first.count,
            digest: first.digest,
        };
        if platform == local {
            return Ok(ReconcileOutcome {
                date,
                local,
                platform,
                diff: None,
            });
        }
        let full = self.reconcile(date, true).await?;
        let remote = full.entries.unwrap_or_default();
        Ok(ReconcileOutcome {
            date,
            local,
            platform: DayDigest {
                count: full.count,
                digest: full.digest,
            },
            diff: Some(diff(&local_entries, &remote)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_serialise_to_the_spec_codes() {
        assert_eq!(
            serde_json::to_string(&EnterpriseStatus::Revoked).unwrap(),
            "\"吊销\""
        );
        assert_eq!(
            serde_json::from_str::<EnterpriseStatus>("\"注销\"").unwrap(),
            EnterpriseStatus::Deregistered
        );
        assert!(serde_json::from_str::<EnterpriseStatus>("\"迁出\"").is_err());
        assert_eq!(serde_json::to_string(&Gender::Female).unwrap(), "\"2\"");
        assert!(serde_json::from_str::<Gender>("\"0\"").is_err());
        for t in LicenseType::ALL {
            assert_eq!(
                serde_json::to_string(&t).unwrap(),
                format!("\"{}\"", t.as_str())
            );
        }
        for k in CaseEventKind::ALL {
            assert_eq!(
                serde_json::to_string(&k).unwrap(),
                format!("\"{}\"", k.as_str())
            );
            assert_eq!(CaseEventKind::parse(k.as_str()), Some(k));
        }
    }

    #[test]
    fn licence_validity_uses_the_last_day_inclusively() {
        let l: License = serde_json::from_str(
            r#"{"license_no":"330100734215","license_type":"驾驶证","holder_id":"33010619781123038X","holder_name":"陈静","issuer":"杭州市公安局交通警察支队","issued_date":"2014-07-01","valid_until":"2024-07-01"}"#,
        )
        .unwrap();
        let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).unwrap();
        assert!(l.is_valid_on(d(2024, 7, 1)));
        assert!(!l.is_valid_on(d(2024, 7, 2)));
        assert!(!l.is_valid_on(d(2014, 6, 30)));
        let forever = License {
            valid_until: None,
            ..l
        };
        assert!(forever.is_valid_on(d(2099, 1, 1)));
    }

    #[test]
    fn entries_for_date_filters_and_deduplicates() {
        let mut events = digest::tests_support::spec_events();
        events.push(events[0].clone());
        let day = NaiveDate::from_ymd_opt(2025, 1, 2).unwrap();
        let entries = entries_for_date(&events, day).unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(
            day_digest(&entries).digest,
            "01646257ab01d20e190e28f3b380fd23650d4bf3578d36ff2e064ee8b1a5e5cc"
        );
        assert!(entries_for_date(&events, day.pred_opt().unwrap())
            .unwrap()
            .is_empty());
        let mut conflicting = events.clone();
        conflicting[3].payload.insert("x".into(), Value::from(1));
        assert!(entries_for_date(&conflicting, day).is_err());
        let mut bad = events;
        bad[0].occurred_at = "yesterday".into();
        assert!(entries_for_date(&bad, day).is_err());
    }

    #[test]
    fn validate_applies_the_push_rules() {
        let good = digest::tests_support::spec_events().remove(0);
        assert_eq!(good.validate(), Ok(()));
        let with = |f: &dyn Fn(&mut CaseEvent)| {
            let mut e = good.clone();
            f(&mut e);
            e.validate()
        };
        assert!(with(&|e| e.seq = 0).is_err());
        assert!(with(&|e| e.seq = 2_147_483_648).is_err());
        assert!(with(&|e| e.case_no = "ZT|1".into()).is_err());
        assert!(with(&|e| e.occurred_at = "2025-03-03T09:30:00".into()).is_err());
        assert!(with(&|e| e.applicant_id = "110105198506150111".into()).is_err());
        assert!(with(&|e| e.applicant_id = "91330106MA2H0K3BXT".into()).is_ok());
        assert!(with(&|e| {
            e.payload.insert("fee".into(), serde_json::json!(12.5));
        })
        .is_err());
        assert!(with(&|e| {
            e.payload
                .insert("big".into(), Value::String("x".repeat(70_000)));
        })
        .is_err());
    }
}
