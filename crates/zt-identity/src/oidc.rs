//! OpenID Connect relying party: authorization code flow with PKCE (S256),
//! ID token and userinfo, RP-initiated logout, back-channel logout tokens.
//!
//! ```no_run
//! # async fn demo(store: &mut std::collections::HashMap<String, zt_identity::oidc::LoginState>)
//! # -> Result<(), zt_identity::IdentityError> {
//! use std::sync::Arc;
//! use zt_identity::oidc::{OidcClient, OidcConfig};
//!
//! let clock = Arc::new(|| 1_795_529_089_i64); // the platform's clock
//! let config = OidcConfig::new("http://127.0.0.1:18083", "zhengtong-web", Some("zhengtong-web-secret"));
//! let client = OidcClient::new(config, clock).await?;
//!
//! // GET /auth/oidc/login
//! let (authorize_url, state) = client.begin_login("http://127.0.0.1:8080/auth/oidc/callback")?;
//! store.insert(state.state.clone(), state); // server-side, keyed by the browser session
//! // … redirect the browser to authorize_url …
//!
//! // GET /auth/oidc/callback?code=…&state=…&iss=…
//! # let query = "";
//! let callback = client.parse_callback(query)?;
//! let stored = store.remove(&callback.state).ok_or(zt_identity::IdentityError::StateMismatch)?;
//! let login = client.finish_login(callback.code.expose(), &callback.state, &stored).await?;
//! println!("{} ({:?})", login.claims.sub, login.claims.user_type);
//! # Ok(()) }
//! ```

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rand::RngCore;
use reqwest::header::{ACCEPT, AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use url::Url;

use crate::claims::{numeric_date, Claims};
use crate::http::{self, provider_url};
use crate::jose::{self, JwsHeader, KeySet};
use crate::secret::ct_eq;
use crate::{Clock, IdentityError, Secret};

/// The member of `events` that makes a JWT a back-channel logout token.
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// HTTP Basic with the form-urlencoded id and secret (RFC 6749 §2.3.1);
    /// what the platform registers `zhengtong-web` with.
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// A public client: `client_id` in the body, no secret (PKCE only).
    None,
}

/// The provider's endpoints and capabilities, from discovery or configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderMetadata {
    /// `issuer`, exactly as in the tokens.
    pub issuer: String,
    /// `authorization_endpoint`.
    pub authorization_endpoint: String,
    /// `token_endpoint`.
    pub token_endpoint: String,
    /// `userinfo_endpoint`; without it the claims come from the ID token.
    pub userinfo_endpoint: Option<String>,
    /// `jwks_uri`.
    pub jwks_uri: String,
    /// `end_session_endpoint` (RP-initiated logout).
    pub end_session_endpoint: Option<String>,
    /// `id_token_signing_alg_values_supported`; only asymmetric ones are
    /// ever accepted.
    pub id_token_signing_alg_values_supported: Vec<String>,
    /// `authorization_response_iss_parameter_supported` (RFC 9207): the
    /// callback must then carry `iss`.
    pub authorization_response_iss_parameter_supported: bool,
}

/// Configuration of the relying party.
#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// The issuer, e.g. `http://127.0.0.1:18083` (no trailing slash there).
    pub issuer: String,
    /// `client_id`, e.g. `zhengtong-web`.
    pub client_id: String,
    /// `client_secret` of a confidential client.
    pub client_secret: Option<Secret>,
    /// Token endpoint authentication, as registered.
    pub client_auth: ClientAuth,
    /// Scopes requested; `openid` is added when missing.
    pub scopes: Vec<String>,
    /// Configured endpoints instead of discovery.
    pub metadata: Option<ProviderMetadata>,
    /// Clock skew tolerated on `exp`, `iat`, `nbf` (seconds).
    pub leeway_secs: i64,
    /// How long a [`LoginState`] stays usable (the provider's login
    /// interaction lives 1 h).
    pub login_state_ttl_secs: i64,
    /// Oldest acceptable logout token when it has no `exp`.
    pub logout_token_max_age_secs: i64,
    /// At most one JWKS refresh for an unknown `kid` per this many seconds
    /// (the logout endpoint is unauthenticated: junk tokens must not make
    /// the platform hammer the provider).
    pub jwks_refresh_min_interval_secs: i64,
    /// JWKS older than this is fetched again on next use.
    pub jwks_max_age_secs: i64,
    /// Fetch userinfo after the code exchange.
    pub fetch_userinfo: bool,
    /// Allow `http://` on non-loopback hosts (never in production).
    pub allow_plain_http: bool,
    /// Allow endpoints on another origin than the issuer.
    pub allow_foreign_endpoints: bool,
    /// Timeout of each request to the provider.
    pub http_timeout: Duration,
}

