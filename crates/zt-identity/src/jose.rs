//! JWS verification against the provider's JWKS (ID tokens and logout
//! tokens alike), on `jsonwebtoken`.
//!
//! `jsonwebtoken` is used for the cryptography only (key import from a JWK,
//! signature check). Its own claim checks are all switched off: they read the
//! system clock, and this crate checks `iss`, `aud`, `exp`, `iat` itself
//! against the caller's [`crate::Clock`] so that every failure has its own
//! [`IdentityError`] variant.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use crate::IdentityError;

/// Signature algorithms this client can accept. HMAC (`HS*`, keyed with the
/// client secret) and `none` are never accepted; the sandbox signs RS256.
pub(crate) const ASYMMETRIC_ALGS: [&str; 8] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384",
];

fn algorithm(name: &str) -> Option<Algorithm> {
    Some(match name {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        _ => return None,
    })
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Family {
    Rsa,
    Ec,
}

fn family_of(alg: &str) -> Option<Family> {
    match alg.get(..2) {
        Some("RS" | "PS") => Some(Family::Rsa),
        Some("ES") => Some(Family::Ec),
        _ => None,
    }
}

/// The protected header of a compact JWS, read before any key is chosen.
#[derive(Debug, Clone)]
pub(crate) struct JwsHeader {
    pub alg: String,
    pub kid: Option<String>,
    pub typ: Option<String>,
}

/// Splits a compact JWS and reads its header. Refuses JWE (five parts),
/// unsigned tokens and `crit` extensions (RFC 7515 §4.1.11: a recipient
/// that does not understand them must reject).
pub(crate) fn read_header(jwt: &str, allowed: &[String]) -> Result<JwsHeader, IdentityError> {
    let parts: Vec<&str> = jwt.split('.').collect();
    match parts.len() {
        3 => {}
        5 => {
            return Err(IdentityError::MalformedToken {
                reason: "encrypted tokens (JWE) are not supported",
            })
        }
        _ => {
            return Err(IdentityError::MalformedToken {
                reason: "not a compact JWS",
            })
        }
    }
    let raw = URL_SAFE_NO_PAD
        .decode(parts[0])
        .map_err(|_| IdentityError::MalformedToken {
            reason: "header is not base64url",
        })?;
    let header: Map<String, Value> =
        serde_json::from_slice(&raw).map_err(|_| IdentityError::MalformedToken {
            reason: "header is not a JSON object",
        })?;
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or(IdentityError::MalformedToken {
            reason: "header has no alg",
        })?;
    if !allowed.iter().any(|a| a == alg) || algorithm(alg).is_none() {
        return Err(IdentityError::UnsupportedAlgorithm {
            alg: crate::error::sanitize(alg, 16),
        });
    }
    if header.contains_key("crit") {
        return Err(IdentityError::MalformedToken {
            reason: "critical header extensions are not supported",
        });
    }
    let string = |name: &str| -> Result<Option<String>, IdentityError> {
        match header.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(IdentityError::MalformedToken {
                reason: "header member is not a string",
            }),
        }
    };
    Ok(JwsHeader {
        alg: alg.to_owned(),
        kid: string("kid")?,
        typ: string("typ")?,
    })
}

/// One usable signing key of the provider's JWKS.
pub(crate) struct PublicKey {
    kid: Option<String>,
    alg: Option<String>,
    family: Family,
    key: DecodingKey,
}

/// The signing keys of a JWKS document. Keys this client cannot use
/// (encryption keys, `oct`, unknown types or curves) are skipped rather than
/// failing the whole set.
#[derive(Default)]
pub(crate) struct KeySet {
    keys: Vec<PublicKey>,
}

