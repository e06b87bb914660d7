//! ClamAV `clamd` client: `INSTREAM` scans and `PING`.
//!
//! Protocol (clamd(8), "z" commands are NUL-terminated): the client sends
//! `zINSTREAM\0`, then the file as chunks, each prefixed with its length as
//! a 4-byte big-endian integer, then a zero-length chunk. clamd answers one
//! NUL-terminated line:
//!
//! | reply | result |
//! | --- | --- |
//! | `stream: OK` | [`Verdict::Clean`] |
//! | `stream: <Signature> FOUND` | [`Verdict::Rejected`] with [`crate::UPLOAD_MALWARE`], the signature in the detail |
//! | `INSTREAM size limit exceeded. ERROR` | [`ScanError::TooLarge`] (clamd's `StreamMaxLength`) |
//! | any other `… ERROR`, anything else | [`ScanError::Protocol`] |
//!
//! Every call opens its own connection (clamd handles one command per
//! connection unless `IDSESSION` is used). A connection that cannot be made
//! is [`ScanError::Unavailable`]; a scan that does not finish within the
//! overall timeout is [`ScanError::Timeout`]. None of these is ever a clean
//! verdict.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{Finding, ScanError, Verdict};

/// Default time to establish the connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default time for a whole command, connecting included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default `INSTREAM` chunk size.
pub const DEFAULT_CHUNK_SIZE: usize = 64 * 1024;
/// Largest chunk this client sends, whatever the configuration says.
const MAX_CHUNK_SIZE: usize = 16 * 1024 * 1024;
/// Longest reply accepted from clamd.
const MAX_REPLY: usize = 4096;
/// clamd's default port.
pub const DEFAULT_PORT: u16 = 3310;

/// Where clamd listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClamdAddr {
    /// `tcp://host:port` (`host:port` here; the port defaults to 3310).
    Tcp(String),
    /// `unix:///run/clamav/clamd.ctl` (the socket path here).
    Unix(PathBuf),
}

/// A clamd address that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid clamd address {input:?}: {reason}")]
pub struct InvalidClamdAddr {
    pub input: String,
    pub reason: &'static str,
}

impl FromStr for ClamdAddr {
    type Err = InvalidClamdAddr;

    /// Accepts `tcp://host[:port]` and `unix:///absolute/path`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| InvalidClamdAddr {
            input: s.to_string(),
            reason,
        };
        if let Some(rest) = s.strip_prefix("tcp://") {
            let rest = rest.trim_end_matches('/');
            if rest.is_empty() || rest.contains('/') {
                return Err(err("expected tcp://host:port"));
            }
            let (host, port) = match rest.strip_prefix('[') {
                // [IPv6]:port
                Some(v6) => {
                    let (h, tail) = v6.split_once(']').ok_or_else(|| err("unclosed ["))?;
                    let port = match tail {
                        "" => None,
                        t => Some(t.strip_prefix(':').ok_or_else(|| err("expected ]:port"))?),
                    };
                    (format!("[{h}]"), port)
                }
                None => match rest.split_once(':') {
                    Some((h, p)) => (h.to_string(), Some(p)),
                    None => (rest.to_string(), None),
                },
            };
            if host.is_empty() || host == "[]" {
                return Err(err("no host"));
            }
            let port = match port {
                None => DEFAULT_PORT,
                Some(p) => p
                    .parse::<u16>()
                    .map_err(|_| err("the port is not a number from 0 to 65535"))?,
            };
            Ok(Self::Tcp(format!("{host}:{port}")))
        } else if let Some(path) = s.strip_prefix("unix://") {
            if !path.starts_with('/') {
                return Err(err("expected unix:///absolute/path"));
            }
            Ok(Self::Unix(PathBuf::from(path)))
        } else {
            Err(err("expected tcp://host:port or unix:///path"))
        }
    }
}

impl fmt::Display for ClamdAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp(a) => write!(f, "tcp://{a}"),
            Self::Unix(p) => write!(f, "unix://{}", p.display()),
        }
    }
}

/// clamd connection settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClamdConfig {
    pub addr: ClamdAddr,
    /// Time to establish the connection (default 5 s).
    pub connect_timeout: Duration,
    /// Time for the whole command, connecting included (default 30 s).
    pub timeout: Duration,
    /// `INSTREAM` chunk size (default 64 KiB; at most 16 MiB is used).
    pub chunk_size: usize,
}

impl ClamdConfig {
    /// Default timeouts and chunk size.
    pub fn new(addr: ClamdAddr) -> Self {
        Self {
            addr,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            chunk_size: DEFAULT_CHUNK_SIZE,
        }
    }

    pub fn with_connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }

    pub fn with_timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    pub fn with_chunk_size(mut self, bytes: usize) -> Self {
        self.chunk_size = bytes;
        self
    }
}

/// A clamd client; holds only configuration.
#[derive(Debug, Clone)]
pub struct ClamdClient {
    config: ClamdConfig,
}

