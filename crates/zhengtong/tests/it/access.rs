//! Who may see and do what.

use reqwest::StatusCode;
use serde_json::json;

use crate::both;
use crate::harness::TestApp;

both!(applicant_cannot_read_anothers_case);
async fn applicant_cannot_read_anothers_case(t: TestApp) {
    let citizen = t.login("citizen").await;
    let other = t.login("citizen2").await;
    let no = citizen.draft("TEST-TWO").await;
    let (s, b) = other.get(&format!("/api/v1/cases/{no}")).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("CASE_NOT_FOUND"))
    );
    // The same answer as for a case that does not exist: numbers cannot be probed.
    let (s2, b2) = other.get("/api/v1/cases/ZT20250930000000999999").await;
    assert_eq!(
        (s2, b2["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("CASE_NOT_FOUND"))
    );
    let (s, _) = other
        .upload(
            &no,
            "id_copy",
            "x.pdf",
            zhengtong::demo::sample_pdf("x").to_vec(),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = other
        .post(&format!("/api/v1/cases/{no}/submit"), &json!({}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, list) = other.get("/api/v1/cases").await;
    assert!(!list["cases"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["case_no"] == no.as_str()));
    // Material downloads are checked the same way.
    let (_, d) = citizen.get(&format!("/api/v1/cases/{no}")).await;
    let mid = d["materials"][0]["id"].as_i64().unwrap();
    let (s, _) = other
        .get(&format!("/api/v1/cases/{no}/materials/{mid}"))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let resp = citizen
        .client
        .get(format!(
            "{}/api/v1/cases/{no}/materials/{mid}",
            citizen.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/pdf");
    assert!(resp.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
}

both!(staff_only_in_their_department_and_role);
async fn staff_only_in_their_department_and_role(t: TestApp) {
    let citizen = t.login("citizen").await;
    let clerk_scjg = t.login("clerk_scjg").await;
    let clerk = t.login("clerk").await;
    let reviewer = t.login("reviewer").await;
    // A case of the root department: the SCJG clerk cannot see or act on it.
    let no = citizen.submitted("TEST-TWO").await;
    let (s, _) = clerk_scjg.get(&format!("/api/v1/cases/{no}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, b) = clerk_scjg.act(&no, json!({"action": "accept"})).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("CASE_NOT_FOUND"))
    );
    // A case of SCJG: both the SCJG clerk and the root clerk serve it.
    let no2 = citizen.submitted("TEST-SCJG").await;
    let (_, l) = clerk_scjg.get("/api/v1/cases?status=submitted").await;
    assert!(l["cases"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["case_no"] == no2.as_str()));
    assert!(!l["cases"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["case_no"] == no.as_str()));
    // Wrong role: a reviewer cannot accept at intake.
    let (s, b) = reviewer.act(&no2, json!({"action": "accept"})).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("CASE_ROLE_NOT_ALLOWED"))
    );
    let (s, _) = clerk_scjg.act(&no2, json!({"action": "accept"})).await;
    assert_eq!(s, StatusCode::OK);
    // Wrong step: the clerk cannot approve a review step.
    let (s, b) = clerk
        .act(&no2, json!({"action": "approve_step", "opinion": "x"}))
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("CASE_ROLE_NOT_ALLOWED"))
    );
    // Drafts are private to the applicant.
    let draft = citizen.draft("TEST-TWO").await;
    let (s, _) = clerk.get(&format!("/api/v1/cases/{draft}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Staff cannot file applications; administrators have no case access.
    let (s, b) = clerk
        .post(
            "/api/v1/cases",
            &json!({"item_code": "TEST-TWO", "form": {}}),
        )
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("APPLICANT_ONLY"))
    );
    let admin = t.login("sysadmin").await;
    let (s, _) = admin.get(&format!("/api/v1/cases/{no2}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, b) = admin.get("/api/v1/cases").await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("ACCESS_DENIED"))
    );
}

both!(sessions_and_csrf);
async fn sessions_and_csrf(t: TestApp) {
    let anon = t.anon();
    let (s, b) = anon.get("/api/v1/cases").await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("AUTH_REQUIRED"))
    );
    let (s, b) = anon
        .post(
            "/api/v1/session",
            &json!({"username": "citizen", "password": "wrong"}),
        )
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("AUTH_INVALID_CREDENTIALS"))
    );
    let (s2, b2) = anon
        .post(
            "/api/v1/session",
            &json!({"username": "nobody", "password": "wrong"}),
        )
        .await;
    assert_eq!(
        (s2, b2["message"].clone()),
        (s, b["message"].clone()),
        "unknown users look the same"
    );

    let mut citizen = t.login("citizen").await;
    let before = t.count("SELECT COUNT(*) FROM cases").await;
    let good = citizen.csrf.clone();
    citizen.csrf = "0".repeat(64);
    let (s, b) = citizen.post("/api/v1/cases", &json!({"item_code": "TEST-TWO", "form": {"applicant_name": "a", "phone": "13800138000"}})).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("CSRF_INVALID"))
    );
    citizen.csrf = String::new();
    let (s, _) = citizen.post("/api/v1/cases", &json!({"item_code": "TEST-TWO", "form": {"applicant_name": "a", "phone": "13800138000"}})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(
        t.count("SELECT COUNT(*) FROM cases").await,
        before,
        "nothing written without CSRF"
    );
    citizen.csrf = good;

    // Idle timeout on the injected clock.
    t.clock.advance(chrono::Duration::minutes(31));
    let (s, b) = citizen.get("/api/v1/session").await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("SESSION_EXPIRED"))
    );

    // Logout ends the session on the server.
    let c2 = t.login("citizen").await;
    let resp = c2
        .client
        .delete(format!("{}/api/v1/session", c2.base))
        .header("x-csrf-token", &c2.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let (s, _) = c2.get("/api/v1/session").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(
        t.count("SELECT COUNT(*) FROM audit_records WHERE action = 'login' AND result = 'failure'")
            .await
            >= 2
    );
}

