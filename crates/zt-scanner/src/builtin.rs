//! Built-in checks: pure functions over the uploaded bytes, no I/O.
//!
//! [`check`] applies, in this order:
//!
//! 1. **EICAR** ([`find_eicar`]): the standard 68-byte antivirus test string
//!    anywhere in the raw bytes → [`crate::UPLOAD_MALWARE`]. Only the raw
//!    bytes are searched: an EICAR copy inside a compressed ZIP or PDF stream
//!    is left to ClamAV. The constant is kept as two halves in this source so
//!    that antivirus scanners do not flag the repository.
//! 2. **Executables** by magic bytes at offset 0 ([`executable_kind`]) →
//!    [`crate::UPLOAD_EXECUTABLE`]:
//!    - `MZ` (DOS/Windows). When the header is long enough, `e_lfanew`
//!      (offset `0x3C`) is followed and a `PE\0\0` signature there is named
//!      in the detail; a file starting with `MZ` is refused either way (a
//!      document or image never starts with `MZ`).
//!    - ELF (`\x7fELF`).
//!    - Mach-O: `FEEDFACE`/`FEEDFACF` in both byte orders, fat (universal)
//!      binaries `CAFEBABE`/`CAFEBABF` (and their byte-swapped forms).
//!      **Java class files** also start with `CAFEBABE`; they are told apart
//!      by the next word (a fat header has a small architecture count, a
//!      class file a version of at least 45) only for the audit detail: both
//!      are executable code and both are refused.
//!    - Scripts with a `#!` interpreter line (also after a UTF-8 BOM).
//!    - Windows shortcuts (`.lnk`: header size `0x4C` and the shell-link
//!      CLSID), which can run arbitrary commands.
//!
//!    Not recognised: OLE compound files / MSI installers with macros, ZIP
//!    based formats (JAR, APK, OOXML with macros), scripts without `#!`
//!    (`.bat`, `.ps1`, `.vbs`, `.js`, `.hta`), COM files (no magic). ClamAV
//!    covers those; the upload type allow-list (PDF, OFD, JPEG, PNG) refuses
//!    most of them anyway.
//! 3. **PDF active content** in files with `%PDF-` in the first 1024 bytes
//!    (the window PDF readers accept) → [`crate::UPLOAD_PDF_ACTIVE_CONTENT`].
//!
//! # How PDFs are inspected
//!
//! The file is tokenised like a PDF reader does (comments, literal and hex
//! strings, names, dictionaries, `stream … endstream`). Every **name** token
//! is normalised (`#xx` hex escapes decoded, so `/J#61vaScript` is
//! `/JavaScript`; compared ignoring ASCII case) and refused when it is one of
//! `/JavaScript`, `/JS`, `/Launch` or `/RichMedia`. This covers
//! `/OpenAction` and `/AA` (additional actions) that run JavaScript or launch
//! a program, document-level scripts (the `/JavaScript` name tree),
//! rendition actions with `/JS`, and Flash. `/OpenAction` and `/AA` with
//! harmless actions (for example `/GoTo` the first page on opening) pass.
//!
//! Streams:
//! - **Object streams** (`/Type /ObjStm`, or any stream dictionary with a
//!   `/First` key, because readers do not insist on the type) are decoded
//!   (`FlateDecode`, or no filter) and tokenised again, both as a whole and
//!   object by object from the offsets in their header, as a reader would.
//!   Decompression is bounded by [`Limits`]: at most 16 MiB per stream and
//!   32 MiB in total by default. An object stream that cannot be inspected
//!   (over the limit — a deflate bomb —, corrupt, another filter such as
//!   `LZWDecode`, a predictor, nested too deep, or an encrypted PDF) makes
//!   the PDF **refused** with [`crate::Finding::pdf_unverifiable`]:
//!   active content could be hidden there, so the check fails closed.
//! - **Embedded files** (`/Type /EmbeddedFile`): their first MiB is decoded
//!   and checked for EICAR and executable magic (without a `/Launch` action,
//!   which is refused anyway, a reader does not run them).
//! - **Other streams** (page content, fonts, images, metadata) are not
//!   decoded: they cannot hold actions, and text such as "JavaScript" in a
//!   page (`(Learn JavaScript) Tj`) must not cause a false positive.
//!
//! # False-positive choices
//!
//! - Text never matches: only name tokens (`/JavaScript`) count, and names
//!   inside literal or hex strings (a document title "About /JavaScript")
//!   and inside content streams are ignored.
//! - **Except** where a reader could see structure the tokeniser skipped: a
//!   comment, string or stream body that contains indirect-object syntax
//!   (`12 0 obj`, `trailer`) is also searched for names without regard to
//!   strings. This defeats tricks such as an unbalanced `(` between objects
//!   (readers jump to objects by the cross-reference offsets and never see
//!   it, or a "stream" in junk whose body is plain objects) at the price of
//!   refusing a PDF whose page text literally shows `12 0 obj … /JS`
//!   uncompressed (or in a deflate block stored verbatim, which encoders
//!   only do for short or incompressible data).
//! - Fillable forms made with Acrobat often carry small formatting scripts
//!   (`/AA … /JS (AFNumber_Format(…))`): they are refused on purpose; the
//!   citizen prints or saves the form as a plain PDF.
//! - Encrypted PDFs (`/Encrypt`, even without a user password) that use
//!   object streams are refused: the streams cannot be decrypted here.
//!   Encrypted PDFs without object streams are inspected normally (the
//!   dictionaries are not encrypted).
//!
//! What is not inspected: XFA forms, embedded PDFs inside PDFs, exploits
//! against reader bugs, `/URI` and `/SubmitForm` actions.

