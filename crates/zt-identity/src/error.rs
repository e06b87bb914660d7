//! The one error type of the crate.
//!
//! Every variant is something the platform maps to a message for the citizen
//! or the clerk (see [`IdentityError::code`] for a stable key to map from).
//! No variant ever carries a token, a code, a ticket, a secret or a PKCE
//! verifier: texts that come from the provider are shortened, stripped of
//! control characters and, for CAS, have ticket strings blanked out, so that
//! `Display` and `Debug` are safe to log.

use std::fmt;

/// Why a login, a token or a CAS ticket was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// The `state` of the callback is not the one stored for this login
    /// (a forged or replayed callback, or a second tab).
    #[error("the state returned by the provider does not match the stored login state")]
    StateMismatch,
    /// The stored login state is older than the configured lifetime.
    #[error("the login took too long; start it again")]
    LoginExpired,
    /// The ID token's `nonce` is missing or is not the one of this login.
    #[error("the ID token's nonce does not match the login")]
    NonceMismatch,
    /// `exp` has passed (beyond the leeway), or a logout token is too old.
    #[error("the token has expired")]
    TokenExpired,
    /// `iat` (or `nbf`) lies in the future beyond the leeway.
    #[error("the token is not valid yet (issued in the future)")]
    TokenNotYetValid,
    /// `aud` does not contain this client's `client_id`.
    #[error("the token is not addressed to this client")]
    WrongAudience,
    /// `azp` is present and is not this client, or is missing although the
    /// token has several audiences.
    #[error("the token's authorized party is not this client")]
    WrongAuthorizedParty,
    /// `iss` (of a token, of the discovery document or of the authorization
    /// response) is not the configured issuer.
    #[error("the issuer is not the configured identity provider")]
    WrongIssuer,
    /// The JWS signature does not verify with the provider's key.
    #[error("the token's signature does not verify")]
    BadSignature,
    /// No key of the provider's JWKS (even after refreshing it) has the
    /// token's `kid`.
    #[error("the token is signed with a key the provider does not publish")]
    UnknownKey,
    /// The JWS `alg` is not one this client accepts (never `none` or HMAC).
    #[error("the token's signing algorithm {alg:?} is not accepted")]
    UnsupportedAlgorithm {
        /// The `alg` header, shortened.
        alg: String,
    },
    /// The `typ` header does not fit (a logout token must be `logout+jwt`;
    /// an ID token must not be one).
    #[error("the token's type is not {expected}")]
    WrongTokenType {
        /// The type that was expected.
        expected: &'static str,
    },
    /// Not a compact JWS, bad base64 or JSON, unsupported header.
    #[error("the token is malformed: {reason}")]
    MalformedToken {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A required claim is absent.
    #[error("the {claim} claim is missing")]
    MissingClaim {
        /// The claim's name.
        claim: &'static str,
    },
    /// A claim has a value of the wrong type or outside its value set.
    #[error("the {claim} claim has an unexpected value")]
    InvalidClaim {
        /// The claim's name.
        claim: &'static str,
    },
    /// Userinfo describes another subject than the ID token.
    #[error("userinfo describes a different user than the ID token")]
    SubjectMismatch,
    /// A logout token without the back-channel logout event.
    #[error("the token is not a back-channel logout token (events)")]
    NotALogoutToken,
    /// A logout token carrying a `nonce` (forbidden: it could be an ID token).
    #[error("a logout token must not carry a nonce")]
    NonceInLogoutToken,
    /// The provider could not be reached, timed out or answered 5xx.
    #[error("the identity provider is unavailable: {reason}")]
    ProviderUnavailable {
        /// Transport error or HTTP status (never the URL).
        reason: String,
    },
    /// The provider answered something this client cannot use.
    #[error("the identity provider answered unexpectedly: {reason}")]
    ProviderProtocol {
        /// What was wrong with the answer.
        reason: String,
    },
    /// The provider refused the request with an OAuth error, at the token or
    /// userinfo endpoint or in the authorization response (`access_denied`
    /// when the user cancelled the login).
    #[error("the identity provider refused: {error}{}", Described(.description))]
    Rejected {
        /// The OAuth `error` code, e.g. `invalid_grant`.
        error: String,
        /// `error_description`, if any.
        description: Option<String>,
    },
    /// The CAS server did not validate the ticket.
    #[error("CAS ticket validation failed: {code}{}", Described(.description))]
    CasFailure {
        /// The failure code of the CAS response.
        code: CasErrorCode,
        /// The server's text with ticket strings blanked out.
        description: Option<String>,
    },
    /// The CAS single-logout request could not be read.
    #[error("the CAS single-logout request is malformed: {reason}")]
    InvalidLogoutRequest {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The client is configured wrongly (bad URL, plain HTTP, …).
    #[error("identity client configuration: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },
}

struct Described<'a>(&'a Option<String>);

