//! The built-in e-seal provider (`zt_licence::local_seal`): licences sealed here verify with the
//! crate's verifier, poppler's pdfsig and pyHanko against `ca_pem()`, like the service's.
//!
//! The external tools are skipped with one loud line where they are missing, and required when
//! `CI=true`.

#![cfg(feature = "local-seal")]
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{have, nss_db_trusting, pdfsig, sample, skip};
use der::Decode;
use x509_cert::Certificate;
use zt_licence::local_seal::{LocalSeal, LocalSealError, LocalSealer};
use zt_licence::{render, verify_sealed_pdf, VerifyError, SEAL_PLACEMENT};

/// 2026-11-24T14:03:36Z.
const AT: i64 = 1_795_529_016;

fn seals() -> Vec<LocalSeal> {
    vec![
        LocalSeal {
            seal_code: "37020000000011".into(),
            name: "青岚市人民政府政务服务管理办公室电子证照专用章".into(),
            org_name: "青岚市人民政府政务服务管理办公室".into(),
            org_uscc: Some("11370200MB1C27409C".into()),
        },
        LocalSeal {
            seal_code: "37020000000061".into(),
            name: "青岚市民政局".into(),
            org_name: "青岚市民政局".into(),
            org_uscc: None,
        },
    ]
}

/// One key directory per test binary: key generation is the slow part.
fn shared() -> &'static (tempfile::TempDir, LocalSealer) {
    static S: OnceLock<(tempfile::TempDir, LocalSealer)> = OnceLock::new();
    S.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let sealer = LocalSealer::open_or_create(dir.path(), &seals()).unwrap();
        (dir, sealer)
    })
}

fn licence() -> Vec<u8> {
    render(&sample()).unwrap()
}

fn seal_licence(sealer: &LocalSealer, pdf: &[u8], code: &str) -> zt_licence::local_seal::SealedPdf {
    sealer
        .seal(
            pdf,
            code,
            SEAL_PLACEMENT.page,
            SEAL_PLACEMENT.x,
            SEAL_PLACEMENT.y,
            "颁发电子证照",
            Some("王审批"),
            AT,
        )
        .unwrap()
}

fn ci() -> bool {
    matches!(std::env::var("CI").as_deref(), Ok("true" | "1"))
}

/// Skips loudly, or fails under CI.
fn missing(what: &str, why: &str) {
    assert!(!ci(), "{what}: {why}, and CI must run it");
    skip(what, why);
}

/// The sandboxes' Python (ESEAL_PYTHON, else `<ESEAL_SANDBOX_DIR>/.venv/bin/python`) if it has
/// pyHanko.
fn pyhanko_python() -> Option<PathBuf> {
    let candidate = std::env::var_os("ESEAL_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let dir = std::env::var_os("ESEAL_SANDBOX_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/work/shared/sandboxes"));
            dir.join(".venv/bin/python")
        });
    let ok = Command::new(&candidate)
        .args(["-c", "import pyhanko.cli"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    ok.then_some(candidate)
}

/// pyHanko's report lines (one per signature) and exit status.
fn pyhanko(python: &Path, ca: &Path, pdf: &Path) -> (String, bool) {
    let out = Command::new(python)
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
    (
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        out.status.success(),
    )
}

#[test]
fn a_sealed_licence_verifies_with_the_crate_verifier() {
    let (_, sealer) = shared();
    let original = licence();
    let sealed = seal_licence(sealer, &original, "37020000000011");
    let pdf = &sealed.pdf;
    assert!(pdf.starts_with(&original), "an incremental update");
    assert_eq!(sealed.signature_id.len(), 32);
    assert!(sealed
        .signature_id
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));

    let info = verify_sealed_pdf(pdf, sealer.ca_pem(), AT).unwrap();
    assert_eq!(info.seal_code.as_deref(), Some("37020000000011"));
    assert_eq!(
        info.signer_subject,
        "CN=青岚市人民政府政务服务管理办公室电子证照专用章,OU=seal_code=37020000000011,O=青岚市人民政府政务服务管理办公室,C=CN"
    );
    assert_eq!(info.cert_serial_hex, sealed.cert_serial_hex);
    assert_eq!(info.claimed_signing_time, Some(AT));
    assert_eq!(info.signing_time, None, "PAdES: no signing-time attribute");
    assert_eq!(info.reason.as_deref(), Some("颁发电子证照"));
    assert_eq!(info.signer_name.as_deref(), Some("王审批"));
    assert_eq!(
        info.location.as_deref(),
        Some("青岚市人民政府政务服务管理办公室")
    );
    assert_eq!(info.sub_filter, "ETSI.CAdES.detached");
    assert_eq!(info.byte_range[2] + info.byte_range[3], pdf.len() as u64);

    // The field, its widget at the seal area, and the signature dictionary as the service's.
    let text = String::from_utf8_lossy(pdf);
    assert!(text.contains(&format!("/T (Seal_{})", sealed.signature_id)));
    assert!(text.contains("/Rect [405 72 525 192]"), "stamp box");
    assert!(text.contains("/F 132"), "Print + Locked");
    assert!(text.contains(
        "/Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached /M (D:20261124140336+00'00')"
    ));
    assert!(text.contains("/SigFlags 3"));

    // Without a signer name there is no /Name.
    let sealed = sealer
        .seal(
            &original,
            "37020000000061",
            1,
            50.0,
            50.0,
            "婚姻登记",
            None,
            AT,
        )
        .unwrap();
    let info = verify_sealed_pdf(&sealed.pdf, sealer.ca_pem(), AT).unwrap();
    assert_eq!(info.signer_name, None);
    assert_eq!(info.seal_code.as_deref(), Some("37020000000061"));
}

