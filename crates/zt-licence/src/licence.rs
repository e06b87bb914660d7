//! The electronic licence (电子证照) as a one-page A4 PDF.
//!
//! Layout (PDF points, origin at the lower-left corner of the page, `MediaBox [0 0 595.28 841.89]`,
//! no `CropBox`, no `/Rotate`):
//!
//! * a red double border; the title 电子证照 and, below it, the item name;
//! * a table of fields: holder and holder id (labels by [`HolderKind`]), 证照编号, 有效期限, then
//!   the caller's item-specific `details` in order; values wrap inside their column and the font
//!   shrinks (13 pt down to 9 pt) when the table would not fit, beyond that [`RenderError::TooLong`];
//! * bottom left, a QR code of the verification URL with the URL printed below it;
//! * bottom right, 发证机关 and 发证日期, and under them an empty square where the e-seal service
//!   stamps the seal: [`SEAL_PLACEMENT`] (page 1, lower-left corner at `x = 405`, `y = 72`,
//!   120 × 120 pt, inside the page and 36 pt inside the inner border's corner).
//!
//! The output is a pure function of [`LicenceData`]: no clock, no random ids. The document id
//! (`/ID`) is derived from the page content and the font subset.

use chrono::{Datelike, NaiveDate};
use pdf_writer::types::TextRenderingMode;
use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str, TextStr};
use qrcode::{Color, EcLevel, QrCode};
use sha2::{Digest, Sha256};

use crate::font::{FontError, FontUse};

/// A4 portrait width in points (210 mm).
pub const PAGE_WIDTH: f32 = 595.28;
/// A4 portrait height in points (297 mm).
pub const PAGE_HEIGHT: f32 = 841.89;

/// Where the seal goes: the values to pass to the e-seal service's `POST /seal/v1/sign`
/// (`page`, `x`, `y`; the stamp is a 120 × 120 pt square whose lower-left corner is `(x, y)`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SealPlacement {
    /// 1-based page number.
    pub page: u32,
    /// Distance of the stamp's left edge from the page's left edge, points.
    pub x: f32,
    /// Distance of the stamp's bottom edge from the page's bottom edge, points.
    pub y: f32,
    /// Side of the stamp square, points (fixed by the service).
    pub size: f32,
}

/// The empty area left for the seal on every licence.
pub const SEAL_PLACEMENT: SealPlacement = SealPlacement {
    page: 1,
    x: 405.0,
    y: 72.0,
    size: 120.0,
};

// The service refuses a stamp box that does not fit on the page.
const _: () = assert!(
    SEAL_PLACEMENT.x + SEAL_PLACEMENT.size <= PAGE_WIDTH
        && SEAL_PLACEMENT.y + SEAL_PLACEMENT.size <= PAGE_HEIGHT
);

/// Natural person or organisation: decides the labels of the holder rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HolderKind {
    /// 持证人 / 身份证件号码
    Person,
    /// 单位名称 / 统一社会信用代码
    Organisation,
}

impl HolderKind {
    fn labels(self) -> (&'static str, &'static str) {
        match self {
            HolderKind::Person => ("持证人", "身份证件号码"),
            HolderKind::Organisation => ("单位名称", "统一社会信用代码"),
        }
    }
}

/// 有效期限.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    /// From one date to another, both inclusive: "2026年11月24日至2031年11月23日".
    Period {
        /// First day of validity.
        from: NaiveDate,
        /// Last day of validity.
        to: NaiveDate,
    },
    /// 长期 (no end date).
    LongTerm,
}

impl Validity {
    /// The text printed on the licence.
    pub fn text(&self) -> String {
        match self {
            Validity::Period { from, to } => format!("{}至{}", date_text(*from), date_text(*to)),
            Validity::LongTerm => "长期".to_owned(),
        }
    }
}