enum Conn {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(tokio::net::UnixStream),
}

impl ClamdClient {
    pub fn new(config: ClamdConfig) -> Self {
        Self { config }
    }

    pub fn config(&self) -> &ClamdConfig {
        &self.config
    }

    /// Streams `bytes` to clamd with `INSTREAM`.
    pub async fn scan(&self, bytes: &[u8]) -> Result<Verdict, ScanError> {
        let started = Instant::now();
        let chunk = self.config.chunk_size.clamp(1, MAX_CHUNK_SIZE);
        let (reply, complete) = self
            .within_timeout(async {
                match self.connect().await? {
                    Conn::Tcp(s) => instream(s, bytes, chunk).await,
                    #[cfg(unix)]
                    Conn::Unix(s) => instream(s, bytes, chunk).await,
                }
            })
            .await?;
        tracing::debug!(addr = %self.config.addr, size = bytes.len(), %reply, elapsed = ?started.elapsed(), "clamd INSTREAM");
        parse_instream_reply(&reply, complete)
    }

    /// `PING`: `Ok` when clamd answers `PONG`. For readiness checks.
    pub async fn ping(&self) -> Result<(), ScanError> {
        let reply = self.command(b"zPING\0").await?;
        if reply == "PONG" {
            Ok(())
        } else {
            Err(ScanError::Protocol(format!(
                "unexpected reply to PING: {reply:?}"
            )))
        }
    }

    /// `VERSION`: e.g. `ClamAV 1.0.7/27480/Mon Dec 2 09:38:01 2024` (engine
    /// and signature database version), for logs and the health page.
    pub async fn version(&self) -> Result<String, ScanError> {
        let reply = self.command(b"zVERSION\0").await?;
        if reply.is_empty() || reply.ends_with("ERROR") {
            return Err(ScanError::Protocol(format!(
                "unexpected reply to VERSION: {reply:?}"
            )));
        }
        Ok(reply)
    }

    async fn command(&self, cmd: &[u8]) -> Result<String, ScanError> {
        self.within_timeout(async {
            match self.connect().await? {
                Conn::Tcp(s) => simple_command(s, cmd).await,
                #[cfg(unix)]
                Conn::Unix(s) => simple_command(s, cmd).await,
            }
        })
        .await
    }

    async fn within_timeout<T>(
        &self,
        fut: impl std::future::Future<Output = Result<T, ScanError>>,
    ) -> Result<T, ScanError> {
        match tokio::time::timeout(self.config.timeout, fut).await {
            Ok(result) => result,
            Err(_) => Err(ScanError::Timeout {
                after: self.config.timeout,
            }),
        }
    }

    async fn connect(&self) -> Result<Conn, ScanError> {
        let addr = &self.config.addr;
        let unavailable = |what: String| ScanError::Unavailable {
            reason: format!("clamd at {addr}: {what}"),
        };
        let connecting = async {
            match addr {
                ClamdAddr::Tcp(a) => TcpStream::connect(a.as_str()).await.map(Conn::Tcp),
                #[cfg(unix)]
                ClamdAddr::Unix(p) => tokio::net::UnixStream::connect(p).await.map(Conn::Unix),
                #[cfg(not(unix))]
                ClamdAddr::Unix(_) => Err(std::io::Error::new(
                    std::io::ErrorKind::Unsupported,
                    "unix sockets are not supported on this platform",
                )),
            }
        };
        match tokio::time::timeout(self.config.connect_timeout, connecting).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => Err(unavailable(format!("cannot connect: {e}"))),
            Err(_) => Err(unavailable(format!(
                "connect timed out after {:?}",
                self.config.connect_timeout
            ))),
        }
    }
}

/// Sends the INSTREAM command and the data while watching for an early
/// reply. Returns the reply and whether the whole stream had been sent.
async fn instream<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    bytes: &[u8],
    chunk: usize,
) -> Result<(String, bool), ScanError> {
    let (mut rd, mut wr) = tokio::io::split(stream);
    let send = async {
        wr.write_all(b"zINSTREAM\0").await?;
        for c in bytes.chunks(chunk) {
            // chunk <= MAX_CHUNK_SIZE, so the length fits.
            wr.write_all(&(c.len() as u32).to_be_bytes()).await?;
            wr.write_all(c).await?;
        }
        wr.write_all(&0u32.to_be_bytes()).await?;
        wr.flush().await
    };
    let recv = read_reply(&mut rd);
    tokio::pin!(send, recv);
    tokio::select! {
        biased;
        sent = &mut send => match sent {
            Ok(()) => Ok((recv.await?, true)),
            // clamd stops reading and closes when it refuses the stream
            // (size limit): its reply may already be there.
            Err(e) => match recv.await {
                Ok(reply) if !reply.is_empty() => Ok((reply, false)),
                _ => Err(ScanError::Unavailable {
                    reason: format!("sending to clamd failed: {e}"),
                }),
            },
        },
        early = &mut recv => Ok((early?, false)),
    }
}

