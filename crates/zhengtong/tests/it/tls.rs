//! TLS served by the binary itself (等保 2.0 通信传输): HTTPS on loopback with a
//! throw-away CA made here, HSTS and Secure cookies on TLS only, plain HTTP
//! refused on the TLS port, graceful shutdown, and the start-up rules.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use reqwest::{StatusCode, Version};
use serde_json::{json, Value};
use zhengtong::config::{Config, TlsFiles};
use zhengtong::server::{self, Transport};
use zt_app::clock::ManualClock;

use crate::harness::{beijing_10, scratch, unique_id, TestApp, PASSWORD};

const HSTS: &str = "max-age=31536000; includeSubDomains";

/// A CA and a server certificate for 127.0.0.1 and localhost it issued, as
/// PEM files in `dir`.
struct Pki {
    ca_pem: String,
    files: TlsFiles,
}

fn pki(dir: &Path) -> Pki {
    std::fs::create_dir_all(dir).unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "政通 test CA (throw-away)");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();

    let key = KeyPair::generate().unwrap();
    let mut leaf =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, "localhost");
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = leaf.signed_by(&key, &ca).unwrap();

    let files = TlsFiles {
        cert: dir.join("server.crt"),
        key: dir.join("server.key"),
    };
    std::fs::write(&files.cert, cert.pem()).unwrap();
    std::fs::write(&files.key, key.serialize_pem()).unwrap();
    Pki {
        ca_pem: ca.pem(),
        files,
    }
}

/// A client that trusts only `ca_pem` (no built-in roots).
fn trusting(ca_pem: &str) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap())
        .timeout(Duration::from_secs(20))
}

