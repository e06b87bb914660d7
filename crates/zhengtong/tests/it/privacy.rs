//! Personal-information protection (GB/T 35273-2020): the privacy notice,
//! self-registration with recorded consent, and the applicant's rights — to
//! see and download their data, correct it, and close the account — with
//! the retention pass that anonymises closed accounts.

use reqwest::StatusCode;
use serde_json::{json, Value};
use zt_app::pii;

use crate::both;
use crate::harness::{Session, TestApp, PASSWORD};

const CITIZEN_ID: &str = "439902198503170025";
const CITIZEN2_ID: &str = "439902197901011236";
const CITIZEN2_MOBILE: &str = "13900139000";
const NEW_PASSWORD: &str = "Qinglan#Rain7";

/// A valid identity number of its own for each `n`.
fn id_number(n: u32) -> String {
    let first17 = format!(
        "4399021990{:02}{:02}{:03}",
        1 + n % 12,
        1 + n % 28,
        n % 1000
    );
    let check = zt_domain::ids::id_number_check_char(&first17).unwrap();
    format!("{first17}{check}")
}

fn registration(username: &str, id: &str, mobile: &str) -> Value {
    json!({"username": username, "password": NEW_PASSWORD, "name": "王小明",
           "id_number": id, "mobile": mobile, "consent": true, "notice_version": "v1"})
}

async fn register(t: &TestApp, body: &Value) -> (StatusCode, Value) {
    t.anon().post("/api/v1/registrations", body).await
}

/// Registers `username` and returns its id.
async fn registered(t: &TestApp, username: &str, id: &str, mobile: &str) -> i64 {
    let (s, b) = register(t, &registration(username, id, mobile)).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    b["user_id"].as_i64().unwrap()
}