impl OidcConfig {
    /// A configuration with the platform's defaults: scopes
    /// `openid profile phone gov`, `client_secret_basic` when there is a
    /// secret (else a public client), discovery, 60 s leeway.
    pub fn new(issuer: &str, client_id: &str, client_secret: Option<&str>) -> Self {
        Self {
            issuer: issuer.to_owned(),
            client_id: client_id.to_owned(),
            client_secret: client_secret.map(Secret::from),
            client_auth: if client_secret.is_some() {
                ClientAuth::ClientSecretBasic
            } else {
                ClientAuth::None
            },
            scopes: ["openid", "profile", "phone", "gov"]
                .map(str::to_owned)
                .to_vec(),
            metadata: None,
            leeway_secs: 60,
            login_state_ttl_secs: 3600,
            logout_token_max_age_secs: 120,
            jwks_refresh_min_interval_secs: 30,
            jwks_max_age_secs: 24 * 3600,
            fetch_userinfo: true,
            allow_plain_http: false,
            allow_foreign_endpoints: false,
            http_timeout: Duration::from_secs(10),
        }
    }
}

/// Extra parameters of one authorization request.
#[derive(Debug, Clone, Default)]
pub struct LoginOptions {
    /// `prompt`, e.g. `login` to force the login form over an IdP session.
    pub prompt: Option<String>,
    /// `login_hint`: prefills the user name.
    pub login_hint: Option<String>,
    /// `max_age`: the provider must have authenticated the user this
    /// recently (checked against `auth_time`).
    pub max_age: Option<u32>,
    /// Scopes instead of the configured ones.
    pub scopes: Option<Vec<String>>,
}

/// What the platform keeps server-side between redirect and callback.
/// Serializable for a session store; `Debug` hides nonce and verifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginState {
    /// `state`, to look the login up by and to compare with the callback.
    pub state: String,
    /// `nonce` the ID token must carry.
    pub nonce: Secret,
    /// PKCE `code_verifier`.
    pub pkce_verifier: Secret,
    /// The `redirect_uri` of the request (the token request repeats it).
    pub redirect_uri: String,
    /// When the login began (unix seconds).
    pub created_at: i64,
    /// `max_age` if one was requested.
    pub max_age: Option<u32>,
}

/// The parameters of a successful authorization response.
#[derive(Debug, Clone)]
pub struct AuthorizationCallback {
    /// The authorization code (single use, 60 s).
    pub code: Secret,
    /// `state` as returned.
    pub state: String,
}

/// The tokens of a login. `Debug` shows none of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenSet {
    /// Bearer access token (userinfo).
    pub access_token: Secret,
    /// The raw ID token: keep it for `id_token_hint` at logout.
    pub id_token: Secret,
    /// Refresh token, if issued.
    pub refresh_token: Option<Secret>,
    /// When the access token expires (unix seconds), if the provider said.
    pub expires_at: Option<i64>,
    /// Granted scopes, if the provider said.
    pub scope: Option<String>,
}

/// A finished login.
#[derive(Debug, Clone)]
pub struct Login {
    /// Who logged in.
    pub claims: Claims,
    /// The tokens (store server-side only).
    pub tokens: TokenSet,
}

/// A valid back-channel logout token: end the local sessions of this `sid`
/// (and/or every session of `sub`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutEvent {
    /// The user, if named.
    pub sub: Option<String>,
    /// The provider session of this client, if named.
    pub sid: Option<String>,
    /// Token id: remember it until `exp` and refuse a second token with it
    /// (replay protection is the caller's, who has the storage).
    pub jti: String,
    /// Issued at (unix seconds).
    pub iat: i64,
    /// Expiry (unix seconds), if present; keep the `jti` at least this long.
    pub exp: Option<i64>,
}

/// An OpenID Connect client of one provider. Cheap to clone; share one.
#[derive(Clone)]
pub struct OidcClient {
    inner: Arc<Inner>,
}

struct Inner {
    config: OidcConfig,
    metadata: ProviderMetadata,
    algs: Vec<String>,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    keys: RwLock<Arc<KeySet>>,
    /// When the cached JWKS was fetched (unix seconds).
    keys_fetched_at: AtomicI64,
    /// Held while fetching the JWKS, so that concurrent requests fetch once.
    refresh: tokio::sync::Mutex<RefreshState>,
}

struct RefreshState {
    last_unknown_kid_refresh: Option<i64>,
}

impl std::fmt::Debug for OidcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcClient")
            .field("issuer", &self.inner.metadata.issuer)
            .field("client_id", &self.inner.config.client_id)
            .finish_non_exhaustive()
    }
}

impl OidcClient {
    /// Discovers the provider (unless endpoints are configured) and loads
    /// its JWKS. Fails when the provider is unreachable or its discovery
    /// document names another issuer.
    pub async fn new(config: OidcConfig, clock: Arc<dyn Clock>) -> Result<Self, IdentityError> {
        let http = http::default_client(config.http_timeout)?;
        Self::with_http_client(config, clock, http).await
    }

