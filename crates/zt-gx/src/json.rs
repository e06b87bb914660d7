//! JSON helpers the scheme and the platform define exactly: the canonical
//! serialisation of gxpt's content identity (gxpt.md §4.1) and the strict
//! parse of a decrypted payload (gx-hmac-sm3.md §5.3).
//!
//! The canonical form is written here rather than taken from
//! `serde_json::to_vec`: that function sorts object members only while no
//! crate in the build enables serde_json's `preserve_order` feature, and a
//! digest must not depend on what some other crate of the workspace enables.

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// `canonical_json` of gxpt.md §4.1: members sorted by key (byte order of the
/// UTF-8 encoding, which is code-point order) at every level, arrays in
/// order, no whitespace, non-ASCII written as itself, and only `"`, `\` and
/// U+0000–U+001F escaped (`\b \t \n \f \r`, otherwise `\u00xx` in lowercase).
pub(crate) fn canonical_json(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_value(value, &mut out);
    out
}

fn write_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        // Integers print in plain decimal. (Fractions are refused by gxpt
        // before content identity matters, see `gxpt::CaseEvent::validate`.)
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (k, v)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(k, out);
                out.push(b':');
                write_value(v, out);
            }
            out.push(b'}');
        }
    }
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0x00..=0x1f => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0x0f)]);
            }
            // Every other byte, including the bytes of multi-byte UTF-8
            // sequences, is copied as it is.
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

/// Nesting limit of a decrypted payload (gx-hmac-sm3.md §5.3): the top-level
/// object is at depth 0 and no value may be deeper than 64.
pub(crate) const MAX_PAYLOAD_DEPTH: usize = 64;

/// Parses a decrypted payload as the scheme requires: UTF-8 JSON without a
/// byte-order mark whose top level is an object, without duplicate member
/// names, without NaN/Infinity or unpaired surrogate escapes (serde_json
/// refuses both), nested at most [`MAX_PAYLOAD_DEPTH`] deep.
pub(crate) fn parse_strict_object(bytes: &[u8]) -> Result<Map<String, Value>, String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Strict {
        depth: 0,
        max_depth: MAX_PAYLOAD_DEPTH,
    }
    .deserialize(&mut de)
    .map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err("payload must be a JSON object".to_owned()),
    }
}

/// A `serde_json::Value` deserializer that refuses duplicate member names
/// and nesting beyond a limit (serde_json keeps the last duplicate).
#[derive(Clone, Copy)]
struct Strict {
    depth: usize,
    max_depth: usize,
}

impl Strict {
    fn child(self) -> Self {
        Self {
            depth: self.depth + 1,
            max_depth: self.max_depth,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        if self.depth > self.max_depth {
            return Err(de::Error::custom(format!(
                "nesting deeper than {} levels",
                self.max_depth
            )));
        }
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number out of range"))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self.child())? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(self.child())?;
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate member {key:?}")));
            }
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_sorts_members_at_every_level_and_keeps_array_order() {
        let v = json!({"b": 1, "a": {"z": [3, 1, {"y": true, "x": null}], "é": "é", "Z": false}});
        assert_eq!(
            String::from_utf8(canonical_json(&v)).unwrap(),
            r#"{"a":{"Z":false,"z":[3,1,{"x":null,"y":true}],"é":"é"},"b":1}"#
        );
    }

    #[test]
    fn canonical_string_escapes_exactly_the_specified_characters() {
        let s = "q\"b\\/\u{7f}\u{8}\t\n\u{c}\r\u{0}\u{1f}中·";
        let out = canonical_json(&Value::String(s.to_owned()));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"q\\\"b\\\\/\u{7f}\\b\\t\\n\\f\\r\\u0000\\u001f中·\""
        );
    }

    #[test]
    fn canonical_sort_is_by_code_point_not_utf16() {
        // U+FF5E (3 UTF-8 bytes) sorts before U+1F600 (4 bytes); in UTF-16
        // the surrogate pair D83D would sort first.
        let v = json!({"\u{1F600}": 1, "\u{FF5E}": 2});
        assert_eq!(
            String::from_utf8(canonical_json(&v)).unwrap(),
            "{\"\u{FF5E}\":2,\"\u{1F600}\":1}"
        );
    }

    #[test]
    fn strict_parse_refuses_what_the_scheme_refuses() {
        assert!(parse_strict_object(br#"{"a":1,"b":[1,2]}"#).is_ok());
        for bad in [
            &br#"{"name":"a","name":"b"}"#[..],
            b"[1,2,3]",
            b"\"s\"",
            b"\xef\xbb\xbf{}",
            br#"{"a":NaN}"#,
            br#"{"a":"\ud800"}"#,
            b"{} x",
            b"{\"a\":\"\xff\"}",
        ] {
            assert!(parse_strict_object(bad).is_err(), "{:?}", bad);
        }
    }

    #[test]
    fn strict_parse_depth_limit_is_64() {
        // top-level object at depth 0; 64 nested arrays put the innermost
        // value at depth 65.
        let ok = format!("{{\"a\":{}1{}}}", "[".repeat(63), "]".repeat(63));
        assert!(parse_strict_object(ok.as_bytes()).is_ok());
        let bad = format!("{{\"a\":{}1{}}}", "[".repeat(64), "]".repeat(64));
        assert!(parse_strict_object(bad.as_bytes()).is_err());
    }
}
