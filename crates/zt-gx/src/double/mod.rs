//! An in-process test double of gxpt: an axum server on `127.0.0.1:0` that
//! speaks GX-HMAC-SM3 like the platform — it verifies request signatures,
//! refuses stale timestamps and replayed nonces, decrypts and encrypts the
//! envelope and signs every answer — and implements the six business
//! endpoints over the fixed test records of gxpt.md §5 (P01–P10, E01–E05
//! and their licences), with idempotent pushes and reconciliation.
//!
//! Faults can be switched on at run time, randomly ([`Faults`], as the
//! sandbox's `/sandbox/faults`) or for the next requests exactly
//! ([`GxptDouble::inject`]): `503`, `500`, dropped connections (with or
//! without a hang), delays, lost acknowledgements (stored, then the
//! connection is closed without an answer) and forged answers (altered
//! body, wrong signature, no signature).
//!
//! Compiled for this crate's tests and with the `double` feature.

mod refdata;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use axum::Router;
use chrono::{DateTime, NaiveDate};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tower::ServiceExt as _;

use crate::gxpt::{paths, validate, CaseEventKind};
use crate::scheme::{self, Credentials};
use crate::{Clock, SystemClock};

/// gxpt's request body limit.
pub const MAX_BODY: usize = 4 << 20;

/// Random faults, applied to every authenticated business request whose
/// path is in `paths` (all when `None`), in the sandbox's order: sleep
/// `delay`; draw `r` in [0, 1): `r < drop_rate` → hold `hang`, then close
/// the connection without a byte of answer; else `r < drop_rate +
/// error_rate` → `503 GX_UNAVAILABLE`; in both cases nothing is processed.
/// Otherwise process, and a `200` answer is lost (connection closed, effect
/// kept) with probability `lost_ack_rate`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Faults {
    pub error_rate: f64,
    pub drop_rate: f64,
    pub hang: Duration,
    pub delay: Duration,
    pub lost_ack_rate: f64,
    pub paths: Option<Vec<String>>,
    /// Seeds the draws, for repeatable sequences.
    pub seed: Option<u64>,
}

/// One fault for one request, see [`GxptDouble::inject`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `503 GX_UNAVAILABLE`, signed, not processed.
    Unavailable,
    /// `500 GX_INTERNAL`, signed, not processed.
    Internal,
    /// Close the connection without answering, not processed.
    Drop,
    /// Hold the request this long, then drop it, not processed.
    Hang(Duration),
    /// Wait this long, then process normally.
    Delay(Duration),
    /// Process (a push is stored), then close without answering a `200`.
    LostAck,
    /// Process, sign, then alter one byte of the body.
    TamperBody,
    /// Process, then sign with another secret.
    BadSignature,
    /// Process, answer without `X-Gx-Signature`.
    Unsigned,
}

/// What the faults did since the last reset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounters {
    /// Authenticated business requests.
    pub requests: u64,
    pub delayed: u64,
    pub errors: u64,
    pub drops: u64,
    pub lost_acks: u64,
    pub forged: u64,
}

/// A push the double accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPush {
    pub receipt_id: String,
    pub app_key: String,
    pub case_no: String,
    pub seq: u32,
    pub content_sm3: String,
    /// The reconciliation day (UTC+08:00) of `occurred_at`.
    pub occurred_date: NaiveDate,
    /// The eight members as received.
    pub record: Value,
}

/// Options of [`GxptDouble::start_with`].
#[derive(Clone)]
pub struct DoubleOptions {
    /// Registered applications; requests of others are `GX_APP_UNKNOWN`.
    pub apps: Vec<Credentials>,
    /// The double's "server time" (for the ±300 s rule and its answers).
    pub clock: Arc<dyn Clock>,
}

impl Default for DoubleOptions {
    fn default() -> Self {
        Self {
            apps: vec![Credentials::sandbox_default()],
            clock: Arc::new(SystemClock),
        }
    }
}

/// A running double; stops when dropped.
pub struct GxptDouble {
    addr: SocketAddr,
    state: Arc<Shared>,
    accept: JoinHandle<()>,
}

impl std::fmt::Debug for GxptDouble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GxptDouble")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

