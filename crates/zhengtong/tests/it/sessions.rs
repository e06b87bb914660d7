//! Session and password controls (GB/T 22239 身份鉴别): forced and expired
//! password changes, the common-password list, one's sessions and "log out
//! everywhere", new session ids at login and privilege change.

use reqwest::StatusCode;
use serde_json::json;

use crate::both;
use crate::harness::{TestApp, PASSWORD};

async fn set_must_change(t: &TestApp, username: &str) {
    sqlx::query("UPDATE users SET must_change_password = 1 WHERE username = $1")
        .bind(username)
        .execute(t.app.db.writer())
        .await
        .unwrap();
}

both!(a_forced_password_change_comes_before_anything_else);
async fn a_forced_password_change_comes_before_anything_else(t: TestApp) {
    set_must_change(&t, "clerk").await;
    let clerk = t.login("clerk").await;
    let (s, me) = clerk.get("/api/v1/session").await;
    assert_eq!(
        (s, me["restriction"].as_str()),
        (StatusCode::OK, Some("password_change"))
    );
    for path in ["/api/v1/cases", "/api/v1/notifications", "/api/v1/sessions"] {
        let (s, b) = clerk.get(path).await;
        assert_eq!(
            (s, b["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("PASSWORD_CHANGE_REQUIRED")),
            "{path}: {b}"
        );
        assert!(b["message"].as_str().unwrap().contains("密码"));
    }
    // Pages lead to the password form.
    let resp = clerk
        .client
        .get(format!("{}/workbench", clerk.base))
        .send()
        .await
        .unwrap();
    assert!(
        resp.url().path().ends_with("/account/password"),
        "{}",
        resp.url()
    );
    let html = resp.text().await.unwrap();
    assert!(html.contains("请先设置您自己的新密码"), "{html}");
    // A common password is refused, the account stays restricted.
    let (s, b) = clerk
        .post(
            "/api/v1/session/password",
            &json!({"old_password": PASSWORD, "new_password": "Aa123456"}),
        )
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("PASSWORD_WEAK")),
        "{b}"
    );
    let (s, _) = clerk
        .post(
            "/api/v1/session/password",
            &json!({"old_password": PASSWORD, "new_password": "Qinglan#Rain7"}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    // The change ended the session; the new password opens an unrestricted one.
    let (s, _) = clerk.get("/api/v1/session").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let fresh = t.anon();
    let (s, b) = fresh
        .post(
            "/api/v1/session",
            &json!({"username": "clerk", "password": "Qinglan#Rain7"}),
        )
        .await;
    assert_eq!(
        (s, b["restriction"].is_null()),
        (StatusCode::OK, true),
        "{b}"
    );
    let (s, _) = fresh.get("/api/v1/cases").await;
    assert_eq!(s, StatusCode::OK);
}

both!(staff_passwords_expire_applicants_do_not);
async fn staff_passwords_expire_applicants_do_not(t: TestApp) {
    // Passwords were set on 2025-09-01; the default maximum age is 90 days.
    t.set_today("2025-11-28");
    let clerk = t.login("clerk").await;
    assert!(clerk.get("/api/v1/session").await.1["restriction"].is_null());
    t.set_today("2025-12-01");
    let clerk = t.login("clerk").await;
    let (_, me) = clerk.get("/api/v1/session").await;
    assert_eq!(me["restriction"], "password_expired");
    let (s, b) = clerk.get("/api/v1/cases").await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("PASSWORD_CHANGE_REQUIRED"))
    );
    let admin = t.login("auditor").await;
    assert_eq!(
        admin.get("/api/v1/session").await.1["restriction"],
        "password_expired"
    );
    let citizen = t.login("citizen").await;
    assert!(citizen.get("/api/v1/session").await.1["restriction"].is_null());
    let (s, _) = citizen.get("/api/v1/cases").await;
    assert_eq!(s, StatusCode::OK);
}

