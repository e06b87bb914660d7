//! Applicants are verified against the registers through gxpt before a case
//! is submitted; a register that cannot be reached does not stop the
//! application.

use std::sync::Arc;

use serde_json::json;

use crate::both;
use crate::harness::{TestApp, PASSWORD};

async fn account(
    t: &TestApp,
    username: &str,
    name: &str,
    kind: &str,
    idn: Option<&str>,
    uscc: Option<(&str, &str)>,
) {
    let req = zt_app::admin::NewUserRequest {
        username: username.into(),
        password: PASSWORD.into(),
        display_name: name.into(),
        user_type: kind.into(),
        id_number: idn.map(str::to_string),
        org_uscc: uscc.map(|u| u.0.to_string()),
        org_name: uscc.map(|u| u.1.to_string()),
        real_name_level: Some("L2".into()),
        ..Default::default()
    };
    zt_app::admin::create_user(&t.app, None, &zhengtong::bootstrap::cli_origin(), &req)
        .await
        .unwrap_or_else(|e| panic!("{username}: {}", e.message()));
}

fn gx_config(url: String) -> zhengtong::config::Config {
    zhengtong::config::Config {
        gxpt_url: url,
        gx_app_key: "zt-sandbox-app".into(),
        gx_app_secret: zhengtong::config::Secret("zt-sandbox-secret-2025".into()),
        gx_data_key: zhengtong::config::Secret("8f3a1c5e7b9d2f4a6c8e0b1d3f5a7c9e".into()),
        ..Default::default()
    }
}

both!(persons_and_enterprises_are_verified_before_submission);
async fn persons_and_enterprises_are_verified_before_submission(t: TestApp) {
    let double = zt_gx::double::GxptDouble::start().await.unwrap();
    let v = zhengtong::integrations::gxpt_verifier(&gx_config(double.base_url()), &t.app)
        .unwrap()
        .unwrap();
    let app = t.app.clone().with_verifier(Arc::new(v));
    account(
        &t,
        "p01",
        "张伟",
        "person",
        Some("110105198506150110"),
        None,
    )
    .await;
    account(
        &t,
        "p04",
        "刘洋",
        "person",
        Some("420106194001010113"),
        None,
    )
    .await;
    account(
        &t,
        "p10wrong",
        "李四",
        "person",
        Some("370202196210010114"),
        None,
    )
    .await;
    account(
        &t,
        "e01",
        "孙强",
        "agent",
        Some("510107197504180116"),
        Some(("91110108MA01D7K64J", "北京云岭信息技术有限公司")),
    )
    .await;
    account(
        &t,
        "e03",
        "陈静",
        "agent",
        Some("33010619781123038X"),
        Some(("91440104MA59C2K7XF", "广州南粤餐饮管理有限公司")),
    )
    .await;
    let submit = |who: &'static str| {
        let app = app.clone();
        let t = &t;
        async move {
            let s = t.login(who).await;
            let no = s.draft("TEST-TWO").await;
            let p = {
                let mut c = t.app.db.reader().acquire().await.unwrap();
                let u = zt_store::users::by_username(&mut c, who)
                    .await
                    .unwrap()
                    .unwrap();
                zt_app::auth::principal_for(&mut c, &u, None).await.unwrap()
            };
            let r = zt_app::cases::act(
                &app,
                &p,
                "127.0.0.1",
                &no,
                &serde_json::from_value(json!({"action": "submit"})).unwrap(),
            )
            .await;
            (no, r.map(|_| ()).map_err(|e| (e.code(), e.message())))
        }
    };
    let (_, ok) = submit("p01").await;
    assert!(ok.is_ok(), "{ok:?}");
    let (no, dead) = submit("p04").await;
    let e = dead.unwrap_err();
    assert_eq!(e.0, "IDENTITY_DECEASED");
    assert!(e.1.contains("死亡"), "{}", e.1);
    let (_, c) = t
        .login("p04")
        .await
        .get(&format!("/api/v1/cases/{no}"))
        .await;
    assert_eq!(
        c["status"], "draft",
        "a refused submission leaves the draft as it was"
    );
    assert_eq!(
        submit("p10wrong").await.1.unwrap_err().0,
        "IDENTITY_NAME_MISMATCH"
    );
    assert!(submit("e01").await.1.is_ok());
    assert_eq!(submit("e03").await.1.unwrap_err().0, "ENTERPRISE_REVOKED");
    assert_eq!(t.count("SELECT COUNT(*) FROM audit_records WHERE action = 'identity_check' AND result = 'denied'").await, 3);
    // The register down: the application goes ahead, the skipped check is audited.
    drop(double);
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let cfg = gx_config(closed);
    let v = zhengtong::integrations::gxpt_verifier(&cfg, &t.app)
        .unwrap()
        .unwrap();
    let app2 = t.app.clone().with_verifier(Arc::new(v));
    let s = t.login("p04").await;
    let no = s.draft("TEST-TWO").await;
    let p = {
        let mut c = t.app.db.reader().acquire().await.unwrap();
        let u = zt_store::users::by_username(&mut c, "p04")
            .await
            .unwrap()
            .unwrap();
        zt_app::auth::principal_for(&mut c, &u, None).await.unwrap()
    };
    let r = zt_app::cases::act(
        &app2,
        &p,
        "127.0.0.1",
        &no,
        &serde_json::from_value(json!({"action": "submit"})).unwrap(),
    )
    .await;
    assert!(r.is_ok(), "{:?}", r.err().map(|e| e.code()));
    assert_eq!(t.count("SELECT COUNT(*) FROM audit_records WHERE action = 'identity_check' AND result = 'unavailable'").await, 1);
}
