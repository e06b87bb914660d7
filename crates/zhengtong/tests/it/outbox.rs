//! Case-event pushes through the transactional outbox, against an in-process
//! stand-in for gxpt that fails, drops acknowledgements and conflicts on
//! demand; reconciliation proves every event arrived exactly once.

use std::collections::HashMap;
use std::sync::Mutex;

use reqwest::StatusCode;
use serde_json::{json, Value};
use zt_app::outbox::{self, CaseEventSink, RemoteDay, SendError};

use crate::both;
use crate::harness::TestApp;

/// (case_no, seq) → (content_sm3, receipt, Beijing date)
type Stored = HashMap<(String, i64), (String, String, String)>;

#[derive(Default)]
struct FakeGx {
    stored: Mutex<Stored>,
    /// Every n-th call fails: before storing (even) or after (odd: lost ack).
    fail_every: Mutex<u64>,
    calls: Mutex<u64>,
    order_violations: Mutex<Vec<String>>,
}

impl FakeGx {
    fn faulty(every: u64) -> Self {
        Self {
            fail_every: Mutex::new(every),
            ..Default::default()
        }
    }
}

#[async_trait::async_trait]
impl CaseEventSink for FakeGx {
    async fn push(&self, record: &Value) -> Result<String, SendError> {
        let n = {
            let mut c = self.calls.lock().unwrap();
            *c += 1;
            *c
        };
        let every = *self.fail_every.lock().unwrap();
        let fail = every > 0 && n % every == 0;
        if fail && (n / every).is_multiple_of(2) {
            return Err(SendError::Retryable("503 GX_UNAVAILABLE".into()));
        }
        let case_no = record["case_no"].as_str().unwrap().to_string();
        let seq = record["seq"].as_i64().unwrap();
        let sm3 = outbox::content_sm3(record);
        let date = record["occurred_at"].as_str().unwrap()[..10].to_string();
        let mut s = self.stored.lock().unwrap();
        if seq > 1 && !s.contains_key(&(case_no.clone(), seq - 1)) {
            self.order_violations
                .lock()
                .unwrap()
                .push(format!("{case_no}#{seq}"));
        }
        let receipt = match s.get(&(case_no.clone(), seq)) {
            Some((h, r, _)) if *h == sm3 => r.clone(),
            Some(_) => return Err(SendError::Refused("409 GX_CONFLICT".into())),
            None => {
                let r = format!("GXR{n:08}");
                s.insert((case_no, seq), (sm3, r.clone(), date));
                r
            }
        };
        if fail {
            // Stored, but the answer is lost on the way back.
            return Err(SendError::Retryable("connection reset".into()));
        }
        Ok(receipt)
    }

    async fn reconcile(&self, date: &str, include: bool) -> Result<RemoteDay, SendError> {
        let s = self.stored.lock().unwrap();
        let entries: Vec<(String, i64, String)> = s
            .iter()
            .filter(|(_, (_, _, d))| d == date)
            .map(|((c, q), (h, _, _))| (c.clone(), *q, h.clone()))
            .collect();
        let (count, digest) = outbox::day_digest(&entries);
        Ok(RemoteDay {
            count,
            digest,
            entries: include.then_some(entries),
        })
    }
}

/// Moves cases along; every status change queues one event.
async fn lifecycle(t: &TestApp, n: usize) -> Vec<String> {
    let citizen = t.login("citizen").await;
    let agent = t.login("agent").await;
    let clerk = t.login("clerk").await;
    let reviewer = t.login("reviewer").await;
    let approver = t.login("approver").await;
    let mut nos = Vec::new();
    for i in 0..n {
        let who = if i % 3 == 0 { &agent } else { &citizen };
        let no = who.submitted("TEST-TWO").await;
        let ok = |r: (StatusCode, Value)| assert_eq!(r.0, StatusCode::OK, "{}", r.1);
        match i % 4 {
            0 => ok(clerk
                .act(
                    &no,
                    json!({"action": "reject_intake", "opinion": "不属于本机关职权"}),
                )
                .await),
            1 => {
                ok(clerk.act(&no, json!({"action": "accept"})).await);
                ok(reviewer
                    .act(&no, json!({"action": "approve_step", "opinion": "同意"}))
                    .await);
                ok(approver
                    .act(
                        &no,
                        json!({"action": "approve_step", "opinion": "准予许可"}),
                    )
                    .await);
                ok(clerk.act(&no, json!({"action": "complete"})).await);
            }
            2 => ok(who.act(&no, json!({"action": "withdraw"})).await),
            _ => ok(clerk.act(&no, json!({"action": "accept"})).await),
        }
        nos.push(no);
    }
    nos
}

async fn drain(t: &TestApp, gx: &FakeGx) -> u32 {
    for round in 0..400 {
        let r = outbox::deliver_due(&t.app, gx, 64).await.unwrap();
        let left = t
            .count("SELECT COUNT(*) FROM outbox WHERE counterpart = 'gxpt' AND status = 'pending'")
            .await;
        if left == 0 {
            return round;
        }
        if r.delivered + r.retried == 0 {
            // Everything waits for its backoff: let time pass.
            t.clock.advance(chrono::Duration::minutes(11));
        }
    }
    panic!("the outbox did not drain");
}

