//! PDF active-content checks, false positives, evasions and the deflate-bomb
//! cap.
#![allow(clippy::unwrap_used)] // the whole file is test code

mod common;

use std::time::{Duration, Instant};

use common::{noise, one_page, stream, zlib, PageSpec, PdfWriter};
use zt_scanner::builtin::{check, check_with_limits, Limits};
use zt_scanner::{Finding, Verdict, UPLOAD_EXECUTABLE, UPLOAD_MALWARE, UPLOAD_PDF_ACTIVE_CONTENT};

const ACTIVE_MESSAGE: &str = "PDF 文件包含脚本或自动执行动作，请另存为普通 PDF 后重新上传。";

fn rejected(pdf: &[u8]) -> Finding {
    match check(pdf) {
        Verdict::Rejected(f) => f,
        Verdict::Clean => panic!("PDF was not rejected:\n{}", String::from_utf8_lossy(pdf)),
    }
}

fn assert_active(pdf: &[u8], detail_contains: &str) -> Finding {
    let f = rejected(pdf);
    assert_eq!(f.code, UPLOAD_PDF_ACTIVE_CONTENT, "{f:?}");
    assert_eq!(f.message, ACTIVE_MESSAGE, "{f:?}");
    assert!(f.detail.contains(detail_contains), "{f:?}");
    f
}

fn assert_unverifiable(pdf: &[u8], detail_contains: &str) -> Finding {
    let f = rejected(pdf);
    assert_eq!(f.code, UPLOAD_PDF_ACTIVE_CONTENT, "{f:?}");
    assert_ne!(f.message, ACTIVE_MESSAGE, "a more precise message: {f:?}");
    assert!(f.detail.contains(detail_contains), "{f:?}");
    f
}

fn assert_clean(pdf: &[u8]) {
    assert_eq!(
        check(pdf),
        Verdict::Clean,
        "{}",
        String::from_utf8_lossy(pdf)
    );
}

// ---- normal PDFs pass -------------------------------------------------

#[test]
fn simple_generated_pdfs_pass() {
    assert_clean(&one_page(&PageSpec::default()));
    assert_clean(&one_page(&PageSpec {
        compress_content: true,
        ..Default::default()
    }));
    assert_clean(&one_page(&PageSpec {
        compress_content: true,
        object_streams: true,
        ..Default::default()
    }));
}

#[test]
fn the_word_javascript_in_page_text_passes() {
    // Text is in strings inside content streams: not names, not inspected.
    let content: &[u8] =
        b"BT /F1 12 Tf 72 770 Td (Learn JavaScript: the /JavaScript action, /JS and /Launch) Tj ET";
    for compress_content in [false, true] {
        assert_clean(&one_page(&PageSpec {
            content: Some(content),
            compress_content,
            ..Default::default()
        }));
    }
    // Also in a hex string (UTF-16BE, as Chinese text is written).
    let content =
        b"BT /F1 12 Tf 72 770 Td <FEFF004A0061007600610053006300720069007000744E2D6587> Tj ET";
    assert_clean(&one_page(&PageSpec {
        content: Some(content),
        ..Default::default()
    }));
}

#[test]
fn names_in_document_info_strings_pass() {
    let pdf = one_page(&PageSpec {
        trailer: "/Info 6 0 R",
        extra_objects: &[b"<< /Title (About /JavaScript and /JS in PDF) /Producer (zt test) >>"],
        ..Default::default()
    });
    assert_clean(&pdf);
}

#[test]
fn harmless_open_action_and_similar_names_pass() {
    let pdf = one_page(&PageSpec {
        catalog: "/OpenAction [3 0 R /Fit] /PageMode /UseOutlines",
        page: "/AA << /O << /S /GoTo /D [3 0 R /Fit] >> >> /JSON 1 /Launcher 2 /JavaScripts 3",
        ..Default::default()
    });
    assert_clean(&pdf);
}

