//! Load generator for Zhengtong: virtual users with a government-scenario mix
//! (browse the catalogue, read a guide, log in, file a case with an upload and
//! submit it, poll its status; staff accept and approve), reporting requests
//! per second and latency percentiles per kind of request.
//!
//! It targets loopback only unless told otherwise, and stops by itself.

mod scenario;
mod stats;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;

#[derive(Debug, Clone, Parser)]
#[command(name = "zt-loadtest", about = "Government-scenario load for Zhengtong")]
pub struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub base_url: String,
    /// Concurrent virtual users.
    #[arg(long, default_value_t = 500)]
    pub users: usize,
    /// Seconds of measured load after ramp-up.
    #[arg(long, default_value_t = 60)]
    pub duration: u64,
    /// Seconds over which users start.
    #[arg(long, default_value_t = 10)]
    pub ramp_up: u64,
    /// Maximum think time between a user's requests, in milliseconds.
    #[arg(long, default_value_t = 200)]
    pub think_ms: u64,
    /// Password of the demo accounts.
    #[arg(long, default_value = "Demo@2026")]
    pub password: String,
    /// One user in this many is staff (clerk, reviewer, approver in turn).
    #[arg(long, default_value_t = 20)]
    pub staff_every: usize,
    /// Write the summary as JSON here.
    #[arg(long)]
    pub report: Option<std::path::PathBuf>,
    /// Fail (exit 1) above this error rate.
    #[arg(long, default_value_t = 0.01)]
    pub max_error_rate: f64,
    /// Fail (exit 1) when the overall p99 exceeds this many milliseconds.
    #[arg(long, default_value_t = 2000)]
    pub max_p99_ms: u64,
    /// Allow a target that is not on this machine.
    #[arg(long)]
    pub allow_remote: bool,
}

fn is_loopback(url: &str) -> bool {
    let host = url
        .split("://")
        .nth(1)
        .unwrap_or("")
        .split(['/', ':'])
        .next()
        .unwrap_or("");
    matches!(host, "127.0.0.1" | "localhost" | "[")
        || host.starts_with("127.")
        || url.contains("://[::1]")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !args.allow_remote && !is_loopback(&args.base_url) {
        bail!("refusing to load {}: not a loopback address (use --allow-remote for your own test hosts)", args.base_url);
    }
    let catalogue = Arc::new(
        scenario::Catalogue::load(&args.base_url)
            .await
            .context("reading the catalogue")?,
    );
    let stats = Arc::new(stats::Stats::default());
    let start = Instant::now();
    let ramp = Duration::from_secs(args.ramp_up);
    let measure_from = start + ramp;
    let deadline = measure_from + Duration::from_secs(args.duration);
    let mut tasks = Vec::with_capacity(args.users);
    for i in 0..args.users {
        let delay = ramp.mul_f64(i as f64 / args.users.max(1) as f64);
        let (args, catalogue, stats) = (args.clone(), catalogue.clone(), stats.clone());
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            scenario::run_user(i, &args, &catalogue, &stats, measure_from, deadline).await;
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let summary = stats.summary(args.duration as f64, args.users);
    stats::print(&summary);
    if let Some(path) = &args.report {
        std::fs::write(path, serde_json::to_string_pretty(&summary)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let err_rate = summary["error_rate"].as_f64().unwrap_or(1.0);
    let p99 = summary["p99_ms"].as_f64().unwrap_or(f64::MAX);
    if err_rate > args.max_error_rate || p99 > args.max_p99_ms as f64 {
        eprintln!(
            "FAIL: error rate {:.3}% (max {:.3}%), p99 {p99:.0} ms (max {} ms)",
            err_rate * 100.0,
            args.max_error_rate * 100.0,
            args.max_p99_ms
        );
        std::process::exit(1);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_only() {
        assert!(super::is_loopback("http://127.0.0.1:8080"));
        assert!(super::is_loopback("http://localhost:1/x"));
        assert!(!super::is_loopback("http://10.0.0.1:8080"));
        assert!(!super::is_loopback("http://example.org"));
    }
}
