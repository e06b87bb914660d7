//! Malicious-code prevention for uploaded application materials (恶意代码防范).
//!
//! Every upload goes through [`Scanner::scan`], which runs two layers:
//!
//! 1. **Built-in checks** ([`builtin::check`]): a pure, synchronous function
//!    with no I/O, always run first, so there is protection even where no
//!    antivirus engine is deployed. It rejects
//!    - the **EICAR** antivirus test file anywhere in the content
//!      (code [`UPLOAD_MALWARE`]), so operators can prove the chain works;
//!    - **executables** recognised by their magic bytes (code
//!      [`UPLOAD_EXECUTABLE`]): Windows PE/MZ (the `PE\0\0` signature at
//!      `e_lfanew` is reported when present, but any file starting with `MZ`
//!      is refused), ELF, Mach-O (32/64-bit, both byte orders, fat/universal
//!      binaries), **Java class files** (they share the `CAFEBABE` magic with
//!      Mach-O fat binaries and are executable code too, so both are refused),
//!      scripts starting with `#!`, and Windows shortcuts (`.lnk`);
//!    - **PDF active content** (code [`UPLOAD_PDF_ACTIVE_CONTENT`]) in files
//!      with `%PDF-` in their first 1024 bytes: JavaScript (`/JavaScript`,
//!      `/JS`), launch actions (`/Launch`), Flash/rich media (`/RichMedia`),
//!      which also covers `/OpenAction` and `/AA` triggers that run JavaScript
//!      or launch programs. PDF names are normalised (`#xx` hex escapes,
//!      ASCII case) before matching, and object streams compressed with
//!      `FlateDecode` are inflated (bounded) and inspected too. Embedded
//!      files are checked for executables and EICAR by their first bytes.
//!      See [`builtin`] for the details and the false-positive choices.
//! 2. **ClamAV** ([`clamd`]): when a clamd address is configured, the bytes
//!    are streamed to clamd with the `INSTREAM` command. ClamAV's signatures
//!    are the real antivirus protection; the built-in layer is a backstop.
//!
//! # What is not checked here
//!
//! The built-in layer does not look inside archives (ZIP, OFD, OOXML
//! `.docx`/`.xlsx`, JAR) or compound OLE/MSI files, so Office macros,
//! executables packed in a ZIP and compressed EICAR copies are left to
//! ClamAV. It does not recognise Windows scripts without a `#!` line (`.bat`,
//! `.ps1`, `.vbs`, `.js`, `.hta`), does not decrypt encrypted PDFs, does not
//! inspect XFA forms, fonts, images or content streams, and does not know
//! exploits against image or PDF parsers. Upload handlers must still decide
//! the file type from its content (only PDF, OFD, JPEG and PNG are accepted)
//! and store files under generated names.
//!
//! # Fail closed
//!
//! A scanner that cannot give an answer returns [`ScanError`] (clamd down,
//! timed out, answered garbage, or the file is over clamd's stream size
//! limit). This is a government system: **the caller must refuse the upload
//! on any `ScanError`**, telling the citizen to try again later
//! ([`ScanError::user_message`]), and must never store the file as if it had
//! been scanned clean. `ScanError` is deliberately a different type from
//! [`Verdict`] so that it cannot be mistaken for [`Verdict::Clean`].
//!
//! ```no_run
//! # async fn demo(bytes: &[u8]) -> Result<(), String> {
//! use zt_scanner::{ClamdConfig, Scanner, Verdict};
//! let config = ClamdConfig::new("tcp://127.0.0.1:3310".parse().map_err(|e| format!("{e}"))?);
//! let scanner = Scanner::with_clamd(config);
//! match scanner.scan(bytes).await {
//!     Ok(Verdict::Clean) => { /* store the file */ }
//!     Ok(Verdict::Rejected(finding)) => return Err(finding.message),
//!     Err(e) => return Err(e.user_message().to_string()), // fail closed
//! }
//! # Ok(())
//! # }
//! ```

