//! A circuit breaker per counterpart (gxpt, eseal, identity).
//!
//! When a counterpart stops answering, every call would otherwise wait for
//! its time-outs and retries, tying up the outbox worker and the citizen's
//! request. After [`Policy::failure_threshold`] consecutive calls that found
//! the counterpart *unavailable* (5xx, time-out, no connection) the breaker
//! opens: calls fail at once, without a network request, for
//! [`Policy::cool_down`]. Then one probe call is let through (half-open);
//! its success closes the breaker, its failure opens it for another
//! cool-down.
//!
//! A refusal (4xx: bad parameters, conflict, wrong credentials) is an
//! answer: the counterpart is up, so it counts as "reachable" for the
//! breaker — opening on it would hide a configuration error behind "熔断中"
//! — but it is kept as the last error for operators.
//!
//! [`CircuitBreaker`] is the state machine alone: no lock, no clock, "now"
//! is a parameter. [`Breaker`] shares one between the clients of a
//! counterpart, with an injected [`Clock`].

use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::time::Clock;

/// When a breaker opens and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Consecutive "unavailable" outcomes that open the breaker (at least 1).
    pub failure_threshold: u32,
    /// How long an open breaker refuses calls before it lets a probe through;
    /// also how long a probe may take before another one is allowed (a probe
    /// whose caller gave up must not keep the breaker half-open forever).
    pub cool_down: Duration,
}

impl Default for Policy {
    /// Five failures, thirty seconds: longer than one gxpt call with its
    /// retries (at most 30 s), short enough that a recovered counterpart is
    /// used again within a minute.
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            cool_down: Duration::seconds(30),
        }
    }
}

/// The state an operator sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Calls go through.
    Closed,
    /// Calls fail at once until the cool-down is over.
    Open,
    /// One probe call is (or may be) under way; the others fail at once.
    HalfOpen,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            State::Closed => "正常",
            State::Open => "熔断中",
            State::HalfOpen => "试探恢复中",
        }
    }

    /// The value of the `zt_counterpart_breaker_state` gauge.
    pub fn gauge(self) -> u8 {
        match self {
            State::Closed => 0,
            State::HalfOpen => 1,
            State::Open => 2,
        }
    }
}

/// What one call found out about the counterpart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome<'a> {
    /// A good answer (a "not found" of a look-up is one too).
    Success,
    /// An answer that refuses (4xx, a malformed or unverifiable answer): the
    /// counterpart is reachable. The text is kept as the last error.
    Refused(&'a str),
    /// No usable answer: 5xx, time-out, no connection.
    Unavailable(&'a str),
}

/// Whether a call may go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Closed: go ahead.
    Allowed,
    /// Half-open: this call is the one probe; keep it short (no retries).
    Probe,
    /// Open (or another probe is under way): do not call before `retry_at`.
    Rejected { retry_at: DateTime<Utc> },
}

impl Admission {
    pub fn is_rejected(self) -> bool {
        matches!(self, Admission::Rejected { .. })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Closed,
    Open { since: DateTime<Utc> },
    HalfOpen { probe_until: DateTime<Utc> },
}

/// What a breaker knows, for `/readyz`, `/metrics` and the administration
/// page. Error texts are the clients' own (they carry no credentials).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    pub state: State,
    pub consecutive_failures: u32,
    /// While open: when a probe will be let through.
    pub retry_at: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_failure_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// Calls refused without a network request since start.
    pub rejected: u64,
    /// How often the breaker opened since start.
    pub times_opened: u64,
}

/// The state machine. See the module documentation.
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    policy: Policy,
    phase: Phase,
    consecutive_failures: u32,
    last_success_at: Option<DateTime<Utc>>,
    last_failure_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
    rejected: u64,
    times_opened: u64,
}

impl CircuitBreaker {
    pub fn new(policy: Policy) -> Self {
        Self {
            policy: Policy {
                failure_threshold: policy.failure_threshold.max(1),
                cool_down: policy.cool_down.max(Duration::zero()),
            },
            phase: Phase::Closed,
            consecutive_failures: 0,
            last_success_at: None,
            last_failure_at: None,
            last_error: None,
            rejected: 0,
            times_opened: 0,
        }
    }

    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// Asks to make a call at `now`.
    pub fn admit(&mut self, now: DateTime<Utc>) -> Admission {
        match self.phase {
            Phase::Closed => Admission::Allowed,
            Phase::Open { since } => {
                let until = since + self.policy.cool_down;
                // A wall clock set back must not stretch the cool-down.
                if now >= until || now < since {
                    self.phase = Phase::HalfOpen {
                        probe_until: now + self.policy.cool_down,
                    };
                    Admission::Probe
                } else {
                    self.rejected += 1;
                    Admission::Rejected { retry_at: until }
                }
            }
            Phase::HalfOpen { probe_until } => {
                if now >= probe_until || now + self.policy.cool_down < probe_until {
                    // The probe's caller never reported back (it gave up or
                    // was cancelled): let another one try.
                    self.phase = Phase::HalfOpen {
                        probe_until: now + self.policy.cool_down,
                    };
                    Admission::Probe
                } else {
                    self.rejected += 1;
                    Admission::Rejected {
                        retry_at: probe_until,
                    }
                }
            }
        }
    }

