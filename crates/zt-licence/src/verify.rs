//! Verification of a sealed PDF: the last signature (PAdES B-B / CMS SignedData, detached,
//! SHA-2 digests, RSA PKCS#1 v1.5) against a configured CA certificate.
//!
//! What [`verify_sealed_pdf`] checks, in this order (the first failure decides the error):
//!
//! 1. The file has a signature dictionary (the last `/ByteRange` in the file, inside an indirect
//!    object whose dictionary holds it) — else [`VerifyError::NotSigned`].
//! 2. `/ByteRange [0 b c d]` covers the whole file except exactly the `/Contents` hex string of that
//!    dictionary: `b` is the offset of its `<`, `c` the offset after its `>`, `c + d` the file
//!    length. Bytes appended after the signed range (an incremental update, or anything else)
//!    give [`VerifyError::ByteRangeInvalid`].
//! 3. `/Contents` is a DER ContentInfo of type SignedData (zero padding after it allowed) with one
//!    SignerInfo, detached content of type id-data, signed attributes with exactly one
//!    content-type (id-data) and one message-digest attribute — else [`VerifyError::Malformed`].
//! 4. The message-digest attribute equals the digest (SHA-256/384/512, as the SignerInfo says) of
//!    the covered bytes — else [`VerifyError::DigestMismatch`].
//! 5. The signature value verifies (RSA PKCS#1 v1.5) over the DER of the signed attributes, as
//!    found in the file, with the key of the signer certificate (found in the CMS by issuer and
//!    serial number or by subject key identifier); an ESS signing-certificate-v2 attribute, if
//!    present, names that certificate — else [`VerifyError::BadSignature`].
//! 6. The signer certificate chains to a certificate of `ca_pem` (directly or through CA
//!    certificates embedded in the CMS), every signature on the path verifies, issuers are CAs
//!    allowed to sign certificates, the signer's key usage (if present) allows digitalSignature or
//!    nonRepudiation, and no certificate has a critical extension this verifier does not know —
//!    else [`VerifyError::UntrustedCertificate`].
//! 7. Every certificate of that path, the CA included, is valid at `at_unix` — else
//!    [`VerifyError::CertificateExpired`].
//!
//! Earlier signatures of a document sealed more than once are not evaluated: their revisions are a
//! prefix of the bytes the last signature covers. Revocation is not checked (the sandbox's seals
//! carry no revocation data, B-B). Production seals are SM2/SM3 (GB/T 38540); this verifier only
//! knows RSA and reports other algorithms as [`VerifyError::Malformed`] (signature) or
//! [`VerifyError::UntrustedCertificate`] (certificate path).

use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier};
use const_oid::db::rfc5912::{
    ID_SHA_256, ID_SHA_384, ID_SHA_512, RSA_ENCRYPTION, SHA_256_WITH_RSA_ENCRYPTION,
    SHA_384_WITH_RSA_ENCRYPTION, SHA_512_WITH_RSA_ENCRYPTION,
};
use const_oid::ObjectIdentifier;
use der::asn1::OctetString;
use der::{Decode, Encode, Tag, Tagged};
use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Sign, RsaPublicKey};
use sha2::{Digest, Sha256, Sha384, Sha512};
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, SubjectKeyIdentifier};
use x509_cert::name::Name;
use x509_cert::Certificate;

use crate::pdfobj::{object_start_before, text_string, Dict, Obj, Parser};

const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const ID_SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
const ID_SIGNING_CERTIFICATE_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");

/// Extensions whose meaning this verifier knows (or that do not restrict use): a certificate with
/// any other extension marked critical is not trusted (RFC 5280 §4.2).
const KNOWN_EXTENSIONS: [&str; 7] = [
    "2.5.29.14", // subjectKeyIdentifier
    "2.5.29.15", // keyUsage
    "2.5.29.17", // subjectAltName
    "2.5.29.19", // basicConstraints
    "2.5.29.32", // certificatePolicies
    "2.5.29.35", // authorityKeyIdentifier
    "2.5.29.37", // extKeyUsage
];

/// Maximum number of certificates between the signer and the trust anchor.
const MAX_INTERMEDIATES: usize = 4;
/// RSA keys shorter than this are not accepted.
const MIN_RSA_BITS: usize = 2048;

/// What a valid seal says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedInfo {
    /// Subject of the signer certificate, RFC 4514 style, most specific first:
    /// `CN=江州市行政审批局行政审批专用章,OU=seal_code=36040000000011,O=江州市行政审批局,C=CN`.
    pub signer_subject: String,
    /// Common name of the signer certificate (for e-seal certificates: the seal name).
    pub signer_common_name: Option<String>,
    /// The seal code, from an organizational unit `seal_code=<code>` of the subject.
    pub seal_code: Option<String>,
    /// Organisation of the signer certificate.
    pub signer_organization: Option<String>,
    /// Serial number of the signer certificate, lowercase hex without leading zeros.
    pub cert_serial_hex: String,
    /// SHA-256 of the signer certificate's DER, lowercase hex (pyHanko's fingerprint column).
    pub cert_sha256_hex: String,
    /// The CMS signing-time signed attribute, Unix seconds, if present (PAdES signatures
    /// usually have none and carry the time in `/M`).
    pub signing_time: Option<i64>,
    /// The signature dictionary's `/M` (covered by the signature, but the signer's claim), Unix
    /// seconds, if present and well-formed.
    pub claimed_signing_time: Option<i64>,
    /// `/Reason` (签章事由).
    pub reason: Option<String>,
    /// `/Name` (经办人).
    pub signer_name: Option<String>,
    /// `/Location`.
    pub location: Option<String>,
    /// `/SubFilter`, e.g. `ETSI.CAdES.detached`.
    pub sub_filter: String,
    /// The `/ByteRange` of the signature.
    pub byte_range: [u64; 4],
}