    /// As [`OidcClient::new`] with the caller's HTTP client (proxy, extra
    /// root certificates). It should not follow redirects.
    pub async fn with_http_client(
        config: OidcConfig,
        clock: Arc<dyn Clock>,
        http: reqwest::Client,
    ) -> Result<Self, IdentityError> {
        if config.client_id.is_empty() {
            return Err(IdentityError::config("client_id is empty"));
        }
        if config.client_auth != ClientAuth::None && config.client_secret.is_none() {
            return Err(IdentityError::config(
                "client_secret_basic/post needs a client_secret",
            ));
        }
        let issuer = provider_url(&config.issuer, "issuer", config.allow_plain_http)?;
        let metadata = match &config.metadata {
            Some(m) => m.clone(),
            None => discover(&config, &http).await?,
        };
        if metadata.issuer != config.issuer {
            return Err(IdentityError::WrongIssuer);
        }
        let endpoints = [
            (
                "authorization_endpoint",
                Some(&metadata.authorization_endpoint),
            ),
            ("token_endpoint", Some(&metadata.token_endpoint)),
            ("jwks_uri", Some(&metadata.jwks_uri)),
            ("userinfo_endpoint", metadata.userinfo_endpoint.as_ref()),
            (
                "end_session_endpoint",
                metadata.end_session_endpoint.as_ref(),
            ),
        ];
        for (what, url) in endpoints {
            let Some(url) = url else { continue };
            let u = provider_url(url, what, config.allow_plain_http)?;
            if !config.allow_foreign_endpoints && u.origin() != issuer.origin() {
                return Err(IdentityError::config(format!(
                    "{what} is not on the issuer's origin (allow_foreign_endpoints)"
                )));
            }
        }
        let algs: Vec<String> = metadata
            .id_token_signing_alg_values_supported
            .iter()
            .filter(|a| jose::ASYMMETRIC_ALGS.contains(&a.as_str()))
            .cloned()
            .collect();
        if algs.is_empty() {
            return Err(IdentityError::config(
                "the provider signs with no algorithm this client accepts (RS256, PS256, ES256, …)",
            ));
        }
        let keys = fetch_jwks(&http, &metadata.jwks_uri).await?;
        let now = clock.unix_now();
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                metadata,
                algs,
                http,
                clock,
                keys: RwLock::new(Arc::new(keys)),
                keys_fetched_at: AtomicI64::new(now),
                refresh: tokio::sync::Mutex::new(RefreshState {
                    last_unknown_kid_refresh: None,
                }),
            }),
        })
    }

    /// The provider's endpoints in use.
    pub fn metadata(&self) -> &ProviderMetadata {
        &self.inner.metadata
    }

    /// The configuration in use.
    pub fn config(&self) -> &OidcConfig {
        &self.inner.config
    }

    /// Starts a login: the URL to redirect the browser to, and the state to
    /// keep server-side until the callback.
    pub fn begin_login(&self, redirect_uri: &str) -> Result<(String, LoginState), IdentityError> {
        self.begin_login_with(redirect_uri, &LoginOptions::default())
    }

    /// [`OidcClient::begin_login`] with `prompt`, `login_hint`, `max_age`
    /// or other scopes.
    pub fn begin_login_with(
        &self,
        redirect_uri: &str,
        options: &LoginOptions,
    ) -> Result<(String, LoginState), IdentityError> {
        let redirect = Url::parse(redirect_uri)
            .map_err(|_| IdentityError::config("redirect_uri is not an absolute URL"))?;
        if !matches!(redirect.scheme(), "http" | "https") || redirect.fragment().is_some() {
            return Err(IdentityError::config(
                "redirect_uri must be http(s) without a fragment",
            ));
        }
        let state = random_token(32);
        let nonce = random_token(32);
        let verifier = random_token(32); // 43 characters of the PKCE alphabet
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let mut scopes = options
            .scopes
            .clone()
            .unwrap_or_else(|| self.inner.config.scopes.clone());
        if !scopes.iter().any(|s| s == "openid") {
            scopes.insert(0, "openid".to_owned());
        }
        let mut url = Url::parse(&self.inner.metadata.authorization_endpoint)
            .map_err(|_| IdentityError::config("authorization_endpoint is not a URL"))?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &self.inner.config.client_id)
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("scope", &scopes.join(" "))
                .append_pair("state", &state)
                .append_pair("nonce", &nonce)
                .append_pair("code_challenge", &challenge)
                .append_pair("code_challenge_method", "S256");
            if let Some(p) = &options.prompt {
                q.append_pair("prompt", p);
            }
            if let Some(h) = &options.login_hint {
                q.append_pair("login_hint", h);
            }
            if let Some(m) = options.max_age {
                q.append_pair("max_age", &m.to_string());
            }
        }
        Ok((
            url.into(),
            LoginState {
                state,
                nonce: Secret::new(nonce),
                pkce_verifier: Secret::new(verifier),
                redirect_uri: redirect_uri.to_owned(),
                created_at: self.inner.clock.unix_now(),
                max_age: options.max_age,
            },
        ))
    }

    /// Reads the query string of the callback (with or without the leading
    /// `?`): checks `iss` (RFC 9207) and turns an `error` into
    /// [`IdentityError::Rejected`] (`access_denied` = the user cancelled).
    pub fn parse_callback(&self, query: &str) -> Result<AuthorizationCallback, IdentityError> {
        let query = query.strip_prefix('?').unwrap_or(query);
        let mut code = None;
        let mut state = None;
        let mut iss = None;
        let mut error = None;
        let mut description = None;
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            let slot = match k.as_ref() {
                "code" => &mut code,
                "state" => &mut state,
                "iss" => &mut iss,
                "error" => &mut error,
                "error_description" => &mut description,
                _ => continue,
            };
            if slot.is_some() {
                return Err(IdentityError::protocol("callback repeats a parameter"));
            }
            *slot = Some(v.into_owned());
        }
        match iss {
            Some(i) if i != self.inner.metadata.issuer => return Err(IdentityError::WrongIssuer),
            None if self
                .inner
                .metadata
                .authorization_response_iss_parameter_supported =>
            {
                return Err(IdentityError::WrongIssuer)
            }
            _ => {}
        }
        if let Some(e) = error {
            return Err(IdentityError::rejected(&e, description.as_deref()));
        }
        match (code, state) {
            (Some(code), Some(state)) if !code.is_empty() => Ok(AuthorizationCallback {
                code: Secret::new(code),
                state,
            }),
            (_, None) => Err(IdentityError::StateMismatch),
            _ => Err(IdentityError::protocol("callback has no code")),
        }
    }

    /// Finishes a login: compares `state`, exchanges the code (with the PKCE
    /// verifier and client authentication), validates the ID token, fetches
    /// userinfo and returns the user's claims and the tokens.
    pub async fn finish_login(
        &self,
        code: &str,
        state: &str,
        stored: &LoginState,
    ) -> Result<Login, IdentityError> {
        if !ct_eq(state.as_bytes(), stored.state.as_bytes()) {
            return Err(IdentityError::StateMismatch);
        }
        let now = self.inner.clock.unix_now();
        if now - stored.created_at > self.inner.config.login_state_ttl_secs {
            return Err(IdentityError::LoginExpired);
        }
        let tokens = self.exchange_code(code, stored).await?;
        let mut claims = self
            .validate_id_token(tokens.id_token.expose(), Some(stored.nonce.expose()))
            .await?;
        if let Some(max_age) = stored.max_age {
            let auth_time = claims
                .auth_time
                .ok_or(IdentityError::MissingClaim { claim: "auth_time" })?;
            if now > auth_time + i64::from(max_age) + self.inner.config.leeway_secs {
                return Err(IdentityError::LoginExpired);
            }
        }
        if self.inner.config.fetch_userinfo {
            if let Some(endpoint) = &self.inner.metadata.userinfo_endpoint {
                let info = self
                    .userinfo(endpoint, tokens.access_token.expose())
                    .await?;
                if info.sub != claims.sub {
                    return Err(IdentityError::SubjectMismatch);
                }
                claims.merge_userinfo(info);
            }
        }
        Ok(Login { claims, tokens })
    }

    /// [`OidcClient::parse_callback`] and [`OidcClient::finish_login`] in one.
    pub async fn finish_login_from_callback(
        &self,
        query: &str,
        stored: &LoginState,
    ) -> Result<Login, IdentityError> {
        let cb = self.parse_callback(query)?;
        self.finish_login(cb.code.expose(), &cb.state, stored).await
    }

    async fn exchange_code(
        &self,
        code: &str,
        stored: &LoginState,
    ) -> Result<TokenSet, IdentityError> {
        let cfg = &self.inner.config;
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &stored.redirect_uri),
            ("code_verifier", stored.pkce_verifier.expose()),
        ];
        let mut req = self
            .inner
            .http
            .post(&self.inner.metadata.token_endpoint)
            .header(ACCEPT, "application/json");
        let secret = cfg.client_secret.as_ref().map(Secret::expose).unwrap_or("");
        match cfg.client_auth {
            ClientAuth::ClientSecretBasic => {
                req = req.header(AUTHORIZATION, basic_auth(&cfg.client_id, secret));
            }
            ClientAuth::ClientSecretPost => {
                form.push(("client_id", &cfg.client_id));
                form.push(("client_secret", secret));
            }
            ClientAuth::None => form.push(("client_id", &cfg.client_id)),
        }
        let answer = http::send(req.form(&form), "token endpoint").await?;
        let body = json_object(&answer.body);
        if answer.status != StatusCode::OK {
            return Err(error_answer(
                "token endpoint",
                answer.status,
                body.as_ref(),
                None,
            ));
        }
        let body =
            body.ok_or_else(|| IdentityError::protocol("token endpoint: the answer is not JSON"))?;
        let string = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
        let token_type = string("token_type").unwrap_or_default();
        if !token_type.eq_ignore_ascii_case("bearer") {
            return Err(IdentityError::protocol(
                "token endpoint: token_type is not Bearer",
            ));
        }
        let access_token = string("access_token")
            .ok_or_else(|| IdentityError::protocol("token endpoint: no access_token"))?;
        let id_token = string("id_token")
            .ok_or_else(|| IdentityError::protocol("token endpoint: no id_token"))?;
        let now = self.inner.clock.unix_now();
        Ok(TokenSet {
            access_token: Secret::new(access_token),
            id_token: Secret::new(id_token),
            refresh_token: string("refresh_token").map(Secret::new),
            expires_at: body
                .get("expires_in")
                .and_then(numeric_date)
                .map(|s| now + s),
            scope: string("scope"),
        })
    }

    async fn userinfo(&self, endpoint: &str, access_token: &str) -> Result<Claims, IdentityError> {
        let req = self
            .inner
            .http
            .get(endpoint)
            .header(ACCEPT, "application/json")
            .bearer_auth(access_token);
        let answer = http::send(req, "userinfo").await?;
        let body = json_object(&answer.body);
        if answer.status != StatusCode::OK {
            let challenge = answer
                .headers
                .get(WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            return Err(error_answer(
                "userinfo",
                answer.status,
                body.as_ref(),
                challenge.as_deref(),
            ));
        }
        if answer.content_type() == "application/jwt" {
            return Err(IdentityError::protocol(
                "userinfo: signed userinfo is not supported",
            ));
        }
        let body = body
            .ok_or_else(|| IdentityError::protocol("userinfo: the answer is not a JSON object"))?;
        Claims::from_json(&body)
    }

    /// Validates an ID token (OpenID Connect Core §3.1.3.7): signature
    /// against the JWKS (refreshed once for an unknown `kid`), `iss`, `aud`,
    /// `azp`, `exp`, `iat` with the leeway, and `nonce` when one is given.
    pub async fn validate_id_token(
        &self,
        jwt: &str,
        expected_nonce: Option<&str>,
    ) -> Result<Claims, IdentityError> {
        let (header, payload) = self.verify_jws(jwt).await?;
        if header.typ.as_deref().is_some_and(is_logout_typ) || payload.contains_key("events") {
            return Err(IdentityError::WrongTokenType { expected: "JWT" });
        }
        let now = self.inner.clock.unix_now();
        let times = self.check_common(&payload, now)?;
        let exp = times
            .exp
            .ok_or(IdentityError::MissingClaim { claim: "exp" })?;
        if now > exp + self.inner.config.leeway_secs {
            return Err(IdentityError::TokenExpired);
        }
        if let Some(expected) = expected_nonce {
            match payload.get("nonce").and_then(Value::as_str) {
                Some(n) if ct_eq(n.as_bytes(), expected.as_bytes()) => {}
                _ => return Err(IdentityError::NonceMismatch),
            }
        }
        Claims::from_json(&payload)
    }

    /// Validates a back-channel logout token (OpenID Connect Back-Channel
    /// Logout 1.0 §2.6): signature, `typ` `logout+jwt`, `iss`, `aud`,
    /// `iat`/`exp`, the `events` member, no `nonce`, `jti`, and `sid` and/or
    /// `sub`. Replays of `jti` are for the caller to refuse.
    pub async fn validate_logout_token(&self, jwt: &str) -> Result<LogoutEvent, IdentityError> {
        let (header, payload) = self.verify_jws(jwt).await?;
        self.logout_event(&header, &payload)
    }

    /// [`OidcClient::validate_logout_token`] against the keys already
    /// fetched, without any request to the provider (a key that is not
    /// cached is [`IdentityError::UnknownKey`]). For a caller that fetches
    /// them itself first, through its circuit breaker
    /// ([`OidcClient::refresh_keys_for`]).
    pub fn validate_logout_token_with_cached_keys(
        &self,
        jwt: &str,
    ) -> Result<LogoutEvent, IdentityError> {
        let header = jose::read_header(jwt, &self.inner.algs)?;
        let payload = self.current_keys().verify(jwt, &header)?;
        self.logout_event(&header, &payload)
    }

    fn logout_event(
        &self,
        header: &JwsHeader,
        payload: &Map<String, Value>,
    ) -> Result<LogoutEvent, IdentityError> {
        if !header.typ.as_deref().is_some_and(is_logout_typ) {
            return Err(IdentityError::WrongTokenType {
                expected: "logout+jwt",
            });
        }
        let now = self.inner.clock.unix_now();
        let times = self.check_common(payload, now)?;
        let cfg = &self.inner.config;
        match times.exp {
            Some(exp) if now > exp + cfg.leeway_secs => return Err(IdentityError::TokenExpired),
            None if now > times.iat + cfg.logout_token_max_age_secs + cfg.leeway_secs => {
                return Err(IdentityError::TokenExpired)
            }
            _ => {}
        }
        let is_logout = payload
            .get("events")
            .and_then(Value::as_object)
            .and_then(|e| e.get(BACKCHANNEL_LOGOUT_EVENT))
            .is_some_and(Value::is_object);
        if !is_logout {
            return Err(IdentityError::NotALogoutToken);
        }
        if payload.contains_key("nonce") {
            return Err(IdentityError::NonceInLogoutToken);
        }
        let string = |claim: &'static str| match payload.get(claim) {
            None => Ok(None),
            Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
            Some(_) => Err(IdentityError::InvalidClaim { claim }),
        };
        let jti = string("jti")?.ok_or(IdentityError::MissingClaim { claim: "jti" })?;
        let sub = string("sub")?;
        let sid = string("sid")?;
        if sub.is_none() && sid.is_none() {
            return Err(IdentityError::MissingClaim { claim: "sid" });
        }
        Ok(LogoutEvent {
            sub,
            sid,
            jti,
            iat: times.iat,
            exp: times.exp,
        })
    }

    /// The RP-initiated logout URL (`end_session_endpoint`). `client_id` is
    /// always sent, so `post_logout_redirect_uri` works without a hint too;
    /// the post-logout URI must be registered exactly.
    pub fn logout_url(
        &self,
        id_token_hint: Option<&str>,
        post_logout_redirect_uri: Option<&str>,
        state: Option<&str>,
    ) -> Result<String, IdentityError> {
        let endpoint = self
            .inner
            .metadata
            .end_session_endpoint
            .as_deref()
            .ok_or_else(|| IdentityError::config("the provider has no end_session_endpoint"))?;
        let mut url = Url::parse(endpoint)
            .map_err(|_| IdentityError::config("end_session_endpoint is not a URL"))?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(h) = id_token_hint {
                q.append_pair("id_token_hint", h);
            }
            q.append_pair("client_id", &self.inner.config.client_id);
            if let Some(p) = post_logout_redirect_uri {
                q.append_pair("post_logout_redirect_uri", p);
            }
            if let Some(s) = state {
                q.append_pair("state", s);
            }
        }
        Ok(url.into())
    }

    // ---- JWS and keys ---------------------------------------------------

    async fn verify_jws(
        &self,
        jwt: &str,
    ) -> Result<(JwsHeader, Map<String, Value>), IdentityError> {
        let header = jose::read_header(jwt, &self.inner.algs)?;
        let mut keys = self.current_keys();
        let now = self.inner.clock.unix_now();
        if !keys.has_key_for(&header) {
            if let Some(fresh) = self.refresh_keys(now, Some(&header)).await? {
                keys = fresh;
            }
        } else if self.is_stale(now) {
            // A failure keeps the cached keys (refresh_keys logs it).
            if let Ok(Some(fresh)) = self.refresh_keys(now, None).await {
                keys = fresh;
            }
        }
        let payload = keys.verify(jwt, &header)?;
        Ok((header, payload))
    }

    /// Whether validating `jwt` would fetch the provider's JWKS first: its
    /// key is not in the cached set and an unknown-key refresh is allowed
    /// (once per `jwks_refresh_min_interval_secs`), or the cached set is
    /// older than `jwks_max_age_secs`. False for a token whose header does
    /// not even parse (its validation fails without a request).
    ///
    /// With [`OidcClient::refresh_keys_for`] and
    /// [`OidcClient::validate_logout_token_with_cached_keys`], for a caller
    /// that sends the requests to the provider through a circuit breaker:
    /// only the fetch goes through it, and a token whose key is cached is
    /// validated even while the provider is down.
    pub fn needs_keys_for(&self, jwt: &str) -> bool {
        let Ok(header) = jose::read_header(jwt, &self.inner.algs) else {
            return false;
        };
        let now = self.inner.clock.unix_now();
        if self.current_keys().has_key_for(&header) {
            return self.is_stale(now);
        }
        match self.inner.refresh.try_lock() {
            Ok(st) => st
                .last_unknown_kid_refresh
                .is_none_or(|t| now - t >= self.inner.config.jwks_refresh_min_interval_secs),
            // Another task is fetching right now.
            Err(_) => true,
        }
    }

    /// Fetches the JWKS when [`OidcClient::needs_keys_for`] says so, so that
    /// validating `jwt` right after makes no request. Fails with the fetch's
    /// error (e.g. [`IdentityError::ProviderUnavailable`]); after a failed
    /// refresh of a set that is only old, validation still uses the old set.
    pub async fn refresh_keys_for(&self, jwt: &str) -> Result<(), IdentityError> {
        let Ok(header) = jose::read_header(jwt, &self.inner.algs) else {
            return Ok(());
        };
        let now = self.inner.clock.unix_now();
        if !self.current_keys().has_key_for(&header) {
            self.refresh_keys(now, Some(&header)).await?;
        } else if self.is_stale(now) {
            self.refresh_keys(now, None).await?;
        }
        Ok(())
    }

    fn current_keys(&self) -> Arc<KeySet> {
        match self.inner.keys.read() {
            Ok(k) => Arc::clone(&k),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    fn is_stale(&self, now: i64) -> bool {
        now - self.inner.keys_fetched_at.load(Ordering::SeqCst)
            > self.inner.config.jwks_max_age_secs
    }

    /// Fetches the JWKS again: for a token whose key is unknown (at most
    /// once per `jwks_refresh_min_interval_secs`), or because the cached
    /// set is old (then a failure keeps the old set, and is returned).
    async fn refresh_keys(
        &self,
        now: i64,
        unknown: Option<&JwsHeader>,
    ) -> Result<Option<Arc<KeySet>>, IdentityError> {
        let mut st = self.inner.refresh.lock().await;
        let cur = self.current_keys();
        match unknown {
            Some(header) => {
                if cur.has_key_for(header) {
                    return Ok(Some(cur)); // another task refreshed meanwhile
                }
                if st
                    .last_unknown_kid_refresh
                    .is_some_and(|t| now - t < self.inner.config.jwks_refresh_min_interval_secs)
                {
                    return Ok(None);
                }
                st.last_unknown_kid_refresh = Some(now);
            }
            None => {
                if !self.is_stale(now) {
                    return Ok(None); // another task refreshed meanwhile
                }
            }
        }
        match fetch_jwks(&self.inner.http, &self.inner.metadata.jwks_uri).await {
            Ok(set) => {
                tracing::info!(
                    keys = set.len(),
                    reason = if unknown.is_some() {
                        "unknown kid"
                    } else {
                        "max age"
                    },
                    "identity provider JWKS refreshed"
                );
                let set = Arc::new(set);
                match self.inner.keys.write() {
                    Ok(mut k) => *k = Arc::clone(&set),
                    Err(poisoned) => *poisoned.into_inner() = Arc::clone(&set),
                }
                self.inner.keys_fetched_at.store(now, Ordering::SeqCst);
                Ok(Some(set))
            }
            Err(e) if unknown.is_some() => Err(e),
            Err(e) => {
                tracing::warn!(error = %e, "identity provider JWKS refresh failed; keeping the cached keys");
                // Try again after the minimum interval, not on every token.
                let cfg = &self.inner.config;
                self.inner.keys_fetched_at.store(
                    now - cfg.jwks_max_age_secs + cfg.jwks_refresh_min_interval_secs,
                    Ordering::SeqCst,
                );
                Err(e)
            }
        }
    }

    /// `iss`, `aud`, `azp`, `iat`, `nbf`; returns `iat` and `exp`.
    fn check_common(&self, p: &Map<String, Value>, now: i64) -> Result<Times, IdentityError> {
        let cfg = &self.inner.config;
        match p.get("iss") {
            None => return Err(IdentityError::MissingClaim { claim: "iss" }),
            Some(Value::String(iss)) if *iss == self.inner.metadata.issuer => {}
            Some(_) => return Err(IdentityError::WrongIssuer),
        }
        let audiences: Vec<&str> = match p.get("aud") {
            None => return Err(IdentityError::MissingClaim { claim: "aud" }),
            Some(Value::String(a)) => vec![a.as_str()],
            Some(Value::Array(list)) => list
                .iter()
                .map(Value::as_str)
                .collect::<Option<Vec<_>>>()
                .ok_or(IdentityError::InvalidClaim { claim: "aud" })?,
            Some(_) => return Err(IdentityError::InvalidClaim { claim: "aud" }),
        };
        if !audiences.contains(&cfg.client_id.as_str()) {
            return Err(IdentityError::WrongAudience);
        }
        match p.get("azp") {
            Some(Value::String(azp)) if *azp == cfg.client_id => {}
            Some(_) => return Err(IdentityError::WrongAuthorizedParty),
            None if audiences.len() > 1 => return Err(IdentityError::WrongAuthorizedParty),
            None => {}
        }
        let date = |claim: &'static str| -> Result<Option<i64>, IdentityError> {
            match p.get(claim) {
                None => Ok(None),
                Some(v) => numeric_date(v)
                    .map(Some)
                    .ok_or(IdentityError::InvalidClaim { claim }),
            }
        };
        let iat = date("iat")?.ok_or(IdentityError::MissingClaim { claim: "iat" })?;
        if iat > now + cfg.leeway_secs {
            return Err(IdentityError::TokenNotYetValid);
        }
        if date("nbf")?.is_some_and(|nbf| nbf > now + cfg.leeway_secs) {
            return Err(IdentityError::TokenNotYetValid);
        }
        Ok(Times {
            iat,
            exp: date("exp")?,
        })
    }
}

