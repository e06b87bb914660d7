//! What the platform knows about each counterpart — the data-sharing
//! platform (`gxpt`), the e-seal service (`eseal`) and the unified identity
//! platform (`identity`): how it is connected, its circuit breaker, the last
//! success and the last failure. One [`Integrations`] per [`App`]
//! (`app.integrations`); `/readyz`, `/metrics` and `/admin/integrations`
//! read it.
//!
//! # Using it from a client
//!
//! 1. At start-up, say how the counterpart is connected:
//!    `let breaker = app.integrations.register(ESEAL, Mode::remote(url));`
//!    ([`Mode::Builtin`] for an in-process stand-in; a counterpart never
//!    registered shows as [`Mode::NotConfigured`]). Registering again keeps
//!    the breaker and its history, so every client of a counterpart can
//!    register it and they all share one breaker.
//! 2. Either hand the breaker to a client that uses it itself —
//!    `zt_gx::GxClient::with_breaker` / `zt_gx::eseal::EsealClient::with_breaker`
//!    check it before each call and report each call's outcome to it — and
//!    count the call with `app.metrics.call(name, took, ok)` as before
//!    (skip calls refused by an open breaker: no request was made);
//! 3. or, for a client without breaker support, ask and report here:
//!    [`Integrations::admit`] before the call (fail at once when it says
//!    [`Admission::Rejected`]), then [`Integrations::record`] with how long it
//!    took and an [`Outcome`]: `Success`, `Refused(text)` for an answer that
//!    refuses (4xx: the counterpart is up; this never opens the breaker) or
//!    `Unavailable(text)` for 5xx, time-outs and connection errors. `record`
//!    also counts the call in the metrics.
//!
//! Error texts are shown to administrators: pass the client's own error
//! `Display` (none of ours carries a secret); they are shortened, control
//! characters dropped and credentials or query strings in URLs blanked out
//! all the same.
//!
//! [`App`]: crate::App

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

pub use zt_domain::breaker::{Admission, Breaker, Outcome, Policy, Snapshot, State};
use zt_domain::time::Clock;

use crate::metrics::Metrics;

pub const GXPT: &str = "gxpt";
pub const ESEAL: &str = "eseal";
pub const IDENTITY: &str = "identity";

/// The counterparts every deployment has, shown even when not configured.
pub const KNOWN: [&str; 3] = [GXPT, ESEAL, IDENTITY];

/// The counterpart's name for people.
pub fn label_zh(name: &str) -> &'static str {
    match name {
        GXPT => "数据共享交换平台",
        ESEAL => "电子签章服务",
        IDENTITY => "统一身份认证平台",
        _ => "其他对接系统",
    }
}

/// How a counterpart is connected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    NotConfigured,
    /// An in-process stand-in (`zhengtong demo`, `gxpt_url = "builtin"`).
    Builtin,
    /// The counterpart at this URL (without credentials or query).
    Remote(String),
}

impl Mode {
    /// A remote counterpart; user information, query and fragment are
    /// removed from the URL, which administrators and logs will see.
    pub fn remote(url: &str) -> Self {
        Mode::Remote(display_url(url))
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Mode::NotConfigured => "not_configured",
            Mode::Builtin => "builtin",
            Mode::Remote(_) => "remote",
        }
    }

    pub fn label_zh(&self) -> &'static str {
        match self {
            Mode::NotConfigured => "未配置",
            Mode::Builtin => "内置模拟",
            Mode::Remote(_) => "远程",
        }
    }

    pub fn url(&self) -> Option<&str> {
        match self {
            Mode::Remote(u) => Some(u),
            _ => None,
        }
    }
}

struct Entry {
    mode: Mode,
    breaker: Arc<Breaker>,
}

/// One counterpart, as [`Integrations::status`] reports it.
#[derive(Debug, Clone)]
pub struct Status {
    pub name: String,
    pub mode: Mode,
    pub breaker: Snapshot,
    /// Calls and failed calls since start (from [`Metrics`]).
    pub calls: u64,
    pub errors: u64,
}

