//! Electronic licences: decided at completion, sealed through the outbox
//! (built-in sealer here; the real e-seal sandbox in `licence_interop`),
//! verified before storing, downloaded by the holder, checked by anyone.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{json, Value};
use zt_app::licence::{SealError, SealRequest, SealedDocument, Sealer};

use crate::both;
use crate::harness::{Session, TestApp};

macro_rules! with_builtin_seal {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let t = $crate::harness::TestApp::spawn_with(zt_store::Backend::Sqlite, |c| {
                    c.eseal_url = "builtin".into()
                })
                .await
                .expect("sqlite");
                super::$name(t).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(t) =
                    $crate::harness::TestApp::spawn_with(zt_store::Backend::Postgres, |c| {
                        c.eseal_url = "builtin".into()
                    })
                    .await
                {
                    super::$name(t).await
                }
            }
        }
    };
}

/// A TEST-TWO case taken to completion; returns its number.
pub async fn completed_case(t: &TestApp, citizen: &Session) -> String {
    let no = citizen.submitted("TEST-TWO").await;
    let clerk = t.login("clerk").await;
    let (s, b) = clerk
        .act(&no, json!({"action": "accept", "opinion": "予以受理"}))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let reviewer = t.login("reviewer").await;
    let (s, b) = reviewer
        .act(
            &no,
            json!({"action": "approve_step", "opinion": "符合条件"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let approver = t.login("approver").await;
    let (s, b) = approver
        .act(
            &no,
            json!({"action": "approve_step", "opinion": "准予许可"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = clerk
        .act(&no, json!({"action": "complete", "opinion": "已办结"}))
        .await;
    assert_eq!(
        (s, b["status"].as_str()),
        (StatusCode::OK, Some("completed")),
        "{b}"
    );
    no
}

async fn raw_get(s: &Session, path: &str) -> (StatusCode, Vec<u8>) {
    let r = s
        .client
        .get(format!("{}{path}", s.base))
        .send()
        .await
        .expect("get");
    let st = r.status();
    (st, r.bytes().await.expect("body").to_vec())
}

pub async fn seal_round(t: &TestApp) -> zt_app::licence::SealRound {
    let sealer = t.app.sealer.clone().expect("a sealer is configured");
    zt_app::licence::seal_due(&t.app, sealer.as_ref(), 16)
        .await
        .expect("round")
}

/// `PUT /api/v1/admin/departments/{dept}/seal` as `s`.
pub async fn put_seal(s: &Session, dept: &str, code: &str) -> (StatusCode, Value) {
    let r = s
        .client
        .put(format!("{}/api/v1/admin/departments/{dept}/seal", s.base))
        .header("x-csrf-token", &s.csrf)
        .json(&json!({"seal_code": code}))
        .send()
        .await
        .expect("put");
    let st = r.status();
    (st, r.json::<Value>().await.unwrap_or(Value::Null))
}

/// The system administrator sets ZWB's seal.
pub async fn set_seal(t: &TestApp, code: &str) {
    let admin = t.login("sysadmin").await;
    let (s, b) = put_seal(&admin, "ZWB", code).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
}

with_builtin_seal!(a_completed_case_issues_a_sealed_licence_anyone_can_verify);
async fn a_completed_case_issues_a_sealed_licence_anyone_can_verify(t: TestApp) {
    let citizen = t.login("citizen").await;
    // No seal configured for the department yet: the licence waits.
    set_seal(&t, "").await;
    let no = completed_case(&t, &citizen).await;
    let (s, lic) = citizen.get(&format!("/api/v1/cases/{no}/licence")).await;
    assert_eq!(s, StatusCode::OK, "{lic}");
    assert_eq!(lic["status"], "pending_seal");
    assert_eq!(lic["title"], "测试经营许可证");
    let licence_no = lic["licence_no"].as_str().expect("no").to_string();
    assert!(licence_no.starts_with("ZZ20250930"), "{licence_no}");
    assert_eq!(lic["valid_until"], "2030-09-29");
    let (s, b) = citizen
        .get(&format!("/api/v1/cases/{no}/licence/document"))
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::CONFLICT, Some("LICENCE_PENDING_SEAL")),
        "{b}"
    );
    let r = seal_round(&t).await;
    assert_eq!((r.issued, r.retried), (0, 1), "{r:?}");
    let err = t
        .count(&format!(
            "SELECT COUNT(*) FROM outbox WHERE counterpart = 'eseal' AND aggregate = '{licence_no}' \
             AND status = 'pending' AND last_error LIKE '%未配置电子印章%'"
        ))
        .await;
    assert_eq!(err, 1);

    // The administrator sets the seal: the licence is released and sealed.
    set_seal(&t, "37020000000011").await;
    let r = seal_round(&t).await;
    assert_eq!((r.issued, r.retried, r.failed), (1, 0, 0), "{r:?}");
    let (_, lic) = citizen.get(&format!("/api/v1/cases/{no}/licence")).await;
    assert_eq!(lic["status"], "issued", "{lic}");
    let (_, d) = citizen.get(&format!("/api/v1/cases/{no}")).await;
    assert_eq!(d["licence"]["licence_no"], licence_no.as_str());
    // A second round finds nothing to do.
    let r = seal_round(&t).await;
    assert_eq!((r.issued, r.retried, r.failed), (0, 0, 0));

    let (s, pdf) = raw_get(&citizen, &format!("/api/v1/cases/{no}/licence/document")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(pdf.starts_with(b"%PDF-"));
    let anchor = t
        .app
        .sealer
        .as_ref()
        .expect("sealer")
        .trust_anchor()
        .to_string();
    let info = zt_licence::verify_sealed_pdf(
        &pdf,
        &anchor,
        zt_app::clock::Clock::now(&*t.clock).timestamp(),
    )
    .expect("the downloaded licence verifies against the CA");
    assert_eq!(info.seal_code.as_deref(), Some("37020000000011"));
    // The page download is the same document.
    let (s, page_pdf) = raw_get(&citizen, &format!("/cases/{no}/licence.pdf")).await;
    assert_eq!((s, page_pdf == pdf), (StatusCode::OK, true));

    // Anyone: the public verification by number.
    let anon = t.anon();
    let (s, v) = anon
        .get(&format!("/api/v1/licences/{licence_no}/verification"))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["exists"], true);
    assert_eq!(v["standing"], "有效");
    assert_eq!(v["signature_intact"], true);
    assert_eq!(v["holder"], "李*");
    assert_eq!(v["document_sm3"], zt_crypto::sm3_hex(&pdf).as_str());
    // … and of a file: the original is authentic, a changed copy is not.
    let check = |body: Vec<u8>| {
        let anon = t.anon();
        let licence_no = licence_no.clone();
        async move {
            anon.post_raw(
                &format!("/api/v1/licences/{licence_no}/verification"),
                "application/pdf",
                body,
            )
            .await
        }
    };
    let (s, c) = check(pdf.clone()).await;
    assert_eq!(s, StatusCode::OK, "{c}");
    assert_eq!(
        (c["authentic"].as_bool(), c["verdict"].as_str()),
        (Some(true), Some("AUTHENTIC"))
    );
    let mut altered = pdf.clone();
    let at = altered.len() / 3;
    altered[at] ^= 0x01;
    let (_, c) = check(altered).await;
    assert_eq!(c["verdict"], "DIFFERENT_DOCUMENT", "{c}");
    assert_eq!(c["signature_valid"], false, "{c}");
    let (_, c) = check(b"not a pdf".to_vec()).await;
    assert_eq!(c["verdict"], "NOT_A_PDF");
    let (s, c) = check(Vec::new()).await;
    assert_eq!(
        (s, c["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("VERIFY_FILE_MISSING"))
    );

    // The page the QR code points at.
    let (s, html) = raw_get(&anon, &format!("/verify/{licence_no}")).await;
    let html = String::from_utf8_lossy(&html);
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("当前有效") && html.contains("李*"), "{html}");
    assert!(!html.contains("李明"), "the full name is not public");
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(pdf.clone()).file_name("licence.pdf"),
    );
    let r = anon
        .client
        .post(format!("{}/verify/{licence_no}", anon.base))
        .multipart(form)
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.expect("text").contains("完全一致"));

    // Unknown and malformed numbers.
    let (s, v) = anon
        .get("/api/v1/licences/ZZ20250930370200999999/verification")
        .await;
    assert_eq!((s, v["exists"].as_bool()), (StatusCode::OK, Some(false)));
    let (s, v) = anon.get("/api/v1/licences/ZZ1/verification").await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("LICENCE_NO_INVALID"))
    );

    // Nobody else downloads it.
    let other = t.login("citizen2").await;
    let (s, _) = other
        .get(&format!("/api/v1/cases/{no}/licence/document"))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(
        t.count(&format!(
            "SELECT COUNT(*) FROM audit_records WHERE action = 'licence_issued' AND object = 'licence:{licence_no}'"
        ))
        .await,
        1
    );
    assert!(
        t.count("SELECT COUNT(*) FROM audit_records WHERE action = 'licence_download'")
            .await
            >= 2
    );
}

/// A sealer that is down for its first `fail` calls, then answers with what
/// `answer` makes of the built-in sealer's document.
struct Flaky {
    inner: Arc<dyn Sealer>,
    fail: u32,
    calls: AtomicU32,
    error: SealError,
    tamper: bool,
}

#[async_trait::async_trait]
impl Sealer for Flaky {
    async fn seal(&self, r: &SealRequest<'_>) -> Result<SealedDocument, SealError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if n < self.fail {
            return Err(self.error.clone());
        }
        let mut d = self.inner.seal(r).await?;
        if self.tamper && n == self.fail {
            // A byte inside the signed range, after the original document.
            let at = r.document.len() + 40;
            d.pdf[at] ^= 0x20;
        }
        Ok(d)
    }

    fn trust_anchor(&self) -> &str {
        self.inner.trust_anchor()
    }
}

