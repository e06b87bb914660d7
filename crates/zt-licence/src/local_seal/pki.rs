//! The built-in PKI on disk: a self-signed root CA and one certificate per seal, as PEM files.
//!
//! ```text
//! <dir>/ca.pem, ca.key.pem                   root CA (RSA 2048, CA:TRUE pathlen 0)
//! <dir>/seals/<seal_code>.pem, .key.pem      one signing certificate per seal (RSA 2048)
//! ```
//!
//! The CA is never replaced behind the operator's back: it is the trust anchor of every licence
//! sealed with it, so an unreadable or mismatched CA file is an error, not a reason to start
//! over. Seal certificates are cheap to replace (old documents still chain to the same CA): one
//! that is missing, unreadable, not issued by the CA or no longer matches the seal's name is
//! issued anew, with a new key.

use std::fs;
use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use const_oid::db::rfc4519::{
    COMMON_NAME, COUNTRY_NAME, ORGANIZATIONAL_UNIT_NAME, ORGANIZATION_NAME,
};
use const_oid::ObjectIdentifier;
use der::asn1::{GeneralizedTime, PrintableStringRef, SetOfVec, Utf8StringRef};
use der::pem::LineEnding;
use der::{Any, Decode, Encode};
use rsa::pkcs1v15::{SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use rsa::rand_core::{OsRng, RngCore};
use rsa::signature::Verifier;
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::Sha256;
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};
use x509_cert::Certificate;

use super::{LocalSeal, LocalSealError};

/// Common name of the built-in root CA.
pub(super) const CA_COMMON_NAME: &str = "Zhengtong Built-in Seal CA (demo)";
const CA_ORGANIZATION: &str = "Zhengtong 政通 (built-in e-seal, not for production)";
const RSA_BITS: usize = 2048;

/// Validity of every certificate: from 2000-01-01T00:00:00Z to 9999-12-31T23:59:59Z, "no
/// well-defined expiration date" (RFC 5280 §4.1.2.5). A demo runs on an injected clock that may
/// stand on any date, and nothing here reads the real one; certificates that are valid whenever
/// that clock says keep every demo licence verifiable. The e-seal service's certificates do
/// expire (20 years for its CA, 5 for seals); this CA is only ever trusted by its own demo.
const NOT_BEFORE: u64 = 946_684_800;
const NOT_AFTER: u64 = 253_402_300_799;

/// A certificate with its DER.
pub(super) struct Cert {
    pub der: Vec<u8>,
    pub cert: Certificate,
}

impl Cert {
    fn from_der(der: Vec<u8>) -> Result<Self, String> {
        let cert = Certificate::from_der(&der).map_err(|e| format!("certificate: {e}"))?;
        Ok(Self { der, cert })
    }

    pub(super) fn pem(&self) -> Result<String, String> {
        der::pem::encode_string("CERTIFICATE", LineEnding::LF, &self.der).map_err(|e| e.to_string())
    }

    /// Lowercase hex without leading zeros, as the e-seal service reports serials.
    pub(super) fn serial_hex(&self) -> String {
        let hex = hex::encode(self.cert.tbs_certificate.serial_number.as_bytes());
        match hex.trim_start_matches('0') {
            "" => "0".to_owned(),
            s => s.to_owned(),
        }
    }
}

/// The root CA: its key signs seal certificates.
pub(super) struct Ca {
    pub key: RsaPrivateKey,
    pub cert: Cert,
    pub pem: String,
}

/// One seal: its certificate and signing key.
pub(super) struct SealKey {
    pub seal: LocalSeal,
    pub key: SigningKey<Sha256>,
    pub cert: Cert,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> LocalSealError + '_ {
    move |source| LocalSealError::Io {
        path: path.to_owned(),
        source,
    }
}

fn store_err(path: &Path, reason: impl Into<String>) -> LocalSealError {
    LocalSealError::Store {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

fn crypto(e: impl std::fmt::Display) -> LocalSealError {
    LocalSealError::Crypto(e.to_string())
}

/// Creates `dir` (and parents) if missing; a directory created here is private to the owner.
pub(super) fn ensure_dir(dir: &Path) -> Result<(), LocalSealError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(io_err(dir))
}

/// Writes `bytes` to `path` through a temporary file and a rename, so that a crash never leaves
/// half a key; a private file is created with mode 0600, never readable by others even briefly.
fn write_atomic(path: &Path, bytes: &[u8], private: bool) -> Result<(), LocalSealError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut suffix = [0u8; 8];
    OsRng.fill_bytes(&mut suffix);
    let tmp = dir.join(format!(".tmp-{}", hex::encode(suffix)));
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, if private { 0o600 } else { 0o644 });
    #[cfg(not(unix))]
    let _ = private;
    let result = options
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .and_then(|()| fs::rename(&tmp, path));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(io_err(path))
}