impl Status {
    /// `not_configured`, or the breaker's state (`closed`, `open`,
    /// `half_open`).
    pub fn state_str(&self) -> &'static str {
        match self.mode {
            Mode::NotConfigured => "not_configured",
            _ => self.breaker.state.as_str(),
        }
    }

    /// 未配置, 正常, 熔断中, 试探恢复中.
    pub fn state_label_zh(&self) -> &'static str {
        match self.mode {
            Mode::NotConfigured => "未配置",
            _ => self.breaker.state.label_zh(),
        }
    }

    /// The probe view: no URL and no error text (`/readyz` answers anyone).
    pub fn public_json(&self) -> serde_json::Value {
        serde_json::json!({
            "mode": self.mode.as_str(),
            "state": self.state_str(),
            "consecutive_failures": self.breaker.consecutive_failures,
            "retry_at": self.breaker.retry_at.map(zt_store::time::ts),
            "last_success_at": self.breaker.last_success_at.map(zt_store::time::ts),
            "last_failure_at": self.breaker.last_failure_at.map(zt_store::time::ts),
        })
    }
}

/// The registry. See the module documentation.
pub struct Integrations {
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    policy: Policy,
    entries: RwLock<BTreeMap<String, Entry>>,
}

impl std::fmt::Debug for Integrations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Integrations").finish_non_exhaustive()
    }
}

impl Integrations {
    /// The registry of an application, with the default [`Policy`]; breakers
    /// read `clock` (tests move it through a cool-down).
    pub fn new(clock: Arc<dyn Clock>, metrics: Arc<Metrics>) -> Self {
        Self::with_policy(clock, metrics, Policy::default())
    }

    pub fn with_policy(clock: Arc<dyn Clock>, metrics: Arc<Metrics>, policy: Policy) -> Self {
        let me = Self {
            clock,
            metrics,
            policy,
            entries: RwLock::new(BTreeMap::new()),
        };
        for name in KNOWN {
            me.entry(name);
        }
        me
    }

    pub fn policy(&self) -> Policy {
        self.policy
    }

