//! The whole life of a case along every path.

use reqwest::StatusCode;
use serde_json::json;

use crate::both;
use crate::harness::TestApp;

both!(accepted_approved_completed_rated);
async fn accepted_approved_completed_rated(t: TestApp) {
    let citizen = t.login("citizen").await;
    let clerk = t.login("clerk").await;

    let no = citizen.submitted("TEST-TWO").await;
    assert!(no.starts_with("ZT20250930"), "{no}");
    // Accepted on 2025-09-30 with 3 working days: due 2025-10-11 (adjusted Saturday).
    let (s, b) = clerk
        .act(&no, json!({"action": "accept", "opinion": "予以受理"}))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "in_review");
    assert_eq!(b["due_date"], "2025-10-11");

    // Days pass: sessions idle out, so everyone logs in again.
    t.set_today("2025-10-09");
    let (reviewer, approver) = (t.login("reviewer").await, t.login("approver").await);
    let (s, b) = reviewer
        .act(
            &no,
            json!({"action": "approve_step", "opinion": "符合条件"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "in_review");
    let (_, d) = approver.get(&format!("/api/v1/cases/{no}")).await;
    assert_eq!(d["current_step"]["key"], "decide");
    assert_eq!(d["warning"], "green");
    t.set_today("2025-10-10");
    let (citizen, clerk, approver) = (
        t.login("citizen").await,
        t.login("clerk").await,
        t.login("approver").await,
    );
    let (_, d) = approver.get(&format!("/api/v1/cases/{no}")).await;
    assert_eq!(d["warning"], "yellow");
    let (s, b) = approver
        .act(
            &no,
            json!({"action": "approve_step", "opinion": "准予许可"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "approved");
    let (s, b) = clerk
        .act(&no, json!({"action": "complete", "opinion": "已发证"}))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "completed");

    let (s, b) = citizen
        .post(
            &format!("/api/v1/cases/{no}/rating"),
            &json!({"score": 5, "comment": "很快👍"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = citizen
        .post(
            &format!("/api/v1/cases/{no}/rating"),
            &json!({"score": 4, "comment": "again"}),
        )
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::CONFLICT, Some("RATING_EXISTS"))
    );

    let (s, d) = citizen.get(&format!("/api/v1/cases/{no}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(d["status"], "completed");
    assert_eq!(d["rating"]["comment"], "很快👍");
    let actions: Vec<_> = d["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        actions,
        [
            "create",
            "submit",
            "accept",
            "approve_step",
            "approve_step",
            "complete"
        ]
    );
    assert_eq!(d["timeline"][3]["opinion"], "符合条件");
    assert_eq!(d["timeline"][3]["actor_role"], "reviewer");

    // Every status change reached the applicant's inbox; every transition is audited.
    let (_, n) = citizen.get("/api/v1/notifications").await;
    assert!(n["notifications"].as_array().unwrap().len() >= 4, "{n}");
    let audited = t.count(&format!("SELECT COUNT(*) FROM audit_records WHERE object = 'case:{no}' AND action LIKE 'case_%'")).await;
    assert!(audited >= 7, "audit records: {audited}");
}

both!(poor_rating_opens_rectification);
async fn poor_rating_opens_rectification(t: TestApp) {
    let citizen = t.login("citizen").await;
    let clerk = t.login("clerk").await;
    let reviewer = t.login("reviewer").await;
    let no = citizen.submitted("TEST-ANY").await;
    clerk.act(&no, json!({"action": "accept"})).await;
    let (s, b) = reviewer
        .act(&no, json!({"action": "deny", "opinion": "场所不符合条件"}))
        .await;
    assert_eq!(
        (s, b["status"].as_str()),
        (StatusCode::OK, Some("denied")),
        "{b}"
    );
    let (s, b) = clerk
        .act(&no, json!({"action": "complete", "opinion": "已送达"}))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = citizen
        .post(
            &format!("/api/v1/cases/{no}/rating"),
            &json!({"score": 2, "comment": ""}),
        )
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("RATING_COMMENT_REQUIRED")
        )
    );
    let (s, _) = citizen
        .post(
            &format!("/api/v1/cases/{no}/rating"),
            &json!({"score": 1, "comment": "材料要求前后不一"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, r) = clerk.get("/api/v1/rectifications").await;
    let task = r["rectifications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["case_no"] == no.as_str())
        .expect("task")
        .clone();
    assert_eq!(task["status"], "open");
    let path = format!("/api/v1/rectifications/{}/answer", task["id"]);
    let (s, b) = clerk
        .post(&path, &json!({"response": "已统一材料清单并培训窗口人员"}))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    let (s, b) = clerk.post(&path, &json!({"response": "again"})).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::CONFLICT, Some("RECTIFICATION_ANSWERED"))
    );
    let (_, n) = citizen.get("/api/v1/notifications").await;
    assert!(n["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["title"] == "差评整改答复"));
}

both!(rejected_at_intake);
async fn rejected_at_intake(t: TestApp) {
    let citizen = t.login("citizen").await;
    let clerk = t.login("clerk").await;
    let no = citizen.submitted("TEST-TWO").await;
    let (s, b) = clerk.act(&no, json!({"action": "reject_intake"})).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("CASE_OPINION_REQUIRED")
        )
    );
    let (s, b) = clerk
        .act(
            &no,
            json!({"action": "reject_intake", "opinion": "不属于本机关职权范围"}),
        )
        .await;
    assert_eq!(
        (s, b["status"].as_str()),
        (StatusCode::OK, Some("rejected_at_intake"))
    );
    let (s, b) = clerk.act(&no, json!({"action": "accept"})).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::CONFLICT, Some("CASE_INVALID_TRANSITION"))
    );
    let (_, d) = citizen.get(&format!("/api/v1/cases/{no}")).await;
    assert_eq!(d["due_date"], serde_json::Value::Null);
    assert_eq!(d["available_actions"], json!([]));
}

both!(correction_loop_at_intake_and_in_review);
async fn correction_loop_at_intake_and_in_review(t: TestApp) {
    let citizen = t.login("citizen").await;
    let clerk = t.login("clerk").await;
    let reviewer = t.login("reviewer").await;
    let no = citizen.submitted("TEST-TWO").await;
    // At intake: all problems at once; no clock yet.
    let (s, b) = clerk
        .act(&no, json!({"action": "request_supplement", "opinion": "请补正", "supplement_items": ["身份证明不清晰", "缺少场所平面图"]}))
        .await;
    assert_eq!(
        (s, b["status"].as_str()),
        (StatusCode::OK, Some("supplement_requested")),
        "{b}"
    );
    let (_, d) = citizen.get(&format!("/api/v1/cases/{no}")).await;
    assert_eq!(
        d["supplement"]["items"],
        json!(["身份证明不清晰", "缺少场所平面图"])
    );
    assert!(d["available_actions"]
        .as_array()
        .unwrap()
        .contains(&json!("resubmit")));
    let (s, _) = citizen
        .upload(
            &no,
            "site_plan",
            "平面图.png",
            b"\x89PNG\r\n\x1a\nfake-but-png-signed".to_vec(),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, b) = citizen.act(&no, json!({"action": "resubmit"})).await;
    assert_eq!(
        (s, b["status"].as_str()),
        (StatusCode::OK, Some("submitted")),
        "{b}"
    );

    // In review: the clock pauses and the due date moves by the working days lost.
    let (_, b) = clerk.act(&no, json!({"action": "accept"})).await;
    assert_eq!(b["due_date"], "2025-10-11");
    let (s, b) = reviewer
        .act(&no, json!({"action": "request_supplement", "opinion": "审查中补正", "supplement_items": ["补充卫生管理制度"]}))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // Paused Tue 09-30, resumed Fri 10-10: 10-09 and 10-10 are lost (holiday in between).
    t.set_today("2025-10-10");
    let (citizen, reviewer) = (t.login("citizen").await, t.login("reviewer").await);
    let (s, b) = citizen.act(&no, json!({"action": "resubmit"})).await;
    assert_eq!(
        (s, b["status"].as_str()),
        (StatusCode::OK, Some("in_review")),
        "{b}"
    );
    // 3 + 2 working days after 09-30: 10-09, 10-10, 10-11, 10-13, 10-14.
    assert_eq!(b["due_date"], "2025-10-14");
    let (_, d) = reviewer.get(&format!("/api/v1/cases/{no}")).await;
    assert_eq!(d["paused_days"], 2);
}

both!(withdrawal);
async fn withdrawal(t: TestApp) {
    let citizen = t.login("citizen").await;
    let clerk = t.login("clerk").await;
    let reviewer = t.login("reviewer").await;
    let no = citizen.submitted("TEST-TWO").await;
    clerk.act(&no, json!({"action": "accept"})).await;
    // Staff cannot withdraw for the applicant.
    let (s, b) = clerk.act(&no, json!({"action": "withdraw"})).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("CASE_ROLE_NOT_ALLOWED")),
        "{b}"
    );
    let (s, b) = citizen.act(&no, json!({"action": "withdraw"})).await;
    assert_eq!(
        (s, b["status"].as_str()),
        (StatusCode::OK, Some("withdrawn")),
        "{b}"
    );
    let (s, b) = reviewer
        .act(&no, json!({"action": "approve_step", "opinion": "x"}))
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::CONFLICT, Some("CASE_INVALID_TRANSITION"))
    );
    // After a decision the applicant can no longer withdraw.
    let no2 = citizen.submitted("TEST-ANY").await;
    clerk.act(&no2, json!({"action": "accept"})).await;
    reviewer
        .act(&no2, json!({"action": "approve_step", "opinion": "同意"}))
        .await;
    let (s, b) = citizen.act(&no2, json!({"action": "withdraw"})).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::CONFLICT, Some("CASE_INVALID_TRANSITION")),
        "{b}"
    );
}

