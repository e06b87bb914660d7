//! Interoperability with the eseal sandbox: a licence rendered here, sealed by the sandbox,
//! verified here, by pdfsig (CA trusted through an NSS database) and by pyHanko.
//!
//! Runs only when `ESEAL_URL` and `ESEAL_CA_PEM` are set, as `eval "$(./start.sh)"` in the
//! sandboxes folder sets them (`ESEAL_CA_PEM` is the path of the CA certificate, or the PEM
//! itself); otherwise it prints one `!!!!! SKIPPED` line and passes without doing anything.
//!
//! Sealing goes through `tests/eseal_sign.py`, which signs the GX-HMAC-SM3 request with the
//! sandbox's own `gxsign.py` (read-only, from `ESEAL_SANDBOX_DIR`, default
//! `/work/shared/sandboxes`), until the Rust client of crates/zt-gx can be used. The Python
//! interpreter is `ESEAL_PYTHON`, else the sandboxes' `.venv/bin/python` if present, else
//! `python3`; pyHanko is used when that interpreter has it. Credentials: `GX_APP_KEY`,
//! `GX_APP_SECRET`, `GX_DATA_KEY` (default: the documented test application).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Once;

use common::{decode_qr_codes, have, nss_db_trusting, pdfsig, pdftotext, sample, skip};
use zt_licence::{render, verify_sealed_pdf, VerifyError, SEAL_PLACEMENT};

static SKIP_NOTICE: Once = Once::new();

struct Sandbox {
    ca_pem: String,
    python: PathBuf,
}

fn sandbox() -> Option<Sandbox> {
    let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let (Some(_url), Some(ca)) = (get("ESEAL_URL"), get("ESEAL_CA_PEM")) else {
        // One line per test binary.
        SKIP_NOTICE.call_once(|| {
            skip(
                "zt-licence eseal interop tests",
                "ESEAL_URL and ESEAL_CA_PEM are not set (cd /work/shared/sandboxes && ./setup.sh && eval \"$(./start.sh)\")",
            );
        });
        return None;
    };
    let ca_pem = if ca.contains("-----BEGIN CERTIFICATE-----") {
        ca
    } else {
        std::fs::read_to_string(&ca).unwrap_or_else(|e| panic!("ESEAL_CA_PEM {ca}: {e}"))
    };
    let sandbox_dir = get("ESEAL_SANDBOX_DIR").unwrap_or_else(|| "/work/shared/sandboxes".into());
    let python = get("ESEAL_PYTHON").map(PathBuf::from).unwrap_or_else(|| {
        let venv = Path::new(&sandbox_dir).join(".venv/bin/python");
        if venv.exists() {
            venv
        } else {
            PathBuf::from("python3")
        }
    });
    Some(Sandbox { ca_pem, python })
}

struct Sealed {
    pdf: Vec<u8>,
    meta: serde_json::Value,
}

/// Seals `input` through the sandbox; Err(stderr) when the call fails.
fn seal(sb: &Sandbox, dir: &Path, input: &[u8], seal_code: &str) -> Result<Sealed, String> {
    let inp = dir.join("in.pdf");
    let out = dir.join("out.pdf");
    std::fs::write(&inp, input).unwrap();
    let helper = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/eseal_sign.py");
    let res = Command::new(&sb.python)
        .arg(helper)
        .arg(&inp)
        .arg(&out)
        .args(["--seal-code", seal_code])
        .args(["--page", &SEAL_PLACEMENT.page.to_string()])
        .args(["--x", &SEAL_PLACEMENT.x.to_string()])
        .args(["--y", &SEAL_PLACEMENT.y.to_string()])
        .args(["--reason", "颁发电子证照", "--signer-name", "王审批"])
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", sb.python.display()));
    if !res.status.success() {
        return Err(String::from_utf8_lossy(&res.stderr).into_owned());
    }
    let meta: serde_json::Value = serde_json::from_slice(&res.stdout).unwrap();
    Ok(Sealed {
        pdf: std::fs::read(&out).unwrap(),
        meta,
    })
}

fn unix(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp()
}

