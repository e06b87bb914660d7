//! Personal information at rest (GB/T 35273, GB/T 22239 数据保密性).
//!
//! Identity numbers, mobile numbers and application forms (which hold
//! identity numbers, telephone numbers and addresses) are stored as SM4-GCM
//! envelopes made with the keyring; the keys live in a key file or the
//! environment, never in the database. Each value is bound (as associated
//! data) to its column *and its row*, so a value copied to another row does
//! not decrypt there. Equality lookups use keyed HMAC-SM3 blind indexes.
//!
//! Rotation: `zhengtong keys rotate` adds a key to the file and reseals every
//! row online; a running server that meets a value under a key id it does not
//! know rereads the key file once and retries.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use serde::Serialize;
use sqlx::Row;
use zt_crypto::{CryptoError, Keyring};

use crate::error::{AppError, Result};
use crate::state::App;

/// The column contexts (associated data) of sealed values.
pub fn ctx_user_id_number(username: &str) -> String {
    format!("users.id_number:{username}")
}
pub fn ctx_user_mobile(username: &str) -> String {
    format!("users.mobile:{username}")
}
pub fn ctx_case_form(case_no: &str) -> String {
    format!("cases.form:{case_no}")
}

/// Blind-index domains.
pub const BIDX_ID_NUMBER: &str = "id_number";
pub const BIDX_MOBILE: &str = "mobile";

enum Source {
    File(PathBuf),
    /// Given in the environment (`ZT_PII_KEYS`): cannot be reread.
    Inline,
}

pub struct Pii {
    keys: RwLock<Arc<Keyring>>,
    source: Source,
}

impl std::fmt::Debug for Pii {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pii")
            .field("active_key_id", &self.active_key_id())
            .finish()
    }
}

fn key_error(e: CryptoError) -> AppError {
    AppError::Internal(format!("personal-information keys: {e}"))
}

impl Pii {
    pub fn from_keyring(k: Keyring) -> Self {
        Self {
            keys: RwLock::new(Arc::new(k)),
            source: Source::Inline,
        }
    }

