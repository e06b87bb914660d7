//! Counters for operators: calls, errors and latency per counterpart (gxpt,
//! eseal, identity) and per HTTP status class, exposed in the Prometheus
//! text format at `/metrics` together with the outbox depth.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency buckets, in milliseconds.
const BUCKETS_MS: [u64; 10] = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 10_000];

#[derive(Default)]
struct Series {
    calls: AtomicU64,
    errors: AtomicU64,
    sum_us: AtomicU64,
    buckets: [AtomicU64; BUCKETS_MS.len()],
}

impl Series {
    fn observe(&self, took: Duration, ok: bool) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
        let ms = us / 1000;
        for (i, b) in BUCKETS_MS.iter().enumerate() {
            if ms <= *b {
                self.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Process-wide metrics (one per `App`).
#[derive(Default)]
pub struct Metrics {
    series: Mutex<BTreeMap<(String, String), std::sync::Arc<Series>>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    fn series(&self, family: &str, label: &str) -> std::sync::Arc<Series> {
        let mut g = match self.series.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        g.entry((family.to_string(), label.to_string()))
            .or_default()
            .clone()
    }

    /// A call to another system (`counterpart` e.g. "gxpt").
    pub fn call(&self, counterpart: &str, took: Duration, ok: bool) {
        self.series("zt_counterpart", counterpart).observe(took, ok);
    }

    /// Starts the series of a counterpart at zero (so that a rate or an
    /// alert on it has data before the first call).
    pub fn touch_counterpart(&self, counterpart: &str) {
        self.series("zt_counterpart", counterpart);
    }

    /// Calls and failed calls to a counterpart since start.
    pub fn counterpart_totals(&self, counterpart: &str) -> (u64, u64) {
        let g = match self.series.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        g.get(&("zt_counterpart".to_string(), counterpart.to_string()))
            .map_or((0, 0), |s| {
                (
                    s.calls.load(Ordering::Relaxed),
                    s.errors.load(Ordering::Relaxed),
                )
            })
    }

    /// An HTTP response of the platform, by status class ("2xx" …).
    pub fn http(&self, status: u16, took: Duration) {
        let class = format!("{}xx", status / 100);
        self.series("zt_http", &class).observe(took, status < 500);
    }

    /// The Prometheus text exposition of every series, plus `extra` lines.
    pub fn render(&self, extra: &[(String, String, f64)]) -> String {
        let g = match self.series.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let mut out = String::new();
        let mut families: Vec<&str> = g.keys().map(|(f, _)| f.as_str()).collect();
        families.dedup();
        for fam in families {
            let label = if fam == "zt_http" {
                "class"
            } else {
                "counterpart"
            };
            out.push_str(&format!("# TYPE {fam}_calls_total counter\n# TYPE {fam}_errors_total counter\n# TYPE {fam}_latency_seconds histogram\n"));
            for ((f, l), s) in g.iter().filter(|((f, _), _)| f == fam) {
                let calls = s.calls.load(Ordering::Relaxed);
                out.push_str(&format!("{f}_calls_total{{{label}=\"{l}\"}} {calls}\n"));
                out.push_str(&format!(
                    "{f}_errors_total{{{label}=\"{l}\"}} {}\n",
                    s.errors.load(Ordering::Relaxed)
                ));
                for (i, b) in BUCKETS_MS.iter().enumerate() {
                    out.push_str(&format!(
                        "{f}_latency_seconds_bucket{{{label}=\"{l}\",le=\"{}\"}} {}\n",
                        *b as f64 / 1000.0,
                        s.buckets[i].load(Ordering::Relaxed)
                    ));
                }
                out.push_str(&format!(
                    "{f}_latency_seconds_bucket{{{label}=\"{l}\",le=\"+Inf\"}} {calls}\n"
                ));
                out.push_str(&format!(
                    "{f}_latency_seconds_sum{{{label}=\"{l}\"}} {}\n{f}_latency_seconds_count{{{label}=\"{l}\"}} {calls}\n",
                    s.sum_us.load(Ordering::Relaxed) as f64 / 1e6
                ));
            }
        }
        for (name, labels, v) in extra {
            out.push_str(&format!("{name}{{{labels}}} {v}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_buckets() {
        let m = Metrics::default();
        m.call("gxpt", Duration::from_millis(30), true);
        m.call("gxpt", Duration::from_millis(3000), false);
        m.http(200, Duration::from_millis(2));
        let t = m.render(&[(
            "zt_outbox_pending".into(),
            "counterpart=\"gxpt\"".into(),
            4.0,
        )]);
        assert!(
            t.contains("zt_counterpart_calls_total{counterpart=\"gxpt\"} 2\n"),
            "{t}"
        );
        assert!(t.contains("zt_counterpart_errors_total{counterpart=\"gxpt\"} 1\n"));
        assert!(t.contains(
            "zt_counterpart_latency_seconds_bucket{counterpart=\"gxpt\",le=\"0.05\"} 1\n"
        ));
        assert!(
            t.contains("zt_counterpart_latency_seconds_bucket{counterpart=\"gxpt\",le=\"10\"} 2\n")
        );
        assert!(t.contains("zt_http_calls_total{class=\"2xx\"} 1\n"));
        assert!(t.contains("zt_outbox_pending{counterpart=\"gxpt\"} 4\n"));
    }
}