/// pyHanko's one-line verdict and exit status, or None when the interpreter lacks pyhanko.
fn pyhanko(sb: &Sandbox, ca: &Path, pdf: &Path) -> Option<(String, bool)> {
    let has = Command::new(&sb.python)
        .args(["-c", "import pyhanko.cli"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !has {
        return None;
    }
    let out = Command::new(&sb.python)
        .args([
            "-m",
            "pyhanko",
            "sign",
            "validate",
            "--trust-replace",
            "--trust",
        ])
        .arg(ca)
        .arg(pdf)
        .output()
        .unwrap();
    Some((
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.success(),
    ))
}

#[test]
fn sandbox_sealed_licence_verifies_here_and_in_standard_tools() {
    let Some(sb) = sandbox() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = sample();
    let original = render(&data).unwrap();
    let sealed = seal(&sb, dir.path(), &original, "36040000000011").expect("sealing");
    let pdf = &sealed.pdf;
    assert!(
        pdf.starts_with(&original),
        "the seal is an incremental update"
    );
    let at = unix(sealed.meta["signed_at"].as_str().unwrap());

    // Our verifier.
    let info = verify_sealed_pdf(pdf, &sb.ca_pem, at).expect("the sealed licence verifies");
    assert_eq!(info.seal_code.as_deref(), Some("36040000000011"));
    assert_eq!(
        info.signer_common_name.as_deref(),
        Some("江州市行政审批局行政审批专用章")
    );
    assert_eq!(
        info.signer_organization.as_deref(),
        Some("江州市行政审批局")
    );
    assert_eq!(
        info.signer_subject,
        "CN=江州市行政审批局行政审批专用章,OU=seal_code=36040000000011,O=江州市行政审批局,C=CN"
    );
    assert_eq!(
        Some(info.cert_serial_hex.as_str()),
        sealed.meta["cert_serial_hex"].as_str()
    );
    assert_eq!(info.claimed_signing_time, Some(at));
    assert_eq!(info.reason.as_deref(), Some("颁发电子证照"));
    assert_eq!(info.signer_name.as_deref(), Some("王审批"));
    assert_eq!(info.location.as_deref(), Some("江州市行政审批局"));
    assert_eq!(info.sub_filter, "ETSI.CAdES.detached");
    assert_eq!(info.byte_range[2] + info.byte_range[3], pdf.len() as u64);

    let sealed_path = dir.path().join("sealed.pdf");
    std::fs::write(&sealed_path, pdf).unwrap();
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, &sb.ca_pem).unwrap();

    // The text and the QR code survive sealing; the stamp does not cover the QR code.
    if have("pdftotext") && have("pdftoppm") {
        let text = pdftotext(&sealed_path);
        for s in [&data.holder, &data.licence_no, &data.item_name] {
            assert!(text.lines().any(|l| l.trim() == s), "{s} in:\n{text}");
        }
        assert_eq!(
            decode_qr_codes(&sealed_path, 150),
            vec![data.verify_url.clone()]
        );
    } else {
        skip(
            "interop text/QR after sealing",
            "poppler-utils not installed",
        );
    }

    // pdfsig with the sandbox CA trusted through an NSS database (eseal.md §4.2).
    let nss = if have("pdfsig") && have("certutil") {
        let db = nss_db_trusting(dir.path(), &sb.ca_pem);
        let (report, ok) = pdfsig(&sealed_path, Some(&db));
        assert!(ok, "{report}");
        assert!(report.contains("Signature is Valid."), "{report}");
        assert!(report.contains("Certificate is Trusted."), "{report}");
        assert!(report.contains("Total document signed"), "{report}");
        assert!(report.contains("ETSI.CAdES.detached"), "{report}");
        Some(db)
    } else {
        skip(
            "interop pdfsig checks",
            "pdfsig/certutil not installed (apt-get install poppler-utils libnss3-tools)",
        );
        None
    };

    // pyHanko (eseal.md §4.3): INTACT:TRUSTED,UNTOUCHED with our certificate fingerprint.
    match pyhanko(&sb, &ca_path, &sealed_path) {
        Some((line, ok)) => {
            assert!(ok, "pyHanko: {line}");
            assert!(line.contains(":INTACT:TRUSTED,UNTOUCHED"), "{line}");
            assert!(
                line.contains(&info.cert_sha256_hex),
                "{line} vs {}",
                info.cert_sha256_hex
            );
        }
        None => skip(
            "interop pyHanko checks",
            &format!("{} has no pyhanko (set ESEAL_PYTHON)", sb.python.display()),
        ),
    }

    // One byte changed inside the signed range (in the page content).
    let mut tampered = pdf.clone();
    tampered[original.len() / 2] ^= 0x01;
    assert_eq!(
        verify_sealed_pdf(&tampered, &sb.ca_pem, at),
        Err(VerifyError::DigestMismatch)
    );
    let tampered_path = dir.path().join("tampered.pdf");
    std::fs::write(&tampered_path, &tampered).unwrap();
    if let Some(db) = &nss {
        let (report, _) = pdfsig(&tampered_path, Some(db));
        assert!(!report.contains("Signature is Valid."), "{report}");
        assert!(report.contains("Digest Mismatch."), "{report}");
    }
    if let Some((line, ok)) = pyhanko(&sb, &ca_path, &tampered_path) {
        assert!(
            !ok && line.contains(":INVALID"),
            "pyHanko on a changed byte: {line}"
        );
    }

    // Bytes appended after signing.
    let mut appended = pdf.clone();
    appended.extend_from_slice(b"\n% appended after sealing\n");
    assert!(matches!(
        verify_sealed_pdf(&appended, &sb.ca_pem, at),
        Err(VerifyError::ByteRangeInvalid(_))
    ));

    // Another CA, and one with the sandbox CA's name but another key.
    let other_key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Another Root CA");
    let other = params.self_signed(&other_key).unwrap().pem();
    assert!(matches!(
        verify_sealed_pdf(pdf, &other, at),
        Err(VerifyError::UntrustedCertificate(_))
    ));
    let impostor = common::signer::make(
        &common::signer::CertSpec::ca("eseal Sandbox Root CA", 1),
        &common::signer::keys()[0],
        None,
    );
    assert!(matches!(
        verify_sealed_pdf(pdf, &impostor.pem, at),
        Err(VerifyError::UntrustedCertificate(_))
    ));

    // Long after the seal certificate (5 years) has expired.
    assert!(matches!(
        verify_sealed_pdf(pdf, &sb.ca_pem, at + 6 * 366 * 86_400),
        Err(VerifyError::CertificateExpired { .. })
    ));
}

#[test]
fn sandbox_sealed_twice_verifies_the_last_seal() {
    let Some(sb) = sandbox() else { return };
    let dir = tempfile::tempdir().unwrap();
    let original = render(&sample()).unwrap();
    let first = seal(&sb, dir.path(), &original, "36040000000011").expect("first seal");
    // (The second stamp lands on the first: the position is the licence's seal area.)
    let second = seal(&sb, dir.path(), &first.pdf, "36040000000031").expect("second seal");
    assert!(second.pdf.starts_with(&first.pdf));
    let at = unix(second.meta["signed_at"].as_str().unwrap());
    let info = verify_sealed_pdf(&second.pdf, &sb.ca_pem, at).unwrap();
    assert_eq!(info.seal_code.as_deref(), Some("36040000000031"));
    assert_eq!(
        info.signer_common_name.as_deref(),
        Some("江州市民政局婚姻登记专用章")
    );
    // The first seal's revision on its own still verifies.
    let info = verify_sealed_pdf(&first.pdf, &sb.ca_pem, at).unwrap();
    assert_eq!(info.seal_code.as_deref(), Some("36040000000011"));

    if have("pdfsig") && have("certutil") {
        let db = nss_db_trusting(dir.path(), &sb.ca_pem);
        let path = dir.path().join("twice.pdf");
        std::fs::write(&path, &second.pdf).unwrap();
        let (report, _) = pdfsig(&path, Some(&db));
        assert_eq!(report.matches("Signature is Valid.").count(), 2, "{report}");
        assert_eq!(
            report.matches("Certificate is Trusted.").count(),
            2,
            "{report}"
        );
    }

    // The disabled seal is refused by the service (and the helper reports it).
    let err = seal(&sb, dir.path(), &original, "36040000000099")
        .err()
        .expect("a disabled seal is refused");
    assert!(err.contains("SEAL_DISABLED"), "{err}");
}