async fn login_as(t: &TestApp, username: &str, password: &str) -> Session {
    let mut s = t.anon();
    let (st, b) = s
        .post(
            "/api/v1/session",
            &json!({"username": username, "password": password}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "login {username}: {b}");
    s.csrf = b["csrf_token"].as_str().unwrap().to_string();
    s
}

async fn put(s: &Session, path: &str, body: &Value) -> (StatusCode, Value) {
    let resp = s
        .client
        .put(format!("{}{path}", s.base))
        .header("x-csrf-token", &s.csrf)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn text(s: &Session, path: &str) -> (StatusCode, String) {
    let resp = s
        .client
        .get(format!("{}{path}", s.base))
        .send()
        .await
        .unwrap();
    (resp.status(), resp.text().await.unwrap())
}

/// Row counts that a refused registration must leave as they were.
async fn footprint(t: &TestApp) -> [i64; 4] {
    [
        t.count("SELECT COUNT(*) FROM users").await,
        t.count("SELECT COUNT(*) FROM consents").await,
        t.count("SELECT COUNT(*) FROM user_roles").await,
        t.count("SELECT COUNT(*) FROM audit_records").await,
    ]
}

async fn audits(t: &TestApp, action: &str) -> i64 {
    t.count(&format!(
        "SELECT COUNT(*) FROM audit_records WHERE action = '{action}'"
    ))
    .await
}

async fn one_text(t: &TestApp, sql: &str) -> Option<String> {
    let mut c = t.app.db.reader().acquire().await.unwrap();
    let (v,): (Option<String>,) = sqlx::query_as(sql).fetch_one(&mut *c).await.expect(sql);
    v
}

/// The opened form of a case, read straight from its row.
async fn raw_form(t: &TestApp, case_no: &str) -> (String, Value) {
    let sealed = one_text(
        t,
        &format!("SELECT form FROM cases WHERE case_no = '{case_no}'"),
    )
    .await
    .unwrap();
    let plain = t
        .app
        .pii
        .open(&pii::ctx_case_form(case_no), &sealed)
        .unwrap();
    (sealed, serde_json::from_str(&plain).unwrap())
}

both!(registration_requires_explicit_consent_and_records_it);
async fn registration_requires_explicit_consent_and_records_it(t: TestApp) {
    t.set_today("2025-10-09");
    let id = id_number(1);
    let before = footprint(&t).await;
    // Without consent (unticked, or left out): refused, nothing written.
    for body in [
        json!({"username": "wangxm", "password": NEW_PASSWORD, "name": "王小明",
               "id_number": id, "mobile": "13700137000", "consent": false, "notice_version": "v1"}),
        json!({"username": "wangxm", "password": NEW_PASSWORD, "name": "王小明",
               "id_number": id, "mobile": "13700137000"}),
    ] {
        let (s, b) = register(&t, &body).await;
        assert_eq!(
            (s, b["code"].as_str(), b["field"].as_str()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("CONSENT_REQUIRED"),
                Some("consent")
            ),
            "{b}"
        );
        assert!(
            b["message"].as_str().unwrap().contains("同意"),
            "a clear Chinese message: {b}"
        );
    }
    // Consent to another version than the one in force, a weak password, a
    // wrong identity number: refused as well.
    let mut old = registration("wangxm", &id, "13700137000");
    old["notice_version"] = json!("v0");
    let mut weak = registration("wangxm", &id, "13700137000");
    weak["password"] = json!("Aa123456");
    let wrong_check = format!("{}{}", &id[..17], if id.ends_with('0') { '1' } else { '0' });
    let bad_id = registration("wangxm", &wrong_check, "13700137000");
    for (body, code) in [
        (old, "NOTICE_VERSION_OUTDATED"),
        (weak, "PASSWORD_WEAK"),
        (bad_id, "ID_NUMBER_CHECKSUM"),
    ] {
        let (s, b) = register(&t, &body).await;
        assert_eq!(
            (s, b["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(code)),
            "{b}"
        );
    }
    assert_eq!(footprint(&t).await, before, "nothing half-written");

    let (s, b) = register(&t, &registration("wangxm", &id, "13700137000")).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let uid = b["user_id"].as_i64().unwrap();
    assert_eq!(b["real_name_level"], "L1");
    // 10:00 in Beijing on the injected clock.
    assert_eq!(b["consent"]["notice_version"], "v1");
    assert_eq!(b["consent"]["given_at"], "2025-10-09T02:00:00.000Z");
    // The raw rows: the consent, the sealed numbers, the role, the audit.
    assert_eq!(
        t.count(&format!(
            "SELECT COUNT(*) FROM consents WHERE user_id = {uid} AND notice_version = 'v1' \
             AND given_at = '2025-10-09T02:00:00.000Z' AND client_addr = '127.0.0.1' AND withdrawn_at IS NULL"
        ))
        .await,
        1
    );
    assert_eq!(
        t.count(&format!(
            "SELECT COUNT(*) FROM users WHERE id = {uid} AND user_type = 'person' AND real_name_level = 'L1' \
             AND active = 1 AND must_change_password = 0 AND id_number LIKE 'zt1:%' AND mobile LIKE 'zt1:%' \
             AND id_number_bidx = '{}' AND closed_at IS NULL",
            t.app.pii.blind_index(pii::BIDX_ID_NUMBER, &id)
        ))
        .await,
        1
    );
    assert_eq!(
        one_text(
            &t,
            &format!("SELECT role FROM user_roles WHERE user_id = {uid}")
        )
        .await
        .as_deref(),
        Some("applicant")
    );
    let detail = one_text(
        &t,
        &format!(
            "SELECT detail FROM audit_records WHERE action = 'register' AND result = 'success' \
             AND object = 'user:{uid}' AND actor_id = {uid}"
        ),
    )
    .await
    .unwrap();
    assert!(
        detail.contains("v1") && !detail.contains(&id) && !detail.contains("13700137000"),
        "{detail}"
    );
    // The new account signs in and sees its information in full.
    let me = login_as(&t, "wangxm", NEW_PASSWORD).await;
    let (s, info) = me.get("/api/v1/me/personal-information").await;
    assert_eq!(s, StatusCode::OK, "{info}");
    assert_eq!(
        (
            info["id_number"].as_str(),
            info["mobile"].as_str(),
            info["display_name"].as_str()
        ),
        (Some(id.as_str()), Some("13700137000"), Some("王小明"))
    );
    assert_eq!(info["consents"][0]["current"], true);
    assert_eq!(info["consents"][0]["given_at"], "2025-10-09T02:00:00.000Z");
    assert_eq!(info["id_number_editable"], true);
}

both!(the_notice_and_the_registration_page);
async fn the_notice_and_the_registration_page(t: TestApp) {
    let anon = t.anon();
    let (s, n) = anon.get("/api/v1/privacy-notice").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(n["version"], zt_app::privacy::NOTICE_VERSION);
    let retention =
        "办件档案按《政务服务事项档案管理》等规定保存，账号注销后个人信息在保存期满后匿名化";
    assert!(n["text"].as_str().unwrap().contains(retention));
    let (s, page) = text(&anon, "/privacy").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        page.contains("<h1>青岚市政务服务网个人信息保护政策</h1>"),
        "{page}"
    );
    assert!(page.contains(retention) && page.contains("省政务数据共享平台"));
    assert!(page.contains("版本标识：v1"));
    let (s, page) = text(&anon, "/register").await;
    assert_eq!(s, StatusCode::OK);
    let consent = page
        .split("<input id=\"r-consent\"")
        .nth(1)
        .and_then(|r| r.split('>').next())
        .expect("the consent box");
    assert!(
        consent.contains("type=\"checkbox\"") && !consent.contains("checked"),
        "unticked by default: {consent}"
    );
    // Every field has its label; no inline script (the CSP forbids it).
    for id in page
        .split("id=\"r-")
        .skip(1)
        .filter_map(|r| r.split('"').next())
        .filter(|id| !id.ends_with("-help"))
    {
        assert!(
            page.contains(&format!("for=\"r-{id}\"")),
            "no label for {id}"
        );
    }
    assert!(page
        .split("<script")
        .skip(1)
        .all(|s| s.starts_with(" src=")));
    assert!(page.contains("href=\"/privacy\""));
    // The page refuses without consent and writes nothing; with it, the
    // account exists and the login page says so.
    let before = footprint(&t).await;
    let id = id_number(2);
    let form = |consent: bool| {
        let mut f = vec![
            ("username", "pageuser"),
            ("password", NEW_PASSWORD),
            ("password_again", NEW_PASSWORD),
            ("name", "赵页面"),
            ("id_number", id.as_str()),
            ("mobile", "13600136000"),
            ("notice_version", "v1"),
        ];
        if consent {
            f.push(("consent", "yes"));
        }
        f
    };
    let resp = anon
        .client
        .post(format!("{}/register", anon.base))
        .form(&form(false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("请先阅读《个人信息保护政策》") && html.contains("value=\"pageuser\""),
        "{html}"
    );
    assert_eq!(footprint(&t).await, before);
    let resp = anon
        .client
        .post(format!("{}/register", anon.base))
        .form(&form(true))
        .send()
        .await
        .unwrap();
    assert!(resp.url().path().ends_with("/login"), "{}", resp.url());
    assert!(resp.text().await.unwrap().contains("注册成功"));
    let me = login_as(&t, "pageuser", NEW_PASSWORD).await;
    let (_, account) = text(&me, "/account").await;
    assert!(account.contains("href=\"/account/privacy\""), "{account}");
    let (s, privacy) = text(&me, "/account/privacy").await;
    assert_eq!(s, StatusCode::OK);
    assert!(privacy.contains(&id) && privacy.contains("13600136000"));
    assert!(privacy.contains("data-confirm=") && privacy.contains("for=\"d-password\""));
}

both!(an_identity_number_registers_once_and_the_refusal_names_nobody);
async fn an_identity_number_registers_once_and_the_refusal_names_nobody(t: TestApp) {
    let before = footprint(&t).await;
    let (s, b) = register(&t, &registration("another", CITIZEN_ID, "13700137000")).await;
    assert_eq!(
        (s, b["code"].as_str(), b["field"].as_str()),
        (
            StatusCode::CONFLICT,
            Some("ID_NUMBER_REGISTERED"),
            Some("id_number")
        ),
        "{b}"
    );
    let msg = b["message"].as_str().unwrap();
    assert!(
        !b.to_string().contains("citizen") && !msg.contains("李明") && msg.contains("身份号码"),
        "{b}"
    );
    let after = footprint(&t).await;
    assert_eq!(after[..3], before[..3], "no account, consent or role");
    // The attempt is recorded, without the number.
    let detail = one_text(
        &t,
        "SELECT detail FROM audit_records WHERE action = 'register' AND result = 'failure'",
    )
    .await
    .unwrap();
    assert!(
        detail.contains("id_number_registered") && !detail.contains(CITIZEN_ID),
        "{detail}"
    );
    // The same for a number registered online a moment ago, also typed with a lower-case x.
    let first = (1..200).map(id_number).find(|n| n.ends_with('X')).unwrap();
    registered(&t, "first_one", &first, "13700137000").await;
    let (s, b) = register(
        &t,
        &registration("second_one", &first.to_lowercase(), "13700137001"),
    )
    .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::CONFLICT, Some("ID_NUMBER_REGISTERED"))
    );
    assert!(!b.to_string().contains("first_one"), "{b}");
    let (s, b) = register(&t, &registration("first_one", &id_number(3), "13700137002")).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::CONFLICT, Some("USERNAME_TAKEN"))
    );
    let (s, b) = register(
        &t,
        &registration("deleted-99", &id_number(4), "13700137003"),
    )
    .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("USERNAME_RESERVED"))
    );
}

