//! Personal information at rest: sealed with SM4-GCM under keys outside the
//! database, found by blind index, resealed online at key rotation.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::json;
use sqlx::Executor;
use zt_app::pii::{self, Pii};
use zt_store::Backend;

use crate::both;
use crate::harness::TestApp;

const ID: &str = "439902198503170025"; // citizen's identity number (demo data)
const MOBILE: &str = "13800138000";
const ADDRESS: &str = "青岚市示范区人民路88号";

/// Every byte the database holds for its tables, as text.
async fn raw_dump(t: &TestApp) -> String {
    match t.backend {
        Backend::Sqlite => {
            let mut c = t.app.db.writer().acquire().await.unwrap();
            c.execute("PRAGMA wal_checkpoint(TRUNCATE)").await.unwrap();
            let path = t.db_url.trim_start_matches("sqlite://");
            let mut bytes = std::fs::read(path).unwrap();
            if let Ok(wal) = std::fs::read(format!("{path}-wal")) {
                bytes.extend(wal);
            }
            String::from_utf8_lossy(&bytes).into_owned()
        }
        Backend::Postgres => {
            let mut c = t.app.db.reader().acquire().await.unwrap();
            let tables: Vec<(String,)> = sqlx::query_as(
                "SELECT table_name::TEXT FROM information_schema.tables WHERE table_schema = 'public'",
            )
            .fetch_all(&mut *c)
            .await
            .unwrap();
            let mut out = String::new();
            for (table,) in tables {
                let rows: Vec<(String,)> =
                    sqlx::query_as(&format!("SELECT t::TEXT FROM {table} t"))
                        .fetch_all(&mut *c)
                        .await
                        .unwrap();
                for (r,) in rows {
                    out.push_str(&r);
                    out.push('\n');
                }
            }
            out
        }
    }
}