/// Reads a file, `None` if it does not exist.
fn read_optional(path: &Path) -> Result<Option<String>, LocalSealError> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path)(e)),
    }
}

fn parse_cert_pem(pem: &str) -> Result<Cert, String> {
    let (label, der) =
        der::pem::decode_vec(pem.trim().as_bytes()).map_err(|e| format!("PEM: {e}"))?;
    if label != "CERTIFICATE" {
        return Err(format!("PEM label {label}, not CERTIFICATE"));
    }
    Cert::from_der(der)
}

fn key_matches(key: &RsaPrivateKey, cert: &Cert) -> Result<bool, String> {
    let ours = RsaPublicKey::from(key)
        .to_public_key_der()
        .map_err(|e| e.to_string())?;
    let theirs = cert
        .cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| e.to_string())?;
    Ok(ours.as_bytes() == theirs.as_slice())
}

fn new_key() -> Result<RsaPrivateKey, LocalSealError> {
    RsaPrivateKey::new(&mut OsRng, RSA_BITS).map_err(crypto)
}

/// Stores a private key as unencrypted PKCS#8 PEM, mode 0600 (the PEM text is wiped from memory
/// afterwards).
fn write_key(path: &Path, key: &RsaPrivateKey) -> Result<(), LocalSealError> {
    let pem = key.to_pkcs8_pem(LineEnding::LF).map_err(crypto)?;
    write_atomic(path, pem.as_bytes(), true)
}

/// A random positive serial of 16 bytes (RFC 5280 §4.1.2.2: at most 20 octets, unpredictable).
fn serial() -> Result<SerialNumber, LocalSealError> {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    bytes[0] = (bytes[0] & 0x7f).max(1);
    SerialNumber::new(&bytes).map_err(crypto)
}

fn validity() -> Result<Validity, LocalSealError> {
    let time = |secs| {
        GeneralizedTime::from_unix_duration(Duration::from_secs(secs))
            .map(Time::GeneralTime)
            .map_err(crypto)
    };
    Ok(Validity {
        not_before: time(NOT_BEFORE)?,
        not_after: time(NOT_AFTER)?,
    })
}

fn atv_utf8(oid: ObjectIdentifier, value: &str) -> Result<AttributeTypeAndValue, LocalSealError> {
    Ok(AttributeTypeAndValue {
        oid,
        value: Any::encode_from(&Utf8StringRef::new(value).map_err(crypto)?).map_err(crypto)?,
    })
}

/// `C=CN, O=…, [OU=…,] CN=…` (most significant first, as the e-seal service's subjects).
fn name(org: &str, ou: Option<&str>, cn: &str) -> Result<Name, LocalSealError> {
    let mut rdns = vec![AttributeTypeAndValue {
        oid: COUNTRY_NAME,
        value: Any::encode_from(&PrintableStringRef::new("CN").map_err(crypto)?).map_err(crypto)?,
    }];
    rdns.push(atv_utf8(ORGANIZATION_NAME, org)?);
    if let Some(ou) = ou {
        rdns.push(atv_utf8(ORGANIZATIONAL_UNIT_NAME, ou)?);
    }
    rdns.push(atv_utf8(COMMON_NAME, cn)?);
    let rdns = rdns
        .into_iter()
        .map(|atv| SetOfVec::try_from(vec![atv]).map(RelativeDistinguishedName))
        .collect::<Result<Vec<_>, _>>()
        .map_err(crypto)?;
    Ok(RdnSequence(rdns))
}

fn seal_subject(seal: &LocalSeal) -> Result<Name, LocalSealError> {
    name(
        &seal.org_name,
        Some(&format!("seal_code={}", seal.seal_code)),
        &seal.name,
    )
}

fn spki_of(key: &RsaPrivateKey) -> Result<SubjectPublicKeyInfoOwned, LocalSealError> {
    let der = RsaPublicKey::from(key)
        .to_public_key_der()
        .map_err(crypto)?;
    SubjectPublicKeyInfoOwned::from_der(der.as_bytes()).map_err(crypto)
}

fn build(
    profile: Profile,
    subject: Name,
    key: &RsaPrivateKey,
    issuer_key: &RsaPrivateKey,
) -> Result<Cert, LocalSealError> {
    let signer = SigningKey::<Sha256>::new(issuer_key.clone());
    let builder = CertificateBuilder::new(
        profile,
        serial()?,
        validity()?,
        subject,
        spki_of(key)?,
        &signer,
    )
    .map_err(crypto)?;
    let cert = builder
        .build_with_rng::<rsa::pkcs1v15::Signature>(&mut OsRng)
        .map_err(crypto)?;
    Cert::from_der(cert.to_der().map_err(crypto)?).map_err(crypto)
}