both!(suspension_for_special_procedure);
async fn suspension_for_special_procedure(t: TestApp) {
    let citizen = t.login("citizen").await;
    let clerk = t.login("clerk").await;
    let reviewer = t.login("reviewer").await;
    let no = citizen.submitted("TEST-TWO").await;
    clerk.act(&no, json!({"action": "accept"})).await;
    let (s, b) = reviewer
        .act(&no, json!({"action": "suspend", "opinion": "组织听证"}))
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("CASE_PROCEDURE_REQUIRED")
        )
    );
    let (s, b) = reviewer
        .act(
            &no,
            json!({"action": "suspend", "opinion": "组织听证", "procedure": "hearing"}),
        )
        .await;
    assert_eq!(
        (s, b["status"].as_str()),
        (StatusCode::OK, Some("suspended")),
        "{b}"
    );
    let (_, d) = reviewer.get(&format!("/api/v1/cases/{no}")).await;
    assert_eq!(
        d["warning"],
        serde_json::Value::Null,
        "no warning while suspended"
    );
    // Suspended over the National Day holiday until Mon 10-13: 10-09, 10-10, 10-11, 10-13 lost.
    t.set_today("2025-10-13");
    let reviewer = t.login("reviewer").await;
    let (s, b) = reviewer
        .act(&no, json!({"action": "resume", "opinion": "听证结束"}))
        .await;
    assert_eq!(
        (s, b["status"].as_str()),
        (StatusCode::OK, Some("in_review")),
        "{b}"
    );
    assert_eq!(b["due_date"], "2025-10-16");
    let (_, d) = reviewer.get(&format!("/api/v1/cases/{no}")).await;
    assert_eq!(d["timeline"][3]["detail"]["procedure"], "听证");
}

