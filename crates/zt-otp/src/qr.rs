//! The enrolment QR code as a self-contained SVG, drawn by the platform itself.
//!
//! The `qrcode` crate only computes the module matrix; the SVG is written
//! here so that it has no XML prolog (it can be inlined in HTML), a fixed
//! size, and nothing a strict Content-Security-Policy would block: no script,
//! no `style` attribute or element, no link or external reference. The data
//! never appears in the SVG text, only as modules, so nothing in it needs
//! escaping.
//!
//! The QR code of an `otpauth://` URI contains the secret: serve it with
//! `Cache-Control: no-store` and only on the enrolment page.

use std::fmt::Write as _;

use qrcode::{Color, EcLevel, QrCode};

use crate::error::OtpError;

/// Width and height of the SVG, in CSS pixels.
pub const QR_SIZE_PX: u32 = 240;
/// Light modules around the symbol (ISO/IEC 18004 asks for 4).
pub const QUIET_ZONE: usize = 4;

/// An SVG of `data` as a QR code with medium (M, ~15 %) error correction:
/// black modules on white, a 4-module quiet zone, `viewBox` in modules and a
/// fixed 240 × 240 size. `OtpError::Qr` when the data does not fit.
pub fn qr_svg(data: &str) -> Result<String, OtpError> {
    let code = QrCode::with_error_correction_level(data.as_bytes(), EcLevel::M)
        .map_err(|e| OtpError::Qr(e.to_string()))?;
    let width = code.width();
    if width == 0 {
        return Err(OtpError::Qr("empty symbol".to_owned()));
    }
    let colors = code.to_colors();
    let side = width + 2 * QUIET_ZONE;

    // One sub-path per horizontal run of dark modules.
    let mut path = String::new();
    for (y, row) in colors.chunks(width).enumerate() {
        let mut x = 0;
        while x < row.len() {
            if row[x] != Color::Dark {
                x += 1;
                continue;
            }
            let start = x;
            while x < row.len() && row[x] == Color::Dark {
                x += 1;
            }
            let run = x - start;
            let _ = write!(
                path,
                "M{} {}h{run}v1h-{run}z",
                start + QUIET_ZONE,
                y + QUIET_ZONE
            );
        }
    }

    Ok(format!(
        concat!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" version="1.1" "#,
            r#"width="{px}" height="{px}" viewBox="0 0 {side} {side}" "#,
            r#"shape-rendering="crispEdges" role="img">"#,
            r##"<rect width="{side}" height="{side}" fill="#ffffff"/>"##,
            r##"<path fill="#000000" d="{path}"/>"##,
            "</svg>"
        ),
        px = QR_SIZE_PX,
        side = side,
        path = path,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const URI: &str = "otpauth://totp/%E6%94%BF%E9%80%9A:%E5%BC%A0%E4%B8%89\
        ?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
        &issuer=%E6%94%BF%E9%80%9A&algorithm=SHA1&digits=6&period=30";

    #[test]
    fn svg_is_self_contained_and_safe() {
        let svg = qr_svg(URI).unwrap();
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.ends_with("</svg>"));
        let lower = svg.to_ascii_lowercase();
        for banned in [
            "<script",
            "<?xml",
            "<!doctype",
            "href",
            "url(",
            "style",
            "<image",
            "<use",
            "<foreignobject",
            "javascript:",
        ] {
            assert!(!lower.contains(banned), "{banned} in {svg}");
        }
        // No event handler attribute of any kind (` on…=`).
        assert!(!lower.contains(" on"), "event handler in {svg}");
        // The only URL is the namespace name.
        assert_eq!(lower.matches("http").count(), 1);
        assert!(
            !svg.contains("secret"),
            "data must not leak into the markup"
        );
    }

    fn path_data(svg: &str) -> &str {
        let start = svg.find(" d=\"").unwrap() + 4;
        let len = svg[start..].find('"').unwrap();
        &svg[start..start + len]
    }

    #[test]
    fn svg_has_viewbox_fixed_size_and_quiet_zone() {
        let svg = qr_svg(URI).unwrap();
        let code = QrCode::with_error_correction_level(URI.as_bytes(), EcLevel::M).unwrap();
        let side = code.width() + 2 * QUIET_ZONE;
        assert!(
            svg.contains(&format!("viewBox=\"0 0 {side} {side}\"")),
            "{svg}"
        );
        assert!(svg.contains("width=\"240\" height=\"240\""));
        assert!(svg.contains(&format!(
            "<rect width=\"{side}\" height=\"{side}\" fill=\"#ffffff\"/>"
        )));
        assert!(svg.contains("fill=\"#000000\""));
        assert_eq!(code.error_correction_level(), EcLevel::M);
        // The first run is the top-left finder pattern: 7 modules at (4, 4).
        assert!(svg.contains("d=\"M4 4h7v1h-7z"), "{svg}");
        // No module is drawn inside the quiet zone.
        let max = side - QUIET_ZONE;
        for part in path_data(&svg).split('M').skip(1) {
            let mut nums = part
                .split(|c: char| !c.is_ascii_digit())
                .filter(|s| !s.is_empty());
            let x: usize = nums.next().unwrap().parse().unwrap();
            let y: usize = nums.next().unwrap().parse().unwrap();
            let run: usize = nums.next().unwrap().parse().unwrap();
            assert!(x >= QUIET_ZONE && y >= QUIET_ZONE && y < max && x + run <= max);
        }
    }

    #[test]
    fn svg_dark_module_count_matches_the_symbol() {
        let svg = qr_svg(URI).unwrap();
        let code = QrCode::with_error_correction_level(URI.as_bytes(), EcLevel::M).unwrap();
        let dark = code
            .to_colors()
            .iter()
            .filter(|c| **c == Color::Dark)
            .count();
        let drawn: usize = path_data(&svg)
            .split('M')
            .skip(1)
            .map(|run| {
                let after_h = run.split('h').nth(1).unwrap();
                after_h.split('v').next().unwrap().parse::<usize>().unwrap()
            })
            .sum();
        assert_eq!(drawn, dark);
    }

    #[test]
    fn too_much_data_is_an_error() {
        let long = "x".repeat(5000);
        assert!(matches!(qr_svg(&long), Err(OtpError::Qr(_))));
    }
}
