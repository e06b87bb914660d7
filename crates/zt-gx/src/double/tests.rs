//! The client against the double: every look-up, push idempotency, faults,
//! the scheme's refusals (wrong key, replayed nonce, clock skew, forged
//! answers) and reconciliation.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{json, Value};

use super::*;
use crate::gxpt::{
    CaseEvent, Enterprise, EnterpriseStatus, Gender, GxptClient, IdentityCheck, LicenseType,
};
use crate::{GxClient, GxConfig, GxError, RetryPolicy};

struct OffsetClock(chrono::Duration);
impl Clock for OffsetClock {
    fn now(&self) -> DateTime<Utc> {
        SystemClock.now() + self.0
    }
}

fn fast_retry(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
    }
}

fn config(d: &GxptDouble, creds: Credentials, retry: RetryPolicy) -> GxConfig {
    let mut cfg = GxConfig::new(d.base_url(), creds);
    cfg.retry = retry;
    cfg.request_timeout = Duration::from_secs(2);
    cfg.call_timeout = Duration::from_secs(20);
    cfg
}

fn client_with(d: &GxptDouble, creds: Credentials, retry: RetryPolicy) -> GxptClient {
    GxptClient::new(GxClient::new(config(d, creds, retry), Arc::new(SystemClock)).unwrap())
}

fn client(d: &GxptDouble, retry: RetryPolicy) -> GxptClient {
    client_with(d, Credentials::sandbox_default(), retry)
}

fn event(case_no: &str, seq: u32, at: &str, payload: Value) -> CaseEvent {
    CaseEvent {
        case_no: case_no.into(),
        seq,
        event: crate::gxpt::CaseEventKind::Submitted,
        occurred_at: at.into(),
        item_code: "11360400MB1C2740XK001".into(),
        dept_code: "JZ-XZSP".into(),
        applicant_id: "110105198506150110".into(),
        payload: payload.as_object().cloned().unwrap(),
    }
}

/// 91110108 + organisation code 12345678-8 + the right check character.
fn unregistered_uscc() -> String {
    "0123456789ABCDEFGHJKLMNPQRTUWXY"
        .chars()
        .map(|c| format!("91110108123456788{c}"))
        .find(|s| validate::is_valid_uscc(s))
        .unwrap()
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

// ---- look-ups ----------------------------------------------------------------

#[tokio::test]
async fn identity_of_the_fixed_persons() {
    let d = GxptDouble::start().await.unwrap();
    let c = client(&d, RetryPolicy::none());
    for r in refdata::PERSONS {
        let want = if r.8 {
            IdentityCheck::Match
        } else {
            IdentityCheck::Deceased
        };
        assert_eq!(c.check_identity(r.1, r.2).await.unwrap(), want, "{}", r.0);
        assert!(c.verify_person(r.1, r.2).await.unwrap(), "{}", r.0);
    }
    // P01's number with P02's name; P10 is another 张伟.
    assert_eq!(
        c.check_identity("110105198506150110", "王芳")
            .await
            .unwrap(),
        IdentityCheck::NameMismatch
    );
    assert_eq!(
        c.check_identity("370202196210010114", "张伟")
            .await
            .unwrap(),
        IdentityCheck::Match
    );
    // A well-formed, unregistered number (check digit computed).
    assert_eq!(
        c.check_identity("11010519491231002X", "张伟")
            .await
            .unwrap(),
        IdentityCheck::NotRegistered
    );
    // Names are compared exactly.
    assert_eq!(
        c.check_identity("650102200002290124", "阿依古丽•买买提")
            .await
            .unwrap(),
        IdentityCheck::NameMismatch
    );
    // A malformed number is a 400, not "no match".
    let e = c
        .verify_person("110105198506150111", "张伟")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("GX_BAD_PARAM"));
    assert!(!e.is_retryable());
}

#[tokio::test]
async fn person_query_fields() {
    let d = GxptDouble::start().await.unwrap();
    let c = client(&d, RetryPolicy::none());
    let p = c.query_person("650102200002290124").await.unwrap().unwrap();
    assert_eq!(p.name, "阿依古丽·买买提");
    assert_eq!(p.gender, Gender::Female);
    assert_eq!(p.birth_date, date(2000, 2, 29));
    assert_eq!(p.ethnicity, "维吾尔族");
    assert_eq!(p.division_code, "650102");
    assert!(p.alive);
    let p4 = c.query_person("420106194001010113").await.unwrap().unwrap();
    assert!(!p4.alive);
    assert_eq!(c.query_person("11010519491231002X").await.unwrap(), None);
}

