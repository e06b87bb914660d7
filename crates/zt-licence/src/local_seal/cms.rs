//! The CMS SignedData of a PAdES baseline B-B signature (ETSI EN 319 142-1): detached id-data
//! content, SHA-256, RSA PKCS#1 v1.5, signed attributes content-type, message-digest and
//! signing-certificate-v2 — and deliberately no signing-time attribute, which PAdES forbids (the
//! time is the signature dictionary's `/M`).

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use const_oid::db::rfc5911::{ID_CONTENT_TYPE, ID_DATA, ID_MESSAGE_DIGEST, ID_SIGNED_DATA};
use const_oid::db::rfc5912::{ID_SHA_256, SHA_256_WITH_RSA_ENCRYPTION};
use const_oid::ObjectIdentifier;
use der::asn1::{OctetString, SetOfVec};
use der::{Any, Decode, Encode};
use rsa::pkcs1v15::SigningKey;
use rsa::rand_core::OsRng;
use rsa::signature::{RandomizedSigner, SignatureEncoding};
use sha2::{Digest, Sha256};
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::Attribute;
use x509_cert::Certificate;

const ID_SIGNING_CERTIFICATE_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");

fn attribute(oid: ObjectIdentifier, value: Any) -> der::Result<Attribute> {
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![value])?,
    })
}

/// DER TLV with a definite length (only small structures are built here).
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

/// The DER ContentInfo of a detached SignedData over `message_digest` (the SHA-256 of the
/// signed byte ranges), signed by `key` for `signer`, with `signer` and `chain` embedded so that
/// a verifier needs nothing but the trust anchor.
pub(super) fn signed_data(
    key: &SigningKey<Sha256>,
    signer_der: &[u8],
    signer: &Certificate,
    chain: &[&Certificate],
    message_digest: &[u8],
) -> Result<Vec<u8>, String> {
    build(key, signer_der, signer, chain, message_digest).map_err(|e| e.to_string())
}

/// The signature value (kept apart so that the DER errors and the RSA error stay distinct).
fn sign(key: &SigningKey<Sha256>, to_sign: &[u8]) -> Result<Vec<u8>, BuildError> {
    // Randomised: the rsa crate blinds the private-key operation only when given an RNG.
    key.try_sign_with_rng(&mut OsRng, to_sign)
        .map(|s| s.to_vec())
        .map_err(|e| BuildError::Rsa(e.to_string()))
}

#[derive(Debug, thiserror::Error)]
enum BuildError {
    #[error("CMS encoding: {0}")]
    Der(#[from] der::Error),
    #[error("RSA signature: {0}")]
    Rsa(String),
}

fn build(
    key: &SigningKey<Sha256>,
    signer_der: &[u8],
    signer: &Certificate,
    chain: &[&Certificate],
    message_digest: &[u8],
) -> Result<Vec<u8>, BuildError> {
    // SigningCertificateV2 ::= SEQUENCE { certs SEQUENCE OF ESSCertIDv2 }, with
    // ESSCertIDv2 ::= SEQUENCE { certHash OCTET STRING } (hashAlgorithm: the SHA-256 default).
    let cert_hash = Sha256::digest(signer_der);
    let ess = tlv(0x30, &tlv(0x30, &tlv(0x30, &tlv(0x04, &cert_hash))));

    let signed_attrs = SetOfVec::try_from(vec![
        attribute(ID_CONTENT_TYPE, Any::encode_from(&ID_DATA)?)?,
        attribute(
            ID_MESSAGE_DIGEST,
            Any::encode_from(&OctetString::new(message_digest)?)?,
        )?,
        attribute(ID_SIGNING_CERTIFICATE_V2, Any::from_der(&ess)?)?,
    ])?;
    // RFC 5652 §5.4: the signature covers the DER of the attributes as a SET OF.
    let to_sign = signed_attrs.to_der()?;
    let signature = sign(key, &to_sign)?;

    let sha256 = AlgorithmIdentifierOwned {
        oid: ID_SHA_256,
        parameters: None,
    };
    let signer_info = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: signer.tbs_certificate.issuer.clone(),
            serial_number: signer.tbs_certificate.serial_number.clone(),
        }),
        digest_alg: sha256.clone(),
        signed_attrs: Some(signed_attrs),
        signature_algorithm: AlgorithmIdentifierOwned {
            oid: SHA_256_WITH_RSA_ENCRYPTION,
            parameters: Some(Any::null()),
        },
        signature: OctetString::new(signature)?,
        unsigned_attrs: None,
    };
    let mut certs = vec![CertificateChoices::Certificate(signer.clone())];
    certs.extend(
        chain
            .iter()
            .map(|c| CertificateChoices::Certificate((*c).clone())),
    );
    let signed = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![sha256])?,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: ID_DATA,
            econtent: None,
        },
        certificates: Some(CertificateSet(SetOfVec::try_from(certs)?)),
        crls: None,
        signer_infos: SignerInfos(SetOfVec::try_from(vec![signer_info])?),
    };
    Ok(ContentInfo {
        content_type: ID_SIGNED_DATA,
        content: Any::encode_from(&signed)?,
    }
    .to_der()?)
}
