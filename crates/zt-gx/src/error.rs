//! The errors of a call to a GX-HMAC-SM3 service, typed by what the caller
//! should do about them (gx-hmac-sm3.md §6–§7, gxpt.md §6).

/// Why a call failed. No variant carries a secret, a key, a request payload
/// or a decrypted response; `message` values are the platform's own
/// explanations (Chinese, then English in parentheses), meant for logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GxError {
    /// No answer: the connection could not be made, or it was closed before
    /// a complete response arrived. The request may or may not have been
    /// processed. Retryable (as a new request).
    #[error("gx: no answer from the platform: {0}")]
    Connection(String),

    /// No answer within the time limit of an attempt or of the whole call.
    /// The request may or may not have been processed. Retryable.
    #[error("gx: no answer within the time limit")]
    Timeout,

    /// `503 GX_UNAVAILABLE`: not processed. Retryable.
    #[error("gx: service temporarily unavailable: {message}")]
    Unavailable { message: String },

    /// `500 GX_INTERNAL`. Retryable.
    #[error("gx: internal error of the platform: {message}")]
    Internal { message: String },

    /// The response had no valid `X-Gx-Signature`: it is treated as not
    /// received (it may be forged or altered) and its content is ignored.
    /// `claimed_code` is the `code` the unverified body claims, for
    /// diagnosis only — e.g. `GX_APP_UNKNOWN`, which the platform sends
    /// unsigned to an unknown app key. Retryable (§7).
    #[error("gx: response signature missing or invalid (HTTP {status}{}); response ignored", claimed_code.as_deref().map(|c| format!(", unverified code {c}")).unwrap_or_default())]
    SignatureInvalid {
        status: u16,
        claimed_code: Option<String>,
    },

    /// `401 GX_STALE`: our timestamp is more than 300 s away from the
    /// platform's clock (its time, from the signed answer, if given). Not
    /// retryable until the clock is fixed.
    #[error("gx: request timestamp refused as stale (platform time {server_time_ms:?} ms)")]
    Stale { server_time_ms: Option<i64> },

    /// A signed `200` answer whose timestamp is more than 300 s away from
    /// our clock (§4.3 point 2, recommended check): its content is not used.
    /// The platform did process the request. Not retryable until the clock
    /// is fixed (then repeating an idempotent call gives the same answer).
    #[error("gx: response timestamp {server_time_ms} ms is more than 300 s from local time {local_time_ms} ms")]
    ClockSkew {
        server_time_ms: i64,
        local_time_ms: i64,
    },

    /// Any other `401`: `GX_AUTH_HEADER`, `GX_APP_UNKNOWN`,
    /// `GX_BAD_SIGNATURE` (wrong app secret), `GX_REPLAY`. Not retryable:
    /// the configuration is wrong.
    #[error("gx: refused, {code}: {message}")]
    Unauthorized { code: String, message: String },

    /// `404 GX_NOT_FOUND` (the typed look-ups turn this into `Ok(None)`).
    #[error("gx: not found: {message}")]
    NotFound { message: String },

    /// `409 GX_CONFLICT`: a case event with this `(case_no, seq)` is already
    /// stored with different content; the stored one is unchanged. Never
    /// retried: report it.
    #[error("gx: conflict: {message}")]
    Conflict { message: String },

    /// Any other error answer (`400 GX_BAD_PARAM`, `GX_BAD_ENVELOPE`,
    /// `GX_BAD_REQUEST`, `404 GX_NO_ROUTE`, `405`, `411`, `413`, and codes
    /// this client does not know). Not retryable unchanged.
    #[error("gx: rejected (HTTP {status}) {code}: {message}")]
    Rejected {
        status: u16,
        code: String,
        message: String,
    },

    /// A correctly signed response that does not have the form the
    /// specification gives (envelope does not open, JSON does not match).
    /// Not retryable.
    #[error("gx: malformed response: {0}")]
    InvalidResponse(String),

    /// The call could not be made as asked (bad configuration or input).
    #[error("gx: invalid request: {0}")]
    InvalidInput(String),

    /// Not sent: the service was unavailable for several calls in a row and
    /// its circuit breaker is open (`zt_domain::breaker`). No network request
    /// was made, so the request was certainly not processed. Retryable once
    /// the breaker lets a call through again (at `retry_at` at the earliest).
    #[error("gx: not sent, the service has been unavailable for several calls (circuit breaker open until {retry_at})")]
    CircuitOpen {
        retry_at: chrono::DateTime<chrono::Utc>,
    },
}