both!(countersign_and_or_sign);
async fn countersign_and_or_sign(t: TestApp) {
    let citizen = t.login("citizen").await;
    let clerk = t.login("clerk").await;
    let reviewer = t.login("reviewer").await;
    let approver = t.login("approver").await;
    // 会签: both roles must agree.
    let no = citizen.submitted("TEST-ALL").await;
    clerk.act(&no, json!({"action": "accept"})).await;
    let (s, b) = reviewer
        .act(
            &no,
            json!({"action": "approve_step", "opinion": "审查同意"}),
        )
        .await;
    assert_eq!(
        (s, b["status"].as_str()),
        (StatusCode::OK, Some("in_review")),
        "{b}"
    );
    let (s, b) = reviewer
        .act(&no, json!({"action": "approve_step", "opinion": "再签"}))
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::CONFLICT, Some("CASE_ALREADY_SIGNED"))
    );
    let (s, b) = approver
        .act(
            &no,
            json!({"action": "approve_step", "opinion": "决定同意"}),
        )
        .await;
    assert_eq!(
        (s, b["status"].as_str()),
        (StatusCode::OK, Some("approved")),
        "{b}"
    );
    // 或签: either role decides alone.
    let no = citizen.submitted("TEST-ANY").await;
    clerk.act(&no, json!({"action": "accept"})).await;
    let (s, b) = approver
        .act(&no, json!({"action": "approve_step", "opinion": "同意"}))
        .await;
    assert_eq!(
        (s, b["status"].as_str()),
        (StatusCode::OK, Some("approved")),
        "{b}"
    );
}