    /// Reports how a call that was admitted ended.
    pub fn record(&mut self, now: DateTime<Utc>, outcome: Outcome<'_>) {
        match outcome {
            Outcome::Success => {
                self.last_success_at = Some(now);
                self.close();
            }
            Outcome::Refused(text) => {
                self.failed_at(now, text);
                self.close();
            }
            Outcome::Unavailable(text) => {
                self.failed_at(now, text);
                match self.phase {
                    Phase::Closed => {
                        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                        if self.consecutive_failures >= self.policy.failure_threshold {
                            self.open(now);
                        }
                    }
                    Phase::HalfOpen { .. } => {
                        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                        self.open(now);
                    }
                    // A call admitted before the breaker opened, failing
                    // late: it must not extend the cool-down.
                    Phase::Open { .. } => {}
                }
            }
        }
    }

    pub fn state(&self) -> State {
        match self.phase {
            Phase::Closed => State::Closed,
            Phase::Open { .. } => State::Open,
            Phase::HalfOpen { .. } => State::HalfOpen,
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            state: self.state(),
            consecutive_failures: self.consecutive_failures,
            retry_at: match self.phase {
                Phase::Open { since } => Some(since + self.policy.cool_down),
                Phase::HalfOpen { probe_until } => Some(probe_until),
                Phase::Closed => None,
            },
            last_success_at: self.last_success_at,
            last_failure_at: self.last_failure_at,
            last_error: self.last_error.clone(),
            rejected: self.rejected,
            times_opened: self.times_opened,
        }
    }

    fn failed_at(&mut self, now: DateTime<Utc>, text: &str) {
        self.last_failure_at = Some(now);
        self.last_error = Some(text.to_string());
    }

    fn close(&mut self) {
        self.phase = Phase::Closed;
        self.consecutive_failures = 0;
    }

    fn open(&mut self, now: DateTime<Utc>) {
        self.phase = Phase::Open { since: now };
        self.times_opened += 1;
    }
}

/// One breaker shared by every client of a counterpart (the gxpt outbox
/// sink and the gxpt verifier use the same one), reading "now" from the
/// clock it was given.
pub struct Breaker {
    name: String,
    clock: Arc<dyn Clock>,
    inner: Mutex<CircuitBreaker>,
}

