//! One error type for the whole crate, so callers can match on *why* an
//! operation failed without ever seeing key material: no variant carries a
//! key, a plaintext or a raw input value — only key ids, line numbers and
//! fixed descriptions.

/// Everything that can go wrong in `zt-crypto`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The input is not in the expected shape (not a `zt1:` envelope, bad
    /// base64 or hex, wrong length). The text says which rule was broken.
    #[error("malformed input: {0}")]
    Malformed(&'static str),

    /// The envelope names a key id that this keyring does not hold — the
    /// key was retired too early, or the wrong key file is loaded.
    #[error("unknown key id `{0}`")]
    UnknownKeyId(String),

    /// A key id offered to `generate`/`with_new_active_key` does not match
    /// `[A-Za-z0-9_-]{1,16}`. Not echoed: it may be a pasted secret.
    #[error("invalid key id: it must match [A-Za-z0-9_-]{{1,16}}")]
    InvalidKeyId,

    /// A key id offered for a new key is already in the keyring.
    #[error("key id `{0}` is already in the keyring")]
    DuplicateKeyId(String),

    /// The GCM tag did not verify: the value was altered, was encrypted for
    /// another context (column), or the key under that id has changed.
    #[error("authentication failed: value altered, wrong context, or wrong key")]
    Authentication,

    /// The key file could not be loaded. `line` is 1-based; `None` means the
    /// problem concerns the file as a whole (e.g. a required line is missing).
    #[error("key file{}: {reason}", fmt_line(*.line))]
    KeyFile {
        /// 1-based line number, if the problem is on a particular line.
        line: Option<usize>,
        /// What is wrong, never including the key material itself.
        reason: String,
    },

    /// An SM2 private or public key could not be parsed or encoded.
    #[error("invalid SM2 key: {0}")]
    InvalidKey(&'static str),

    /// An SM2 signature is malformed or does not verify for this key and
    /// message.
    #[error("SM2 signature verification failed")]
    Signature,
}

fn fmt_line(line: Option<usize>) -> String {
    match line {
        Some(n) => format!(", line {n}"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_errors_name_the_line() {
        let e = CryptoError::KeyFile {
            line: Some(3),
            reason: "boom".into(),
        };
        assert_eq!(e.to_string(), "key file, line 3: boom");
        let e = CryptoError::KeyFile {
            line: None,
            reason: "missing".into(),
        };
        assert_eq!(e.to_string(), "key file: missing");
    }
}