both!(two_approvers_race);
async fn two_approvers_race(t: TestApp) {
    let citizen = t.login("citizen").await;
    let clerk = t.login("clerk").await;
    let reviewer = t.login("reviewer").await;
    let approver = t.login("approver").await;
    for _ in 0..5 {
        let no = citizen.submitted("TEST-ANY").await;
        let (_, b) = clerk.act(&no, json!({"action": "accept"})).await;
        let v = b["version"].as_i64().expect("version");
        let body = |op: &str| json!({"action": "approve_step", "opinion": op, "version": v});
        let (a, b) = tokio::join!(
            reviewer.act(&no, body("审查人同意")),
            approver.act(&no, body("决定人同意"))
        );
        let mut statuses = [a.0, b.0];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::CONFLICT],
            "{a:?} {b:?}"
        );
        let loser = if a.0 == StatusCode::CONFLICT {
            &a.1
        } else {
            &b.1
        };
        assert_eq!(loser["code"], "CASE_CONFLICT");
        assert!(loser["message"]
            .as_str()
            .unwrap()
            .contains("已被其他人员处理"));
        // Exactly one approval was written.
        let (_, d) = citizen.get(&format!("/api/v1/cases/{no}")).await;
        let approvals = d["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "approve_step")
            .count();
        assert_eq!(approvals, 1);
        assert_eq!(d["status"], "approved");
    }
}

both!(item_versions_do_not_change_filed_cases);
async fn item_versions_do_not_change_filed_cases(t: TestApp) {
    let citizen = t.login("citizen").await;
    let admin = t.login("sysadmin").await;
    let no = citizen.draft("TEST-TWO").await;
    let (_, item) = citizen.get("/api/v1/items/TEST-TWO").await;
    assert_eq!(item["version"], 1);
    let mut def = crate::harness::test_items()[0].1.clone();
    def["name"] = json!("测试事项（新版）");
    def["form_fields"][1]["required"] = json!(false);
    def["form_fields"]
        .as_array_mut()
        .unwrap()
        .push(json!({"key": "extra", "label": "新增字段", "type": "text", "required": true}));
    def["promised_days"] = json!(2);
    let (s, b) = admin
        .post(
            "/api/v1/admin/items/TEST-TWO/versions",
            &json!({"based_on": 1, "definition": def}),
        )
        .await;
    assert_eq!(
        (s, b["version"].as_i64()),
        (StatusCode::CREATED, Some(2)),
        "{b}"
    );
    // A second editor who started from version 1 is refused.
    let (s, b) = admin
        .post(
            "/api/v1/admin/items/TEST-TWO/versions",
            &json!({"based_on": 1, "definition": def}),
        )
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::CONFLICT, Some("ITEM_VERSION_CONFLICT"))
    );
    let (_, item) = citizen.get("/api/v1/items/TEST-TWO").await;
    assert_eq!(
        (item["version"].as_i64(), item["name"].as_str()),
        (Some(2), Some("测试事项（新版）"))
    );

    // The old case keeps version 1: its form and its 3-day limit.
    let (_, d) = citizen.get(&format!("/api/v1/cases/{no}")).await;
    assert_eq!(d["item_version"], 1);
    assert!(!d["form_fields"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["key"] == "extra"));
    citizen
        .post(&format!("/api/v1/cases/{no}/submit"), &json!({}))
        .await;
    let (_, b) = t
        .login("clerk")
        .await
        .act(&no, json!({"action": "accept"}))
        .await;
    assert_eq!(b["due_date"], "2025-10-11");
    // A new case follows version 2: the new field is required.
    let (s, b) = citizen
        .post(
            "/api/v1/cases",
            &json!({"item_code": "TEST-TWO", "form": {"applicant_name": "李明"}}),
        )
        .await;
    assert_eq!(
        (s, b["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("form.extra")),
        "{b}"
    );
    let (s, b) = citizen
        .post(
            "/api/v1/cases",
            &json!({"item_code": "TEST-TWO", "form": {"applicant_name": "李明", "extra": "x"}}),
        )
        .await;
    assert_eq!(
        (s, b["item_version"].as_i64()),
        (StatusCode::CREATED, Some(2)),
        "{b}"
    );
}

both!(enterprise_agent_files_for_company);
async fn enterprise_agent_files_for_company(t: TestApp) {
    let agent = t.login("agent").await;
    let no = agent.submitted("TEST-TWO").await;
    let (_, d) = agent.get(&format!("/api/v1/cases/{no}")).await;
    assert_eq!(d["applicant_kind"], "organisation");
    assert_eq!(d["applicant_name"], "青岚市示范科技有限公司");
    assert_eq!(d["org_uscc"], "91439902MA4L8E5K08");
}