struct Shared {
    apps: HashMap<String, Credentials>,
    clock: Arc<dyn Clock>,
    m: Mutex<Mutable>,
}

struct Mutable {
    nonces: HashMap<(String, String), i64>,
    last_purge_ms: i64,
    pushes: Vec<StoredPush>,
    index: HashMap<(String, String, u32), usize>,
    faults: Faults,
    rng: StdRng,
    script: VecDeque<Fault>,
    counters: FaultCounters,
}

impl Mutable {
    fn new() -> Self {
        Self {
            nonces: HashMap::new(),
            last_purge_ms: 0,
            pushes: Vec::new(),
            index: HashMap::new(),
            faults: Faults::default(),
            rng: StdRng::from_entropy(),
            script: VecDeque::new(),
            counters: FaultCounters::default(),
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Mutable> {
        // A panicking test thread must not take the double down with it.
        self.m.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn now_ms(&self) -> i64 {
        crate::now_ms(&*self.clock)
    }
}

impl GxptDouble {
    /// Starts with the sandbox's default test application and the system
    /// clock.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_with(DoubleOptions::default()).await
    }

    pub async fn start_with(options: DoubleOptions) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Shared {
            apps: options
                .apps
                .into_iter()
                .map(|c| (c.app_key().to_owned(), c))
                .collect(),
            clock: options.clock,
            m: Mutex::new(Mutable::new()),
        });
        let router = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&state));
        let accept = tokio::spawn(accept_loop(listener, router));
        Ok(Self {
            addr,
            state,
            accept,
        })
    }

    /// `http://127.0.0.1:<port>`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces the random fault configuration (`Faults::default()` = off).
    pub fn set_faults(&self, faults: Faults) {
        let mut m = self.state.lock();
        m.rng = match faults.seed {
            Some(s) => StdRng::seed_from_u64(s),
            None => StdRng::from_entropy(),
        };
        m.faults = faults;
    }

    /// Queues faults for the next authenticated business requests, one
    /// each, in order (before and instead of the random faults).
    pub fn inject(&self, faults: impl IntoIterator<Item = Fault>) {
        self.state.lock().script.extend(faults);
    }

    pub fn counters(&self) -> FaultCounters {
        self.state.lock().counters
    }

    /// Every accepted push, in acceptance order, each once.
    pub fn received(&self) -> Vec<StoredPush> {
        self.state.lock().pushes.clone()
    }

    /// Forgets pushes, nonces, faults and counters (as `/sandbox/reset`).
    pub fn reset(&self) {
        *self.state.lock() = Mutable::new();
    }
}

impl Drop for GxptDouble {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which aborts every
        // connection task.
        self.accept.abort();
    }
}

/// Extension of every request: closes its connection without an answer.
#[derive(Clone)]
struct Kill(Arc<Notify>);

async fn accept_loop(listener: TcpListener, router: Router) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let kill = Arc::new(Notify::new());
                let k = Kill(Arc::clone(&kill));
                let svc = router.clone().map_request(move |mut req: Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(k.clone());
                    req
                });
                conns.spawn(async move {
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc));
                    tokio::select! {
                        _ = conn => {}
                        // Dropping the connection closes the socket; nothing
                        // more is written.
                        _ = kill.notified() => {}
                    }
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// An error answer: status, code, message.
struct ApiError(StatusCode, &'static str, String);

fn bad_param(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, "GX_BAD_PARAM", msg.into())
}

enum Outcome {
    Answer(StatusCode, Vec<u8>),
    Drop,
}

async fn handle(State(st): State<Arc<Shared>>, req: Request) -> Response {
    let kill = req.extensions().get::<Kill>().cloned();
    let headers = req.headers().clone();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let req_nonce = header(scheme::HEADER_NONCE).unwrap_or("").to_owned();
    let app = header(scheme::HEADER_APP_KEY)
        .and_then(|k| st.apps.get(k))
        .cloned();

    let (outcome, forge) = match process(&st, req, app.as_ref()).await {
        Ok(x) => x,
        Err(ApiError(status, code, message)) => {
            let body =
                serde_json::to_vec(&json!({"code": code, "message": message})).unwrap_or_default();
            (Outcome::Answer(status, body), None)
        }
    };
    match outcome {
        Outcome::Drop => {
            if let Some(Kill(k)) = kill {
                k.notify_one();
            }
            // The connection task drops this future with the connection.
            std::future::pending::<Response>().await
        }
        Outcome::Answer(status, body) => {
            if forge.is_some() {
                st.lock().counters.forged += 1;
            }
            signed_response(&st, app.as_ref(), &req_nonce, status, body, forge)
        }
    }
}

