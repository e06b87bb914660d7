//! CAS 3.0 client, for cities whose platform only speaks CAS: the login
//! redirect, ticket validation at `/p3/serviceValidate`, and the SAML
//! single-logout request a CAS server POSTs to the service.
//!
//! ```no_run
//! # async fn demo(query_ticket: &str) -> Result<(), zt_identity::IdentityError> {
//! use zt_identity::cas::CasClient;
//!
//! let cas = CasClient::new("http://127.0.0.1:18083/cas")?;
//! let service = "http://127.0.0.1:8080/auth/cas/callback";
//! let redirect_to = cas.login_url(service); // GET /auth/cas/login → 302 there
//! // GET /auth/cas/callback?ticket=ST-… (within 60 s, once):
//! let user = cas.validate(service, query_ticket).await?;
//! let claims = user.claims()?; // the same typed claims as an OIDC login
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use reqwest::StatusCode;
use roxmltree::{Document, Node};
use serde_json::{Map, Value};
use url::Url;

use crate::claims::Claims;
use crate::error::{redact_tickets, sanitize, CasErrorCode};
use crate::http::{self, provider_url};
use crate::IdentityError;

/// The CAS protocol namespace of `serviceResponse`.
pub const CAS_NAMESPACE: &str = "http://www.yale.edu/tp/cas";
/// The SAML 2.0 protocol namespace of a single-logout `LogoutRequest`.
pub const SAMLP_NAMESPACE: &str = "urn:oasis:names:tc:SAML:2.0:protocol";

/// Largest XML document parsed (a CAS answer is about 2 KB).
const MAX_XML: usize = 64 * 1024;

/// A CAS server, by its base URL (`…/cas`).
#[derive(Debug, Clone)]
pub struct CasClient {
    base: Url,
    http: reqwest::Client,
}

/// Options of the login redirect.
#[derive(Debug, Clone, Copy, Default)]
pub struct CasLoginOptions {
    /// `renew=true`: require a fresh password login (no single sign-on).
    pub renew: bool,
    /// `gateway=true`: never show the login form; without a CAS session the
    /// server redirects back without a ticket.
    pub gateway: bool,
}

/// A validated CAS ticket: the login name and the released attributes.
#[derive(Clone, PartialEq, Eq)]
pub struct CasUser {
    /// `cas:user` (the platform sends the login name, `preferred_username`).
    pub user: String,
    /// Every `cas:attributes` child, by local name; repeated elements give
    /// several values.
    pub attributes: BTreeMap<String, Vec<String>>,
}

/// A single-logout request from the CAS server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CasLogoutRequest {
    /// The service ticket of the session to end (`samlp:SessionIndex`):
    /// the local session created from that ticket must be ended.
    pub session_index: String,
    /// `saml:NameID` (CAS sends `@NOT_USED@` or the user).
    pub name_id: Option<String>,
    /// `ID` of the request.
    pub id: Option<String>,
    /// `IssueInstant`.
    pub issue_instant: Option<String>,
}

impl CasClient {
    /// A client of the CAS server at `base_url`, e.g.
    /// `http://127.0.0.1:18083/cas`. Plain HTTP only on loopback.
    pub fn new(base_url: &str) -> Result<Self, IdentityError> {
        let http = http::default_client(Duration::from_secs(10))?;
        Self::with_http_client(base_url, http, false)
    }

    /// With the caller's HTTP client; `allow_plain_http` permits `http://`
    /// on other hosts than loopback.
    pub fn with_http_client(
        base_url: &str,
        http: reqwest::Client,
        allow_plain_http: bool,
    ) -> Result<Self, IdentityError> {
        let mut base = provider_url(base_url, "CAS base URL", allow_plain_http)?;
        if base.query().is_some() || base.fragment().is_some() {
            return Err(IdentityError::config(
                "the CAS base URL must not have a query",
            ));
        }
        if !base.path().ends_with('/') {
            let p = format!("{}/", base.path());
            base.set_path(&p);
        }
        Ok(Self { base, http })
    }

    /// The base URL in use (with a trailing `/`), e.g.
    /// `http://127.0.0.1:18083/cas/`.
    pub fn base_url(&self) -> &str {
        self.base.as_str()
    }

    fn endpoint(&self, path: &str) -> Result<Url, IdentityError> {
        self.base
            .join(path)
            .map_err(|_| IdentityError::config("bad CAS endpoint"))
    }

