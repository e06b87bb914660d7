//! HTTP to the provider: one client without redirects and cookies, bounded
//! answers, errors without URLs.

use std::net::IpAddr;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, StatusCode};
use url::Url;

use crate::IdentityError;

/// Largest answer read from the provider (discovery, JWKS, tokens, userinfo,
/// CAS validation are all a few kilobytes).
const MAX_BODY: usize = 1024 * 1024;

/// The HTTP client the crate builds when the caller gives none: no
/// redirects (a token request must never be replayed elsewhere), no cookie
/// store, a total timeout per request.
pub(crate) fn default_client(timeout: Duration) -> Result<reqwest::Client, IdentityError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .user_agent(concat!("zt-identity/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| IdentityError::config(format!("HTTP client: {}", e.without_url())))
}

pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn content_type(&self) -> String {
        self.headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    }
}

/// Sends a request and reads at most [`MAX_BODY`] bytes of the answer.
pub(crate) async fn send(req: RequestBuilder, what: &str) -> Result<Answer, IdentityError> {
    let mut resp = req.send().await.map_err(|e| transport(what, e))?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| transport(what, e))? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(IdentityError::protocol(format!(
                "{what}: answer larger than {MAX_BODY} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Answer {
        status,
        headers,
        body,
    })
}

fn transport(what: &str, e: reqwest::Error) -> IdentityError {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "transport error"
    };
    // Without the URL (a CAS validation URL carries the ticket); the innermost
    // cause (e.g. "Connection refused") helps operations.
    let e = e.without_url();
    let mut cause: &dyn std::error::Error = &e;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    IdentityError::unavailable(format!("{what}: {kind} ({cause})"))
}

/// GET a JSON document that must be answered 200.
pub(crate) async fn get_json(
    http: &reqwest::Client,
    url: &str,
    what: &str,
) -> Result<serde_json::Value, IdentityError> {
    let a = send(http.get(url).header("accept", "application/json"), what).await?;
    if a.status.is_server_error() {
        return Err(IdentityError::unavailable(format!(
            "{what}: HTTP {}",
            a.status.as_u16()
        )));
    }
    if a.status != StatusCode::OK {
        return Err(IdentityError::protocol(format!(
            "{what}: HTTP {}",
            a.status.as_u16()
        )));
    }
    serde_json::from_slice(&a.body)
        .map_err(|_| IdentityError::protocol(format!("{what}: the answer is not JSON")))
}

/// Parses a provider URL and refuses plain HTTP except on loopback (or when
/// the configuration allows it).
pub(crate) fn provider_url(raw: &str, what: &str, allow_http: bool) -> Result<Url, IdentityError> {
    let url = Url::parse(raw).map_err(|_| IdentityError::config(format!("{what} is not a URL")))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http || is_loopback(&url) => {}
        _ => {
            return Err(IdentityError::config(format!(
                "{what} must use https (plain http only on loopback or with allow_plain_http)"
            )))
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(IdentityError::config(format!("{what} has no host")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(IdentityError::config(format!(
            "{what} must not carry credentials"
        )));
    }
    Ok(url)
}

pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_on_loopback() {
        assert!(provider_url("http://127.0.0.1:18083", "issuer", false).is_ok());
        assert!(provider_url("http://localhost:8080/x", "issuer", false).is_ok());
        assert!(provider_url("http://[::1]:1/", "issuer", false).is_ok());
        assert!(provider_url("https://sso.example.gov.cn", "issuer", false).is_ok());
        assert!(matches!(
            provider_url("http://sso.example.gov.cn", "issuer", false),
            Err(IdentityError::Config { .. })
        ));
        assert!(provider_url("http://sso.example.gov.cn", "issuer", true).is_ok());
        assert!(provider_url("ftp://127.0.0.1/", "issuer", true).is_err());
        assert!(provider_url("https://u:p@sso.example.gov.cn", "issuer", false).is_err());
        assert!(provider_url("not a url", "issuer", false).is_err());
    }
}
