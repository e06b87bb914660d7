//! The embedded CJK font (WenQuanYi Micro Hei, face 0 of the Debian `.ttc`), its metrics, and
//! the PDF objects of a subset of it: a Type0 font with an Identity-H encoding over a
//! CIDFontType2 descendant, its widths, the subsetted TrueType program and a ToUnicode CMap.

use std::collections::BTreeMap;

use pdf_writer::types::{CidFontType, FontFlags, SystemInfo, UnicodeCmap};
use pdf_writer::{Chunk, Filter, Finish, Name, Rect, Ref, Str};
use sha2::{Digest, Sha256};
use subsetter::GlyphRemapper;
use ttf_parser::{Face, GlyphId};

/// WenQuanYi Micro Hei 0.2.0-beta (Debian `fonts-wqy-microhei`), Apache-2.0 or
/// GPL-3+-with-font-exception; see `fonts/wqy-microhei.copyright`.
static FONT_DATA: &[u8] = include_bytes!("../fonts/wqy-microhei.ttc");
/// Face 0 of the collection is "WenQuanYi Micro Hei" (face 1 is the Mono variant).
const FACE_INDEX: u32 = 0;
const BASE_NAME: &str = "WenQuanYiMicroHei";

/// The font's metrics and character map, and the glyphs a document has used so far.
pub(crate) struct FontUse {
    face: Face<'static>,
    /// Original glyph id → the first character drawn with it (for the ToUnicode CMap).
    used: BTreeMap<u16, char>,
    /// Original → subset glyph ids, assigned in order of first use (deterministic for a given
    /// sequence of drawing calls). The subset's glyph ids are also the CIDs (Identity mapping).
    remapper: GlyphRemapper,
}

/// Why the embedded font could not be used.
#[derive(Debug)]
pub(crate) enum FontError {
    Parse(String),
    Subset(String),
}

impl FontUse {
    pub(crate) fn new() -> Result<Self, FontError> {
        let face =
            Face::parse(FONT_DATA, FACE_INDEX).map_err(|e| FontError::Parse(e.to_string()))?;
        Ok(Self {
            face,
            used: BTreeMap::new(),
            remapper: GlyphRemapper::new(),
        })
    }

    /// The glyph of `c`, if the font has one.
    pub(crate) fn glyph(&self, c: char) -> Option<u16> {
        self.face.glyph_index(c).map(|g| g.0).filter(|&g| g != 0)
    }

    /// Advance width of a glyph in 1/1000 of the font size.
    pub(crate) fn advance(&self, gid: u16) -> f32 {
        let units = self.face.glyph_hor_advance(GlyphId(gid)).unwrap_or(0);
        f32::from(units) * 1000.0 / f32::from(self.units_per_em())
    }

    fn units_per_em(&self) -> u16 {
        self.face.units_per_em().max(1)
    }

    fn scale(&self, v: i16) -> f32 {
        f32::from(v) * 1000.0 / f32::from(self.units_per_em())
    }

    /// Width of `text` at `size` points; characters without a glyph count as zero.
    pub(crate) fn width(&self, text: &str, size: f32) -> f32 {
        text.chars()
            .filter_map(|c| self.glyph(c))
            .map(|g| self.advance(g))
            .sum::<f32>()
            * size
            / 1000.0
    }

    /// Records that `text` is drawn and returns its encoding for a `Tj` operand: the subset glyph
    /// ids (= CIDs), two bytes each, big-endian. Characters without a glyph must have been
    /// rejected before; they are left out.
    pub(crate) fn encode(&mut self, text: &str) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(text.len() * 2);
        for c in text.chars() {
            if let Some(g) = self.glyph(c) {
                self.used.entry(g).or_insert(c);
                bytes.extend_from_slice(&self.remapper.remap(g).to_be_bytes());
            }
        }
        bytes
    }

    /// Writes the Type0 font `type0` and its descendant objects (ids from `next`) into `pdf` (a
    /// whole document, or the chunk of an incremental update), with exactly the glyphs encoded
    /// so far. Returns the SHA-256 of the subset font program (part of the document id).
    pub(crate) fn write(
        &self,
        pdf: &mut Chunk,
        type0: Ref,
        next: &mut impl FnMut() -> Ref,
    ) -> Result<[u8; 32], FontError> {
        let cid_id = next();
        let descriptor_id = next();
        let file_id = next();
        let cmap_id = next();

        let program = subsetter::subset(FONT_DATA, FACE_INDEX, &self.remapper)
            .map_err(|e| FontError::Subset(e.to_string()))?;
        let program_hash: [u8; 32] = Sha256::digest(&program).into();

        // Subset tag: six capital letters derived from the subset itself (PDF 32000-1 §9.6.4).
        let tag: String = program_hash[..6]
            .iter()
            .map(|b| char::from(b'A' + b % 26))
            .collect();
        let name = format!("{tag}+{BASE_NAME}");

        let system_info = SystemInfo {
            registry: Str(b"Adobe"),
            ordering: Str(b"Identity"),
            supplement: 0,
        };

        pdf.type0_font(type0)
            .base_font(Name(name.as_bytes()))
            .encoding_predefined(Name(b"Identity-H"))
            .descendant_font(cid_id)
            .to_unicode(cmap_id);

        // New glyph ids are consecutive from 0, so one run of widths covers them all.
        let widths: Vec<f32> = self
            .remapper
            .remapped_gids()
            .map(|old| self.advance(old).round())
            .collect();
        let mut cid = pdf.cid_font(cid_id);
        cid.subtype(CidFontType::Type2)
            .base_font(Name(name.as_bytes()))
            .system_info(system_info)
            .font_descriptor(descriptor_id)
            .default_width(1000.0)
            .cid_to_gid_map_predefined(Name(b"Identity"));
        cid.widths().consecutive(0, widths);
        cid.finish();

        let bbox = self.face.global_bounding_box();
        let ascent = self.scale(self.face.ascender());
        let descent = self.scale(self.face.descender());
        let cap_height = self
            .face
            .capital_height()
            .map(|h| self.scale(h))
            .unwrap_or(ascent);
        pdf.font_descriptor(descriptor_id)
            .name(Name(name.as_bytes()))
            .flags(FontFlags::SYMBOLIC)
            .bbox(Rect::new(
                self.scale(bbox.x_min),
                self.scale(bbox.y_min),
                self.scale(bbox.x_max),
                self.scale(bbox.y_max),
            ))
            .italic_angle(0.0)
            .ascent(ascent)
            .descent(descent)
            .cap_height(cap_height)
            .stem_v(80.0)
            .font_file2(file_id);

        let compressed = miniz_oxide::deflate::compress_to_vec_zlib(&program, 9);
        pdf.stream(file_id, &compressed)
            .filter(Filter::FlateDecode)
            .pair(
                Name(b"Length1"),
                i32::try_from(program.len()).unwrap_or(i32::MAX),
            );

        let mut cmap = UnicodeCmap::new(Name(b"Zhengtong-UCS"), system_info);
        for (&old, &c) in &self.used {
            if let Some(new) = self.remapper.get(old) {
                cmap.pair(new, c);
            }
        }
        let cmap = cmap.finish();
        let cmap = miniz_oxide::deflate::compress_to_vec_zlib(cmap.as_slice(), 9);
        pdf.stream(cmap_id, &cmap).filter(Filter::FlateDecode);

        Ok(program_hash)
    }
}
