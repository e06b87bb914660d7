//! The administration pages over real HTTP: the audit administrator's page
//! (search, paging, CSV export, chain verification) and the guard that keeps
//! the administration surfaces to `admin_allow_networks`.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::json;
use sqlx::Executor;
use zt_app::clock::ManualClock;
use zt_store::Backend;

use crate::both;
use crate::harness::{beijing_10, pii_key_file, Session, TestApp};

/// Like `both!`, on an application whose configuration `$change` alters.
macro_rules! both_with {
    ($name:ident, $change:expr) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let t = $crate::harness::TestApp::spawn_with(zt_store::Backend::Sqlite, $change)
                    .await
                    .expect("sqlite");
                super::$name(t).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(t) =
                    $crate::harness::TestApp::spawn_with(zt_store::Backend::Postgres, $change).await
                {
                    super::$name(t).await
                }
            }
        }
    };
}

const DENIED_MESSAGE: &str = "管理功能仅允许从指定的内部网络访问。";

/// A page: status and HTML.
async fn page(s: &Session, path: &str) -> (StatusCode, String) {
    let resp = s
        .client
        .get(format!("{}{path}", s.base))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.text().await.unwrap())
}

/// The text of an HTML attribute value as the browser reads it.
fn unescape(s: &str) -> String {
    s.replace("&amp;", "&")
        .replace("&#38;", "&")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}

/// Every `{before}…{after}` in `html`.
fn between<'a>(html: &'a str, before: &str, after: &str) -> Vec<&'a str> {
    html.split(before)
        .skip(1)
        .filter_map(|rest| rest.split(after).next())
        .collect()
}

/// The ids of the audit records listed, in page order.
fn record_ids(html: &str) -> Vec<i64> {
    between(html, "<tr id=\"audit-", "\"")
        .iter()
        .map(|v| v.parse().unwrap())
        .collect()
}

/// The action codes listed, in page order.
fn actions(html: &str) -> Vec<String> {
    between(html, "<code class=\"action\">", "</code>")
        .iter()
        .map(|v| v.to_string())
        .collect()
}

fn next_link(html: &str) -> Option<String> {
    between(html, "rel=\"next\" href=\"", "\"")
        .first()
        .map(|h| unescape(h))
}

async fn exec(t: &TestApp, sql: &str) {
    let mut c = t.app.db.writer().acquire().await.unwrap();
    c.execute(sql).await.unwrap();
}