    /// `…/login?service=…`: where to redirect the browser.
    pub fn login_url(&self, service: &str) -> String {
        self.login_url_with(service, CasLoginOptions::default())
    }

    /// [`CasClient::login_url`] with `renew` / `gateway`.
    pub fn login_url_with(&self, service: &str, options: CasLoginOptions) -> String {
        let mut url = self.base.clone();
        url.set_path(&format!("{}login", self.base.path()));
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("service", service);
            if options.renew {
                q.append_pair("renew", "true");
            }
            if options.gateway {
                q.append_pair("gateway", "true");
            }
        }
        url.into()
    }

    /// `…/logout?service=…`: ends the CAS single sign-on session.
    pub fn logout_url(&self, service: Option<&str>) -> String {
        let mut url = self.base.clone();
        url.set_path(&format!("{}logout", self.base.path()));
        if let Some(s) = service {
            url.query_pairs_mut().append_pair("service", s);
        }
        url.into()
    }

    /// Validates a service ticket at `…/p3/serviceValidate`. `service`
    /// must be exactly the URL the ticket was issued for.
    pub async fn validate(&self, service: &str, ticket: &str) -> Result<CasUser, IdentityError> {
        self.validate_with(service, ticket, false).await
    }

    /// [`CasClient::validate`]; with `renew` only tickets from a fresh
    /// password login are accepted (`INVALID_TICKET_SPEC` otherwise).
    pub async fn validate_with(
        &self,
        service: &str,
        ticket: &str,
        renew: bool,
    ) -> Result<CasUser, IdentityError> {
        if ticket.is_empty() || service.is_empty() {
            return Err(IdentityError::CasFailure {
                code: CasErrorCode::InvalidRequest,
                description: None,
            });
        }
        let mut url = self.endpoint("p3/serviceValidate")?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("service", service)
                .append_pair("ticket", ticket);
            if renew {
                q.append_pair("renew", "true");
            }
        }
        let req = self.http.get(url).header("accept", "application/xml");
        let answer = http::send(req, "CAS serviceValidate").await?;
        if answer.status.is_server_error() {
            return Err(IdentityError::unavailable(format!(
                "CAS serviceValidate: HTTP {}",
                answer.status.as_u16()
            )));
        }
        if answer.status != StatusCode::OK {
            return Err(IdentityError::protocol(format!(
                "CAS serviceValidate: HTTP {}",
                answer.status.as_u16()
            )));
        }
        let text = std::str::from_utf8(&answer.body)
            .map_err(|_| IdentityError::protocol("CAS serviceValidate: not UTF-8"))?;
        parse_service_response(text)
    }
}

/// Parses a CAS 3.0 `serviceResponse` (XML): the user and attributes, or
/// [`IdentityError::CasFailure`] with the failure code.
pub fn parse_service_response(xml: &str) -> Result<CasUser, IdentityError> {
    if xml.len() > MAX_XML {
        return Err(IdentityError::protocol("CAS response too large"));
    }
    // roxmltree refuses DTDs by default: no entity expansion of any kind.
    let doc =
        Document::parse(xml).map_err(|_| IdentityError::protocol("CAS response is not XML"))?;
    let root = doc.root_element();
    if !is(root, CAS_NAMESPACE, "serviceResponse") {
        return Err(IdentityError::protocol(
            "CAS response is not a cas:serviceResponse",
        ));
    }
    if let Some(failure) = child(root, CAS_NAMESPACE, "authenticationFailure") {
        let code = CasErrorCode::parse(failure.attribute("code").unwrap_or(""));
        let text = text_of(failure);
        let description = (!text.is_empty()).then(|| sanitize(&redact_tickets(&text), 300));
        return Err(IdentityError::CasFailure { code, description });
    }
    let success = child(root, CAS_NAMESPACE, "authenticationSuccess")
        .ok_or_else(|| IdentityError::protocol("CAS response has neither success nor failure"))?;
    let user = child(success, CAS_NAMESPACE, "user")
        .map(text_of)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| IdentityError::protocol("CAS success without cas:user"))?;
    let mut attributes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if let Some(attrs) = child(success, CAS_NAMESPACE, "attributes") {
        for a in attrs.children().filter(Node::is_element) {
            attributes
                .entry(a.tag_name().name().to_owned())
                .or_default()
                .push(text_of(a));
        }
    }
    Ok(CasUser { user, attributes })
}

