//! The HTTP server loop with graceful shutdown, over plain HTTP or over TLS
//! (rustls on the ring provider: TLS 1.2 and 1.3, ALPN h2 and http/1.1).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::serve::ListenerExt;
use axum::Router;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use zt_app::App;

use crate::config::{Config, TlsFiles};

/// The whole HTTP surface: API, pages, middleware.
pub fn router(app: App) -> Router {
    zt_web::finish_with_pages(
        zt_web::api_router().merge(zt_pages::routes()),
        app,
        zt_pages::refusal_page,
    )
}

/// Anchors the audit chain every `minutes` (and once at start), so that a
/// rewrite of the chain inside the database is caught against the copy
/// outside it. A failure is logged and retried at the next tick.
pub fn spawn_audit_anchoring(app: App, minutes: u64) {
    if minutes == 0 {
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(minutes * 60));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match zt_app::audit_trail::anchor(&app).await {
                Ok(Some(a)) => tracing::info!(record = a.record_id, "audit chain anchored"),
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "audit anchor failed; will retry"),
            }
        }
    });
}

/// Seals personal information still in plaintext or under an older key, in
/// the background (a no-op when every row is current).
pub fn spawn_reseal(app: App) {
    tokio::spawn(async move {
        match zt_app::pii::reseal(&app).await {
            Ok(r) if r.users + r.cases > 0 => {
                tracing::info!(
                    users = r.users,
                    cases = r.cases,
                    "personal information resealed"
                )
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, "resealing personal information failed; run `zhengtong keys status`")
            }
        }
    });
}

/// Starts the licence sealing worker when the e-seal service is connected
/// (`eseal_url`), and the outbox worker when gxpt is (`gxpt_url`); returns
/// whether gxpt's did.
pub async fn spawn_outbox(cfg: &crate::config::Config, app: &App) -> anyhow::Result<bool> {
    match &app.sealer {
        Some(sealer) => {
            zt_app::licence::spawn_worker(app.clone(), sealer.clone());
            tracing::info!(eseal = %cfg.eseal_url, "licences are sealed by the e-seal service");
        }
        None => tracing::warn!(
            "eseal_url is not set: licences of completed cases wait \"pending seal\" until it is"
        ),
    }
    match crate::integrations::gxpt_sink(cfg, app).await? {
        Some(sink) => {
            let sink: std::sync::Arc<dyn zt_app::outbox::CaseEventSink> = std::sync::Arc::new(sink);
            zt_app::outbox::spawn_worker(app.clone(), sink.clone());
            zt_app::outbox::spawn_reconciler(app.clone(), sink);
            tracing::info!(gxpt = %cfg.gxpt_url, "case events are pushed to gxpt");
            Ok(true)
        }
        None => {
            tracing::warn!("gxpt_url is not set: case events wait in the outbox until it is");
            Ok(false)
        }
    }
}

pub async fn bind(listen: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))
}

/// What the listener speaks.
#[derive(Clone)]
pub enum Transport {
    /// Plain HTTP: on loopback, or behind a declared TLS proxy.
    Plain,
    /// HTTPS with this server configuration (see [`tls_config`]).
    Tls(Arc<rustls::ServerConfig>),
}

impl Transport {
    pub fn scheme(&self) -> &'static str {
        match self {
            Transport::Plain => "http",
            Transport::Tls(_) => "https",
        }
    }
}

/// Applies the start-up rules to the address about to be bound (see
/// [`Config::tls_files`]) and loads the certificate and key if TLS is
/// configured. Run it before anything else so that a bad setting stops the
/// start at once.
pub fn transport(cfg: &Config, listen: &str) -> anyhow::Result<Transport> {
    match cfg.tls_files(listen)? {
        Some(files) => Ok(Transport::Tls(tls_config(&files)?)),
        None => {
            if cfg.behind_proxy {
                tracing::info!("plain HTTP behind a declared TLS-terminating proxy (behind_proxy)");
            }
            Ok(Transport::Plain)
        }
    }
}

