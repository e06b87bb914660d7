//! The verifier on PDFs signed in the test itself (rcgen-made CA and seal certificates, CMS from
//! the `cms` builder): every outcome without the sandbox.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use common::signer::{
    keys, make, pki, sign_pdf, CertSpec, SignOptions, AT, SIGNER_NOT_AFTER, SIGNER_NOT_BEFORE,
};
use common::{have, nss_db_trusting, pdfsig, sample, skip};
use rcgen::KeyUsagePurpose;
use sha2::{Digest, Sha256};
use zt_licence::{render, verify_sealed_pdf, VerifyError};

fn licence() -> Vec<u8> {
    render(&sample()).unwrap()
}

fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).position(|w| w == needle).unwrap()
}

fn rfind(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .rposition(|w| w == needle)
        .unwrap()
}

#[test]
fn a_good_seal_verifies_and_reports_the_signer() {
    let pki = pki();
    let base = licence();
    let signed = sign_pdf(&base, &SignOptions::new(&pki.seal));
    assert!(signed.starts_with(&base), "incremental update");
    let info = verify_sealed_pdf(&signed, &pki.ca.pem, AT).unwrap();
    assert_eq!(
        info.signer_common_name.as_deref(),
        Some("江州市行政审批局行政审批专用章")
    );
    assert_eq!(info.seal_code.as_deref(), Some("36040000000011"));
    assert_eq!(
        info.signer_organization.as_deref(),
        Some("江州市行政审批局")
    );
    assert_eq!(
        info.signer_subject,
        "CN=江州市行政审批局行政审批专用章,OU=seal_code=36040000000011,O=江州市行政审批局,C=CN"
    );
    assert_eq!(info.cert_serial_hex, "6bca");
    assert_eq!(
        info.cert_sha256_hex,
        hex::encode(Sha256::digest(&pki.seal.der))
    );
    assert_eq!(info.signing_time, None);
    assert_eq!(info.claimed_signing_time, Some(AT));
    assert_eq!(info.reason.as_deref(), Some("发证"));
    assert_eq!(info.signer_name.as_deref(), Some("Test"));
    assert_eq!(info.location.as_deref(), Some("江州市行政审批局"));
    assert_eq!(info.sub_filter, "ETSI.CAdES.detached");
    assert_eq!(info.byte_range[0], 0);
    assert_eq!(info.byte_range[2] + info.byte_range[3], signed.len() as u64);

    // The whole validity window is accepted, bounds included.
    verify_sealed_pdf(&signed, &pki.ca.pem, SIGNER_NOT_BEFORE).unwrap();
    verify_sealed_pdf(&signed, &pki.ca.pem, SIGNER_NOT_AFTER).unwrap();
}

#[test]
fn the_test_signer_is_accepted_by_pdfsig_too() {
    if !have("pdfsig") || !have("certutil") {
        skip(
            "the_test_signer_is_accepted_by_pdfsig_too",
            "pdfsig/certutil not installed (apt-get install poppler-utils libnss3-tools)",
        );
        return;
    }
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let db = nss_db_trusting(dir.path(), &pki.ca.pem);
    let path = dir.path().join("signed.pdf");
    std::fs::write(&path, sign_pdf(&licence(), &SignOptions::new(&pki.seal))).unwrap();
    let (report, _) = pdfsig(&path, Some(&db));
    assert!(report.contains("Signature is Valid."), "{report}");
    assert!(report.contains("Certificate is Trusted."), "{report}");
    assert!(report.contains("Total document signed"), "{report}");
}

#[test]
fn variants_of_a_good_cms() {
    let pki = pki();
    let base = licence();

    let mut opts = SignOptions::new(&pki.seal);
    opts.signing_time = Some(AT - 60);
    let info = verify_sealed_pdf(&sign_pdf(&base, &opts), &pki.ca.pem, AT).unwrap();
    assert_eq!(info.signing_time, Some(AT - 60));

    let mut opts = SignOptions::new(&pki.seal);
    opts.use_ski = true;
    opts.ess_hash = None;
    opts.sub_filter = "adbe.pkcs7.detached";
    let info = verify_sealed_pdf(&sign_pdf(&base, &opts), &pki.ca.pem, AT).unwrap();
    assert_eq!(info.sub_filter, "adbe.pkcs7.detached");

    // Several trust anchors in one PEM; the CA certificate embedded in the CMS too.
    let other = make(&CertSpec::ca("Other Root CA", 9), &keys()[3], None);
    let both = format!("{}{}", other.pem, pki.ca.pem);
    let mut opts = SignOptions::new(&pki.seal);
    opts.extra_certs = vec![&pki.ca.der];
    verify_sealed_pdf(&sign_pdf(&base, &opts), &both, AT).unwrap();
}

