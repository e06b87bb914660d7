//! The audit trail: who may read it, export, and tamper evidence (SM3 chain,
//! anchors, append-only table) on both backends.

use reqwest::StatusCode;
use serde_json::json;
use sqlx::Executor;
use zt_store::Backend;

use crate::both;
use crate::harness::TestApp;

async fn exec(t: &TestApp, sql: &str) -> Result<u64, String> {
    let mut c = t.app.db.writer().acquire().await.unwrap();
    c.execute(sql)
        .await
        .map(|r| r.rows_affected())
        .map_err(|e| e.to_string())
}

/// What an attacker with direct database access does first.
async fn drop_protection(t: &TestApp) {
    match t.backend {
        Backend::Sqlite => {
            exec(t, "DROP TRIGGER audit_records_no_update")
                .await
                .unwrap();
            exec(t, "DROP TRIGGER audit_records_no_delete")
                .await
                .unwrap();
        }
        Backend::Postgres => {
            exec(t, "ALTER TABLE audit_records DISABLE TRIGGER USER")
                .await
                .unwrap();
        }
    }
}

async fn verify(t: &TestApp) -> serde_json::Value {
    let auditor = t.login("auditor").await;
    let (s, v) = auditor.get("/api/v1/audit/verify").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

both!(audit_trail_is_for_the_auditor_and_exports_are_audited);
async fn audit_trail_is_for_the_auditor_and_exports_are_audited(t: TestApp) {
    let citizen = t.login("citizen").await;
    let no = citizen.submitted("TEST-TWO").await;
    let _ = t
        .anon()
        .post(
            "/api/v1/session",
            &json!({"username": "citizen", "password": "wrong"}),
        )
        .await;

    for who in ["citizen", "clerk", "sysadmin", "secadmin"] {
        let s = t.login(who).await;
        for path in [
            "/api/v1/audit",
            "/api/v1/audit/export",
            "/api/v1/audit/verify",
        ] {
            let (st, b) = s.get(path).await;
            assert_eq!(st, StatusCode::FORBIDDEN, "{who} {path}: {b}");
        }
    }
    let auditor = t.login("auditor").await;
    let (s, b) = auditor
        .get("/api/v1/audit?action=login&result=failure")
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let recs = b["records"].as_array().unwrap();
    assert!(!recs.is_empty());
    for r in recs {
        assert_eq!(
            (r["action"].as_str(), r["result"].as_str()),
            (Some("login"), Some("failure"))
        );
        for k in ["at", "actor_name", "client_addr", "object", "hash"] {
            assert!(r.get(k).is_some_and(|v| !v.is_null()), "{k} in {r}");
        }
    }
    assert_eq!(recs[0]["client_addr"], "127.0.0.1");
    let (_, b) = auditor
        .get(&format!("/api/v1/audit?object=case:{no}"))
        .await;
    let actions: Vec<_> = b["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap().to_string())
        .collect();
    assert!(actions.iter().any(|a| a.contains("submit")), "{actions:?}");
    // Paging backwards and the date filter.
    let (_, all) = auditor.get("/api/v1/audit?limit=3").await;
    let page: Vec<i64> = all["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(page.len(), 3);
    assert!(page.windows(2).all(|w| w[0] > w[1]));
    let (_, next) = auditor
        .get(&format!("/api/v1/audit?limit=3&before_id={}", page[2]))
        .await;
    assert!(next["records"][0]["id"].as_i64().unwrap() < page[2]);
    let (_, none) = auditor.get("/api/v1/audit?from=2030-01-01").await;
    assert_eq!(none["records"].as_array().unwrap().len(), 0);
    let (s, b) = auditor.get("/api/v1/audit?from=2025-13-01").await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("DATE_INVALID"))
    );
    let (s, b) = auditor.get("/api/v1/audit?colour=red").await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("QUERY_INVALID"))
    );

    let before = t
        .count("SELECT COUNT(*) FROM audit_records WHERE action = 'audit_export'")
        .await;
    let resp = auditor
        .client
        .get(format!("{}/api/v1/audit/export?action=login", auditor.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    let body = resp.bytes().await.unwrap();
    assert!(body.starts_with("\u{feff}id,time,actor,".as_bytes()));
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(text.lines().count() > 2);
    assert!(
        text.lines().skip(1).all(|l| l.contains(",login,")),
        "{text}"
    );
    let after = t
        .count("SELECT COUNT(*) FROM audit_records WHERE action = 'audit_export'")
        .await;
    assert_eq!(after, before + 1);
    assert_eq!(verify(&t).await["intact"], true);
}

both!(audit_records_are_append_only_in_the_database);
async fn audit_records_are_append_only_in_the_database(t: TestApp) {
    let _ = t.login("citizen").await;
    let e = exec(
        &t,
        "UPDATE audit_records SET result = 'success' WHERE id = 1",
    )
    .await;
    assert!(
        e.as_ref().is_err_and(|m| m.contains("append-only")),
        "{e:?}"
    );
    let e = exec(&t, "DELETE FROM audit_records WHERE id = 1").await;
    assert!(
        e.as_ref().is_err_and(|m| m.contains("append-only")),
        "{e:?}"
    );
    if t.backend == Backend::Postgres {
        let e = exec(&t, "TRUNCATE audit_records").await;
        assert!(
            e.as_ref().is_err_and(|m| m.contains("append-only")),
            "{e:?}"
        );
    }
    assert_eq!(verify(&t).await["intact"], true);
}

both!(an_altered_record_is_found);
async fn an_altered_record_is_found(t: TestApp) {
    let citizen = t.login("citizen").await;
    citizen.submitted("TEST-TWO").await;
    let v = verify(&t).await;
    assert_eq!(v["intact"], true, "{v}");
    let last = v["last_id"].as_i64().unwrap();
    assert!(last > 5);
    drop_protection(&t).await;
    let victim = last / 2;
    exec(
        &t,
        &format!("UPDATE audit_records SET actor_name = 'nobody' WHERE id = {victim}"),
    )
    .await
    .unwrap();
    let v = verify(&t).await;
    assert_eq!(
        (v["intact"].as_bool(), v["broken_at"].as_i64()),
        (Some(false), Some(victim)),
        "{v}"
    );
    assert!(v["problem"].as_str().unwrap().contains("altered"), "{v}");
}

both!(a_deleted_or_reordered_record_is_found);
async fn a_deleted_or_reordered_record_is_found(t: TestApp) {
    let citizen = t.login("citizen").await;
    citizen.submitted("TEST-TWO").await;
    let last = verify(&t).await["last_id"].as_i64().unwrap();
    drop_protection(&t).await;
    // Reorder: two records swap their content (ids stay).
    let (a, b) = (3, 4);
    exec(
        &t,
        &format!("UPDATE audit_records SET id = -1 WHERE id = {a}"),
    )
    .await
    .unwrap();
    exec(
        &t,
        &format!("UPDATE audit_records SET id = {a} WHERE id = {b}"),
    )
    .await
    .unwrap();
    exec(
        &t,
        &format!("UPDATE audit_records SET id = {b} WHERE id = -1"),
    )
    .await
    .unwrap();
    let v = verify(&t).await;
    assert_eq!(
        (v["intact"].as_bool(), v["broken_at"].as_i64()),
        (Some(false), Some(a)),
        "{v}"
    );
    // Put them back, then delete one in the middle.
    exec(
        &t,
        &format!("UPDATE audit_records SET id = -1 WHERE id = {a}"),
    )
    .await
    .unwrap();
    exec(
        &t,
        &format!("UPDATE audit_records SET id = {a} WHERE id = {b}"),
    )
    .await
    .unwrap();
    exec(
        &t,
        &format!("UPDATE audit_records SET id = {b} WHERE id = -1"),
    )
    .await
    .unwrap();
    assert_eq!(verify(&t).await["intact"], true);
    let victim = last - 2;
    exec(
        &t,
        &format!("DELETE FROM audit_records WHERE id = {victim}"),
    )
    .await
    .unwrap();
    let v = verify(&t).await;
    assert_eq!(
        (v["intact"].as_bool(), v["broken_at"].as_i64()),
        (Some(false), Some(victim)),
        "{v}"
    );
    assert!(v["problem"].as_str().unwrap().contains("missing"), "{v}");
}

both!(cutting_the_end_of_the_chain_is_caught_by_the_anchor);
async fn cutting_the_end_of_the_chain_is_caught_by_the_anchor(t: TestApp) {
    let citizen = t.login("citizen").await;
    citizen.submitted("TEST-TWO").await;
    let a = zt_app::audit_trail::anchor(&t.app).await.unwrap().unwrap();
    // The anchor is also outside the database.
    let file = std::fs::read_to_string(t.data_dir.join("audit-anchors.jsonl")).unwrap();
    assert!(file.contains(&a.record_hash));
    drop_protection(&t).await;
    // Delete the last two records and make the head agree: without the
    // anchor this would look like a shorter, intact chain.
    let keep = a.record_id - 2;
    exec(&t, &format!("DELETE FROM audit_records WHERE id > {keep}"))
        .await
        .unwrap();
    let (h,): (String,) = {
        let mut c = t.app.db.reader().acquire().await.unwrap();
        sqlx::query_as(&format!("SELECT hash FROM audit_records WHERE id = {keep}"))
            .fetch_one(&mut *c)
            .await
            .unwrap()
    };
    exec(
        &t,
        &format!("UPDATE audit_head SET last_id = {keep}, last_hash = '{h}'"),
    )
    .await
    .unwrap();
    // Also remove the anchors inside the database: the file still has one.
    exec(&t, "DELETE FROM audit_anchors").await.unwrap();
    let v = zt_app::audit_trail::verify(&t.app).await.unwrap();
    let b = v.first_break.expect("break");
    assert_eq!(b.record_id(), keep + 1, "{b:?}");
}

both!(audit_verify_command_exits_non_zero_on_a_break);
async fn audit_verify_command_exits_non_zero_on_a_break(t: TestApp) {
    let _ = t.login("citizen").await;
    let url = t.db_url.clone();
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_zhengtong"))
            .args(["audit", "verify"])
            .env("ZT_DATABASE_URL", &url)
            .env("ZT_DATA_DIR", &t.data_dir)
            .output()
            .unwrap()
    };
    let ok = run();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("intact"));
    drop_protection(&t).await;
    exec(&t, "UPDATE audit_records SET detail = '{}' WHERE id = 2")
        .await
        .unwrap();
    let bad = run();
    assert_eq!(bad.status.code(), Some(1));
    let out = String::from_utf8_lossy(&bad.stdout);
    assert!(out.contains("BROKEN at record 2"), "{out}");
}

