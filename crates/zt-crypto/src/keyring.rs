//! The set of keys one deployment uses for personal information at rest:
//! several SM4 data keys (so old rows stay readable after a rotation), one
//! of them active for new writes, and one HMAC-SM3 blind-index key.
//!
//! The blind-index key is deliberately separate and is *not* rotated with
//! the data keys: every stored index token would change with it, so
//! rotating it means recomputing every token, which is a different, rarer
//! operation than re-wrapping ciphertexts. Keeping it apart also means a
//! leaked index key reveals no plaintext, and a leaked data key does not
//! let anyone compute lookup tokens for guessed identity numbers.
//!
//! # Key file
//!
//! ```text
//! # comments and blank lines are ignored; `#` also starts a trailing comment
//! index = <64 hex digits>        exactly one: the 32-byte blind-index key
//! key <kid> = <32 hex digits>    one or more: 16-byte SM4 data keys
//! active = <kid>                 exactly one: must name a `key` line
//! ```
//!
//! `<kid>` matches `[A-Za-z0-9_-]{1,16}`; hex may be upper or lower case.
//! Errors name the line and never quote key material.

use std::fmt::{self, Write as _};

use rand::rngs::OsRng;
use rand::RngCore;
use zeroize::Zeroizing;

use crate::envelope::{self, is_valid_key_id, DataKey};
use crate::sm3::hmac_sm3_parts;
use crate::CryptoError;

type IndexKey = Zeroizing<[u8; 32]>;

/// Data keys by id, the active one, and the blind-index key. All key bytes
/// are zeroized on drop and never appear in `Debug` output.
pub struct Keyring {
    /// In file order; ids are unique.
    keys: Vec<(String, DataKey)>,
    /// Index into `keys`, so the active key always exists.
    active: usize,
    index_key: IndexKey,
}

