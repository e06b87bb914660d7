//! Two-factor authentication: mandatory for administrators, optional for
//! other accounts; one-time codes, recovery codes, lockout, lost devices.

use reqwest::StatusCode;
use serde_json::json;

use crate::both;
use crate::harness::{Session, TestApp, PASSWORD};

async fn password_only(t: &TestApp, username: &str) -> (Session, serde_json::Value) {
    let mut s = t.anon();
    let (st, b) = s
        .post(
            "/api/v1/session",
            &json!({"username": username, "password": PASSWORD}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    s.csrf = b["csrf_token"].as_str().unwrap().to_string();
    (s, b)
}

fn code(secret: &str, t: &TestApp) -> String {
    let now = zt_app::clock::Clock::now(&*t.clock).timestamp();
    zt_otp::code_at(
        &zt_otp::TotpSecret::from_base32(secret).unwrap(),
        now,
        6,
        30,
    )
}

both!(administrators_enrol_then_give_a_one_time_code_at_each_login);
async fn administrators_enrol_then_give_a_one_time_code_at_each_login(t: TestApp) {
    let (s, b) = password_only(&t, "auditor").await;
    assert_eq!(b["restriction"], "second_factor_enrolment");
    let (st, e) = s.get("/api/v1/audit").await;
    assert_eq!(
        (st, e["code"].as_str()),
        (
            StatusCode::FORBIDDEN,
            Some("SECOND_FACTOR_ENROLMENT_REQUIRED")
        )
    );
    // The page shows the QR code rendered by the platform.
    let page = s
        .client
        .get(format!("{}/admin", s.base))
        .send()
        .await
        .unwrap();
    assert!(
        page.url().path().ends_with("/account/second-factor"),
        "{}",
        page.url()
    );
    let (st, en) = s
        .post("/api/v1/me/second-factor/enrolment", &json!({}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{en}");
    let secret = en["secret"].as_str().unwrap().to_string();
    assert!(
        en["qr_svg"].as_str().unwrap().starts_with("<svg")
            && !en["qr_svg"].as_str().unwrap().contains("<script")
    );
    assert!(en["otpauth_uri"]
        .as_str()
        .unwrap()
        .starts_with("otpauth://totp/"));
    let (st, b) = s
        .post(
            "/api/v1/me/second-factor/enrolment/confirm",
            &json!({"code": "000000"}),
        )
        .await;
    assert_eq!(
        (st, b["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("SECOND_FACTOR_INVALID")
        ),
        "{b}"
    );
    let first = code(&secret, &t);
    let (st, rc) = s
        .post(
            "/api/v1/me/second-factor/enrolment/confirm",
            &json!({"code": first}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{rc}");
    let recovery: Vec<String> = rc["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(recovery.len(), 10);
    assert_eq!(s.get("/api/v1/audit").await.0, StatusCode::OK);
    // Nothing of the secret or the codes is stored in clear.
    let stored: Vec<(String,)> = sqlx::query_as("SELECT secret FROM user_totp")
        .fetch_all(t.app.db.reader())
        .await
        .unwrap();
    assert!(stored
        .iter()
        .all(|(v,)| v.starts_with("zt1:") && !v.contains(&secret)));
    let prints: Vec<(String,)> = sqlx::query_as("SELECT fingerprint FROM recovery_codes")
        .fetch_all(t.app.db.reader())
        .await
        .unwrap();
    assert!(prints
        .iter()
        .all(|(f,)| !recovery.iter().any(|c| f.contains(&c.replace('-', "")))));

    // Next login: the password alone opens nothing.
    let (s2, b) = password_only(&t, "auditor").await;
    assert_eq!(b["restriction"], "second_factor");
    let (st, _) = s2.get("/api/v1/audit").await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // The code already used in this time step is refused (one-time).
    let (st, b) = s2
        .post("/api/v1/session/second-factor", &json!({"code": first}))
        .await;
    assert_eq!(
        (st, b["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("SECOND_FACTOR_REPLAYED")
        ),
        "{b}"
    );
    t.clock.advance(chrono::Duration::seconds(30));
    let (st, b) = s2
        .post(
            "/api/v1/session/second-factor",
            &json!({"code": code(&secret, &t)}),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{b}");
    assert_eq!(s2.get("/api/v1/audit").await.0, StatusCode::OK);

    // A recovery code works once.
    let (s3, _) = password_only(&t, "auditor").await;
    let (st, _) = s3
        .post(
            "/api/v1/session/second-factor",
            &json!({"code": recovery[0].to_lowercase()}),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, status) = s3.get("/api/v1/me/second-factor").await;
    assert_eq!(
        (
            status["enrolled"].as_bool(),
            status["required"].as_bool(),
            status["recovery_codes_left"].as_i64()
        ),
        (Some(true), Some(true), Some(9))
    );
    let (s4, _) = password_only(&t, "auditor").await;
    let (st, _) = s4
        .post(
            "/api/v1/session/second-factor",
            &json!({"code": recovery[0]}),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    // Administrators cannot switch it off.
    t.clock.advance(chrono::Duration::seconds(30));
    let (st, b) = s3
        .post(
            "/api/v1/me/second-factor/removal",
            &json!({"code": code(&secret, &t)}),
        )
        .await;
    assert_eq!(
        (st, b["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("SECOND_FACTOR_MANDATORY"))
    );
    let n = t.count("SELECT COUNT(*) FROM audit_records WHERE action IN ('second_factor_enrol', 'second_factor')").await;
    assert!(n >= 4, "{n}");
}

both!(wrong_codes_lock_the_account);
async fn wrong_codes_lock_the_account(t: TestApp) {
    let _ = t.login("secadmin").await; // enrolled by the harness
    let (s, _) = password_only(&t, "secadmin").await;
    for i in 0..4 {
        let (st, b) = s
            .post("/api/v1/session/second-factor", &json!({"code": "000000"}))
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "attempt {i}: {b}");
    }
    let (st, _) = s
        .post("/api/v1/session/second-factor", &json!({"code": "000000"}))
        .await;
    assert_eq!(
        st,
        StatusCode::UNAUTHORIZED,
        "the fifth wrong code locks the account and ends the session"
    );
    let (st, _) = t
        .anon()
        .post(
            "/api/v1/session",
            &json!({"username": "secadmin", "password": PASSWORD}),
        )
        .await;
    assert_eq!(
        st,
        StatusCode::UNAUTHORIZED,
        "locked: even the right password fails"
    );
    assert_eq!(
        t.count("SELECT COUNT(*) FROM audit_records WHERE action = 'lockout'")
            .await,
        1
    );
}

both!(staff_may_enrol_and_a_lost_phone_is_reset_by_the_security_administrator);
async fn staff_may_enrol_and_a_lost_phone_is_reset_by_the_security_administrator(t: TestApp) {
    let clerk = t.login("clerk").await;
    let (_, st) = clerk.get("/api/v1/me/second-factor").await;
    assert_eq!(
        (st["enrolled"].as_bool(), st["required"].as_bool()),
        (Some(false), Some(false))
    );
    let (_, en) = clerk
        .post("/api/v1/me/second-factor/enrolment", &json!({}))
        .await;
    let secret = en["secret"].as_str().unwrap().to_string();
    let (s, _) = clerk
        .post(
            "/api/v1/me/second-factor/enrolment/confirm",
            &json!({"code": code(&secret, &t)}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, b) = password_only(&t, "clerk").await;
    assert_eq!(b["restriction"], "second_factor");
    // Lost phone: the security administrator resets it; the clerk's sessions end.
    let sec = t.login("secadmin").await;
    let (st, _) = sec
        .post("/api/v1/admin/users/clerk/second-factor/reset", &json!({}))
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(
        clerk.get("/api/v1/session").await.0,
        StatusCode::UNAUTHORIZED
    );
    let (_, b) = password_only(&t, "clerk").await;
    assert!(b["restriction"].is_null(), "{b}");
    // Not for administrators, and not by anyone else.
    let (st, b) = sec
        .post(
            "/api/v1/admin/users/auditor/second-factor/reset",
            &json!({}),
        )
        .await;
    assert_eq!(
        (st, b["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("ADMIN_ACCOUNT_SEPARATED"))
    );
    let sys = t.login("sysadmin").await;
    let (st, _) = sys
        .post("/api/v1/admin/users/clerk/second-factor/reset", &json!({}))
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // An administrator's is reset on the host.
    let _ = t.login("auditor").await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_zhengtong"))
        .args(["admin", "reset-second-factor", "--username", "auditor"])
        .env("ZT_DATABASE_URL", &t.db_url)
        .env("ZT_DATA_DIR", &t.data_dir)
        .env("ZT_PII_KEY_FILE", crate::harness::pii_key_file())
        .env("ZT_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, b) = password_only(&t, "auditor").await;
    assert_eq!(b["restriction"], "second_factor_enrolment");
}