#[tokio::test]
async fn enterprises_and_licences() {
    let d = GxptDouble::start().await.unwrap();
    let c = client(&d, RetryPolicy::none());
    let e5: Enterprise = c
        .query_enterprise("91330106MA2H0K3BXT")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e5.registered_capital_cny, 3_000_000_000);
    assert_eq!(e5.status, EnterpriseStatus::Active);
    let e2 = c
        .query_enterprise("913101157805234266")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e2.status, EnterpriseStatus::Deregistered);
    let e3 = c
        .query_enterprise("91440104MA59C2K7XF")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e3.status, EnterpriseStatus::Revoked);
    // Valid but unregistered (organisation code 12345678-8) → None.
    let fake = unregistered_uscc();
    assert!(validate::is_valid_uscc(&fake));
    assert_eq!(c.query_enterprise(&fake).await.unwrap(), None);
    let e = c.query_enterprise("91110108MA01D7K64K").await.unwrap_err();
    assert_eq!(e.code(), Some("GX_BAD_PARAM"));

    let all = c.query_licenses("320106198809090122", None).await.unwrap();
    assert_eq!(all.len(), 4);
    let order: Vec<_> = all.iter().map(|l| l.issued_date).collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted);
    let dl = c
        .query_licenses("33010619781123038X", Some(LicenseType::DrivingLicence))
        .await
        .unwrap();
    assert_eq!(dl.len(), 1);
    assert_eq!(dl[0].valid_until, Some(date(2024, 7, 1)));
    assert!(!dl[0].is_valid_on(date(2025, 6, 30)));
    assert!(c
        .query_licenses("510107197504180116", None)
        .await
        .unwrap()
        .is_empty());
    let bl = c.query_licenses("913101157805234266", None).await.unwrap();
    assert_eq!(bl[0].license_type, LicenseType::BusinessLicence);
    assert_eq!(bl[0].license_no, "913101157805234266");
    // An unknown licence type, through the generic call.
    let e = c
        .gx()
        .call::<_, Value>(
            paths::LICENSES_QUERY,
            &json!({"holder_id": "320106198809090122", "license_type": "护照"}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("GX_BAD_PARAM"));
    // Unknown members are refused.
    let e = c
        .gx()
        .call::<_, Value>(
            paths::POPULATION_QUERY,
            &json!({"id_number": "110105198506150110", "idnumber": "x"}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("GX_BAD_PARAM"));
}

// ---- pushes ------------------------------------------------------------------

#[tokio::test]
async fn push_is_idempotent_and_conflicts_are_not_retried() {
    let d = GxptDouble::start().await.unwrap();
    let c = client(&d, fast_retry(4));
    let e = event(
        "ZT20250303000001",
        1,
        "2025-03-03T09:30:00+08:00",
        json!({"note": "首次申请\n含换行", "materials": [{"name": "身份证复印件", "pages": 2}]}),
    );
    let r1 = c.push_case_event(&e).await.unwrap();
    assert!(r1.receipt_id.starts_with("GXR"));
    let r2 = c.push_case_event(&e).await.unwrap();
    assert_eq!(r1, r2);
    assert_eq!(d.received().len(), 1);
    assert_eq!(d.received()[0].content_sm3, e.content_sm3());

    let before = d.counters().requests;
    let mut changed = e.clone();
    changed.payload.insert("channel".into(), json!("desk"));
    let err = c.push_case_event(&changed).await.unwrap_err();
    assert!(matches!(err, GxError::Conflict { .. }), "{err:?}");
    assert!(!err.is_retryable());
    assert_eq!(
        d.counters().requests,
        before + 1,
        "a conflict is not retried"
    );
    assert_eq!(d.received().len(), 1);
    assert_eq!(d.received()[0].content_sm3, e.content_sm3());

    // A rule violation is a 400, sent once.
    let before = d.counters().requests;
    let mut bad = e.clone();
    bad.seq = 0;
    let err = c.push_case_event(&bad).await.unwrap_err();
    assert_eq!(err.code(), Some("GX_BAD_PARAM"));
    assert_eq!(d.counters().requests, before + 1);
}

#[tokio::test]
async fn lost_acknowledgement_then_retry_gets_the_same_receipt() {
    let d = GxptDouble::start().await.unwrap();
    let e = event("ZT-LOST-1", 1, "2025-03-05T09:00:00+08:00", json!({}));

    // Without retries the client sees a failure although the push is stored.
    d.inject([Fault::LostAck]);
    let err = client(&d, RetryPolicy::none())
        .push_case_event(&e)
        .await
        .unwrap_err();
    assert!(matches!(err, GxError::Connection(_)), "{err:?}");
    assert!(err.is_retryable() && err.outcome_unknown());
    let stored = d.received();
    assert_eq!(stored.len(), 1);

    // The retry (here: the caller's) is answered with the stored receipt.
    let r = client(&d, RetryPolicy::none())
        .push_case_event(&e)
        .await
        .unwrap();
    assert_eq!(r.receipt_id, stored[0].receipt_id);

    // With the client's own retries the lost answer is invisible.
    let e2 = event("ZT-LOST-1", 2, "2025-03-05T09:10:00+08:00", json!({}));
    d.inject([Fault::LostAck, Fault::LostAck]);
    let r2 = client(&d, fast_retry(4))
        .push_case_event(&e2)
        .await
        .unwrap();
    let stored = d.received();
    assert_eq!(stored.len(), 2);
    assert_eq!(r2.receipt_id, stored[1].receipt_id);
    assert_eq!(d.counters().lost_acks, 3);
}

// ---- faults ------------------------------------------------------------------

#[tokio::test]
async fn every_fault_is_a_retryable_error_and_nothing_is_stored() {
    let d = GxptDouble::start().await.unwrap();
    let mut cfg = config(&d, Credentials::sandbox_default(), RetryPolicy::none());
    cfg.request_timeout = Duration::from_millis(300);
    let c = GxptClient::new(GxClient::new(cfg, Arc::new(SystemClock)).unwrap());
    let e = event("ZT-FAULT-1", 1, "2025-03-05T09:00:00+08:00", json!({}));
    type Expect = fn(&GxError) -> bool;
    let cases: [(Fault, Expect); 7] = [
        (Fault::Unavailable, |e| {
            matches!(e, GxError::Unavailable { .. })
        }),
        (Fault::Internal, |e| matches!(e, GxError::Internal { .. })),
        (Fault::Drop, |e| matches!(e, GxError::Connection(_))),
        (Fault::Hang(Duration::from_secs(2)), |e| {
            matches!(e, GxError::Timeout)
        }),
        (Fault::TamperBody, |e| {
            matches!(e, GxError::SignatureInvalid { status: 200, .. })
        }),
        (Fault::BadSignature, |e| {
            matches!(e, GxError::SignatureInvalid { status: 200, .. })
        }),
        (Fault::Unsigned, |e| {
            matches!(e, GxError::SignatureInvalid { status: 200, .. })
        }),
    ];
    for (fault, expected) in cases {
        d.inject([fault]);
        let err = c
            .verify_person("110105198506150110", "张伟")
            .await
            .unwrap_err();
        assert!(expected(&err), "{fault:?}: {err:?}");
        assert!(err.is_retryable(), "{fault:?}");
    }
    // Faults before processing store nothing; forged answers did store the
    // push (the answer is what was forged).
    for fault in [Fault::Unavailable, Fault::Internal, Fault::Drop] {
        d.inject([fault]);
        assert!(c.push_case_event(&e).await.unwrap_err().is_retryable());
    }
    assert!(d.received().is_empty());
    d.inject([Fault::TamperBody]);
    assert!(matches!(
        c.push_case_event(&e).await.unwrap_err(),
        GxError::SignatureInvalid { .. }
    ));
    assert_eq!(d.received().len(), 1);
}

#[tokio::test]
async fn retries_get_through_faults_with_a_new_nonce_each_time() {
    let d = GxptDouble::start().await.unwrap();
    let c = client(&d, fast_retry(6));
    d.inject([
        Fault::Unavailable,
        Fault::Drop,
        Fault::TamperBody,
        Fault::Internal,
        Fault::Unsigned,
    ]);
    // Six attempts, five faults: the sixth succeeds. Had any attempt reused
    // a nonce, the double would have answered GX_REPLAY.
    assert!(c.verify_person("110105198506150110", "张伟").await.unwrap());
    assert_eq!(d.counters().requests, 6);

    // Out of attempts: the last retryable error is returned.
    d.inject([Fault::Unavailable; 6]);
    let err = c
        .verify_person("110105198506150110", "张伟")
        .await
        .unwrap_err();
    assert!(matches!(err, GxError::Unavailable { .. }), "{err:?}");
}

#[tokio::test]
async fn the_call_time_limit_bounds_all_attempts() {
    let d = GxptDouble::start().await.unwrap();
    let mut cfg = config(&d, Credentials::sandbox_default(), fast_retry(100));
    cfg.request_timeout = Duration::from_millis(200);
    cfg.call_timeout = Duration::from_millis(700);
    let c = GxptClient::new(GxClient::new(cfg, Arc::new(SystemClock)).unwrap());
    d.set_faults(Faults {
        drop_rate: 1.0,
        hang: Duration::from_secs(5),
        ..Faults::default()
    });
    let t0 = tokio::time::Instant::now();
    let err = c
        .verify_person("110105198506150110", "张伟")
        .await
        .unwrap_err();
    assert!(matches!(err, GxError::Timeout), "{err:?}");
    assert!(
        t0.elapsed() < Duration::from_millis(1500),
        "{:?}",
        t0.elapsed()
    );
    assert!(d.counters().requests <= 4);
}

#[tokio::test]
async fn random_faults_with_retries_lose_nothing_and_duplicate_nothing() {
    let d = GxptDouble::start().await.unwrap();
    d.set_faults(Faults {
        error_rate: 0.2,
        drop_rate: 0.1,
        hang: Duration::ZERO,
        lost_ack_rate: 0.2,
        seed: Some(32905),
        ..Faults::default()
    });
    let c = client(&d, fast_retry(12));
    let day = date(2025, 3, 6);
    let mut pushed = Vec::new();
    for case in 1..=5 {
        for seq in 1..=6 {
            let e = event(
                &format!("ZT2025030600000{case}"),
                seq,
                &format!("2025-03-06T{:02}:{:02}:00+08:00", 8 + case, seq * 5),
                json!({"operator": "窗口01", "seq": seq}),
            );
            c.push_case_event(&e).await.unwrap();
            pushed.push(e);
        }
    }
    let counters = d.counters();
    assert!(
        counters.errors > 0 && counters.drops > 0 && counters.lost_acks > 0,
        "{counters:?}"
    );
    assert_eq!(d.received().len(), pushed.len());
    let out = c.reconcile_day(day, &pushed).await.unwrap();
    assert!(out.is_consistent(), "{out:?}");
    assert_eq!(out.platform.count, 30);
    d.set_faults(Faults::default());
}

// ---- the scheme's refusals -------------------------------------------------------

#[tokio::test]
async fn wrong_key_is_refused() {
    let d = GxptDouble::start().await.unwrap();
    // Wrong app secret: GX_BAD_SIGNATURE, signed with the right secret,
    // which this client does not have — so it cannot verify the answer.
    let wrong_secret = Credentials::new(
        "zt-sandbox-app",
        "not-the-secret",
        "8f3a1c5e7b9d2f4a6c8e0b1d3f5a7c9e",
    )
    .unwrap();
    let err = client_with(&d, wrong_secret, RetryPolicy::none())
        .verify_person("110105198506150110", "张伟")
        .await
        .unwrap_err();
    assert_eq!(
        err,
        GxError::SignatureInvalid {
            status: 401,
            claimed_code: Some("GX_BAD_SIGNATURE".into())
        }
    );
    // Wrong data key: the signature is right, the envelope is not.
    let wrong_data_key = Credentials::new(
        "zt-sandbox-app",
        "zt-sandbox-secret-2025",
        "00000000000000000000000000000000",
    )
    .unwrap();
    let err = client_with(&d, wrong_data_key, RetryPolicy::none())
        .verify_person("110105198506150110", "张伟")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("GX_BAD_ENVELOPE"));
    assert!(!err.is_retryable());
    // Unknown app key: unsigned 401, which is never trusted.
    let unknown = Credentials::new(
        "no-such-app",
        "zt-sandbox-secret-2025",
        "8f3a1c5e7b9d2f4a6c8e0b1d3f5a7c9e",
    )
    .unwrap();
    let err = client_with(&d, unknown, fast_retry(2))
        .verify_person("110105198506150110", "张伟")
        .await
        .unwrap_err();
    assert_eq!(
        err,
        GxError::SignatureInvalid {
            status: 401,
            claimed_code: Some("GX_APP_UNKNOWN".into())
        }
    );
    // Only the wrong-data-key request got past authentication (check 9).
    assert_eq!(d.counters().requests, 1);
}