/// Parses the SAML `LogoutRequest` of CAS single logout (the value of the
/// `logoutRequest` form field, already URL-decoded).
///
/// The request is not signed: use the session index only to find the local
/// session created from that (unguessable, single-use) service ticket.
pub fn parse_logout_request(xml: &str) -> Result<CasLogoutRequest, IdentityError> {
    if xml.len() > MAX_XML {
        return Err(IdentityError::InvalidLogoutRequest {
            reason: "too large",
        });
    }
    let doc = Document::parse(xml).map_err(|_| IdentityError::InvalidLogoutRequest {
        reason: "not well-formed XML (or has a DTD)",
    })?;
    let root = doc.root_element();
    if !is(root, SAMLP_NAMESPACE, "LogoutRequest") {
        return Err(IdentityError::InvalidLogoutRequest {
            reason: "not a samlp:LogoutRequest",
        });
    }
    let session_index = child(root, SAMLP_NAMESPACE, "SessionIndex")
        .map(text_of)
        .filter(|s| !s.is_empty())
        .ok_or(IdentityError::InvalidLogoutRequest {
            reason: "no samlp:SessionIndex",
        })?;
    let name_id = root
        .children()
        .find(|n| n.is_element() && n.tag_name().name() == "NameID")
        .map(text_of);
    Ok(CasLogoutRequest {
        session_index,
        name_id,
        id: root.attribute("ID").map(str::to_owned),
        issue_instant: root.attribute("IssueInstant").map(str::to_owned),
    })
}

/// Reads the `logoutRequest` field of the form a CAS server POSTs
/// (`application/x-www-form-urlencoded`) and parses it.
pub fn logout_request_from_form(body: &[u8]) -> Result<CasLogoutRequest, IdentityError> {
    let xml = url::form_urlencoded::parse(body)
        .find(|(k, _)| k == "logoutRequest")
        .map(|(_, v)| v.into_owned())
        .ok_or(IdentityError::InvalidLogoutRequest {
            reason: "no logoutRequest field",
        })?;
    parse_logout_request(&xml)
}

fn is(node: Node<'_, '_>, ns: &str, local: &str) -> bool {
    node.is_element() && node.tag_name().name() == local && node.tag_name().namespace() == Some(ns)
}

fn child<'a, 'i>(node: Node<'a, 'i>, ns: &str, local: &str) -> Option<Node<'a, 'i>> {
    node.children().find(|n| is(*n, ns, local))
}

/// All text below a node (text and CDATA), trimmed.
fn text_of(node: Node<'_, '_>) -> String {
    node.descendants()
        .filter(Node::is_text)
        .filter_map(|n| n.text())
        .collect::<String>()
        .trim()
        .to_owned()
}

impl CasUser {
    /// The first value of an attribute.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.get(name)?.first().map(String::as_str)
    }

    /// `isFromNewLogin`: `true` after a password login, `false` for single
    /// sign-on.
    pub fn is_from_new_login(&self) -> Option<bool> {
        match self.attribute("isFromNewLogin")? {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }

    /// `authenticationDate` (ISO 8601, UTC) as sent.
    pub fn authentication_date(&self) -> Option<&str> {
        self.attribute("authenticationDate")
    }

    /// The attributes as the typed [`Claims`] of an OIDC login (the platform
    /// releases the same claims under the same names). `sub` is required;
    /// `sid` is always `None` (CAS has no OIDC session).
    pub fn claims(&self) -> Result<Claims, IdentityError> {
        let mut map = Map::new();
        for (k, v) in &self.attributes {
            if let [one] = v.as_slice() {
                if k == "amr" {
                    map.insert(k.clone(), Value::Array(vec![Value::String(one.clone())]));
                } else if k != "auth_time" && k != "sid" {
                    map.insert(k.clone(), Value::String(one.clone()));
                }
            } else if k == "amr" {
                map.insert(k.clone(), v.iter().cloned().map(Value::String).collect());
            }
        }
        Claims::from_json(&map)
    }
}

