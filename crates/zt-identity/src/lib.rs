//! Zhengtong as a relying party of the province's unified identity platform
//! (统一身份认证平台): citizens, enterprise agents and staff log in there,
//! never with a password of ours.
//!
//! * [`oidc`]: OpenID Connect, authorization code flow with PKCE (S256) for
//!   the confidential client `zhengtong-web` (`client_secret_basic`): provider
//!   discovery, the JWKS cached and refreshed once for an unknown `kid`, ID
//!   token validation, userinfo, RP-initiated logout, and back-channel
//!   logout tokens (OpenID Connect Back-Channel Logout 1.0).
//! * [`cas`]: CAS 3.0 for cities whose platform only speaks CAS: the login
//!   redirect, `/p3/serviceValidate`, and single-logout requests.
//! * [`Claims`]: the same typed user either way (`sub`, `name`, `id_number`,
//!   `phone_number`, `user_type`, `real_name_level`, `dept_code`,
//!   `org_uscc`/`org_name`, …).
//! * [`IdentityError`]: one variant per reason a login fails, for the
//!   platform's Chinese messages; none carries a token or secret.
//! * `double` (feature `double`): an in-process fake provider for fast tests.
//!
//! # Time
//!
//! The crate never reads the system clock. Every time check asks the
//! [`Clock`] the caller passes (the platform adapts its own clock with a
//! closure `move || clock.now().timestamp()`).
//!
//! # What the caller keeps
//!
//! The crate stores nothing. The platform keeps the [`oidc::LoginState`]
//! server-side between the redirect and the callback (looked up by its
//! `state`, deleted on use), the [`oidc::TokenSet`] with the local session
//! (its `id_token` is the `id_token_hint` at logout, its `sid` claim the key
//! a back-channel logout names), and the `jti` of each accepted logout token
//! until its `exp` (replay protection).
//!
//! # Why `jsonwebtoken` and `reqwest`, not `openidconnect`
//!
//! `openidconnect` 4 was the first candidate and would do the code flow
//! (it supports PKCE, HTTP Basic client authentication, a custom time
//! function and typed additional claims). It was not taken because:
//!
//! * it has no back-channel logout tokens, so a second JOSE stack
//!   (`jsonwebtoken`) with a second JWKS representation would be needed
//!   next to it anyway, and both would have to agree on key selection;
//! * it does not refresh the JWKS on an unknown `kid`: the client (with its
//!   type-state generics, ten type parameters) would have to be rebuilt
//!   around a new key set, and the rate limit for unauthenticated logout
//!   requests written around it;
//! * the platform's claims (`gov` scope, `sid`) would live in an
//!   `AdditionalClaims` type, its errors would have to be translated into
//!   ours one by one, and it brings `rsa`, `p256`, `p384`, `ed25519-dalek`
//!   and `serde_with` for algorithms the provider does not use.
//!
//! What remains is small and fully tested here: discovery and the token and
//! userinfo requests are three HTTP calls on `reqwest` (no redirects, bounded
//! answers, errors without URLs), and ID and logout tokens share one
//! validator on `jsonwebtoken` with our own claim checks.
//!
//! `jsonwebtoken` is used in version 9, which verifies on `ring`, the crypto
//! provider the workspace already uses for TLS (constant-time, no C
//! toolchain beyond `cc`). Versions 10 and later require either `aws-lc-rs`
//! (needs cmake, which the workspace avoids) or the RustCrypto `rsa` crate
//! (advisory RUSTSEC-2023-0071 and a second generation of RustCrypto
//! crates). Only `jsonwebtoken`'s signature verification and JWK import are
//! used, so moving to a later version later is a small change in `jose.rs`.
//! HMAC-signed (`HS*`) and unsigned tokens are never accepted.
//!
//! CAS XML is read with `roxmltree`, which refuses DTDs (no entity
//! expansion, no external entities).
//!
//! # Network
//!
//! The crate only talks to the configured provider: the issuer's discovery
//! document, and endpoints on the issuer's origin (unless
//! `allow_foreign_endpoints`). Plain `http://` is refused except on loopback
//! (the sandbox) unless `allow_plain_http`. The HTTP client follows no
//! redirects.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cas;
mod claims;
mod clock;
pub mod error;
mod http;
mod jose;
pub mod oidc;
mod secret;

#[cfg(feature = "double")]
pub mod double;

pub use claims::{Claims, Gender, RealNameLevel, UserType};
pub use clock::{Clock, ManualClock};
pub use error::{CasErrorCode, IdentityError};
pub use secret::Secret;
