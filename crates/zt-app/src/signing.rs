//! Non-repudiation of decisions (GB/T 22239 抗抵赖): approve, deny and reject
//! at intake are signed with the platform's SM2 key over a canonical payload
//! (case number, decision, opinion, actor, time, event) in the transaction
//! that records the decision. Anyone with the published public key can check
//! a signature later; the payload is stored as signed, byte for byte.

use std::path::Path;

use serde::Serialize;
use utoipa::ToSchema;
use zt_crypto::Sm2Signer;

use crate::error::{AppError, Result};

/// The platform's signing key and its public identity.
pub struct Signer {
    key: Sm2Signer,
    public_pem: String,
    key_id: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("key_id", &self.key_id)
            .finish()
    }
}

fn key_error(e: impl std::fmt::Display) -> AppError {
    AppError::Internal(format!("platform signing key: {e}"))
}

impl Signer {
    pub fn new(key: Sm2Signer) -> Result<Self> {
        let public_pem = key.public_key_pem().map_err(key_error)?;
        let key_id = key_id_of(&key.public_key_hex());
        Ok(Self {
            key,
            public_pem,
            key_id,
        })
    }

    /// Loads the PKCS#8 PEM key, creating it (owner-only) when absent.
    pub fn load_or_create(path: &Path) -> Result<Self> {
        let io = |e: std::io::Error| AppError::Internal(format!("{}: {e}", path.display()));
        if path.exists() {
            let pem = std::fs::read_to_string(path).map_err(io)?;
            return Self::new(Sm2Signer::from_pkcs8_pem(&pem).map_err(key_error)?);
        }
        let key = Sm2Signer::generate();
        let pem = key.to_pkcs8_pem().map_err(key_error)?;
        // Owner-only, atomic, never over a key another process created meanwhile.
        match crate::pii::write_new_key_file(path, &pem) {
            Ok(()) => {
                tracing::warn!(key_file = %path.display(), "created the platform's SM2 signing key: back it up; publish its public key to verifiers");
                Self::new(key)
            }
            Err(_) if path.exists() => Self::load_or_create(path),
            Err(e) => Err(e),
        }
    }

    pub fn public_key_pem(&self) -> &str {
        &self.public_pem
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    pub fn sign(&self, payload: &str) -> String {
        self.key.sign(payload.as_bytes())
    }
}

/// First 16 hex of SM3 over the uncompressed public key.
pub fn key_id_of(public_key_hex: &str) -> String {
    zt_crypto::sm3_hex(public_key_hex.as_bytes())[..16].to_string()
}

/// What is signed: a JSON array, so no field can run into the next.
#[allow(clippy::too_many_arguments)]
pub fn decision_payload(
    case_no: &str,
    decision: &str,
    opinion: Option<&str>,
    actor_id: i64,
    actor_name: &str,
    actor_role: &str,
    at: &str,
    event_seq: i64,
) -> String {
    serde_json::json!([
        "zhengtong-decision/1",
        case_no,
        decision,
        opinion.unwrap_or(""),
        actor_id,
        actor_name,
        actor_role,
        at,
        event_seq
    ])
    .to_string()
}

/// A stored signature and whether it verifies with the published key.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SignatureView {
    pub event_seq: i64,
    pub decision: String,
    /// The exact bytes that were signed (UTF-8 JSON).
    pub payload: String,
    /// SM2 (GB/T 32918, default user id 1234567812345678), hex of r‖s.
    pub signature: String,
    pub key_id: String,
    pub signed_at: String,
    pub valid: bool,
}

/// Checks a signature against a public key (PEM or hex).
pub fn verifies(public_key: &str, payload: &str, signature: &str) -> bool {
    zt_crypto::verify(public_key, payload.as_bytes(), signature).is_ok()
}
