//! The built-in e-seal provider: seals PDFs in-process, with a CA and seal keys of its own, so
//! that `zhengtong demo` issues sealed, verifiable licences without the province's e-seal
//! service. Not for production, where the service holds the seals (feature `local-seal`).
//!
//! [`LocalSealer::seal`] produces what the service's `POST /seal/v1/sign` produces (eseal.md
//! §2.2), so that the rest of the platform — [`crate::verify_sealed_pdf`], the verification page,
//! pdfsig, pyHanko — cannot tell the difference except by the trust anchor:
//!
//! * an incremental update: the original bytes stay a prefix, earlier signatures stay valid;
//! * a signature field `Seal_<32 hex>` whose widget (Print + Locked) sits on the requested page
//!   at `[x, y, x + 120, y + 120]` from the lower-left corner of the page's visible box, with a
//!   red round stamp as its appearance (its text in a subset of the crate's embedded font);
//! * `/Filter /Adobe.PPKLite`, `/SubFilter /ETSI.CAdES.detached`, `/M` (UTC), `/Reason`,
//!   `/Name` when a signer name is given, `/Location` (the organisation);
//! * a PAdES B-B CMS: SHA-256, RSA 2048 PKCS#1 v1.5, signed attributes content-type,
//!   message-digest and signing-certificate-v2, the seal and CA certificates embedded.
//!
//! The same checks as the service's are made, in its order, with errors of the same meaning
//! ([`LocalSealError`]). Keys come from the operating system's generator; the key files are
//! readable by their owner only. Time is never read here: the caller passes the signing time.

mod cms;
mod pdf;
mod pki;
mod stamp;

use std::fmt;
use std::path::{Path, PathBuf};

use chrono::Datelike as _;
use pdf_writer::{Chunk, Filter, Finish, Rect, Ref};
use rsa::rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

use crate::font::FontUse;
use crate::pdfobj::{Dict, Obj};
use pdf::{set, Document, Located, Revision};

/// Largest document accepted, as the service's limit (20 MiB).
const MAX_DOCUMENT_BYTES: usize = 20 * 1024 * 1024;
/// Room reserved for the CMS in `/Contents` (a B-B signature with two certificates needs about
/// 2.5 KiB).
const CONTENTS_BYTES: usize = 8192;
/// Width of the `/ByteRange` value written before the offsets are known.
const BYTE_RANGE_WIDTH: usize = 40;
/// Widget flags: Print (4) + Locked (128).
const WIDGET_FLAGS: i64 = 132;
/// AcroForm `/SigFlags`: SignaturesExist (1) + AppendOnly (2).
const SIG_FLAGS: i64 = 3;

/// One seal the built-in provider holds: what `POST /seal/v1/seals` lists for a seal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalSeal {
    /// The seal code (印章编码), e.g. `37020000000011`: ASCII letters, digits, `-` and `_`, at
    /// most 64 (it names the seal's files).
    pub seal_code: String,
    /// The text of the seal (印章名称): the certificate's common name and the stamp's text.
    pub name: String,
    /// The organisation that owns the seal: the certificate's organisation and `/Location`.
    pub org_name: String,
    /// The organisation's unified social credit code, when known (listed only; the service's
    /// certificates do not carry it either).
    pub org_uscc: Option<String>,
}

/// A sealed document, with what the service's answer reports besides it.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedPdf {
    /// The sealed PDF.
    pub pdf: Vec<u8>,
    /// 32 lowercase hex characters; the signature field is `Seal_<signature_id>`.
    pub signature_id: String,
    /// Serial number of the seal's certificate, lowercase hex without leading zeros.
    pub cert_serial_hex: String,
}

impl fmt::Debug for SealedPdf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedPdf")
            .field("pdf", &format_args!("{} bytes", self.pdf.len()))
            .field("signature_id", &self.signature_id)
            .field("cert_serial_hex", &self.cert_serial_hex)
            .finish()
    }
}

