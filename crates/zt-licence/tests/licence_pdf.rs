//! The licence PDF: text extraction with pdftotext, the QR code read back from a rendering of
//! the page (pdftoppm + rqrr), determinism, size, fonts and input errors.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::process::Command;

use common::{date, decode_qr_codes, have, pdftotext, person_sample, sample, skip};
use zt_licence::licence::{date_text, render, RenderError, Validity, SEAL_PLACEMENT};

fn write_tmp(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Collapses the whitespace pdftotext puts between table cells, so that a value that wrapped in
/// the layout can be compared as written.
fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join("")
}

#[test]
fn text_extracts_exactly_with_pdftotext() {
    if !have("pdftotext") {
        skip(
            "text_extracts_exactly_with_pdftotext",
            "pdftotext not installed (apt-get install poppler-utils)",
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for data in [sample(), person_sample()] {
        let pdf = render(&data).unwrap();
        let text = pdftotext(&write_tmp(&dir, "l.pdf", &pdf));
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        // Each of these is one line of its own in the extracted text, character for character.
        for expected in [
            "电子证照",
            data.item_name.as_str(),
            data.holder.as_str(),
            data.holder_id.as_str(),
            data.licence_no.as_str(),
            data.validity.text().as_str(),
            data.verify_url.as_str(),
            format!("发证机关：{}", data.issuing_department).as_str(),
            format!("发证日期：{}", date_text(data.issue_date)).as_str(),
        ] {
            assert!(
                lines.contains(&expected),
                "{expected:?} is not a line of the extracted text:\n{text}"
            );
        }
        for (label, value) in &data.details {
            assert!(lines.contains(&label.as_str()), "{label:?} in:\n{text}");
            assert!(
                squash(&text).contains(&squash(value)),
                "{value:?} in:\n{text}"
            );
        }
    }
    // The standard labels and the date formats.
    let text = pdftotext(&write_tmp(&dir, "s.pdf", &render(&sample()).unwrap()));
    for s in [
        "单位名称",
        "统一社会信用代码",
        "证照编号",
        "有效期限",
        "2026年11月24日至2031年11月23日",
    ] {
        assert!(text.lines().any(|l| l.trim() == s), "{s:?} in:\n{text}");
    }
    let text = pdftotext(&write_tmp(
        &dir,
        "p.pdf",
        &render(&person_sample()).unwrap(),
    ));
    for s in ["持证人", "身份证件号码", "长期", "360402********0028"] {
        assert!(text.lines().any(|l| l.trim() == s), "{s:?} in:\n{text}");
    }
}

#[test]
fn long_values_wrap_and_still_extract() {
    if !have("pdftotext") {
        skip(
            "long_values_wrap_and_still_extract",
            "pdftotext not installed",
        );
        return;
    }
    let mut data = sample();
    let long = "热食类食品制售；冷食类食品制售；生食类食品制售（限生食类水产品）；糕点类食品制售（含裱花蛋糕）；自制饮品制售（不含自酿酒）；散装食品销售（含冷藏冷冻食品）".to_owned();
    data.details.push(("经营范围".to_owned(), long.clone()));
    let dir = tempfile::tempdir().unwrap();
    let text = pdftotext(&write_tmp(&dir, "w.pdf", &render(&data).unwrap()));
    assert!(squash(&text).contains(&squash(&long)), "{text}");
    // It did wrap: no single line holds the whole value.
    assert!(!text.lines().any(|l| l.trim() == long));
}

#[test]
fn qr_code_decodes_to_the_verification_url() {
    if !have("pdftoppm") {
        skip(
            "qr_code_decodes_to_the_verification_url",
            "pdftoppm not installed (apt-get install poppler-utils)",
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut long = sample();
    long.verify_url = format!(
        "https://zwfw.example.gov.cn/verify/{}?sig=0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9",
        long.licence_no
    );
    for data in [sample(), person_sample(), long] {
        let path = write_tmp(&dir, "q.pdf", &render(&data).unwrap());
        for dpi in [150, 300] {
            let codes = decode_qr_codes(&path, dpi);
            assert_eq!(codes, vec![data.verify_url.clone()], "at {dpi} dpi");
        }
    }
}

#[test]
fn output_is_deterministic_and_small() {
    let a = render(&sample()).unwrap();
    let b = render(&sample()).unwrap();
    assert_eq!(a, b, "same input, same bytes");
    assert!(a.starts_with(b"%PDF-1.7"));
    assert!(
        a.len() < 60_000,
        "a typical licence should stay small, got {} bytes",
        a.len()
    );
    let mut other = sample();
    other.licence_no.push('9');
    assert_ne!(render(&other).unwrap(), a);
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("typical licence PDF: {} bytes\n", a.len()).as_bytes(),
    );
}

#[test]
fn font_is_an_embedded_subset_with_tounicode() {
    if !have("pdffonts") {
        skip(
            "font_is_an_embedded_subset_with_tounicode",
            "pdffonts not installed",
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = write_tmp(&dir, "f.pdf", &render(&sample()).unwrap());
    let out = Command::new("pdffonts").arg(&path).output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    let line = report
        .lines()
        .find(|l| l.contains("WenQuanYiMicroHei"))
        .unwrap_or_else(|| panic!("no WenQuanYi font:\n{report}"));
    // name, type "CID TrueType", encoding Identity-H, emb yes, sub yes, uni yes
    assert!(line.contains("CID TrueType"), "{line}");
    assert!(line.contains("Identity-H"), "{line}");
    let flags: Vec<&str> = line.split_whitespace().collect();
    assert!(
        flags.windows(3).any(|w| w == ["yes", "yes", "yes"]),
        "{line}"
    );
    assert_eq!(line.split_whitespace().next().unwrap().find('+'), Some(6));
}

#[test]
fn page_is_a4_and_the_seal_box_fits() {
    let pdf = render(&sample()).unwrap();
    let text = String::from_utf8_lossy(&pdf);
    assert!(
        text.contains("/MediaBox [0 0 595.28 841.89]"),
        "A4 media box"
    );
    assert!(!text.contains("/CropBox") && !text.contains("/Rotate"));
    // The e-seal service requires x + 120 <= width and y + 120 <= height of page 1.
    let media: Vec<f32> = text
        .split("/MediaBox [")
        .nth(1)
        .unwrap()
        .split(']')
        .next()
        .unwrap()
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(SEAL_PLACEMENT.page, 1);
    assert_eq!(
        text.matches("/Type /Page\n").count() + text.matches("/Type /Page ").count(),
        1
    );
    assert!(SEAL_PLACEMENT.x + SEAL_PLACEMENT.size <= media[2]);
    assert!(SEAL_PLACEMENT.y + SEAL_PLACEMENT.size <= media[3]);
}

#[test]
fn seal_area_is_left_empty() {
    if !have("pdftoppm") {
        skip("seal_area_is_left_empty", "pdftoppm not installed");
        return;
    }
    // Render at 72 dpi (1 px = 1 pt) and check the seal square is white.
    let dir = tempfile::tempdir().unwrap();
    let path = write_tmp(&dir, "e.pdf", &render(&sample()).unwrap());
    let out = Command::new("pdftoppm")
        .args(["-gray", "-r", "72"])
        .arg(&path)
        .output()
        .unwrap();
    let data = out.stdout;
    // P5\n<w> <h>\n255\n
    let header_end = data
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == b'\n')
        .nth(2)
        .unwrap()
        .0
        + 1;
    let header = String::from_utf8_lossy(&data[..header_end]).to_string();
    let dims: Vec<usize> = header
        .split_whitespace()
        .skip(1)
        .take(2)
        .map(|s| s.parse().unwrap())
        .collect();
    let (w, h) = (dims[0], dims[1]);
    let px = &data[header_end..];
    let (x0, y0) = (SEAL_PLACEMENT.x as usize, SEAL_PLACEMENT.y as usize);
    let size = SEAL_PLACEMENT.size as usize;
    let mut dark = 0;
    for y in (h - y0 - size)..(h - y0) {
        for x in x0..x0 + size {
            if px[y * w + x] < 250 {
                dark += 1;
            }
        }
    }
    assert_eq!(dark, 0, "the seal square has {dark} non-white pixels");
}

#[test]
fn input_errors_are_reported() {
    let mut data = sample();
    data.holder = "江州市𠮷野家餐饮有限公司".to_owned(); // U+20BB7 is not in the font
    assert_eq!(render(&data), Err(RenderError::MissingGlyphs(vec!['𠮷'])));

    let mut data = sample();
    data.licence_no = "  ".to_owned();
    assert_eq!(render(&data), Err(RenderError::Empty("licence_no")));

    let mut data = sample();
    data.validity = Validity::Period {
        from: date(2026, 11, 24),
        to: date(2026, 11, 23),
    };
    assert!(matches!(
        render(&data),
        Err(RenderError::InvalidPeriod { .. })
    ));

    let mut data = sample();
    data.details = (0..40)
        .map(|i| (format!("事项{i}"), "内容".repeat(30)))
        .collect();
    assert!(matches!(render(&data), Err(RenderError::TooLong(_))));

    let mut data = sample();
    data.verify_url = format!("https://zwfw.example.gov.cn/verify/{}", "x".repeat(3000));
    assert!(matches!(render(&data), Err(RenderError::QrCode(_))));

    // Many rows still fit by shrinking the font.
    let mut data = sample();
    data.details = (0..16)
        .map(|i| (format!("项目{i}"), "经营项目内容".to_owned()))
        .collect();
    assert!(render(&data).is_ok());

    // Validity texts.
    assert_eq!(Validity::LongTerm.text(), "长期");
    assert_eq!(
        Validity::Period {
            from: date(2026, 1, 5),
            to: date(2030, 12, 31)
        }
        .text(),
        "2026年1月5日至2030年12月31日"
    );
}