async fn simple_command<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    cmd: &[u8],
) -> Result<String, ScanError> {
    stream
        .write_all(cmd)
        .await
        .map_err(|e| ScanError::Unavailable {
            reason: format!("sending to clamd failed: {e}"),
        })?;
    read_reply(&mut stream).await
}

/// Reads up to the terminating NUL (or the end of the connection).
async fn read_reply<R: AsyncRead + Unpin>(rd: &mut R) -> Result<String, ScanError> {
    let mut reply = Vec::with_capacity(64);
    let mut buf = [0u8; 512];
    loop {
        let n = rd
            .read(&mut buf)
            .await
            .map_err(|e| ScanError::Unavailable {
                reason: format!("reading clamd's reply failed: {e}"),
            })?;
        if n == 0 {
            break;
        }
        reply.extend_from_slice(&buf[..n]);
        if let Some(p) = reply.iter().position(|&b| b == 0) {
            reply.truncate(p);
            break;
        }
        if reply.len() > MAX_REPLY {
            return Err(ScanError::Protocol(format!(
                "clamd reply longer than {MAX_REPLY} bytes"
            )));
        }
    }
    Ok(String::from_utf8_lossy(&reply).trim().to_string())
}

/// Interprets an `INSTREAM` reply; `complete` tells whether the whole file
/// had been sent when it came.
fn parse_instream_reply(reply: &str, complete: bool) -> Result<Verdict, ScanError> {
    if reply.is_empty() {
        return Err(ScanError::Unavailable {
            reason: "clamd closed the connection without answering".to_string(),
        });
    }
    let body = reply.strip_prefix("stream:").map_or(reply, str::trim_start);
    if let Some(name) = body.strip_suffix(" FOUND") {
        return Ok(Verdict::Rejected(Finding::malware(format!(
            "ClamAV: {}",
            name.trim()
        ))));
    }
    if body == "OK" {
        return if complete {
            Ok(Verdict::Clean)
        } else {
            Err(ScanError::Protocol(
                "clamd answered OK before the whole file was sent".to_string(),
            ))
        };
    }
    if reply.ends_with("ERROR") {
        if reply.contains("size limit exceeded") {
            return Err(ScanError::TooLarge);
        }
        return Err(ScanError::Protocol(format!("clamd error: {reply}")));
    }
    Err(ScanError::Protocol(format!(
        "unexpected clamd reply: {reply:?}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            "tcp://127.0.0.1:3310".parse::<ClamdAddr>(),
            Ok(ClamdAddr::Tcp("127.0.0.1:3310".into()))
        );
        assert_eq!(
            "tcp://clamav".parse::<ClamdAddr>(),
            Ok(ClamdAddr::Tcp("clamav:3310".into()))
        );
        assert_eq!(
            "tcp://[::1]".parse::<ClamdAddr>(),
            Ok(ClamdAddr::Tcp("[::1]:3310".into()))
        );
        assert_eq!(
            "tcp://[::1]:3311".parse::<ClamdAddr>(),
            Ok(ClamdAddr::Tcp("[::1]:3311".into()))
        );
        assert_eq!(
            "unix:///run/clamav/clamd.ctl".parse::<ClamdAddr>(),
            Ok(ClamdAddr::Unix("/run/clamav/clamd.ctl".into()))
        );
        assert!("unix://relative".parse::<ClamdAddr>().is_err());
        assert!("tcp://host:99999".parse::<ClamdAddr>().is_err());
        assert!("127.0.0.1:3310".parse::<ClamdAddr>().is_err());
        assert_eq!(
            ClamdAddr::Unix("/run/c.ctl".into()).to_string(),
            "unix:///run/c.ctl"
        );
    }

    #[test]
    fn replies() {
        assert_eq!(parse_instream_reply("stream: OK", true), Ok(Verdict::Clean));
        let v = parse_instream_reply("stream: Win.Test.EICAR_HDB-1 FOUND", true);
        let f = v.ok().and_then(|v| v.finding().cloned());
        assert_eq!(
            f.map(|f| f.detail),
            Some("ClamAV: Win.Test.EICAR_HDB-1".into())
        );
        assert_eq!(
            parse_instream_reply("INSTREAM size limit exceeded. ERROR", false),
            Err(ScanError::TooLarge)
        );
        assert!(matches!(
            parse_instream_reply("stream: OK", false),
            Err(ScanError::Protocol(_))
        ));
        assert!(matches!(
            parse_instream_reply("UNKNOWN COMMAND", true),
            Err(ScanError::Protocol(_))
        ));
        assert!(matches!(
            parse_instream_reply("Error processing command. ERROR", true),
            Err(ScanError::Protocol(_))
        ));
        assert!(matches!(
            parse_instream_reply("", true),
            Err(ScanError::Unavailable { .. })
        ));
    }
}