fn signed_response(
    st: &Shared,
    app: Option<&Credentials>,
    req_nonce: &str,
    status: StatusCode,
    mut body: Vec<u8>,
    forge: Option<Fault>,
) -> Response {
    let ts = scheme::format_timestamp(st.now_ms()).unwrap_or_default();
    let nonce = scheme::new_nonce();
    let mut h = HeaderMap::new();
    h.insert(
        "content-type",
        HeaderValue::from_static(scheme::CONTENT_TYPE_JSON),
    );
    h.insert("cache-control", HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&ts) {
        h.insert(scheme::HEADER_TIMESTAMP, v);
    }
    if let Ok(v) = HeaderValue::from_str(&nonce) {
        h.insert(scheme::HEADER_NONCE, v);
    }
    if let Some(app) = app {
        let signer = match forge {
            Some(Fault::BadSignature) => Credentials::new(
                app.app_key(),
                "forged-secret",
                "00000000000000000000000000000000",
            )
            .unwrap_or_else(|_| app.clone()),
            _ => app.clone(),
        };
        let sig =
            scheme::response_signature(&signer, status.as_u16(), req_nonce, &ts, &nonce, &body);
        if forge != Some(Fault::Unsigned) {
            if let Ok(v) = HeaderValue::from_str(&sig) {
                h.insert(scheme::HEADER_SIGNATURE, v);
            }
        }
        if forge == Some(Fault::TamperBody) {
            // Alter one character inside the body after signing.
            if let Some(i) = body.iter().rposition(|b| b.is_ascii_alphanumeric()) {
                body[i] = if body[i] == b'A' { b'B' } else { b'A' };
            }
        }
    }
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    *resp.headers_mut() = h;
    resp
}