impl KeySet {
    pub fn from_jwks(doc: &Value) -> Result<Self, IdentityError> {
        let list = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| IdentityError::protocol("JWKS has no keys array"))?;
        let mut keys = Vec::new();
        for raw in list {
            // A key of a type jsonwebtoken does not know fails here and is skipped.
            let Ok(jwk) = serde_json::from_value::<Jwk>(raw.clone()) else {
                continue;
            };
            if matches!(&jwk.common.public_key_use, Some(u) if *u != PublicKeyUse::Signature) {
                continue;
            }
            let family = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => Family::Rsa,
                AlgorithmParameters::EllipticCurve(_) => Family::Ec,
                _ => continue,
            };
            let Ok(key) = DecodingKey::from_jwk(&jwk) else {
                continue;
            };
            let alg = raw.get("alg").and_then(Value::as_str).map(str::to_owned);
            keys.push(PublicKey {
                kid: jwk.common.key_id.clone(),
                alg,
                family,
                key,
            });
        }
        Ok(Self { keys })
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// The key for a header: by `kid` when the token names one, else the
    /// only key that fits the algorithm.
    fn find(&self, header: &JwsHeader) -> Option<&PublicKey> {
        let fam = family_of(&header.alg)?;
        let fits =
            |k: &&PublicKey| k.family == fam && k.alg.as_deref().is_none_or(|a| a == header.alg);
        match &header.kid {
            Some(kid) => self
                .keys
                .iter()
                .filter(fits)
                .find(|k| k.kid.as_deref() == Some(kid.as_str())),
            None => {
                let mut it = self.keys.iter().filter(fits);
                match (it.next(), it.next()) {
                    (Some(k), None) => Some(k),
                    _ => None,
                }
            }
        }
    }

    pub fn has_key_for(&self, header: &JwsHeader) -> bool {
        self.find(header).is_some()
    }

    /// Verifies the signature and returns the payload as a JSON object.
    /// `Err(UnknownKey)` when no key fits (the caller may refresh the set).
    pub fn verify(
        &self,
        jwt: &str,
        header: &JwsHeader,
    ) -> Result<Map<String, Value>, IdentityError> {
        let key = self.find(header).ok_or(IdentityError::UnknownKey)?;
        let alg = algorithm(&header.alg).ok_or_else(|| IdentityError::UnsupportedAlgorithm {
            alg: crate::error::sanitize(&header.alg, 16),
        })?;
        let mut validation = Validation::new(alg);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.leeway = 0;
        match jsonwebtoken::decode::<Map<String, Value>>(jwt, &key.key, &validation) {
            Ok(data) => Ok(data.claims),
            Err(e) => Err(map_jwt_error(e.kind())),
        }
    }
}

fn map_jwt_error(kind: &jsonwebtoken::errors::ErrorKind) -> IdentityError {
    use jsonwebtoken::errors::ErrorKind as K;
    match kind {
        K::InvalidSignature | K::InvalidAlgorithm | K::InvalidRsaKey(_) | K::InvalidEcdsaKey => {
            IdentityError::BadSignature
        }
        K::Base64(_) | K::Utf8(_) => IdentityError::MalformedToken {
            reason: "bad base64url or UTF-8",
        },
        K::Json(_) => IdentityError::MalformedToken {
            reason: "payload is not a JSON object",
        },
        K::InvalidToken => IdentityError::MalformedToken {
            reason: "not a compact JWS",
        },
        _ => IdentityError::BadSignature,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> Vec<String> {
        vec!["RS256".to_owned()]
    }

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn header_rules() {
        let t = format!(
            "{}.{}.sig",
            b64(r#"{"alg":"RS256","kid":"k1","typ":"JWT"}"#),
            b64("{}")
        );
        let h = read_header(&t, &allowed()).unwrap();
        assert_eq!((h.alg.as_str(), h.kid.as_deref()), ("RS256", Some("k1")));

        let none = format!("{}.{}.", b64(r#"{"alg":"none"}"#), b64("{}"));
        assert!(matches!(
            read_header(&none, &allowed()),
            Err(IdentityError::UnsupportedAlgorithm { .. })
        ));
        let hs = format!("{}.{}.x", b64(r#"{"alg":"HS256"}"#), b64("{}"));
        let mut with_hs = allowed();
        with_hs.push("HS256".to_owned());
        assert!(matches!(
            read_header(&hs, &with_hs),
            Err(IdentityError::UnsupportedAlgorithm { .. })
        ));
        let crit = format!(
            "{}.{}.x",
            b64(r#"{"alg":"RS256","crit":["b64"]}"#),
            b64("{}")
        );
        assert!(matches!(
            read_header(&crit, &allowed()),
            Err(IdentityError::MalformedToken { .. })
        ));
        assert!(matches!(
            read_header("a.b.c.d.e", &allowed()),
            Err(IdentityError::MalformedToken { .. })
        ));
        assert!(matches!(
            read_header("garbage", &allowed()),
            Err(IdentityError::MalformedToken { .. })
        ));
    }

    #[test]
    fn unusable_keys_are_skipped() {
        let doc = serde_json::json!({"keys": [
            {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
            {"kty": "RSA", "use": "enc", "kid": "enc", "n": "sXch", "e": "AQAB"},
            {"kty": "XYZ", "kid": "weird"},
            {"kty": "RSA", "use": "sig", "kid": "sig", "alg": "RS256", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw", "e": "AQAB"}
        ]});
        let set = KeySet::from_jwks(&doc).unwrap();
        assert_eq!(set.len(), 1);
        let h = JwsHeader {
            alg: "RS256".into(),
            kid: None,
            typ: None,
        };
        assert!(
            set.has_key_for(&h),
            "the only RSA signing key fits a kid-less token"
        );
        let es = JwsHeader {
            alg: "ES256".into(),
            kid: Some("sig".into()),
            typ: None,
        };
        assert!(!set.has_key_for(&es), "an RSA key never verifies ES256");
        assert!(KeySet::from_jwks(&serde_json::json!({"nokeys": 1})).is_err());
    }
}