    /// Keys given as text (the `ZT_PII_KEYS` variable).
    pub fn from_text(text: &str) -> Result<Self> {
        Ok(Self::from_keyring(
            Keyring::from_text(text).map_err(key_error)?,
        ))
    }

    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| AppError::Internal(format!("{}: {e}", path.display())))?;
        Ok(Self {
            keys: RwLock::new(Arc::new(Keyring::from_text(&text).map_err(key_error)?)),
            source: Source::File(path.to_path_buf()),
        })
    }

    /// Creates a new key file (never overwriting one) readable only by its owner.
    pub fn create_file(path: &Path, kid: &str) -> Result<Self> {
        let (_, text) = Keyring::generate(kid).map_err(key_error)?;
        write_new_key_file(path, &text)?;
        Self::from_file(path)
    }

    fn current(&self) -> Arc<Keyring> {
        self.keys
            .read()
            .map(|k| k.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    pub fn active_key_id(&self) -> String {
        self.current().active_key_id().to_string()
    }

    pub fn seal(&self, context: &str, plaintext: &str) -> String {
        self.current().encrypt(context, plaintext)
    }

    /// Opens a sealed value. A value from before encryption (plaintext) is
    /// returned as it is: `reseal` converts such rows at migration.
    pub fn open(&self, context: &str, value: &str) -> Result<String> {
        if !zt_crypto::is_envelope(value) {
            return Ok(value.to_string());
        }
        match self.current().decrypt(context, value) {
            Err(CryptoError::UnknownKeyId(_)) if matches!(self.source, Source::File(_)) => {
                self.reload()?;
                self.current().decrypt(context, value).map_err(key_error)
            }
            other => other.map_err(key_error),
        }
    }

    pub fn open_opt(&self, context: &str, value: Option<&str>) -> Result<Option<String>> {
        value.map(|v| self.open(context, v)).transpose()
    }

    pub fn blind_index(&self, domain: &str, normalized: &str) -> String {
        self.current().blind_index(domain, normalized)
    }

    pub fn needs_reseal(&self, value: &str) -> bool {
        self.current().needs_rewrap(value)
    }

    /// Rereads the key file (after `keys rotate` added a key).
    pub fn reload(&self) -> Result<()> {
        let Source::File(path) = &self.source else {
            return Ok(());
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| AppError::Internal(format!("{}: {e}", path.display())))?;
        let k = Keyring::from_text(&text).map_err(key_error)?;
        if let Ok(mut g) = self.keys.write() {
            *g = Arc::new(k);
        }
        tracing::info!(key_file = %path.display(), "personal-information keys reloaded");
        Ok(())
    }

    /// Adds a new active key to the key file (keeping the old ones, which
    /// still open older values) and starts using it.
    pub fn rotate(&self, new_kid: &str) -> Result<()> {
        let Source::File(path) = &self.source else {
            return Err(AppError::Internal(
                "keys given in ZT_PII_KEYS cannot be rotated here: add a key to the variable's text and reseal".into(),
            ));
        };
        let (k, text) = self
            .current()
            .with_new_active_key(new_kid)
            .map_err(key_error)?;
        replace_key_file(path, &text)?;
        if let Ok(mut g) = self.keys.write() {
            *g = Arc::new(k);
        }
        Ok(())
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> AppError + '_ {
    move |e| AppError::Internal(format!("{}: {e}", path.display()))
}

/// Creates `path` with `text` atomically and never over an existing file: the
/// text goes to a temporary file first, which is then linked into place
/// (linking fails if the name exists, so two processes starting together do
/// not both create keys).
pub(crate) fn write_new_key_file(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    write_private(&tmp, text)?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    linked.map_err(io(path))
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(io(path))?;
    f.write_all(text.as_bytes()).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

/// Writes the new file beside the old one, then renames it into place, so
/// that a crash leaves either the old or the new file, never half of one.
fn replace_key_file(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("new");
    let _ = std::fs::remove_file(&tmp);
    write_private(&tmp, text)?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

/// Where the platform looks for its keys: the configured file, or the text of
/// `ZT_PII_KEYS`; with neither, a file in the data directory is created on
/// first start (and the operator warned to move and back it up).
pub fn load_or_create(key_file: &Path, inline: Option<&str>, create: bool) -> Result<Pii> {
    if let Some(text) = inline.filter(|t| !t.trim().is_empty()) {
        return Pii::from_text(text);
    }
    if key_file.exists() {
        return Pii::from_file(key_file);
    }
    if !create {
        return Err(AppError::Internal(format!(
            "the personal-information key file {} does not exist: create it with `zhengtong keys init`",
            key_file.display()
        )));
    }
    match Pii::create_file(key_file, "k1") {
        Ok(p) => {
            tracing::warn!(
                key_file = %key_file.display(),
                "created a new personal-information key file: back it up apart from the database, or the data cannot be read again"
            );
            Ok(p)
        }
        // Another process created it first.
        Err(_) if key_file.exists() => Pii::from_file(key_file),
        Err(e) => Err(e),
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ResealReport {
    pub users: u64,
    pub cases: u64,
}

const BATCH: i64 = 500;

/// Seals rows still in plaintext (from before encryption) and reseals rows
/// under an older key, in batches of one transaction each, so it can run
/// while the platform serves. Also fills missing blind indexes.
pub async fn reseal(app: &App) -> Result<ResealReport> {
    let pii = &app.pii;
    let active = format!("zt1:{}:%", pii.active_key_id());
    let mut report = ResealReport::default();
    let mut after = 0_i64;
    loop {
        let rows = {
            let mut c = app.read().await?;
            sqlx::query(
                "SELECT id, username, id_number, mobile FROM users WHERE id > $1 AND \
                 ((id_number IS NOT NULL AND (id_number NOT LIKE $2 OR id_number_bidx IS NULL)) OR \
                  (mobile IS NOT NULL AND (mobile NOT LIKE $2 OR mobile_bidx IS NULL))) ORDER BY id LIMIT $3",
            )
            .bind(after)
            .bind(&active)
            .bind(BATCH)
            .fetch_all(&mut *c)
            .await?
        };
        if rows.is_empty() {
            break;
        }
        let mut tx = app.begin().await?;
        for r in &rows {
            let id: i64 = r.try_get("id")?;
            let username: String = r.try_get("username")?;
            let idn: Option<String> = r.try_get("id_number")?;
            let mob: Option<String> = r.try_get("mobile")?;
            let idn = pii.open_opt(&ctx_user_id_number(&username), idn.as_deref())?;
            let mob = pii.open_opt(&ctx_user_mobile(&username), mob.as_deref())?;
            zt_store::users::set_personal(
                &mut tx,
                id,
                &sealed_personal(pii, &username, idn.as_deref(), mob.as_deref()),
            )
            .await?;
            after = id;
            report.users += 1;
        }
        tx.commit().await?;
    }
    let mut after = 0_i64;
    loop {
        let rows = {
            let mut c = app.read().await?;
            sqlx::query(
                "SELECT id, case_no, form FROM cases WHERE id > $1 AND form NOT LIKE $2 ORDER BY id LIMIT $3",
            )
            .bind(after)
            .bind(&active)
            .bind(BATCH)
            .fetch_all(&mut *c)
            .await?
        };
        if rows.is_empty() {
            break;
        }
        let mut tx = app.begin().await?;
        for r in &rows {
            let id: i64 = r.try_get("id")?;
            let case_no: String = r.try_get("case_no")?;
            let form: String = r.try_get("form")?;
            let ctx = ctx_case_form(&case_no);
            let plain = pii.open(&ctx, &form)?;
            // Only the column changes: the case's version (its optimistic
            // lock) is left alone, so staff working on it see no conflict.
            sqlx::query("UPDATE cases SET form = $1 WHERE id = $2")
                .bind(pii.seal(&ctx, &plain))
                .bind(id)
                .execute(&mut *tx)
                .await?;
            after = id;
            report.cases += 1;
        }
        tx.commit().await?;
    }
    Ok(report)
}

/// A user's identity and mobile numbers as stored: sealed, with blind indexes
/// of their normalised forms.
pub fn sealed_personal(
    pii: &Pii,
    username: &str,
    id_number: Option<&str>,
    mobile: Option<&str>,
) -> zt_store::users::Personal {
    zt_store::users::Personal {
        id_number: id_number.map(|v| pii.seal(&ctx_user_id_number(username), v)),
        id_number_bidx: id_number.map(|v| pii.blind_index(BIDX_ID_NUMBER, &v.to_ascii_uppercase())),
        mobile: mobile.map(|v| pii.seal(&ctx_user_mobile(username), v)),
        mobile_bidx: mobile.map(|v| pii.blind_index(BIDX_MOBILE, v)),
    }
}

/// Counts of sealed values per key id, for `keys status`.
pub async fn key_usage(app: &App) -> Result<Vec<(String, String, i64)>> {
    let mut c = app.read().await?;
    let mut out = Vec::new();
    for (table, col) in [
        ("users", "id_number"),
        ("users", "mobile"),
        ("cases", "form"),
    ] {
        let rows: Vec<(Option<String>,)> = sqlx::query_as(&format!(
            "SELECT {col} FROM {table} WHERE {col} IS NOT NULL"
        ))
        .fetch_all(&mut *c)
        .await?;
        let mut counts: std::collections::BTreeMap<String, i64> = Default::default();
        for (v,) in rows {
            let kid = v
                .as_deref()
                .and_then(zt_crypto::key_id_of)
                .unwrap_or("(plaintext)")
                .to_string();
            *counts.entry(kid).or_default() += 1;
        }
        for (k, n) in counts {
            out.push((format!("{table}.{col}"), k, n));
        }
    }
    Ok(out)
}
