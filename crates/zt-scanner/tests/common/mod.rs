//! Test material: a small PDF writer (classic xref tables, or object streams
//! with a cross-reference stream), a deterministic byte generator, and
//! helpers.
#![allow(dead_code)]

use std::io::Write;

use flate2::write::ZlibEncoder;
use flate2::Compression;

pub fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Deterministic pseudo-random bytes (xorshift), like compressed data.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// The EICAR string, assembled differently from the crate's own halves.
pub fn eicar() -> Vec<u8> {
    let mut v = br"X5O!P%@AP[4\PZX54(P^)7CC)".to_vec();
    v.extend_from_slice(b"7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*");
    v
}

enum Slot {
    Empty,
    Direct(Vec<u8>),
    /// In object stream `stm` at `index`.
    Compressed {
        stm: usize,
        index: usize,
    },
}

/// Writes PDFs with numbered objects (1-based).
pub struct PdfWriter {
    slots: Vec<Slot>,
    version: &'static str,
}

impl Default for PdfWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl PdfWriter {
    pub fn new() -> Self {
        Self {
            slots: Vec::new(),
            version: "1.7",
        }
    }

    /// Allocates an object number.
    pub fn reserve(&mut self) -> usize {
        self.slots.push(Slot::Empty);
        self.slots.len()
    }

    pub fn set(&mut self, num: usize, body: impl Into<Vec<u8>>) {
        self.slots[num - 1] = Slot::Direct(body.into());
    }

    pub fn add(&mut self, body: impl Into<Vec<u8>>) -> usize {
        let n = self.reserve();
        self.set(n, body);
        n
    }

    /// A stream object; `/Length` is added.
    pub fn add_stream(&mut self, dict: &str, data: &[u8]) -> usize {
        let n = self.reserve();
        self.set(n, stream(dict, data));
        n
    }

    /// An object stream holding `objects` (numbers from [`Self::reserve`]),
    /// with `dict` (for example `/Type /ObjStm /Filter /FlateDecode`) plus
    /// `/N` and `/First`; the data is zlib-compressed when `compress`.
    pub fn add_objstm(&mut self, objects: &[(usize, &[u8])], dict: &str, compress: bool) -> usize {
        let stm = self.reserve();
        let mut header = String::new();
        let mut bodies = Vec::new();
        for (index, (num, body)) in objects.iter().enumerate() {
            header.push_str(&format!("{num} {} ", bodies.len()));
            bodies.extend_from_slice(body);
            bodies.push(b'\n');
            self.slots[num - 1] = Slot::Compressed { stm, index };
        }
        let mut data = header.clone().into_bytes();
        data.extend_from_slice(&bodies);
        let data = if compress { zlib(&data) } else { data };
        let dict = format!("{dict} /N {} /First {}", objects.len(), header.len());
        self.set(stm, stream(&dict, &data));
        stm
    }

    /// The file; a cross-reference stream when objects are compressed.
    pub fn finish(&self, root: usize, trailer_extra: &str) -> Vec<u8> {
        let mut out = format!("%PDF-{}\n", self.version).into_bytes();
        out.extend_from_slice(b"%\xE2\xE3\xCF\xD3\n");
        let mut offsets = vec![0usize; self.slots.len()];
        for (i, slot) in self.slots.iter().enumerate() {
            if let Slot::Direct(body) = slot {
                offsets[i] = out.len();
                out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
                out.extend_from_slice(body);
                out.extend_from_slice(b"\nendobj\n");
            }
        }
        let any_compressed = self
            .slots
            .iter()
            .any(|s| matches!(s, Slot::Compressed { .. }));
        let xref_at = out.len();
        if any_compressed {
            let xref_num = self.slots.len() + 1;
            let mut rows = vec![0u8, 0, 0, 0, 0, 0xFF, 0xFF];
            for (i, slot) in self.slots.iter().enumerate() {
                match slot {
                    Slot::Direct(_) => {
                        rows.push(1);
                        rows.extend_from_slice(&(offsets[i] as u32).to_be_bytes());
                        rows.extend_from_slice(&[0, 0]);
                    }
                    Slot::Compressed { stm, index } => {
                        rows.push(2);
                        rows.extend_from_slice(&(*stm as u32).to_be_bytes());
                        rows.extend_from_slice(&(*index as u16).to_be_bytes());
                    }
                    Slot::Empty => rows.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0]),
                }
            }
            rows.push(1);
            rows.extend_from_slice(&(xref_at as u32).to_be_bytes());
            rows.extend_from_slice(&[0, 0]);
            let dict = format!(
                "/Type /XRef /Size {} /W [1 4 2] /Root {root} 0 R {trailer_extra} /Filter /FlateDecode",
                xref_num + 1
            );
            out.extend_from_slice(format!("{xref_num} 0 obj\n").as_bytes());
            out.extend_from_slice(&stream(&dict, &zlib(&rows)));
            out.extend_from_slice(b"\nendobj\n");
        } else {
            out.extend_from_slice(format!("xref\n0 {}\n", self.slots.len() + 1).as_bytes());
            out.extend_from_slice(b"0000000000 65535 f \n");
            for (i, slot) in self.slots.iter().enumerate() {
                match slot {
                    Slot::Direct(_) => {
                        out.extend_from_slice(format!("{:010} 00000 n \n", offsets[i]).as_bytes())
                    }
                    _ => out.extend_from_slice(b"0000000000 65535 f \n"),
                }
            }
            out.extend_from_slice(
                format!(
                    "trailer\n<< /Size {} /Root {root} 0 R {trailer_extra} >>\n",
                    self.slots.len() + 1
                )
                .as_bytes(),
            );
        }
        out.extend_from_slice(format!("startxref\n{xref_at}\n%%EOF\n").as_bytes());
        out
    }
}