#[tokio::test]
async fn a_second_app_has_its_own_secret_and_its_own_pushes() {
    let other = Credentials::new(
        "zt-other",
        "other:secret",
        "00112233445566778899aabbccddeeff",
    )
    .unwrap();
    let d = GxptDouble::start_with(DoubleOptions {
        apps: vec![Credentials::sandbox_default(), other.clone()],
        clock: Arc::new(SystemClock),
    })
    .await
    .unwrap();
    let a = client(&d, RetryPolicy::none());
    let b = client_with(&d, other, RetryPolicy::none());
    let e = event("ZT-APPS-1", 1, "2025-03-07T09:00:00+08:00", json!({}));
    let ra = a.push_case_event(&e).await.unwrap();
    let mut e_b = e.clone();
    e_b.payload.insert("x".into(), json!(1));
    // Same (case_no, seq) for another app is no conflict.
    let rb = b.push_case_event(&e_b).await.unwrap();
    assert_ne!(ra, rb);
    let day = date(2025, 3, 7);
    assert!(a.reconcile_day(day, &[e]).await.unwrap().is_consistent());
    assert!(b.reconcile_day(day, &[e_b]).await.unwrap().is_consistent());
}

/// Sends one hand-signed request and returns (status, code, signature ok).
async fn raw(
    d: &GxptDouble,
    creds: &Credentials,
    target: &str,
    ts_ms: i64,
    nonce: &str,
    plaintext: &[u8],
) -> (u16, Option<String>, bool) {
    let body = scheme::seal_envelope(creds, plaintext);
    let h = scheme::sign_request(creds, "POST", target, ts_ms, nonce, &body).unwrap();
    let mut req = reqwest::Client::new()
        .post(format!("{}{target}", d.base_url()))
        .header("content-type", scheme::CONTENT_TYPE_JSON)
        .body(body);
    for (k, v) in h.pairs() {
        req = req.header(k, v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let hdr = |n: &str| {
        resp.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (ts, rn, sig) = (
        hdr(scheme::HEADER_TIMESTAMP),
        hdr(scheme::HEADER_NONCE),
        hdr(scheme::HEADER_SIGNATURE),
    );
    let bytes = resp.bytes().await.unwrap();
    let ok = scheme::verify_response(
        creds,
        status,
        nonce,
        scheme::ResponseAuth {
            timestamp: ts.as_deref(),
            nonce: rn.as_deref(),
            signature: sig.as_deref(),
        },
        &bytes,
    )
    .is_ok();
    let code = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| v.get("code").and_then(Value::as_str).map(str::to_owned));
    (status, code, ok)
}

#[tokio::test]
async fn replayed_nonce_is_refused() {
    let d = GxptDouble::start().await.unwrap();
    let c = Credentials::sandbox_default();
    let p = r#"{"id_number":"110105198506150110","name":"张伟"}"#.as_bytes();
    let now = crate::now_ms(&SystemClock);
    let nonce = scheme::new_nonce();
    let first = raw(&d, &c, paths::POPULATION_VERIFY, now, &nonce, p).await;
    assert_eq!(first, (200, None, true));
    // Same nonce, new body and timestamp: still a replay, and the refusal
    // is signed.
    let again = raw(&d, &c, paths::POPULATION_VERIFY, now + 5, &nonce, p).await;
    assert_eq!(again, (401, Some("GX_REPLAY".into()), true));
    // A different nonce is fine; a 16-character one too.
    let other = raw(&d, &c, paths::POPULATION_VERIFY, now, "a1B2c3D4e5F6g7H8", p).await;
    assert_eq!(other, (200, None, true));
    // Malformed nonce.
    let short = raw(&d, &c, paths::POPULATION_VERIFY, now, "short", p).await;
    assert_eq!(short, (401, Some("GX_AUTH_HEADER".into()), true));
    // The query string is part of the signed target.
    let q = raw(
        &d,
        &c,
        "/gx/v1/population/verify?trace=abc%20def",
        now,
        &scheme::new_nonce(),
        p,
    )
    .await;
    assert_eq!(q, (200, None, true));
    // Not a business endpoint.
    let nr = raw(&d, &c, "/gx/v1/no/such", now, &scheme::new_nonce(), p).await;
    assert_eq!(nr, (404, Some("GX_NO_ROUTE".into()), true));
}

#[tokio::test]
async fn clock_skew_beyond_300_seconds_is_refused() {
    let c = Credentials::sandbox_default();
    let p = r#"{"id_number":"110105198506150110","name":"张伟"}"#.as_bytes();
    let d = GxptDouble::start().await.unwrap();
    let now = crate::now_ms(&SystemClock);
    let stale = raw(
        &d,
        &c,
        paths::POPULATION_VERIFY,
        now - 301_000,
        &scheme::new_nonce(),
        p,
    )
    .await;
    assert_eq!(stale, (401, Some("GX_STALE".into()), true));
    let ahead = raw(
        &d,
        &c,
        paths::POPULATION_VERIFY,
        now + 301_000,
        &scheme::new_nonce(),
        p,
    )
    .await;
    assert_eq!(ahead, (401, Some("GX_STALE".into()), true));
    let ok = raw(
        &d,
        &c,
        paths::POPULATION_VERIFY,
        now - 250_000,
        &scheme::new_nonce(),
        p,
    )
    .await;
    assert_eq!(ok, (200, None, true));

    // Through the client: the platform's clock 301 s ahead of ours.
    let ahead = GxptDouble::start_with(DoubleOptions {
        clock: Arc::new(OffsetClock(chrono::Duration::seconds(301))),
        ..DoubleOptions::default()
    })
    .await
    .unwrap();
    let err = client(&ahead, fast_retry(3))
        .verify_person("110105198506150110", "张伟")
        .await
        .unwrap_err();
    let GxError::Stale {
        server_time_ms: Some(server),
    } = err
    else {
        panic!("{err:?}")
    };
    assert!((server - crate::now_ms(&SystemClock) - 301_000).abs() < 5_000);
    assert!(!err.is_retryable());
    assert_eq!(ahead.counters().requests, 0, "refused before check 9");

    // 200 s ahead is accepted.
    let near = GxptDouble::start_with(DoubleOptions {
        clock: Arc::new(OffsetClock(chrono::Duration::seconds(-200))),
        ..DoubleOptions::default()
    })
    .await
    .unwrap();
    assert!(client(&near, RetryPolicy::none())
        .verify_person("110105198506150110", "张伟")
        .await
        .unwrap());
}

#[tokio::test]
async fn many_concurrent_calls_all_verify() {
    let d = GxptDouble::start().await.unwrap();
    let c = client(&d, RetryPolicy::none());
    let mut set = tokio::task::JoinSet::new();
    for i in 0..64 {
        let c = c.clone();
        set.spawn(async move {
            let r = refdata::PERSONS[i % 10];
            c.verify_person(r.1, r.2).await
        });
    }
    while let Some(r) = set.join_next().await {
        assert!(r.unwrap().unwrap());
    }
    assert_eq!(d.counters().requests, 64);
}

// ---- reconciliation ----------------------------------------------------------------

#[tokio::test]
async fn reconcile_reproduces_the_spec_and_finds_differences() {
    let d = GxptDouble::start().await.unwrap();
    let c = client(&d, fast_retry(3));
    let spec = crate::gxpt::spec_events();
    for e in &spec {
        c.push_case_event(e).await.unwrap();
    }
    let day = date(2025, 1, 2);
    let r = c.reconcile(day, true).await.unwrap();
    assert_eq!(r.count, 3);
    assert_eq!(
        r.digest,
        "01646257ab01d20e190e28f3b380fd23650d4bf3578d36ff2e064ee8b1a5e5cc"
    );
    let seqs: Vec<u32> = r.entries.unwrap().iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [10, 1, 2]);
    assert!(c.reconcile_day(day, &spec).await.unwrap().is_consistent());
    // 2025-01-01 is empty: seq 2's 17:15Z is 01:15 on the 2nd in +08:00.
    let empty = c.reconcile(date(2025, 1, 1), false).await.unwrap();
    assert_eq!(empty.count, 0);
    assert_eq!(empty.digest, scheme::SM3_EMPTY_HEX);

    // An event the platform thinks it pushed but that never arrived.
    let mut local = spec.clone();
    let missing = event(
        "ZT20250102000002",
        1,
        "2025-01-02T12:00:00+08:00",
        json!({}),
    );
    local.push(missing.clone());
    let out = c.reconcile_day(day, &local).await.unwrap();
    assert!(!out.is_consistent());
    let diff = out.diff.unwrap();
    assert_eq!(diff.missing_on_platform, [missing.entry()]);
    assert!(diff.unexpected_on_platform.is_empty() && diff.conflicting.is_empty());
    // Re-push, and the day is consistent.
    c.push_case_event(&missing).await.unwrap();
    assert!(c.reconcile_day(day, &local).await.unwrap().is_consistent());

    // A local record that differs from the stored one is reported.
    let mut changed = spec.clone();
    changed[1]
        .payload
        .insert("note".into(), json!("另一个说明"));
    let out = c.reconcile_day(day, &changed[..]).await.unwrap();
    let diff = out.diff.unwrap();
    assert_eq!(diff.conflicting.len(), 1);
    assert_eq!(diff.conflicting[0].0.seq, 10);
    assert_eq!(diff.unexpected_on_platform, [missing.entry()]);

    let e = c
        .gx()
        .call::<_, Value>(paths::CASES_RECONCILE, &json!({"date": "2025-1-2"}))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("GX_BAD_PARAM"));
}