both!(one_sees_and_ends_ones_own_sessions);
async fn one_sees_and_ends_ones_own_sessions(t: TestApp) {
    let phone = t.login("citizen").await;
    let desk = t.login("citizen").await;
    let other = t.login("citizen2").await;
    let (s, b) = desk.get("/api/v1/sessions").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let list = b["sessions"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{b}");
    assert_eq!(list.iter().filter(|x| x["current"] == true).count(), 1);
    for x in list {
        assert_eq!(x["handle"].as_str().unwrap().len(), 16);
        assert_eq!(x["client_addr"], "127.0.0.1");
    }
    let phone_handle = list.iter().find(|x| x["current"] == false).unwrap()["handle"]
        .as_str()
        .unwrap()
        .to_string();
    // Someone else's handle means nothing to another account.
    let (s, b) = other
        .client
        .delete(format!("{}/api/v1/sessions/{phone_handle}", other.base))
        .header("x-csrf-token", &other.csrf)
        .send()
        .await
        .map(|r| (r.status(), ()))
        .unwrap();
    assert_eq!(s, StatusCode::NOT_FOUND, "{b:?}");
    assert_eq!(phone.get("/api/v1/session").await.0, StatusCode::OK);
    // Without the CSRF token nothing ends.
    let s = desk
        .client
        .delete(format!("{}/api/v1/sessions/{phone_handle}", desk.base))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(s, StatusCode::FORBIDDEN);
    let s = desk
        .client
        .delete(format!("{}/api/v1/sessions/{phone_handle}", desk.base))
        .header("x-csrf-token", &desk.csrf)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        phone.get("/api/v1/session").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(desk.get("/api/v1/session").await.0, StatusCode::OK);
    // Log out everywhere.
    let again = t.login("citizen").await;
    let s = desk
        .client
        .delete(format!("{}/api/v1/sessions", desk.base))
        .header("x-csrf-token", &desk.csrf)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        desk.get("/api/v1/session").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        again.get("/api/v1/session").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(other.get("/api/v1/session").await.0, StatusCode::OK);
    assert!(
        t.count("SELECT COUNT(*) FROM audit_records WHERE action = 'logout_sessions'")
            .await
            >= 2
    );
}

both!(login_issues_a_new_session_and_ends_the_old_one);
async fn login_issues_a_new_session_and_ends_the_old_one(t: TestApp) {
    let s = t.login("citizen").await;
    let count = || {
        t.count("SELECT COUNT(*) FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.username = 'citizen'")
    };
    assert_eq!(count().await, 1);
    let csrf_before = s.csrf.clone();
    let (st, b) = s
        .post(
            "/api/v1/session",
            &json!({"username": "citizen", "password": PASSWORD}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_ne!(b["csrf_token"].as_str().unwrap(), csrf_before);
    assert_eq!(
        count().await,
        1,
        "the session the browser had ended at the new login"
    );
}

both!(a_privilege_change_ends_the_accounts_sessions);
async fn a_privilege_change_ends_the_accounts_sessions(t: TestApp) {
    let reviewer = t.login("reviewer").await;
    let sec = t.login("secadmin").await;
    let sys = t.login("sysadmin").await;
    let put = |s: &crate::harness::Session, path: String, body: serde_json::Value| {
        let req = s
            .client
            .put(format!("{}{path}", s.base))
            .header("x-csrf-token", &s.csrf)
            .json(&body);
        async move {
            let r = req.send().await.unwrap();
            let st = r.status();
            (st, r.json::<serde_json::Value>().await.unwrap_or_default())
        }
    };
    // Only the security administrator assigns roles, within 三权分立.
    let (s, _) = put(
        &sys,
        "/api/v1/admin/users/reviewer/roles".into(),
        json!({"roles": ["reviewer", "approver"]}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, b) = put(
        &sec,
        "/api/v1/admin/users/reviewer/roles".into(),
        json!({"roles": ["reviewer", "auditor"]}),
    )
    .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("ROLES_INCOMPATIBLE"))
    );
    let (s, b) = put(
        &sec,
        "/api/v1/admin/users/reviewer/roles".into(),
        json!({"roles": ["applicant"]}),
    )
    .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("ROLE_TYPE_MISMATCH"))
    );
    let (s, b) = put(
        &sec,
        "/api/v1/admin/users/secadmin/roles".into(),
        json!({"roles": ["sysadmin"]}),
    )
    .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("ROLES_OWN_ACCOUNT"))
    );
    let (s, b) = put(
        &sec,
        "/api/v1/admin/users/nobody/roles".into(),
        json!({"roles": ["clerk"]}),
    )
    .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("USER_NOT_FOUND"))
    );
    assert_eq!(
        reviewer.get("/api/v1/session").await.0,
        StatusCode::OK,
        "refusals change nothing"
    );
    let (s, b) = put(
        &sec,
        "/api/v1/admin/users/reviewer/roles".into(),
        json!({"roles": ["reviewer", "approver"]}),
    )
    .await;
    assert_eq!(
        (s, b["roles"].clone()),
        (StatusCode::OK, json!(["reviewer", "approver"]))
    );
    assert_eq!(
        reviewer.get("/api/v1/session").await.0,
        StatusCode::UNAUTHORIZED
    );
    let reviewer = t.login("reviewer").await;
    let (_, me) = reviewer.get("/api/v1/session").await;
    assert_eq!(me["roles"], json!(["approver", "reviewer"]));
    // Disabling an account ends its sessions too (system administrator).
    let (s, _) = put(
        &sec,
        "/api/v1/admin/users/reviewer/active".into(),
        json!({"active": false}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = put(
        &sys,
        "/api/v1/admin/users/reviewer/active".into(),
        json!({"active": false}),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        reviewer.get("/api/v1/session").await.0,
        StatusCode::UNAUTHORIZED
    );
    let (s, _) = t
        .anon()
        .post(
            "/api/v1/session",
            &json!({"username": "reviewer", "password": PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let n = t
        .count(
            "SELECT COUNT(*) FROM audit_records WHERE action IN ('roles_change', 'user_disable')",
        )
        .await;
    assert_eq!(n, 2);
}

both!(the_system_administrator_cannot_make_or_take_over_administrators);
async fn the_system_administrator_cannot_make_or_take_over_administrators(t: TestApp) {
    let sys = t.login("sysadmin").await;
    let new_admin = json!({"username": "audit2", "password": "Xy#2026abc", "display_name": "审计二", "user_type": "admin", "roles": ["auditor"]});
    let (s, b) = sys.post("/api/v1/admin/users", &new_admin).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("ADMIN_ROLE_SEPARATED")),
        "{b}"
    );
    for target in ["auditor", "secadmin"] {
        let (s, b) = sys
            .post(
                &format!("/api/v1/admin/users/{target}/password"),
                &json!({"password": "Xy#2026abc"}),
            )
            .await;
        assert_eq!(
            (s, b["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("ADMIN_ACCOUNT_SEPARATED")),
            "{b}"
        );
        let r = sys
            .client
            .put(format!("{}/api/v1/admin/users/{target}/active", sys.base))
            .header("x-csrf-token", &sys.csrf)
            .json(&json!({"active": false}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    assert_eq!(
        t.login("auditor").await.get("/api/v1/session").await.0,
        StatusCode::OK
    );
    // An ordinary account, then the security administrator grants the role.
    let plain = json!({"username": "audit2", "password": "Xy#2026abc", "display_name": "审计二", "user_type": "admin", "roles": []});
    let (s, b) = sys.post("/api/v1/admin/users", &plain).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("ROLE_TYPE_MISMATCH")),
        "an admin-type account needs a role: {b}"
    );
}