both!(archive_respects_retention_and_keeps_the_chain_verifiable);
async fn archive_respects_retention_and_keeps_the_chain_verifiable(t: TestApp) {
    let _ = t.login("citizen").await; // 2025-09-30
    let out = t.data_dir.join("archive");
    // Six months have not passed: refused.
    let e = zt_app::audit_trail::archive(&t.app, "2025-10-01", &out, 30)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "AUDIT_RETENTION");
    t.set_today("2026-05-01");
    let _ = t.login("citizen").await;
    let before = t.count("SELECT COUNT(*) FROM audit_records").await;
    let o = zt_app::audit_trail::archive(&t.app, "2025-10-01", &out, 30)
        .await
        .unwrap()
        .unwrap();
    assert!(o.removed > 0);
    assert_eq!(o.removed as i64, o.mark.records);
    let left = t.count("SELECT COUNT(*) FROM audit_records").await;
    // The archive run itself is audited.
    assert_eq!(left, before - o.mark.records + 1);
    let text = std::fs::read_to_string(&o.file).unwrap();
    assert_eq!(text.lines().count() as i64, o.mark.records);
    assert_eq!(zt_store::files::sm3_hex(text.as_bytes()), o.mark.file_sm3);
    let v = zt_app::audit_trail::verify(&t.app).await.unwrap();
    assert!(v.first_break.is_none(), "{:?}", v.first_break);
    assert_eq!(v.first_id, Some(o.mark.through_id + 1));
    // Nothing more to archive before that date.
    assert!(zt_app::audit_trail::archive(&t.app, "2025-10-01", &out, 30)
        .await
        .unwrap()
        .is_none());
    // Records after the mark still refuse deletion.
    let e = exec(
        &t,
        &format!(
            "DELETE FROM audit_records WHERE id = {}",
            o.mark.through_id + 1
        ),
    )
    .await;
    assert!(e.is_err());
}

