//! Progress per table: a redrawn bar with rate and ETA on a terminal, plain
//! lines (every 5 s and at the end) otherwise.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Bar,
    Plain,
    Off,
}

impl Mode {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "auto" => Some(if std::io::stderr().is_terminal() {
                Self::Bar
            } else {
                Self::Plain
            }),
            "bar" => Some(Self::Bar),
            "plain" => Some(Self::Plain),
            "off" => Some(Self::Off),
            _ => None,
        }
    }
}

pub struct Progress {
    mode: Mode,
    table: &'static str,
    total: u64,
    done: u64,
    started: Instant,
    last: Instant,
}

impl Progress {
    pub fn new(mode: Mode, table: &'static str, total: u64) -> Self {
        let now = Instant::now();
        Self {
            mode,
            table,
            total,
            done: 0,
            started: now,
            last: now - Duration::from_secs(60),
        }
    }

    pub fn set(&mut self, done: u64) {
        self.done = done;
        let every = match self.mode {
            Mode::Bar => Duration::from_millis(250),
            Mode::Plain => Duration::from_secs(5),
            Mode::Off => return,
        };
        if self.last.elapsed() >= every {
            self.last = Instant::now();
            self.draw(false);
        }
    }

    pub fn finish(&mut self) {
        self.done = self.done.max(self.total);
        if self.mode != Mode::Off {
            self.draw(true);
        }
    }

    fn line(&self) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = self.done as f64 / secs;
        let pct = if self.total == 0 {
            100.0
        } else {
            self.done as f64 * 100.0 / self.total as f64
        };
        let eta = if rate > 0.0 {
            let left = (self.total.saturating_sub(self.done) as f64 / rate) as u64;
            format!("{}:{:02}", left / 60, left % 60)
        } else {
            "-".into()
        };
        format!(
            "migrate-v1 {:<16} {}/{} ({pct:5.1} %) {rate:.0} rows/s ETA {eta}",
            self.table, self.done, self.total
        )
    }

    fn draw(&self, end: bool) {
        let mut err = std::io::stderr().lock();
        let line = self.line();
        let _ = match self.mode {
            Mode::Bar => {
                let width = 30usize;
                let filled = if self.total == 0 {
                    width
                } else {
                    (self.done.min(self.total) as usize * width) / self.total as usize
                };
                let bar = format!("[{}{}]", "#".repeat(filled), ".".repeat(width - filled));
                write!(err, "\r{bar} {line}{}", if end { "\n" } else { "" })
            }
            _ => writeln!(err, "{line}"),
        };
        let _ = err.flush();
    }
}