pub mod builtin;
pub mod clamd;
mod pdf;

use std::time::Duration;

pub use clamd::{ClamdAddr, ClamdClient, ClamdConfig, InvalidClamdAddr};

/// Code of a [`Finding`] for malware: EICAR or a ClamAV `FOUND`.
pub const UPLOAD_MALWARE: &str = "UPLOAD_MALWARE";
/// Code of a [`Finding`] for an executable program or script.
pub const UPLOAD_EXECUTABLE: &str = "UPLOAD_EXECUTABLE";
/// Code of a [`Finding`] for a PDF with scripts, launch actions or rich media,
/// or whose compressed structure cannot be verified.
pub const UPLOAD_PDF_ACTIVE_CONTENT: &str = "UPLOAD_PDF_ACTIVE_CONTENT";
/// Code for [`ScanError::code`] when no verdict could be had.
pub const UPLOAD_SCAN_UNAVAILABLE: &str = "UPLOAD_SCAN_UNAVAILABLE";
/// Code for [`ScanError::code`] when the file is over the scanner's limit.
pub const UPLOAD_SCAN_TOO_LARGE: &str = "UPLOAD_SCAN_TOO_LARGE";

/// The outcome of a completed scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No check found anything.
    Clean,
    /// The upload must be refused.
    Rejected(Finding),
}

impl Verdict {
    pub fn is_clean(&self) -> bool {
        matches!(self, Self::Clean)
    }

    /// The finding of a rejection.
    pub fn finding(&self) -> Option<&Finding> {
        match self {
            Self::Clean => None,
            Self::Rejected(f) => Some(f),
        }
    }
}

/// Why an upload was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Stable code: [`UPLOAD_MALWARE`], [`UPLOAD_EXECUTABLE`] or
    /// [`UPLOAD_PDF_ACTIVE_CONTENT`].
    pub code: &'static str,
    /// For the citizen, in Chinese.
    pub message: String,
    /// For the audit log: signature name, matched marker, offset.
    pub detail: String,
}

impl Finding {
    /// EICAR or a ClamAV signature; `detail` names it.
    pub fn malware(detail: impl Into<String>) -> Self {
        Self {
            code: UPLOAD_MALWARE,
            message: "文件未通过安全检查（检测到恶意代码），请检查后重新上传。".to_string(),
            detail: detail.into(),
        }
    }

    /// An executable program or script; `detail` names the format.
    pub fn executable(detail: impl Into<String>) -> Self {
        Self {
            code: UPLOAD_EXECUTABLE,
            message: "不能上传可执行程序文件。".to_string(),
            detail: detail.into(),
        }
    }

    /// A PDF with JavaScript, launch actions or rich media.
    pub fn pdf_active_content(detail: impl Into<String>) -> Self {
        Self {
            code: UPLOAD_PDF_ACTIVE_CONTENT,
            message: "PDF 文件包含脚本或自动执行动作，请另存为普通 PDF 后重新上传。".to_string(),
            detail: detail.into(),
        }
    }

    /// A PDF whose compressed object streams cannot be inspected (encrypted,
    /// an unusual filter, over the decompression limit): refused because
    /// active content cannot be ruled out. Same code as
    /// [`Finding::pdf_active_content`], a more accurate message.
    pub fn pdf_unverifiable(detail: impl Into<String>, encrypted: bool) -> Self {
        let message = if encrypted {
            "PDF 文件已加密，无法完成安全检查，请取消密码保护或另存为普通 PDF 后重新上传。"
        } else {
            "PDF 文件结构无法完成安全检查，请另存为普通 PDF 后重新上传。"
        };
        Self {
            code: UPLOAD_PDF_ACTIVE_CONTENT,
            message: message.to_string(),
            detail: detail.into(),
        }
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.detail)
    }
}

