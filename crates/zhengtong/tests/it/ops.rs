//! Probes, OpenAPI, headers, calendar, catalogue.

use reqwest::StatusCode;
use serde_json::json;

use crate::both;
use crate::harness::TestApp;

both!(probes_headers_and_openapi);
async fn probes_headers_and_openapi(t: TestApp) {
    let anon = t.anon();
    let (s, b) = anon.get("/healthz").await;
    assert_eq!((s, b["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (s, b) = anon.get("/readyz").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["database"]["migrations"], "current");
    assert_eq!(b["database"]["backend"], t.backend.as_str());
    assert_eq!(b["calendar_years"], json!([2025, 2026]));
    let resp = anon
        .client
        .get(format!("{}/api/v1/items", anon.base))
        .send()
        .await
        .unwrap();
    let h = resp.headers();
    assert!(h.get("x-request-id").is_some_and(|v| v.len() >= 16));
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(h["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    assert!(!h["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("unsafe-inline"));
    // A proxy's request id is carried through.
    let resp = anon
        .client
        .get(format!("{}/healthz", anon.base))
        .header("x-request-id", "abcdef0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "abcdef0123456789");

    let (s, doc) = anon.get("/api/openapi.json").await;
    assert_eq!(s, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/session",
        "/api/v1/items",
        "/api/v1/items/{code}",
        "/api/v1/cases",
        "/api/v1/cases/{case_no}",
        "/api/v1/cases/{case_no}/materials",
        "/api/v1/cases/{case_no}/submit",
        "/api/v1/cases/{case_no}/actions",
        "/api/v1/cases/{case_no}/rating",
        "/api/v1/calendar/due",
        "/healthz",
        "/readyz",
    ] {
        assert!(doc["paths"].get(path).is_some(), "OpenAPI lacks {path}");
    }
    assert!(doc["components"]["schemas"].get("ErrorBody").is_some());
}

both!(calendar_due_and_import);
async fn calendar_due_and_import(t: TestApp) {
    let anon = t.anon();
    let (s, b) = anon
        .get("/api/v1/calendar/due?start=2025-09-30&days=3")
        .await;
    assert_eq!((s, b["due"].as_str()), (StatusCode::OK, Some("2025-10-11")));
    let (_, b) = anon
        .get("/api/v1/calendar/due?start=2026-02-13&days=2")
        .await;
    assert_eq!(b["due"], "2026-02-24");
    // 2027 is unknown until an administrator imports it; then it is used at once.
    let (s, _) = anon
        .get("/api/v1/calendar/due?start=2026-12-31&days=1")
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let sys = t.login("sysadmin").await;
    let toml = "[2027]\nholidays = [\"2027-01-01\"]\nworkdays = []\n";
    let (s, b) = sys
        .post(
            "/api/v1/admin/calendar",
            &json!({"toml": toml, "source": "测试通知"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (_, b) = anon
        .get("/api/v1/calendar/due?start=2026-12-31&days=1")
        .await;
    assert_eq!(b["due"], "2027-01-04");
    let bad = "[2027]\nholidays = [\"2027-01-01\"]\nworkdays = [\"2027-01-01\"]\n";
    let (s, b) = sys
        .post(
            "/api/v1/admin/calendar",
            &json!({"toml": bad, "source": "x"}),
        )
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("CALENDAR_INVALID"))
    );
    let clerk = t.login("clerk").await;
    let (s, _) = clerk
        .post(
            "/api/v1/admin/calendar",
            &json!({"toml": toml, "source": "x"}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

both!(catalogue_search);
async fn catalogue_search(t: TestApp) {
    let anon = t.anon();
    let (_, all) = anon.get("/api/v1/items").await;
    let n = all["items"].as_array().unwrap().len();
    assert!(n >= 8 + 4, "demo items and test items: {n}");
    let (_, l) = anon.get("/api/v1/items?dept=SCJG").await;
    assert!(l["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["dept_code"] == "SCJG"));
    assert!(!l["items"].as_array().unwrap().is_empty());
    let (_, l) = anon.get("/api/v1/items?q=%E9%A3%9F%E5%93%81").await; // 食品
    assert!(l["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["name"].as_str().unwrap().contains("食品")));
    let (s, item) = anon.get("/api/v1/items/TEST-TWO").await;
    assert_eq!(s, StatusCode::OK);
    let types: Vec<_> = item["form_fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["type"].as_str().unwrap())
        .collect();
    assert!(types.contains(&"phone") && types.contains(&"select"));
    assert_eq!(item["materials"][0]["code"], "id_copy");
    assert_eq!(item["materials"][0]["required"], true);
    let (_, d) = anon.get("/api/v1/departments").await;
    assert!(d["departments"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["code"] == "SCJG" && x["parent_code"] == "ZWB"));
}

both!(metrics_count_requests_and_show_the_outbox);
async fn metrics_count_requests_and_show_the_outbox(t: TestApp) {
    let citizen = t.login("citizen").await;
    citizen.submitted("TEST-TWO").await;
    let resp = t
        .anon()
        .client
        .get(format!("{}/metrics", t.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let text = resp.text().await.unwrap();
    assert!(
        text.contains("zt_http_calls_total{class=\"2xx\"}"),
        "{text}"
    );
    assert!(
        text.contains("zt_outbox_pending{counterpart=\"gxpt\"} 1"),
        "{text}"
    );
    let (_, ready) = t.anon().get("/readyz").await;
    assert_eq!(ready["outbox"]["gxpt"]["pending"], 1);
}

both!(security_headers_on_every_page);
async fn security_headers_on_every_page(t: TestApp) {
    let anon = t.anon();
    let citizen = t.login("citizen").await;
    let pages = [
        (&anon, "/"),
        (&anon, "/items"),
        (&anon, "/items/TEST-TWO"),
        (&anon, "/login"),
        (&anon, "/register"),
        (&anon, "/privacy"),
        (&anon, "/no-such-page"),
        (&citizen, "/my/cases"),
        (&citizen, "/my/messages"),
        (&citizen, "/account"),
        (&citizen, "/account/second-factor"),
        (&citizen, "/account/privacy"),
        (&citizen, "/workbench"),
        (&citizen, "/admin/audit"),
    ];
    for (s, path) in pages {
        let resp = s
            .client
            .get(format!("{}{path}", s.base))
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let h = resp.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"),
            "{path} ({status}): {csp}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "same-origin", "{path}");
        assert!(h.get("x-request-id").is_some(), "{path}");
    }
}
