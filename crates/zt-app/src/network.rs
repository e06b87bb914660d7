//! Administration only from the configured client networks (等保 2.0 访问控制
//! / 入侵防范: 限制管理终端的接入地址). The list is parsed once at start-up,
//! so that a mistyped network stops the server instead of silently letting
//! every address in or shutting every administrator out.

use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use serde_json::json;

use crate::error::{AppError, ErrorKind, Result};
use crate::principal::Principal;
use crate::state::{audit, App, Origin};

/// The stable code of the refusal.
pub const ADMIN_NETWORK_DENIED: &str = "ADMIN_NETWORK_DENIED";

/// A list of IPv4 and IPv6 networks. Empty means "no restriction".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkList(Vec<IpNet>);

/// A value of a network list that is not a network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid network {value:?}: expected CIDR notation such as 10.20.0.0/16 or fd00::/8 (or a single address)")]
pub struct InvalidNetwork {
    pub value: String,
}

impl NetworkList {
    /// Parses CIDR networks (`10.20.0.0/16`, `fd00::/8`); a bare address
    /// stands for that one host (`/32`, `/128`).
    pub fn parse<S: AsRef<str>>(values: &[S]) -> Result<Self, InvalidNetwork> {
        values
            .iter()
            .map(|v| {
                let v = v.as_ref().trim();
                IpNet::from_str(v)
                    .or_else(|_| IpAddr::from_str(v).map(IpNet::from))
                    .map(|n| n.trunc())
                    .map_err(|_| InvalidNetwork {
                        value: v.to_string(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(NetworkList)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn networks(&self) -> &[IpNet] {
        &self.0
    }

    /// Whether `ip` lies in one of the networks. An IPv4 client seen through
    /// a dual-stack socket (`::ffff:10.20.1.2`) counts as its IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|n| n.contains(&ip))
    }
}

/// The refusal of an administration request from outside the allowed networks.
pub fn admin_network_denied() -> AppError {
    AppError::new(
        ErrorKind::Forbidden,
        ADMIN_NETWORK_DENIED,
        "管理功能仅允许从指定的内部网络访问。",
    )
}

/// The longest request path kept in the audit record (the path is the
/// caller's text; the query string is never kept).
const MAX_PATH: usize = 200;

/// Records a refused administration request (`permission_denied`, object
/// `METHOD /path` as for every refusal), with the signed-in user when the
/// request carried a valid session.
pub async fn record_admin_network_denied(
    app: &App,
    who: Option<&Principal>,
    client_addr: &str,
    method: &str,
    path: &str,
    request_id: &str,
) -> Result<()> {
    let origin = match who {
        Some(p) => Origin::of(p, client_addr),
        None => Origin::anonymous(client_addr),
    };
    let path: String = path.chars().take(MAX_PATH).collect();
    let at = app.now_ts();
    let mut tx = app.begin().await?;
    audit(
        &mut tx,
        &at,
        &origin,
        "permission_denied",
        &format!("{method} {path}"),
        "denied",
        json!({
            "status": 403,
            "code": ADMIN_NETWORK_DENIED,
            "reason": "client address outside admin_allow_networks",
            "request_id": request_id,
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    #[test]
    fn networks_of_both_families_and_single_hosts() {
        let l = NetworkList::parse(&["127.0.0.1/32", " 10.20.0.0/16 ", "fd00::/8", "192.0.2.7"])
            .expect("valid");
        assert_eq!(l.networks().len(), 4);
        assert!(l.contains(ip("127.0.0.1")));
        assert!(!l.contains(ip("127.0.0.2")));
        assert!(l.contains(ip("10.20.255.1")));
        assert!(!l.contains(ip("10.21.0.1")));
        assert!(l.contains(ip("fd12:3456::1")));
        assert!(!l.contains(ip("fe80::1")));
        assert!(l.contains(ip("192.0.2.7")));
        assert!(!l.contains(ip("192.0.2.8")));
        // An IPv4 client on a dual-stack socket.
        assert!(l.contains(ip("::ffff:10.20.1.2")));
        assert!(!l.contains(ip("::ffff:10.21.1.2")));
        // Host bits in a network are ignored, as routers do.
        let l = NetworkList::parse(&["10.20.1.5/16"]).expect("valid");
        assert_eq!(l.networks()[0].to_string(), "10.20.0.0/16");
        assert!(l.contains(ip("10.20.9.9")));
    }

    #[test]
    fn an_invalid_value_is_named() {
        for bad in ["10.0.0.300/8", "10.0.0.0/33", "intranet", "", "fd00::/129"] {
            let e = NetworkList::parse(&["127.0.0.0/8", bad]).expect_err(bad);
            assert_eq!(e.value, bad);
            assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
        }
    }

    #[test]
    fn empty_means_no_list() {
        let l = NetworkList::parse::<&str>(&[]).expect("valid");
        assert!(l.is_empty());
        assert!(!l.contains(ip("127.0.0.1")));
    }
}