/// Why a sealed PDF is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The file has no signature dictionary.
    #[error("the PDF is not signed")]
    NotSigned,
    /// The byte range does not cover exactly the whole file except the signature value (for
    /// instance bytes were appended after signing, such as an incremental update).
    #[error("the signature's byte range is invalid: {0}")]
    ByteRangeInvalid(String),
    /// The signed bytes were changed after signing.
    #[error("the signed bytes do not match the signature's message digest")]
    DigestMismatch,
    /// The signature value does not verify with the signer certificate.
    #[error("the signature value does not verify: {0}")]
    BadSignature(String),
    /// The signer certificate does not chain to the configured CA.
    #[error("the signer certificate is not trusted: {0}")]
    UntrustedCertificate(String),
    /// A certificate of the path is not valid at the given time.
    #[error("certificate {subject} is not valid at {at} (valid from {not_before} to {not_after})")]
    CertificateExpired {
        /// Subject of the certificate.
        subject: String,
        /// Its notBefore, Unix seconds.
        not_before: i64,
        /// Its notAfter, Unix seconds.
        not_after: i64,
        /// The time checked.
        at: i64,
    },
    /// The PDF or the CMS structure cannot be read, or uses an algorithm this verifier does not
    /// support.
    #[error("malformed signature: {0}")]
    Malformed(String),
    /// `ca_pem` holds no usable certificate (a configuration error, not the document's fault).
    #[error("trust anchor: {0}")]
    TrustAnchor(String),
}

fn malformed(msg: impl Into<String>) -> VerifyError {
    VerifyError::Malformed(msg.into())
}

/// Verifies the last signature of `pdf` against the CA certificate(s) in `ca_pem` (one or more
/// PEM `CERTIFICATE` blocks) at the time `at_unix` (Unix seconds). See the module documentation
/// for what is checked.
pub fn verify_sealed_pdf(
    pdf: &[u8],
    ca_pem: &str,
    at_unix: i64,
) -> Result<SealedInfo, VerifyError> {
    let anchors = parse_anchors(ca_pem)?;
    let sig = find_signature(pdf)?;
    let [a, b, c, d] = sig.byte_range;
    let (b, c, d) = (to_usize(b)?, to_usize(c)?, to_usize(d)?);
    debug_assert_eq!(a, 0);

    let cms = parse_cms(&sig.contents)?;

    // 4. Message digest of the covered bytes.
    let covered_digest = cms.digest.hash_parts(&[&pdf[..b], &pdf[c..c + d]]);
    if covered_digest != cms.message_digest {
        return Err(VerifyError::DigestMismatch);
    }

    // 5. Signature value with the signer's key.
    let (signer_raw, signer) = cms.signer_certificate()?;
    let key = rsa_key(signer)
        .map_err(|e| VerifyError::BadSignature(format!("signer certificate key: {e}")))?;
    let attrs_hash = cms.digest.hash_parts(&[&cms.signed_attrs_der]);
    key.verify(cms.digest.pkcs1v15(), &attrs_hash, &cms.signature)
        .map_err(|_| VerifyError::BadSignature("RSA PKCS#1 v1.5 verification failed".into()))?;
    if let Some(ess) = &cms.signing_certificate_v2 {
        check_signing_certificate_v2(ess, signer_raw)?;
    }

    // 6. and 7. Certificate path.
    let path = build_path(signer_raw, signer, &cms.certificates, &anchors)?;
    for cert in &path {
        check_validity(cert, at_unix)?;
    }

    Ok(SealedInfo {
        signer_subject: name_string(&signer.tbs_certificate.subject),
        signer_common_name: name_attr(&signer.tbs_certificate.subject, "2.5.4.3")
            .into_iter()
            .next(),
        seal_code: name_attr(&signer.tbs_certificate.subject, "2.5.4.11")
            .into_iter()
            .find_map(|ou| ou.strip_prefix("seal_code=").map(str::to_owned)),
        signer_organization: name_attr(&signer.tbs_certificate.subject, "2.5.4.10")
            .into_iter()
            .next(),
        cert_serial_hex: serial_hex(signer.tbs_certificate.serial_number.as_bytes()),
        cert_sha256_hex: hex::encode(Sha256::digest(signer_raw)),
        signing_time: cms.signing_time,
        claimed_signing_time: sig.m.as_deref().and_then(parse_pdf_date),
        reason: sig.reason,
        signer_name: sig.name,
        location: sig.location,
        sub_filter: sig.sub_filter,
        byte_range: sig.byte_range,
    })
}