#[test]
fn sealed_twice_verifies_the_last_seal() {
    let pki = pki();
    let once = sign_pdf(&licence(), &SignOptions::new(&pki.seal));
    let twice = sign_pdf(&once, &SignOptions::new(&pki.seal));
    verify_sealed_pdf(&twice, &pki.ca.pem, AT).unwrap();
    // The first seal alone no longer covers the file: it is not the one verified, but had it
    // been, the appended revision would show. Cut the file back to it to check it still holds.
    verify_sealed_pdf(&once, &pki.ca.pem, AT).unwrap();
}

#[test]
fn unsigned_pdf_is_not_signed() {
    let pki = pki();
    assert_eq!(
        verify_sealed_pdf(&licence(), &pki.ca.pem, AT),
        Err(VerifyError::NotSigned)
    );
    assert_eq!(
        verify_sealed_pdf(b"%PDF-1.7\n%%EOF\n", &pki.ca.pem, AT),
        Err(VerifyError::NotSigned)
    );
}

#[test]
fn a_changed_byte_is_a_digest_mismatch() {
    let pki = pki();
    let signed = sign_pdf(&licence(), &SignOptions::new(&pki.seal));

    // In the first range: inside the compressed page content.
    let mut t = signed.clone();
    t[2000] ^= 0x01;
    assert_eq!(
        verify_sealed_pdf(&t, &pki.ca.pem, AT),
        Err(VerifyError::DigestMismatch)
    );

    // In the signature dictionary itself (its /Name, before /ByteRange).
    let mut t = signed.clone();
    let at = rfind(&t, b"/Name (Test)") + 7;
    t[at] = b'B';
    assert_eq!(
        verify_sealed_pdf(&t, &pki.ca.pem, AT),
        Err(VerifyError::DigestMismatch)
    );

    // In the second range: a digit of the last xref entry.
    let mut t = signed.clone();
    let at = rfind(&t, b" 00000 n \ntrailer") - 1;
    t[at] = if t[at] == b'0' { b'1' } else { b'0' };
    assert_eq!(
        verify_sealed_pdf(&t, &pki.ca.pem, AT),
        Err(VerifyError::DigestMismatch)
    );

    // A wrong message-digest attribute from the start.
    let mut opts = SignOptions::new(&pki.seal);
    opts.digest_override = Some(vec![0u8; 32]);
    assert_eq!(
        verify_sealed_pdf(&sign_pdf(&licence(), &opts), &pki.ca.pem, AT),
        Err(VerifyError::DigestMismatch)
    );
}