both!(raw_rows_hold_no_plaintext_identity_or_mobile_number);
async fn raw_rows_hold_no_plaintext_identity_or_mobile_number(t: TestApp) {
    let citizen = t.login("citizen").await;
    let (s, b) = citizen
        .post(
            "/api/v1/cases",
            &json!({"item_code": "TEST-TWO", "form": {
            "applicant_name": "李明", "phone": MOBILE, "id_number": ID, "note": ADDRESS}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let no = b["case_no"].as_str().unwrap().to_string();
    // The owner reads their own form in full.
    let (_, case) = citizen.get(&format!("/api/v1/cases/{no}")).await;
    assert_eq!(case["form"]["id_number"], ID);
    assert_eq!(case["form"]["phone"], MOBILE);
    let dump = raw_dump(&t).await;
    assert!(dump.len() > 10_000, "the dump has the data: {}", dump.len());
    for plain in [ID, MOBILE, ADDRESS, "13900139000"] {
        assert!(!dump.contains(plain), "{plain} is stored in plaintext");
    }
    // Nor any identity or mobile number of the demo accounts.
    let mut demo = 0;
    for (_, _, _, _, _, idn, mobile, _, _, _) in zhengtong::demo::ACCOUNTS {
        for plain in [idn, mobile].into_iter().flatten() {
            demo += 1;
            assert!(
                !dump.contains(plain),
                "demo value {plain} is stored in plaintext"
            );
        }
    }
    assert!(demo >= 3, "the demo accounts carry numbers to look for");
    assert!(dump.contains("zt1:"), "sealed values are there");
    // The administrators' list shows masked values, decrypted first.
    let sys = t.login("sysadmin").await;
    let (_, users) = sys.get("/api/v1/admin/users").await;
    let me = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "citizen")
        .unwrap()
        .clone();
    assert_eq!(
        (
            me["id_number_masked"].as_str(),
            me["mobile_masked"].as_str()
        ),
        (Some("4399**********0025"), Some("138****8000"))
    );
    // Lookup by identity number goes through the blind index.
    let bidx = t.app.pii.blind_index(pii::BIDX_ID_NUMBER, ID);
    let mut c = t.app.db.reader().acquire().await.unwrap();
    let found = zt_store::users::by_id_number_bidx(&mut c, &bidx)
        .await
        .unwrap();
    assert_eq!(
        found
            .iter()
            .map(|u| u.username.as_str())
            .collect::<Vec<_>>(),
        vec!["citizen"]
    );
}

both!(a_sealed_value_moved_to_another_row_does_not_open);
async fn a_sealed_value_moved_to_another_row_does_not_open(t: TestApp) {
    let a = t.login("citizen").await.draft("TEST-TWO").await;
    let b = t.login("citizen").await.draft("TEST-TWO").await;
    // Someone with database access copies case a's form over case b's.
    let mut c = t.app.db.writer().acquire().await.unwrap();
    c.execute(format!("UPDATE cases SET form = (SELECT form FROM cases WHERE case_no = '{a}') WHERE case_no = '{b}'").as_str()).await.unwrap();
    drop(c);
    let citizen = t.login("citizen").await;
    assert_eq!(
        citizen.get(&format!("/api/v1/cases/{a}")).await.0,
        StatusCode::OK
    );
    let (s, body) = citizen.get(&format!("/api/v1/cases/{b}")).await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    let text = body.to_string();
    assert!(
        !text.contains("cases.form") && !text.contains("zt1:"),
        "no internals in the error: {text}"
    );
}

both!(rotation_reseals_every_value_while_serving);
async fn rotation_reseals_every_value_while_serving(t: TestApp) {
    let citizen = t.login("citizen").await;
    let no = citizen.submitted("TEST-TWO").await;
    // This test's own copy of the keys, so other tests keep theirs.
    let file = t.data_dir.join("rotate.keys");
    std::fs::copy(crate::harness::pii_key_file(), &file).unwrap();
    let serving = Arc::new(Pii::from_file(&file).unwrap());
    let app = t.app.clone().with_pii(serving.clone());
    // A row from before encryption: plaintext and no blind index.
    let mut c = t.app.db.writer().acquire().await.unwrap();
    c.execute(
        "UPDATE users SET mobile = '13900139000', mobile_bidx = NULL WHERE username = 'citizen2'",
    )
    .await
    .unwrap();
    drop(c);
    let operator = Pii::from_file(&file).unwrap();
    operator.rotate("k2").unwrap();
    let rotating = app.clone().with_pii(Arc::new(operator));
    let report = pii::reseal(&rotating).await.unwrap();
    let with_numbers = t
        .count("SELECT COUNT(*) FROM users WHERE id_number IS NOT NULL OR mobile IS NOT NULL")
        .await;
    let cases = t.count("SELECT COUNT(*) FROM cases").await;
    assert_eq!(
        (report.users as i64, report.cases as i64),
        (with_numbers, cases),
        "{report:?}"
    );
    let usage = pii::key_usage(&rotating).await.unwrap();
    assert!(usage.iter().all(|(_, kid, _)| kid == "k2"), "{usage:?}");
    // Idempotent: nothing left to do.
    let again = pii::reseal(&rotating).await.unwrap();
    assert_eq!((again.users, again.cases), (0, 0));
    // The serving instance still has only k1 in memory: it rereads the file.
    let p = zt_app::auth::principal_for(
        &mut t.app.db.reader().acquire().await.unwrap(),
        &zt_store::users::by_username(&mut t.app.db.reader().acquire().await.unwrap(), "citizen")
            .await
            .unwrap()
            .unwrap(),
        None,
    )
    .await
    .unwrap();
    let detail = zt_app::cases::detail(&app, &p, &no).await.unwrap();
    assert_eq!(detail.form["phone"], "13800138000");
    assert_eq!(serving.active_key_id(), "k2");
    let mut c = t.app.db.reader().acquire().await.unwrap();
    let u = zt_store::users::by_username(&mut c, "citizen2")
        .await
        .unwrap()
        .unwrap();
    assert!(u.mobile.as_deref().unwrap().starts_with("zt1:k2:"));
    assert_eq!(
        u.mobile_bidx,
        Some(serving.blind_index(pii::BIDX_MOBILE, "13900139000"))
    );
}

both!(keys_commands_rotate_and_report);
async fn keys_commands_rotate_and_report(t: TestApp) {
    let _ = t.login("citizen").await.submitted("TEST-TWO").await;
    let file = t.data_dir.join("cli.keys");
    std::fs::copy(crate::harness::pii_key_file(), &file).unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_zhengtong"))
            .args(args)
            .env("ZT_DATABASE_URL", &t.db_url)
            .env("ZT_DATA_DIR", &t.data_dir)
            .env("ZT_PII_KEY_FILE", &file)
            .env("ZT_LOG", "warn")
            .output()
            .unwrap()
    };
    let text = |o: &std::process::Output| {
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
    };
    let init = run(&["keys", "init"]);
    assert!(
        !init.status.success(),
        "an existing key file is never overwritten: {}",
        text(&init)
    );
    let status = run(&["keys", "status"]);
    assert!(status.status.success(), "{}", text(&status));
    assert!(
        text(&status).contains("cases.form\tk1\t"),
        "{}",
        text(&status)
    );
    let bad = run(&["keys", "rotate", "--new-key-id", "no spaces"]);
    assert!(!bad.status.success());
    let rot = run(&["keys", "rotate", "--new-key-id", "k2"]);
    assert!(rot.status.success(), "{}", text(&rot));
    assert!(
        text(&rot).contains("every value is under k2"),
        "{}",
        text(&rot)
    );
    let status = text(&run(&["keys", "status"]));
    assert!(
        status.contains("active key: k2") && !status.contains("\tk1\t"),
        "{status}"
    );
    let fresh = t.data_dir.join("new.keys");
    let init = run(&["keys", "init", "--out", fresh.to_str().unwrap()]);
    assert!(init.status.success(), "{}", text(&init));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

both!(staff_see_masked_values_and_each_full_view_is_audited);
async fn staff_see_masked_values_and_each_full_view_is_audited(t: TestApp) {
    let citizen = t.login("citizen").await;
    let (s, b) = citizen
        .post(
            "/api/v1/cases",
            &json!({"item_code": "TEST-TWO", "form": {
            "applicant_name": "李明", "phone": MOBILE, "id_number": ID}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let no = b["case_no"].as_str().unwrap().to_string();
    citizen
        .upload(
            &no,
            "id_copy",
            "id.pdf",
            zhengtong::demo::sample_pdf("id").to_vec(),
        )
        .await;
    citizen
        .post(&format!("/api/v1/cases/{no}/submit"), &json!({}))
        .await;
    let (_, own) = citizen.get(&format!("/api/v1/cases/{no}")).await;
    assert_eq!(
        (
            own["form"]["id_number"].as_str(),
            own["masked_fields"].clone()
        ),
        (Some(ID), json!([]))
    );
    let clerk = t.login("clerk").await;
    let (s, c) = clerk.get(&format!("/api/v1/cases/{no}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(c["form"]["id_number"], "4399**********0025");
    assert_eq!(c["form"]["phone"], "138****8000");
    assert_eq!(c["form"]["applicant_name"], "李明");
    assert_eq!(c["masked_fields"], json!(["phone", "id_number"]));
    let page = clerk
        .client
        .get(format!("{}/workbench/cases/{no}", clerk.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("4399**********0025") && !page.contains(ID),
        "page shows masked values"
    );
    let audits = || t.count("SELECT COUNT(*) FROM audit_records WHERE action = 'pii_view'");
    assert_eq!(audits().await, 0);
    let (s, full) = clerk
        .post(
            &format!("/api/v1/cases/{no}/personal-information"),
            &json!({}),
        )
        .await;
    assert_eq!(
        (s, full["form"]["id_number"].as_str()),
        (StatusCode::OK, Some(ID))
    );
    assert_eq!(audits().await, 1);
    let page = clerk
        .client
        .post(format!(
            "{}/workbench/cases/{no}/personal-information",
            clerk.base
        ))
        .form(&[("csrf_token", clerk.csrf.as_str())])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(ID) && page.contains("已记录审计"), "{page}");
    assert_eq!(audits().await, 2);
    // Staff of another department, applicants and administrators may not.
    for who in ["clerk_scjg", "citizen2", "sysadmin", "auditor"] {
        let s = t.login(who).await;
        let (st, _) = s
            .post(
                &format!("/api/v1/cases/{no}/personal-information"),
                &json!({}),
            )
            .await;
        assert!(
            st == StatusCode::FORBIDDEN || st == StatusCode::NOT_FOUND,
            "{who}: {st}"
        );
    }
    assert_eq!(audits().await, 2);
}
