//! The e-seal client against the real eseal sandbox (specs/eseal.md), run
//! when ESEAL_URL and GX_APP_KEY/GX_APP_SECRET/GX_DATA_KEY are set (scripts/test.sh
//! starts the sandboxes); otherwise one loud SKIPPED line.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use zt_gx::eseal::{EsealClient, SignRequest};
use zt_gx::{Credentials, GxConfig, GxError};

/// A one-page A4 PDF with a correct cross-reference table.
fn one_page_pdf() -> Vec<u8> {
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << >> /Contents 4 0 R >>",
        "<< /Length 0 >>\nstream\n\nendstream",
    ];
    let mut out = b"%PDF-1.7\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for off in offsets {
        out.extend(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

fn client() -> Option<EsealClient> {
    let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let (Some(url), Some(key), Some(secret), Some(data)) = (
        get("ESEAL_URL"),
        get("GX_APP_KEY"),
        get("GX_APP_SECRET"),
        get("GX_DATA_KEY"),
    ) else {
        eprintln!("!!!!! SKIPPED zt-gx eseal interop: ESEAL_URL, GX_APP_KEY, GX_APP_SECRET, GX_DATA_KEY are not all set (cd ../shared/sandboxes && ./setup.sh && eval \"$(./start.sh)\") !!!!!");
        return None;
    };
    let creds = Credentials::new(&key, &secret, &data).unwrap();
    Some(EsealClient::new(GxConfig::new(url, creds), Arc::new(zt_gx::SystemClock)).unwrap())
}

#[tokio::test]
async fn seals_are_listed_and_a_pdf_is_sealed_once_and_checked() {
    let Some(c) = client() else { return };
    let seals = c.seals().await.unwrap();
    assert_eq!(seals.len(), 5, "{seals:?}");
    let disabled: Vec<_> = seals
        .iter()
        .filter(|s| !s.is_active())
        .map(|s| s.seal_code.as_str())
        .collect();
    assert_eq!(disabled, vec!["36040000000099"]);
    let pdf = one_page_pdf();
    let req = SignRequest {
        document: &pdf,
        seal_code: "36040000000011",
        page: 1,
        x: 425.0,
        y: 50.0,
        reason: "电子证照签发",
        signer_name: Some("互操作测试"),
    };
    let sealed = c.sign(&req).await.unwrap();
    assert!(sealed.pdf.starts_with(&pdf) && sealed.pdf.len() > pdf.len());
    assert_eq!(sealed.signature_id.len(), 32);
    assert!(sealed.signed_at.ends_with("+08:00"), "{}", sealed.signed_at);
    assert_eq!(sealed.document_sm3, zt_crypto::sm3_hex(&sealed.pdf));
    // A disabled seal and an unknown seal are refused, not retried.
    let e = c
        .sign(&SignRequest {
            seal_code: "36040000000099",
            ..req.clone()
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&e, GxError::Rejected { code, .. } if code == "SEAL_DISABLED"),
        "{e:?}"
    );
    assert!(!e.is_retryable());
    let e = c
        .sign(&SignRequest {
            seal_code: "36049999999999",
            ..req.clone()
        })
        .await
        .unwrap_err();
    assert!(!e.is_retryable(), "{e:?}");
    // A stamp that does not fit on the page.
    let e = c.sign(&SignRequest { x: 500.0, ..req }).await.unwrap_err();
    assert!(
        matches!(&e, GxError::Rejected { code, .. } if code == "SEAL_BAD_POSITION"),
        "{e:?}"
    );
}