/// Everything printed on a licence. Strings are printed as given (mask the holder id before if
/// it must not appear in full); `\n` in a value starts a new line, other control characters
/// print as spaces.
#[derive(Debug, Clone, PartialEq)]
pub struct LicenceData {
    /// Name of the item / licence type, printed under the title (e.g. 食品经营许可证).
    pub item_name: String,
    /// Labels of the holder rows.
    pub holder_kind: HolderKind,
    /// 持证人 or 单位名称.
    pub holder: String,
    /// 身份证件号码 or 统一社会信用代码, masked or full as the caller decides.
    pub holder_id: String,
    /// 证照编号.
    pub licence_no: String,
    /// 有效期限.
    pub validity: Validity,
    /// 发证机关.
    pub issuing_department: String,
    /// 发证日期.
    pub issue_date: NaiveDate,
    /// Item-specific rows, printed in order after the standard ones: (label, value).
    pub details: Vec<(String, String)>,
    /// The verification URL, encoded in the QR code and printed below it
    /// (e.g. `https://zwfw.example.gov.cn/verify/<licence_no>`).
    pub verify_url: String,
}

/// Why a licence could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// Characters the embedded font has no glyph for (they would print as boxes and not extract).
    #[error("characters without a glyph in the embedded font: {0:?}")]
    MissingGlyphs(Vec<char>),
    /// The content does not fit on the page even at the smallest font size.
    #[error("content does not fit on the licence page: {0}")]
    TooLong(String),
    /// A required text is empty.
    #[error("empty field: {0}")]
    Empty(&'static str),
    /// The validity period ends before it starts.
    #[error("validity period ends ({to}) before it starts ({from})")]
    InvalidPeriod {
        /// First day.
        from: NaiveDate,
        /// Last day.
        to: NaiveDate,
    },
    /// The verification URL cannot be encoded as a QR code (too long).
    #[error("verification URL cannot be encoded as a QR code: {0}")]
    QrCode(String),
    /// The embedded font could not be parsed or subsetted (a build defect).
    #[error("embedded font: {0}")]
    Font(String),
}

impl From<FontError> for RenderError {
    fn from(e: FontError) -> Self {
        match e {
            FontError::Parse(m) | FontError::Subset(m) => RenderError::Font(m),
        }
    }
}

/// A date as printed: 2026年11月24日.
pub fn date_text(d: NaiveDate) -> String {
    format!("{}年{}月{}日", d.year(), d.month(), d.day())
}

// ---- layout constants -------------------------------------------------------------------------

const RED: [f32; 3] = [0.70, 0.08, 0.08];
const INK: [f32; 3] = [0.0, 0.0, 0.0];
const LABEL_INK: [f32; 3] = [0.25, 0.25, 0.25];
const RULE_GRAY: f32 = 0.75;

const CONTENT_LEFT: f32 = 75.0;
const CONTENT_RIGHT: f32 = 525.0;
const LABEL_WIDTH: f32 = 118.0;
const VALUE_LEFT: f32 = CONTENT_LEFT + LABEL_WIDTH + 12.0;
const TABLE_TOP: f32 = 700.0;
const TABLE_BOTTOM: f32 = 252.0;
const FIELD_SIZES: [f32; 5] = [13.0, 12.0, 11.0, 10.0, 9.0];

const QR_LEFT: f32 = CONTENT_LEFT;
const QR_BOTTOM: f32 = 92.0;
const QR_SIZE: f32 = 100.0;
const URL_TOP: f32 = 80.0;
const URL_MAX_WIDTH: f32 = SEAL_PLACEMENT.x - 12.0 - CONTENT_LEFT;

const FONT: Name<'static> = Name(b"F1");

/// Punctuation that must not begin a line (it hangs at the end of the previous one instead).
const NO_LINE_START: &[char] = &[
    '，', '。', '、', '；', '：', '？', '！', '）', '》', '」', '』', '】', '”', '’', ',', '.',
    ';', ':', ')', ']', '%', '％',
];
/// Punctuation that must not end a line.
const NO_LINE_END: &[char] = &['（', '《', '「', '『', '【', '“', '‘', '(', '['];