fn to_usize(v: u64) -> Result<usize, VerifyError> {
    usize::try_from(v).map_err(|_| VerifyError::ByteRangeInvalid("offset too large".into()))
}

// ---- 1. and 2.: the signature dictionary ------------------------------------------------------

struct SigDict {
    byte_range: [u64; 4],
    contents: Vec<u8>,
    sub_filter: String,
    m: Option<String>,
    reason: Option<String>,
    name: Option<String>,
    location: Option<String>,
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

/// Finds the dictionary whose `ByteRange` key starts at `key_at`, searching nested objects.
fn dict_with_key_at(obj: &Obj, key_at: usize) -> Option<&Dict> {
    match obj {
        Obj::Dict(d) => {
            if d.entries
                .iter()
                .any(|(k, at, _)| k == b"ByteRange" && *at == key_at)
            {
                return Some(d);
            }
            d.entries
                .iter()
                .find_map(|(_, _, v)| dict_with_key_at(v, key_at))
        }
        Obj::Array(items) => items.iter().find_map(|v| dict_with_key_at(v, key_at)),
        _ => None,
    }
}

fn string_entry(d: &Dict, key: &[u8]) -> Option<String> {
    match d.get(key) {
        Some(Obj::Str(s)) => Some(text_string(s)),
        Some(Obj::Hex { bytes, .. }) => Some(text_string(bytes)),
        _ => None,
    }
}

fn find_signature(pdf: &[u8]) -> Result<SigDict, VerifyError> {
    let key_at = rfind(pdf, b"/ByteRange").ok_or(VerifyError::NotSigned)?;
    let start = object_start_before(pdf, key_at)
        .ok_or_else(|| malformed("the /ByteRange is not inside an indirect object"))?;
    let mut parser = Parser::new(pdf, start);
    let obj = parser
        .object(0)
        .map_err(|e| malformed(format!("signature dictionary: {e}")))?;
    let dict = dict_with_key_at(&obj, key_at)
        .ok_or_else(|| malformed("the last /ByteRange is not a key of a signature dictionary"))?;

    for key in [&b"ByteRange"[..], b"Contents"] {
        if dict.count(key) != 1 {
            return Err(malformed(format!(
                "the signature dictionary has {} /{} entries",
                dict.count(key),
                String::from_utf8_lossy(key)
            )));
        }
    }
    match dict.get(b"Type") {
        None => {}
        Some(Obj::Name(n)) if n == b"Sig" => {}
        Some(Obj::Name(n)) if n == b"DocTimeStamp" => return Err(malformed(
            "the last signature is a document time-stamp, which this verifier does not evaluate",
        )),
        Some(other) => return Err(malformed(format!("signature dictionary /Type {other:?}"))),
    }
    let sub_filter = match dict.get(b"SubFilter") {
        Some(Obj::Name(n)) => String::from_utf8_lossy(n).into_owned(),
        _ => return Err(malformed("the signature dictionary has no /SubFilter")),
    };
    if sub_filter != "ETSI.CAdES.detached" && sub_filter != "adbe.pkcs7.detached" {
        return Err(malformed(format!("unsupported /SubFilter {sub_filter}")));
    }

    let (contents, c_start, c_end) = match dict.get(b"Contents") {
        Some(Obj::Hex { bytes, start, end }) => (bytes.clone(), *start, *end),
        _ => return Err(malformed("/Contents is not a hex string")),
    };
    let range: Vec<u64> = match dict.get(b"ByteRange") {
        Some(Obj::Array(items)) => items
            .iter()
            .map(|o| match o {
                Obj::Int(n) => u64::try_from(*n).ok(),
                _ => None,
            })
            .collect::<Option<Vec<u64>>>()
            .ok_or_else(|| {
                VerifyError::ByteRangeInvalid("entries must be non-negative integers".into())
            })?,
        _ => return Err(VerifyError::ByteRangeInvalid("not an array".into())),
    };
    let [a, b, c, d]: [u64; 4] = range.try_into().map_err(|v: Vec<u64>| {
        VerifyError::ByteRangeInvalid(format!("{} entries instead of 4", v.len()))
    })?;
    let len = pdf.len() as u64;
    if a != 0 {
        return Err(VerifyError::ByteRangeInvalid(format!(
            "the signed range starts at {a}, not at the start of the file"
        )));
    }
    if b != c_start as u64 || c != c_end as u64 {
        return Err(VerifyError::ByteRangeInvalid(format!(
            "the gap [{b}, {c}) is not the /Contents hex string [{c_start}, {c_end})"
        )));
    }
    let end = c
        .checked_add(d)
        .ok_or_else(|| VerifyError::ByteRangeInvalid("the second range overflows".into()))?;
    if end > len {
        return Err(VerifyError::ByteRangeInvalid(format!(
            "the signed range ends at {end}, beyond the end of the file ({len})"
        )));
    }
    if end < len {
        return Err(VerifyError::ByteRangeInvalid(format!(
            "{} bytes after the signed range (an incremental update or appended data after signing)",
            len - end
        )));
    }

    Ok(SigDict {
        byte_range: [a, b, c, d],
        contents,
        sub_filter,
        m: string_entry(dict, b"M"),
        reason: string_entry(dict, b"Reason"),
        name: string_entry(dict, b"Name"),
        location: string_entry(dict, b"Location"),
    })
}

/// `D:YYYYMMDDHHmmSSOHH'mm'` (everything after the year optional) as Unix seconds.
fn parse_pdf_date(s: &str) -> Option<i64> {
    let s = s.strip_prefix("D:").unwrap_or(s);
    let digits = |from: usize, len: usize, default: u32| -> Option<u32> {
        match s.get(from..from + len) {
            Some(p) if p.bytes().all(|b| b.is_ascii_digit()) => p.parse().ok(),
            Some("") => Some(default),
            None if s.len() <= from => Some(default),
            _ => None,
        }
    };
    let year = i32::try_from(digits(0, 4, 0)?).ok()?;
    if s.len() < 4 {
        return None;
    }
    let month = digits(4, 2, 1)?;
    let day = digits(6, 2, 1)?;
    let hour = digits(8, 2, 0)?;
    let minute = digits(10, 2, 0)?;
    let second = digits(12, 2, 0)?;
    let naive =
        chrono::NaiveDate::from_ymd_opt(year, month, day)?.and_hms_opt(hour, minute, second)?;
    let mut t = naive.and_utc().timestamp();
    let rest = s.get(14..).unwrap_or("");
    let sign = match rest.as_bytes().first() {
        Some(b'+') => -1,
        Some(b'-') => 1,
        _ => 0,
    };
    if sign != 0 {
        let tz: String = rest[1..].chars().filter(char::is_ascii_digit).collect();
        let oh: i64 = tz.get(0..2).and_then(|h| h.parse().ok()).unwrap_or(0);
        let om: i64 = tz.get(2..4).and_then(|m| m.parse().ok()).unwrap_or(0);
        t += sign * (oh * 3600 + om * 60);
    }
    Some(t)
}

// ---- 3.: the CMS structure ------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DigestAlg {
    Sha256,
    Sha384,
    Sha512,
}