#[test]
fn bytes_outside_the_range_are_a_byte_range_error() {
    let pki = pki();
    let signed = sign_pdf(&licence(), &SignOptions::new(&pki.seal));

    // Appended garbage.
    let mut t = signed.clone();
    t.extend_from_slice(b"\n% appended\n");
    assert!(matches!(
        verify_sealed_pdf(&t, &pki.ca.pem, AT),
        Err(VerifyError::ByteRangeInvalid(m)) if m.contains("12 bytes after")
    ));

    // A real incremental update after the signature (a "shadow" revision replacing the page).
    let prev = {
        let at = rfind(&signed, b"startxref") + 10;
        String::from_utf8_lossy(&signed[at..])
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned()
    };
    let mut t = signed.clone();
    let obj_at = t.len();
    t.extend_from_slice(b"4 0 obj\n<< /Length 0 >>\nstream\n\nendstream\nendobj\n");
    let xref_at = t.len();
    t.extend_from_slice(
        format!(
            "xref\n4 1\n{obj_at:010} 00000 n \ntrailer\n<< /Size 20 /Root 1 0 R /Prev {prev} >>\nstartxref\n{xref_at}\n%%EOF\n"
        )
        .as_bytes(),
    );
    assert!(matches!(
        verify_sealed_pdf(&t, &pki.ca.pem, AT),
        Err(VerifyError::ByteRangeInvalid(_))
    ));

    // Truncated.
    let t = &signed[..signed.len() - 3];
    assert!(matches!(
        verify_sealed_pdf(t, &pki.ca.pem, AT),
        Err(VerifyError::ByteRangeInvalid(_))
    ));

    // A gap that is not exactly the /Contents string.
    let mut t = signed.clone();
    let at = rfind(&t, b"/ByteRange [0 ") + 14;
    let b: u64 = String::from_utf8_lossy(&t[at..at + 10]).parse().unwrap();
    t[at..at + 10].copy_from_slice(format!("{:010}", b - 1).as_bytes());
    assert!(matches!(
        verify_sealed_pdf(&t, &pki.ca.pem, AT),
        Err(VerifyError::ByteRangeInvalid(m)) if m.contains("not the /Contents")
    ));

    // A range that does not start at 0.
    let mut t = signed.clone();
    let at = rfind(&t, b"/ByteRange [0 ") + 12;
    t[at] = b'1';
    assert!(matches!(
        verify_sealed_pdf(&t, &pki.ca.pem, AT),
        Err(VerifyError::ByteRangeInvalid(_))
    ));
}

#[test]
fn a_wrong_signature_value_is_a_bad_signature() {
    let pki = pki();
    // Signed with another key than the certificate's.
    let mut opts = SignOptions::new(&pki.seal);
    opts.key = &keys()[2];
    assert!(matches!(
        verify_sealed_pdf(&sign_pdf(&licence(), &opts), &pki.ca.pem, AT),
        Err(VerifyError::BadSignature(_))
    ));

    // A signing-certificate-v2 attribute naming another certificate.
    let mut opts = SignOptions::new(&pki.seal);
    opts.ess_hash = Some(Sha256::digest(&pki.ca.der).to_vec());
    assert!(matches!(
        verify_sealed_pdf(&sign_pdf(&licence(), &opts), &pki.ca.pem, AT),
        Err(VerifyError::BadSignature(m)) if m.contains("signing-certificate-v2")
    ));

    // One bit of the signature value flipped (the RSA signature is the last 256 bytes of the
    // SignerInfo, which ends the CMS).
    let signed = sign_pdf(&licence(), &SignOptions::new(&pki.seal));
    let contents = rfind(&signed, b"/Contents <") + 11;
    let hex_end = contents + find(&signed[contents..], b"000000000000");
    let mut t = signed.clone();
    // Last hex digit of the CMS, i.e. the last byte of the signature value.
    let mut last = hex_end - 1;
    while t[last] == b'0' {
        last -= 1;
    }
    t[last] = if t[last] == b'1' { b'3' } else { b'1' };
    assert!(matches!(
        verify_sealed_pdf(&t, &pki.ca.pem, AT),
        Err(VerifyError::BadSignature(_))
    ));
}

