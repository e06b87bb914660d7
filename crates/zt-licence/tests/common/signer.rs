//! A small PAdES signer for tests: RSA keys from a seeded generator, certificates made with
//! rcgen, the CMS SignedData from the `cms` crate's builder, written into the PDF as an
//! incremental update (signature dictionary, signature field, catalog with /AcroForm).

use std::sync::OnceLock;
use std::time::Duration;

use cms::builder::{SignedDataBuilder, SignerInfoBuilder};
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::signed_data::{EncapsulatedContentInfo, SignerIdentifier};
use der::asn1::{SetOfVec, UtcTime};
use der::{Any, Decode, Encode};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SerialNumber, PKCS_RSA_SHA256,
};
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use rsa::RsaPrivateKey;
use sha2::{Digest, Sha256};
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::SubjectKeyIdentifier;

const ID_DATA: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const ID_SHA_256: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const ID_SIGNING_TIME: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
const ID_SIGNING_CERTIFICATE_V2: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");

/// 2025-01-01 .. 2035-01-01 for CAs, 2026-01-01 .. 2031-01-01 for signers.
pub const SIGNER_NOT_BEFORE: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z
pub const SIGNER_NOT_AFTER: i64 = 1_924_992_000; // 2031-01-01T00:00:00Z
/// A time inside every validity period of the test PKI: 2026-11-24T14:03:36Z.
pub const AT: i64 = 1_795_529_016;

/// RSA-2048 keys from a fixed seed, generated once per test binary.
pub fn keys() -> &'static [RsaPrivateKey] {
    static KEYS: OnceLock<Vec<RsaPrivateKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut rng = StdRng::seed_from_u64(20_261_124);
        (0..5)
            .map(|_| RsaPrivateKey::new(&mut rng, 2048).unwrap())
            .collect()
    })
}

/// A certificate with its rcgen issuing material.
pub struct Party {
    pub key: RsaPrivateKey,
    pub params: CertificateParams,
    pub key_pair: KeyPair,
    pub der: Vec<u8>,
    pub pem: String,
}

impl Party {
    fn issuer(&self) -> Issuer<'_, &KeyPair> {
        Issuer::from_params(&self.params, &self.key_pair)
    }
}

pub struct CertSpec<'a> {
    pub cn: &'a str,
    pub org: Option<&'a str>,
    pub ou: Option<&'a str>,
    pub ca: Option<u8>,
    pub not_before: (i32, u8, u8),
    pub not_after: (i32, u8, u8),
    pub serial: u64,
    pub key_usages: Vec<KeyUsagePurpose>,
}

impl<'a> CertSpec<'a> {
    pub fn ca(cn: &'a str, serial: u64) -> Self {
        Self {
            cn,
            org: Some("Test PKI"),
            ou: None,
            ca: Some(1),
            not_before: (2025, 1, 1),
            not_after: (2035, 1, 1),
            serial,
            key_usages: vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign],
        }
    }

    pub fn seal(cn: &'a str, seal_code: &'a str, serial: u64) -> (Self, String) {
        (
            Self {
                cn,
                org: Some("江州市行政审批局"),
                ou: None,
                ca: None,
                not_before: (2026, 1, 1),
                not_after: (2031, 1, 1),
                serial,
                key_usages: vec![
                    KeyUsagePurpose::DigitalSignature,
                    KeyUsagePurpose::ContentCommitment,
                ],
            },
            format!("seal_code={seal_code}"),
        )
    }
}

pub fn make(spec: &CertSpec<'_>, key: &RsaPrivateKey, issuer: Option<&Party>) -> Party {
    let pem = key.to_pkcs8_pem(LineEnding::LF).unwrap();
    let key_pair = KeyPair::from_pkcs8_pem_and_sign_algo(&pem, &PKCS_RSA_SHA256).unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "CN");
    if let Some(o) = spec.org {
        dn.push(DnType::OrganizationName, o);
    }
    if let Some(ou) = spec.ou {
        dn.push(DnType::OrganizationalUnitName, ou);
    }
    dn.push(DnType::CommonName, spec.cn);
    params.distinguished_name = dn;
    params.is_ca = match spec.ca {
        Some(n) => IsCa::Ca(BasicConstraints::Constrained(n)),
        None => IsCa::ExplicitNoCa,
    };
    params.not_before =
        rcgen::date_time_ymd(spec.not_before.0, spec.not_before.1, spec.not_before.2);
    params.not_after = rcgen::date_time_ymd(spec.not_after.0, spec.not_after.1, spec.not_after.2);
    params.serial_number = Some(SerialNumber::from(spec.serial));
    params.key_usages = spec.key_usages.clone();
    let cert = match issuer {
        Some(i) => params.signed_by(&key_pair, &i.issuer()).unwrap(),
        None => params.self_signed(&key_pair).unwrap(),
    };
    Party {
        key: key.clone(),
        der: cert.der().to_vec(),
        pem: cert.pem(),
        params,
        key_pair,
    }
}