/// §3.4 checks 1–12 in order; then the faults and the endpoint.
async fn process(
    st: &Shared,
    req: Request,
    app: Option<&Credentials>,
) -> Result<(Outcome, Option<Fault>), ApiError> {
    let path = req.uri().path().to_owned();
    let target = req
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str().to_owned())
        .unwrap_or_else(|| path.clone());
    if !paths::ALL.contains(&path.as_str()) {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            "GX_NO_ROUTE",
            format!("接口不存在 (no such endpoint: {path})"),
        ));
    }
    if req.method() != Method::POST {
        return Err(ApiError(
            StatusCode::METHOD_NOT_ALLOWED,
            "GX_METHOD_NOT_ALLOWED",
            "仅支持 POST (only POST is allowed)".into(),
        ));
    }
    let headers = req.headers();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let auth_err = |m: &str| ApiError(StatusCode::UNAUTHORIZED, "GX_AUTH_HEADER", m.to_owned());
    if header(scheme::HEADER_APP_KEY).is_none_or(str::is_empty) {
        return Err(auth_err("缺少 X-Gx-AppKey (missing X-Gx-AppKey)"));
    }
    let Some(app) = app else {
        return Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "GX_APP_UNKNOWN",
            "应用未注册 (unknown app key)".into(),
        ));
    };
    let Some(ts) =
        header(scheme::HEADER_TIMESTAMP).filter(|t| scheme::parse_timestamp(t).is_some())
    else {
        return Err(auth_err(
            "X-Gx-Timestamp 缺失或格式错误 (missing or malformed X-Gx-Timestamp)",
        ));
    };
    let ts = ts.to_owned();
    let Some(nonce) = header(scheme::HEADER_NONCE).filter(|n| scheme::is_valid_nonce(n)) else {
        return Err(auth_err(
            "X-Gx-Nonce 缺失或格式错误 (missing or malformed X-Gx-Nonce)",
        ));
    };
    let nonce = nonce.to_owned();
    let Some(sig) = header(scheme::HEADER_SIGNATURE) else {
        return Err(auth_err("缺少 X-Gx-Signature (missing X-Gx-Signature)"));
    };
    let sig = sig.to_owned();
    let chunked =
        header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let length = header("content-length");
    if chunked || length.is_none() {
        return Err(ApiError(
            StatusCode::LENGTH_REQUIRED,
            "GX_LENGTH_REQUIRED",
            "缺少 Content-Length (Content-Length required)".into(),
        ));
    }
    let Some(length) = length.and_then(|l| l.parse::<usize>().ok()) else {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "GX_BAD_REQUEST",
            "Content-Length 无效 (bad Content-Length)".into(),
        ));
    };
    if length > MAX_BODY {
        return Err(ApiError(
            StatusCode::PAYLOAD_TOO_LARGE,
            "GX_TOO_LARGE",
            format!("请求体超过 {MAX_BODY} 字节 (request body too large)"),
        ));
    }
    let body = axum::body::to_bytes(req.into_body(), MAX_BODY)
        .await
        .map_err(|_| ApiError(StatusCode::BAD_REQUEST, "GX_BAD_REQUEST", "body".into()))?;
    if !scheme::verify_request_signature(app, "POST", &target, &ts, &nonce, &body, &sig) {
        return Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "GX_BAD_SIGNATURE",
            "签名校验失败 (signature mismatch)".into(),
        ));
    }
    let now = st.now_ms();
    let ts_ms = scheme::parse_timestamp(&ts).unwrap_or_default();
    if !scheme::within_clock_skew(now, ts_ms) {
        return Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "GX_STALE",
            "请求时间戳超出允许范围±300秒 (timestamp outside ±300 s)".into(),
        ));
    }
    // Check 9: the nonce is consumed here, whatever happens afterwards.
    let (fault, delay) = {
        let mut m = st.lock();
        if now - m.last_purge_ms > 10_000 {
            m.nonces.retain(|_, exp| *exp > now);
            m.last_purge_ms = now;
        }
        let key = (app.app_key().to_owned(), nonce.clone());
        if m.nonces.get(&key).is_some_and(|exp| *exp > now) {
            return Err(ApiError(
                StatusCode::UNAUTHORIZED,
                "GX_REPLAY",
                "请求重放：随机数已使用 (nonce already used)".into(),
            ));
        }
        m.nonces.insert(key, now + scheme::NONCE_TTL_MS);
        draw_fault(&mut m, &path)
    };

    // Check 10: faults.
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    match fault {
        Some(Fault::Drop) => return Ok((Outcome::Drop, None)),
        Some(Fault::Hang(d)) => {
            tokio::time::sleep(d).await;
            return Ok((Outcome::Drop, None));
        }
        Some(Fault::Unavailable) => {
            return Err(ApiError(
                StatusCode::SERVICE_UNAVAILABLE,
                "GX_UNAVAILABLE",
                "服务暂不可用，请稍后重试 (service unavailable, retry later)".into(),
            ))
        }
        Some(Fault::Internal) => {
            return Err(ApiError(
                StatusCode::INTERNAL_SERVER_ERROR,
                "GX_INTERNAL",
                "内部错误 (internal error)".into(),
            ))
        }
        _ => {}
    }

    // Check 11: the envelope.
    let plaintext = scheme::open_envelope(app, &body).map_err(|e| {
        ApiError(
            StatusCode::BAD_REQUEST,
            "GX_BAD_ENVELOPE",
            format!("报文信封无效：{e}"),
        )
    })?;
    let payload = crate::json::parse_strict_object(&plaintext).map_err(|e| {
        ApiError(
            StatusCode::BAD_REQUEST,
            "GX_BAD_ENVELOPE",
            format!("解密后的报文不是合法 JSON 对象：{e}"),
        )
    })?;

    // Check 12: the endpoint.
    let result = endpoint(st, app.app_key(), &path, &payload, now)?;
    let plain = serde_json::to_vec(&result).unwrap_or_default();
    let sealed = scheme::seal_envelope(app, &plain);
    let lost_ack = match fault {
        Some(Fault::LostAck) => true,
        None => {
            let mut m = st.lock();
            let rate = m.faults.lost_ack_rate;
            let applies = applies(&m.faults, &path);
            applies && rate > 0.0 && m.rng.gen::<f64>() < rate
        }
        _ => false,
    };
    if lost_ack {
        st.lock().counters.lost_acks += 1;
        return Ok((Outcome::Drop, None));
    }
    let forge =
        fault.filter(|f| matches!(f, Fault::TamperBody | Fault::BadSignature | Fault::Unsigned));
    Ok((Outcome::Answer(StatusCode::OK, sealed), forge))
}

