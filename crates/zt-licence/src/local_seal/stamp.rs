//! The visible stamp: a red round seal of 120 × 120 pt like the e-seal service's — a double
//! ring, the seal name clockwise along the upper arc, a five-pointed star and the seal code.
//!
//! Unlike the service (which names the non-embedded `STSong-Light` and leaves the glyphs to the
//! viewer), the text is drawn with a subset of the crate's embedded font, so that the stamp
//! looks the same everywhere and the file needs no font from the viewer.

use pdf_writer::{Content, Name, Str};

use crate::font::FontUse;

/// Side of the stamp square, points (fixed by the service's interface).
pub(super) const SIZE: f32 = 120.0;
/// The font resource name inside the appearance stream.
pub(super) const FONT: Name<'static> = Name(b"ZtSeal");

const RED: [f32; 3] = [0.85, 0.07, 0.07];
/// Cubic Bézier approximation of a quarter circle.
const KAPPA: f32 = 0.552_284_8;

fn circle(c: &mut Content, cx: f32, cy: f32, r: f32) {
    let k = r * KAPPA;
    c.move_to(cx + r, cy);
    c.cubic_to(cx + r, cy + k, cx + k, cy + r, cx, cy + r);
    c.cubic_to(cx - k, cy + r, cx - r, cy + k, cx - r, cy);
    c.cubic_to(cx - r, cy - k, cx - k, cy - r, cx, cy - r);
    c.cubic_to(cx + k, cy - r, cx + r, cy - k, cx + r, cy);
    c.close_path();
}

fn star(c: &mut Content, cx: f32, cy: f32, r_out: f32, r_in: f32) {
    for i in 0..10u8 {
        let a = (90.0 + f32::from(i) * 36.0).to_radians();
        let r = if i % 2 == 0 { r_out } else { r_in };
        let (x, y) = (cx + r * a.cos(), cy + r * a.sin());
        if i == 0 {
            c.move_to(x, y);
        } else {
            c.line_to(x, y);
        }
    }
    c.close_path();
}

/// The seal name along the upper arc: characters spread over at most 250°, sized to the arc
/// length each one gets, upright towards the outside, read clockwise.
fn arc_text(c: &mut Content, font: &mut FontUse, name: &str, centre: f32, r_top: f32) {
    let chars: Vec<char> = name.chars().filter(|ch| !ch.is_whitespace()).collect();
    let n = chars.len();
    if n == 0 || chars.iter().any(|&ch| font.glyph(ch).is_none()) {
        // A name the font cannot draw is left out rather than drawn with holes.
        return;
    }
    let span = if n > 1 {
        (26.0 * (n - 1) as f32).min(250.0)
    } else {
        0.0
    };
    let step = if n > 1 { span / (n - 1) as f32 } else { 0.0 };
    let mut size: f32 = 16.0;
    for _ in 0..3 {
        let r_base = r_top - 0.88 * size;
        let pitch = if n > 1 {
            r_base * step.to_radians()
        } else {
            size
        };
        size = (0.92 * pitch).clamp(6.0, 16.0);
    }
    let r_base = r_top - 0.88 * size;
    c.set_font(FONT, size);
    for (i, ch) in chars.iter().enumerate() {
        let s = ch.to_string();
        let theta = (90.0 + span / 2.0 - i as f32 * step).to_radians();
        // Baseline direction (clockwise) and the glyph's "up" (outwards).
        let (bx, by) = (theta.sin(), -theta.cos());
        let (ux, uy) = (theta.cos(), theta.sin());
        let (px, py) = (centre + r_base * ux, centre + r_base * uy);
        let half = font.width(&s, size) / 2.0;
        let encoded = font.encode(&s);
        c.set_text_matrix([bx, by, ux, uy, px - bx * half, py - by * half]);
        c.show(Str(&encoded));
    }
}

/// The appearance stream's content; the glyphs it uses are recorded in `font`.
pub(super) fn content(font: &mut FontUse, seal_name: &str, seal_code: &str) -> Vec<u8> {
    let centre = SIZE / 2.0;
    let mut c = Content::new();
    c.save_state();
    c.set_stroke_rgb(RED[0], RED[1], RED[2]);
    c.set_fill_rgb(RED[0], RED[1], RED[2]);
    c.set_line_width(3.0);
    circle(&mut c, centre, centre, centre - 2.5);
    c.stroke();
    c.set_line_width(0.8);
    circle(&mut c, centre, centre, centre - 6.5);
    c.stroke();
    star(&mut c, centre, centre, 17.0, 6.8);
    c.fill_nonzero();

    c.begin_text();
    arc_text(&mut c, font, seal_name, centre, centre - 9.5);
    let code: String = seal_code
        .chars()
        .filter(|&ch| font.glyph(ch).is_some())
        .collect();
    if !code.is_empty() {
        let size = 7.0;
        let w = font.width(&code, size);
        c.set_font(FONT, size);
        c.set_text_matrix([1.0, 0.0, 0.0, 1.0, centre - w / 2.0, centre - 32.0]);
        let encoded = font.encode(&code);
        c.show(Str(&encoded));
    }
    c.end_text();
    c.restore_state();
    c.finish().into_vec()
}