both!(every_refused_request_is_audited_with_its_caller);
async fn every_refused_request_is_audited_with_its_caller(t: TestApp) {
    let citizen = t.login("citizen").await;
    let denied =
        || t.count("SELECT COUNT(*) FROM audit_records WHERE action = 'permission_denied'");
    let before = denied().await;
    let (s, _) = citizen.get("/api/v1/admin/users").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Without the CSRF token.
    let s = citizen
        .client
        .post(format!("{}/api/v1/notifications/read", citizen.base))
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(s, StatusCode::FORBIDDEN);
    // A page refusal too.
    let s = citizen
        .client
        .get(format!("{}/workbench", citizen.base))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(denied().await, before + 3);
    let auditor = t.login("auditor").await;
    let (_, b) = auditor
        .get("/api/v1/audit?action=permission_denied&actor=citizen")
        .await;
    let objects: Vec<&str> = b["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["object"].as_str().unwrap())
        .collect();
    assert!(objects.contains(&"GET /api/v1/admin/users"), "{objects:?}");
    assert!(
        objects.contains(&"POST /api/v1/notifications/read"),
        "{objects:?}"
    );
    assert!(b["records"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["result"] == "denied" && r["client_addr"] == "127.0.0.1"));
    // Success is not a denial.
    assert_eq!(citizen.get("/api/v1/cases").await.0, StatusCode::OK);
    assert_eq!(denied().await, before + 3);
}