#[test]
fn uncompressed_object_stream_passes() {
    let mut w = PdfWriter::new();
    let cat = w.reserve();
    let pages = w.reserve();
    w.add_objstm(
        &[
            (
                cat,
                format!("<< /Type /Catalog /Pages {pages} 0 R >>").as_bytes(),
            ),
            (pages, b"<< /Type /Pages /Kids [] /Count 0 >>"),
        ],
        "/Type /ObjStm",
        false,
    );
    assert_clean(&w.finish(cat, ""));
}

#[test]
fn a_big_image_stream_is_not_decoded() {
    // 2 MiB of "compressed" noise: random bytes never cause a finding.
    let image = noise(2 << 20, 42);
    let img = stream(
        "/Type /XObject /Subtype /Image /Width 1024 /Height 1024 /BitsPerComponent 8 /ColorSpace /DeviceRGB /Filter /DCTDecode",
        &image,
    );
    let pdf = one_page(&PageSpec {
        extra_objects: &[&img],
        ..Default::default()
    });
    assert_clean(&pdf);
}

// ---- active content is refused ------------------------------------------

#[test]
fn open_action_javascript_is_rejected() {
    let pdf = one_page(&PageSpec {
        catalog: "/OpenAction << /S /JavaScript /JS (app.alert\\('hi'\\)) >>",
        ..Default::default()
    });
    assert_active(&pdf, "/JavaScript");
}

#[test]
fn js_key_in_additional_actions_is_rejected() {
    // A rendition action runs /JS without the /JavaScript name.
    let pdf = one_page(&PageSpec {
        page: "/AA << /O << /S /Rendition /JS 7 0 R >> >>",
        extra_objects: &[b"<< /Foo 1 >>", &stream("", b"app.alert(1)")],
        ..Default::default()
    });
    assert_active(&pdf, "name /JS at byte");
}

#[test]
fn document_level_javascript_name_tree_is_rejected() {
    let pdf = one_page(&PageSpec {
        catalog: "/Names << /JavaScript 6 0 R >>",
        extra_objects: &[b"<< /Names [(init) 7 0 R] >>"],
        ..Default::default()
    });
    assert_active(&pdf, "/JavaScript");
}

#[test]
fn launch_action_is_rejected() {
    let pdf = one_page(&PageSpec {
        catalog: "/OpenAction << /S /Launch /Win << /F (cmd.exe) /P (/c calc) >> >>",
        ..Default::default()
    });
    assert_active(&pdf, "launch action");
}

#[test]
fn rich_media_is_rejected() {
    let pdf = one_page(&PageSpec {
        page: "/Annots [6 0 R]",
        extra_objects: &[b"<< /Type /Annot /Subtype /RichMedia /Rect [0 0 100 100] >>"],
        ..Default::default()
    });
    assert_active(&pdf, "rich media");
}

#[test]
fn hex_escaped_names_are_rejected() {
    for (catalog, want) in [
        (
            "/OpenAction << /S /J#61vaScript /#4A#53 (x) >>",
            "(written /J#61vaScript)",
        ),
        (
            "/OpenAction << /S /GoTo /D [3 0 R /Fit] /#4a#53 (x) >>",
            "(written /#4a#53)",
        ),
        (
            "/OpenAction << /S /#4C#61#75#6E#63#68 /F (a.exe) >>",
            "launch action",
        ),
        ("/OpenAction << /S /javascript /JS (x) >>", "/javascript"),
    ] {
        let pdf = one_page(&PageSpec {
            catalog,
            ..Default::default()
        });
        assert_active(&pdf, want);
    }
}

#[test]
fn javascript_in_a_flate_object_stream_is_rejected() {
    let pdf = one_page(&PageSpec {
        catalog: "/OpenAction << /S /JavaScript /JS (this.print\\(\\)) >>",
        object_streams: true,
        ..Default::default()
    });
    // The raw file does not show the name.
    assert!(!pdf.windows(11).any(|w| w == b"/JavaScript"));
    let f = assert_active(&pdf, "/JavaScript");
    assert!(f.detail.contains("object stream"), "{f:?}");
}