impl DigestAlg {
    fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        match *oid {
            ID_SHA_256 => Some(Self::Sha256),
            ID_SHA_384 => Some(Self::Sha384),
            ID_SHA_512 => Some(Self::Sha512),
            _ => None,
        }
    }

    fn hash_parts(self, parts: &[&[u8]]) -> Vec<u8> {
        fn run<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
            let mut h = D::new();
            for p in parts {
                h.update(p);
            }
            h.finalize().to_vec()
        }
        match self {
            Self::Sha256 => run::<Sha256>(parts),
            Self::Sha384 => run::<Sha384>(parts),
            Self::Sha512 => run::<Sha512>(parts),
        }
    }

    fn pkcs1v15(self) -> Pkcs1v15Sign {
        match self {
            Self::Sha256 => Pkcs1v15Sign::new::<Sha256>(),
            Self::Sha384 => Pkcs1v15Sign::new::<Sha384>(),
            Self::Sha512 => Pkcs1v15Sign::new::<Sha512>(),
        }
    }
}

struct Cms {
    digest: DigestAlg,
    message_digest: Vec<u8>,
    /// The signed attributes exactly as in the file, with the SET OF tag (RFC 5652 §5.4).
    signed_attrs_der: Vec<u8>,
    signature: Vec<u8>,
    sid: SignerIdentifier,
    /// Raw DER and parsed form of every X.509 certificate in the SignedData.
    certificates: Vec<(Vec<u8>, Certificate)>,
    signing_time: Option<i64>,
    signing_certificate_v2: Option<Vec<u8>>,
}

impl Cms {
    fn signer_certificate(&self) -> Result<(&[u8], &Certificate), VerifyError> {
        self.certificates
            .iter()
            .find(|(_, cert)| match &self.sid {
                SignerIdentifier::IssuerAndSerialNumber(iasn) => {
                    same_name(&cert.tbs_certificate.issuer, &iasn.issuer)
                        && cert.tbs_certificate.serial_number == iasn.serial_number
                }
                SignerIdentifier::SubjectKeyIdentifier(ski) => {
                    matches!(cert.tbs_certificate.get::<SubjectKeyIdentifier>(),
                        Ok(Some((_, own))) if own == *ski)
                }
            })
            .map(|(raw, cert)| (raw.as_slice(), cert))
            .ok_or_else(|| malformed("the signer certificate is not in the CMS"))
    }
}

/// One DER TLV: (tag byte, the whole TLV, its contents, what follows).
type Tlv<'a> = (u8, &'a [u8], &'a [u8], &'a [u8]);