    fn entry(&self, name: &str) -> Arc<Breaker> {
        if let Some(e) = self.read().get(name) {
            return e.breaker.clone();
        }
        let mut g = self.write();
        g.entry(name.to_string())
            .or_insert_with(|| Entry {
                mode: Mode::NotConfigured,
                breaker: Arc::new(Breaker::new(name, self.policy, self.clock.clone())),
            })
            .breaker
            .clone()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Entry>> {
        // Every write below leaves the map whole.
        self.entries.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Entry>> {
        self.entries.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Says how `name` is connected; returns its breaker (the same one on
    /// every call, so that all clients of a counterpart share it).
    pub fn register(&self, name: &str, mode: Mode) -> Arc<Breaker> {
        let breaker = self.entry(name);
        if mode != Mode::NotConfigured {
            // Prometheus wants a series from the start, not from the first call.
            self.metrics.touch_counterpart(name);
        }
        if let Some(e) = self.write().get_mut(name) {
            e.mode = mode;
        }
        breaker
    }

    /// The breaker of `name` (registered as not configured if unknown).
    pub fn breaker(&self, name: &str) -> Arc<Breaker> {
        self.entry(name)
    }

    pub fn mode(&self, name: &str) -> Mode {
        self.read()
            .get(name)
            .map(|e| e.mode.clone())
            .unwrap_or(Mode::NotConfigured)
    }

    /// May a call to `name` go ahead? See [`Breaker::admit`].
    pub fn admit(&self, name: &str) -> Admission {
        self.entry(name).admit()
    }

    /// Reports a call to `name` that was made: counts it in the metrics and
    /// tells the breaker.
    pub fn record(&self, name: &str, took: Duration, outcome: Outcome<'_>) {
        self.metrics
            .call(name, took, matches!(outcome, Outcome::Success));
        let breaker = self.entry(name);
        let was = breaker.state();
        match outcome {
            Outcome::Success => breaker.record(Outcome::Success),
            Outcome::Refused(t) => breaker.record(Outcome::Refused(&clean_error(t))),
            Outcome::Unavailable(t) => {
                let text = clean_error(t);
                breaker.record(Outcome::Unavailable(&text));
                if was != State::Open && breaker.state() == State::Open {
                    tracing::error!(counterpart = name, error = %text, "circuit breaker opened: calls fail at once until the service answers a probe");
                }
            }
        }
    }

    /// Every counterpart, the known ones first.
    pub fn status(&self) -> Vec<Status> {
        let g = self.read();
        let mut names: Vec<&String> = g.keys().collect();
        names.sort_by_key(|n| {
            (
                KNOWN.iter().position(|k| k == n).unwrap_or(KNOWN.len()),
                n.as_str(),
            )
        });
        names
            .into_iter()
            .filter_map(|n| g.get(n).map(|e| (n, e)))
            .map(|(name, e)| {
                let (calls, errors) = self.metrics.counterpart_totals(name);
                let mut breaker = e.breaker.snapshot();
                breaker.last_error = breaker.last_error.as_deref().map(clean_error);
                Status {
                    name: name.clone(),
                    mode: e.mode.clone(),
                    breaker,
                    calls,
                    errors,
                }
            })
            .collect()
    }

    /// Gauges for `/metrics`: the breaker's state (0 closed, 1 half-open,
    /// 2 open; absent when not configured), calls it refused, and the time
    /// of the last success.
    pub fn metric_lines(&self) -> Vec<(String, String, f64)> {
        let mut out = Vec::new();
        for s in self.status() {
            if s.mode == Mode::NotConfigured {
                continue;
            }
            let label = format!("counterpart=\"{}\"", s.name);
            out.push((
                "zt_counterpart_breaker_state".to_string(),
                label.clone(),
                f64::from(s.breaker.state.gauge()),
            ));
            out.push((
                "zt_counterpart_breaker_rejected_total".to_string(),
                label.clone(),
                s.breaker.rejected as f64,
            ));
            out.push((
                "zt_counterpart_breaker_opened_total".to_string(),
                label.clone(),
                s.breaker.times_opened as f64,
            ));
            if let Some(at) = s.breaker.last_success_at {
                out.push((
                    "zt_counterpart_last_success_timestamp_seconds".to_string(),
                    label,
                    at.timestamp() as f64,
                ));
            }
        }
        out
    }
}

/// A call to the unified identity platform (token, userinfo, JWKS,
/// discovery, CAS validation) through its breaker: refused at once while the
/// breaker is open — as [`IdentityError::ProviderUnavailable`], which the
/// login already explains as "暂时无法访问" — and reported to it otherwise.
///
/// [`IdentityError::ProviderUnavailable`]: zt_identity::IdentityError::ProviderUnavailable
pub async fn identity_call<T>(
    integrations: &Integrations,
    call: impl std::future::Future<Output = Result<T, zt_identity::IdentityError>>,
) -> Result<T, zt_identity::IdentityError> {
    use zt_identity::IdentityError as E;
    if let Admission::Rejected { retry_at } = integrations.admit(IDENTITY) {
        return Err(E::ProviderUnavailable {
            reason: format!("not sent: circuit breaker open until {retry_at}"),
        });
    }
    let started = std::time::Instant::now();
    let r = call.await;
    let took = started.elapsed();
    match &r {
        Ok(_) => integrations.record(IDENTITY, took, Outcome::Success),
        Err(e) if e.is_transient() => {
            integrations.record(IDENTITY, took, Outcome::Unavailable(&e.to_string()))
        }
        // Found out before any request (the callback's state, a local
        // configuration), or the citizen cancelled at the platform: nothing
        // about the platform itself.
        Err(E::StateMismatch | E::LoginExpired | E::Config { .. }) => {}
        Err(E::Rejected { error, .. }) if error == "access_denied" => {}
        Err(e) => integrations.record(IDENTITY, took, Outcome::Refused(&e.to_string())),
    }
    r
}

/// What waits in the outbox, per counterpart: the known counterparts that
/// use it (gxpt, eseal) and any other found in the table.
pub async fn outbox_backlogs(
    app: &crate::App,
) -> crate::error::Result<Vec<(String, zt_store::outbox::Backlog)>> {
    let mut c = app.read().await?;
    let mut names: Vec<String> = vec![GXPT.into(), ESEAL.into()];
    for n in zt_store::outbox::counterparts(&mut c).await? {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    let mut out = Vec::with_capacity(names.len());
    for n in names {
        let b = zt_store::outbox::backlog(&mut c, &n).await?;
        out.push((n, b));
    }
    Ok(out)
}

/// A URL as it may be shown: scheme, host, port and path only.
fn display_url(raw: &str) -> String {
    let raw = raw.trim();
    let cut = raw.find(['?', '#']).unwrap_or(raw.len());
    let raw = &raw[..cut];
    match raw.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = authority.rsplit('@').next().unwrap_or(authority);
            format!("{scheme}://{host}{path}")
        }
        None => raw.to_string(),
    }
}

/// An error text as it may be shown: at most 300 characters, no control
/// characters, URLs without credentials and query strings.
pub fn clean_error(text: &str) -> String {
    let mut out = String::new();
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        match word.find("://") {
            Some(at) => {
                // Keep what surrounds the URL, e.g. "(http://…)".
                let start = word[..at]
                    .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '.'))
                    .map_or(0, |i| i + 1);
                let end = word[at..]
                    .find([')', ']', ',', '"', '\''])
                    .map_or(word.len(), |i| at + i);
                out.push_str(&word[..start]);
                out.push_str(&display_url(&word[start..end]));
                out.push_str(&word[end..]);
            }
            None => out.push_str(word),
        }
    }
    let clean: String = out.chars().filter(|c| !c.is_control()).collect();
    if clean.chars().count() > 300 {
        let mut s: String = clean.chars().take(300).collect();
        s.push('…');
        s
    } else {
        clean
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use chrono::TimeZone;

    fn registry() -> (Integrations, Arc<ManualClock>, Arc<Metrics>) {
        let clock = Arc::new(ManualClock::new(
            chrono::Utc.with_ymd_and_hms(2026, 2, 12, 2, 0, 0).unwrap(),
        ));
        let metrics = Arc::new(Metrics::default());
        (
            Integrations::new(clock.clone(), metrics.clone()),
            clock,
            metrics,
        )
    }

    #[test]
    fn known_counterparts_show_unconfigured_until_registered() {
        let (r, _, _) = registry();
        let s = r.status();
        assert_eq!(s.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), KNOWN);
        assert!(s.iter().all(|s| s.state_str() == "not_configured"));
        let a = r.register(GXPT, Mode::remote("https://u:p@gx.example/api?k=secret"));
        let b = r.register(GXPT, Mode::remote("https://gx.example/api"));
        assert!(Arc::ptr_eq(&a, &b), "one breaker per counterpart");
        assert_eq!(r.mode(GXPT).url(), Some("https://gx.example/api"));
        assert_eq!(r.status()[0].state_str(), "closed");
        assert_eq!(r.status()[0].state_label_zh(), "正常");
        r.register("other", Mode::Builtin);
        assert_eq!(r.status().last().unwrap().name, "other");
    }

