//! The e-seal service (电子签章服务, specs/eseal.md) over GX-HMAC-SM3: list
//! the seals, seal a PDF. Listing is retried like any safe call; sealing is
//! sent once (every call makes a new signature), and its answer is checked
//! before it is believed: the sealed PDF must keep the original bytes as its
//! prefix (an incremental update) and hash to the `document_sm3` given.

use std::sync::Arc;

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::client::{GxClient, GxConfig, RetryPolicy};
use crate::error::GxError;
use crate::Clock;

pub const SEALS: &str = "/seal/v1/seals";
pub const SIGN: &str = "/seal/v1/sign";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seal {
    pub seal_code: String,
    pub name: String,
    pub org_uscc: String,
    pub org_name: String,
    /// `active` or `disabled`.
    pub status: String,
}

impl Seal {
    pub fn is_active(&self) -> bool {
        self.status == "active"
    }
}

/// Where and why to seal.
#[derive(Debug, Clone)]
pub struct SignRequest<'a> {
    pub document: &'a [u8],
    pub seal_code: &'a str,
    /// 1-based.
    pub page: u32,
    /// Lower-left corner of the 120 × 120 pt stamp, in points.
    pub x: f64,
    pub y: f64,
    pub reason: &'a str,
    pub signer_name: Option<&'a str>,
}

#[derive(Debug, Clone)]
pub struct SealedDocument {
    pub pdf: Vec<u8>,
    pub signature_id: String,
    pub signed_at: String,
    pub cert_serial_hex: String,
    pub document_sm3: String,
}

#[derive(Serialize)]
struct SignBody<'a> {
    document: String,
    seal_code: &'a str,
    page: u32,
    x: f64,
    y: f64,
    reason: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    signer_name: Option<&'a str>,
}

#[derive(Deserialize)]
struct SignAnswer {
    signed_document: String,
    signature_id: String,
    signed_at: String,
    cert_serial_hex: String,
    document_sm3: String,
}

#[derive(Deserialize)]
struct SealsAnswer {
    seals: Vec<Seal>,
}

pub struct EsealClient {
    safe: GxClient,
    once: GxClient,
}

impl EsealClient {
    pub fn new(config: GxConfig, clock: Arc<dyn Clock>) -> Result<Self, GxError> {
        let mut single = config.clone();
        single.retry = RetryPolicy::none();
        Ok(Self {
            safe: GxClient::new(config, clock.clone())?,
            once: GxClient::new(single, clock)?,
        })
    }

    /// The same client behind `breaker`: listing and sealing share it (one
    /// service), so that neither keeps calling a service the other found
    /// down. An open breaker refuses a sealing before it is sent
    /// ([`GxError::CircuitOpen`]), so no signature can have been made.
    pub fn with_breaker(self, breaker: Arc<zt_domain::breaker::Breaker>) -> Self {
        Self {
            safe: self.safe.with_breaker(breaker.clone()),
            once: self.once.with_breaker(breaker),
        }
    }

    pub async fn seals(&self) -> Result<Vec<Seal>, GxError> {
        let a: SealsAnswer = self.safe.call(SEALS, &serde_json::json!({})).await?;
        Ok(a.seals)
    }

    /// Seals a PDF. A failure whose outcome is unknown (time-out, dropped
    /// connection) may have produced a signature at the service that the
    /// platform never received: the caller seals again later, and keeps only
    /// the document it received.
    pub async fn sign(&self, r: &SignRequest<'_>) -> Result<SealedDocument, GxError> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let body = SignBody {
            document: b64.encode(r.document),
            seal_code: r.seal_code,
            page: r.page,
            x: r.x,
            y: r.y,
            reason: r.reason,
            signer_name: r.signer_name,
        };
        let a: SignAnswer = self.once.call(SIGN, &body).await?;
        let pdf = b64
            .decode(a.signed_document.as_bytes())
            .map_err(|e| GxError::InvalidResponse(format!("signed_document: {e}")))?;
        if !zt_crypto::ct_eq(
            zt_crypto::sm3_hex(&pdf).as_bytes(),
            a.document_sm3.as_bytes(),
        ) {
            return Err(GxError::InvalidResponse(
                "document_sm3 does not match the sealed document".into(),
            ));
        }
        if !pdf.starts_with(r.document) || pdf.len() <= r.document.len() {
            return Err(GxError::InvalidResponse(
                "the sealed document is not an incremental update of the one sent".into(),
            ));
        }
        Ok(SealedDocument {
            pdf,
            signature_id: a.signature_id,
            signed_at: a.signed_at,
            cert_serial_hex: a.cert_serial_hex,
            document_sm3: a.document_sm3,
        })
    }
}