use crate::{Finding, Verdict};

/// First half of the EICAR test string (split so the source is not flagged).
const EICAR_HEAD: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-AN";
/// Second half of the EICAR test string.
const EICAR_TAIL: &[u8] = b"TIVIRUS-TEST-FILE!$H+H*";

/// Where [`check`] looks for `%PDF-`.
pub const PDF_HEADER_WINDOW: usize = 1024;

/// Bounds for the PDF inspection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest decompressed size of one object stream.
    pub max_stream_inflate: usize,
    /// Largest decompressed size of all object streams of one file.
    pub max_total_inflate: usize,
    /// Deepest nesting of streams inside decoded object streams.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_stream_inflate: 16 * 1024 * 1024,
            max_total_inflate: 32 * 1024 * 1024,
            max_depth: 4,
        }
    }
}

/// The built-in checks with the default [`Limits`].
pub fn check(bytes: &[u8]) -> Verdict {
    check_with_limits(bytes, &Limits::default())
}

/// The built-in checks with explicit limits.
pub fn check_with_limits(bytes: &[u8], limits: &Limits) -> Verdict {
    if let Some(offset) = find_eicar(bytes) {
        return Verdict::Rejected(Finding::malware(format!(
            "EICAR-Test-File at byte {offset}"
        )));
    }
    if let Some(kind) = executable_kind(bytes) {
        return Verdict::Rejected(Finding::executable(kind));
    }
    if is_pdf(bytes) {
        if let Some(finding) = crate::pdf::check(bytes, limits) {
            return Verdict::Rejected(finding);
        }
    }
    Verdict::Clean
}

/// The 68-byte EICAR test file, for readiness checks and tests ("does the
/// chain reject malware?"). Assembled at run time.
pub fn eicar() -> Vec<u8> {
    [EICAR_HEAD, EICAR_TAIL].concat()
}

/// Offset of the first EICAR test string in `bytes`.
pub fn find_eicar(bytes: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(p) = find(&bytes[from..], EICAR_HEAD) {
        let at = from + p;
        if bytes[at + EICAR_HEAD.len()..].starts_with(EICAR_TAIL) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Does `%PDF-` appear in the first [`PDF_HEADER_WINDOW`] bytes?
pub fn is_pdf(bytes: &[u8]) -> bool {
    find(&bytes[..bytes.len().min(PDF_HEADER_WINDOW)], b"%PDF-").is_some()
}

/// The executable format `bytes` starts with, as an audit detail.
pub fn executable_kind(bytes: &[u8]) -> Option<String> {
    let be32 = |at: usize| -> Option<u32> {
        let w = bytes.get(at..at + 4)?;
        Some(u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
    };
    if bytes.starts_with(b"MZ") {
        let pe_at = bytes
            .get(0x3C..0x40)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]) as usize)
            .filter(|&off| {
                off.checked_add(4)
                    .and_then(|end| bytes.get(off..end))
                    .is_some_and(|sig| sig == b"PE\0\0")
            });
        return Some(match pe_at {
            Some(off) => format!("Windows PE executable (PE header at {off:#x})"),
            None => "DOS/Windows MZ executable".to_string(),
        });
    }
    if bytes.starts_with(b"\x7fELF") {
        return Some("ELF executable".to_string());
    }
    let kind = match be32(0)? {
        0xFEED_FACE => "Mach-O executable (32-bit, big-endian)",
        0xFEED_FACF => "Mach-O executable (64-bit, big-endian)",
        0xCEFA_EDFE => "Mach-O executable (32-bit, little-endian)",
        0xCFFA_EDFE => "Mach-O executable (64-bit, little-endian)",
        0xCAFE_BABE => match be32(4) {
            // A fat header counts architectures; a class file has
            // minor_version << 16 | major_version, major >= 45.
            Some(n) if n < 45 => "Mach-O universal (fat) binary",
            _ => "Java class file (executable bytecode, shares the CAFEBABE magic)",
        },
        0xCAFE_BABF => "Mach-O universal (fat, 64-bit) binary",
        0xBEBA_FECA | 0xBFBA_FECA => "Mach-O universal (fat) binary, byte-swapped",
        _ => "",
    };
    if !kind.is_empty() {
        return Some(kind.to_string());
    }
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if text.starts_with(b"#!") {
        let line_end = text
            .iter()
            .take(80)
            .position(|&b| b == b'\n' || b == b'\r')
            .unwrap_or(text.len().min(80));
        return Some(format!(
            "script with interpreter line {:?}",
            String::from_utf8_lossy(&text[..line_end])
        ));
    }
    const LNK: [u8; 20] = [
        0x4C, 0, 0, 0, 0x01, 0x14, 0x02, 0, 0, 0, 0, 0, 0xC0, 0, 0, 0, 0, 0, 0, 0x46,
    ];
    if bytes.starts_with(&LNK) {
        return Some("Windows shortcut (.lnk)".to_string());
    }
    None
}

/// First occurrence of `needle` in `hay`.
pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let mut from = 0;
    while from + needle.len() <= hay.len() {
        let p = hay[from..=hay.len() - needle.len()]
            .iter()
            .position(|&b| b == first)?;
        let at = from + p;
        if hay[at + 1..].starts_with(rest) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eicar_is_68_bytes() {
        assert_eq!(eicar().len(), 68);
    }

    #[test]
    fn find_works() {
        assert_eq!(find(b"abcabd", b"abd"), Some(3));
        assert_eq!(find(b"ab", b"abc"), None);
        assert_eq!(find(b"abc", b""), None);
        assert_eq!(find(b"xxabc", b"abc"), Some(2));
    }
}