#[test]
fn obfuscated_names_in_an_object_stream_without_type_are_rejected() {
    // Readers find object streams through the xref and need only /N and
    // /First; the /Type is not required.
    let mut w = PdfWriter::new();
    let cat = w.reserve();
    let act = w.reserve();
    w.add_objstm(
        &[
            (
                cat,
                format!("<< /Type /Catalog /OpenAction {act} 0 R >>").as_bytes(),
            ),
            (act, b"<< /S /J#61vaScript /J#53 (app.alert\\(1\\)) >>"),
        ],
        "/Filter /FlateDecode",
        true,
    );
    let f = assert_active(&w.finish(cat, ""), "(written /J#61vaScript)");
    assert!(f.detail.contains("object stream"), "{f:?}");
}

#[test]
fn javascript_in_doubly_compressed_object_stream_is_rejected() {
    let mut w = PdfWriter::new();
    let cat = w.reserve();
    let body = format!("{cat} 0 << /Type /Catalog /OpenAction << /S /JavaScript /JS (x) >> >>");
    let data = zlib(&zlib(body.as_bytes()));
    let first = format!("{cat} 0 ").len();
    w.add_stream(
        &format!("/Type /ObjStm /N 1 /First {first} /Filter [/FlateDecode /Fl]"),
        &data,
    );
    assert_active(&w.finish(cat, ""), "/JavaScript");
}

#[test]
fn file_attachment_annotation_with_a_javascript_action_is_rejected() {
    // An attachment annotation whose action is JavaScript.
    let pdf = one_page(&PageSpec {
        page: "/Annots [<< /Type /Annot /Subtype /FileAttachment /A << /S /JavaScript >> >>]",
        ..Default::default()
    });
    assert_active(&pdf, "/JavaScript");
}

#[test]
fn embedded_executable_is_rejected() {
    let mut exe = vec![0u8; 0x100];
    exe[0..2].copy_from_slice(b"MZ");
    exe[0x3C..0x40].copy_from_slice(&0x40u32.to_le_bytes());
    exe[0x40..0x44].copy_from_slice(b"PE\0\0");
    let ef = stream("/Type /EmbeddedFile /Filter /FlateDecode", &zlib(&exe));
    let pdf = one_page(&PageSpec {
        catalog: "/Names << /EmbeddedFiles << /Names [(invoice.exe) << /Type /Filespec /F (invoice.exe) /EF << /F 6 0 R >> >>] >> >>",
        extra_objects: &[&ef],
        ..Default::default()
    });
    let f = rejected(&pdf);
    assert_eq!(f.code, UPLOAD_EXECUTABLE, "{f:?}");
    assert!(f.detail.contains("embedded in the PDF"), "{f:?}");
}

#[test]
fn embedded_eicar_is_malware_and_embedded_text_passes() {
    let ef = stream(
        "/Type /EmbeddedFile /Filter /FlateDecode",
        &zlib(&common::eicar()),
    );
    let pdf = one_page(&PageSpec {
        extra_objects: &[&ef],
        ..Default::default()
    });
    assert_eq!(rejected(&pdf).code, UPLOAD_MALWARE);
    let ef = stream(
        "/Type /EmbeddedFile /Subtype /text#2Fxml",
        b"<invoice>100.00</invoice>",
    );
    assert_clean(&one_page(&PageSpec {
        extra_objects: &[&ef],
        ..Default::default()
    }));
}

#[test]
fn pdf_header_after_junk_is_still_a_pdf() {
    let mut pdf = vec![b' '; 900];
    pdf.extend_from_slice(&one_page(&PageSpec {
        catalog: "/OpenAction << /S /JavaScript /JS (x) >>",
        ..Default::default()
    }));
    assert_active(&pdf, "/JavaScript");
}

// ---- evasions -------------------------------------------------------------

#[test]
fn an_unbalanced_parenthesis_between_objects_does_not_hide_javascript() {
    // Readers jump to objects by the xref offsets and never parse the junk
    // `(`; a naive tokeniser would read the action as part of a string.
    let mut pdf = one_page(&PageSpec {
        catalog: "/OpenAction 6 0 R",
        extra_objects: &[b"<< /S /JavaScript /JS (app.alert\\(1\\)) >>"],
        ..Default::default()
    });
    let at = find(&pdf, b"6 0 obj").unwrap();
    pdf.splice(at..at, b"(".iter().copied());
    assert_active(&pdf, "/JavaScript");
}