    #[test]
    fn record_counts_calls_and_drives_the_breaker() {
        let (r, clock, metrics) = registry();
        r.register(IDENTITY, Mode::remote("https://sso.example"));
        for _ in 0..4 {
            r.record(
                IDENTITY,
                Duration::from_millis(5),
                Outcome::Refused("invalid_grant"),
            );
        }
        assert_eq!(r.admit(IDENTITY), Admission::Allowed);
        for _ in 0..5 {
            r.record(
                IDENTITY,
                Duration::from_millis(5),
                Outcome::Unavailable("token endpoint: cannot connect (http://x:y@sso/t?code=abc)"),
            );
        }
        assert!(r.admit(IDENTITY).is_rejected());
        let s = &r.status()[2];
        assert_eq!((s.calls, s.errors), (9, 9));
        assert_eq!(s.state_label_zh(), "熔断中");
        assert_eq!(
            s.breaker.last_error.as_deref(),
            Some("token endpoint: cannot connect (http://sso/t)")
        );
        assert_eq!(metrics.counterpart_totals(IDENTITY), (9, 9));
        let lines = r.metric_lines();
        assert!(lines.contains(&(
            "zt_counterpart_breaker_state".into(),
            "counterpart=\"identity\"".into(),
            2.0
        )));
        clock.advance(chrono::Duration::seconds(30));
        assert_eq!(r.admit(IDENTITY), Admission::Probe);
        r.record(IDENTITY, Duration::from_millis(5), Outcome::Success);
        assert_eq!(r.status()[2].state_str(), "closed");
        assert_eq!(r.status()[2].public_json()["state"], "closed");
        assert!(r.status()[2].public_json().get("last_error").is_none());
    }

    #[test]
    fn error_texts_lose_credentials_and_length() {
        assert_eq!(
            clean_error("error sending request for url (https://app:pw@gx.example/gx/v1/cases/push?sig=1): refused\n"),
            "error sending request for url (https://gx.example/gx/v1/cases/push): refused"
        );
        assert_eq!(clean_error(&"错".repeat(400)).chars().count(), 301);
        assert_eq!(
            display_url("http://127.0.0.1:18081"),
            "http://127.0.0.1:18081"
        );
    }
}