with_builtin_seal!(an_unavailable_service_or_a_bad_answer_leaves_the_licence_pending_until_sealed);
async fn an_unavailable_service_or_a_bad_answer_leaves_the_licence_pending_until_sealed(
    t: TestApp,
) {
    let citizen = t.login("citizen").await;
    let inner = t.app.sealer.clone().expect("sealer");
    for (error, tamper) in [
        (SealError::Unavailable("503 GX_UNAVAILABLE".into()), false),
        (SealError::SealNotUsable("SEAL_DISABLED".into()), false),
        (SealError::Unavailable("unused".into()), true),
    ] {
        let no = completed_case(&t, &citizen).await;
        let flaky = Flaky {
            inner: inner.clone(),
            fail: if tamper { 0 } else { 2 },
            calls: AtomicU32::new(0),
            error,
            tamper,
        };
        let rounds = if tamper { 1 } else { 2 };
        for i in 0..rounds {
            let r = zt_app::licence::seal_due(&t.app, &flaky, 16)
                .await
                .expect("round");
            assert_eq!((r.issued, r.retried), (0, 1), "round {i}: {r:?}");
            let (_, lic) = citizen.get(&format!("/api/v1/cases/{no}/licence")).await;
            assert_eq!(lic["status"], "pending_seal");
            assert!(
                lic["pending_reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("自动重试")),
                "{lic}"
            );
            // Not due again before its backoff.
            let r = zt_app::licence::seal_due(&t.app, &flaky, 16)
                .await
                .expect("round");
            assert_eq!(r.retried + r.issued, 0);
            t.clock.advance(chrono::Duration::minutes(11));
        }
        let r = zt_app::licence::seal_due(&t.app, &flaky, 16)
            .await
            .expect("round");
        assert_eq!((r.issued, r.retried), (1, 0), "{r:?}");
        let (_, lic) = citizen.get(&format!("/api/v1/cases/{no}/licence")).await;
        assert_eq!(lic["status"], "issued");
        // Only the checked document is stored, and it verifies.
        let (_, pdf) = raw_get(&citizen, &format!("/api/v1/cases/{no}/licence/document")).await;
        zt_licence::verify_sealed_pdf(
            &pdf,
            inner.trust_anchor(),
            zt_app::clock::Clock::now(&*t.clock).timestamp(),
        )
        .expect("stored licence verifies");
        let attempts = t
            .count(&format!(
                "SELECT attempts FROM outbox WHERE counterpart = 'eseal' AND aggregate = '{}'",
                lic["licence_no"].as_str().expect("no")
            ))
            .await;
        assert_eq!(i64::from(rounds) + 1, attempts);
    }
}

both!(items_without_a_licence_section_and_denied_cases_issue_none);
async fn items_without_a_licence_section_and_denied_cases_issue_none(t: TestApp) {
    let citizen = t.login("citizen").await;
    let clerk = t.login("clerk").await;
    // TEST-ANY has no licence section.
    let no = citizen.submitted("TEST-ANY").await;
    clerk
        .act(&no, json!({"action": "accept", "opinion": "予以受理"}))
        .await;
    let reviewer = t.login("reviewer").await;
    let (s, b) = reviewer
        .act(
            &no,
            json!({"action": "approve_step", "opinion": "符合条件"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = clerk
        .act(&no, json!({"action": "complete", "opinion": "已办结"}))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = citizen.get(&format!("/api/v1/cases/{no}/licence")).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("LICENCE_NOT_FOUND"))
    );
    // A denied TEST-TWO case.
    let no = citizen.submitted("TEST-TWO").await;
    clerk
        .act(&no, json!({"action": "accept", "opinion": "予以受理"}))
        .await;
    let (s, b) = reviewer
        .act(&no, json!({"action": "deny", "opinion": "不符合法定条件"}))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = clerk
        .act(&no, json!({"action": "complete", "opinion": "已办结"}))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, _) = citizen.get(&format!("/api/v1/cases/{no}/licence")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(t.count("SELECT COUNT(*) FROM licences").await, 0);
    // Without an e-seal service there is no sealer, and nothing is lost.
    assert!(t.app.sealer.is_none());
}

both!(a_seal_code_is_checked_and_only_the_system_administrator_sets_it);
async fn a_seal_code_is_checked_and_only_the_system_administrator_sets_it(t: TestApp) {
    let admin = t.login("sysadmin").await;
    let (s, b) = put_seal(&admin, "ZWB", "1234").await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("SEAL_CODE_INVALID"))
    );
    let (s, b) = put_seal(&admin, "NOPE", "37020000000011").await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("DEPARTMENT_NOT_FOUND"))
    );
    let clerk = t.login("clerk").await;
    let (s, _) = put_seal(&clerk, "ZWB", "37020000000011").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = put_seal(&admin, "ZWB", "37020000000099").await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        t.count(
            "SELECT COUNT(*) FROM departments WHERE code = 'ZWB' AND seal_code = '37020000000099'"
        )
        .await,
        1
    );
}
