//! Commercial cryptography (商用密码, GM/T) for Zhengtong: SM3 hashing and
//! HMAC-SM3, SM4-GCM encryption of personal information at rest, blind
//! indexes for searching it, and SM2 signatures. Built on the RustCrypto
//! implementations; nothing here is a hand-rolled primitive.
//!
//! # Personal information at rest
//!
//! Identity numbers, mobile numbers and addresses are stored as `zt1:`
//! envelopes ([`envelope`]) produced by a [`Keyring`]:
//!
//! - **SM4-GCM** gives confidentiality *and* integrity: a modified value
//!   fails to decrypt instead of decrypting to something else. A random
//!   96-bit nonce per value means equal numbers do not give equal
//!   ciphertexts, so the table reveals nothing about repeats.
//! - **The context as associated data.** Each value is bound to the name of
//!   the column it belongs to (`"users.id_number"`). Someone who can write
//!   to the database cannot move a victim's encrypted identity number into
//!   the address field of their own row and have the application decrypt it
//!   for them.
//! - **A separate blind-index key.** Random nonces make equality search on
//!   ciphertext impossible, so a keyed HMAC-SM3 token
//!   ([`Keyring::blind_index`]) is stored next to each value that must be
//!   searchable. It uses its own key, never rotated with the data keys:
//!   rotating it would invalidate every stored token, and keeping it apart
//!   means neither key alone both decrypts and enables lookups.
//! - **Rotation.** Each envelope names the key id it was made with. Adding a
//!   key with [`Keyring::with_new_active_key`] makes it the key for new
//!   writes while older keys keep decrypting; a background sweep rewrites
//!   values where [`Keyring::needs_rewrap`] is true using
//!   [`Keyring::rewrap`], and once none remain the old `key` line can be
//!   deleted from the key file. Blind indexes are unaffected.
//!
//! Random nonces limit each data key to about 2^32 encryptions before
//! nonce collisions become a concern; rotate far sooner than that.
//!
//! # Signatures
//!
//! [`sm2sig`] signs records for non-repudiation with SM2 and the default
//! distinguishing id, encoding signatures as hex of `r || s`.

pub mod envelope;
mod error;
pub mod keyring;
pub mod sm2sig;
pub mod sm3;

pub use envelope::{is_envelope, is_valid_key_id, key_id_of};
pub use error::CryptoError;
pub use keyring::Keyring;
pub use sm2sig::{verify, Sm2Signer, DEFAULT_DIST_ID};
pub use sm3::{ct_eq, hmac_sm3, sm3_digest, sm3_hex};