fn tlv(input: &[u8]) -> Result<Tlv<'_>, VerifyError> {
    let err = || malformed("truncated or invalid DER");
    let tag = *input.first().ok_or_else(err)?;
    if tag & 0x1f == 0x1f {
        return Err(malformed("multi-byte DER tags are not expected here"));
    }
    let first = *input.get(1).ok_or_else(err)?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else if first == 0x80 {
        return Err(malformed("indefinite-length (BER) encoding is not DER"));
    } else {
        let n = usize::from(first & 0x7f);
        if n > 4 {
            return Err(err());
        }
        let bytes = input.get(2..2 + n).ok_or_else(err)?;
        let len = bytes
            .iter()
            .fold(0usize, |acc, &b| acc << 8 | usize::from(b));
        (len, 2 + n)
    };
    let end = header.checked_add(len).ok_or_else(err)?;
    let whole = input.get(..end).ok_or_else(err)?;
    Ok((tag, whole, &whole[header..], &input[end..]))
}

/// The children of a constructed DER value.
fn children(mut content: &[u8]) -> Result<Vec<(u8, &[u8])>, VerifyError> {
    let mut out = Vec::new();
    while !content.is_empty() {
        let (tag, whole, _, rest) = tlv(content)?;
        out.push((tag, whole));
        content = rest;
    }
    Ok(out)
}

fn expect<'a>(item: Option<&(u8, &'a [u8])>, tag: u8, what: &str) -> Result<&'a [u8], VerifyError> {
    match item {
        Some((t, whole)) if *t == tag => Ok(whole),
        _ => Err(malformed(format!("CMS: expected {what}"))),
    }
}

fn content_of(whole: &[u8]) -> Result<&[u8], VerifyError> {
    tlv(whole).map(|(_, _, content, _)| content)
}

fn parse_cms(contents: &[u8]) -> Result<Cms, VerifyError> {
    let (_, ci_der, _, padding) = tlv(contents)?;
    if padding.iter().any(|&b| b != 0) {
        return Err(malformed("data after the CMS structure in /Contents"));
    }

    // Semantic parse with the cms crate.
    let ci = ContentInfo::from_der(ci_der).map_err(|e| malformed(format!("ContentInfo: {e}")))?;
    if ci.content_type != ID_SIGNED_DATA {
        return Err(malformed(format!(
            "content type {} is not SignedData",
            ci.content_type
        )));
    }
    let sd: SignedData = ci
        .content
        .decode_as()
        .map_err(|e| malformed(format!("SignedData: {e}")))?;
    if sd.encap_content_info.econtent_type != ID_DATA {
        return Err(malformed("encapsulated content type is not id-data"));
    }
    if sd.encap_content_info.econtent.is_some() {
        return Err(malformed("the signature is not detached"));
    }
    let signers: Vec<_> = sd.signer_infos.0.iter().collect();
    let [si] = signers.as_slice() else {
        return Err(malformed(format!(
            "{} SignerInfos instead of one",
            signers.len()
        )));
    };

    // Raw pieces that must not be re-encoded: the signed attributes and the certificates.
    let ci_items = children(content_of(ci_der)?)?;
    let explicit = expect(ci_items.get(1), 0xa0, "[0] content")?;
    let sd_der = expect(children(content_of(explicit)?)?.first(), 0x30, "SignedData")?;
    let sd_items = children(content_of(sd_der)?)?;
    let mut certificates = Vec::new();
    if let Some((_, certs)) = sd_items.iter().find(|(t, _)| *t == 0xa0) {
        for (tag, raw) in children(content_of(certs)?)? {
            if tag == 0x30 {
                let cert = Certificate::from_der(raw)
                    .map_err(|e| malformed(format!("certificate in the CMS: {e}")))?;
                certificates.push((raw.to_vec(), cert));
            }
        }
    }
    let infos = expect(sd_items.last(), 0x31, "SignerInfos")?;
    let si_der = expect(children(content_of(infos)?)?.first(), 0x30, "SignerInfo")?;
    let si_items = children(content_of(si_der)?)?;
    let raw_attrs = expect(si_items.get(3), 0xa0, "signed attributes")?;
    let mut signed_attrs_der = raw_attrs.to_vec();
    signed_attrs_der[0] = 0x31;

    let digest = DigestAlg::from_oid(&si.digest_alg.oid).ok_or_else(|| {
        malformed(format!(
            "unsupported digest algorithm {}",
            si.digest_alg.oid
        ))
    })?;
    let sig_alg = si.signature_algorithm.oid;
    let implied = match sig_alg {
        RSA_ENCRYPTION => None,
        SHA_256_WITH_RSA_ENCRYPTION => Some(DigestAlg::Sha256),
        SHA_384_WITH_RSA_ENCRYPTION => Some(DigestAlg::Sha384),
        SHA_512_WITH_RSA_ENCRYPTION => Some(DigestAlg::Sha512),
        other => {
            return Err(malformed(format!(
                "unsupported signature algorithm {other}"
            )))
        }
    };
    if implied.is_some_and(|d| d != digest) {
        return Err(malformed(
            "the signature algorithm's hash differs from the digest algorithm",
        ));
    }

    let attrs = si
        .signed_attrs
        .as_ref()
        .ok_or_else(|| malformed("no signed attributes"))?;
    let single = |oid: ObjectIdentifier, name: &str| -> Result<Option<&der::Any>, VerifyError> {
        let found: Vec<_> = attrs.iter().filter(|a| a.oid == oid).collect();
        match found.as_slice() {
            [] => Ok(None),
            [attr] if attr.values.len() == 1 => Ok(attr.values.get(0)),
            _ => Err(malformed(format!(
                "the {name} attribute must occur once with one value"
            ))),
        }
    };
    let content_type = single(ID_CONTENT_TYPE, "content-type")?
        .ok_or_else(|| malformed("no content-type attribute"))?
        .decode_as::<ObjectIdentifier>()
        .map_err(|e| malformed(format!("content-type attribute: {e}")))?;
    if content_type != ID_DATA {
        return Err(malformed("content-type attribute is not id-data"));
    }
    let message_digest = single(ID_MESSAGE_DIGEST, "message-digest")?
        .ok_or_else(|| malformed("no message-digest attribute"))?
        .decode_as::<OctetString>()
        .map_err(|e| malformed(format!("message-digest attribute: {e}")))?
        .into_bytes();
    let signing_time = match single(ID_SIGNING_TIME, "signing-time")? {
        None => None,
        Some(v) => Some(
            v.to_der()
                .and_then(|d| x509_cert::time::Time::from_der(&d))
                .map_err(|e| malformed(format!("signing-time attribute: {e}")))?
                .to_unix_duration()
                .as_secs() as i64,
        ),
    };
    let signing_certificate_v2 = single(ID_SIGNING_CERTIFICATE_V2, "signing-certificate-v2")?
        .map(|v| v.to_der())
        .transpose()
        .map_err(|e| malformed(format!("signing-certificate-v2 attribute: {e}")))?;

    Ok(Cms {
        digest,
        message_digest,
        signed_attrs_der,
        signature: si.signature.as_bytes().to_vec(),
        sid: si.sid.clone(),
        certificates,
        signing_time,
        signing_certificate_v2,
    })
}