#[test]
fn an_unbalanced_parenthesis_does_not_hide_an_object_stream() {
    let mut pdf = one_page(&PageSpec {
        catalog: "/OpenAction << /S /JavaScript /JS (x) >>",
        object_streams: true,
        ..Default::default()
    });
    let at = find(&pdf, b"/Type /ObjStm").unwrap();
    let obj = pdf[..at].windows(4).rposition(|w| w == b" obj").unwrap();
    let line = pdf[..obj].iter().rposition(|&b| b == b'\n').unwrap() + 1;
    pdf.splice(line..line, b"(% ".iter().copied());
    assert_active(&pdf, "object stream");
}

#[test]
fn an_object_hidden_in_a_comment_line_is_found() {
    let pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog /OpenAction 2 0 R >> endobj\n\
% 2 0 obj << /S /JavaScript /JS (x) >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";
    assert_active(pdf, "/JavaScript");
}

#[test]
fn a_stray_hex_bracket_does_not_hide_an_object_stream_dictionary() {
    let body = b"1 0 << /Type /Catalog /OpenAction << /S /JavaScript /JS (x) >> >>";
    let data = zlib(body);
    let mut pdf = b"%PDF-1.5\n<junk\n2 0 obj\n".to_vec();
    pdf.extend_from_slice(
        format!(
            "<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length {} >>\nstream\n",
            data.len()
        )
        .as_bytes(),
    );
    pdf.extend_from_slice(&data);
    pdf.extend_from_slice(b"\nendstream\nendobj\n%%EOF\n");
    assert_active(&pdf, "object stream");
}

#[test]
fn garbage_between_objects_inside_an_object_stream_does_not_hide_javascript() {
    // The objects are read at First + offset; the junk `(` before the second
    // object would swallow it in a linear read.
    let mut w = PdfWriter::new();
    let cat = w.reserve();
    let act = w.reserve();
    w.add_objstm(
        &[
            (
                cat,
                format!("<< /Type /Catalog /OpenAction {act} 0 R >> (").as_bytes(),
            ),
            (act, b"<< /S /JavaScript /JS (x) >>"),
        ],
        "/Type /ObjStm /Filter /FlateDecode",
        true,
    );
    assert_active(&w.finish(cat, ""), "/JavaScript");
}

#[test]
fn page_text_spelling_object_syntax_and_js_is_refused_by_design() {
    // The documented price of the desynchronisation guard: an uncompressed
    // page whose text literally contains `12 0 obj` and `/JS` is searched
    // without regard to strings. Compressed, it passes (not decoded; a
    // page long enough to be Huffman-coded rather than stored verbatim).
    let line: &[u8] = b"BT /F1 12 Tf 72 770 Td (PDF syntax: 12 0 obj << /JS (x) >>) Tj ET\n";
    let content = line.repeat(20);
    let content = content.as_slice();
    assert_active(
        &one_page(&PageSpec {
            content: Some(content),
            ..Default::default()
        }),
        "/JS",
    );
    assert_clean(&one_page(&PageSpec {
        content: Some(content),
        compress_content: true,
        ..Default::default()
    }));
}

#[test]
fn pathological_inputs_take_linear_time() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "streams after stray >>",
            b">> stream\nendstream\n".repeat(500_000),
        ),
        (
            "nested parentheses",
            [
                b"%PDF-1.4\n(".to_vec(),
                b"(".repeat(4 << 20),
                b"1 0 obj".to_vec(),
            ]
            .concat(),
        ),
        (
            "open dictionaries",
            [b"%PDF-1.4\n".to_vec(), b"<<".repeat(4 << 20)].concat(),
        ),
        (
            "obj keywords",
            [b"%PDF-1.4\n(".to_vec(), b"1 0 obj ".repeat(1 << 20)].concat(),
        ),
        (
            "endstream-less streams",
            [b"%PDF-1.4\n".to_vec(), b"<< >>stream\n".repeat(1 << 20)].concat(),
        ),
    ];
    for (what, mut data) in cases {
        if !data.starts_with(b"%PDF-") {
            data.splice(0..0, b"%PDF-1.4\n".iter().copied());
        }
        let started = Instant::now();
        let _ = check(&data);
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(10),
            "{what}: {took:?} for {} bytes",
            data.len()
        );
    }
}

