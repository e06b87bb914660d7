//! Bad input: a 4xx with a stable code and a Chinese message, and nothing changed.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both;
use crate::harness::{Session, TestApp};

async fn snapshot(t: &TestApp) -> [i64; 5] {
    [
        t.count("SELECT COUNT(*) FROM cases").await,
        t.count("SELECT COUNT(*) FROM case_events").await,
        t.count("SELECT COUNT(*) FROM case_materials").await,
        t.count("SELECT COUNT(*) FROM ratings").await,
        t.count("SELECT COUNT(*) FROM users").await,
    ]
}

fn assert_error(what: &str, got: (StatusCode, Value), status: StatusCode, code: &str) {
    assert_eq!(got.0, status, "{what}: {}", got.1);
    assert_eq!(got.1["code"], code, "{what}: {}", got.1);
    let msg = got.1["message"].as_str().unwrap_or("");
    assert!(
        msg.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
        "{what}: message must be Chinese: {msg}"
    );
    assert!(
        got.1["request_id"].as_str().is_some_and(|r| !r.is_empty()),
        "{what}: request id"
    );
    let text = got.1.to_string().to_lowercase();
    for leak in ["sqlx", "select ", "panicked", "/work/", "src/", "stack"] {
        assert!(!text.contains(leak), "{what}: leaks {leak}: {text}");
    }
}

async fn create(s: &Session, form: Value) -> (StatusCode, Value) {
    s.post(
        "/api/v1/cases",
        &json!({"item_code": "TEST-TWO", "form": form}),
    )
    .await
}

