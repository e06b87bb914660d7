//! Zhengtong electronic licences (电子证照).
//!
//! * [`licence::render`] draws the licence PDF: one A4 page, the text in an embedded subset of
//!   WenQuanYi Micro Hei (CIDFontType2 with a ToUnicode CMap, so the text extracts exactly), a QR
//!   code of the verification URL, and an empty square for the seal ([`licence::SEAL_PLACEMENT`]).
//! * [`verify::verify_sealed_pdf`] checks a PDF sealed by the e-seal service (PAdES B-B, CMS
//!   SignedData, SHA-256, RSA PKCS#1 v1.5) against the configured CA certificate.
//! * `local_seal::LocalSealer` (feature `local-seal`) seals PDFs in-process the way the e-seal
//!   service does, with a CA of its own: the demo's provider, never production's.

mod font;
pub mod licence;
#[cfg(feature = "local-seal")]
pub mod local_seal;
mod pdfobj;
pub mod verify;

pub use licence::{
    render, HolderKind, LicenceData, RenderError, SealPlacement, Validity, SEAL_PLACEMENT,
};

pub use verify::{verify_sealed_pdf, SealedInfo, VerifyError};