struct Times {
    iat: i64,
    exp: Option<i64>,
}

/// Reads `logout_token` from the `application/x-www-form-urlencoded` body
/// the provider POSTs to the back-channel logout URI.
pub fn logout_token_from_form(body: &[u8]) -> Result<String, IdentityError> {
    let mut found = None;
    for (k, v) in url::form_urlencoded::parse(body) {
        if k == "logout_token" {
            if found.is_some() {
                return Err(IdentityError::MalformedToken {
                    reason: "logout_token given twice",
                });
            }
            found = Some(v.into_owned());
        }
    }
    found
        .filter(|t| !t.is_empty())
        .ok_or(IdentityError::MalformedToken {
            reason: "the request has no logout_token",
        })
}

fn is_logout_typ(typ: &str) -> bool {
    typ.eq_ignore_ascii_case("logout+jwt") || typ.eq_ignore_ascii_case("application/logout+jwt")
}

fn random_token(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1).
fn basic_auth(id: &str, secret: &str) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
    )
}

fn json_object(body: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(m)) => Some(m),
        _ => None,
    }
}

/// An OAuth error answer: `Rejected` when it names an error, else by status.
fn error_answer(
    what: &str,
    status: StatusCode,
    body: Option<&Map<String, Value>>,
    www_authenticate: Option<&str>,
) -> IdentityError {
    let from_body = body.and_then(|b| {
        let e = b.get("error")?.as_str()?;
        Some(IdentityError::rejected(
            e,
            b.get("error_description").and_then(Value::as_str),
        ))
    });
    if let Some(e) = from_body {
        return e;
    }
    if let Some(e) = www_authenticate.and_then(|h| auth_param(h, "error")) {
        return IdentityError::rejected(
            &e,
            auth_param(www_authenticate.unwrap_or(""), "error_description").as_deref(),
        );
    }
    if status.is_server_error() {
        IdentityError::unavailable(format!("{what}: HTTP {}", status.as_u16()))
    } else {
        IdentityError::protocol(format!("{what}: HTTP {}", status.as_u16()))
    }
}