fn applies(f: &Faults, path: &str) -> bool {
    f.paths
        .as_ref()
        .is_none_or(|ps| ps.iter().any(|p| p == path))
}

/// The fault of one authenticated request: the next scripted one, else a
/// random draw, with the delay to apply first.
fn draw_fault(m: &mut Mutable, path: &str) -> (Option<Fault>, Duration) {
    m.counters.requests += 1;
    if let Some(f) = m.script.pop_front() {
        match f {
            Fault::Unavailable | Fault::Internal => m.counters.errors += 1,
            Fault::Drop | Fault::Hang(_) => m.counters.drops += 1,
            Fault::Delay(d) => {
                m.counters.delayed += 1;
                return (None, d);
            }
            _ => {}
        }
        return (Some(f), Duration::ZERO);
    }
    if !applies(&m.faults, path) {
        return (None, Duration::ZERO);
    }
    let delay = m.faults.delay;
    if !delay.is_zero() {
        m.counters.delayed += 1;
    }
    let r: f64 = m.rng.gen();
    if r < m.faults.drop_rate {
        m.counters.drops += 1;
        return (Some(Fault::Hang(m.faults.hang)), delay);
    }
    if r < m.faults.drop_rate + m.faults.error_rate {
        m.counters.errors += 1;
        return (Some(Fault::Unavailable), delay);
    }
    (None, delay)
}

// ---------------------------------------------------------------------------
// Endpoints
// ---------------------------------------------------------------------------

fn only_fields(
    p: &Map<String, Value>,
    required: &[&str],
    optional: &[&str],
) -> Result<(), ApiError> {
    let mut unknown: Vec<&str> = p
        .keys()
        .map(String::as_str)
        .filter(|k| !required.contains(k) && !optional.contains(k))
        .collect();
    unknown.sort_unstable();
    if !unknown.is_empty() {
        return Err(bad_param(format!(
            "不支持的字段 (unknown fields): {}",
            unknown.join(", ")
        )));
    }
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|f| !p.contains_key(*f))
        .collect();
    if !missing.is_empty() {
        return Err(bad_param(format!(
            "缺少必填字段 (missing fields): {}",
            missing.join(", ")
        )));
    }
    Ok(())
}

fn id_number_field<'a>(p: &'a Map<String, Value>, name: &str) -> Result<&'a str, ApiError> {
    p.get(name)
        .and_then(Value::as_str)
        .filter(|s| validate::is_valid_id_number(s))
        .ok_or_else(|| {
            bad_param(format!(
                "{name} is not a valid 18-character citizen ID number"
            ))
        })
}