/// ESS signing-certificate-v2 (RFC 5035): the first ESSCertIDv2 must be the hash of the signer
/// certificate (SHA-256 unless it names another algorithm).
fn check_signing_certificate_v2(attr: &[u8], signer_raw: &[u8]) -> Result<(), VerifyError> {
    let bad = |m: &str| VerifyError::BadSignature(format!("signing-certificate-v2: {m}"));
    let certs = expect(
        children(content_of(attr)?)?.first(),
        0x30,
        "ESSCertIDv2 list",
    )?;
    let first = expect(children(content_of(certs)?)?.first(), 0x30, "ESSCertIDv2")?;
    let items = children(content_of(first)?)?;
    let (alg, hash) = match items.as_slice() {
        [(0x30, alg), (0x04, hash), ..] => {
            let alg = spki::AlgorithmIdentifierOwned::from_der(alg)
                .map_err(|e| malformed(format!("ESSCertIDv2 hash algorithm: {e}")))?;
            let alg = DigestAlg::from_oid(&alg.oid)
                .ok_or_else(|| malformed(format!("unsupported ESSCertIDv2 hash {}", alg.oid)))?;
            (alg, *hash)
        }
        [(0x04, hash), ..] => (DigestAlg::Sha256, *hash),
        _ => return Err(malformed("ESSCertIDv2 has no certHash")),
    };
    if content_of(hash)? != alg.hash_parts(&[signer_raw]).as_slice() {
        return Err(bad("it names another certificate than the signer's"));
    }
    Ok(())
}

// ---- 6. and 7.: certificates ----------------------------------------------------------------

struct Anchor {
    raw: Vec<u8>,
    cert: Certificate,
}

fn parse_anchors(ca_pem: &str) -> Result<Vec<Anchor>, VerifyError> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut anchors = Vec::new();
    let mut rest = ca_pem;
    while let Some(start) = rest.find(BEGIN) {
        let after = &rest[start..];
        let end = after
            .find(END)
            .ok_or_else(|| VerifyError::TrustAnchor("unterminated PEM block".into()))?;
        let block = &after[..end + END.len()];
        let (label, der) = der::pem::decode_vec(block.as_bytes())
            .map_err(|e| VerifyError::TrustAnchor(format!("PEM: {e}")))?;
        if label != "CERTIFICATE" {
            return Err(VerifyError::TrustAnchor(format!(
                "unexpected PEM label {label}"
            )));
        }
        let cert = Certificate::from_der(&der)
            .map_err(|e| VerifyError::TrustAnchor(format!("certificate: {e}")))?;
        anchors.push(Anchor { raw: der, cert });
        rest = &after[end + END.len()..];
    }
    if anchors.is_empty() {
        return Err(VerifyError::TrustAnchor(
            "no CERTIFICATE block in the CA PEM".into(),
        ));
    }
    Ok(anchors)
}