/// The standard test PKI: a root CA and a seal certificate issued by it.
pub struct Pki {
    pub ca: Party,
    pub seal: Party,
}

pub fn pki() -> Pki {
    let k = keys();
    let ca = make(&CertSpec::ca("Test Seal Root CA", 1), &k[0], None);
    let (mut spec, ou) = CertSpec::seal("江州市行政审批局行政审批专用章", "36040000000011", 0x6bca);
    spec.ou = Some(&ou);
    let seal = make(&spec, &k[1], Some(&ca));
    Pki { ca, seal }
}

pub struct SignOptions<'a> {
    /// The key that makes the signature value (normally the signer certificate's).
    pub key: &'a RsaPrivateKey,
    /// The signer certificate (DER).
    pub cert: &'a [u8],
    /// More certificates to embed (DER).
    pub extra_certs: Vec<&'a [u8]>,
    pub sub_filter: &'a str,
    /// Put this into the message-digest attribute instead of the real digest.
    pub digest_override: Option<Vec<u8>>,
    /// A CMS signing-time attribute (Unix seconds).
    pub signing_time: Option<i64>,
    /// An ESS signing-certificate-v2 attribute with this certificate hash.
    pub ess_hash: Option<Vec<u8>>,
    /// Identify the signer by subject key identifier instead of issuer and serial.
    pub use_ski: bool,
    /// Replace the CMS by these bytes (hex-encoded into /Contents).
    pub raw_contents: Option<Vec<u8>>,
}

impl<'a> SignOptions<'a> {
    pub fn new(signer: &'a Party) -> Self {
        Self {
            key: &signer.key,
            cert: &signer.der,
            extra_certs: Vec::new(),
            sub_filter: "ETSI.CAdES.detached",
            digest_override: None,
            signing_time: None,
            ess_hash: Some(Sha256::digest(&signer.der).to_vec()),
            use_ski: false,
            raw_contents: None,
        }
    }
}

const CONTENTS_BYTES: usize = 8192;

fn find_last(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .rposition(|w| w == needle)
        .unwrap()
}

fn int_after(hay: &[u8], at: usize) -> u64 {
    let s: String = hay[at..]
        .iter()
        .skip_while(|b| b.is_ascii_whitespace())
        .take_while(|b| b.is_ascii_digit())
        .map(|&b| char::from(b))
        .collect();
    s.parse().unwrap()
}

fn utf16_hex(s: &str) -> String {
    let mut out = String::from("FEFF");
    for u in s.encode_utf16() {
        out.push_str(&format!("{u:04X}"));
    }
    out
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else if n < 0x100 {
        out.extend([0x81, n as u8]);
    } else {
        out.extend([0x82, (n >> 8) as u8, n as u8]);
    }
    out.extend_from_slice(content);
    out
}

fn attribute(oid: der::oid::ObjectIdentifier, value_der: &[u8]) -> Attribute {
    let mut values = SetOfVec::new();
    values.insert(Any::from_der(value_der).unwrap()).unwrap();
    Attribute { oid, values }
}

