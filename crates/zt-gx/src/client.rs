//! [`GxClient`]: sends GX-HMAC-SM3 business calls and returns only verified,
//! decrypted answers.
//!
//! One call = one business request, sent in up to
//! [`RetryPolicy::max_attempts`] attempts. Every attempt is a new HTTP
//! request with a new timestamp, a new nonce and a new signature over the
//! same body bytes (gx-hmac-sm3.md §3.4): a nonce is consumed by the server
//! as soon as it is checked, whatever happens afterwards. Only the failures
//! of [`GxError::is_retryable`] are retried, after a bounded exponential
//! back-off with jitter, and only while the call's overall time limit
//! leaves room. Every attempt has its own time limit and so does the call.
//!
//! A response is looked at only after its signature has been verified
//! against the nonce of the attempt it answers; a response without a valid
//! signature is treated as not received.
//!
//! With a circuit breaker ([`GxClient::with_breaker`], one per counterpart,
//! shared by every client of it) a call first asks the breaker: while it is
//! open the call fails at once with [`GxError::CircuitOpen`] (retryable, no
//! network request); the one probe of a half-open breaker is sent in a
//! single attempt; and the outcome of every call that was sent is reported
//! to it, once per call (not per attempt).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use zt_domain::breaker::{Admission, Breaker, Outcome, State};

use crate::error::GxError;
use crate::scheme::{self, Credentials, ResponseAuth};
use crate::Clock;

/// How a call retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per call, the first included (at least 1).
    pub max_attempts: u32,
    /// Back-off before the second attempt; doubled for each further one.
    pub initial_backoff: Duration,
    /// Upper bound of one back-off.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// One attempt, no retry.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The back-off after attempt `attempt` (1-based) failed: "equal
    /// jitter", uniformly in `[d/2, d]` with `d = min(max, initial·2^(attempt−1))`.
    pub fn backoff(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        let exp = attempt.saturating_sub(1).min(20);
        let d = self
            .initial_backoff
            .saturating_mul(1u32 << exp)
            .min(self.max_backoff);
        let half = d / 2;
        let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
        half + Duration::from_millis(rng.gen_range(0..=jitter_ms))
    }
}

/// Where and how to call a GX-HMAC-SM3 service.
#[derive(Clone)]
pub struct GxConfig {
    /// E.g. `http://127.0.0.1:18081` (a path prefix is kept: the signed
    /// request-target is the path the request line carries).
    pub base_url: String,
    pub credentials: Credentials,
    /// Time limit to establish a connection.
    pub connect_timeout: Duration,
    /// Time limit of one attempt, from sending to the last body byte.
    pub request_timeout: Duration,
    /// Time limit of the whole call, all attempts and back-offs included.
    pub call_timeout: Duration,
    pub retry: RetryPolicy,
    /// Larger response bodies are refused (the connection is abandoned).
    pub max_response_bytes: usize,
}

impl GxConfig {
    /// Defaults: connect 3 s, attempt 10 s, call 30 s, 4 attempts, 8 MiB.
    pub fn new(base_url: impl Into<String>, credentials: Credentials) -> Self {
        Self {
            base_url: base_url.into(),
            credentials,
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(10),
            call_timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            max_response_bytes: 8 << 20,
        }
    }
}

impl fmt::Debug for GxConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GxConfig")
            .field("base_url", &self.base_url)
            .field("credentials", &self.credentials) // redacts the secrets
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("call_timeout", &self.call_timeout)
            .field("retry", &self.retry)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish()
    }
}

/// A client of one GX-HMAC-SM3 service for one application. Cheap to clone
/// (the connection pool is shared).
#[derive(Clone)]
pub struct GxClient {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    config: GxConfig,
    base: reqwest::Url,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    breaker: Option<Arc<Breaker>>,
}

impl fmt::Debug for GxClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GxClient")
            .field("base_url", &self.inner.base.as_str())
            .field("app_key", &self.inner.config.credentials.app_key())
            .finish_non_exhaustive()
    }
}