fn same_name(a: &Name, b: &Name) -> bool {
    match (a.to_der(), b.to_der()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn rsa_key(cert: &Certificate) -> Result<RsaPublicKey, String> {
    let spki = cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| e.to_string())?;
    let key = RsaPublicKey::from_public_key_der(&spki)
        .map_err(|e| format!("not an RSA public key ({e})"))?;
    if key.size() * 8 < MIN_RSA_BITS {
        return Err(format!("RSA key of {} bits", key.size() * 8));
    }
    Ok(key)
}

/// Does `issuer`'s key verify the signature on the certificate `raw`?
fn signed_by(raw: &[u8], cert: &Certificate, issuer: &Certificate) -> Result<(), String> {
    let hash = match cert.signature_algorithm.oid {
        SHA_256_WITH_RSA_ENCRYPTION => DigestAlg::Sha256,
        SHA_384_WITH_RSA_ENCRYPTION => DigestAlg::Sha384,
        SHA_512_WITH_RSA_ENCRYPTION => DigestAlg::Sha512,
        other => {
            return Err(format!(
                "unsupported certificate signature algorithm {other}"
            ))
        }
    };
    let key = rsa_key(issuer)?;
    let outer = tlv(raw).map_err(|e| e.to_string())?.2;
    let tbs = tlv(outer).map_err(|e| e.to_string())?.1;
    let sig = cert
        .signature
        .as_bytes()
        .ok_or("signature bit string with unused bits")?;
    key.verify(hash.pkcs1v15(), &hash.hash_parts(&[tbs]), sig)
        .map_err(|_| "signature does not verify".to_owned())
}

fn check_extensions(cert: &Certificate) -> Result<(), VerifyError> {
    for ext in cert.tbs_certificate.extensions.iter().flatten() {
        if ext.critical && !KNOWN_EXTENSIONS.contains(&ext.extn_id.to_string().as_str()) {
            return Err(VerifyError::UntrustedCertificate(format!(
                "{} has an unknown critical extension {}",
                name_string(&cert.tbs_certificate.subject),
                ext.extn_id
            )));
        }
    }
    Ok(())
}

/// May `cert` issue certificates? `depth` counts the CA certificates already below it.
fn check_issuer(cert: &Certificate, below: usize) -> Result<(), VerifyError> {
    let subject = name_string(&cert.tbs_certificate.subject);
    let untrusted = |m: String| VerifyError::UntrustedCertificate(format!("{subject}: {m}"));
    match cert.tbs_certificate.get::<BasicConstraints>() {
        Ok(Some((_, bc))) if bc.ca => {
            if let Some(max) = bc.path_len_constraint {
                if below > usize::from(max) {
                    return Err(untrusted("path length constraint exceeded".into()));
                }
            }
        }
        Ok(_) => return Err(untrusted("not a CA certificate".into())),
        Err(e) => return Err(untrusted(format!("basicConstraints: {e}"))),
    }
    match cert.tbs_certificate.get::<KeyUsage>() {
        Ok(Some((_, ku))) if !ku.key_cert_sign() => {
            Err(untrusted("key usage does not allow keyCertSign".into()))
        }
        Ok(_) => Ok(()),
        Err(e) => Err(untrusted(format!("keyUsage: {e}"))),
    }
}

/// The path from the signer to a trust anchor, signer first, anchor last.
fn build_path<'a>(
    signer_raw: &'a [u8],
    signer: &'a Certificate,
    embedded: &'a [(Vec<u8>, Certificate)],
    anchors: &'a [Anchor],
) -> Result<Vec<&'a Certificate>, VerifyError> {
    match signer.tbs_certificate.get::<KeyUsage>() {
        Ok(Some((_, ku))) if !ku.digital_signature() && !ku.non_repudiation() => {
            return Err(VerifyError::UntrustedCertificate(
                "the signer certificate's key usage allows neither digitalSignature nor nonRepudiation"
                    .into(),
            ))
        }
        Ok(_) => {}
        Err(e) => {
            return Err(VerifyError::UntrustedCertificate(format!("keyUsage: {e}")));
        }
    }
    check_extensions(signer)?;

    let mut path = vec![signer];
    let (mut raw, mut cert) = (signer_raw, signer);
    let mut failures = Vec::new();
    for below in 0..=MAX_INTERMEDIATES {
        let issuer_name = &cert.tbs_certificate.issuer;
        for anchor in anchors {
            if !same_name(&anchor.cert.tbs_certificate.subject, issuer_name) {
                continue;
            }
            match signed_by(raw, cert, &anchor.cert) {
                Ok(()) => {
                    check_issuer(&anchor.cert, below)?;
                    path.push(&anchor.cert);
                    return Ok(path);
                }
                Err(e) => failures.push(format!(
                    "CA {}: {e}",
                    name_string(&anchor.cert.tbs_certificate.subject)
                )),
            }
        }
        // An intermediate CA certificate embedded in the CMS?
        let next = embedded.iter().find(|(r, c)| {
            r.as_slice() != raw
                && !anchors.iter().any(|a| a.raw == *r)
                && same_name(&c.tbs_certificate.subject, issuer_name)
                && signed_by(raw, cert, c).is_ok()
        });
        let Some((next_raw, next_cert)) = next else {
            break;
        };
        check_issuer(next_cert, below)?;
        check_extensions(next_cert)?;
        path.push(next_cert);
        raw = next_raw;
        cert = next_cert;
    }
    let mut msg = format!(
        "no path from {} to the configured CA (issuer {})",
        name_string(&signer.tbs_certificate.subject),
        name_string(&cert.tbs_certificate.issuer)
    );
    if !failures.is_empty() {
        msg.push_str(": ");
        msg.push_str(&failures.join("; "));
    }
    Err(VerifyError::UntrustedCertificate(msg))
}