impl GxError {
    /// Whether the same business request may be sent again, as a new
    /// request (new timestamp, nonce and signature): connection errors,
    /// time-outs, responses without a valid signature, `500` and `503`
    /// (gx-hmac-sm3.md §7). Nothing else is.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            GxError::Connection(_)
                | GxError::Timeout
                | GxError::Unavailable { .. }
                | GxError::Internal { .. }
                | GxError::SignatureInvalid { .. }
                | GxError::CircuitOpen { .. }
        )
    }

    /// Whether the failure says the service is down rather than that it
    /// refused: no connection, no answer in time, `500`/`503`, or an
    /// unsigned `5xx` (the error page of a gateway in front of it). These,
    /// and only these, count towards opening the circuit breaker; a `4xx`
    /// is an answer and never opens it.
    pub fn counterpart_unavailable(&self) -> bool {
        match self {
            GxError::Connection(_)
            | GxError::Timeout
            | GxError::Unavailable { .. }
            | GxError::Internal { .. }
            | GxError::CircuitOpen { .. } => true,
            GxError::SignatureInvalid { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// The platform's error code, when a signed error answer gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            GxError::Unavailable { .. } => Some("GX_UNAVAILABLE"),
            GxError::Internal { .. } => Some("GX_INTERNAL"),
            GxError::Stale { .. } => Some("GX_STALE"),
            GxError::NotFound { .. } => Some("GX_NOT_FOUND"),
            GxError::Conflict { .. } => Some("GX_CONFLICT"),
            GxError::Unauthorized { code, .. } | GxError::Rejected { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether the platform may have processed the request although no
    /// (trustworthy) answer came back: reconcile, or retry an idempotent
    /// call.
    pub fn outcome_unknown(&self) -> bool {
        matches!(
            self,
            GxError::Connection(_) | GxError::Timeout | GxError::SignatureInvalid { .. }
        )
    }

    /// Maps a correctly signed error answer (`status`, `code`, `message`).
    pub(crate) fn from_signed_error(
        status: u16,
        code: &str,
        message: String,
        server_time_ms: Option<i64>,
    ) -> Self {
        match (status, code) {
            (_, "GX_UNAVAILABLE") | (503, _) => GxError::Unavailable { message },
            (_, "GX_INTERNAL") | (500, _) => GxError::Internal { message },
            (_, "GX_STALE") => GxError::Stale { server_time_ms },
            (_, "GX_CONFLICT") => GxError::Conflict { message },
            (_, "GX_NOT_FOUND") => GxError::NotFound { message },
            (401, _) => GxError::Unauthorized {
                code: code.to_owned(),
                message,
            },
            _ => GxError::Rejected {
                status,
                code: code.to_owned(),
                message,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(status: u16, code: &str) -> GxError {
        GxError::from_signed_error(status, code, "m".into(), Some(1))
    }

    #[test]
    fn retryable_exactly_as_section_7_says() {
        assert!(map(503, "GX_UNAVAILABLE").is_retryable());
        assert!(map(500, "GX_INTERNAL").is_retryable());
        assert!(map(503, "SOMETHING_ELSE").is_retryable());
        assert!(GxError::Timeout.is_retryable());
        assert!(GxError::Connection("reset".into()).is_retryable());
        assert!(GxError::SignatureInvalid {
            status: 200,
            claimed_code: None
        }
        .is_retryable());
        for (status, code) in [
            (400, "GX_BAD_PARAM"),
            (400, "GX_BAD_ENVELOPE"),
            (400, "GX_BAD_REQUEST"),
            (401, "GX_AUTH_HEADER"),
            (401, "GX_BAD_SIGNATURE"),
            (401, "GX_STALE"),
            (401, "GX_REPLAY"),
            (404, "GX_NOT_FOUND"),
            (404, "GX_NO_ROUTE"),
            (405, "GX_METHOD_NOT_ALLOWED"),
            (409, "GX_CONFLICT"),
            (411, "GX_LENGTH_REQUIRED"),
            (413, "GX_TOO_LARGE"),
            (418, "GX_NEW_CODE"),
        ] {
            let e = map(status, code);
            assert!(!e.is_retryable(), "{status} {code}");
            assert_eq!(e.code(), Some(code), "{status} {code}");
        }
    }

    #[test]
    fn mapping_gives_the_typed_variants() {
        assert!(matches!(map(409, "GX_CONFLICT"), GxError::Conflict { .. }));
        assert!(matches!(
            map(401, "GX_STALE"),
            GxError::Stale {
                server_time_ms: Some(1)
            }
        ));
        assert!(matches!(
            map(401, "GX_REPLAY"),
            GxError::Unauthorized { .. }
        ));
        assert!(matches!(
            map(400, "GX_BAD_PARAM"),
            GxError::Rejected { status: 400, .. }
        ));
        assert!(matches!(map(404, "GX_NOT_FOUND"), GxError::NotFound { .. }));
    }

    #[test]
    fn only_a_missing_answer_counts_as_unavailable() {
        assert!(map(503, "GX_UNAVAILABLE").counterpart_unavailable());
        assert!(map(500, "GX_INTERNAL").counterpart_unavailable());
        assert!(GxError::Timeout.counterpart_unavailable());
        assert!(GxError::Connection("refused".into()).counterpart_unavailable());
        assert!(GxError::SignatureInvalid {
            status: 502,
            claimed_code: None
        }
        .counterpart_unavailable());
        assert!(!GxError::SignatureInvalid {
            status: 401,
            claimed_code: Some("GX_APP_UNKNOWN".into())
        }
        .counterpart_unavailable());
        for (status, code) in [
            (400, "GX_BAD_PARAM"),
            (401, "GX_BAD_SIGNATURE"),
            (401, "GX_STALE"),
            (404, "GX_NOT_FOUND"),
            (409, "GX_CONFLICT"),
        ] {
            assert!(
                !map(status, code).counterpart_unavailable(),
                "{status} {code}"
            );
        }
        let open = GxError::CircuitOpen {
            retry_at: chrono::DateTime::UNIX_EPOCH,
        };
        assert!(open.is_retryable() && !open.outcome_unknown() && open.code().is_none());
    }

    #[test]
    fn display_shows_the_unverified_code_as_such() {
        let e = GxError::SignatureInvalid {
            status: 401,
            claimed_code: Some("GX_APP_UNKNOWN".into()),
        };
        assert_eq!(
            e.to_string(),
            "gx: response signature missing or invalid (HTTP 401, unverified code GX_APP_UNKNOWN); response ignored"
        );
    }
}