both!(the_auditor_searches_pages_verifies_and_exports);
async fn the_auditor_searches_pages_verifies_and_exports(t: TestApp) {
    let citizen = t.login("citizen").await;
    let no = citizen.submitted("TEST-TWO").await;
    let _ = t
        .anon()
        .post(
            "/api/v1/session",
            &json!({"username": "citizen", "password": "wrong"}),
        )
        .await;
    let auditor = t.login("auditor").await;

    // Linked from the dashboard and the navigation.
    let (s, dash) = page(&auditor, "/admin").await;
    assert_eq!(s, StatusCode::OK);
    assert!(dash.contains("href=\"/admin/audit\""), "{dash}");

    // Opened from the menu: every record, newest first, and the chain checked.
    let (s, html) = page(&auditor, "/admin/audit").await;
    assert_eq!(s, StatusCode::OK, "{html}");
    let ids = record_ids(&html);
    assert!(ids.len() > 5, "{ids:?}");
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "{ids:?}");
    assert!(html.contains("data-chain=\"intact\""), "{html}");
    assert!(html.contains("核对锚点"));
    let acts = actions(&html);
    assert!(acts.iter().any(|a| a == "case_submit"), "{acts:?}");
    // The Chinese label beside the raw code; Beijing time; client address.
    assert!(
        html.contains("登录 <code class=\"action\">login</code>"),
        "{html}"
    );
    assert!(html.contains("办件：提交申请 <code class=\"action\">case_submit</code>"));
    assert!(html.contains("2025-09-30 10:"), "Beijing time: {html}");
    assert!(!html.contains("T02:0"), "UTC instants are not shown");
    assert!(html.contains("<td data-label=\"来源地址\"><div>127.0.0.1</div></td>"));
    assert!(html.contains(&format!("case:{no}")));

    // Filtered by action and result; the export link carries the same filter.
    let (s, html) = page(&auditor, "/admin/audit?action=login&result=failure").await;
    assert_eq!(s, StatusCode::OK);
    let acts = actions(&html);
    assert!(!acts.is_empty());
    assert!(acts.iter().all(|a| a == "login"), "{acts:?}");
    assert!(html.contains("失败"));
    assert!(
        !html.contains("data-chain="),
        "a search does not re-verify the chain"
    );
    let export = between(&html, "id=\"export\" href=\"", "\"")[0];
    assert_eq!(
        unescape(export),
        "/admin/audit/export?action=login&result=failure"
    );
    let (_, html) = page(&auditor, &format!("/admin/audit?object=case:{no}")).await;
    let acts = actions(&html);
    assert!(acts.iter().any(|a| a == "case_submit"), "{acts:?}");

    // Paging with before_id.
    let (_, p1) = page(&auditor, "/admin/audit?limit=3").await;
    let first = record_ids(&p1);
    assert_eq!(first.len(), 3);
    let next = next_link(&p1).expect("下一页");
    assert!(p1.contains("下一页"));
    assert!(next.contains(&format!("before_id={}", first[2])), "{next}");
    let (s, p2) = page(&auditor, &next).await;
    assert_eq!(s, StatusCode::OK);
    let second = record_ids(&p2);
    assert_eq!(second.len(), 3, "{p2}");
    assert!(second[0] < first[2], "{first:?} then {second:?}");
    assert!(p2.contains("回到第一页"));
    // The last page has no further link.
    let (_, last) = page(
        &auditor,
        &format!("/admin/audit?limit=3&before_id={}", ids[ids.len() - 1]),
    )
    .await;
    assert!(record_ids(&last).is_empty());
    assert!(next_link(&last).is_none());
    assert!(last.contains("没有符合条件的记录"));

    // A wrong date is the use case's message on the page, not a 500.
    let (s, bad) = page(&auditor, "/admin/audit?from=2025-13-01").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    assert!(bad.contains("日期格式应为YYYY-MM-DD。"), "{bad}");
    assert!(bad.contains("aria-invalid=\"true\" aria-describedby=\"f-from-err\""));
    assert!(
        bad.contains("value=\"2025-13-01\""),
        "the form keeps the input"
    );
    let (s, bad) = page(&auditor, "/admin/audit?to=yesterday&before_id=x").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
    let (s, bad) = page(&auditor, "/admin/audit/export?to=2025-02-30").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.contains("日期格式应为YYYY-MM-DD。"));

    // The export: CSV with a BOM, the same filter, and itself audited.
    let exports = || t.count("SELECT COUNT(*) FROM audit_records WHERE action = 'audit_export'");
    let before = exports().await;
    let resp = auditor
        .client
        .get(format!("{}/admin/audit/export?action=login", auditor.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let h = resp.headers();
    assert!(h["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert!(h["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    let body = resp.bytes().await.unwrap();
    assert!(body.starts_with("\u{feff}id,time,actor,client_addr,action,".as_bytes()));
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(text.lines().count() > 2, "{text}");
    assert!(
        text.lines().skip(1).all(|l| l.contains(",login,")),
        "{text}"
    );
    assert_eq!(exports().await, before + 1);
    let (_, html) = page(&auditor, "/admin/audit?action=audit_export&actor=auditor").await;
    assert_eq!(actions(&html), ["audit_export"]);
    assert!(html.contains("导出审计记录"));
}

both!(a_broken_chain_shows_on_the_page);
async fn a_broken_chain_shows_on_the_page(t: TestApp) {
    let citizen = t.login("citizen").await;
    citizen.submitted("TEST-TWO").await;
    let auditor = t.login("auditor").await;
    match t.backend {
        Backend::Sqlite => {
            exec(&t, "DROP TRIGGER audit_records_no_update").await;
        }
        Backend::Postgres => {
            exec(&t, "ALTER TABLE audit_records DISABLE TRIGGER USER").await;
        }
    }
    exec(
        &t,
        "UPDATE audit_records SET actor_name = 'nobody' WHERE id = 3",
    )
    .await;
    let (s, html) = page(&auditor, "/admin/audit").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("data-chain=\"broken\""), "{html}");
    assert!(html.contains("首个异常位于第 3 条记录"), "{html}");
    assert!(html.contains("第3条记录在写入后被修改"), "{html}");
    // Verification on request keeps the filter.
    let (_, html) = page(&auditor, "/admin/audit?action=login&verify=1").await;
    assert!(html.contains("data-chain=\"broken\""));
    assert!(actions(&html).iter().all(|a| a == "login"));
}

both!(only_the_audit_administrator_has_the_audit_page);
async fn only_the_audit_administrator_has_the_audit_page(t: TestApp) {
    let exports = "SELECT COUNT(*) FROM audit_records WHERE action = 'audit_export'";
    let before = t.count(exports).await;
    for who in ["citizen", "clerk", "sysadmin", "secadmin"] {
        let s = t.login(who).await;
        for path in [
            "/admin/audit",
            "/admin/audit/export",
            "/admin/audit?verify=1",
        ] {
            let (st, html) = page(&s, path).await;
            assert_eq!(st, StatusCode::FORBIDDEN, "{who} {path}");
            assert!(
                html.contains("您没有权限进行此操作。"),
                "{who} {path}: {html}"
            );
            assert!(!html.contains("<tr id=\"audit-"), "{who} {path}");
        }
        let (_, home) = page(&s, "/").await;
        assert!(!home.contains("href=\"/admin/audit\""), "{who}: no link");
    }
    let sysadmin = t.login("sysadmin").await;
    let (_, dash) = page(&sysadmin, "/admin").await;
    assert!(!dash.contains("href=\"/admin/audit\""));
    assert_eq!(t.count(exports).await, before, "no export was made");
    // Without a session: the login page, returning here afterwards.
    let resp = t
        .anon()
        .client
        .get(format!("{}/admin/audit?action=login", t.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.url().path(), "/login");
    assert!(resp.url().query().unwrap_or("").contains("next="));
}

both_with!(
    administration_is_refused_outside_the_allowed_networks,
    |c| { c.admin_allow_networks = vec!["10.0.0.0/8".into(), "fd00::/8".into()] }
);
async fn administration_is_refused_outside_the_allowed_networks(t: TestApp) {
    let denied_records = |extra: &str| {
        format!(
            "SELECT COUNT(*) FROM audit_records WHERE action = 'permission_denied' \
             AND result = 'denied' AND client_addr = '127.0.0.1' \
             AND detail LIKE '%ADMIN_NETWORK_DENIED%' {extra}"
        )
    };
    // Signing in is not administration: it works from anywhere.
    let sysadmin = t.login("sysadmin").await;
    let auditor = t.login("auditor").await;
    let anon = t.anon();
    let depts = t.count("SELECT COUNT(*) FROM departments").await;
    for (s, path) in [
        (&sysadmin, "/api/v1/admin/users"),
        (&sysadmin, "/api/v1/admin/calendar"),
        (&sysadmin, "/api/v1/admin/items/TEST-TWO/versions"),
        (&auditor, "/api/v1/audit"),
        (&auditor, "/api/v1/audit/verify"),
        (&auditor, "/api/v1/audit/export?action=login"),
        (&anon, "/api/v1/admin/users"),
        (&anon, "/api/v1/audit"),
    ] {
        let (st, b) = s.get(path).await;
        assert_eq!(
            (st, b["code"].as_str(), b["message"].as_str()),
            (
                StatusCode::FORBIDDEN,
                Some("ADMIN_NETWORK_DENIED"),
                Some(DENIED_MESSAGE)
            ),
            "{path}: {b}"
        );
        assert!(b["request_id"].as_str().is_some_and(|r| !r.is_empty()));
    }
    // A change is refused before anything else looks at it.
    let (st, b) = sysadmin
        .post(
            "/api/v1/admin/departments",
            &json!({"code": "NEW", "name": "新部门", "region_code": "440300"}),
        )
        .await;
    assert_eq!(
        (st, b["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("ADMIN_NETWORK_DENIED"))
    );
    // The pages: the refusal page with the same message.
    for (s, path) in [
        (&sysadmin, "/admin"),
        (&sysadmin, "/admin/items/TEST-TWO"),
        (&auditor, "/admin/audit"),
        (&auditor, "/admin/audit/export"),
    ] {
        let (st, html) = page(s, path).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{path}");
        assert!(html.contains(DENIED_MESSAGE), "{path}: {html}");
        assert!(html.contains("<html"), "{path}: a page, not JSON");
    }
    let resp = sysadmin
        .client
        .post(format!("{}/admin/departments", t.base))
        .form(&[
            ("csrf_token", sysadmin.csrf.as_str()),
            ("code", "NEW2"),
            ("name", "新部门"),
            ("region_code", "440300"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(t.count("SELECT COUNT(*) FROM departments").await, depts);

    // Each refusal is audited, with the user when there is a session.
    assert_eq!(
        t.count(&denied_records(
            "AND actor_name = 'sysadmin' AND object = 'GET /api/v1/admin/users'"
        ))
        .await,
        1
    );
    assert_eq!(
        t.count(&denied_records(
            "AND actor_name = 'auditor' AND object = 'GET /api/v1/audit/export'"
        ))
        .await,
        1,
        "the query string is not kept"
    );
    assert_eq!(
        t.count(&denied_records(
            "AND actor_name = '-' AND object = 'GET /api/v1/admin/users'"
        ))
        .await,
        1
    );
    assert_eq!(t.count(&denied_records("")).await, 14);
    // One record for each refusal, not a second one by the general refusal audit.
    assert_eq!(
        t.count("SELECT COUNT(*) FROM audit_records WHERE action = 'permission_denied'")
            .await,
        14
    );
    assert_eq!(
        t.count(&denied_records(
            "AND actor_name = 'sysadmin' AND object = 'POST /admin/departments'"
        ))
        .await,
        1
    );
    let v = zt_app::audit_trail::verify(&t.app).await.unwrap();
    assert!(v.first_break.is_none(), "{:?}", v.first_break);

    // Everything else works as before, for administrators too.
    let citizen = t.login("citizen").await;
    let (st, b) = citizen.get("/api/v1/cases").await;
    assert_eq!(st, StatusCode::OK, "{b}");
    citizen.submitted("TEST-TWO").await;
    let (st, b) = sysadmin.get("/api/v1/session").await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let (st, _) = anon.get("/api/v1/items").await;
    assert_eq!(st, StatusCode::OK);
    for path in ["/", "/items", "/account"] {
        let (st, _) = page(&sysadmin, path).await;
        assert_eq!(st, StatusCode::OK, "{path}");
    }
    // Only whole path segments are administration.
    let (st, _) = page(&sysadmin, "/administration").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, b) = auditor.get("/api/v1/auditing").await;
    assert_eq!(
        (st, b["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("NOT_FOUND"))
    );
    assert_eq!(
        t.count(&denied_records("")).await,
        14,
        "nothing more refused"
    );
}

both_with!(administration_works_from_the_allowed_networks, |c| {
    c.admin_allow_networks = vec!["127.0.0.0/8".into(), "::1".into()]
});
async fn administration_works_from_the_allowed_networks(t: TestApp) {
    let sysadmin = t.login("sysadmin").await;
    let auditor = t.login("auditor").await;
    for (s, path) in [
        (&sysadmin, "/api/v1/admin/users"),
        (&sysadmin, "/api/v1/admin/calendar"),
        (&auditor, "/api/v1/audit"),
        (&auditor, "/api/v1/audit/verify"),
    ] {
        let (st, b) = s.get(path).await;
        assert_eq!(st, StatusCode::OK, "{path}: {b}");
    }
    for (s, path) in [(&sysadmin, "/admin"), (&auditor, "/admin/audit")] {
        let (st, html) = page(s, path).await;
        assert_eq!(st, StatusCode::OK, "{path}");
        assert!(!html.contains(DENIED_MESSAGE));
    }
    // Role checks still apply inside the allowed networks.
    let (st, b) = sysadmin.get("/api/v1/audit").await;
    assert_eq!(
        (st, b["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("ACCESS_DENIED"))
    );
    assert_eq!(
        t.count(
            "SELECT COUNT(*) FROM audit_records WHERE action = 'permission_denied' \
             AND detail LIKE '%ADMIN_NETWORK_DENIED%'"
        )
        .await,
        0
    );
}

both!(an_invalid_admin_network_stops_the_start);
async fn an_invalid_admin_network_stops_the_start(t: TestApp) {
    let mut cfg = t.config();
    cfg.admin_allow_networks = vec!["10.0.0.0/8".into(), "10.0.0.300/8".into()];
    let db = zhengtong::bootstrap::connect(&cfg).await.unwrap();
    let clock = Arc::new(ManualClock::new(beijing_10("2025-09-30")));
    let e = zhengtong::bootstrap::build_app(&cfg, db, clock, false)
        .await
        .err()
        .expect("an invalid network is refused");
    let msg = format!("{e:#}");
    assert!(
        msg.contains("admin_allow_networks") && msg.contains("\"10.0.0.300/8\""),
        "{msg}"
    );

    // The binary refuses to serve, naming the value (from the environment).
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_zhengtong"))
        .arg("serve")
        .env("ZT_DATABASE_URL", &t.db_url)
        .env("ZT_DATA_DIR", &t.data_dir)
        .env("ZT_PII_KEY_FILE", pii_key_file())
        .env("ZT_LISTEN", "127.0.0.1:0")
        .env("ZT_AUDIT_ANCHOR_MINUTES", "0")
        .env("ZT_ADMIN_ALLOW_NETWORKS", "[127.0.0.0/8, 10.0.0.300/8]")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), run)
        .await
        .expect("serve stops at once instead of serving")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("admin_allow_networks") && stderr.contains("10.0.0.300/8"),
        "{stderr}"
    );
}
