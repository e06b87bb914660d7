//! Malicious-code prevention for uploads: the built-in checks always, clamd
//! when configured, and a scanner that does not answer refuses the upload.

use bytes::Bytes;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::both;
use crate::harness::TestApp;

fn eicar() -> Vec<u8> {
    zt_scanner::builtin::eicar()
}

fn pdf_with(extra: &str) -> Vec<u8> {
    format!(
        "%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R {extra} >>\nendobj\n\
         2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
    )
    .into_bytes()
}

both!(infected_executable_and_scripted_files_are_refused_and_audited);
async fn infected_executable_and_scripted_files_are_refused_and_audited(t: TestApp) {
    let c = t.login("citizen").await;
    let no = c.draft("TEST-TWO").await;
    let stored = || t.count("SELECT COUNT(*) FROM case_materials");
    let before = stored().await;
    let mut embedded = b"%PDF-1.4\n".to_vec();
    embedded.extend(eicar());
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("eicar.pdf", eicar(), "UPLOAD_MALWARE"),
        ("embedded.pdf", embedded, "UPLOAD_MALWARE"),
        (
            "elf.pdf",
            b"\x7fELF\x02\x01\x01\x00 program".to_vec(),
            "UPLOAD_EXECUTABLE",
        ),
        (
            "js.pdf",
            pdf_with("/OpenAction << /S /JavaScript /JS (app.alert(1)) >>"),
            "UPLOAD_PDF_ACTIVE_CONTENT",
        ),
        (
            "obf.pdf",
            pdf_with("/OpenAction << /S /J#61vaScript /JS (x) >>"),
            "UPLOAD_PDF_ACTIVE_CONTENT",
        ),
        (
            "launch.pdf",
            pdf_with("/OpenAction << /S /Launch /F (cmd.exe) >>"),
            "UPLOAD_PDF_ACTIVE_CONTENT",
        ),
    ];
    for (name, data, code) in cases {
        let (s, b) = c.upload(&no, "id_copy", name, data).await;
        assert_eq!(
            (s, b["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(code)),
            "{name}: {b}"
        );
        assert!(b["message"]
            .as_str()
            .unwrap()
            .chars()
            .any(|ch| ('\u{4e00}'..='\u{9fff}').contains(&ch)));
    }
    assert_eq!(stored().await, before, "nothing stored");
    assert_eq!(t.count("SELECT COUNT(*) FROM audit_records WHERE action = 'upload_rejected' AND result = 'denied'").await, 6);
    // A plain PDF still passes.
    let (s, b) = c.upload(&no, "site_plan", "plan.pdf", pdf_with("")).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
}

/// A stand-in clamd speaking INSTREAM: answers FOUND for bytes containing
/// `MARKER`, OK otherwise.
async fn fake_clamd() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut cmd = [0u8; 10];
                if s.read_exact(&mut cmd).await.is_err() || &cmd != b"zINSTREAM\0" {
                    return;
                }
                let mut data = Vec::new();
                loop {
                    let mut len = [0u8; 4];
                    if s.read_exact(&mut len).await.is_err() {
                        return;
                    }
                    let n = u32::from_be_bytes(len) as usize;
                    if n == 0 {
                        break;
                    }
                    let mut chunk = vec![0u8; n];
                    if s.read_exact(&mut chunk).await.is_err() {
                        return;
                    }
                    data.extend(chunk);
                }
                let found = data.windows(6).any(|w| w == b"MARKER");
                let reply: &[u8] = if found {
                    b"stream: Zt.Test.Sig FOUND\0"
                } else {
                    b"stream: OK\0"
                };
                let _ = s.write_all(reply).await;
            });
        }
    });
    format!("tcp://{addr}")
}

both!(clamd_is_consulted_and_its_absence_refuses_uploads);
async fn clamd_is_consulted_and_its_absence_refuses_uploads(t: TestApp) {
    let c = t.login("citizen").await;
    let no = c.draft("TEST-TWO").await;
    let p = {
        let mut conn = t.app.db.reader().acquire().await.unwrap();
        let u = zt_store::users::by_username(&mut conn, "citizen")
            .await
            .unwrap()
            .unwrap();
        zt_app::auth::principal_for(&mut conn, &u, None)
            .await
            .unwrap()
    };
    let with = |addr: &str| {
        let cfg = zt_scanner::ClamdConfig::new(addr.parse().unwrap())
            .with_connect_timeout(std::time::Duration::from_millis(500))
            .with_timeout(std::time::Duration::from_secs(2));
        t.app
            .clone()
            .with_scanner(zt_scanner::Scanner::with_clamd(cfg))
    };
    let up = |app: zt_app::App, data: Vec<u8>| {
        let p = p.clone();
        let no = no.clone();
        async move {
            zt_app::cases::upload_material(
                &app,
                &p,
                "127.0.0.1",
                &no,
                "site_plan",
                "a.pdf",
                Bytes::from(data),
            )
            .await
        }
    };
    let clamd = fake_clamd().await;
    let ok = up(with(&clamd), pdf_with("")).await;
    assert!(ok.is_ok(), "{:?}", ok.err());
    let mut marked = pdf_with("");
    marked.extend(b"% MARKER\n");
    let e = up(with(&clamd), marked).await.unwrap_err();
    assert_eq!(e.code(), "UPLOAD_MALWARE");
    // Nothing listens here: the upload is refused, not let through.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("tcp://{}", l.local_addr().unwrap())
    };
    let e = up(with(&closed), pdf_with("")).await.unwrap_err();
    assert_eq!(
        (e.code(), e.kind()),
        ("UPLOAD_SCAN_UNAVAILABLE", zt_app::ErrorKind::Unavailable)
    );
    assert!(e.message().contains("稍后"), "{}", e.message());
    let rows = t
        .count("SELECT COUNT(*) FROM audit_records WHERE action = 'upload_rejected'")
        .await;
    assert_eq!(rows, 2);
}