fn endpoint(
    st: &Shared,
    app_key: &str,
    path: &str,
    p: &Map<String, Value>,
    now_ms: i64,
) -> Result<Value, ApiError> {
    match path {
        paths::POPULATION_VERIFY => {
            only_fields(p, &["id_number", "name"], &[])?;
            let id = id_number_field(p, "id_number")?;
            let name = p
                .get("name")
                .and_then(Value::as_str)
                .filter(|n| (1..=64).contains(&n.chars().count()))
                .ok_or_else(|| bad_param("name must be a string of 1-64 characters"))?;
            let matched = refdata::PERSONS.iter().any(|r| r.1 == id && r.2 == name);
            Ok(json!({ "match": matched }))
        }
        paths::POPULATION_QUERY => {
            only_fields(p, &["id_number"], &[])?;
            let id = id_number_field(p, "id_number")?;
            let r = refdata::PERSONS.iter().find(|r| r.1 == id).ok_or_else(|| {
                ApiError(
                    StatusCode::NOT_FOUND,
                    "GX_NOT_FOUND",
                    "未查询到该人员 (no such person)".into(),
                )
            })?;
            Ok(json!({"person": {
                "id_number": r.1, "name": r.2, "gender": r.3, "birth_date": r.4,
                "ethnicity": r.5, "address": r.7, "division_code": r.6, "alive": r.8,
            }}))
        }
        paths::ENTERPRISE_QUERY => {
            only_fields(p, &["uscc"], &[])?;
            let u = p
                .get("uscc")
                .and_then(Value::as_str)
                .filter(|u| validate::is_valid_uscc(u))
                .ok_or_else(|| bad_param("uscc is not a valid unified social credit code"))?;
            let r = refdata::ENTERPRISES
                .iter()
                .find(|r| r.1 == u)
                .ok_or_else(|| {
                    ApiError(
                        StatusCode::NOT_FOUND,
                        "GX_NOT_FOUND",
                        "未查询到该企业 (no such enterprise)".into(),
                    )
                })?;
            Ok(json!({"enterprise": {
                "uscc": r.1, "name": r.2, "legal_representative": r.3, "status": r.4,
                "registered_capital_cny": r.5, "established_date": r.6, "address": r.7,
            }}))
        }
        paths::LICENSES_QUERY => {
            only_fields(p, &["holder_id"], &["license_type"])?;
            let holder = p
                .get("holder_id")
                .and_then(Value::as_str)
                .filter(|h| validate::is_valid_id_number(h) || validate::is_valid_uscc(h))
                .ok_or_else(|| {
                    bad_param(
                        "holder_id must be a valid citizen ID number or unified social credit code",
                    )
                })?;
            let lt = match p.get("license_type") {
                None => None,
                Some(Value::String(s))
                    if crate::gxpt::LicenseType::ALL
                        .iter()
                        .any(|t| t.as_str() == s) =>
                {
                    Some(s.as_str())
                }
                Some(_) => return Err(bad_param("license_type must be one of the five types")),
            };
            let mut rows: Vec<_> = refdata::LICENSES
                .iter()
                .filter(|r| r.0 == holder && lt.is_none_or(|t| t == r.1))
                .collect();
            rows.sort_by(|a, b| (a.4, a.2).cmp(&(b.4, b.2)));
            let holder_name = refdata::holder_name(holder).unwrap_or_default();
            let list: Vec<Value> = rows
                .into_iter()
                .map(|r| {
                    json!({
                        "license_no": r.2, "license_type": r.1, "holder_id": r.0,
                        "holder_name": holder_name, "issuer": r.3, "issued_date": r.4,
                        "valid_until": r.5,
                    })
                })
                .collect();
            Ok(json!({ "licenses": list }))
        }
        paths::CASES_PUSH => push(st, app_key, p, now_ms),
        paths::CASES_RECONCILE => reconcile(st, app_key, p),
        _ => Err(ApiError(
            StatusCode::NOT_FOUND,
            "GX_NO_ROUTE",
            "no such endpoint".into(),
        )),
    }
}

const PUSH_FIELDS: [&str; 8] = [
    "case_no",
    "seq",
    "event",
    "occurred_at",
    "item_code",
    "dept_code",
    "applicant_id",
    "payload",
];