/// The /Contents of the last signature, decoded.
fn last_cms(pdf: &[u8]) -> Vec<u8> {
    let at = pdf.windows(11).rposition(|w| w == b"/Contents <").unwrap() + 11;
    let end = at + pdf[at..].iter().position(|&b| b == b'>').unwrap();
    let hex = std::str::from_utf8(&pdf[at..end]).unwrap();
    let mut bytes = hex::decode(hex).unwrap();
    while bytes.last() == Some(&0) {
        bytes.pop();
    }
    bytes
}

fn pem_cert(pem: &str) -> Certificate {
    let (_, der) = der::pem::decode_vec(pem.trim().as_bytes()).unwrap();
    Certificate::from_der(&der).unwrap()
}

#[test]
fn certificates_and_cms_are_what_the_service_makes() {
    use const_oid::db::rfc5912::{ID_SHA_256, RSA_ENCRYPTION, SHA_256_WITH_RSA_ENCRYPTION};
    use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages};

    let (dir, sealer) = shared();
    // The CA: self-signed, CA:TRUE pathlen 0 (critical), keyCertSign + cRLSign, RSA 2048.
    let ca = pem_cert(sealer.ca_pem());
    let tbs = &ca.tbs_certificate;
    assert_eq!(tbs.subject, tbs.issuer);
    assert!(tbs
        .subject
        .to_string()
        .contains("CN=Zhengtong Built-in Seal CA (demo)"));
    let (critical, bc) = tbs.get::<BasicConstraints>().unwrap().unwrap();
    assert!(critical && bc.ca && bc.path_len_constraint == Some(0));
    let (_, ku) = tbs.get::<KeyUsage>().unwrap().unwrap();
    assert_eq!(ku.0, KeyUsages::KeyCertSign | KeyUsages::CRLSign);
    assert_eq!(tbs.subject_public_key_info.algorithm.oid, RSA_ENCRYPTION);
    // 2048-bit modulus: a 270-byte RSAPublicKey.
    assert_eq!(
        tbs.subject_public_key_info
            .subject_public_key
            .raw_bytes()
            .len(),
        270
    );

    // A seal: C=CN, O=<org>, OU=seal_code=<code>, CN=<name>, digitalSignature + nonRepudiation.
    let pem = std::fs::read_to_string(dir.path().join("seals/37020000000061.pem")).unwrap();
    let seal = pem_cert(&pem);
    let tbs = &seal.tbs_certificate;
    assert_eq!(tbs.issuer, ca.tbs_certificate.subject);
    assert_eq!(
        tbs.subject.to_string(),
        "CN=青岚市民政局,OU=seal_code=37020000000061,O=青岚市民政局,C=CN"
    );
    let (_, ku) = tbs.get::<KeyUsage>().unwrap().unwrap();
    assert_eq!(
        ku.0,
        KeyUsages::DigitalSignature | KeyUsages::NonRepudiation
    );
    let (_, bc) = tbs.get::<BasicConstraints>().unwrap().unwrap();
    assert!(!bc.ca);

    // The CMS: SignedData, detached id-data, SHA-256 / sha256WithRSAEncryption, exactly the
    // three signed attributes of B-B, the seal and CA certificates.
    let sealed = seal_licence(sealer, &licence(), "37020000000061");
    let ci = cms::content_info::ContentInfo::from_der(&last_cms(&sealed.pdf)).unwrap();
    let sd: cms::signed_data::SignedData = ci.content.decode_as().unwrap();
    assert!(sd.encap_content_info.econtent.is_none());
    let certs = sd.certificates.unwrap();
    assert_eq!(certs.0.len(), 2);
    let si = sd.signer_infos.0.get(0).unwrap();
    assert_eq!(si.digest_alg.oid, ID_SHA_256);
    assert_eq!(si.signature_algorithm.oid, SHA_256_WITH_RSA_ENCRYPTION);
    let mut attrs: Vec<String> = si
        .signed_attrs
        .as_ref()
        .unwrap()
        .iter()
        .map(|a| a.oid.to_string())
        .collect();
    attrs.sort();
    assert_eq!(
        attrs,
        [
            "1.2.840.113549.1.9.16.2.47", // signing-certificate-v2
            "1.2.840.113549.1.9.3",       // content-type
            "1.2.840.113549.1.9.4",       // message-digest
        ]
    );
    assert!(si.unsigned_attrs.is_none(), "B-B: no time-stamp token");
}