#[test]
fn certificates_not_from_the_ca_are_untrusted() {
    let pki = pki();
    let signed = sign_pdf(&licence(), &SignOptions::new(&pki.seal));
    let untrusted = |ca: &str| {
        matches!(
            verify_sealed_pdf(&signed, ca, AT),
            Err(VerifyError::UntrustedCertificate(_))
        )
    };

    // Another CA.
    let other = make(&CertSpec::ca("Other Root CA", 9), &keys()[3], None);
    assert!(untrusted(&other.pem));
    // A CA with the same name but another key.
    let impostor = make(&CertSpec::ca("Test Seal Root CA", 1), &keys()[3], None);
    assert!(untrusted(&impostor.pem));
    // An ECDSA CA (rcgen's default key type).
    let ec_key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Test Seal Root CA");
    let ec_ca = params.self_signed(&ec_key).unwrap();
    assert!(untrusted(&ec_ca.pem()));

    // The seal certificate itself as the "CA": not a CA certificate and not self-issued.
    assert!(untrusted(&pki.seal.pem));

    // A signer certificate whose key usage only allows signing certificates.
    let (mut spec, ou) = CertSpec::seal("江州市行政审批局", "36040000000012", 77);
    spec.ou = Some(&ou);
    spec.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let wrong_use = make(&spec, &keys()[2], Some(&pki.ca));
    let t = sign_pdf(&licence(), &SignOptions::new(&wrong_use));
    assert!(matches!(
        verify_sealed_pdf(&t, &pki.ca.pem, AT),
        Err(VerifyError::UntrustedCertificate(m)) if m.contains("key usage")
    ));

    // A self-signed seal.
    let (mut spec, ou) = CertSpec::seal("江州市行政审批局", "36040000000013", 78);
    spec.ou = Some(&ou);
    let self_signed = make(&spec, &keys()[2], None);
    let t = sign_pdf(&licence(), &SignOptions::new(&self_signed));
    assert!(matches!(
        verify_sealed_pdf(&t, &pki.ca.pem, AT),
        Err(VerifyError::UntrustedCertificate(_))
    ));
}

#[test]
fn intermediate_ca_certificates_from_the_cms() {
    let k = keys();
    let root = make(&CertSpec::ca("Test Root CA", 1), &k[0], None);
    let mut spec = CertSpec::ca("Test Seal Issuing CA", 2);
    spec.ca = Some(0);
    let issuing = make(&spec, &k[4], Some(&root));
    let (mut spec, ou) = CertSpec::seal("江州市民政局婚姻登记专用章", "36040000000031", 3);
    spec.ou = Some(&ou);
    let seal = make(&spec, &k[1], Some(&issuing));

    let mut opts = SignOptions::new(&seal);
    opts.extra_certs = vec![&issuing.der];
    let signed = sign_pdf(&licence(), &opts);
    let info = verify_sealed_pdf(&signed, &root.pem, AT).unwrap();
    assert_eq!(info.seal_code.as_deref(), Some("36040000000031"));
    // Trusting the issuing CA directly works as well.
    verify_sealed_pdf(&signed, &issuing.pem, AT).unwrap();

    // Without the intermediate in the CMS there is no path.
    let signed = sign_pdf(&licence(), &SignOptions::new(&seal));
    assert!(matches!(
        verify_sealed_pdf(&signed, &root.pem, AT),
        Err(VerifyError::UntrustedCertificate(_))
    ));

    // A root that allows no intermediate CA (pathlen 0).
    let mut spec = CertSpec::ca("Test Root CA", 1);
    spec.ca = Some(0);
    let strict_root = make(&spec, &k[0], None);
    let mut spec = CertSpec::ca("Test Seal Issuing CA", 2);
    spec.ca = Some(0);
    let issuing = make(&spec, &k[4], Some(&strict_root));
    let (mut spec, ou) = CertSpec::seal("江州市民政局婚姻登记专用章", "36040000000031", 3);
    spec.ou = Some(&ou);
    let seal = make(&spec, &k[1], Some(&issuing));
    let mut opts = SignOptions::new(&seal);
    opts.extra_certs = vec![&issuing.der];
    assert!(matches!(
        verify_sealed_pdf(&sign_pdf(&licence(), &opts), &strict_root.pem, AT),
        Err(VerifyError::UntrustedCertificate(m)) if m.contains("path length")
    ));
}