/// Why the built-in provider cannot be opened or cannot seal. The sealing errors mirror the
/// service's codes (eseal.md §2.1), so that callers treat both providers alike.
#[derive(Debug, thiserror::Error)]
pub enum LocalSealError {
    /// A seal definition given to [`LocalSealer::open_or_create`] is unusable.
    #[error("invalid seal definition: {0}")]
    InvalidSeal(String),
    /// Reading or writing the key directory failed.
    #[error("built-in e-seal store {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file of the key directory is unusable and will not be replaced automatically (the CA is
    /// the trust anchor of every document sealed with it).
    #[error("built-in e-seal store {}: {reason}", path.display())]
    Store {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// No seal with this code (the service's `SEAL_UNKNOWN`).
    #[error("unknown seal code {0}")]
    UnknownSeal(String),
    /// A parameter is out of range (the service's `GX_BAD_PARAM`).
    #[error("bad parameter: {0}")]
    BadParam(String),
    /// The document is larger than 20 MiB (the service's `SEAL_TOO_LARGE`).
    #[error("the document has {0} bytes, more than the 20 MiB allowed")]
    TooLarge(usize),
    /// The bytes are not a PDF this provider can extend: not a PDF, a broken cross-reference
    /// chain, encrypted… (the service's `SEAL_BAD_DOCUMENT`).
    #[error("cannot seal this document: {0}")]
    BadDocument(String),
    /// The page does not exist or the stamp does not fit on it (the service's
    /// `SEAL_BAD_POSITION`).
    #[error("bad stamp position: {0}")]
    BadPosition(String),
    /// Key generation, certificate issuance or the signature itself failed (not expected).
    #[error("e-seal cryptography: {0}")]
    Crypto(String),
}

/// The built-in e-seal provider over a key directory. Cheap to share (`Arc`); sealing needs no
/// lock.
pub struct LocalSealer {
    dir: PathBuf,
    ca: pki::Ca,
    seals: Vec<pki::SealKey>,
}

impl fmt::Debug for LocalSealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalSealer")
            .field("dir", &self.dir)
            .field(
                "seals",
                &self
                    .seals
                    .iter()
                    .map(|s| s.seal.seal_code.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

fn validate(seals: &[LocalSeal]) -> Result<(), LocalSealError> {
    for (i, seal) in seals.iter().enumerate() {
        let code = &seal.seal_code;
        if code.is_empty()
            || code.len() > 64
            || !code
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(LocalSealError::InvalidSeal(format!(
                "seal code {code:?}: 1 to 64 ASCII letters, digits, '-' or '_'"
            )));
        }
        if seal.name.trim().is_empty() || seal.org_name.trim().is_empty() {
            return Err(LocalSealError::InvalidSeal(format!(
                "seal {code}: the seal name and the organisation name must not be blank"
            )));
        }
        if seals[..i].iter().any(|s| s.seal_code == *code) {
            return Err(LocalSealError::InvalidSeal(format!(
                "seal code {code} is given twice"
            )));
        }
    }
    Ok(())
}

fn check_text(what: &str, value: &str, max: usize) -> Result<(), LocalSealError> {
    if value.trim().is_empty() || value.chars().count() > max {
        return Err(LocalSealError::BadParam(format!(
            "{what} must be 1-{max} characters and not blank"
        )));
    }
    Ok(())
}

/// A PDF text string: UTF-16BE with a byte-order mark (the only form that holds any text).
fn text_string(s: &str) -> Obj {
    let mut bytes = vec![0xfe, 0xff];
    for unit in s.encode_utf16() {
        bytes.extend_from_slice(&unit.to_be_bytes());
    }
    Obj::Str(bytes)
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

fn obj_ref(num: u32) -> Obj {
    Obj::Ref(num, 0)
}

impl LocalSealer {
    /// Opens the key directory `dir`, creating it, the CA and the seal certificates on first
    /// use and reusing them afterwards, so that licences sealed before a restart still verify
    /// against [`LocalSealer::ca_pem`]. A seal without a (usable) certificate is issued one;
    /// seals no longer listed keep their files but cannot be used. An unusable CA file is an
    /// error ([`LocalSealError::Store`]): delete the directory to start over.
    ///
    /// Generating keys takes a moment (RSA 2048: a fraction of a second each in an optimised
    /// build); call it once at start-up.
    pub fn open_or_create(dir: &Path, seals: &[LocalSeal]) -> Result<Self, LocalSealError> {
        validate(seals)?;
        pki::ensure_dir(dir)?;
        let ca = pki::open_ca(dir)?;
        let seals_dir = dir.join("seals");
        pki::ensure_dir(&seals_dir)?;
        let seals = seals
            .iter()
            .map(|seal| pki::open_seal(&ca, &seals_dir, seal))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            dir: dir.to_owned(),
            ca,
            seals,
        })
    }

    /// The CA certificate (PEM): the trust anchor to verify documents sealed here with, in place
    /// of the service's `GET /seal/v1/ca.pem`.
    pub fn ca_pem(&self) -> &str {
        &self.ca.pem
    }

    /// The seals this provider can seal with, in the order given at opening.
    pub fn seals(&self) -> Vec<LocalSeal> {
        self.seals.iter().map(|s| s.seal.clone()).collect()
    }

    /// Seals `pdf` with the seal `seal_code` on page `page` (1-based), the stamp's lower-left
    /// corner at (`x`, `y`) points from the lower-left corner of the page's visible box. The
    /// parameters are those of the service's `POST /seal/v1/sign`, checked as it checks them;
    /// `signed_at_unix` becomes the signature's `/M`. Every call makes a new signature (a new id,
    /// new bytes).
    #[allow(clippy::too_many_arguments)] // one-to-one with the members of POST /seal/v1/sign
    pub fn seal(
        &self,
        pdf: &[u8],
        seal_code: &str,
        page: u32,
        x: f32,
        y: f32,
        reason: &str,
        signer_name: Option<&str>,
        signed_at_unix: i64,
    ) -> Result<SealedPdf, LocalSealError> {
        // The service's order: parameters, seal, size, document, position.
        if page < 1 {
            return Err(LocalSealError::BadParam("page must be >= 1".into()));
        }
        for (what, v) in [("x", x), ("y", y)] {
            if !v.is_finite() || v < 0.0 {
                return Err(LocalSealError::BadParam(format!(
                    "{what} must be a number >= 0"
                )));
            }
        }
        check_text("reason", reason, 200)?;
        if let Some(name) = signer_name {
            check_text("signer_name", name, 64)?;
        }
        // A PDF date has a four-digit year.
        let signed_at = chrono::DateTime::from_timestamp(signed_at_unix, 0)
            .filter(|t| (0..=9999).contains(&t.year()))
            .ok_or_else(|| LocalSealError::BadParam("signing time out of range".into()))?;
        let key = self
            .seals
            .iter()
            .find(|s| s.seal.seal_code == seal_code)
            .ok_or_else(|| LocalSealError::UnknownSeal(seal_code.to_owned()))?;
        if pdf.len() > MAX_DOCUMENT_BYTES {
            return Err(LocalSealError::TooLarge(pdf.len()));
        }

        let doc = Document::parse(pdf).map_err(LocalSealError::BadDocument)?;
        let (pages, found) = doc.page(page).map_err(LocalSealError::BadDocument)?;
        let target = found.ok_or_else(|| {
            LocalSealError::BadPosition(format!(
                "page {page} is beyond the last page (the document has {pages})"
            ))
        })?;
        let [llx, lly, urx, ury] = target.visible_box;
        let (width, height) = (urx - llx, ury - lly);
        let (x, y, size) = (f64::from(x), f64::from(y), f64::from(stamp::SIZE));
        // A thousandth of a point of slack: `x` and `y` arrive as f32, the page size as written.
        if x + size > width + 1e-3 || y + size > height + 1e-3 {
            return Err(LocalSealError::BadPosition(format!(
                "the stamp box [{x}, {y}, {}, {}] does not fit on the {}x{} pt page",
                x + size,
                y + size,
                pdf::real(width),
                pdf::real(height)
            )));
        }
        let rect = [llx + x, lly + y, llx + x + size, lly + y + size];

        let signature_id = hex::encode(random_bytes::<16>());
        let fields = SigFields {
            field_name: format!("Seal_{signature_id}"),
            reason,
            signer_name,
            location: &key.seal.org_name,
            signed_at: signed_at.format("D:%Y%m%d%H%M%S+00'00'").to_string(),
        };
        let (mut out, hole) = write_revision(&doc, pdf, key, &target, rect, &fields)
            .map_err(LocalSealError::BadDocument)?;

        // The byte range: everything but the /Contents hex string, whose bytes come last.
        let range = format!(
            "0 {} {} {}",
            hole.contents_at,
            hole.contents_end,
            out.len() - hole.contents_end
        );
        if range.len() > BYTE_RANGE_WIDTH {
            return Err(LocalSealError::Crypto("byte range too long".into()));
        }
        out[hole.byte_range_at..hole.byte_range_at + range.len()].copy_from_slice(range.as_bytes());
        let mut h = Sha256::new();
        h.update(&out[..hole.contents_at]);
        h.update(&out[hole.contents_end..]);
        let digest = h.finalize();
        let signed = cms::signed_data(
            &key.key,
            &key.cert.der,
            &key.cert.cert,
            &[&self.ca.cert.cert],
            &digest,
        )
        .map_err(LocalSealError::Crypto)?;
        if signed.len() > CONTENTS_BYTES {
            return Err(LocalSealError::Crypto(format!(
                "the CMS needs {} bytes, {CONTENTS_BYTES} are reserved",
                signed.len()
            )));
        }
        let hex = hex::encode(&signed);
        out[hole.contents_at + 1..hole.contents_at + 1 + hex.len()].copy_from_slice(hex.as_bytes());
        Ok(SealedPdf {
            pdf: out,
            signature_id,
            cert_serial_hex: key.cert.serial_hex(),
        })
    }
}

/// The entries of the new signature dictionary.
struct SigFields<'a> {
    field_name: String,
    reason: &'a str,
    signer_name: Option<&'a str>,
    location: &'a str,
    /// `/M`, a PDF date.
    signed_at: String,
}

