//! Non-repudiation: every decision is signed with the platform's SM2 key and
//! can be verified later with the published public key.

use reqwest::StatusCode;
use serde_json::json;

use crate::both;
use crate::harness::TestApp;

both!(decisions_are_signed_and_verifiable_by_anyone_with_the_public_key);
async fn decisions_are_signed_and_verifiable_by_anyone_with_the_public_key(t: TestApp) {
    let citizen = t.login("citizen").await;
    let approved = citizen.submitted("TEST-TWO").await;
    let refused = citizen.submitted("TEST-TWO").await;
    let clerk = t.login("clerk").await;
    let reviewer = t.login("reviewer").await;
    let approver = t.login("approver").await;
    let ok = |r: (StatusCode, serde_json::Value)| assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    ok(clerk.act(&approved, json!({"action": "accept"})).await);
    ok(reviewer
        .act(
            &approved,
            json!({"action": "approve_step", "opinion": "材料齐全"}),
        )
        .await);
    // Review steps are not decisions: nothing signed yet.
    let (_, s) = citizen
        .get(&format!("/api/v1/cases/{approved}/signatures"))
        .await;
    assert_eq!(s["signatures"], json!([]));
    ok(approver
        .act(
            &approved,
            json!({"action": "approve_step", "opinion": "准予许可"}),
        )
        .await);
    ok(clerk
        .act(
            &refused,
            json!({"action": "reject_intake", "opinion": "不属于本机关职权范围"}),
        )
        .await);

    let (st, key) = t.anon().get("/api/v1/signing-key").await;
    assert_eq!(st, StatusCode::OK);
    let pem = key["public_key_pem"].as_str().unwrap().to_string();
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"));
    for (no, decision, opinion, actor) in [
        (&approved, "approve", "准予许可", "approver"),
        (&refused, "reject_intake", "不属于本机关职权范围", "clerk"),
    ] {
        let (st, b) = citizen.get(&format!("/api/v1/cases/{no}/signatures")).await;
        assert_eq!(st, StatusCode::OK, "{b}");
        let sigs = b["signatures"].as_array().unwrap();
        assert_eq!(sigs.len(), 1, "{b}");
        let s = &sigs[0];
        assert_eq!(
            (s["decision"].as_str(), s["valid"].as_bool()),
            (Some(decision), Some(true))
        );
        assert_eq!(s["key_id"], key["key_id"]);
        let payload: serde_json::Value =
            serde_json::from_str(s["payload"].as_str().unwrap()).unwrap();
        assert_eq!(payload[1], no.as_str());
        assert_eq!(payload[2], decision);
        assert_eq!(payload[3], opinion);
        assert_eq!(payload[6], actor);
        // Independently of the platform's own check.
        zt_crypto::verify(
            &pem,
            s["payload"].as_str().unwrap().as_bytes(),
            s["signature"].as_str().unwrap(),
        )
        .unwrap();
        let forged = s["payload"].as_str().unwrap().replace(opinion, "不予许可");
        assert!(
            zt_crypto::verify(&pem, forged.as_bytes(), s["signature"].as_str().unwrap()).is_err()
        );
    }
    // A payload edited in the database no longer verifies.
    sqlx::query(
        "UPDATE decision_signatures SET payload = REPLACE(payload, '准予许可', '不予许可')",
    )
    .execute(t.app.db.writer())
    .await
    .unwrap();
    let (_, b) = approver
        .get(&format!("/api/v1/cases/{approved}/signatures"))
        .await;
    assert_eq!(b["signatures"][0]["valid"], false);
    // Someone else's case stays hidden.
    let other = t.login("citizen2").await;
    assert_eq!(
        other
            .get(&format!("/api/v1/cases/{approved}/signatures"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}