/// Renders the licence as a PDF. Same input, same bytes.
pub fn render(data: &LicenceData) -> Result<Vec<u8>, RenderError> {
    check_input(data)?;
    let mut font = FontUse::new()?;
    let mut missing: Vec<char> = Vec::new();
    for text in texts(data) {
        for c in clean(&text).chars() {
            if c != '\n' && font.glyph(c).is_none() && !missing.contains(&c) {
                missing.push(c);
            }
        }
    }
    if !missing.is_empty() {
        missing.sort_unstable();
        return Err(RenderError::MissingGlyphs(missing));
    }

    let qr = QrCode::with_error_correction_level(data.verify_url.trim().as_bytes(), EcLevel::M)
        .map_err(|e| RenderError::QrCode(e.to_string()))?;

    let mut page = Page {
        content: Content::new(),
        font: &mut font,
    };
    page.border();
    page.heading(data)?;
    page.table(&rows(data))?;
    page.issuer(data)?;
    page.qr(&qr, &data.verify_url)?;
    let content = page.content.finish().into_vec();
    let content = miniz_oxide::deflate::compress_to_vec_zlib(&content, 9);

    let mut next_id = 1;
    let mut alloc = move || {
        let r = Ref::new(next_id);
        next_id += 1;
        r
    };
    let catalog_id = alloc();
    let pages_id = alloc();
    let page_id = alloc();
    let content_id = alloc();
    let font_id = alloc();
    let info_id = alloc();

    let mut pdf = Pdf::new();
    pdf.set_version(1, 7);
    let font_hash = font.write(&mut pdf, font_id, &mut alloc)?;

    let mut catalog = pdf.catalog(catalog_id);
    catalog.pages(pages_id).lang(TextStr("zh-CN"));
    catalog.viewer_preferences().display_doc_title(true);
    catalog.finish();
    pdf.pages(pages_id).kids([page_id]).count(1);
    let mut pg = pdf.page(page_id);
    pg.media_box(Rect::new(0.0, 0.0, PAGE_WIDTH, PAGE_HEIGHT))
        .parent(pages_id)
        .contents(content_id);
    pg.resources().fonts().pair(FONT, font_id);
    pg.finish();
    pdf.stream(content_id, &content).filter(Filter::FlateDecode);

    let title = format!(
        "电子证照 {} {}",
        data.item_name.trim(),
        data.licence_no.trim()
    );
    pdf.document_info(info_id)
        .title(TextStr(&title))
        .subject(TextStr(data.item_name.trim()))
        .author(TextStr(data.issuing_department.trim()))
        .creator(TextStr("Zhengtong 一网通办"))
        .producer(TextStr("zt-licence"));

    let mut id = Sha256::new();
    id.update(&content);
    id.update(font_hash);
    id.update(title.as_bytes());
    let id = id.finalize()[..16].to_vec();
    pdf.set_file_id((id.clone(), id));
    Ok(pdf.finish())
}

fn check_input(data: &LicenceData) -> Result<(), RenderError> {
    let required: [(&'static str, &str); 6] = [
        ("item_name", &data.item_name),
        ("holder", &data.holder),
        ("holder_id", &data.holder_id),
        ("licence_no", &data.licence_no),
        ("issuing_department", &data.issuing_department),
        ("verify_url", &data.verify_url),
    ];
    for (name, value) in required {
        if value.trim().is_empty() {
            return Err(RenderError::Empty(name));
        }
    }
    if let Validity::Period { from, to } = data.validity {
        if to < from {
            return Err(RenderError::InvalidPeriod { from, to });
        }
    }
    Ok(())
}

/// Every text the page prints (for the glyph check).
fn texts(data: &LicenceData) -> Vec<String> {
    let mut v = vec![
        "电子证照".to_owned(),
        "发证机关：".to_owned(),
        "发证日期：".to_owned(),
        "扫码核验".to_owned(),
        data.verify_url.clone(),
        data.item_name.clone(),
        data.issuing_department.clone(),
        date_text(data.issue_date),
    ];
    for (label, value) in rows(data) {
        v.push(label);
        v.push(value);
    }
    v
}

fn rows(data: &LicenceData) -> Vec<(String, String)> {
    let (holder_label, id_label) = data.holder_kind.labels();
    let mut rows = vec![
        (holder_label.to_owned(), data.holder.clone()),
        (id_label.to_owned(), data.holder_id.clone()),
        ("证照编号".to_owned(), data.licence_no.clone()),
        ("有效期限".to_owned(), data.validity.text()),
    ];
    rows.extend(data.details.iter().cloned());
    rows
}

/// Control characters other than `\n` become spaces; surrounding whitespace goes.
fn clean(s: &str) -> String {
    s.trim()
        .chars()
        .map(|c| if c.is_control() && c != '\n' { ' ' } else { c })
        .collect()
}

struct Page<'f> {
    content: Content,
    font: &'f mut FontUse,
}