/// A quoted parameter of a `WWW-Authenticate: Bearer …` challenge.
fn auth_param(header: &str, name: &str) -> Option<String> {
    let needle = format!("{name}=\"");
    let start = header
        .match_indices(&needle)
        .find(|(i, _)| *i == 0 || header[..*i].ends_with([' ', ',']))?
        .0
        + needle.len();
    let end = header[start..].find('"')?;
    Some(header[start..start + end].to_owned())
}

async fn discover(
    config: &OidcConfig,
    http: &reqwest::Client,
) -> Result<ProviderMetadata, IdentityError> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        config.issuer.trim_end_matches('/')
    );
    let doc = http::get_json(http, &url, "discovery").await?;
    let string = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_owned);
    let required = |k: &'static str| {
        string(k).ok_or_else(|| IdentityError::protocol(format!("discovery: no {k}")))
    };
    if doc
        .get("code_challenge_methods_supported")
        .and_then(Value::as_array)
        .is_some_and(|m| !m.iter().any(|v| v == "S256"))
    {
        return Err(IdentityError::config(
            "the provider does not support PKCE S256",
        ));
    }
    Ok(ProviderMetadata {
        issuer: required("issuer")?,
        authorization_endpoint: required("authorization_endpoint")?,
        token_endpoint: required("token_endpoint")?,
        userinfo_endpoint: string("userinfo_endpoint"),
        jwks_uri: required("jwks_uri")?,
        end_session_endpoint: string("end_session_endpoint"),
        id_token_signing_alg_values_supported: doc
            .get("id_token_signing_alg_values_supported")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_else(|| vec!["RS256".to_owned()]),
        authorization_response_iss_parameter_supported: doc
            .get("authorization_response_iss_parameter_supported")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

async fn fetch_jwks(http: &reqwest::Client, url: &str) -> Result<KeySet, IdentityError> {
    let doc = http::get_json(http, url, "JWKS").await?;
    let set = KeySet::from_jwks(&doc)?;
    if set.len() == 0 {
        return Err(IdentityError::protocol("JWKS has no usable signing key"));
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_form_encodes_first() {
        assert_eq!(
            basic_auth("zhengtong-web", "zhengtong-web-secret"),
            format!(
                "Basic {}",
                STANDARD.encode("zhengtong-web:zhengtong-web-secret")
            )
        );
        // RFC 6749 §2.3.1: ':' and other specials are form-urlencoded.
        assert_eq!(
            basic_auth("a:b", "c d"),
            format!("Basic {}", STANDARD.encode("a%3Ab:c+d"))
        );
    }

    #[test]
    fn www_authenticate_params() {
        let h = r#"Bearer realm="http://127.0.0.1:18083", error="invalid_token", error_description="invalid token provided""#;
        assert_eq!(auth_param(h, "error").as_deref(), Some("invalid_token"));
        assert_eq!(
            auth_param(h, "error_description").as_deref(),
            Some("invalid token provided")
        );
        assert_eq!(auth_param(h, "scope"), None);
    }

    #[test]
    fn logout_token_form() {
        assert_eq!(
            logout_token_from_form(b"logout_token=a.b.c").unwrap(),
            "a.b.c"
        );
        assert!(logout_token_from_form(b"x=1").is_err());
        assert!(logout_token_from_form(b"logout_token=a&logout_token=b").is_err());
        assert!(logout_token_from_form(b"logout_token=").is_err());
    }

    #[test]
    fn pkce_verifier_is_in_the_alphabet() {
        let v = random_token(32);
        assert_eq!(v.len(), 43);
        assert!(v
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)));
    }
}