impl fmt::Display for Described<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(d) => write!(f, " ({d})"),
            None => Ok(()),
        }
    }
}

impl IdentityError {
    /// A stable snake_case key per variant, for mapping to the platform's
    /// (Chinese) messages and for metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::StateMismatch => "state_mismatch",
            Self::LoginExpired => "login_expired",
            Self::NonceMismatch => "nonce_mismatch",
            Self::TokenExpired => "token_expired",
            Self::TokenNotYetValid => "token_not_yet_valid",
            Self::WrongAudience => "wrong_audience",
            Self::WrongAuthorizedParty => "wrong_authorized_party",
            Self::WrongIssuer => "wrong_issuer",
            Self::BadSignature => "bad_signature",
            Self::UnknownKey => "unknown_key",
            Self::UnsupportedAlgorithm { .. } => "unsupported_algorithm",
            Self::WrongTokenType { .. } => "wrong_token_type",
            Self::MalformedToken { .. } => "malformed_token",
            Self::MissingClaim { .. } => "missing_claim",
            Self::InvalidClaim { .. } => "invalid_claim",
            Self::SubjectMismatch => "subject_mismatch",
            Self::NotALogoutToken => "not_a_logout_token",
            Self::NonceInLogoutToken => "nonce_in_logout_token",
            Self::ProviderUnavailable { .. } => "provider_unavailable",
            Self::ProviderProtocol { .. } => "provider_protocol",
            Self::Rejected { .. } => "rejected",
            Self::CasFailure { .. } => "cas_failure",
            Self::InvalidLogoutRequest { .. } => "invalid_logout_request",
            Self::Config { .. } => "config",
        }
    }

    /// True when trying again later may succeed (provider down or slow);
    /// everything else needs a new login.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::ProviderUnavailable { .. })
    }

    pub(crate) fn rejected(error: &str, description: Option<&str>) -> Self {
        Self::Rejected {
            error: sanitize(error, 64),
            description: description.map(|d| sanitize(d, 300)),
        }
    }

    pub(crate) fn protocol(reason: impl Into<String>) -> Self {
        Self::ProviderProtocol {
            reason: reason.into(),
        }
    }

    pub(crate) fn unavailable(reason: impl Into<String>) -> Self {
        Self::ProviderUnavailable {
            reason: reason.into(),
        }
    }

    pub(crate) fn config(reason: impl Into<String>) -> Self {
        Self::Config {
            reason: reason.into(),
        }
    }
}

/// The failure codes of CAS 3.0 (`<cas:authenticationFailure code="…">`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CasErrorCode {
    /// `service` or `ticket` missing.
    InvalidRequest,
    /// Unknown, used, expired or logged-out ticket.
    InvalidTicket,
    /// The ticket was issued for another service.
    InvalidService,
    /// `renew=true` but the ticket came from single sign-on.
    InvalidTicketSpec,
    /// Proxy callback problems (not used by this client).
    InvalidProxyCallback,
    /// The service may not use proxy tickets.
    UnauthorizedServiceProxy,
    /// The CAS server's own failure.
    InternalError,
    /// A code CAS 3.0 does not define (shortened).
    Other(String),
}