both!(admin_separation_of_duties);
async fn admin_separation_of_duties(t: TestApp) {
    let sys = t.login("sysadmin").await;
    let auditor = t.login("auditor").await;
    let new_user = json!({"username": "clerk9", "password": "Xy#2026abc", "display_name": "新窗口", "user_type": "staff", "roles": ["clerk"], "dept_code": "ZWB"});
    let (s, _) = auditor.post("/api/v1/admin/users", &new_user).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, b) = sys.post("/api/v1/admin/users", &new_user).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = sys.post("/api/v1/admin/users", &new_user).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::CONFLICT, Some("USERNAME_TAKEN"))
    );
    let mixed = json!({"username": "boss", "password": "Xy#2026abc", "display_name": "x", "user_type": "admin", "roles": ["sysadmin", "auditor"]});
    let (s, b) = sys.post("/api/v1/admin/users", &mixed).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("ROLES_INCOMPATIBLE"))
    );
    let weak = json!({"username": "weak", "password": "password", "display_name": "x", "user_type": "person"});
    let (s, b) = sys.post("/api/v1/admin/users", &weak).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("PASSWORD_WEAK"))
    );
    let (_, list) = sys.get("/api/v1/admin/users").await;
    let citizen = list["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "citizen")
        .unwrap()
        .clone();
    assert_eq!(citizen["id_number_masked"], "4399**********0025");
    assert_eq!(citizen["mobile_masked"], "138****8000");
    assert!(
        !list.to_string().contains("439902198503170025"),
        "no full identity number in listings"
    );
}