both!(malformed_requests);
async fn malformed_requests(t: TestApp) {
    let c = t.login("citizen").await;
    let before = snapshot(&t).await;
    assert_error(
        "broken json",
        c.post_raw("/api/v1/cases", "application/json", "{\"item_code\": ")
            .await,
        StatusCode::BAD_REQUEST,
        "JSON_MALFORMED",
    );
    assert_error(
        "not json",
        c.post_raw("/api/v1/cases", "text/plain", "hello").await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "CONTENT_TYPE_JSON",
    );
    assert_error(
        "wrong type",
        c.post("/api/v1/cases", &json!({"item_code": 5, "form": {}}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "JSON_WRONG_TYPE",
    );
    let missing = c.post("/api/v1/cases", &json!({"form": {}})).await;
    assert_eq!(missing.1["field"], "item_code");
    assert_error(
        "missing field",
        missing,
        StatusCode::UNPROCESSABLE_ENTITY,
        "JSON_MISSING_FIELD",
    );
    let unknown = c
        .post(
            "/api/v1/cases",
            &json!({"item_code": "TEST-TWO", "form": {}, "admin": true}),
        )
        .await;
    assert_eq!(unknown.1["field"], "admin");
    assert_error(
        "unknown field",
        unknown,
        StatusCode::UNPROCESSABLE_ENTITY,
        "JSON_UNKNOWN_FIELD",
    );
    assert_error(
        "unknown item",
        c.post("/api/v1/cases", &json!({"item_code": "NOPE", "form": {}}))
            .await,
        StatusCode::NOT_FOUND,
        "ITEM_NOT_FOUND",
    );
    let big = "x".repeat(400 * 1024);
    assert_error(
        "body too large",
        c.post("/api/v1/cases", &json!({"item_code": big, "form": {}}))
            .await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "BODY_TOO_LARGE",
    );
    assert_error(
        "unknown action",
        c.act("ZT20250930000000000001", json!({"action": "approve_all"}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "ACTION_UNKNOWN",
    );
    assert_error(
        "bad query",
        c.get("/api/v1/cases?limit=abc").await,
        StatusCode::BAD_REQUEST,
        "QUERY_INVALID",
    );
    assert_error(
        "bad status filter",
        c.get("/api/v1/cases?status=flying").await,
        StatusCode::BAD_REQUEST,
        "STATUS_UNKNOWN",
    );
    assert_error(
        "bad case no",
        c.get("/api/v1/cases/..%2F..%2Fetc%2Fpasswd").await,
        StatusCode::NOT_FOUND,
        "CASE_NOT_FOUND",
    );
    assert_error(
        "unknown path",
        c.get("/api/v1/nothing").await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    assert_error(
        "bad due date",
        c.get("/api/v1/calendar/due?start=2025-02-30&days=3").await,
        StatusCode::BAD_REQUEST,
        "DATE_INVALID",
    );
    assert_error(
        "bad days",
        c.get("/api/v1/calendar/due?start=2025-09-30&days=-1").await,
        StatusCode::BAD_REQUEST,
        "DAYS_INVALID",
    );
    assert_error(
        "outside calendar",
        c.get("/api/v1/calendar/due?start=2026-12-28&days=10").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "CALENDAR_DATE_OUT_OF_RANGE",
    );
    let long_q = "长".repeat(51);
    assert_error(
        "long search",
        c.get(&format!("/api/v1/items?q={long_q}")).await,
        StatusCode::BAD_REQUEST,
        "QUERY_TOO_LONG",
    );
    assert_eq!(
        snapshot(&t).await,
        before,
        "malformed requests changed nothing"
    );
}

both!(form_values);
async fn form_values(t: TestApp) {
    let c = t.login("citizen").await;
    let before = snapshot(&t).await;
    let ok = json!({"applicant_name": "李明", "phone": "13800138000"});
    let with = |k: &str, v: Value| {
        let mut f = ok.clone();
        f[k] = v;
        f
    };
    assert_error(
        "bad id check char",
        create(&c, with("id_number", json!("439902198503170024"))).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "ID_NUMBER_CHECKSUM",
    );
    assert_error(
        "bad phone",
        create(&c, with("phone", json!("2380013800"))).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "MOBILE_INVALID",
    );
    assert_error(
        "unknown option",
        create(&c, with("scale", json!("超大型"))).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "FORM_FIELD_OPTION",
    );
    assert_error(
        "bad amount",
        create(&c, with("capital", json!("12.345"))).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "FORM_FIELD_AMOUNT",
    );
    assert_error(
        "too long",
        create(&c, with("applicant_name", json!("名".repeat(201)))).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "FORM_FIELD_TOO_LONG",
    );
    assert_error(
        "wrong json type",
        create(&c, with("phone", json!({"n": 1}))).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "FORM_FIELD_TYPE",
    );
    assert_error(
        "unknown form field",
        create(&c, with("is_admin", json!(true))).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "FORM_UNKNOWN_FIELD",
    );
    assert_error(
        "control char",
        create(&c, with("applicant_name", json!("a\u{0007}b"))).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "FORM_FIELD_CONTROL_CHAR",
    );
    // Every problem is reported at once.
    let all = create(&c, json!({"id_number": "1", "phone": "x"})).await;
    let fields: Vec<_> = all.1["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_string())
        .collect();
    for f in ["form.applicant_name", "form.phone", "form.id_number"] {
        assert!(fields.contains(&f.to_string()), "{f} in {fields:?}");
    }
    assert_eq!(snapshot(&t).await, before, "invalid forms changed nothing");
}

both!(stored_text_round_trips_escaped);
async fn stored_text_round_trips_escaped(t: TestApp) {
    let c = t.login("citizen").await;
    let name = "𠮷野𪚥·阿卜杜勒 😀";
    let sql = "'; DROP TABLE cases; --";
    let html = "<script>alert(1)</script>";
    let (s, b) = create(
        &c,
        json!({"applicant_name": name, "phone": "13800138000", "note": format!("{sql}\n{html}")}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let no = b["case_no"].as_str().unwrap();
    let (_, d) = c.get(&format!("/api/v1/cases/{no}")).await;
    assert_eq!(d["form"]["applicant_name"], name);
    assert_eq!(d["form"]["note"], format!("{sql}\n{html}"));
    assert!(
        t.count("SELECT COUNT(*) FROM cases").await >= 1,
        "the table is still there"
    );
    // Search with LIKE metacharacters matches them literally.
    let (s, l) = c.get("/api/v1/items?q=%25_").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(l["items"].as_array().unwrap().len(), 0);
    // The applicant's own name, with a character outside the BMP, is searchable.
    let c2 = t.login("citizen2").await;
    let (s, b) = create(&c2, json!({"applicant_name": name, "phone": "13800138000"})).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (_, l) = c2.get("/api/v1/cases?q=%F0%A0%AE%B7").await;
    let found = l["cases"].as_array().unwrap();
    assert!(
        found
            .iter()
            .any(|x| x["case_no"] == b["case_no"] && x["applicant_name"] == "张𠮷·娜"),
        "rare characters searchable: {l}"
    );
}

both!(uploads);
async fn uploads(t: TestApp) {
    let c = t.login("citizen").await;
    let (_, b) = create(
        &c,
        json!({"applicant_name": "李明", "phone": "13800138000"}),
    )
    .await;
    let no = b["case_no"].as_str().unwrap().to_string();
    let before = snapshot(&t).await;
    let files_before = count_files(&t);
    assert_error(
        "exe labelled pdf",
        c.upload(
            &no,
            "id_copy",
            "id.pdf",
            b"MZ\x90\x00\x03\x00\x00\x00this is a program".to_vec(),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "UPLOAD_EXECUTABLE",
    );
    assert_error(
        "html labelled png",
        c.upload(
            &no,
            "id_copy",
            "a.png",
            b"<html><script>alert(1)</script>".to_vec(),
        )
        .await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UPLOAD_TYPE_NOT_ALLOWED",
    );
    assert_error(
        "empty",
        c.upload(&no, "id_copy", "a.pdf", Vec::new()).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "UPLOAD_EMPTY",
    );
    let mut big = b"%PDF-1.4\n".to_vec();
    big.resize(11 * 1024 * 1024, b'0');
    assert_error(
        "oversized",
        c.upload(&no, "id_copy", "big.pdf", big).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "UPLOAD_TOO_LARGE",
    );
    assert_error(
        "unknown material",
        c.upload(
            &no,
            "passport",
            "a.pdf",
            zhengtong::demo::sample_pdf("a").to_vec(),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "MATERIAL_UNKNOWN",
    );
    assert_eq!(
        snapshot(&t).await,
        before,
        "refused uploads changed nothing"
    );
    assert_eq!(
        count_files(&t),
        files_before,
        "refused uploads left no file"
    );

    // A traversal name is kept for display only; the stored key is the platform's.
    let (s, m) = c
        .upload(
            &no,
            "id_copy",
            "../../../../etc/passwd.pdf",
            zhengtong::demo::sample_pdf("p").to_vec(),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    assert_eq!(m["file_name"], "passwd.pdf");
    assert_eq!(m["content_type"], "application/pdf");
    assert_eq!(m["digest_sm3"].as_str().unwrap().len(), 64);
    assert!(!std::path::Path::new("/etc/passwd.pdf").exists());
    // Submitting without required materials names every one missing.
    let (_, b) = create(
        &c,
        json!({"applicant_name": "李明", "phone": "13800138000"}),
    )
    .await;
    let no2 = b["case_no"].as_str().unwrap();
    let r = c
        .post(&format!("/api/v1/cases/{no2}/submit"), &json!({}))
        .await;
    assert_eq!(r.1["field"], "materials.id_copy");
    assert_error(
        "missing materials",
        r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "CASE_MATERIALS_MISSING",
    );
    // A tampered stored file is refused on download.
    let (_, d) = c.get(&format!("/api/v1/cases/{no}")).await;
    let mid = d["materials"][0]["id"].as_i64().unwrap();
    for entry in walk(&t.data_dir.join("files")) {
        std::fs::write(entry, b"%PDF-1.4 tampered").unwrap();
    }
    let (s, b) = c.get(&format!("/api/v1/cases/{no}/materials/{mid}")).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            Some("MATERIAL_INTEGRITY")
        )
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn count_files(t: &TestApp) -> usize {
    walk(&t.data_dir.join("files")).len()
}