impl CasErrorCode {
    pub(crate) fn parse(code: &str) -> Self {
        match code.trim() {
            "INVALID_REQUEST" => Self::InvalidRequest,
            "INVALID_TICKET" => Self::InvalidTicket,
            "INVALID_SERVICE" => Self::InvalidService,
            "INVALID_TICKET_SPEC" => Self::InvalidTicketSpec,
            "INVALID_PROXY_CALLBACK" => Self::InvalidProxyCallback,
            "UNAUTHORIZED_SERVICE_PROXY" => Self::UnauthorizedServiceProxy,
            "INTERNAL_ERROR" => Self::InternalError,
            other => Self::Other(sanitize(other, 64)),
        }
    }

    /// The code as CAS writes it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::InvalidRequest => "INVALID_REQUEST",
            Self::InvalidTicket => "INVALID_TICKET",
            Self::InvalidService => "INVALID_SERVICE",
            Self::InvalidTicketSpec => "INVALID_TICKET_SPEC",
            Self::InvalidProxyCallback => "INVALID_PROXY_CALLBACK",
            Self::UnauthorizedServiceProxy => "UNAUTHORIZED_SERVICE_PROXY",
            Self::InternalError => "INTERNAL_ERROR",
            Self::Other(s) => s,
        }
    }
}

impl fmt::Display for CasErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Shortens text from the outside world and drops control characters, so
/// that it can be logged and shown.
pub(crate) fn sanitize(s: &str, max_chars: usize) -> String {
    let mut out: String = s
        .chars()
        .filter(|c| !c.is_control())
        .take(max_chars)
        .collect();
    if s.chars().filter(|c| !c.is_control()).count() > max_chars {
        out.push('…');
    }
    out
}

/// Blanks out CAS ticket strings (`ST-…`, `PT-…`, `PGT-…`, `TGT-…`,
/// `PGTIOU-…`) in a server message: the CAS server repeats the ticket in its
/// failure text.
pub(crate) fn redact_tickets(s: &str) -> String {
    const PREFIXES: [&str; 5] = ["ST-", "PT-", "PGT-", "TGT-", "PGTIOU-"];
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    let mut at_boundary = true;
    while let Some(c) = rest.chars().next() {
        if at_boundary {
            if let Some(p) = PREFIXES.iter().find(|p| rest.starts_with(**p)) {
                out.push_str(p);
                out.push('…');
                let after = &rest[p.len()..];
                let end = after
                    .find(|ch: char| !(ch.is_ascii_alphanumeric() || "-_.~".contains(ch)))
                    .unwrap_or(after.len());
                rest = &after[end..];
                at_boundary = false;
                continue;
            }
        }
        at_boundary = !(c.is_ascii_alphanumeric() || c == '-' || c == '_');
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_are_blanked_out() {
        let s = "Ticket 'ST-oE3UIJ00VRSgKOl2MOZBPuKRn8jtrhFS' not recognized";
        assert_eq!(redact_tickets(s), "Ticket 'ST-…' not recognized");
        let s = "TGT-1-abc and PGTIOU-9 but not BEST-1 or xST-2";
        assert_eq!(
            redact_tickets(s),
            "TGT-… and PGTIOU-… but not BEST-1 or xST-2"
        );
    }

    #[test]
    fn sanitize_shortens_and_drops_controls() {
        assert_eq!(sanitize("a\nb\u{7}c", 10), "abc");
        assert_eq!(sanitize("abcdef", 3), "abc…");
    }

    #[test]
    fn display_never_needs_a_token() {
        let e = IdentityError::rejected("invalid_grant", Some("grant request is invalid"));
        assert_eq!(
            e.to_string(),
            "the identity provider refused: invalid_grant (grant request is invalid)"
        );
        assert_eq!(e.code(), "rejected");
        let e = IdentityError::CasFailure {
            code: CasErrorCode::parse("INVALID_TICKET"),
            description: None,
        };
        assert_eq!(
            e.to_string(),
            "CAS ticket validation failed: INVALID_TICKET"
        );
    }
}