/// The CMS SignedData over `digest` (DER).
pub fn build_cms(opts: &SignOptions<'_>, digest: &[u8]) -> Vec<u8> {
    let cert = x509_cert::Certificate::from_der(opts.cert).unwrap();
    let sid = if opts.use_ski {
        let (_, ski) = cert
            .tbs_certificate
            .get::<SubjectKeyIdentifier>()
            .unwrap()
            .unwrap();
        SignerIdentifier::SubjectKeyIdentifier(ski)
    } else {
        SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: cert.tbs_certificate.issuer.clone(),
            serial_number: cert.tbs_certificate.serial_number.clone(),
        })
    };
    let encap = EncapsulatedContentInfo {
        econtent_type: ID_DATA,
        econtent: None,
    };
    let signing_key = rsa::pkcs1v15::SigningKey::<Sha256>::new(opts.key.clone());
    let digest_alg = AlgorithmIdentifierOwned {
        oid: ID_SHA_256,
        parameters: None,
    };
    let md = opts
        .digest_override
        .clone()
        .unwrap_or_else(|| digest.to_vec());
    let mut sib =
        SignerInfoBuilder::new(&signing_key, sid, digest_alg.clone(), &encap, Some(&md)).unwrap();
    if let Some(t) = opts.signing_time {
        let utc = UtcTime::from_unix_duration(Duration::from_secs(t as u64)).unwrap();
        sib.add_signed_attribute(attribute(ID_SIGNING_TIME, &utc.to_der().unwrap()))
            .unwrap();
    }
    if let Some(hash) = &opts.ess_hash {
        // SigningCertificateV2 ::= SEQUENCE { certs SEQUENCE OF ESSCertIDv2 }
        // ESSCertIDv2 ::= SEQUENCE { certHash OCTET STRING } (hashAlgorithm sha256 by default)
        let value = tlv(0x30, &tlv(0x30, &tlv(0x30, &tlv(0x04, hash))));
        sib.add_signed_attribute(attribute(ID_SIGNING_CERTIFICATE_V2, &value))
            .unwrap();
    }
    let mut builder = SignedDataBuilder::new(&encap);
    builder
        .add_digest_algorithm(digest_alg)
        .unwrap()
        .add_certificate(CertificateChoices::Certificate(cert))
        .unwrap();
    for extra in &opts.extra_certs {
        builder
            .add_certificate(CertificateChoices::Certificate(
                x509_cert::Certificate::from_der(extra).unwrap(),
            ))
            .unwrap();
    }
    builder
        .add_signer_info::<_, rsa::pkcs1v15::Signature>(sib)
        .unwrap();
    builder.build().unwrap().to_der().unwrap()
}

/// Signs `base` (a PDF made by `zt_licence::render`: catalog 1 0 R, pages 2 0 R, page 3 0 R) as
/// an incremental update.
pub fn sign_pdf(base: &[u8], opts: &SignOptions<'_>) -> Vec<u8> {
    let prev = int_after(base, find_last(base, b"startxref") + 9);
    let size = int_after(base, find_last(base, b"/Size") + 5);
    let (sig_no, field_no) = (size, size + 1);

    let mut out = base.to_vec();
    if out.last() != Some(&b'\n') {
        out.push(b'\n');
    }
    let sig_off = out.len();
    out.extend_from_slice(
        format!(
            "{sig_no} 0 obj\n<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /{} /M (D:20261124220336+08'00') /Reason <{}> /Name (Test) /Location <{}>\n/ByteRange [0 0000000000 0000000000 0000000000] /Contents ",
            opts.sub_filter,
            utf16_hex("发证"),
            utf16_hex("江州市行政审批局")
        )
        .as_bytes(),
    );
    let range_at = find_last(&out, b"[0 0000000000") + 1;
    let contents_at = out.len();
    out.push(b'<');
    out.extend(std::iter::repeat_n(b'0', CONTENTS_BYTES * 2));
    out.push(b'>');
    let contents_end = out.len();
    out.extend_from_slice(b" >>\nendobj\n");

    let field_off = out.len();
    out.extend_from_slice(
        format!(
            "{field_no} 0 obj\n<< /Type /Annot /Subtype /Widget /FT /Sig /T (Seal_test) /V {sig_no} 0 R /Rect [0 0 0 0] /F 132 /P 3 0 R >>\nendobj\n"
        )
        .as_bytes(),
    );
    let catalog_off = out.len();
    out.extend_from_slice(
        format!(
            "1 0 obj\n<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [{field_no} 0 R] /SigFlags 3 >> >>\nendobj\n"
        )
        .as_bytes(),
    );
    let xref_off = out.len();
    out.extend_from_slice(
        format!(
            "xref\n0 2\n0000000000 65535 f \n{catalog_off:010} 00000 n \n{sig_no} 2\n{sig_off:010} 00000 n \n{field_off:010} 00000 n \ntrailer\n<< /Size {} /Root 1 0 R /Prev {prev} >>\nstartxref\n{xref_off}\n%%EOF\n",
            field_no + 1
        )
        .as_bytes(),
    );

    let len = out.len();
    let range = format!(
        "0 {contents_at:010} {contents_end:010} {:010}",
        len - contents_end
    );
    out[range_at..range_at + range.len()].copy_from_slice(range.as_bytes());

    let mut h = Sha256::new();
    h.update(&out[..contents_at]);
    h.update(&out[contents_end..]);
    let digest = h.finalize();
    let cms = match &opts.raw_contents {
        Some(raw) => raw.clone(),
        None => build_cms(opts, &digest),
    };
    assert!(cms.len() <= CONTENTS_BYTES, "CMS too large");
    let hex = hex::encode(&cms);
    out[contents_at + 1..contents_at + 1 + hex.len()].copy_from_slice(hex.as_bytes());
    out
}