/// The `{"code","message"}` body of an error answer.
#[derive(Deserialize)]
struct ErrorBody {
    code: String,
    #[serde(default)]
    message: String,
}

/// A verified answer: status and body bytes, plus the response timestamp.
struct Verified {
    status: u16,
    body: Vec<u8>,
    server_time_ms: Option<i64>,
}

impl GxClient {
    /// A client with its own connection pool (plain HTTP, or HTTPS when the
    /// build has a TLS backend of reqwest enabled). Redirects are not
    /// followed: a signed request is only valid for its own target.
    pub fn new(config: GxConfig, clock: Arc<dyn Clock>) -> Result<Self, GxError> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| GxError::InvalidInput(format!("cannot build the HTTP client: {e}")))?;
        Self::with_http_client(config, clock, http)
    }

    /// A client over a `reqwest::Client` the caller built (e.g. with the
    /// province's CA roots). It should not follow redirects. The per-attempt
    /// time limit is applied to every request regardless.
    pub fn with_http_client(
        config: GxConfig,
        clock: Arc<dyn Clock>,
        http: reqwest::Client,
    ) -> Result<Self, GxError> {
        let mut base = reqwest::Url::parse(&config.base_url)
            .map_err(|e| GxError::InvalidInput(format!("base_url: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(GxError::InvalidInput(
                "base_url must be an http or https URL".into(),
            ));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(GxError::InvalidInput(
                "base_url must not have a query or fragment".into(),
            ));
        }
        if !base.path().ends_with('/') {
            let p = format!("{}/", base.path());
            base.set_path(&p);
        }
        if config.retry.max_attempts == 0 {
            return Err(GxError::InvalidInput(
                "retry.max_attempts must be ≥ 1".into(),
            ));
        }
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                base,
                http,
                clock,
                breaker: None,
            }),
        })
    }

    /// The same client behind `breaker`. Give every client of one
    /// counterpart the same breaker, so that they open and recover together.
    pub fn with_breaker(mut self, breaker: Arc<Breaker>) -> Self {
        Arc::make_mut(&mut self.inner).breaker = Some(breaker);
        self
    }

    pub fn config(&self) -> &GxConfig {
        &self.inner.config
    }

    pub fn breaker(&self) -> Option<&Arc<Breaker>> {
        self.inner.breaker.as_ref()
    }

    /// Calls the business endpoint `path` (e.g. `/gx/v1/population/verify`)
    /// with `payload` (serialised to a JSON object) and returns the verified,
    /// decrypted answer deserialised as `R`. Retries per the policy: use
    /// only for requests that are safe to repeat (every gxpt operation is:
    /// look-ups do not change anything and pushes are idempotent).
    pub async fn call<P, R>(&self, path: &str, payload: &P) -> Result<R, GxError>
    where
        P: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let plaintext = serde_json::to_vec(payload)
            .map_err(|e| GxError::InvalidInput(format!("payload cannot be serialised: {e}")))?;
        if plaintext.first() != Some(&b'{') {
            return Err(GxError::InvalidInput(
                "payload must serialise to a JSON object".into(),
            ));
        }
        let bytes = self.call_raw(path, &plaintext).await?;
        serde_json::from_slice(&bytes).map_err(|e| {
            GxError::InvalidResponse(format!(
                "answer of {path} does not match the specification: {e}"
            ))
        })
    }

    /// Like [`GxClient::call`] with an already-serialised JSON object as the
    /// plaintext; returns the decrypted plaintext of the `200` answer.
    pub async fn call_raw(&self, path: &str, plaintext: &[u8]) -> Result<Vec<u8>, GxError> {
        let url = self.endpoint(path)?;
        let Some(breaker) = self.inner.breaker.as_deref() else {
            return self.send_call(path, &url, plaintext, None).await;
        };
        let probe = match breaker.admit() {
            Admission::Allowed => false,
            Admission::Probe => true,
            Admission::Rejected { retry_at } => {
                tracing::debug!(path, counterpart = breaker.name(), %retry_at, "gx call not sent: circuit breaker open");
                return Err(GxError::CircuitOpen { retry_at });
            }
        };
        let result = self
            .send_call(path, &url, plaintext, Some((breaker, probe)))
            .await;
        match &result {
            // A "not found" of a look-up is a normal answer.
            Ok(_) | Err(GxError::NotFound { .. }) => breaker.record(Outcome::Success),
            // Nothing was asked of the service.
            Err(GxError::InvalidInput(_) | GxError::CircuitOpen { .. }) => {}
            Err(e) if e.counterpart_unavailable() => {
                let was = breaker.state();
                breaker.record(Outcome::Unavailable(&e.to_string()));
                if was != State::Open && breaker.state() == State::Open {
                    tracing::error!(counterpart = breaker.name(), error = %e, "circuit breaker opened: calls fail at once until the service answers a probe");
                }
            }
            Err(e) => breaker.record(Outcome::Refused(&e.to_string())),
        }
        result
    }

    /// One business request in as many attempts as the policy (and, for the
    /// probe of a half-open breaker, only one) allows.
    async fn send_call(
        &self,
        path: &str,
        url: &reqwest::Url,
        plaintext: &[u8],
        breaker: Option<(&Breaker, bool)>,
    ) -> Result<Vec<u8>, GxError> {
        // The request-target exactly as reqwest writes it on the request line.
        let target = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        // The body is sealed once; every attempt sends these same bytes.
        let body = scheme::seal_envelope(&self.inner.config.credentials, plaintext);
        let cfg = &self.inner.config;
        let deadline = Instant::now() + cfg.call_timeout;
        // A probe decides quickly whether the service is back; its retries
        // would keep every other call waiting behind it.
        let max_attempts = match breaker {
            Some((_, true)) => 1,
            _ => cfg.retry.max_attempts,
        };
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(GxError::Timeout);
            }
            let limit = remaining.min(cfg.request_timeout);
            let started = Instant::now();
            let result = self.attempt(url, &target, &body, limit).await;
            let outcome = match &result {
                Ok(_) => "ok",
                Err(e) if e.is_retryable() => "retryable",
                Err(_) => "failed",
            };
            tracing::debug!(
                path,
                attempt,
                outcome,
                code = result.as_ref().err().and_then(GxError::code),
                elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                "gx call attempt"
            );
            match result {
                Ok(plain) => return Ok(plain),
                Err(e) if e.is_retryable() && attempt < max_attempts => {
                    if breaker.is_some_and(|(b, _)| b.state() == State::Open) {
                        // Other calls found the service down meanwhile: stop
                        // adding load to it.
                        tracing::warn!(path, attempt, error = %e, "gx call: circuit breaker opened, not retrying");
                        return Err(e);
                    }
                    let pause = cfg.retry.backoff(attempt, &mut rand::thread_rng());
                    if Instant::now() + pause >= deadline {
                        tracing::warn!(path, attempt, error = %e, "gx call: no time left to retry");
                        return Err(e);
                    }
                    tracing::warn!(path, attempt, error = %e, "gx call: retrying as a new request");
                    tokio::time::sleep(pause).await;
                }
                Err(e) => {
                    if attempt > 1 || !matches!(e, GxError::NotFound { .. }) {
                        tracing::warn!(path, attempt, error = %e, "gx call failed");
                    }
                    return Err(e);
                }
            }
        }
    }

    fn endpoint(&self, path: &str) -> Result<reqwest::Url, GxError> {
        let rel = path.strip_prefix('/').unwrap_or(path);
        if rel.is_empty() || rel.contains("://") || rel.starts_with('/') {
            return Err(GxError::InvalidInput(format!("bad endpoint path {path:?}")));
        }
        self.inner
            .base
            .join(rel)
            .map_err(|e| GxError::InvalidInput(format!("endpoint {path:?}: {e}")))
    }

    /// One attempt: sign afresh, send, verify, decode.
    async fn attempt(
        &self,
        url: &reqwest::Url,
        target: &str,
        body: &[u8],
        limit: Duration,
    ) -> Result<Vec<u8>, GxError> {
        let creds = &self.inner.config.credentials;
        let nonce = scheme::new_nonce();
        let now = crate::now_ms(&*self.inner.clock);
        let auth = scheme::sign_request(creds, "POST", target, now, &nonce, body)
            .map_err(|e| GxError::InvalidInput(format!("local clock: {e}")))?;
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static(scheme::CONTENT_TYPE_JSON),
        );
        for (name, value) in auth.pairs() {
            let v = HeaderValue::from_str(value).map_err(|_| {
                GxError::InvalidInput(format!("{name} is not a valid header value"))
            })?;
            headers.insert(name, v);
        }
        let send = async {
            let resp = self
                .inner
                .http
                .post(url.clone())
                .headers(headers)
                .body(body.to_vec())
                .timeout(limit)
                .send()
                .await
                .map_err(transport_error)?;
            let status = resp.status().as_u16();
            let rh = resp.headers().clone();
            let bytes = read_limited(resp, self.inner.config.max_response_bytes).await?;
            Ok::<_, GxError>((status, rh, bytes))
        };
        // reqwest's own timeout covers the body too; this is the backstop.
        let (status, rh, bytes) = tokio::time::timeout(limit + Duration::from_millis(50), send)
            .await
            .map_err(|_| GxError::Timeout)??;
        let verified = self.verify(status, &rh, bytes, &nonce)?;
        self.decode(verified)
    }

    /// §4.3 point 1: nothing of a response is used before its signature is
    /// verified against the nonce of the attempt it answers.
    fn verify(
        &self,
        status: u16,
        headers: &HeaderMap,
        body: Vec<u8>,
        request_nonce: &str,
    ) -> Result<Verified, GxError> {
        let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let auth = ResponseAuth {
            timestamp: get(scheme::HEADER_TIMESTAMP),
            nonce: get(scheme::HEADER_NONCE),
            signature: get(scheme::HEADER_SIGNATURE),
        };
        let creds = &self.inner.config.credentials;
        if scheme::verify_response(creds, status, request_nonce, auth, &body).is_err() {
            return Err(GxError::SignatureInvalid {
                status,
                claimed_code: claimed_code(&body),
            });
        }
        Ok(Verified {
            status,
            body,
            server_time_ms: auth.timestamp.and_then(scheme::parse_timestamp),
        })
    }

    fn decode(&self, v: Verified) -> Result<Vec<u8>, GxError> {
        if v.status == 200 {
            // §4.3 point 2 (recommended): the answer's own time must be within
            // 300 s of ours. Signed, so a malformed timestamp is malformed.
            let Some(server_ms) = v.server_time_ms else {
                return Err(GxError::InvalidResponse(
                    "X-Gx-Timestamp is not 13 digits".into(),
                ));
            };
            let local_ms = crate::now_ms(&*self.inner.clock);
            if !scheme::within_clock_skew(local_ms, server_ms) {
                return Err(GxError::ClockSkew {
                    server_time_ms: server_ms,
                    local_time_ms: local_ms,
                });
            }
            let plain = scheme::open_envelope(&self.inner.config.credentials, &v.body)
                .map_err(|e| GxError::InvalidResponse(e.to_string()))?;
            // §4.3 point 3: the plaintext is a JSON object.
            crate::json::parse_strict_object(&plain)
                .map_err(|e| GxError::InvalidResponse(format!("answer plaintext: {e}")))?;
            return Ok(plain);
        }
        match serde_json::from_slice::<ErrorBody>(&v.body) {
            Ok(err) => Err(GxError::from_signed_error(
                v.status,
                &err.code,
                err.message,
                v.server_time_ms,
            )),
            Err(_) if v.status == 500 || v.status == 503 => Err(GxError::from_signed_error(
                v.status,
                "",
                String::new(),
                v.server_time_ms,
            )),
            Err(_) => Err(GxError::InvalidResponse(format!(
                "HTTP {} without an error body",
                v.status
            ))),
        }
    }
}