both!(lockout_after_repeated_failures);
async fn lockout_after_repeated_failures(t: TestApp) {
    let anon = t.anon();
    let wrong = json!({"username": "citizen", "password": "Wrong@2026"});
    let right = json!({"username": "citizen", "password": crate::harness::PASSWORD});
    for _ in 0..4 {
        assert_eq!(
            anon.post("/api/v1/session", &wrong).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    // A success clears the count.
    assert_eq!(anon.post("/api/v1/session", &right).await.0, StatusCode::OK);
    for _ in 0..4 {
        assert_eq!(
            anon.post("/api/v1/session", &wrong).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        t.count("SELECT COUNT(*) FROM audit_records WHERE action = 'lockout'")
            .await,
        0
    );
    // The fifth consecutive failure locks the account for 15 minutes.
    let (s, fifth) = anon.post("/api/v1/session", &wrong).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(
        t.count("SELECT COUNT(*) FROM audit_records WHERE action = 'lockout'")
            .await,
        1
    );
    let (s, b) = anon.post("/api/v1/session", &right).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("AUTH_INVALID_CREDENTIALS"))
    );
    assert_eq!(
        b["message"], fifth["message"],
        "a locked account answers like a wrong password"
    );
    // Other accounts are not affected.
    t.login("citizen2").await;
    t.clock.advance(chrono::Duration::minutes(14));
    assert_eq!(
        anon.post("/api/v1/session", &right).await.0,
        StatusCode::UNAUTHORIZED
    );
    t.clock.advance(chrono::Duration::minutes(2));
    assert_eq!(anon.post("/api/v1/session", &right).await.0, StatusCode::OK);
}

both!(login_rate_limited_per_address);
async fn login_rate_limited_per_address(t: TestApp) {
    let anon = t.anon();
    let wrong = json!({"username": "nobody", "password": "Wrong@2026"});
    for _ in 0..30 {
        assert_eq!(
            anon.post("/api/v1/session", &wrong).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let (s, b) = anon
        .post(
            "/api/v1/session",
            &json!({"username": "citizen", "password": crate::harness::PASSWORD}),
        )
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("AUTH_RATE_LIMITED")),
        "{b}"
    );
    t.clock.advance(chrono::Duration::seconds(61));
    assert_eq!(
        anon.post(
            "/api/v1/session",
            &json!({"username": "citizen", "password": crate::harness::PASSWORD})
        )
        .await
        .0,
        StatusCode::OK
    );
}

both!(a_role_row_written_behind_the_platforms_back_is_refused);
async fn a_role_row_written_behind_the_platforms_back_is_refused(t: crate::harness::TestApp) {
    use serde_json::json;
    let citizen = t.login("citizen").await;
    assert_eq!(citizen.get("/api/v1/cases").await.0, StatusCode::OK);
    // Someone with database access makes the citizen a clerk as well.
    sqlx::query("INSERT INTO user_roles (user_id, role) SELECT id, 'clerk' FROM users WHERE username = 'citizen'")
        .execute(t.app.db.writer())
        .await
        .unwrap();
    let (s, b) = citizen.get("/api/v1/cases").await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("ROLE_INTEGRITY")),
        "{b}"
    );
    let (s, b) = t
        .anon()
        .post(
            "/api/v1/session",
            &json!({"username": "citizen", "password": crate::harness::PASSWORD}),
        )
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("ROLE_INTEGRITY")),
        "{b}"
    );
    // Copying a valid tag from another account's row does not help either.
    sqlx::query("UPDATE user_roles SET tag = (SELECT r.tag FROM user_roles r JOIN users u ON u.id = r.user_id WHERE u.username = 'clerk' AND r.role = 'clerk') \
                 WHERE role = 'clerk' AND user_id = (SELECT id FROM users WHERE username = 'citizen')")
        .execute(t.app.db.writer())
        .await
        .unwrap();
    let (s, _) = t
        .anon()
        .post(
            "/api/v1/session",
            &json!({"username": "citizen", "password": crate::harness::PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(
        t.count("SELECT COUNT(*) FROM audit_records WHERE action = 'role_integrity_failure'")
            .await
            >= 3
    );
    // The security administrator assigns the roles again through the platform.
    let sec = t.login("secadmin").await;
    let r = sec
        .client
        .put(format!("{}/api/v1/admin/users/citizen/roles", sec.base))
        .header("x-csrf-token", &sec.csrf)
        .json(&json!({"roles": ["applicant"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        t.login("citizen").await.get("/api/v1/cases").await.0,
        StatusCode::OK
    );
}