/// `<< dict /Length n >>\nstream\n…\nendstream`
pub fn stream(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut v = format!("<< {dict} /Length {} >>\nstream\n", data.len()).into_bytes();
    v.extend_from_slice(data);
    v.extend_from_slice(b"\nendstream");
    v
}

/// What goes into [`one_page`].
#[derive(Default)]
pub struct PageSpec<'a> {
    /// Extra catalog entries, e.g. `/OpenAction << … >>`.
    pub catalog: &'a str,
    /// Extra page entries, e.g. `/AA << … >>`.
    pub page: &'a str,
    /// Extra trailer entries, e.g. `/Info 9 0 R`.
    pub trailer: &'a str,
    /// The page's content stream (default: a line of text).
    pub content: Option<&'a [u8]>,
    /// Compress the content stream with FlateDecode.
    pub compress_content: bool,
    /// Put catalog, pages, page and font in a compressed object stream.
    pub object_streams: bool,
    /// Additional direct objects appended after the page objects.
    pub extra_objects: &'a [&'a [u8]],
}

/// A one-page A4 PDF with Helvetica text, as simple generators write it.
pub fn one_page(spec: &PageSpec<'_>) -> Vec<u8> {
    let mut w = PdfWriter::new();
    let catalog = w.reserve();
    let pages = w.reserve();
    let page = w.reserve();
    let font = w.reserve();
    let content_data: &[u8] = spec
        .content
        .unwrap_or(b"BT /F1 12 Tf 72 770 Td (Application form, page 1) Tj ET");
    let content = if spec.compress_content {
        w.add_stream("/Filter /FlateDecode", &zlib(content_data))
    } else {
        w.add_stream("", content_data)
    };
    for extra in spec.extra_objects {
        w.add(extra.to_vec());
    }
    let cat_body = format!("<< /Type /Catalog /Pages {pages} 0 R {} >>", spec.catalog);
    let pages_body = format!("<< /Type /Pages /Kids [{page} 0 R] /Count 1 >>");
    let page_body = format!(
        "<< /Type /Page /Parent {pages} 0 R /MediaBox [0 0 595 842] \
         /Resources << /Font << /F1 {font} 0 R >> >> /Contents {content} 0 R {} >>",
        spec.page
    );
    let font_body = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string();
    if spec.object_streams {
        w.add_objstm(
            &[
                (catalog, cat_body.as_bytes()),
                (pages, pages_body.as_bytes()),
                (page, page_body.as_bytes()),
                (font, font_body.as_bytes()),
            ],
            "/Type /ObjStm /Filter /FlateDecode",
            true,
        );
    } else {
        w.set(catalog, cat_body);
        w.set(pages, pages_body);
        w.set(page, page_body);
        w.set(font, font_body);
    }
    w.finish(catalog, spec.trailer)
}

/// Reads `VmHWM` (peak resident memory) in KiB, where Linux tells it.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