#[test]
fn objects_hidden_in_a_fake_compressed_stream_are_found() {
    // A "stream" in junk between objects whose body is plain object syntax
    // (not zlib), or a valid zlib stream followed by plain objects: readers
    // reach the objects through the xref.
    let hidden = b"\n7 0 obj\n<< /S /JavaScript /JS (app.alert\\(1\\)) >>\nendobj\n";
    for prefix in [Vec::new(), zlib(b"q Q")] {
        let mut body = prefix.clone();
        body.extend_from_slice(hidden);
        let fake = stream("/Filter /FlateDecode", &body);
        let pdf = one_page(&PageSpec {
            catalog: "/OpenAction 7 0 R",
            extra_objects: &[&fake],
            ..Default::default()
        });
        let f = assert_active(&pdf, "/JavaScript");
        assert!(!f.detail.contains("object stream"), "{f:?}");
    }
}

// ---- object streams that cannot be verified --------------------------------

#[test]
fn object_stream_with_an_unsupported_filter_is_refused() {
    let mut w = PdfWriter::new();
    let cat = w.reserve();
    w.add_stream(
        "/Type /ObjStm /N 1 /First 4 /Filter /LZWDecode",
        &noise(300, 1),
    );
    let f = assert_unverifiable(&w.finish(cat, ""), "unsupported filter /LZWDecode");
    assert_eq!(
        f.message,
        "PDF 文件结构无法完成安全检查，请另存为普通 PDF 后重新上传。"
    );
}

#[test]
fn object_stream_with_a_predictor_or_corrupt_data_is_refused() {
    let mut w = PdfWriter::new();
    let cat = w.reserve();
    w.add_stream(
        "/Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /DecodeParms << /Predictor 12 /Columns 5 >>",
        &zlib(b"1 0 << >>"),
    );
    assert_unverifiable(&w.finish(cat, ""), "predictor");
    let mut w = PdfWriter::new();
    let cat = w.reserve();
    w.add_stream(
        "/Type /ObjStm /N 1 /First 4 /Filter /FlateDecode",
        b"not zlib at all",
    );
    assert_unverifiable(&w.finish(cat, ""), "corrupt FlateDecode");
}

#[test]
fn encrypted_pdf_with_object_streams_is_refused_and_without_passes() {
    let encrypt = "/Encrypt << /Filter /Standard /V 2 /R 3 /Length 128 /P -3904 /O <00> /U <00> >> /ID [<01> <01>]";
    let f = assert_unverifiable(
        &one_page(&PageSpec {
            trailer: encrypt,
            compress_content: true,
            object_streams: true,
            ..Default::default()
        }),
        "encrypted",
    );
    assert!(f.message.contains("加密"), "{f:?}");
    // "/Encrypt" only in a string of an unencrypted file: inspected.
    assert_clean(&one_page(&PageSpec {
        trailer: "/Info 6 0 R",
        extra_objects: &[b"<< /Title (How to /Encrypt a PDF) >>"],
        object_streams: true,
        ..Default::default()
    }));
    assert_active(
        &one_page(&PageSpec {
            trailer: "/Info 6 0 R",
            catalog: "/OpenAction << /S /JavaScript /JS (x) >>",
            extra_objects: &[b"<< /Title (How to /Encrypt a PDF) >>"],
            object_streams: true,
            ..Default::default()
        }),
        "object stream",
    );
    // Without object streams the dictionaries are in the clear: inspected.
    assert_clean(&one_page(&PageSpec {
        trailer: encrypt,
        compress_content: true,
        ..Default::default()
    }));
    assert_active(
        &one_page(&PageSpec {
            trailer: encrypt,
            catalog: "/OpenAction << /S /JavaScript /JS <8a7f> >>",
            ..Default::default()
        }),
        "/JavaScript",
    );
}