#[test]
fn a_changed_byte_or_another_ca_fails() {
    let (_, sealer) = shared();
    let original = licence();
    let sealed = seal_licence(sealer, &original, "37020000000011").pdf;
    let mut tampered = sealed.clone();
    tampered[original.len() / 2] ^= 0x01;
    assert_eq!(
        verify_sealed_pdf(&tampered, sealer.ca_pem(), AT),
        Err(VerifyError::DigestMismatch)
    );
    let mut appended = sealed.clone();
    appended.extend_from_slice(b"\n% appended\n");
    assert!(matches!(
        verify_sealed_pdf(&appended, sealer.ca_pem(), AT),
        Err(VerifyError::ByteRangeInvalid(_))
    ));
    // Another built-in CA (another key directory) does not vouch for these seals.
    let other_dir = tempfile::tempdir().unwrap();
    let other = LocalSealer::open_or_create(other_dir.path(), &[]).unwrap();
    assert_ne!(other.ca_pem(), sealer.ca_pem());
    assert!(matches!(
        verify_sealed_pdf(&sealed, other.ca_pem(), AT),
        Err(VerifyError::UntrustedCertificate(_))
    ));
}

#[test]
fn sealed_twice_both_revisions_verify() {
    let (_, sealer) = shared();
    let once = seal_licence(sealer, &licence(), "37020000000011").pdf;
    let twice = seal_licence(sealer, &once, "37020000000061").pdf;
    assert!(twice.starts_with(&once));
    let info = verify_sealed_pdf(&twice, sealer.ca_pem(), AT).unwrap();
    assert_eq!(info.seal_code.as_deref(), Some("37020000000061"));
    verify_sealed_pdf(&once, sealer.ca_pem(), AT).unwrap();
}