// ---- circuit breaker -------------------------------------------------------------

struct StepClock(std::sync::Mutex<DateTime<Utc>>);

impl Clock for StepClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

impl StepClock {
    fn advance(&self, secs: i64) {
        *self.0.lock().unwrap() += chrono::Duration::seconds(secs);
    }
}

fn breaker_on(clock: &Arc<StepClock>, threshold: u32) -> Arc<zt_domain::breaker::Breaker> {
    Arc::new(zt_domain::breaker::Breaker::new(
        "gxpt",
        zt_domain::breaker::Policy {
            failure_threshold: threshold,
            cool_down: chrono::Duration::seconds(30),
        },
        clock.clone(),
    ))
}

#[tokio::test]
async fn an_open_breaker_fails_fast_without_a_request_and_a_probe_closes_it() {
    use zt_domain::breaker::State;
    let d = GxptDouble::start().await.unwrap();
    let clock = Arc::new(StepClock(std::sync::Mutex::new(SystemClock.now())));
    let breaker = breaker_on(&clock, 3);
    let gx = |retry| {
        GxptClient::new(
            GxClient::new(
                config(&d, Credentials::sandbox_default(), retry),
                Arc::new(SystemClock),
            )
            .unwrap()
            .with_breaker(breaker.clone()),
        )
    };
    // The outbox's client and the verifier's: one counterpart, one breaker.
    let push = gx(fast_retry(3));
    let verify = gx(fast_retry(3));
    let e = event("ZT-BREAKER-1", 1, "2025-03-05T09:00:00+08:00", json!({}));

    d.set_faults(Faults {
        error_rate: 1.0,
        ..Default::default()
    });
    for _ in 0..3 {
        let err = push.push_case_event(&e).await.unwrap_err();
        assert!(matches!(err, GxError::Unavailable { .. }), "{err:?}");
    }
    assert_eq!(d.counters().requests, 9, "three calls of three attempts");
    assert_eq!(breaker.state(), State::Open);

    let started = std::time::Instant::now();
    let err = verify
        .check_identity("110105198506150110", "张伟")
        .await
        .unwrap_err();
    assert!(matches!(err, GxError::CircuitOpen { .. }), "{err:?}");
    assert!(err.is_retryable() && !err.outcome_unknown());
    assert!(started.elapsed() < Duration::from_secs(1));
    let err = push.push_case_event(&e).await.unwrap_err();
    assert!(matches!(err, GxError::CircuitOpen { .. }), "{err:?}");
    assert_eq!(d.counters().requests, 9, "nothing is sent while open");
    assert_eq!(breaker.snapshot().rejected, 2);

    // After the cool-down one probe goes out, in a single attempt; it fails
    // and the breaker opens for another cool-down.
    clock.advance(30);
    let err = push.push_case_event(&e).await.unwrap_err();
    assert!(matches!(err, GxError::Unavailable { .. }), "{err:?}");
    assert_eq!(d.counters().requests, 10);
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(breaker.snapshot().times_opened, 2);

    d.set_faults(Faults::default());
    let err = push.push_case_event(&e).await.unwrap_err();
    assert!(
        matches!(err, GxError::CircuitOpen { .. }),
        "still cooling down"
    );
    clock.advance(30);
    push.push_case_event(&e).await.unwrap();
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(
        verify
            .check_identity("110105198506150110", "张伟")
            .await
            .unwrap(),
        IdentityCheck::Match
    );
    let s = breaker.snapshot();
    assert!(s.last_success_at.is_some() && s.last_failure_at.is_some());
    assert!(s.last_error.unwrap().contains("unavailable"));
}