/// zlib data that inflates to `mib` MiB of zeros (about 1 KiB per MiB).
fn deflate_bomb(mib: usize) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let block = vec![0u8; 1 << 20];
    for _ in 0..mib {
        e.write_all(&block).unwrap();
    }
    e.finish().unwrap()
}

#[test]
fn deflate_bomb_in_an_object_stream_is_capped_and_refused() {
    let bomb = deflate_bomb(1024); // 1 GiB decompressed
    assert!(bomb.len() < 2 << 20, "bomb is {} bytes", bomb.len());
    let mut w = PdfWriter::new();
    let cat = w.reserve();
    w.add_stream("/Type /ObjStm /N 1 /First 4 /Filter /FlateDecode", &bomb);
    let pdf = w.finish(cat, "");

    let before = common::peak_rss_kib();
    let started = Instant::now();
    let f = assert_unverifiable(&pdf, "decompresses to more than 16777216 bytes");
    let took = started.elapsed();
    let after = common::peak_rss_kib();
    assert_eq!(
        f.message,
        "PDF 文件结构无法完成安全检查，请另存为普通 PDF 后重新上传。"
    );
    assert!(took < Duration::from_secs(20), "took {took:?}");
    // Inflating the whole bomb would need 1 GiB; the cap keeps the growth
    // of the peak resident memory to a few tens of MiB.
    if let (Some(before), Some(after)) = (before, after) {
        let grew_mib = (after.saturating_sub(before)) / 1024;
        assert!(grew_mib < 200, "peak RSS grew by {grew_mib} MiB");
    }
}

#[test]
fn deflate_bomb_in_a_content_stream_is_not_inflated() {
    let bomb = deflate_bomb(256);
    let pdf = one_page(&PageSpec {
        extra_objects: &[&stream("/Filter /FlateDecode", &bomb)],
        ..Default::default()
    });
    let started = Instant::now();
    assert_clean(&pdf);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn total_decompression_budget_is_enforced() {
    // Four object streams of 10 MiB each: under the per-stream limit, over
    // the 32 MiB total.
    let mut padded = b"1 0 << /Type /Catalog >>".to_vec();
    padded.resize(10 << 20, b' ');
    let data = zlib(&padded);
    let mut w = PdfWriter::new();
    let cat = w.reserve();
    for _ in 0..4 {
        w.add_stream("/Type /ObjStm /N 1 /First 4 /Filter /FlateDecode", &data);
    }
    assert_unverifiable(&w.finish(cat, ""), "total decompressed size");
    // With smaller limits, a single stream trips the per-stream limit.
    let limits = Limits {
        max_stream_inflate: 1 << 20,
        max_total_inflate: 4 << 20,
        ..Limits::default()
    };
    let v = check_with_limits(
        &one_page(&PageSpec {
            object_streams: true,
            ..Default::default()
        }),
        &limits,
    );
    assert!(v.is_clean(), "small object streams still pass: {v:?}");
    let mut w = PdfWriter::new();
    let cat = w.reserve();
    w.add_stream("/Type /ObjStm /N 1 /First 4 /Filter /FlateDecode", &data);
    let v = check_with_limits(&w.finish(cat, ""), &limits);
    assert!(
        v.finding()
            .is_some_and(|f| f.detail.contains("more than 1048576")),
        "{v:?}"
    );
}

// ---- optional: real PDFs on this machine ------------------------------------

/// `ZT_TEST_REAL_PDFS=/some/dir` scans every `.pdf` below it and expects
/// each to pass (false-positive check against real-world files).
#[test]
fn real_pdfs_from_a_directory_pass() {
    let Ok(dir) = std::env::var("ZT_TEST_REAL_PDFS") else {
        eprintln!("real_pdfs_from_a_directory_pass: ZT_TEST_REAL_PDFS not set, skipped");
        return;
    };
    let mut stack = vec![std::path::PathBuf::from(dir)];
    let mut scanned = 0;
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
        } else if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("pdf")) {
            let bytes = std::fs::read(&p).unwrap();
            let v = check(&bytes);
            eprintln!("{}: {v:?}", p.display());
            assert!(v.is_clean(), "{}: {v:?}", p.display());
            scanned += 1;
        }
    }
    eprintln!("scanned {scanned} PDFs");
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