impl fmt::Debug for CasUser {
    /// The user and the attribute names only (the values are personal data).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CasUser")
            .field("user", &self.user)
            .field("attributes", &self.attributes.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::{RealNameLevel, UserType};

    const STAFF: &str = r#"<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas">
    <cas:authenticationSuccess>
        <cas:user>zhouqiang</cas:user>
        <cas:attributes>
            <cas:authenticationDate>2026-11-24T14:04:49Z</cas:authenticationDate>
            <cas:longTermAuthenticationRequestTokenUsed>false</cas:longTermAuthenticationRequestTokenUsed>
            <cas:isFromNewLogin>true</cas:isFromNewLogin>
            <cas:sub>U20000002</cas:sub>
            <cas:name>周强</cas:name>
            <cas:preferred_username>zhouqiang</cas:preferred_username>
            <cas:gender>male</cas:gender>
            <cas:phone_number>13900000002</cas:phone_number>
            <cas:phone_number_verified>true</cas:phone_number_verified>
            <cas:id_number>33010319760608015X</cas:id_number>
            <cas:real_name_level>L3</cas:real_name_level>
            <cas:user_type>staff</cas:user_type>
            <cas:dept_code>SPJ-SCZR</cas:dept_code>
            <cas:dept_name>市行政审批局市场准入科</cas:dept_name>
        </cas:attributes>
    </cas:authenticationSuccess>
</cas:serviceResponse>
"#;

    #[test]
    fn success_with_attributes() {
        let u = parse_service_response(STAFF).unwrap();
        assert_eq!(u.user, "zhouqiang");
        assert_eq!(u.is_from_new_login(), Some(true));
        assert_eq!(u.authentication_date(), Some("2026-11-24T14:04:49Z"));
        let c = u.claims().unwrap();
        assert_eq!(c.sub, "U20000002");
        assert_eq!(c.user_type, Some(UserType::Staff));
        assert_eq!(c.real_name_level, Some(RealNameLevel::L3));
        assert_eq!(c.phone_number_verified, Some(true));
        assert_eq!(c.dept_code.as_deref(), Some("SPJ-SCZR"));
        assert_eq!(c.sid, None);
        let dbg = format!("{u:?}");
        assert!(!dbg.contains("33010319760608015X"), "{dbg}");
    }

    #[test]
    fn failure_codes() {
        let xml = r#"<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas">
    <cas:authenticationFailure code="INVALID_TICKET">Ticket 'ST-oE3UIJ00VRSgKOl2MOZBPuKRn8jtrhFS' not recognized</cas:authenticationFailure>
</cas:serviceResponse>"#;
        let e = parse_service_response(xml).unwrap_err();
        assert_eq!(
            e,
            IdentityError::CasFailure {
                code: CasErrorCode::InvalidTicket,
                description: Some("Ticket 'ST-…' not recognized".into()),
            }
        );
        assert!(!format!("{e} {e:?}").contains("oE3UIJ00"));
    }

    #[test]
    fn other_namespace_prefix_and_cdata() {
        let xml = r#"<x:serviceResponse xmlns:x="http://www.yale.edu/tp/cas"><x:authenticationSuccess>
            <x:user><![CDATA[zhangwei]]></x:user>
            <x:attributes><x:memberOf>a</x:memberOf><x:memberOf>b</x:memberOf></x:attributes>
        </x:authenticationSuccess></x:serviceResponse>"#;
        let u = parse_service_response(xml).unwrap();
        assert_eq!(u.user, "zhangwei");
        assert_eq!(u.attributes["memberOf"], vec!["a", "b"]);
        assert_eq!(
            u.claims(),
            Err(IdentityError::MissingClaim { claim: "sub" }),
            "no sub attribute: no claims"
        );
    }

    #[test]
    fn refuses_dtds_and_wrong_roots() {
        let bomb = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]>
            <cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas">&lol;</cas:serviceResponse>"#;
        assert!(matches!(
            parse_service_response(bomb),
            Err(IdentityError::ProviderProtocol { .. })
        ));
        assert!(matches!(
            parse_service_response("<serviceResponse/>"),
            Err(IdentityError::ProviderProtocol { .. })
        ));
        assert!(matches!(
            parse_service_response("<html>502</html>"),
            Err(IdentityError::ProviderProtocol { .. })
        ));
    }

    #[test]
    fn login_and_logout_urls() {
        let c = CasClient::new("http://127.0.0.1:18083/cas").unwrap();
        assert_eq!(
            c.login_url("http://127.0.0.1:8080/auth/cas/callback"),
            "http://127.0.0.1:18083/cas/login?service=http%3A%2F%2F127.0.0.1%3A8080%2Fauth%2Fcas%2Fcallback"
        );
        assert_eq!(
            c.login_url_with(
                "http://x/",
                CasLoginOptions {
                    renew: true,
                    gateway: false
                }
            ),
            "http://127.0.0.1:18083/cas/login?service=http%3A%2F%2Fx%2F&renew=true"
        );
        assert_eq!(c.logout_url(None), "http://127.0.0.1:18083/cas/logout");
        assert!(CasClient::new("http://cas.example.gov.cn/cas").is_err());
    }
}