#[test]
fn reopening_reuses_the_ca_and_issues_missing_seals() {
    let dir = tempfile::tempdir().unwrap();
    let first = LocalSealer::open_or_create(dir.path(), &seals()[..1]).unwrap();
    let sealed = seal_licence(&first, &licence(), "37020000000011");
    drop(first);

    // Same CA and seal certificate; the second seal is issued now.
    let again = LocalSealer::open_or_create(dir.path(), &seals()).unwrap();
    verify_sealed_pdf(&sealed.pdf, again.ca_pem(), AT).unwrap();
    let resealed = seal_licence(&again, &licence(), "37020000000011");
    assert_eq!(resealed.cert_serial_hex, sealed.cert_serial_hex);
    assert_eq!(again.seals(), seals());
    let other = seal_licence(&again, &licence(), "37020000000061");
    verify_sealed_pdf(&other.pdf, again.ca_pem(), AT).unwrap();

    // The files: PEM, private keys for the owner only.
    for f in [
        "ca.pem",
        "ca.key.pem",
        "seals/37020000000011.pem",
        "seals/37020000000061.key.pem",
    ] {
        assert!(dir.path().join(f).is_file(), "{f}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        for f in [
            "ca.key.pem",
            "seals/37020000000011.key.pem",
            "seals/37020000000061.key.pem",
        ] {
            let mode = std::fs::metadata(dir.path().join(f))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
    }

    // A renamed seal gets a new certificate under the same CA.
    let mut renamed = seals();
    renamed[0].name = "青岚市人民政府政务服务管理办公室行政审批专用章".into();
    let third = LocalSealer::open_or_create(dir.path(), &renamed).unwrap();
    assert_eq!(third.ca_pem(), again.ca_pem());
    let s = seal_licence(&third, &licence(), "37020000000011");
    assert_ne!(s.cert_serial_hex, sealed.cert_serial_hex);
    let info = verify_sealed_pdf(&s.pdf, third.ca_pem(), AT).unwrap();
    assert_eq!(
        info.signer_common_name.as_deref(),
        Some("青岚市人民政府政务服务管理办公室行政审批专用章")
    );

    // A deleted seal certificate is issued anew (new key, new serial) at the next opening.
    std::fs::remove_file(dir.path().join("seals/37020000000061.pem")).unwrap();
    let fourth = LocalSealer::open_or_create(dir.path(), &renamed).unwrap();
    let s2 = seal_licence(&fourth, &licence(), "37020000000061");
    assert_ne!(s2.cert_serial_hex, other.cert_serial_hex);
    verify_sealed_pdf(&s2.pdf, fourth.ca_pem(), AT).unwrap();
    verify_sealed_pdf(&other.pdf, fourth.ca_pem(), AT).unwrap();

    // A damaged CA is an error, never silently replaced.
    std::fs::write(dir.path().join("ca.key.pem"), "garbage").unwrap();
    assert!(matches!(
        LocalSealer::open_or_create(dir.path(), &seals()),
        Err(LocalSealError::Store { .. })
    ));
}

#[test]
fn bad_requests_are_refused_with_typed_errors() {
    let (_, sealer) = shared();
    let pdf = licence();
    let seal = |pdf: &[u8], code: &str, page: u32, x: f32, y: f32, reason: &str| {
        sealer.seal(pdf, code, page, x, y, reason, None, AT)
    };
    assert!(matches!(
        seal(&pdf, "36040000000011", 1, 405.0, 72.0, "发证"),
        Err(LocalSealError::UnknownSeal(c)) if c == "36040000000011"
    ));
    assert!(matches!(
        seal(&pdf, "37020000000011", 0, 405.0, 72.0, "发证"),
        Err(LocalSealError::BadParam(_))
    ));
    assert!(matches!(
        seal(&pdf, "37020000000011", 1, -1.0, 72.0, "发证"),
        Err(LocalSealError::BadParam(_))
    ));
    assert!(matches!(
        seal(&pdf, "37020000000011", 1, f32::NAN, 72.0, "发证"),
        Err(LocalSealError::BadParam(_))
    ));
    assert!(matches!(
        seal(&pdf, "37020000000011", 1, 405.0, 72.0, "  "),
        Err(LocalSealError::BadParam(_))
    ));
    assert!(matches!(
        seal(&pdf, "37020000000011", 1, 405.0, 72.0, &"长".repeat(201)),
        Err(LocalSealError::BadParam(_))
    ));
    assert!(matches!(
        sealer.seal(&pdf, "37020000000011", 1, 405.0, 72.0, "发证", Some(""), AT),
        Err(LocalSealError::BadParam(_))
    ));
    assert!(matches!(
        seal(&pdf, "37020000000011", 2, 405.0, 72.0, "发证"),
        Err(LocalSealError::BadPosition(m)) if m.contains("has 1")
    ));
    // A4 is 595.28 pt wide: 475.28 + 120 fits, 476 does not.
    seal(&pdf, "37020000000011", 1, 475.28, 721.89, "发证").unwrap();
    assert!(matches!(
        seal(&pdf, "37020000000011", 1, 476.0, 72.0, "发证"),
        Err(LocalSealError::BadPosition(_))
    ));
    assert!(matches!(
        seal(b"hello", "37020000000011", 1, 405.0, 72.0, "发证"),
        Err(LocalSealError::BadDocument(_))
    ));
    assert!(matches!(
        seal(
            &pdf[..pdf.len() - 40],
            "37020000000011",
            1,
            405.0,
            72.0,
            "发证"
        ),
        Err(LocalSealError::BadDocument(_))
    ));
    let big = vec![b' '; 20 * 1024 * 1024 + 1];
    assert!(matches!(
        seal(&big, "37020000000011", 1, 405.0, 72.0, "发证"),
        Err(LocalSealError::TooLarge(_))
    ));
    // Seal definitions.
    let dir = tempfile::tempdir().unwrap();
    let mut bad = seals();
    bad[1].seal_code = "../x".into();
    assert!(matches!(
        LocalSealer::open_or_create(dir.path(), &bad),
        Err(LocalSealError::InvalidSeal(_))
    ));
    let mut dup = seals();
    dup[1].seal_code = dup[0].seal_code.clone();
    assert!(matches!(
        LocalSealer::open_or_create(dir.path(), &dup),
        Err(LocalSealError::InvalidSeal(_))
    ));
}

#[test]
fn the_sealer_can_be_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<LocalSealer>();
}