/// Where the signature dictionary's placeholders are in the output.
struct Hole {
    /// Start of the `/ByteRange` numbers (padded with spaces).
    byte_range_at: usize,
    /// Offset of the `<` of `/Contents`.
    contents_at: usize,
    /// Offset just after its `>`.
    contents_end: usize,
}

/// Appends the new revision: the stamp's appearance and font, the widget / signature field, the
/// page (or its `/Annots` array), the form (or its `/Fields` array), the catalog if it changes,
/// the signature dictionary with its placeholders, and the cross-reference section.
fn write_revision(
    doc: &Document<'_>,
    original: &[u8],
    key: &pki::SealKey,
    page: &pdf::PageRef,
    rect: [f64; 4],
    fields: &SigFields<'_>,
) -> Result<(Vec<u8>, Hole), String> {
    // pdf-writer numbers objects with i32.
    if doc.size > (i32::MAX as u32) - 64 {
        return Err("too many objects".into());
    }
    let mut next = doc.size;
    let mut alloc = || {
        let n = next;
        next += 1;
        n
    };
    let sig_num = alloc();
    let widget_num = alloc();
    let ap_num = alloc();
    let font_num = alloc();

    // Appearance stream and its font, written by pdf-writer.
    let mut font = FontUse::new().map_err(|e| format!("embedded font: {e:?}"))?;
    let content = stamp::content(&mut font, &key.seal.name, &key.seal.seal_code);
    let content = miniz_oxide::deflate::compress_to_vec_zlib(&content, 9);
    let mut chunk = Chunk::new();
    let mut form = chunk.form_xobject(Ref::new(ap_num as i32), &content);
    form.filter(Filter::FlateDecode);
    form.bbox(Rect::new(0.0, 0.0, stamp::SIZE, stamp::SIZE));
    form.resources()
        .fonts()
        .pair(stamp::FONT, Ref::new(font_num as i32));
    form.finish();
    let mut chunk_alloc = || Ref::new(alloc() as i32);
    font.write(&mut chunk, Ref::new(font_num as i32), &mut chunk_alloc)
        .map_err(|e| format!("embedded font: {e:?}"))?;
    let refs: Vec<u32> = chunk.refs().map(|r| r.get() as u32).collect();

    let mut rev = Revision::new(original);
    rev.chunk(chunk.as_bytes(), &refs)?;

    // The signature field, merged with its widget annotation.
    let mut widget = Dict::default();
    set(&mut widget, b"Type", Obj::Name(b"Annot".to_vec()));
    set(&mut widget, b"Subtype", Obj::Name(b"Widget".to_vec()));
    set(&mut widget, b"FT", Obj::Name(b"Sig".to_vec()));
    set(
        &mut widget,
        b"T",
        Obj::Str(fields.field_name.clone().into_bytes()),
    );
    set(&mut widget, b"V", obj_ref(sig_num));
    set(
        &mut widget,
        b"Rect",
        Obj::Array(rect.iter().map(|&v| Obj::Real(v)).collect()),
    );
    set(&mut widget, b"F", Obj::Int(WIDGET_FLAGS));
    set(&mut widget, b"P", Obj::Ref(page.num, page.gen));
    let mut ap = Dict::default();
    set(&mut ap, b"N", obj_ref(ap_num));
    set(&mut widget, b"AP", Obj::Dict(ap));
    rev.object(widget_num, 0, &Obj::Dict(widget));

    // The page lists the widget among its annotations.
    let mut page_dict = page.dict.clone();
    match doc.array_entry(&page.dict, b"Annots")? {
        Some(Located {
            value: mut items,
            indirect: Some((num, gen)),
        }) => {
            items.push(obj_ref(widget_num));
            rev.object(num, gen, &Obj::Array(items));
        }
        Some(Located {
            value: mut items,
            indirect: None,
        }) => {
            items.push(obj_ref(widget_num));
            set(&mut page_dict, b"Annots", Obj::Array(items));
            rev.object(page.num, page.gen, &Obj::Dict(page_dict));
        }
        None => {
            set(
                &mut page_dict,
                b"Annots",
                Obj::Array(vec![obj_ref(widget_num)]),
            );
            rev.object(page.num, page.gen, &Obj::Dict(page_dict));
        }
    }

    // The interactive form lists the field; a new form is an object of its own, so that the
    // next seal only rewrites the form, not the catalog.
    let (cat_num, cat_gen, mut catalog) = doc.catalog()?;
    match doc.acro_form(&catalog)? {
        None => {
            let form_num = alloc();
            let mut acro = Dict::default();
            set(&mut acro, b"Fields", Obj::Array(vec![obj_ref(widget_num)]));
            set(&mut acro, b"SigFlags", Obj::Int(SIG_FLAGS));
            rev.object(form_num, 0, &Obj::Dict(acro));
            set(&mut catalog, b"AcroForm", obj_ref(form_num));
            rev.object(cat_num, cat_gen, &Obj::Dict(catalog));
        }
        Some(Located {
            value: mut acro,
            indirect,
        }) => {
            match doc.array_entry(&acro, b"Fields")? {
                Some(Located {
                    value: mut items,
                    indirect: Some((num, gen)),
                }) => {
                    items.push(obj_ref(widget_num));
                    rev.object(num, gen, &Obj::Array(items));
                }
                Some(Located {
                    value: mut items,
                    indirect: None,
                }) => {
                    items.push(obj_ref(widget_num));
                    set(&mut acro, b"Fields", Obj::Array(items));
                }
                None => set(&mut acro, b"Fields", Obj::Array(vec![obj_ref(widget_num)])),
            }
            let flags = match doc.resolve(acro.get(b"SigFlags").unwrap_or(&Obj::Null))? {
                Obj::Int(f) => f | SIG_FLAGS,
                _ => SIG_FLAGS,
            };
            set(&mut acro, b"SigFlags", Obj::Int(flags));
            match indirect {
                Some((num, gen)) => rev.object(num, gen, &Obj::Dict(acro)),
                None => {
                    set(&mut catalog, b"AcroForm", Obj::Dict(acro));
                    rev.object(cat_num, cat_gen, &Obj::Dict(catalog));
                }
            }
        }
    }

    // The signature dictionary, last, with room for the byte range and the CMS.
    rev.begin_object(sig_num, 0);
    let mut d = Vec::new();
    d.extend_from_slice(b"<</Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached /M ");
    pdf::write_obj(&Obj::Str(fields.signed_at.clone().into_bytes()), &mut d);
    d.extend_from_slice(b" /Reason ");
    pdf::write_obj(&text_string(fields.reason), &mut d);
    if let Some(name) = fields.signer_name {
        d.extend_from_slice(b" /Name ");
        pdf::write_obj(&text_string(name), &mut d);
    }
    d.extend_from_slice(b" /Location ");
    pdf::write_obj(&text_string(fields.location), &mut d);
    d.extend_from_slice(b"\n/ByteRange [");
    let base = rev.out.len();
    let byte_range_at = base + d.len();
    d.extend(std::iter::repeat_n(b' ', BYTE_RANGE_WIDTH));
    d.extend_from_slice(b"] /Contents ");
    let contents_at = base + d.len();
    d.push(b'<');
    d.extend(std::iter::repeat_n(b'0', CONTENTS_BYTES * 2));
    d.push(b'>');
    let contents_end = base + d.len();
    d.extend_from_slice(b">>");
    rev.out.extend_from_slice(&d);
    rev.end_object();

    let out = rev.finish(doc, next, &random_bytes::<16>());
    Ok((
        out,
        Hole {
            byte_range_at,
            contents_at,
            contents_end,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: i64 = 1_795_529_016;

    fn zlib(data: &[u8]) -> Vec<u8> {
        miniz_oxide::deflate::compress_to_vec_zlib(data, 6)
    }

    /// A PDF as newer writers make them: the catalog, the page tree, the page and its (indirect,
    /// empty) /Annots array inside an object stream, a cross-reference stream with the PNG Up
    /// predictor, the media box inherited and a crop box on the page.
    fn xref_stream_pdf() -> Vec<u8> {
        let objects: [(u32, &str); 4] = [
            (2, "<< /Type /Catalog /Pages 3 0 R >>"),
            (3, "<< /Type /Pages /Kids [4 0 R] /Count 1 /MediaBox [0 0 600 800] >>"),
            (
                4,
                "<< /Type /Page /Parent 3 0 R /CropBox [50 60 550 760] /Contents 5 0 R /Annots 7 0 R >>",
            ),
            (7, "[]"),
        ];
        let mut header = String::new();
        let mut body = String::new();
        for (num, text) in objects {
            header.push_str(&format!("{num} {} ", body.len()));
            body.push_str(text);
            body.push('\n');
        }
        let stm = zlib(format!("{header}{body}").as_bytes());

        let mut f = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
        let off1 = f.len();
        f.extend_from_slice(
            format!(
                "1 0 obj\n<< /Type /ObjStm /N 4 /First {} /Filter /FlateDecode /Length {} >>\nstream\n",
                header.len(),
                stm.len()
            )
            .as_bytes(),
        );
        f.extend_from_slice(&stm);
        f.extend_from_slice(b"\nendstream\nendobj\n");
        let off5 = f.len();
        let content = b"0 0 1 rg 100 100 200 200 re f";
        f.extend_from_slice(
            format!("5 0 obj\n<< /Length {} >>\nstream\n", content.len()).as_bytes(),
        );
        f.extend_from_slice(content);
        f.extend_from_slice(b"\nendstream\nendobj\n");
        let off6 = f.len();

        // Rows of /W [1 2 1] for objects 0..=7, PNG-Up-predicted (filter byte 2).
        let entry = |t: u8, a: usize, b: u8| [t, (a >> 8) as u8, a as u8, b];
        let rows = [
            entry(0, 0, 255),
            entry(1, off1, 0),
            entry(2, 1, 0),
            entry(2, 1, 1),
            entry(2, 1, 2),
            entry(1, off5, 0),
            entry(1, off6, 0),
            entry(2, 1, 3),
        ];
        let mut predicted = Vec::new();
        let mut prev = [0u8; 4];
        for row in rows {
            predicted.push(2);
            predicted.extend(row.iter().zip(prev).map(|(r, p)| r.wrapping_sub(p)));
            prev = row;
        }
        let xref = zlib(&predicted);
        f.extend_from_slice(
            format!(
                "6 0 obj\n<< /Type /XRef /Size 8 /W [1 2 1] /Root 2 0 R /ID [<0102> <0102>] /Filter /FlateDecode /DecodeParms << /Predictor 12 /Columns 4 >> /Length {} >>\nstream\n",
                xref.len()
            )
            .as_bytes(),
        );
        f.extend_from_slice(&xref);
        f.extend_from_slice(format!("\nendstream\nendobj\nstartxref\n{off6}\n%%EOF\n").as_bytes());
        f
    }

    fn sealer() -> (tempfile::TempDir, LocalSealer) {
        let dir = tempfile::tempdir().unwrap();
        let seal = LocalSeal {
            seal_code: "37020000000011".into(),
            name: "青岚市市场监督管理局".into(),
            org_name: "青岚市市场监督管理局".into(),
            org_uscc: None,
        };
        let sealer = LocalSealer::open_or_create(dir.path(), &[seal]).unwrap();
        (dir, sealer)
    }

    #[test]
    fn seals_a_file_with_object_and_cross_reference_streams() {
        let (_dir, sealer) = sealer();
        let original = xref_stream_pdf();
        // The reader follows the compressed objects.
        let doc = Document::parse(&original).unwrap();
        assert!(doc.xref_is_stream);
        let (pages, page) = doc.page(1).unwrap();
        assert_eq!(pages, 1);
        assert_eq!(page.unwrap().visible_box, [50.0, 60.0, 550.0, 760.0]);

        // 120 pt from the crop box's corner fits; the page is 500 x 700 pt visible.
        assert!(matches!(
            sealer.seal(&original, "37020000000011", 1, 381.0, 0.0, "发证", None, AT),
            Err(LocalSealError::BadPosition(m)) if m.contains("500x700")
        ));
        let sealed = sealer
            .seal(&original, "37020000000011", 1, 10.0, 20.0, "发证", None, AT)
            .unwrap();
        assert!(sealed.pdf.starts_with(&original));
        crate::verify_sealed_pdf(&sealed.pdf, sealer.ca_pem(), AT).unwrap();

        // The new revision is a cross-reference stream too, and reads back: the widget in the
        // (rewritten, indirect) /Annots array, at the crop box's corner plus (x, y).
        let doc = Document::parse(&sealed.pdf).unwrap();
        assert!(doc.xref_is_stream);
        let (_, page) = doc.page(1).unwrap();
        let page = page.unwrap();
        let annots = doc.array_entry(&page.dict, b"Annots").unwrap().unwrap();
        assert_eq!(annots.indirect, Some((7, 0)));
        let [Obj::Ref(widget, _)] = annots.value[..] else {
            panic!("{annots:?}")
        };
        let Obj::Dict(w) = doc.object(widget).unwrap().0 else {
            panic!()
        };
        assert_eq!(
            w.get(b"Rect"),
            Some(&Obj::Array([60, 80, 180, 200].map(Obj::Int).to_vec()))
        );
        assert_eq!(w.get(b"F"), Some(&Obj::Int(WIDGET_FLAGS)));
        let (_, _, catalog) = doc.catalog().unwrap();
        let form = doc.acro_form(&catalog).unwrap().unwrap().value;
        assert_eq!(form.get(b"SigFlags"), Some(&Obj::Int(3)));

        // Sealed again: the form's /Fields grows, both fields are there.
        let twice = sealer
            .seal(
                &sealed.pdf,
                "37020000000011",
                1,
                200.0,
                20.0,
                "再次",
                None,
                AT,
            )
            .unwrap();
        crate::verify_sealed_pdf(&twice.pdf, sealer.ca_pem(), AT).unwrap();
        let doc = Document::parse(&twice.pdf).unwrap();
        let (_, _, catalog) = doc.catalog().unwrap();
        let form = doc.acro_form(&catalog).unwrap().unwrap().value;
        let fields = doc.array_entry(&form, b"Fields").unwrap().unwrap().value;
        assert_eq!(fields.len(), 2);
    }

    #[test]
    fn the_stamp_names_its_seal() {
        let mut font = FontUse::new().unwrap();
        let content = stamp::content(&mut font, "青岚市民政局", "37020000000061");
        let text = String::from_utf8_lossy(&content);
        // Two rings, a star, six glyphs on the arc and the code.
        assert_eq!(text.matches(" Tj").count(), 7, "{text}");
        assert!(text.contains("0.85 0.07 0.07 RG"), "{text}");
        // A name the font cannot draw is left out, the code stays.
        let content = stamp::content(&mut font, "\u{10FFFD}", "1");
        assert_eq!(String::from_utf8_lossy(&content).matches(" Tj").count(), 1);
    }
}