both!(every_status_change_arrives_exactly_once_in_order_despite_faults);
async fn every_status_change_arrives_exactly_once_in_order_despite_faults(t: TestApp) {
    let nos = lifecycle(&t, 12).await;
    let queued = t
        .count("SELECT COUNT(*) FROM outbox WHERE counterpart = 'gxpt'")
        .await;
    // submit + (reject | accept+approve+complete | withdraw | accept)
    let expected: i64 = (0..12)
        .map(|i| match i % 4 {
            0 => 2,
            1 => 4,
            2 => 2,
            _ => 2,
        })
        .sum();
    assert_eq!(queued, expected);
    let gx = FakeGx::faulty(3); // one call in three fails, half of them after storing
    drain(&t, &gx).await;
    assert_eq!(
        t.count("SELECT COUNT(*) FROM outbox WHERE counterpart = 'gxpt' AND status = 'delivered'")
            .await,
        expected
    );
    let stored = gx.stored.lock().unwrap().clone();
    assert_eq!(
        stored.len() as i64,
        expected,
        "exactly once: no duplicate, no gap"
    );
    assert!(
        gx.order_violations.lock().unwrap().is_empty(),
        "{:?}",
        gx.order_violations.lock().unwrap()
    );
    for no in &nos {
        let seqs: Vec<i64> = {
            let mut v: Vec<i64> = stored
                .keys()
                .filter(|(c, _)| c == no)
                .map(|(_, s)| *s)
                .collect();
            v.sort();
            v
        };
        assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>(), "{no}");
    }
    assert!(
        *gx.calls.lock().unwrap() as i64 > expected,
        "faults forced retries"
    );
    let day = zt_app::clock::Clock::today(&*t.clock);
    let r = outbox::reconcile(&t.app, &gx, &day.to_string())
        .await
        .unwrap();
    assert!(r.equal && r.local_count == expected, "{r:?}");
}

both!(reconciliation_repushes_what_is_missing_and_reports_conflicts);
async fn reconciliation_repushes_what_is_missing_and_reports_conflicts(t: TestApp) {
    lifecycle(&t, 4).await;
    let gx = FakeGx::default();
    drain(&t, &gx).await;
    let day = zt_app::clock::Clock::today(&*t.clock).to_string();
    // gxpt lost two events, and holds one with other content.
    let (lost, changed) = {
        let mut s = gx.stored.lock().unwrap();
        let mut keys: Vec<_> = s.keys().cloned().collect();
        keys.sort();
        s.remove(&keys[0]);
        s.remove(&keys[1]);
        s.get_mut(&keys[2]).unwrap().0 = "0".repeat(64);
        (vec![keys[0].clone(), keys[1].clone()], keys[2].clone())
    };
    let r = outbox::reconcile(&t.app, &gx, &day).await.unwrap();
    assert!(!r.equal);
    let mut repushed = r.repushed.clone();
    repushed.sort();
    assert_eq!(repushed, lost);
    assert_eq!(r.conflicts, vec![changed]);
    drain(&t, &gx).await;
    let held = gx.stored.lock().unwrap().len() as i64;
    assert_eq!(
        held,
        t.count("SELECT COUNT(*) FROM outbox WHERE counterpart = 'gxpt'")
            .await
    );
}

both!(a_conflict_is_not_retried_and_holds_the_cases_later_events);
async fn a_conflict_is_not_retried_and_holds_the_cases_later_events(t: TestApp) {
    let nos = lifecycle(&t, 2).await; // case 1 has four events
    let gx = FakeGx::default();
    // gxpt already holds other content for case 1's first event.
    gx.stored.lock().unwrap().insert(
        (nos[1].clone(), 1),
        ("f".repeat(64), "GXRX".into(), String::new()),
    );
    for _ in 0..5 {
        outbox::deliver_due(&t.app, &gx, 64).await.unwrap();
    }
    assert_eq!(
        t.count(&format!(
            "SELECT COUNT(*) FROM outbox WHERE counterpart = 'gxpt' AND aggregate = '{}' AND status = 'failed'",
            nos[1]
        ))
        .await,
        1
    );
    assert_eq!(
        t.count(&format!(
            "SELECT COUNT(*) FROM outbox WHERE counterpart = 'gxpt' AND aggregate = '{}' AND status = 'pending'",
            nos[1]
        ))
        .await,
        3,
        "later events wait"
    );
    assert_eq!(
        t.count(&format!(
            "SELECT COUNT(*) FROM outbox WHERE counterpart = 'gxpt' AND aggregate = '{}' AND status = 'delivered'",
            nos[0]
        ))
        .await,
        2
    );
    let calls = *gx.calls.lock().unwrap();
    outbox::deliver_due(&t.app, &gx, 64).await.unwrap();
    assert_eq!(
        *gx.calls.lock().unwrap(),
        calls,
        "a refused message is not sent again by itself"
    );
}