impl std::fmt::Debug for Breaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Breaker")
            .field("name", &self.name)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl Breaker {
    pub fn new(name: impl Into<String>, policy: Policy, clock: Arc<dyn Clock>) -> Self {
        Self {
            name: name.into(),
            clock,
            inner: Mutex::new(CircuitBreaker::new(policy)),
        }
    }

    /// The counterpart's name (`gxpt`, `eseal`, `identity`).
    pub fn name(&self) -> &str {
        &self.name
    }

    fn lock(&self) -> MutexGuard<'_, CircuitBreaker> {
        // The state stays consistent at every step, so a panic elsewhere
        // while holding the lock leaves nothing half-done.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn admit(&self) -> Admission {
        let now = self.clock.now();
        self.lock().admit(now)
    }

    pub fn record(&self, outcome: Outcome<'_>) {
        let now = self.clock.now();
        self.lock().record(now, outcome);
    }

    pub fn state(&self) -> State {
        self.lock().state()
    }

    pub fn policy(&self) -> Policy {
        self.lock().policy()
    }

    pub fn snapshot(&self) -> Snapshot {
        self.lock().snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 2, 12, 2, 0, 0).unwrap()
    }

    fn secs(s: i64) -> DateTime<Utc> {
        t0() + Duration::seconds(s)
    }

    fn breaker() -> CircuitBreaker {
        CircuitBreaker::new(Policy {
            failure_threshold: 3,
            cool_down: Duration::seconds(30),
        })
    }

    #[test]
    fn opens_after_consecutive_unavailable_outcomes_only() {
        let mut b = breaker();
        for i in 0..2 {
            assert_eq!(b.admit(secs(i)), Admission::Allowed);
            b.record(secs(i), Outcome::Unavailable("503"));
        }
        // A success in between starts the count again.
        b.record(secs(2), Outcome::Success);
        assert_eq!(b.snapshot().consecutive_failures, 0);
        for i in 3..5 {
            b.record(secs(i), Outcome::Unavailable("timeout"));
        }
        assert_eq!(b.state(), State::Closed);
        b.record(secs(5), Outcome::Unavailable("connection refused"));
        assert_eq!(b.state(), State::Open);
        let s = b.snapshot();
        assert_eq!(s.retry_at, Some(secs(35)));
        assert_eq!(s.last_failure_at, Some(secs(5)));
        assert_eq!(s.last_success_at, Some(secs(2)));
        assert_eq!(s.last_error.as_deref(), Some("connection refused"));
        assert_eq!(s.times_opened, 1);
    }

    #[test]
    fn refusals_never_open_it_and_reset_the_count() {
        let mut b = breaker();
        for i in 0..10 {
            b.record(secs(i), Outcome::Refused("409 GX_CONFLICT"));
        }
        assert_eq!(b.state(), State::Closed);
        b.record(secs(10), Outcome::Unavailable("503"));
        b.record(secs(11), Outcome::Unavailable("503"));
        b.record(secs(12), Outcome::Refused("401 GX_BAD_SIGNATURE"));
        b.record(secs(13), Outcome::Unavailable("503"));
        assert_eq!(b.state(), State::Closed, "the refusal was an answer");
        let s = b.snapshot();
        assert_eq!(s.consecutive_failures, 1);
        assert_eq!(s.last_success_at, None, "a refusal is not a success");
    }

    #[test]
    fn open_fails_fast_then_lets_one_probe_through() {
        let mut b = breaker();
        for i in 0..3 {
            b.record(secs(i), Outcome::Unavailable("503"));
        }
        assert_eq!(
            b.admit(secs(10)),
            Admission::Rejected { retry_at: secs(32) }
        );
        assert_eq!(
            b.admit(secs(31)),
            Admission::Rejected { retry_at: secs(32) }
        );
        assert_eq!(b.snapshot().rejected, 2);
        assert_eq!(b.admit(secs(32)), Admission::Probe);
        assert_eq!(b.state(), State::HalfOpen);
        // Only one probe at a time.
        assert!(b.admit(secs(33)).is_rejected());
        b.record(secs(34), Outcome::Success);
        assert_eq!(b.state(), State::Closed);
        assert_eq!(b.admit(secs(35)), Admission::Allowed);
        assert_eq!(b.snapshot().last_success_at, Some(secs(34)));
    }

    #[test]
    fn a_failed_probe_opens_it_for_another_cool_down() {
        let mut b = breaker();
        for i in 0..3 {
            b.record(secs(i), Outcome::Unavailable("503"));
        }
        assert_eq!(b.admit(secs(40)), Admission::Probe);
        b.record(secs(41), Outcome::Unavailable("timeout"));
        assert_eq!(b.state(), State::Open);
        assert_eq!(
            b.admit(secs(42)),
            Admission::Rejected { retry_at: secs(71) }
        );
        assert_eq!(b.snapshot().times_opened, 2);
        // A refusal of the next probe proves the counterpart answers.
        assert_eq!(b.admit(secs(71)), Admission::Probe);
        b.record(secs(71), Outcome::Refused("400 GX_BAD_PARAM"));
        assert_eq!(b.state(), State::Closed);
    }

    #[test]
    fn a_probe_that_never_reports_back_expires() {
        let mut b = breaker();
        for i in 0..3 {
            b.record(secs(i), Outcome::Unavailable("503"));
        }
        assert_eq!(b.admit(secs(32)), Admission::Probe);
        assert!(b.admit(secs(61)).is_rejected());
        assert_eq!(b.admit(secs(62)), Admission::Probe);
    }

    #[test]
    fn late_failures_do_not_extend_the_cool_down() {
        let mut b = breaker();
        for i in 0..3 {
            b.record(secs(i), Outcome::Unavailable("503"));
        }
        b.record(
            secs(20),
            Outcome::Unavailable("timeout of a call started earlier"),
        );
        assert_eq!(b.snapshot().retry_at, Some(secs(32)));
        assert_eq!(b.snapshot().times_opened, 1);
    }

    #[test]
    fn a_clock_set_back_does_not_keep_it_open() {
        let mut b = breaker();
        for _ in 0..3 {
            b.record(secs(100), Outcome::Unavailable("503"));
        }
        assert_eq!(b.admit(secs(50)), Admission::Probe);
    }

    #[test]
    fn shared_breaker_reads_the_injected_clock() {
        struct At(Mutex<DateTime<Utc>>);
        impl Clock for At {
            fn now(&self) -> DateTime<Utc> {
                *self.0.lock().unwrap()
            }
        }
        let clock = Arc::new(At(Mutex::new(t0())));
        let b = Breaker::new(
            "gxpt",
            Policy {
                failure_threshold: 1,
                cool_down: Duration::seconds(30),
            },
            clock.clone(),
        );
        b.record(Outcome::Unavailable("503"));
        assert!(b.admit().is_rejected());
        *clock.0.lock().unwrap() = secs(30);
        assert_eq!(b.admit(), Admission::Probe);
        b.record(Outcome::Success);
        assert_eq!(b.state(), State::Closed);
        assert_eq!(b.name(), "gxpt");
    }

    #[test]
    fn a_zero_threshold_means_one() {
        let mut b = CircuitBreaker::new(Policy {
            failure_threshold: 0,
            cool_down: Duration::seconds(1),
        });
        assert_eq!(b.admit(secs(0)), Admission::Allowed);
        b.record(secs(0), Outcome::Unavailable("503"));
        assert_eq!(b.state(), State::Open);
    }
}