/// The real application over TLS on 127.0.0.1:0, on the database of `t`.
struct TlsServer {
    addr: SocketAddr,
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl TlsServer {
    async fn start(t: &TestApp, files: &TlsFiles) -> TlsServer {
        let cfg = Config {
            listen: "127.0.0.1:0".into(),
            tls_cert: Some(files.cert.clone()),
            tls_key: Some(files.key.clone()),
            ..TestApp::config_for(&t.db_url, &t.data_dir)
        };
        let transport = server::transport(&cfg, &cfg.listen).expect("TLS transport");
        assert!(matches!(transport, Transport::Tls(_)));
        assert_eq!(transport.scheme(), "https");
        let db = zhengtong::bootstrap::connect(&cfg).await.expect("connect");
        let clock = Arc::new(ManualClock::new(beijing_10("2025-09-30")));
        let app = zhengtong::bootstrap::build_app(&cfg, db, clock, false)
            .await
            .expect("app");
        assert!(app.settings.hsts && app.settings.secure_cookies);
        let listener = server::bind(&cfg.listen).await.expect("bind");
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server::serve_until(listener, transport, app, async {
            let _ = stopped.await;
        }));
        TlsServer {
            addr,
            base: format!("https://{addr}"),
            stop: Some(stop),
            task,
        }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The Set-Cookie header of a successful login as `username`.
async fn login_cookie(client: &reqwest::Client, base: &str, username: &str) -> String {
    let resp = client
        .post(format!("{base}/api/v1/session"))
        .json(&json!({"username": username, "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status(), StatusCode::OK);
    resp.headers()
        .get("set-cookie")
        .expect("a session cookie")
        .to_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_hsts_secure_cookies_and_graceful_shutdown() {
    let t = TestApp::spawn(zt_store::Backend::Sqlite)
        .await
        .expect("sqlite");

    // The existing harness: plain HTTP on loopback, neither HSTS nor Secure.
    let plain = reqwest::Client::new();
    let resp = plain
        .get(format!("{}/healthz", t.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers().get("strict-transport-security").is_none(),
        "no HSTS on plain-HTTP loopback"
    );
    assert!(!t.app.settings.hsts && !t.app.settings.secure_cookies);
    let cookie = login_cookie(&plain, &t.base, "citizen").await;
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(
        !cookie.contains("Secure"),
        "no Secure cookie on plain HTTP: {cookie}"
    );

    // The same database served over TLS.
    let pki = pki(&t.data_dir.join("pki"));
    let mut s = TlsServer::start(&t, &pki.files).await;

    // HTTP/2 through ALPN, with HSTS on every response (a 404 too).
    let client = trusting(&pki.ca_pem).cookie_store(true).build().unwrap();
    let resp = client
        .get(format!("{}/healthz", s.base))
        .send()
        .await
        .expect("https /healthz");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.version(), Version::HTTP_2, "ALPN h2");
    assert_eq!(resp.headers()["strict-transport-security"], HSTS);
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    let resp = client
        .get(format!("{}/no-such-page", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(resp.headers()["strict-transport-security"], HSTS);

    // The login cookie is Secure; the session sees the client's address
    // (ConnectInfo over TLS).
    let cookie = login_cookie(&client, &s.base, "citizen").await;
    for part in ["HttpOnly", "SameSite=Lax", "Secure"] {
        assert!(cookie.contains(part), "{part} missing: {cookie}");
    }
    let resp = client
        .get(format!("{}/api/v1/sessions", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let sessions: Value = resp.json().await.unwrap();
    let current: Vec<&Value> = sessions["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["current"] == true)
        .collect();
    assert_eq!(current.len(), 1, "{sessions}");
    assert_eq!(current[0]["client_addr"], "127.0.0.1", "{sessions}");

    // HTTP/1.1 through ALPN; TLS 1.2 and TLS 1.3 each; the DNS name too.
    let h1 = trusting(&pki.ca_pem).http1_only().build().unwrap();
    let resp = h1.get(format!("{}/healthz", s.base)).send().await.unwrap();
    assert_eq!(
        (resp.status(), resp.version()),
        (StatusCode::OK, Version::HTTP_11)
    );
    assert_eq!(resp.headers()["strict-transport-security"], HSTS);
    for (min, max) in [
        (
            reqwest::tls::Version::TLS_1_2,
            reqwest::tls::Version::TLS_1_2,
        ),
        (
            reqwest::tls::Version::TLS_1_3,
            reqwest::tls::Version::TLS_1_3,
        ),
    ] {
        let c = trusting(&pki.ca_pem)
            .min_tls_version(min)
            .max_tls_version(max)
            .build()
            .unwrap();
        let resp = c.get(format!("{}/healthz", s.base)).send().await;
        assert_eq!(resp.expect("handshake").status(), StatusCode::OK);
    }
    let by_name = trusting(&pki.ca_pem)
        .resolve("localhost", s.addr)
        .build()
        .unwrap();
    let resp = by_name
        .get(format!("https://localhost:{}/healthz", s.addr.port()))
        .send()
        .await
        .expect("https://localhost");
    assert_eq!(resp.status(), StatusCode::OK);

    // A client that does not trust the CA is refused.
    let stranger = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    assert!(stranger
        .get(format!("{}/healthz", s.base))
        .send()
        .await
        .is_err());

    // Plain HTTP to the TLS port gets no HTTP response.
    let err = plain
        .get(format!("http://{}/healthz", s.addr))
        .timeout(Duration::from_secs(20))
        .send()
        .await;
    assert!(err.is_err(), "plain HTTP on the TLS port: {err:?}");
    let addr = s.addr;
    let raw = tokio::task::spawn_blocking(move || {
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        c.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut got = Vec::new();
        let _ = c.read_to_end(&mut got);
        got
    })
    .await
    .unwrap();
    assert!(
        !raw.starts_with(b"HTTP/"),
        "an HTTP answer on the TLS port: {:?}",
        String::from_utf8_lossy(&raw)
    );

    // Graceful shutdown: the server returns and the port is closed.
    let _ = s.stop.take().unwrap().send(());
    let done = tokio::time::timeout(Duration::from_secs(20), &mut s.task)
        .await
        .expect("server stops on shutdown")
        .unwrap();
    done.expect("clean stop");
    assert!(client
        .get(format!("{}/healthz", s.base))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .is_err());
}

fn cfg(listen: &str) -> Config {
    Config {
        listen: listen.into(),
        ..Config::default()
    }
}

fn settings(c: &Config) -> zt_app::Settings {
    c.settings(false).expect("settings")
}

fn refusal(c: &Config) -> String {
    format!(
        "{:#}",
        c.tls_files(&c.listen)
            .expect_err(&format!("{} must be refused", c.listen))
    )
}

#[test]
fn startup_rules_plain_http_only_on_loopback_or_behind_a_proxy() {
    // Loopback (127.0.0.0/8, ::1, localhost): plain HTTP, no HSTS, no Secure.
    for listen in [
        "127.0.0.1:8080",
        "127.9.9.9:80",
        "[::1]:8080",
        "[::ffff:127.0.0.1]:8080",
        "localhost:8080",
    ] {
        let c = cfg(listen);
        assert_eq!(c.tls_files(listen).expect(listen), None, "{listen}");
        let s = settings(&c);
        assert!(!s.hsts && !s.secure_cookies, "{listen}");
    }
    // Anything else without TLS is refused, naming the settings to add.
    for listen in [
        "0.0.0.0:8080",
        "[::]:8080",
        "10.1.2.3:80",
        "192.0.2.7:443",
        "zt.example.gov.cn:80",
    ] {
        let msg = refusal(&cfg(listen));
        for needle in [
            listen,
            "tls_cert and tls_key",
            "ZT_TLS_CERT",
            "ZT_TLS_KEY",
            "behind_proxy = true",
            "ZT_BEHIND_PROXY=true",
        ] {
            assert!(msg.contains(needle), "{needle:?} not in {msg:?}");
        }
    }
    // A declared TLS-terminating proxy: plain HTTP anywhere, Secure + HSTS.
    let c = Config {
        behind_proxy: true,
        ..cfg("0.0.0.0:8080")
    };
    assert_eq!(c.tls_files(&c.listen).unwrap(), None);
    let s = settings(&c);
    assert!(s.hsts && s.secure_cookies);
    // The explicit secure_cookies still works alone (and brings no HSTS).
    let c = Config {
        secure_cookies: true,
        ..cfg("127.0.0.1:8080")
    };
    let s = settings(&c);
    assert!(s.secure_cookies && !s.hsts);
}

#[test]
fn startup_rules_tls_config() {
    let dir = scratch().join(format!("tls-rules-{}", unique_id()));
    let pki = pki(&dir);
    // Both files: TLS on any address, Secure + HSTS.
    let c = Config {
        tls_cert: Some(pki.files.cert.clone()),
        tls_key: Some(pki.files.key.clone()),
        ..cfg("0.0.0.0:8443")
    };
    assert_eq!(c.tls_files(&c.listen).unwrap(), Some(pki.files.clone()));
    let s = settings(&c);
    assert!(s.hsts && s.secure_cookies);
    let t = server::transport(&c, &c.listen).expect("loads");
    assert_eq!(t.scheme(), "https");

    // Half a configuration is an error, on loopback too.
    let half = Config {
        tls_cert: Some(pki.files.cert.clone()),
        ..cfg("127.0.0.1:8443")
    };
    let msg = refusal(&half);
    assert!(
        msg.contains("tls_key (ZT_TLS_KEY)") && msg.contains("server.crt"),
        "{msg}"
    );
    let half = Config {
        tls_key: Some(pki.files.key.clone()),
        ..cfg("127.0.0.1:8443")
    };
    let msg = refusal(&half);
    assert!(
        msg.contains("tls_cert (ZT_TLS_CERT)") && msg.contains("server.key"),
        "{msg}"
    );
    // An empty value (ZT_TLS_KEY=) is no value.
    let half = Config {
        tls_key: Some(PathBuf::new()),
        ..half
    };
    assert_eq!(half.tls_files(&half.listen).unwrap(), None);

    let load = |cert: &Path, key: &Path| {
        let c = Config {
            tls_cert: Some(cert.to_path_buf()),
            tls_key: Some(key.to_path_buf()),
            ..cfg("127.0.0.1:8443")
        };
        match server::transport(&c, &c.listen) {
            Ok(_) => panic!("{} / {} must not load", cert.display(), key.display()),
            Err(e) => format!("{e:#}"),
        }
    };
    // A key file that cannot be read is named.
    let missing = dir.join("missing.key");
    let msg = load(&pki.files.cert, &missing);
    assert!(
        msg.contains(&missing.display().to_string()) && msg.contains("private key"),
        "{msg}"
    );
    let missing_cert = dir.join("missing.crt");
    let msg = load(&missing_cert, &pki.files.key);
    assert!(msg.contains(&missing_cert.display().to_string()), "{msg}");
    // A key file with no key in it (the certificate given twice).
    let msg = load(&pki.files.cert, &pki.files.cert);
    assert!(
        msg.contains(&pki.files.cert.display().to_string()) && msg.contains("no PEM private key"),
        "{msg}"
    );
    // A damaged key is named, its content never quoted.
    let damaged = dir.join("damaged.key");
    std::fs::write(
        &damaged,
        "-----BEGIN PRIVATE KEY-----\nTOPSECRETTOPSECRET!!!\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let msg = load(&pki.files.cert, &damaged);
    assert!(
        msg.contains(&damaged.display().to_string()) && !msg.contains("TOPSECRET"),
        "{msg}"
    );
    let damaged = dir.join("damaged2.key");
    std::fs::write(
        &damaged,
        "-----BEGIN PRIVATE KEY-----\nTOPSECRETTOPSECRET\n",
    )
    .unwrap();
    let msg = load(&pki.files.cert, &damaged);
    assert!(
        msg.contains(&damaged.display().to_string()) && !msg.contains("TOPSECRET"),
        "{msg}"
    );
    // A key that is not the certificate's.
    let other = dir.join("other.key");
    std::fs::write(&other, KeyPair::generate().unwrap().serialize_pem()).unwrap();
    let msg = load(&pki.files.cert, &other);
    assert!(
        msg.contains(&other.display().to_string())
            && msg.contains(&pki.files.cert.display().to_string()),
        "{msg}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