fn transport_error(e: reqwest::Error) -> GxError {
    if e.is_timeout() {
        return GxError::Timeout;
    }
    if e.is_builder() {
        return GxError::InvalidInput(e.to_string());
    }
    // Connection refused or reset, closed without an answer, broken body.
    let mut text = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        text.push_str(": ");
        text.push_str(&s.to_string());
        src = s.source();
    }
    GxError::Connection(text)
}

async fn read_limited(mut resp: reqwest::Response, max: usize) -> Result<Vec<u8>, GxError> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(transport_error)? {
        if out.len() + chunk.len() > max {
            return Err(GxError::InvalidResponse(format!(
                "response body larger than {max} bytes"
            )));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The `code` an unverified body claims, if it looks like one (upper-case
/// letters, digits and `_`, at most 64): for the error message only.
fn claimed_code(body: &[u8]) -> Option<String> {
    let err: ErrorBody = serde_json::from_slice(body).ok()?;
    let ok = !err.code.is_empty()
        && err.code.len() <= 64
        && err
            .code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    ok.then_some(err.code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn backoff_is_bounded_exponential_with_jitter() {
        let p = RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..200 {
            let b1 = p.backoff(1, &mut rng);
            assert!(b1 >= Duration::from_millis(50) && b1 <= Duration::from_millis(100));
            let b3 = p.backoff(3, &mut rng);
            assert!(b3 >= Duration::from_millis(200) && b3 <= Duration::from_millis(400));
            let b9 = p.backoff(9, &mut rng);
            assert!(b9 >= Duration::from_millis(500) && b9 <= Duration::from_millis(1000));
            let b_huge = p.backoff(u32::MAX, &mut rng);
            assert!(b_huge <= Duration::from_millis(1000));
        }
    }

    #[test]
    fn config_debug_hides_secrets() {
        let cfg = GxConfig::new("http://127.0.0.1:1", Credentials::sandbox_default());
        let s = format!("{cfg:?}");
        assert!(!s.contains("zt-sandbox-secret-2025"), "{s}");
        assert!(!s.contains("8f3a1c5e"), "{s}");
        let c = GxClient::new(cfg, Arc::new(crate::SystemClock)).unwrap();
        let s = format!("{c:?}");
        assert!(s.contains("zt-sandbox-app") && !s.contains("secret"), "{s}");
    }

    #[test]
    fn base_url_and_endpoint_forms() {
        let mk = |u: &str| {
            GxClient::new(
                GxConfig::new(u, Credentials::sandbox_default()),
                Arc::new(crate::SystemClock),
            )
        };
        let c = mk("http://127.0.0.1:18081").unwrap();
        assert_eq!(
            c.endpoint("/gx/v1/cases/push").unwrap().as_str(),
            "http://127.0.0.1:18081/gx/v1/cases/push"
        );
        let c = mk("https://gx.example/prefix").unwrap();
        let u = c.endpoint("/gx/v1/cases/push").unwrap();
        assert_eq!(u.path(), "/prefix/gx/v1/cases/push");
        assert!(c.endpoint("//evil.example/x").is_err());
        assert!(c.endpoint("http://evil.example/x").is_err());
        assert!(mk("ftp://x/").is_err());
        assert!(mk("http://x/?a=1").is_err());
        assert!(mk("not a url").is_err());
    }

    #[test]
    fn claimed_code_is_sanitised() {
        assert_eq!(
            claimed_code(br#"{"code":"GX_APP_UNKNOWN","message":"x"}"#).as_deref(),
            Some("GX_APP_UNKNOWN")
        );
        assert_eq!(claimed_code(br#"{"code":"bad\ncode"}"#), None);
        assert_eq!(claimed_code(b"garbage"), None);
    }
}