fn check_validity(cert: &Certificate, at: i64) -> Result<(), VerifyError> {
    let v = &cert.tbs_certificate.validity;
    let not_before = v.not_before.to_unix_duration().as_secs() as i64;
    let not_after = v.not_after.to_unix_duration().as_secs() as i64;
    if at < not_before || at > not_after {
        return Err(VerifyError::CertificateExpired {
            subject: name_string(&cert.tbs_certificate.subject),
            not_before,
            not_after,
            at,
        });
    }
    Ok(())
}

// ---- names ----------------------------------------------------------------------------------

fn attr_value_string(value: &der::Any) -> String {
    let bytes = value.value();
    match value.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::VisibleString => {
            String::from_utf8_lossy(bytes).into_owned()
        }
        Tag::TeletexString => bytes.iter().map(|&b| char::from(b)).collect(),
        Tag::BmpString => {
            let units: Vec<u16> = bytes
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        _ => format!("#{}", hex::encode(value.to_der().unwrap_or_default())),
    }
}

fn short_name(oid: &ObjectIdentifier) -> String {
    match oid.to_string().as_str() {
        "2.5.4.3" => "CN".into(),
        "2.5.4.6" => "C".into(),
        "2.5.4.7" => "L".into(),
        "2.5.4.8" => "ST".into(),
        "2.5.4.10" => "O".into(),
        "2.5.4.11" => "OU".into(),
        "2.5.4.5" => "serialNumber".into(),
        "2.5.4.9" => "street".into(),
        "0.9.2342.19200300.100.1.25" => "DC".into(),
        "0.9.2342.19200300.100.1.1" => "UID".into(),
        other => other.into(),
    }
}

fn escape_rfc4514(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, c) in s.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i + 1 == s.chars().count() && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// RFC 4514 string form, most specific RDN first.
fn name_string(name: &Name) -> String {
    name.0
        .iter()
        .rev()
        .map(|rdn| {
            rdn.0
                .iter()
                .map(|atv| {
                    format!(
                        "{}={}",
                        short_name(&atv.oid),
                        escape_rfc4514(&attr_value_string(&atv.value))
                    )
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Values of one attribute type in a name, in order.
fn name_attr(name: &Name, oid: &str) -> Vec<String> {
    name.0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .filter(|atv| atv.oid.to_string() == oid)
        .map(|atv| attr_value_string(&atv.value))
        .collect()
}

fn serial_hex(bytes: &[u8]) -> String {
    let hex = hex::encode(bytes);
    let trimmed = hex.trim_start_matches('0');
    if trimmed.is_empty() {
        "0".into()
    } else {
        trimmed.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdf_dates() {
        // 2026-11-24T14:03:36Z
        assert_eq!(parse_pdf_date("D:20261124140336Z"), Some(1_795_529_016));
        assert_eq!(
            parse_pdf_date("D:20261124220336+08'00'"),
            Some(1_795_529_016)
        );
        assert_eq!(
            parse_pdf_date("D:20261124060336-08'00"),
            Some(1_795_529_016)
        );
        assert_eq!(parse_pdf_date("D:2026"), Some(1_767_225_600));
        assert_eq!(parse_pdf_date("D:20261340"), None);
        assert_eq!(parse_pdf_date("garbage"), None);
    }

    #[test]
    fn serials() {
        assert_eq!(serial_hex(&[0x00, 0x6b, 0xca]), "6bca");
        assert_eq!(serial_hex(&[0x01]), "1");
        assert_eq!(serial_hex(&[0x00]), "0");
    }

    #[test]
    fn tlv_rejects_truncation_and_ber() {
        assert!(tlv(&[0x30, 0x05, 0x01]).is_err());
        assert!(tlv(&[0x30, 0x80, 0x00, 0x00]).is_err());
        let (tag, whole, content, rest) = tlv(&[0x04, 0x02, 0xaa, 0xbb, 0x00]).unwrap();
        assert_eq!(
            (tag, whole, content, rest),
            (4, &[4, 2, 0xaa, 0xbb][..], &[0xaa, 0xbb][..], &[0][..])
        );
        let (_, _, content, _) = tlv(&[0x04, 0x81, 0x01, 0xcc]).unwrap();
        assert_eq!(content, &[0xcc]);
    }

    #[test]
    fn no_signature_and_bad_anchor() {
        let ca = "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            verify_sealed_pdf(b"%PDF-1.7\n", "", 0),
            Err(VerifyError::TrustAnchor(_))
        ));
        assert!(matches!(
            verify_sealed_pdf(b"%PDF-1.7\n", ca, 0),
            Err(VerifyError::TrustAnchor(_))
        ));
    }
}