#[test]
fn outside_the_validity_period_is_expired() {
    let pki = pki();
    let signed = sign_pdf(&licence(), &SignOptions::new(&pki.seal));
    match verify_sealed_pdf(&signed, &pki.ca.pem, SIGNER_NOT_AFTER + 1) {
        Err(VerifyError::CertificateExpired {
            subject,
            not_before,
            not_after,
            at,
        }) => {
            assert!(subject.starts_with("CN=江州市行政审批局行政审批专用章"));
            assert_eq!(
                (not_before, not_after),
                (SIGNER_NOT_BEFORE, SIGNER_NOT_AFTER)
            );
            assert_eq!(at, SIGNER_NOT_AFTER + 1);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        verify_sealed_pdf(&signed, &pki.ca.pem, SIGNER_NOT_BEFORE - 1),
        Err(VerifyError::CertificateExpired { .. })
    ));
    // The CA's own period counts too (2025-01-01 .. 2035-01-01): a seal certificate valid
    // beyond its CA.
    let (mut spec, ou) = CertSpec::seal("江州市行政审批局", "36040000000012", 5);
    spec.ou = Some(&ou);
    spec.not_after = (2040, 1, 1);
    let long = make(&spec, &keys()[2], Some(&pki.ca));
    let t = sign_pdf(&licence(), &SignOptions::new(&long));
    let in_2036 = 2_082_758_400;
    assert!(matches!(
        verify_sealed_pdf(&t, &pki.ca.pem, in_2036),
        Err(VerifyError::CertificateExpired { subject, .. }) if subject.contains("Test Seal Root CA")
    ));
}

#[test]
fn unreadable_signatures_are_malformed() {
    let pki = pki();
    let malformed = |opts: &SignOptions<'_>| {
        matches!(
            verify_sealed_pdf(&sign_pdf(&licence(), opts), &pki.ca.pem, AT),
            Err(VerifyError::Malformed(_))
        )
    };

    let mut opts = SignOptions::new(&pki.seal);
    opts.raw_contents = Some(vec![0x30, 0x03, 0x02, 0x01, 0x01]);
    assert!(malformed(&opts));

    let mut opts = SignOptions::new(&pki.seal);
    opts.raw_contents = Some(vec![0x30, 0x80, 0x00, 0x00]); // BER indefinite length
    assert!(malformed(&opts));

    let mut opts = SignOptions::new(&pki.seal);
    opts.raw_contents = Some(b"not DER at all".to_vec());
    assert!(malformed(&opts));

    let mut opts = SignOptions::new(&pki.seal);
    opts.sub_filter = "adbe.x509.rsa_sha1";
    assert!(malformed(&opts));

    // Data after the CMS inside /Contents.
    let signed = sign_pdf(&licence(), &SignOptions::new(&pki.seal));
    let mut t = signed.clone();
    let end = rfind(&t, b"0> >>\nendobj") + 1;
    t[end - 1] = b'7';
    assert!(matches!(
        verify_sealed_pdf(&t, &pki.ca.pem, AT),
        Err(VerifyError::Malformed(_))
    ));

    // A /ByteRange outside any object.
    let t = b"%PDF-1.7\n/ByteRange [0 1 2 3]\n%%EOF\n";
    assert!(matches!(
        verify_sealed_pdf(t, &pki.ca.pem, AT),
        Err(VerifyError::Malformed(_))
    ));
}

#[test]
fn a_bad_trust_anchor_is_a_configuration_error() {
    let pki = pki();
    let signed = sign_pdf(&licence(), &SignOptions::new(&pki.seal));
    for ca in [
        "",
        "not a pem",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        "-----BEGIN CERTIFICATE-----\nMIIB",
    ] {
        assert!(
            matches!(
                verify_sealed_pdf(&signed, ca, AT),
                Err(VerifyError::TrustAnchor(_))
            ),
            "{ca:?}"
        );
    }
}

#[test]
fn no_single_byte_change_panics_or_passes_outside_the_signature_value() {
    let pki = pki();
    let signed = sign_pdf(&licence(), &SignOptions::new(&pki.seal));
    let contents = rfind(&signed, b"/Contents <") + 10;
    let contents_end = contents + find(&signed[contents..], b">") + 1;
    let mut checked = 0;
    for at in (0..signed.len()).step_by(37) {
        for mask in [0x01u8, 0x80] {
            let mut t = signed.clone();
            t[at] ^= mask;
            let res = verify_sealed_pdf(&t, &pki.ca.pem, AT);
            if !(contents..contents_end).contains(&at) {
                assert!(res.is_err(), "byte {at} ^ {mask:#x} still verifies");
            }
            checked += 1;
        }
    }
    // Truncations and garbage never panic either.
    for len in (0..signed.len()).step_by(97) {
        assert!(verify_sealed_pdf(&signed[..len], &pki.ca.pem, AT).is_err());
    }
    assert!(checked > 1000);
}