/// The scanner could not give a verdict. Never a reason to accept a file:
/// the caller must refuse the upload (fail closed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    /// clamd could not be reached (connection refused, no such socket,
    /// connect timeout, connection dropped).
    #[error("virus scanner unavailable: {reason}")]
    Unavailable { reason: String },
    /// clamd accepted the connection but did not answer in time.
    #[error("virus scanner did not answer within {after:?}")]
    Timeout { after: Duration },
    /// clamd answered something that is not a verdict (an `ERROR` reply, an
    /// unknown reply, an answer before the whole file was sent).
    #[error("virus scanner protocol error: {0}")]
    Protocol(String),
    /// clamd refused the stream: `INSTREAM size limit exceeded`
    /// (clamd's `StreamMaxLength`).
    #[error("file exceeds the virus scanner's stream size limit")]
    TooLarge,
}

impl ScanError {
    /// Stable code: [`UPLOAD_SCAN_TOO_LARGE`] or [`UPLOAD_SCAN_UNAVAILABLE`].
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge => UPLOAD_SCAN_TOO_LARGE,
            _ => UPLOAD_SCAN_UNAVAILABLE,
        }
    }

    /// For the citizen, in Chinese: the upload was refused, try again later
    /// (or, when too large, make the file smaller).
    pub fn user_message(&self) -> &'static str {
        match self {
            Self::TooLarge => "文件过大，无法完成安全检查，请压缩或拆分后重新上传。",
            _ => "安全检查服务暂时不可用，文件未上传，请稍后重试。",
        }
    }
}

/// The upload scanner: built-in checks, then clamd when configured.
///
/// Cheap to clone and share (`Arc` it or clone it; it holds only
/// configuration, every scan opens its own clamd connection).
#[derive(Debug, Clone, Default)]
pub struct Scanner {
    clamd: Option<ClamdClient>,
}

impl Scanner {
    /// Built-in checks only, optionally with clamd.
    pub fn new(clamd: Option<ClamdConfig>) -> Self {
        Self {
            clamd: clamd.map(ClamdClient::new),
        }
    }

    /// Built-in checks only (development, or where no ClamAV is deployed).
    pub fn builtin_only() -> Self {
        Self { clamd: None }
    }

    /// Built-in checks, then clamd.
    pub fn with_clamd(config: ClamdConfig) -> Self {
        Self::new(Some(config))
    }

    /// The clamd client, when configured.
    pub fn clamd(&self) -> Option<&ClamdClient> {
        self.clamd.as_ref()
    }

    /// Scans an upload: [`builtin::check`] first (a rejection there is final
    /// and clamd is not asked), then clamd when configured.
    ///
    /// The built-in part runs on the calling task; it is linear in the size
    /// of the file plus at most [`builtin::Limits::max_total_inflate`] of
    /// decompression (tens of milliseconds for typical uploads).
    ///
    /// **Fail closed**: on `Err`, refuse the upload.
    pub async fn scan(&self, bytes: &[u8]) -> Result<Verdict, ScanError> {
        let verdict = builtin::check(bytes);
        if let Verdict::Rejected(f) = &verdict {
            tracing::warn!(code = f.code, detail = %f.detail, size = bytes.len(), "upload rejected by built-in checks");
            return Ok(verdict);
        }
        let Some(clamd) = &self.clamd else {
            return Ok(Verdict::Clean);
        };
        match clamd.scan(bytes).await {
            Ok(Verdict::Rejected(f)) => {
                tracing::warn!(code = f.code, detail = %f.detail, size = bytes.len(), "upload rejected by clamd");
                Ok(Verdict::Rejected(f))
            }
            Ok(Verdict::Clean) => Ok(Verdict::Clean),
            Err(e) => {
                tracing::warn!(error = %e, size = bytes.len(), "clamd scan failed; the upload must be refused");
                Err(e)
            }
        }
    }

    /// Readiness: `Ok` when no clamd is configured or clamd answers `PING`.
    pub async fn ready(&self) -> Result<(), ScanError> {
        match &self.clamd {
            None => Ok(()),
            Some(c) => c.ping().await,
        }
    }
}