impl Page<'_> {
    fn text(&mut self, x: f32, y: f32, size: f32, color: [f32; 3], bold: bool, text: &str) {
        let encoded = self.font.encode(text);
        let c = &mut self.content;
        c.set_fill_rgb(color[0], color[1], color[2]);
        c.begin_text();
        if bold {
            c.set_stroke_rgb(color[0], color[1], color[2]);
            c.set_line_width(size * 0.03);
            c.set_text_rendering_mode(TextRenderingMode::FillStroke);
        }
        c.set_font(FONT, size);
        c.set_text_matrix([1.0, 0.0, 0.0, 1.0, x, y]);
        c.show(Str(&encoded));
        if bold {
            c.set_text_rendering_mode(TextRenderingMode::Fill);
        }
        c.end_text();
    }

    fn width(&self, text: &str, size: f32) -> f32 {
        self.font.width(text, size)
    }

    /// Breaks `text` into lines no wider than `max` (CJK text breaks anywhere; so does Latin,
    /// which only matters for unbroken strings longer than a line).
    fn wrap(&self, text: &str, size: f32, max: f32) -> Vec<String> {
        let mut lines = Vec::new();
        for para in clean(text).split('\n') {
            let mut line = String::new();
            let mut w = 0.0;
            for ch in para.chars() {
                let cw = self.width(ch.encode_utf8(&mut [0; 4]), size);
                // Closing punctuation hangs into the margin rather than starting a line.
                if w + cw > max && !line.is_empty() && !NO_LINE_START.contains(&ch) {
                    // An opening bracket moves on with the text it opens.
                    let carry = match line.chars().last() {
                        Some(last) if NO_LINE_END.contains(&last) && line.chars().count() > 1 => {
                            line.pop()
                        }
                        _ => None,
                    };
                    lines.push(std::mem::take(&mut line).trim_end().to_owned());
                    w = 0.0;
                    if let Some(open) = carry {
                        line.push(open);
                        w = self.width(open.encode_utf8(&mut [0; 4]), size);
                    }
                    if ch == ' ' {
                        continue;
                    }
                }
                line.push(ch);
                w += cw;
            }
            lines.push(line.trim_end().to_owned());
        }
        lines
    }

    fn border(&mut self) {
        let c = &mut self.content;
        c.set_stroke_rgb(RED[0], RED[1], RED[2]);
        c.set_line_width(2.4);
        c.rect(28.0, 28.0, PAGE_WIDTH - 56.0, PAGE_HEIGHT - 56.0);
        c.stroke();
        c.set_line_width(0.7);
        c.rect(34.0, 34.0, PAGE_WIDTH - 68.0, PAGE_HEIGHT - 68.0);
        c.stroke();
    }

    fn heading(&mut self, data: &LicenceData) -> Result<(), RenderError> {
        let title = "电子证照";
        let w = self.width(title, 30.0);
        self.text((PAGE_WIDTH - w) / 2.0, 766.0, 30.0, RED, true, title);

        let item = clean(&data.item_name).replace('\n', " ");
        let max = CONTENT_RIGHT - CONTENT_LEFT;
        let mut size = 18.0;
        while self.width(&item, size) > max {
            size -= 0.5;
            if size < 10.0 {
                return Err(RenderError::TooLong("item_name".to_owned()));
            }
        }
        let w = self.width(&item, size);
        self.text((PAGE_WIDTH - w) / 2.0, 732.0, size, INK, true, &item);

        let c = &mut self.content;
        c.set_stroke_rgb(RED[0], RED[1], RED[2]);
        c.set_line_width(0.8);
        c.move_to(CONTENT_LEFT, 716.0);
        c.line_to(CONTENT_RIGHT, 716.0);
        c.stroke();
        Ok(())
    }

    fn table(&mut self, rows: &[(String, String)]) -> Result<(), RenderError> {
        let value_width = CONTENT_RIGHT - VALUE_LEFT;
        for size in FIELD_SIZES {
            let line_h = size * 1.45;
            let pad = size * 0.42;
            let laid: Vec<(Vec<String>, Vec<String>)> = rows
                .iter()
                .map(|(l, v)| {
                    (
                        self.wrap(l, size, LABEL_WIDTH),
                        self.wrap(v, size, value_width),
                    )
                })
                .collect();
            let height: f32 = laid
                .iter()
                .map(|(l, v)| l.len().max(v.len()) as f32 * line_h + 2.0 * pad)
                .sum();
            if height > TABLE_TOP - TABLE_BOTTOM {
                continue;
            }
            let mut top = TABLE_TOP;
            for (label, value) in &laid {
                let n = label.len().max(value.len()) as f32;
                let mut y = top - pad - size;
                for l in label {
                    self.text(CONTENT_LEFT, y, size, LABEL_INK, true, l);
                    y -= line_h;
                }
                let mut y = top - pad - size;
                for v in value {
                    self.text(VALUE_LEFT, y, size, INK, false, v);
                    y -= line_h;
                }
                top -= n * line_h + 2.0 * pad;
                let c = &mut self.content;
                c.set_stroke_gray(RULE_GRAY);
                c.set_line_width(0.4);
                c.move_to(CONTENT_LEFT, top + 0.25 * size);
                c.line_to(CONTENT_RIGHT, top + 0.25 * size);
                c.stroke();
            }
            return Ok(());
        }
        Err(RenderError::TooLong(format!(
            "{} rows do not fit at {} pt",
            rows.len(),
            FIELD_SIZES[FIELD_SIZES.len() - 1]
        )))
    }

    fn issuer(&mut self, data: &LicenceData) -> Result<(), RenderError> {
        let dept = format!(
            "发证机关：{}",
            clean(&data.issuing_department).replace('\n', "")
        );
        let date = format!("发证日期：{}", date_text(data.issue_date));
        let max = CONTENT_RIGHT - (QR_LEFT + QR_SIZE + 30.0);
        let mut size = 12.0;
        while self.width(&dept, size) > max {
            size -= 0.5;
            if size < 8.0 {
                return Err(RenderError::TooLong("issuing_department".to_owned()));
            }
        }
        let top = SEAL_PLACEMENT.y + SEAL_PLACEMENT.size + 16.0;
        let w = self.width(&date, size);
        self.text(CONTENT_RIGHT - w, top, size, INK, false, &date);
        let w = self.width(&dept, size);
        self.text(CONTENT_RIGHT - w, top + size * 1.7, size, INK, false, &dept);
        Ok(())
    }

    fn qr(&mut self, qr: &QrCode, url: &str) -> Result<(), RenderError> {
        let n = qr.width();
        let colors = qr.to_colors();
        let m = QR_SIZE / n as f32;
        let top = QR_BOTTOM + QR_SIZE;
        let c = &mut self.content;
        c.set_fill_gray(0.0);
        for row in 0..n {
            let mut col = 0;
            while col < n {
                if colors[row * n + col] == Color::Dark {
                    let start = col;
                    while col < n && colors[row * n + col] == Color::Dark {
                        col += 1;
                    }
                    // Slightly taller than a module so that rows do not show hairline seams.
                    c.rect(
                        QR_LEFT + start as f32 * m,
                        top - (row as f32 + 1.0) * m - 0.05,
                        (col - start) as f32 * m,
                        m + 0.05,
                    );
                } else {
                    col += 1;
                }
            }
        }
        c.fill_nonzero();

        let caption = "扫码核验";
        let w = self.width(caption, 9.0);
        self.text(
            QR_LEFT + (QR_SIZE - w) / 2.0,
            top + 6.0,
            9.0,
            LABEL_INK,
            false,
            caption,
        );

        let url = clean(url).replace('\n', "");
        let mut size = 8.0;
        while self.width(&url, size) > URL_MAX_WIDTH && size > 5.5 {
            size -= 0.5;
        }
        let lines = self.wrap(&url, size, URL_MAX_WIDTH);
        if lines.len() > 3 {
            return Err(RenderError::TooLong("verify_url".to_owned()));
        }
        let mut y = URL_TOP - size;
        for l in &lines {
            self.text(QR_LEFT, y, size, LABEL_INK, false, l);
            y -= size * 1.3;
        }
        Ok(())
    }
}
