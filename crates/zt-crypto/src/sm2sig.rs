//! SM2 digital signatures (GB/T 32918.2 / GM/T 0003.2) for non-repudiation:
//! an approval, a certificate issued or an audit-log checkpoint is signed so
//! that a third party holding only the public key can later check who
//! signed what.
//!
//! Conventions, fixed so that other systems can verify:
//!
//! - Distinguishing id: [`DEFAULT_DIST_ID`] (`1234567812345678`, the default
//!   of GM/T 0009), which enters the signature through Z_A.
//! - Message digest: SM3 over Z_A || message, as the standard requires; the
//!   caller passes the message itself, not a hash.
//! - Signature encoding: lower-case hex of the raw 64-byte `r || s` (each a
//!   32-byte big-endian integer), 128 characters — fixed length, easy to
//!   store and check. It is *not* the DER `SEQUENCE { r, s }` that OpenSSL
//!   emits; convert r and s if you need that form.
//! - Private keys: PKCS#8 PEM (`BEGIN PRIVATE KEY`, id-ecPublicKey with the
//!   SM2 curve OID 1.2.156.10197.1.301), the form `openssl genpkey
//!   -algorithm SM2` writes. Public keys: SPKI PEM, or hex of the SEC1
//!   point (uncompressed `04 || x || y`).
//! - Signing is hedged: k is derived from the key, the message hash and
//!   fresh randomness (RFC 6979 with added entropy), so neither a weak RNG
//!   nor a repeated message can leak the key.
//!
//! Interoperability with OpenSSL 3 (`openssl pkeyutl -rawin -digest sm3
//! -pkeyopt distid:1234567812345678`): `tests/sm2.rs` loads an OpenSSL key
//! and verifies an OpenSSL signature; the other direction (OpenSSL verifying
//! a signature made here, after DER-encoding r and s) was checked by hand.

use std::fmt;

use rand::rngs::OsRng;
use sm2::dsa::signature::{RandomizedSigner, Verifier};
use sm2::dsa::{Signature, SigningKey, VerifyingKey};
use sm2::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use sm2::{PublicKey, SecretKey};
use zeroize::Zeroizing;

use crate::CryptoError;

/// The distinguishing id used for every signature made or checked here.
pub const DEFAULT_DIST_ID: &str = "1234567812345678";

/// An SM2 private key for signing. The secret scalar is zeroized on drop
/// and never printed by `Debug`.
pub struct Sm2Signer {
    secret: SecretKey,
    public: PublicKey,
}

impl Sm2Signer {
    /// A fresh random key pair.
    pub fn generate() -> Self {
        Self::from_secret(SecretKey::random(&mut OsRng))
    }

    /// Loads a PKCS#8 PEM private key (`-----BEGIN PRIVATE KEY-----`).
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, CryptoError> {
        SecretKey::from_pkcs8_pem(pem.trim())
            .map(Self::from_secret)
            .map_err(|_| CryptoError::InvalidKey("not an unencrypted PKCS#8 PEM SM2 private key"))
    }

    /// The private key as PKCS#8 PEM, in a buffer wiped on drop.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, CryptoError> {
        self.secret
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|_| CryptoError::InvalidKey("could not encode the private key as PKCS#8"))
    }

    /// Signs `msg`; returns hex of the 64-byte `r || s` (see module docs).
    pub fn sign(&self, msg: &[u8]) -> String {
        let signature: Signature = self.signing_key().sign_with_rng(&mut OsRng, msg);
        hex::encode(signature.to_bytes())
    }

    /// The public key as SPKI PEM (`-----BEGIN PUBLIC KEY-----`).
    pub fn public_key_pem(&self) -> Result<String, CryptoError> {
        self.public
            .to_public_key_pem(LineEnding::LF)
            .map_err(|_| CryptoError::InvalidKey("could not encode the public key as SPKI"))
    }

    /// The public key as lower-case hex of the uncompressed SEC1 point
    /// `04 || x || y` (130 characters).
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.public.to_sec1_bytes())
    }

    fn from_secret(secret: SecretKey) -> Self {
        let public = secret.public_key();
        Self { secret, public }
    }

    /// Built per signature rather than stored: `SigningKey` does not wipe
    /// its scalar on drop, `SecretKey` does, and signing is rare.
    fn signing_key(&self) -> SigningKey {
        SigningKey::new(DEFAULT_DIST_ID, &self.secret)
            .expect("the default distinguishing id is short enough for ENTL_A")
    }
}

impl fmt::Debug for Sm2Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sm2Signer")
            .field("public_key", &self.public_key_hex())
            .finish_non_exhaustive()
    }
}

/// Checks `signature` (hex of `r || s`, either case) over `msg` against a
/// public key given as SPKI PEM or as hex of a SEC1 point (uncompressed
/// `04…` or compressed `02…`/`03…`), with [`DEFAULT_DIST_ID`].
pub fn verify(public_key: &str, msg: &[u8], signature: &str) -> Result<(), CryptoError> {
    let public = parse_public_key(public_key)?;
    let verifying_key = VerifyingKey::new(DEFAULT_DIST_ID, public)
        .map_err(|_| CryptoError::InvalidKey("unusable SM2 public key"))?;
    let mut raw = [0u8; Signature::BYTE_SIZE];
    hex::decode_to_slice(signature.trim(), &mut raw).map_err(|_| CryptoError::Signature)?;
    let signature = Signature::from_bytes(&raw).map_err(|_| CryptoError::Signature)?;
    verifying_key
        .verify(msg, &signature)
        .map_err(|_| CryptoError::Signature)
}

fn parse_public_key(text: &str) -> Result<PublicKey, CryptoError> {
    let text = text.trim();
    if text.starts_with("-----BEGIN") {
        PublicKey::from_public_key_pem(text)
            .map_err(|_| CryptoError::InvalidKey("not an SPKI PEM SM2 public key"))
    } else {
        let bytes = hex::decode(text)
            .map_err(|_| CryptoError::InvalidKey("public key is neither PEM nor hex"))?;
        PublicKey::from_sec1_bytes(&bytes)
            .map_err(|_| CryptoError::InvalidKey("not a SEC1 point on the SM2 curve"))
    }
}
