//! The counterparts' circuit breakers and their visibility: gxpt down over
//! real HTTP (the double answering 503 to everything), applications still
//! accepted, `/readyz` still ready and showing gxpt's state, `/metrics` and
//! the administration page showing it too, and the outbox catching up once
//! gxpt is back.

use reqwest::StatusCode;
use zt_app::integrations::{State, GXPT};
use zt_app::outbox;
use zt_gx::double::{Faults, GxptDouble};

use crate::both;
use crate::harness::{Session, TestApp};

fn gx_config(url: String) -> zhengtong::config::Config {
    zhengtong::config::Config {
        gxpt_url: url,
        gx_app_key: "zt-sandbox-app".into(),
        gx_app_secret: zhengtong::config::Secret("zt-sandbox-secret-2025".into()),
        gx_data_key: zhengtong::config::Secret("8f3a1c5e7b9d2f4a6c8e0b1d3f5a7c9e".into()),
        ..Default::default()
    }
}

async fn page(s: &Session, path: &str) -> (StatusCode, String, String) {
    let resp = s
        .client
        .get(format!("{}{path}", s.base))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let url = resp.url().path().to_string();
    (status, url, resp.text().await.unwrap())
}

async fn metrics(t: &TestApp) -> String {
    t.anon()
        .client
        .get(format!("{}/metrics", t.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn pending(t: &TestApp) -> i64 {
    t.count("SELECT COUNT(*) FROM outbox WHERE counterpart = 'gxpt' AND status = 'pending'")
        .await
}

both!(gxpt_down_opens_the_breaker_and_the_outbox_catches_up_after_recovery);
async fn gxpt_down_opens_the_breaker_and_the_outbox_catches_up_after_recovery(t: TestApp) {
    let double = GxptDouble::start().await.unwrap();
    double.set_faults(Faults {
        error_rate: 1.0,
        ..Default::default()
    });
    let sink = zhengtong::integrations::gxpt_sink(&gx_config(double.base_url()), &t.app)
        .await
        .unwrap()
        .unwrap();
    let citizen = t.login("citizen").await;
    for _ in 0..6 {
        citizen.submitted("TEST-TWO").await;
    }

    // Every push fails after the client's own retries: the breaker opens.
    let r = outbox::deliver_due(&t.app, &sink, 64).await.unwrap();
    assert_eq!((r.delivered, r.retried, r.failed), (0, 6, 0), "{r:?}");
    let breaker = t.app.integrations.breaker(GXPT);
    assert_eq!(breaker.state(), State::Open);
    let sent = double.counters().requests;
    assert!(sent >= 6, "{sent}");

    // Open: the next round fails at once, without a request, and the
    // messages simply wait for their next turn.
    t.clock.advance(chrono::Duration::seconds(10));
    let started = std::time::Instant::now();
    let r = outbox::deliver_due(&t.app, &sink, 64).await.unwrap();
    assert_eq!((r.delivered, r.retried), (0, 6), "{r:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    assert_eq!(double.counters().requests, sent, "nothing sent while open");
    assert_eq!(breaker.snapshot().rejected, 6);

    // Applications are still accepted.
    citizen.submitted("TEST-TWO").await;
    assert_eq!(pending(&t).await, 7);

    // Still ready; gxpt's state shown, without its URL or error text.
    let (s, ready) = t.anon().get("/readyz").await;
    assert_eq!(s, StatusCode::OK, "{ready}");
    assert_eq!(ready["status"], "ready");
    let gx = &ready["integrations"]["gxpt"];
    assert_eq!(gx["mode"], "remote", "{ready}");
    assert_eq!(gx["state"], "open", "{ready}");
    assert!(gx["consecutive_failures"].as_u64().unwrap() >= 5, "{ready}");
    assert!(gx["last_failure_at"].is_string() && gx["retry_at"].is_string());
    assert_eq!(gx["outbox"]["pending"], 7);
    assert!(gx["warning"].as_str().unwrap().contains("数据共享交换平台"));
    assert_eq!(ready["outbox"]["gxpt"]["pending"], 7);
    assert_eq!(ready["outbox"]["eseal"]["pending"], 0);
    assert_eq!(ready["integrations"]["identity"]["state"], "not_configured");
    assert!(ready["integrations"]["eseal"]["state"].is_string());
    let text = ready.to_string();
    assert!(!text.contains(&double.base_url()), "{text}");
    assert!(!text.contains("last_error"), "{text}");

    let m = metrics(&t).await;
    assert!(
        m.contains("zt_counterpart_breaker_state{counterpart=\"gxpt\"} 2\n"),
        "{m}"
    );
    assert!(m.contains("zt_counterpart_breaker_rejected_total{counterpart=\"gxpt\"} 6\n"));
    assert!(
        m.contains("zt_outbox_pending{counterpart=\"gxpt\"} 7\n"),
        "{m}"
    );
    assert!(
        m.contains("zt_outbox_failed{counterpart=\"eseal\"} 0\n"),
        "{m}"
    );
    assert!(m.contains("zt_outbox_oldest_pending_age_seconds{counterpart=\"gxpt\"}"));
    assert!(
        m.contains("zt_counterpart_errors_total{counterpart=\"gxpt\"} 6\n"),
        "calls the breaker refused are not counted as calls: {m}"
    );

    // The administration page says so, with the URL and the reason.
    let sys = t.login("sysadmin").await;
    let (s, _, html) = page(&sys, "/admin/integrations").await;
    assert_eq!(s, StatusCode::OK);
    let card = html
        .split("id=\"integration-gxpt\"")
        .nth(1)
        .unwrap()
        .split("</section>")
        .next()
        .unwrap();
    assert!(
        card.contains("熔断中") && card.contains("data-state=\"bad\""),
        "{card}"
    );
    assert!(card.contains(&double.base_url()), "{card}");
    assert!(card.contains("unavailable"), "{card}");
    assert!(card.contains("7 条"), "{card}");

    // gxpt is back: after the cool-down one probe closes the breaker and
    // the outbox delivers everything, once.
    double.set_faults(Faults::default());
    for _ in 0..50 {
        outbox::deliver_due(&t.app, &sink, 64).await.unwrap();
        if pending(&t).await == 0 {
            break;
        }
        t.clock.advance(chrono::Duration::minutes(11));
    }
    assert_eq!(pending(&t).await, 0);
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(double.received().len(), 7);
    let (s, ready) = t.anon().get("/readyz").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(ready["integrations"]["gxpt"]["state"], "closed");
    assert_eq!(ready["integrations"]["gxpt"]["consecutive_failures"], 0);
    assert!(ready["integrations"]["gxpt"]["last_success_at"].is_string());
    assert_eq!(ready["outbox"]["gxpt"]["pending"], 0);
    assert!(ready["integrations"]["gxpt"].get("warning").is_none());
}

both!(the_integrations_page_is_for_the_system_administrator);
async fn the_integrations_page_is_for_the_system_administrator(t: TestApp) {
    let sys = t.login("sysadmin").await;
    let (s, _, dash) = page(&sys, "/admin").await;
    assert_eq!(s, StatusCode::OK);
    assert!(dash.contains("href=\"/admin/integrations\""), "{dash}");
    let (s, _, html) = page(&sys, "/admin/integrations").await;
    assert_eq!(s, StatusCode::OK);
    for text in [
        "对接状态",
        "数据共享交换平台",
        "电子签章服务",
        "统一身份认证平台",
        "未配置",
        "最近的对账结果",
        "尚无对账记录",
    ] {
        assert!(html.contains(text), "{text}: {html}");
    }
    assert!(html.contains("name=\"viewport\""));
    for who in ["secadmin", "auditor", "clerk", "citizen"] {
        let s = t.login(who).await;
        let (status, _, body) = page(&s, "/admin/integrations").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{who}");
        assert!(!body.contains("integration-gxpt"), "{who}");
    }
    let (_, landed, _) = page(&t.anon(), "/admin/integrations").await;
    assert_eq!(landed, "/login");
}