/// Loads the CA from `dir`, or creates it there if neither of its files exists.
pub(super) fn open_ca(dir: &Path) -> Result<Ca, LocalSealError> {
    let cert_path = dir.join("ca.pem");
    let key_path = dir.join("ca.key.pem");
    match (read_optional(&cert_path)?, read_optional(&key_path)?) {
        (Some(pem), Some(key_pem)) => {
            let cert = parse_cert_pem(&pem).map_err(|e| store_err(&cert_path, e))?;
            let key = RsaPrivateKey::from_pkcs8_pem(&key_pem)
                .map_err(|e| store_err(&key_path, format!("private key: {e}")))?;
            if !key_matches(&key, &cert).map_err(|e| store_err(&key_path, e))? {
                return Err(store_err(&key_path, "the key does not belong to ca.pem"));
            }
            Ok(Ca {
                key,
                pem: cert.pem().map_err(crypto)?,
                cert,
            })
        }
        (None, None) => {
            let key = new_key()?;
            let subject = name(CA_ORGANIZATION, None, CA_COMMON_NAME)?;
            // A self-issued CA certificate that may sign end-entity certificates only.
            let profile = Profile::SubCA {
                issuer: subject.clone(),
                path_len_constraint: Some(0),
            };
            let cert = build(profile, subject, &key, &key)?;
            let pem = cert.pem().map_err(crypto)?;
            // The key first: a ca.pem without its key would make the next start fail.
            write_key(&key_path, &key)?;
            write_atomic(&cert_path, pem.as_bytes(), false)?;
            Ok(Ca { key, cert, pem })
        }
        (Some(_), None) => Err(store_err(
            &key_path,
            "missing while ca.pem exists (delete the directory to create a new CA; documents sealed with the old one will no longer verify)",
        )),
        (None, Some(_)) => Err(store_err(
            &cert_path,
            "missing while ca.key.pem exists (delete the directory to create a new CA)",
        )),
    }
}

/// Is `cert` a certificate this CA issued for exactly this seal, with this key?
fn still_good(ca: &Ca, seal: &LocalSeal, cert: &Cert, key: &RsaPrivateKey) -> bool {
    let tbs = &cert.cert.tbs_certificate;
    let Ok(subject) = seal_subject(seal) else {
        return false;
    };
    let (Ok(subject_der), Ok(own_der), Ok(issuer_der), Ok(ca_der)) = (
        subject.to_der(),
        tbs.subject.to_der(),
        tbs.issuer.to_der(),
        ca.cert.cert.tbs_certificate.subject.to_der(),
    ) else {
        return false;
    };
    if subject_der != own_der || issuer_der != ca_der || !key_matches(key, cert).unwrap_or(false) {
        return false;
    }
    let Ok(tbs_der) = tbs.to_der() else {
        return false;
    };
    let Some(sig) = cert.cert.signature.as_bytes() else {
        return false;
    };
    let Ok(sig) = rsa::pkcs1v15::Signature::try_from(sig) else {
        return false;
    };
    VerifyingKey::<Sha256>::new(RsaPublicKey::from(&ca.key))
        .verify(&tbs_der, &sig)
        .is_ok()
}

/// The seal's certificate and key from `seals_dir`, issued (and stored) if missing or stale.
pub(super) fn open_seal(
    ca: &Ca,
    seals_dir: &Path,
    seal: &LocalSeal,
) -> Result<SealKey, LocalSealError> {
    let cert_path = seals_dir.join(format!("{}.pem", seal.seal_code));
    let key_path = seals_dir.join(format!("{}.key.pem", seal.seal_code));
    if let (Some(pem), Some(key_pem)) = (read_optional(&cert_path)?, read_optional(&key_path)?) {
        if let (Ok(cert), Ok(key)) = (
            parse_cert_pem(&pem),
            RsaPrivateKey::from_pkcs8_pem(&key_pem),
        ) {
            if still_good(ca, seal, &cert, &key) {
                return Ok(SealKey {
                    seal: seal.clone(),
                    key: SigningKey::new(key),
                    cert,
                });
            }
        }
    }
    let key = new_key()?;
    let profile = Profile::Leaf {
        issuer: ca.cert.cert.tbs_certificate.subject.clone(),
        enable_key_agreement: false,
        enable_key_encipherment: false,
    };
    let cert = build(profile, seal_subject(seal)?, &key, &ca.key)?;
    write_key(&key_path, &key)?;
    write_atomic(&cert_path, cert.pem().map_err(crypto)?.as_bytes(), false)?;
    Ok(SealKey {
        seal: seal.clone(),
        key: SigningKey::new(key),
        cert,
    })
}