#[test]
fn pdfsig_says_the_signature_is_valid() {
    if !have("pdfsig") || !have("certutil") {
        missing(
            "local_seal pdfsig checks",
            "pdfsig/certutil not installed (apt-get install poppler-utils libnss3-tools)",
        );
        return;
    }
    let (_, sealer) = shared();
    let dir = tempfile::tempdir().unwrap();
    let db = nss_db_trusting(dir.path(), sealer.ca_pem());
    let once = seal_licence(sealer, &licence(), "37020000000011");
    let path = dir.path().join("sealed.pdf");
    std::fs::write(&path, &once.pdf).unwrap();
    let (report, ok) = pdfsig(&path, Some(&db));
    assert!(ok, "{report}");
    assert!(
        report.contains(&format!("Seal_{}", once.signature_id)),
        "{report}"
    );
    assert!(report.contains("Signature is Valid."), "{report}");
    assert!(report.contains("Certificate is Trusted."), "{report}");
    assert!(report.contains("Total document signed"), "{report}");
    assert!(report.contains("ETSI.CAdES.detached"), "{report}");
    assert!(report.contains("SHA-256"), "{report}");

    let twice = seal_licence(sealer, &once.pdf, "37020000000061");
    std::fs::write(&path, &twice.pdf).unwrap();
    let (report, _) = pdfsig(&path, Some(&db));
    assert_eq!(report.matches("Signature is Valid.").count(), 2, "{report}");
    assert_eq!(
        report.matches("Certificate is Trusted.").count(),
        2,
        "{report}"
    );

    let mut tampered = once.pdf.clone();
    tampered[2000] ^= 0x01;
    std::fs::write(&path, &tampered).unwrap();
    let (report, _) = pdfsig(&path, Some(&db));
    assert!(!report.contains("Signature is Valid."), "{report}");
}

#[test]
fn pyhanko_says_intact_trusted_untouched() {
    let Some(python) = pyhanko_python() else {
        missing(
            "local_seal pyHanko checks",
            "no Python with pyHanko (set ESEAL_PYTHON, or run /work/shared/sandboxes/setup.sh)",
        );
        return;
    };
    let (_, sealer) = shared();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, sealer.ca_pem()).unwrap();
    let once = seal_licence(sealer, &licence(), "37020000000011");
    let path = dir.path().join("sealed.pdf");
    std::fs::write(&path, &once.pdf).unwrap();
    let (report, ok) = pyhanko(&python, &ca, &path);
    assert!(ok, "{report}");
    assert!(
        report.contains(&format!("Seal_{}:", once.signature_id))
            && report.contains(":INTACT:TRUSTED,UNTOUCHED"),
        "{report}"
    );

    // A second seal is an allowed modification of the first.
    let twice = seal_licence(sealer, &once.pdf, "37020000000061");
    std::fs::write(&path, &twice.pdf).unwrap();
    let (report, ok) = pyhanko(&python, &ca, &path);
    assert!(ok, "{report}");
    assert!(
        report.contains("INTACT:TRUSTED,EXTENDED_WITH_FORM_FILLING,ACCEPTABLE_MODIFICATIONS"),
        "{report}"
    );
    assert!(report.contains("INTACT:TRUSTED,UNTOUCHED"), "{report}");

    let mut tampered = once.pdf.clone();
    tampered[2000] ^= 0x01;
    std::fs::write(&path, &tampered).unwrap();
    let (report, ok) = pyhanko(&python, &ca, &path);
    assert!(!ok && report.contains(":INVALID"), "{report}");
}