both!(pushes_reach_the_gxpt_double_over_http_through_faults_and_a_restart);
async fn pushes_reach_the_gxpt_double_over_http_through_faults_and_a_restart(t: TestApp) {
    let double = zt_gx::double::GxptDouble::start().await.unwrap();
    double.set_faults(zt_gx::double::Faults {
        error_rate: 0.15,
        drop_rate: 0.05,
        lost_ack_rate: 0.10,
        seed: Some(7),
        ..Default::default()
    });
    let creds = zt_gx::Credentials::sandbox_default();
    let cfg = zhengtong::config::Config {
        gxpt_url: double.base_url(),
        gx_app_key: "zt-sandbox-app".into(),
        gx_app_secret: zhengtong::config::Secret("zt-sandbox-secret-2025".into()),
        gx_data_key: zhengtong::config::Secret("8f3a1c5e7b9d2f4a6c8e0b1d3f5a7c9e".into()),
        ..Default::default()
    };
    assert_eq!(creds.app_key(), cfg.gx_app_key);
    lifecycle(&t, 8).await;
    let expected = t
        .count("SELECT COUNT(*) FROM outbox WHERE counterpart = 'gxpt'")
        .await;
    // A first process delivers part of the queue, then stops.
    {
        let sink = zhengtong::integrations::gxpt_sink(&cfg, &t.app)
            .await
            .unwrap()
            .unwrap();
        for _ in 0..2 {
            outbox::deliver_due(&t.app, &sink, 8).await.unwrap();
        }
    }
    let before_restart = t
        .count("SELECT COUNT(*) FROM outbox WHERE counterpart = 'gxpt' AND status = 'delivered'")
        .await;
    assert!(
        before_restart > 0 && before_restart < expected,
        "{before_restart}/{expected}"
    );
    // The next process takes over from the database alone.
    let sink = zhengtong::integrations::gxpt_sink(&cfg, &t.app)
        .await
        .unwrap()
        .unwrap();
    for _ in 0..200 {
        let r = outbox::deliver_due(&t.app, &sink, 64).await.unwrap();
        if t.count("SELECT COUNT(*) FROM outbox WHERE counterpart = 'gxpt' AND status = 'pending'")
            .await
            == 0
        {
            break;
        }
        if r.delivered == 0 {
            t.clock.advance(chrono::Duration::minutes(11));
        }
    }
    assert_eq!(
        t.count("SELECT COUNT(*) FROM outbox WHERE counterpart = 'gxpt' AND status = 'delivered'")
            .await,
        expected
    );
    let received = double.received();
    let keys: std::collections::HashSet<_> = received
        .iter()
        .map(|p| (p.case_no.clone(), p.seq))
        .collect();
    assert_eq!(
        (received.len() as i64, keys.len() as i64),
        (expected, expected),
        "no duplicate, no gap"
    );
    let c = double.counters();
    assert!(
        format!("{c:?}") != format!("{:?}", zt_gx::double::FaultCounters::default()),
        "faults happened: {c:?}"
    );
    let day = zt_app::clock::Clock::today(&*t.clock).to_string();
    let r = outbox::reconcile(&t.app, &sink, &day).await.unwrap();
    assert!(r.equal && r.local_count == expected, "{r:?}");
    let text = t.app.metrics.render(&[]);
    assert!(
        text.contains("zt_counterpart_calls_total{counterpart=\"gxpt\"}"),
        "{text}"
    );
}

both!(reconciliations_are_recorded_repeated_until_settled_and_shown_to_administrators);
async fn reconciliations_are_recorded_repeated_until_settled_and_shown_to_administrators(
    t: TestApp,
) {
    lifecycle(&t, 2).await;
    let gx = FakeGx::default();
    drain(&t, &gx).await;
    let day = zt_app::clock::Clock::today(&*t.clock).to_string();
    // gxpt lost one event: the first daily run repushes it and is not settled.
    {
        let mut s = gx.stored.lock().unwrap();
        let first = s.keys().min().cloned().unwrap();
        s.remove(&first);
    }
    let r = outbox::reconcile_unless_settled(&t.app, &gx, &day)
        .await
        .unwrap()
        .expect("not settled yet: compared");
    assert_eq!((r.equal, r.repushed.len()), (false, 1));
    drain(&t, &gx).await;
    // The next run finds it equal and records a settled result …
    let r = outbox::reconcile_unless_settled(&t.app, &gx, &day)
        .await
        .unwrap()
        .expect("compared again");
    assert!(r.equal && r.conflicts.is_empty() && r.pending == 0, "{r:?}");
    // … after which the day is not asked about again.
    assert!(outbox::reconcile_unless_settled(&t.app, &gx, &day)
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        t.count(&format!(
            "SELECT COUNT(*) FROM reconciliations WHERE counterpart = 'gxpt' AND event_date = '{day}'"
        ))
        .await,
        2
    );
    let admin = t.login("sysadmin").await;
    let resp = admin
        .client
        .get(format!("{}/admin/integrations", admin.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.unwrap();
    assert!(html.contains("id=\"reconciliations\""), "{html}");
    assert!(html.contains("一致（数量与摘要相同）"), "{html}");
    assert!(html.contains("不一致：补推 1 条"), "{html}");
}