#[tokio::test]
async fn refusals_and_not_found_never_open_the_breaker_but_no_connection_does() {
    use zt_domain::breaker::State;
    let d = GxptDouble::start().await.unwrap();
    let clock = Arc::new(StepClock(std::sync::Mutex::new(SystemClock.now())));
    let breaker = breaker_on(&clock, 2);
    let wrong_secret = Credentials::new(
        "zt-sandbox-app",
        "not-the-secret",
        "8f3a1c5e7b9d2f4a6c8e0b1d3f5a7c9e",
    )
    .unwrap();
    let refused = GxptClient::new(
        GxClient::new(
            config(&d, wrong_secret, RetryPolicy::none()),
            Arc::new(SystemClock),
        )
        .unwrap()
        .with_breaker(breaker.clone()),
    );
    for _ in 0..4 {
        let err = refused
            .verify_person("110105198506150110", "张伟")
            .await
            .unwrap_err();
        assert!(matches!(err, GxError::SignatureInvalid { status: 401, .. }));
    }
    assert_eq!(breaker.state(), State::Closed);
    assert!(breaker
        .snapshot()
        .last_error
        .unwrap()
        .contains("GX_BAD_SIGNATURE"));

    let ok = GxptClient::new(
        GxClient::new(
            config(&d, Credentials::sandbox_default(), RetryPolicy::none()),
            Arc::new(SystemClock),
        )
        .unwrap()
        .with_breaker(breaker.clone()),
    );
    for _ in 0..3 {
        assert_eq!(
            ok.query_enterprise(&unregistered_uscc()).await.unwrap(),
            None
        );
    }
    assert_eq!(breaker.snapshot().consecutive_failures, 0);

    // A closed port: connection refused counts.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut cfg = GxConfig::new(
        format!("http://127.0.0.1:{port}"),
        Credentials::sandbox_default(),
    );
    cfg.retry = fast_retry(2);
    let down = GxptClient::new(
        GxClient::new(cfg, Arc::new(SystemClock))
            .unwrap()
            .with_breaker(breaker.clone()),
    );
    for _ in 0..2 {
        let err = down
            .verify_person("110105198506150110", "张伟")
            .await
            .unwrap_err();
        assert!(matches!(err, GxError::Connection(_)), "{err:?}");
    }
    assert_eq!(breaker.state(), State::Open);
    // The other client of the counterpart fails fast too.
    let err = ok.query_enterprise(&unregistered_uscc()).await.unwrap_err();
    assert!(matches!(err, GxError::CircuitOpen { .. }), "{err:?}");
}