/// The rustls server configuration from a PEM certificate chain and key:
/// TLS 1.2 and 1.3 only, ALPN `h2` then `http/1.1`. Errors name the file
/// and never quote its content.
pub fn tls_config(files: &TlsFiles) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            anyhow::anyhow!(
                "TLS certificate {}: {}",
                files.cert.display(),
                pem_problem(&e, "certificate")
            )
        })?;
    if certs.is_empty() {
        anyhow::bail!(
            "TLS certificate {}: no PEM certificate (BEGIN CERTIFICATE) in the file",
            files.cert.display()
        );
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| {
        anyhow::anyhow!(
            "TLS private key {}: {}",
            files.key.display(),
            pem_problem(&e, "private key (PKCS#8, RSA or EC)")
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            anyhow::anyhow!(
                "TLS certificate {} with key {}: {e}",
                files.cert.display(),
                files.key.display()
            )
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// What is wrong with a PEM file, without any of its content (the
/// parser's own messages may quote a line of the key).
fn pem_problem(e: &rustls::pki_types::pem::Error, what: &str) -> String {
    use rustls::pki_types::pem::Error;
    match e {
        Error::Io(io) => format!("cannot read the file: {io}"),
        Error::NoItemsFound => format!("no PEM {what} in the file"),
        Error::MissingSectionEnd { .. } => "a PEM section has no END line".into(),
        Error::IllegalSectionStart { .. } => "a malformed PEM BEGIN line".into(),
        Error::Base64Decode(_) => "a PEM section is not valid base64".into(),
        _ => "not a valid PEM file".into(),
    }
}

/// Serves until SIGINT or SIGTERM, then finishes the requests in flight.
pub async fn serve(listener: TcpListener, app: App) -> anyhow::Result<()> {
    serve_until(listener, Transport::Plain, app, shutdown_signal()).await
}

/// [`serve`] over TLS.
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: App,
) -> anyhow::Result<()> {
    serve_until(listener, Transport::Tls(tls), app, shutdown_signal()).await
}

/// Serves on `transport` until `shutdown` completes, then stops accepting,
/// lets the connections in flight finish and closes the database. Handlers
/// see the peer in `ConnectInfo<SocketAddr>` on either transport.
pub async fn serve_until(
    listener: TcpListener,
    transport: Transport,
    app: App,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    let scheme = transport.scheme();
    tracing::info!(%addr, scheme, backend = app.db.backend().as_str(), "zhengtong listening");
    let service = router(app.clone()).into_make_service_with_connect_info::<SocketAddr>();
    match transport {
        Transport::Plain => {
            axum::serve(listener, service)
                .with_graceful_shutdown(shutdown)
                .await
        }
        Transport::Tls(config) => {
            // `tap_io` also gives the TLS listener axum's
            // `ConnectInfo<SocketAddr>` (its `Connected` impl for a tapped
            // listener's address).
            let listener = TlsListener::new(listener, config)?.tap_io(|tls| {
                let _ = tls.get_ref().0.set_nodelay(true);
            });
            axum::serve(listener, service)
                .with_graceful_shutdown(shutdown)
                .await
        }
    }
    .context("server error")?;
    app.db.close().await;
    tracing::info!("zhengtong stopped");
    Ok(())
}

/// A client gets this long to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// TCP connections whose TLS handshake is done, as an axum listener. The
/// handshakes run in their own tasks, off the accept loop, so a slow or
/// silent client delays nobody else; a failed one is logged and dropped.
/// Dropping the listener (at shutdown) stops accepting and closes the port.
pub struct TlsListener {
    local: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
}

impl TlsListener {
    pub fn new(tcp: TcpListener, config: Arc<rustls::ServerConfig>) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        tokio::spawn(accept_tls(tcp, TlsAcceptor::from(config), tx));
        Ok(Self { local, ready })
    }
}

async fn accept_tls(
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    tx: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    loop {
        let accepted = tokio::select! {
            _ = tx.closed() => return,
            a = tcp.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(c) => c,
            Err(e) => {
                // As axum's own listener: per-connection errors are the
                // client's; others (out of file descriptors) wait a moment.
                use std::io::ErrorKind::*;
                if !matches!(
                    e.kind(),
                    ConnectionRefused | ConnectionAborted | ConnectionReset
                ) {
                    tracing::error!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    let _ = tx.send((tls, peer)).await;
                }
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(c) => c,
            // The accept task ends only once this receiver is gone.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutdown signal received");
}