both!(registration_is_rate_limited_per_address);
async fn registration_is_rate_limited_per_address(t: TestApp) {
    let limit = t.app.settings.registration_rate_per_minute;
    let mut refused = registration("ratelimit", &id_number(5), "13700137000");
    refused["consent"] = json!(false);
    for _ in 0..limit {
        let (s, _) = register(&t, &refused).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let good = registration("ratelimit", &id_number(5), "13700137000");
    let (s, b) = register(&t, &good).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (
            StatusCode::TOO_MANY_REQUESTS,
            Some("REGISTRATION_RATE_LIMITED")
        ),
        "{b}"
    );
    assert_eq!(t.count("SELECT COUNT(*) FROM consents").await, 0);
    // Logins keep their own window.
    t.login("citizen").await;
    t.clock.advance(chrono::Duration::seconds(61));
    let (s, b) = register(&t, &good).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
}

both!(the_export_holds_everything_about_the_applicant_and_nothing_of_others);
async fn the_export_holds_everything_about_the_applicant_and_nothing_of_others(t: TestApp) {
    let citizen = t.login("citizen").await;
    let (s, b) = citizen
        .post(
            "/api/v1/cases",
            &json!({"item_code": "TEST-TWO", "form": {"applicant_name": "李明", "phone": "13800138000",
                    "id_number": CITIZEN_ID, "note": "本人申请"}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let no = b["case_no"].as_str().unwrap().to_string();
    citizen
        .upload(
            &no,
            "id_copy",
            "身份证.pdf",
            zhengtong::demo::sample_pdf("id").to_vec(),
        )
        .await;
    let (s, b) = citizen
        .post(&format!("/api/v1/cases/{no}/submit"), &json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    for (who, body) in [
        ("clerk", json!({"action": "accept"})),
        (
            "reviewer",
            json!({"action": "approve_step", "opinion": "符合条件"}),
        ),
        (
            "approver",
            json!({"action": "approve_step", "opinion": "准予许可"}),
        ),
        ("clerk", json!({"action": "complete", "opinion": "已送达"})),
    ] {
        let (s, b) = t.login(who).await.act(&no, body).await;
        assert_eq!(s, StatusCode::OK, "{who}: {b}");
    }
    let (s, b) = citizen
        .post(
            &format!("/api/v1/cases/{no}/rating"),
            &json!({"score": 5, "comment": "办理很快"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    // Another applicant's case, with words of their own.
    let other = t.login("citizen2").await;
    let (s, b) = other
        .post(
            "/api/v1/cases",
            &json!({"item_code": "TEST-TWO", "form": {"applicant_name": "张娜", "phone": CITIZEN2_MOBILE,
                    "id_number": CITIZEN2_ID, "note": "他人的私密说明"}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let others = b["case_no"].as_str().unwrap().to_string();

    assert_eq!(audits(&t, "pi_export").await, 0);
    let resp = citizen
        .client
        .get(format!("{}/api/v1/me/export", citizen.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let disposition = resp.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        disposition.starts_with("attachment;") && disposition.contains("citizen"),
        "{disposition}"
    );
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let raw = resp.text().await.unwrap();
    let doc: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(doc["format"], "zhengtong-personal-data/1");
    assert_eq!(doc["profile"]["id_number"], CITIZEN_ID);
    assert_eq!(doc["profile"]["mobile"], "13800138000");
    let case = doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["case_no"] == no.as_str())
        .expect("the applicant's case")
        .clone();
    assert_eq!(case["form"]["id_number"], CITIZEN_ID, "the form in full");
    assert_eq!(case["status"], "completed");
    let actions: Vec<&str> = case["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        vec![
            "create",
            "submit",
            "accept",
            "approve_step",
            "approve_step",
            "complete"
        ]
    );
    assert_eq!(case["materials"][0]["material_code"], "id_copy");
    assert_eq!(
        case["materials"][0]["digest_sm3"].as_str().unwrap().len(),
        64
    );
    assert_eq!(case["rating"]["score"], 5);
    assert_eq!(doc["ratings"][0]["case_no"], no.as_str());
    assert!(doc["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n["case_no"] == no.as_str()));
    for foreign in [
        others.as_str(),
        "他人的私密说明",
        CITIZEN2_ID,
        CITIZEN2_MOBILE,
        "citizen2",
    ] {
        assert!(!raw.contains(foreign), "the export holds {foreign}");
    }
    assert_eq!(audits(&t, "pi_export").await, 1);
    let actor = one_text(
        &t,
        "SELECT actor_name FROM audit_records WHERE action = 'pi_export'",
    )
    .await;
    assert_eq!(actor.as_deref(), Some("citizen"));
    // The page's button gives the same file, audited too.
    let resp = citizen
        .client
        .post(format!("{}/account/privacy/export", citizen.base))
        .form(&[("csrf_token", citizen.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment;"));
    let page_doc: Value = resp.json().await.unwrap();
    assert_eq!(page_doc["profile"]["username"], "citizen");
    assert_eq!(audits(&t, "pi_export").await, 2);
    // Staff and administrators hold no such rights here; nobody without a session.
    let clerk = t.login("clerk").await;
    let (s, b) = clerk.get("/api/v1/me/export").await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("PI_RIGHTS_APPLICANT_ONLY"))
    );
    assert_eq!(
        t.anon().get("/api/v1/me/export").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(audits(&t, "pi_export").await, 2);
}

both!(the_applicant_corrects_their_profile);
async fn the_applicant_corrects_their_profile(t: TestApp) {
    let id = id_number(6);
    let uid = registered(&t, "corrector", &id, "13700137000").await;
    let me = login_as(&t, "corrector", NEW_PASSWORD).await;
    let (s, b) = put(
        &me,
        "/api/v1/me/profile",
        &json!({"display_name": "王晓明", "mobile": "13700137999"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        (b["display_name"].as_str(), b["mobile"].as_str()),
        (Some("王晓明"), Some("13700137999"))
    );
    assert_eq!(
        me.get("/api/v1/session").await.1["user"]["display_name"],
        "王晓明"
    );
    assert_eq!(
        t.count(&format!(
            "SELECT COUNT(*) FROM users WHERE id = {uid} AND display_name = '王晓明' AND mobile LIKE 'zt1:%' \
             AND mobile_bidx = '{}'",
            t.app.pii.blind_index(pii::BIDX_MOBILE, "13700137999")
        ))
        .await,
        1
    );
    let detail = one_text(
        &t,
        "SELECT detail FROM audit_records WHERE action = 'pi_correct'",
    )
    .await
    .unwrap();
    assert!(
        detail.contains("display_name")
            && detail.contains("mobile")
            && !detail.contains("13700137999"),
        "which fields, not their values: {detail}"
    );
    // A wrong mobile number is refused with its field.
    let (s, b) = put(&me, "/api/v1/me/profile", &json!({"mobile": "2370013700"})).await;
    assert_eq!(
        (s, b["code"].as_str(), b["field"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("MOBILE_INVALID"),
            Some("mobile")
        )
    );
    // At L1 the identity number may be corrected, but not to someone else's.
    let (s, b) = put(&me, "/api/v1/me/profile", &json!({"id_number": CITIZEN_ID})).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::CONFLICT, Some("ID_NUMBER_REGISTERED")),
        "{b}"
    );
    let fixed = id_number(7);
    let (s, b) = put(&me, "/api/v1/me/profile", &json!({"id_number": fixed})).await;
    assert_eq!(
        (s, b["id_number"].as_str()),
        (StatusCode::OK, Some(fixed.as_str()))
    );
    assert_eq!(audits(&t, "pi_correct").await, 2);
    // Verified above L1, the number is bound to the verification.
    let citizen = t.login("citizen").await;
    let (s, b) = put(
        &citizen,
        "/api/v1/me/profile",
        &json!({"id_number": id_number(8)}),
    )
    .await;
    assert_eq!(
        (s, b["code"].as_str(), b["field"].as_str()),
        (
            StatusCode::FORBIDDEN,
            Some("ID_NUMBER_LOCKED"),
            Some("id_number")
        ),
        "{b}"
    );
    let msg = b["message"].as_str().unwrap();
    assert!(msg.contains("实名核验") && msg.contains("窗口"), "{msg}");
    let (_, info) = citizen.get("/api/v1/me/personal-information").await;
    assert_eq!(
        (
            info["id_number"].as_str(),
            info["id_number_editable"].as_bool()
        ),
        (Some(CITIZEN_ID), Some(false))
    );
    // Sending one's own number again is no change.
    let (s, _) = put(
        &citizen,
        "/api/v1/me/profile",
        &json!({"id_number": CITIZEN_ID, "mobile": "13800138000"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(audits(&t, "pi_correct").await, 2);
    let (_, page) = text(&citizen, "/account/privacy").await;
    assert!(
        page.contains(CITIZEN_ID) && page.contains("不能在线修改"),
        "{page}"
    );
    assert!(!page.contains("id=\"p-id-number\""));
    // The page's form corrects too.
    let resp = citizen
        .client
        .post(format!("{}/account/privacy/profile", citizen.base))
        .form(&[
            ("csrf_token", citizen.csrf.as_str()),
            ("display_name", "李明"),
            ("mobile", "13800138001"),
        ])
        .send()
        .await
        .unwrap();
    assert!(resp.text().await.unwrap().contains("个人信息已更正"));
    assert_eq!(
        citizen.get("/api/v1/me/personal-information").await.1["mobile"],
        "13800138001"
    );
}

both!(deletion_closes_the_account_and_ends_its_sessions);
async fn deletion_closes_the_account_and_ends_its_sessions(t: TestApp) {
    t.set_today("2025-10-09");
    let id = id_number(9);
    let uid = registered(&t, "leaver", &id, "13700137000").await;
    let phone = login_as(&t, "leaver", NEW_PASSWORD).await;
    let desk = login_as(&t, "leaver", NEW_PASSWORD).await;
    let no = desk.submitted("TEST-TWO").await;
    let (s, b) = desk
        .post(
            "/api/v1/me/deletion",
            &json!({"password": "Wrong#Guess2026"}),
        )
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("PASSWORD_WRONG"))
    );
    assert_eq!(phone.get("/api/v1/session").await.0, StatusCode::OK);
    let resp = desk
        .client
        .post(format!("{}/api/v1/me/deletion", desk.base))
        .header("x-csrf-token", &desk.csrf)
        .json(&json!({"password": NEW_PASSWORD, "reason": "不再使用"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("Max-Age=0"), "{cookie}");
    let b: Value = resp.json().await.unwrap();
    assert_eq!(b["unfinished_cases"], 1);
    assert_eq!(b["retention_days"], 1095);
    assert!(b["message"].as_str().unwrap().contains("注销"));
    // Every session ended at once.
    for s in [&phone, &desk] {
        assert_eq!(s.get("/api/v1/session").await.0, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        t.count(&format!(
            "SELECT COUNT(*) FROM sessions WHERE user_id = {uid}"
        ))
        .await,
        0
    );
    assert_eq!(
        t.count(&format!(
            "SELECT COUNT(*) FROM users WHERE id = {uid} AND active = 0 \
             AND closed_at = '2025-10-09T02:00:00.000Z' AND anonymised_at IS NULL"
        ))
        .await,
        1
    );
    assert_eq!(
        t.count(&format!(
            "SELECT COUNT(*) FROM consents WHERE user_id = {uid} AND withdrawn_at = '2025-10-09T02:00:00.000Z'"
        ))
        .await,
        1
    );
    assert_eq!(
        one_text(
            &t,
            &format!("SELECT reason FROM deletion_requests WHERE user_id = {uid}")
        )
        .await
        .as_deref(),
        Some("不再使用")
    );
    let detail = one_text(
        &t,
        &format!("SELECT detail FROM audit_records WHERE action = 'pi_deletion' AND object = 'user:{uid}'"),
    )
    .await
    .unwrap();
    assert!(detail.contains("\"sessions_ended\":2"), "{detail}");
    // The owner is told why the login fails; a wrong password learns nothing.
    let (s, b) = t
        .anon()
        .post(
            "/api/v1/session",
            &json!({"username": "leaver", "password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("ACCOUNT_CLOSED")),
        "{b}"
    );
    assert!(b["message"].as_str().unwrap().contains("2025-10-09"));
    let (s, b) = t
        .anon()
        .post(
            "/api/v1/session",
            &json!({"username": "leaver", "password": "Wrong#Guess2026"}),
        )
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("AUTH_INVALID_CREDENTIALS"))
    );
    let resp = t
        .anon()
        .client
        .post(format!("{}/login", t.base))
        .form(&[("username", "leaver"), ("password", NEW_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("已于2025-10-09由本人申请注销"));
    // Nobody enables it again; the case record stays and is still handled.
    let sys = t.login("sysadmin").await;
    let (s, b) = put(
        &sys,
        "/api/v1/admin/users/leaver/active",
        &json!({"active": true}),
    )
    .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::CONFLICT, Some("ACCOUNT_CLOSED")),
        "{b}"
    );
    let (s, b) = t
        .login("clerk")
        .await
        .act(&no, json!({"action": "accept"}))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // The person may register again later.
    registered(&t, "returner", &id, "13700137000").await;
}

both!(deletion_from_the_page);
async fn deletion_from_the_page(t: TestApp) {
    registered(&t, "pageleaver", &id_number(10), "13700137000").await;
    let me = login_as(&t, "pageleaver", NEW_PASSWORD).await;
    let resp = me
        .client
        .post(format!("{}/account/privacy/deletion", me.base))
        .form(&[
            ("csrf_token", me.csrf.as_str()),
            ("password", "Wrong#Guess2026"),
            ("reason", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(resp.text().await.unwrap().contains("密码不正确"));
    let resp = me
        .client
        .post(format!("{}/account/privacy/deletion", me.base))
        .form(&[
            ("csrf_token", me.csrf.as_str()),
            ("password", NEW_PASSWORD),
            ("reason", ""),
        ])
        .send()
        .await
        .unwrap();
    assert!(resp.url().path().ends_with("/login"), "{}", resp.url());
    assert!(resp.text().await.unwrap().contains("账号已注销"));
    assert_eq!(me.get("/api/v1/session").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        t.count("SELECT COUNT(*) FROM deletion_requests WHERE reason IS NULL")
            .await,
        1
    );
}

/// Closes an account through the API.
async fn close(s: &Session) {
    let (st, b) = s
        .post("/api/v1/me/deletion", &json!({"password": NEW_PASSWORD}))
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
}

async fn user_row(t: &TestApp, uid: i64) -> zt_store::users::UserRow {
    let mut c = t.app.db.reader().acquire().await.unwrap();
    zt_store::users::by_id(&mut c, uid).await.unwrap().unwrap()
}

both!(retention_anonymises_after_the_period_once_cases_are_finished);
async fn retention_anonymises_after_the_period_once_cases_are_finished(t: TestApp) {
    t.set_today("2025-10-09");
    let origin = zhengtong::bootstrap::cli_origin();
    // A: closed with a case still being handled. B: closed, its cases
    // finished (one withdrawn, one a draft).
    let a = registered(&t, "waiting", &id_number(11), "13700137011").await;
    let b = registered(&t, "finished", &id_number(12), "13700137012").await;
    let sa = login_as(&t, "waiting", NEW_PASSWORD).await;
    let a_case = sa.submitted("TEST-TWO").await;
    let sb = login_as(&t, "finished", NEW_PASSWORD).await;
    let (s, body) = sb
        .post(
            "/api/v1/cases",
            &json!({"item_code": "TEST-TWO", "form": {"applicant_name": "王小明", "phone": "13700137012",
                    "id_number": id_number(12), "note": "本人申请"}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let b_case = body["case_no"].as_str().unwrap().to_string();
    let (s, body) = sb.act(&b_case, json!({"action": "withdraw"})).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let b_draft = sb.draft("TEST-TWO").await;
    close(&sa).await;
    close(&sb).await;
    let citizen2_before = user_row(&t, user_id(&t, "citizen2").await).await;

    // Not before the period has passed.
    let run = |dry: bool| {
        let app = t.app.clone();
        let origin = origin.clone();
        async move {
            zt_app::privacy::retention(&app, &origin, dry)
                .await
                .unwrap()
        }
    };
    let r = run(false).await;
    assert_eq!((r.accounts, r.waiting_for_cases, r.case_forms), (0, 0, 0));
    t.set_today("2028-10-08"); // 1095 days later: not more than the period
    let r = run(false).await;
    assert_eq!((r.accounts, r.waiting_for_cases), (0, 0), "{r:?}");
    assert_eq!(user_row(&t, b).await.username, "finished");

    t.set_today("2028-10-10");
    let dry = run(true).await;
    assert!(dry.dry_run);
    assert_eq!(
        (dry.accounts, dry.waiting_for_cases, dry.case_forms),
        (1, 1, 2),
        "{dry:?}"
    );
    assert_eq!(
        user_row(&t, b).await.username,
        "finished",
        "a dry run writes nothing"
    );
    assert_eq!(audits(&t, "pi_anonymise").await, 0);

    let r = run(false).await;
    assert_eq!(
        (r.accounts, r.waiting_for_cases, r.case_forms),
        (1, 1, 2),
        "{r:?}"
    );
    // B's raw row: nothing personal left.
    let ub = user_row(&t, b).await;
    assert_eq!(ub.username, format!("deleted-{b}"));
    assert_eq!(ub.display_name, format!("已注销用户{b}"));
    assert_eq!(
        (
            ub.id_number.as_deref(),
            ub.id_number_bidx.as_deref(),
            ub.mobile.as_deref(),
            ub.mobile_bidx.as_deref(),
            ub.password_hash.as_deref()
        ),
        (None, None, None, None, None)
    );
    assert_eq!(
        t.count(&format!(
            "SELECT COUNT(*) FROM users WHERE id = {b} AND anonymised_at IS NOT NULL"
        ))
        .await,
        1
    );
    assert_eq!(
        t.count(&format!(
            "SELECT COUNT(*) FROM deletion_requests WHERE user_id = {b} AND completed_at IS NOT NULL"
        ))
        .await,
        1
    );
    // Its case records stay, the personal fields masked and sealed again.
    let (sealed, form) = raw_form(&t, &b_case).await;
    assert!(sealed.starts_with("zt1:"));
    let masked_id = zt_domain::mask::id_number(&id_number(12));
    assert_eq!(form["id_number"], masked_id.as_str());
    assert_eq!(form["phone"], "137****7012");
    assert_eq!(form["note"], "本人申请");
    assert_eq!(raw_form(&t, &b_draft).await.1["phone"], "138****8000");
    assert_eq!(
        t.count(&format!(
            "SELECT COUNT(*) FROM cases WHERE applicant_id = {b} AND status IN ('withdrawn', 'draft')"
        ))
        .await,
        2
    );
    // A waits for its case; the open account is not touched.
    let ua = user_row(&t, a).await;
    assert_eq!(ua.username, "waiting");
    assert!(ua.id_number.is_some() && ua.password_hash.is_some());
    assert_eq!(raw_form(&t, &a_case).await.1["phone"], "13800138000");
    let c2 = user_row(&t, citizen2_before.id).await;
    assert_eq!(
        (c2.username, c2.id_number, c2.mobile),
        (
            citizen2_before.username,
            citizen2_before.id_number,
            citizen2_before.mobile
        )
    );
    let detail = one_text(
        &t,
        &format!("SELECT detail FROM audit_records WHERE action = 'pi_anonymise' AND object = 'user:{b}'"),
    )
    .await
    .unwrap();
    assert!(detail.contains("\"case_forms_masked\":2"), "{detail}");
    assert_eq!(audits(&t, "pi_anonymise").await, 1);

    // Idempotent.
    let again = run(false).await;
    assert_eq!((again.accounts, again.case_forms), (0, 0));
    assert_eq!(raw_form(&t, &b_case).await.1, form);
    assert_eq!(audits(&t, "pi_anonymise").await, 1);

    // Once A's case is finished, A goes too. (Three years on, the clerk's
    // password would have expired: as if changed yesterday.)
    sqlx::query("UPDATE users SET password_changed_at = '2028-10-09T02:00:00.000Z' WHERE username = 'clerk'")
        .execute(t.app.db.writer())
        .await
        .unwrap();
    let (s, body) = t
        .login("clerk")
        .await
        .act(
            &a_case,
            json!({"action": "reject_intake", "opinion": "申请人已注销账号"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let r = run(false).await;
    assert_eq!((r.accounts, r.waiting_for_cases, r.case_forms), (1, 0, 1));
    assert_eq!(user_row(&t, a).await.username, format!("deleted-{a}"));
    assert_eq!(raw_form(&t, &a_case).await.1["phone"], "138****8000");
    assert_eq!(audits(&t, "pi_anonymise").await, 2);
    assert_eq!(run(false).await.accounts, 0);
    // Nobody signs in with what is gone; the audit chain is intact.
    let (s, _) = t
        .anon()
        .post(
            "/api/v1/session",
            &json!({"username": "finished", "password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let v = zt_app::audit_trail::verify(&t.app).await.unwrap();
    assert!(v.first_break.is_none(), "{v:?}");
}

async fn user_id(t: &TestApp, username: &str) -> i64 {
    t.count(&format!(
        "SELECT id FROM users WHERE username = '{username}'"
    ))
    .await
}

both!(the_retention_command_reports_and_dry_runs);
async fn the_retention_command_reports_and_dry_runs(t: TestApp) {
    let uid = registered(&t, "cligone", &id_number(13), "13700137013").await;
    close(&login_as(&t, "cligone", NEW_PASSWORD).await).await;
    let run = |args: &[&str], days: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_zhengtong"))
            .args(args)
            .env("ZT_DATABASE_URL", &t.db_url)
            .env("ZT_DATA_DIR", &t.data_dir)
            .env("ZT_PII_KEY_FILE", crate::harness::pii_key_file())
            .env("ZT_PI_RETENTION_DAYS", days)
            .env("ZT_LOG", "warn")
            .output()
            .unwrap()
    };
    let out = |o: &std::process::Output| {
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
    };
    // The account was closed on the test clock (2025); the command runs on
    // the system clock, long after: with the default period it is not due.
    let o = run(&["privacy", "retention", "--dry-run"], "100000");
    assert!(o.status.success(), "{}", out(&o));
    assert!(out(&o).contains("0 accounts"), "{}", out(&o));
    let o = run(&["privacy", "retention", "--dry-run"], "0");
    assert!(o.status.success(), "{}", out(&o));
    assert!(
        out(&o).contains("dry run") && out(&o).contains("1 accounts"),
        "{}",
        out(&o)
    );
    assert_eq!(user_row(&t, uid).await.username, "cligone");
    let o = run(&["privacy", "retention"], "0");
    assert!(o.status.success(), "{}", out(&o));
    assert!(out(&o).contains("anonymised 1 accounts"), "{}", out(&o));
    assert_eq!(user_row(&t, uid).await.username, format!("deleted-{uid}"));
    assert_eq!(
        one_text(
            &t,
            "SELECT actor_name FROM audit_records WHERE action = 'pi_anonymise'"
        )
        .await
        .map(|a| a.starts_with("cli:")),
        Some(true)
    );
    let o = run(&["privacy", "retention"], "0");
    assert!(out(&o).contains("anonymised 0 accounts"), "{}", out(&o));
}

#[test]
fn the_ids_of_this_file_are_valid_and_distinct() {
    let ids: std::collections::BTreeSet<String> = (0..40).map(id_number).collect();
    assert_eq!(ids.len(), 40);
    for id in &ids {
        assert!(zt_domain::ids::IdNumber::parse(id).is_ok(), "{id}");
    }
    assert!(!ids.contains(CITIZEN_ID) && !ids.contains(CITIZEN2_ID));
    let _ = PASSWORD;
}