impl Keyring {
    /// Loads a key file (format in the [module docs](self)).
    pub fn from_text(text: &str) -> Result<Self, CryptoError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut index_key: Option<IndexKey> = None;
        let mut keys: Vec<(String, DataKey)> = Vec::new();
        let mut active: Option<(usize, &str)> = None;

        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            let err = |reason: String| CryptoError::KeyFile {
                line: Some(n),
                reason,
            };
            let line = raw.split_once('#').map_or(raw, |(before, _)| before).trim();
            if line.is_empty() {
                continue;
            }
            let Some((lhs, rhs)) = line.split_once('=') else {
                return Err(err(
                    "expected `name = value`; lines are `index = …`, `key <kid> = …` or `active = <kid>`"
                        .into(),
                ));
            };
            let rhs = rhs.trim();
            let words: Vec<&str> = lhs.split_whitespace().collect();
            match words.as_slice() {
                ["index"] => {
                    if index_key.is_some() {
                        return Err(err("second `index` line; exactly one is allowed".into()));
                    }
                    index_key =
                        Some(decode_key::<32>(rhs).map_err(|r| err(format!("index key {r}")))?);
                }
                ["key", kid] => {
                    if !is_valid_key_id(kid) {
                        return Err(err("key id must match [A-Za-z0-9_-]{1,16}".into()));
                    }
                    if keys.iter().any(|(k, _)| k == kid) {
                        return Err(err(format!("duplicate key id `{kid}`")));
                    }
                    let key = decode_key::<16>(rhs).map_err(|r| err(format!("key `{kid}` {r}")))?;
                    keys.push(((*kid).to_owned(), key));
                }
                ["key"] => {
                    return Err(err(
                        "`key` needs an id: `key <kid> = <32 hex digits>`".into()
                    ));
                }
                ["active"] => {
                    if active.is_some() {
                        return Err(err("second `active` line; exactly one is allowed".into()));
                    }
                    if !is_valid_key_id(rhs) {
                        return Err(err("active key id must match [A-Za-z0-9_-]{1,16}".into()));
                    }
                    active = Some((n, rhs));
                }
                _ => {
                    return Err(err(
                        "unknown setting; lines are `index = …`, `key <kid> = …` or `active = <kid>`"
                            .into(),
                    ));
                }
            }
        }

        let whole = |reason: &str| CryptoError::KeyFile {
            line: None,
            reason: reason.to_owned(),
        };
        let index_key = index_key.ok_or_else(|| whole("no `index = <64 hex digits>` line"))?;
        if keys.is_empty() {
            return Err(whole("no `key <kid> = <32 hex digits>` line"));
        }
        let (active_line, active_kid) = active.ok_or_else(|| whole("no `active = <kid>` line"))?;
        let active = keys
            .iter()
            .position(|(k, _)| k == active_kid)
            .ok_or_else(|| CryptoError::KeyFile {
                line: Some(active_line),
                reason: format!("active key `{active_kid}` has no `key {active_kid} = …` line"),
            })?;
        Ok(Self {
            keys,
            active,
            index_key,
        })
    }

    /// Creates a keyring with fresh random keys — one data key `kid`, active,
    /// and a blind-index key — and the key file text to store it. The text
    /// holds secrets: write it straight to a protected file.
    pub fn generate(kid: &str) -> Result<(Self, String), CryptoError> {
        if !is_valid_key_id(kid) {
            return Err(CryptoError::InvalidKeyId);
        }
        let mut index_key = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(&mut *index_key);
        let ring = Self {
            keys: vec![(kid.to_owned(), random_data_key())],
            active: 0,
            index_key,
        };
        let text = ring.to_text();
        Ok((ring, text))
    }

    /// Rotation: a copy of this keyring plus a fresh data key `kid`, which
    /// becomes active, and the new key file text. Old keys stay so existing
    /// values still decrypt; the blind-index key is carried over unchanged
    /// so stored index tokens stay valid.
    pub fn with_new_active_key(&self, kid: &str) -> Result<(Self, String), CryptoError> {
        if !is_valid_key_id(kid) {
            return Err(CryptoError::InvalidKeyId);
        }
        if self.key(kid).is_some() {
            return Err(CryptoError::DuplicateKeyId(kid.to_owned()));
        }
        let mut keys = self.keys.clone();
        keys.push((kid.to_owned(), random_data_key()));
        let ring = Self {
            active: keys.len() - 1,
            keys,
            index_key: self.index_key.clone(),
        };
        let text = ring.to_text();
        Ok((ring, text))
    }

    /// Id of the key new values are encrypted under.
    pub fn active_key_id(&self) -> &str {
        &self.keys[self.active].0
    }

    /// Ids of all data keys, in key-file order.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> + '_ {
        self.keys.iter().map(|(k, _)| k.as_str())
    }

    /// Encrypts `plaintext` under the active key as a `zt1:` envelope bound
    /// to `context`. Use the column's name (`"users.id_number"`) as context:
    /// the same string must be given to [`decrypt`](Self::decrypt), and a
    /// value moved to another column will not decrypt there.
    ///
    /// Each call uses a fresh random 96-bit nonce, so equal plaintexts give
    /// different envelopes; use [`blind_index`](Self::blind_index) to search.
    ///
    /// # Panics
    ///
    /// Only if `plaintext` exceeds GCM's limit of about 64 GiB.
    pub fn encrypt(&self, context: &str, plaintext: &str) -> String {
        let (kid, key) = &self.keys[self.active];
        envelope::seal(key, kid, context, plaintext.as_bytes())
    }

    /// Decrypts an envelope made by [`encrypt`](Self::encrypt) under any key
    /// in this keyring, checking it was made for `context`.
    pub fn decrypt(&self, context: &str, value: &str) -> Result<String, CryptoError> {
        let parsed = envelope::parse(value)?;
        let key = self
            .key(parsed.kid)
            .ok_or_else(|| CryptoError::UnknownKeyId(parsed.kid.to_owned()))?;
        let plaintext = envelope::open(key, context, &parsed.payload)?;
        std::str::from_utf8(&plaintext)
            .map(str::to_owned)
            .map_err(|_| CryptoError::Malformed("decrypted value is not UTF-8"))
    }

    /// Decrypts `value` and encrypts it again under the active key — one
    /// step of a rotation sweep.
    pub fn rewrap(&self, context: &str, value: &str) -> Result<String, CryptoError> {
        let plaintext = Zeroizing::new(self.decrypt(context, value)?);
        Ok(self.encrypt(context, &plaintext))
    }

    /// Whether a rotation sweep should rewrite `value`: true unless it is a
    /// well-formed envelope under the active key. Legacy clear text and
    /// malformed values count as needing work, so a sweep over every row
    /// where this is true leaves nothing behind (tell legacy clear text
    /// apart with [`is_envelope`](Self::is_envelope) before calling
    /// [`rewrap`](Self::rewrap)).
    pub fn needs_rewrap(&self, value: &str) -> bool {
        envelope::key_id_of(value) != Some(self.active_key_id())
    }

    /// The key id an envelope was made with (see [`envelope::key_id_of`]).
    pub fn key_id_of(value: &str) -> Option<&str> {
        envelope::key_id_of(value)
    }

    /// Whether `value` looks like a `zt1:` envelope (see
    /// [`envelope::is_envelope`]).
    pub fn is_envelope(value: &str) -> bool {
        envelope::is_envelope(value)
    }

    /// Keyed lookup token for `value`: lower-case hex of
    /// HMAC-SM3(index key, `domain` || 0x00 || `value`).
    ///
    /// Store it in an indexed column next to the envelope and search with
    /// `WHERE id_number_bidx = ?`: equality search works while the database
    /// never holds the identity number, and without the index key nobody
    /// can test guesses against it (identity and mobile numbers are far too
    /// guessable for an unkeyed hash). `domain` (e.g. `"users.id_number"`)
    /// keeps tokens of different fields unlinkable; it must not contain NUL.
    /// Matching is exact, so normalize `value` first (trim, upper-case the
    /// `X` check digit, strip `+86`, …) the same way on write and on search.
    pub fn blind_index(&self, domain: &str, value: &str) -> String {
        debug_assert!(
            !domain.contains('\0'),
            "blind-index domain must not contain NUL"
        );
        hex::encode(hmac_sm3_parts(
            &*self.index_key,
            &[domain.as_bytes(), b"\0", value.as_bytes()],
        ))
    }

    fn key(&self, kid: &str) -> Option<&DataKey> {
        self.keys.iter().find(|(k, _)| k == kid).map(|(_, key)| key)
    }

    fn to_text(&self) -> String {
        let mut out = String::from(
            "# Zhengtong zt-crypto key file: SM4 data keys and the HMAC-SM3 blind-index key.\n\
             # SECRET. Keep it out of the repository and away from database backups.\n\
             # Never change `index`: stored blind indexes depend on it.\n\
             # Remove an old `key` line only once no stored value uses that id.\n",
        );
        out.push_str("index = ");
        push_hex(&mut out, &*self.index_key);
        out.push('\n');
        for (kid, key) in &self.keys {
            let _ = write!(out, "key {kid} = ");
            push_hex(&mut out, &**key);
            out.push('\n');
        }
        let _ = writeln!(out, "active = {}", self.active_key_id());
        out
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("active", &self.active_key_id())
            .field("key_ids", &self.key_ids().collect::<Vec<_>>())
            .field("index_key", &"<redacted>")
            .finish()
    }
}

fn random_data_key() -> DataKey {
    let mut key = Zeroizing::new([0u8; 16]);
    OsRng.fill_bytes(&mut *key);
    key
}

/// Hex into a zeroizing buffer, with a reason (that never quotes the input)
/// on failure. All-zero keys are refused: they are template placeholders.
fn decode_key<const N: usize>(s: &str) -> Result<Zeroizing<[u8; N]>, String> {
    if s.len() != 2 * N {
        return Err(format!(
            "must be {} hex digits ({N} bytes), found {} characters",
            2 * N,
            s.chars().count()
        ));
    }
    let mut out = Zeroizing::new([0u8; N]);
    hex::decode_to_slice(s, &mut *out)
        .map_err(|_| "contains a character that is not a hex digit".to_owned())?;
    if out.iter().all(|&b| b == 0) {
        return Err("is all zeros (a placeholder, not a key)".into());
    }
    Ok(out)
}

/// Writes lower-case hex straight into `out`, without an intermediate
/// `String` that would be left unwiped.
fn push_hex(out: &mut String, bytes: &[u8]) {
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
}