fn push(
    st: &Shared,
    app_key: &str,
    p: &Map<String, Value>,
    now_ms: i64,
) -> Result<Value, ApiError> {
    only_fields(p, &PUSH_FIELDS, &[])?;
    let case_no = p["case_no"]
        .as_str()
        .filter(|c| validate::is_valid_case_no(c))
        .ok_or_else(|| bad_param("case_no must match [A-Za-z0-9][A-Za-z0-9._/-]{0,63}"))?;
    let seq = p["seq"]
        .as_u64()
        .filter(|s| (1..=2_147_483_647).contains(s))
        .and_then(|s| u32::try_from(s).ok())
        .ok_or_else(|| bad_param("seq must be an integer in 1..2147483647"))?;
    if p["event"].as_str().and_then(CaseEventKind::parse).is_none() {
        return Err(bad_param("event must be one of the ten event codes"));
    }
    let occurred = p["occurred_at"]
        .as_str()
        .and_then(validate::parse_occurred_at)
        .ok_or_else(|| bad_param("occurred_at must be an RFC 3339 date-time with offset"))?;
    for name in ["item_code", "dept_code"] {
        if !p[name].as_str().is_some_and(validate::is_valid_code) {
            return Err(bad_param(format!(
                "{name} must match [A-Za-z0-9][A-Za-z0-9._-]{{0,63}}"
            )));
        }
    }
    if !p["applicant_id"]
        .as_str()
        .is_some_and(|a| validate::is_valid_id_number(a) || validate::is_valid_uscc(a))
    {
        return Err(bad_param(
            "applicant_id must be a valid citizen ID number or unified social credit code",
        ));
    }
    if !p["payload"].is_object() {
        return Err(bad_param("payload must be a JSON object"));
    }
    validate::check_payload_value(&p["payload"], "payload", 0).map_err(bad_param)?;
    let record = Value::Object(
        PUSH_FIELDS
            .iter()
            .map(|k| ((*k).to_owned(), p[*k].clone()))
            .collect(),
    );
    let canonical = crate::gxpt::canonical_record(&record);
    if canonical.len() > validate::MAX_CANONICAL_RECORD {
        return Err(bad_param("canonical record larger than 65536 bytes"));
    }
    let content_sm3 = zt_crypto::sm3_hex(&canonical);
    let beijing = zt_domain::time::beijing();
    let occurred_date = occurred.with_timezone(&beijing).date_naive();

    let mut m = st.lock();
    let key = (app_key.to_owned(), case_no.to_owned(), seq);
    if let Some(&i) = m.index.get(&key) {
        let existing = &m.pushes[i];
        if existing.content_sm3 == content_sm3 {
            return Ok(json!({ "receipt_id": existing.receipt_id }));
        }
        return Err(ApiError(
            StatusCode::CONFLICT,
            "GX_CONFLICT",
            format!(
                "办件 {case_no} 序号 {seq} 已以不同内容推送 (case_no/seq already pushed with different content; receipt {})",
                existing.receipt_id
            ),
        ));
    }
    let day = DateTime::from_timestamp_millis(now_ms)
        .map(|t| t.with_timezone(&beijing).format("%Y%m%d").to_string())
        .unwrap_or_default();
    let receipt_id = format!("GXR{day}{:012X}", m.rng.gen::<u64>() & 0xffff_ffff_ffff);
    m.pushes.push(StoredPush {
        receipt_id: receipt_id.clone(),
        app_key: app_key.to_owned(),
        case_no: case_no.to_owned(),
        seq,
        content_sm3,
        occurred_date,
        record,
    });
    let i = m.pushes.len() - 1;
    m.index.insert(key, i);
    Ok(json!({ "receipt_id": receipt_id }))
}

fn reconcile(st: &Shared, app_key: &str, p: &Map<String, Value>) -> Result<Value, ApiError> {
    only_fields(p, &["date"], &["include_entries"])?;
    let date = p["date"]
        .as_str()
        .filter(|d| {
            let b = d.as_bytes();
            b.len() == 10
                && b[4] == b'-'
                && b[7] == b'-'
                && b.iter()
                    .enumerate()
                    .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
        })
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .ok_or_else(|| bad_param("date must be YYYY-MM-DD"))?;
    let include = match p.get("include_entries") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(bad_param("include_entries must be a boolean")),
    };
    let entries: Vec<crate::gxpt::ReconcileEntry> = st
        .lock()
        .pushes
        .iter()
        .filter(|e| e.app_key == app_key && e.occurred_date == date)
        .map(|e| crate::gxpt::ReconcileEntry {
            case_no: e.case_no.clone(),
            seq: e.seq,
            content_sm3: e.content_sm3.clone(),
        })
        .collect();
    let d = crate::gxpt::day_digest(&entries);
    let mut out = json!({
        "date": date.format("%Y-%m-%d").to_string(),
        "count": d.count,
        "digest": d.digest,
    });
    if include {
        out["entries"] = serde_json::to_value(crate::gxpt::digest_order(&entries))
            .unwrap_or(Value::Array(Vec::new()));
    }
    Ok(out)
}
