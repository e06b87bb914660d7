//! Latency histograms per kind of request.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{json, Value};

#[derive(Default)]
struct Kind {
    hist: Option<Histogram<u64>>,
    errors: u64,
    /// 409s and 403s a real user would also meet (someone else was faster).
    contended: u64,
    statuses: BTreeMap<u16, u64>,
}

#[derive(Default)]
pub struct Stats {
    kinds: Mutex<BTreeMap<&'static str, Kind>>,
    samples: Mutex<Vec<String>>,
}

pub enum Outcome {
    Ok,
    Contended,
    Error(String),
}

impl Stats {
    pub fn record(&self, kind: &'static str, status: u16, took: Duration, outcome: Outcome) {
        let Ok(mut kinds) = self.kinds.lock() else {
            return;
        };
        let k = kinds.entry(kind).or_default();
        let h = k.hist.get_or_insert_with(|| {
            Histogram::new_with_bounds(1, 600_000_000, 3).expect("histogram bounds")
        });
        let _ = h.record(took.as_micros().clamp(1, 600_000_000) as u64);
        *k.statuses.entry(status).or_default() += 1;
        match outcome {
            Outcome::Ok => {}
            Outcome::Contended => k.contended += 1,
            Outcome::Error(body) => {
                k.errors += 1;
                if let Ok(mut s) = self.samples.lock() {
                    if s.len() < 10 {
                        s.push(format!(
                            "{kind} {status}: {}",
                            body.chars().take(300).collect::<String>()
                        ));
                    }
                }
            }
        }
    }

    pub fn summary(&self, seconds: f64, users: usize) -> Value {
        let kinds = self
            .kinds
            .lock()
            .map(|mut k| std::mem::take(&mut *k))
            .unwrap_or_default();
        let mut all: Histogram<u64> =
            Histogram::new_with_bounds(1, 600_000_000, 3).expect("histogram bounds");
        let (mut total, mut errors) = (0u64, 0u64);
        let mut rows = Vec::new();
        for (name, k) in &kinds {
            let Some(h) = &k.hist else { continue };
            let _ = all.add(h);
            total += h.len();
            errors += k.errors;
            rows.push(json!({
                "kind": name, "count": h.len(), "errors": k.errors, "contended": k.contended,
                "rps": h.len() as f64 / seconds,
                "p50_ms": ms(h.value_at_quantile(0.50)), "p95_ms": ms(h.value_at_quantile(0.95)),
                "p99_ms": ms(h.value_at_quantile(0.99)), "max_ms": ms(h.max()),
                "statuses": k.statuses.iter().map(|(s, n)| (s.to_string(), json!(n))).collect::<serde_json::Map<_, _>>(),
            }));
        }
        json!({
            "users": users, "seconds": seconds, "total_requests": total, "errors": errors,
            "error_rate": if total > 0 { errors as f64 / total as f64 } else { 1.0 },
            "rps": total as f64 / seconds,
            "p50_ms": ms(all.value_at_quantile(0.50)), "p95_ms": ms(all.value_at_quantile(0.95)),
            "p99_ms": ms(all.value_at_quantile(0.99)), "max_ms": ms(all.max()),
            "kinds": rows,
            "error_samples": self.samples.lock().map(|s| s.clone()).unwrap_or_default(),
        })
    }
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

pub fn print(s: &Value) {
    println!(
        "{:<16} {:>8} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "kind", "count", "errors", "contended", "rps", "p50 ms", "p95 ms", "p99 ms", "max ms"
    );
    for r in s["kinds"].as_array().into_iter().flatten() {
        println!(
            "{:<16} {:>8} {:>7} {:>9} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
            r["kind"].as_str().unwrap_or(""),
            r["count"],
            r["errors"],
            r["contended"],
            r["rps"].as_f64().unwrap_or(0.0),
            r["p50_ms"].as_f64().unwrap_or(0.0),
            r["p95_ms"].as_f64().unwrap_or(0.0),
            r["p99_ms"].as_f64().unwrap_or(0.0),
            r["max_ms"].as_f64().unwrap_or(0.0)
        );
    }
    println!(
        "TOTAL {} requests in {:.0} s by {} users: {:.1} req/s, errors {} ({:.3}%), p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        s["total_requests"], s["seconds"].as_f64().unwrap_or(0.0), s["users"], s["rps"].as_f64().unwrap_or(0.0), s["errors"],
        s["error_rate"].as_f64().unwrap_or(0.0) * 100.0, s["p50_ms"].as_f64().unwrap_or(0.0), s["p95_ms"].as_f64().unwrap_or(0.0),
        s["p99_ms"].as_f64().unwrap_or(0.0), s["max_ms"].as_f64().unwrap_or(0.0)
    );
    for e in s["error_samples"].as_array().into_iter().flatten() {
        println!("  error sample: {}", e.as_str().unwrap_or(""));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_rates() {
        let s = Stats::default();
        for i in 1..=100u64 {
            s.record("x", 200, Duration::from_millis(i), Outcome::Ok);
        }
        s.record(
            "x",
            500,
            Duration::from_millis(1),
            Outcome::Error("boom".into()),
        );
        s.record("x", 409, Duration::from_millis(1), Outcome::Contended);
        let sum = s.summary(10.0, 1);
        assert_eq!(sum["total_requests"], 102);
        assert_eq!(sum["errors"], 1);
        assert!((sum["rps"].as_f64().unwrap() - 10.2).abs() < 1e-9);
        let p50 = sum["p50_ms"].as_f64().unwrap();
        assert!((48.0..=51.0).contains(&p50), "{p50}");
        let p99 = sum["p99_ms"].as_f64().unwrap();
        assert!((98.0..=100.5).contains(&p99), "{p99}");
    }
}
