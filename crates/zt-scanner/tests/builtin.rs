//! Built-in checks on non-PDF content: EICAR, executables, benign formats.
#![allow(clippy::unwrap_used)] // the whole file is test code

mod common;

use std::io::Write;

use common::{eicar, noise};
use zt_scanner::builtin::{self, check};
use zt_scanner::{Verdict, UPLOAD_EXECUTABLE, UPLOAD_MALWARE};

fn code(v: &Verdict) -> Option<&'static str> {
    v.finding().map(|f| f.code)
}

fn assert_executable(bytes: &[u8], detail_contains: &str) {
    let v = check(bytes);
    let f = v
        .finding()
        .unwrap_or_else(|| panic!("not rejected: {detail_contains}"));
    assert_eq!(f.code, UPLOAD_EXECUTABLE, "{f:?}");
    assert_eq!(f.message, "不能上传可执行程序文件。");
    assert!(f.detail.contains(detail_contains), "{f:?}");
}

#[test]
fn eicar_constant_is_the_standard_string() {
    assert_eq!(builtin::eicar(), eicar());
    assert_eq!(eicar().len(), 68);
}

#[test]
fn eicar_alone_is_malware() {
    let v = check(&eicar());
    let f = v.finding().expect("EICAR must be rejected");
    assert_eq!(f.code, UPLOAD_MALWARE);
    assert_eq!(
        f.message,
        "文件未通过安全检查（检测到恶意代码），请检查后重新上传。"
    );
    assert!(f.detail.contains("EICAR"), "{f:?}");
    assert!(f.detail.contains("byte 0"), "{f:?}");
}

#[test]
fn eicar_with_trailing_newline_is_malware() {
    let mut bytes = eicar();
    bytes.extend_from_slice(b"\r\n");
    assert_eq!(code(&check(&bytes)), Some(UPLOAD_MALWARE));
}

#[test]
fn eicar_in_the_middle_of_other_bytes_is_malware() {
    let mut bytes = noise(100_000, 7);
    let at = 54_321;
    let tail = bytes.split_off(at);
    bytes.extend_from_slice(&eicar());
    bytes.extend_from_slice(&tail);
    let v = check(&bytes);
    let f = v.finding().expect("embedded EICAR must be rejected");
    assert_eq!(f.code, UPLOAD_MALWARE);
    assert!(f.detail.contains(&format!("byte {at}")), "{f:?}");
}

#[test]
fn eicar_inside_a_jpeg_and_a_pdf_is_malware() {
    let mut jpeg = jpeg_like();
    jpeg.splice(100..100, eicar());
    assert_eq!(code(&check(&jpeg)), Some(UPLOAD_MALWARE));
    let mut pdf = common::one_page(&Default::default());
    pdf.splice(20..20, eicar());
    assert_eq!(code(&check(&pdf)), Some(UPLOAD_MALWARE));
}

#[test]
fn half_an_eicar_string_is_not_malware() {
    let e = eicar();
    assert!(check(&e[..40]).is_clean());
    assert!(check(&e[30..]).is_clean());
    let mut broken = e.clone();
    broken[50] = b'x';
    assert!(check(&broken).is_clean());
}

fn pe() -> Vec<u8> {
    let mut b = vec![0u8; 0x200];
    b[0..2].copy_from_slice(b"MZ");
    b[0x3C..0x40].copy_from_slice(&0x80u32.to_le_bytes());
    b[0x4E..0x4E + 39].copy_from_slice(b"This program cannot be run in DOS mode.");
    b[0x80..0x84].copy_from_slice(b"PE\0\0");
    b[0x84..0x86].copy_from_slice(&0x8664u16.to_le_bytes()); // AMD64
    b
}

#[test]
fn pe_executable_is_rejected() {
    assert_executable(&pe(), "PE header at 0x80");
}

#[test]
fn mz_without_pe_header_is_rejected() {
    let mut b = pe();
    b[0x80..0x84].copy_from_slice(b"XX\0\0");
    assert_executable(&b, "MZ executable");
    // e_lfanew beyond the end of the file, or a tiny DOS program.
    let mut b = pe();
    b[0x3C..0x40].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_executable(&b, "MZ executable");
    assert_executable(b"MZ\x90\x00", "MZ executable");
}

#[test]
fn elf_is_rejected() {
    let mut b = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x3e\0".to_vec();
    b.extend_from_slice(&noise(500, 3));
    assert_executable(&b, "ELF");
}

#[test]
fn mach_o_variants_are_rejected() {
    // 64-bit little-endian (x86_64/arm64 as written on disk).
    let mut b = vec![0xCF, 0xFA, 0xED, 0xFE, 0x07, 0, 0, 0x01];
    b.extend_from_slice(&noise(200, 5));
    assert_executable(&b, "Mach-O executable (64-bit, little-endian)");
    assert_executable(
        &[0xCE, 0xFA, 0xED, 0xFE, 7, 0, 0, 0],
        "32-bit, little-endian",
    );
    assert_executable(&[0xFE, 0xED, 0xFA, 0xCE, 0, 0, 0, 18], "32-bit, big-endian");
    assert_executable(&[0xFE, 0xED, 0xFA, 0xCF, 1, 0, 0, 7], "64-bit, big-endian");
    // Universal binary with 2 architectures.
    let mut fat = vec![0xCA, 0xFE, 0xBA, 0xBE, 0, 0, 0, 2];
    fat.extend_from_slice(&noise(100, 9));
    assert_executable(&fat, "Mach-O universal (fat) binary");
    assert_executable(&[0xCA, 0xFE, 0xBA, 0xBF, 0, 0, 0, 2], "fat, 64-bit");
}

#[test]
fn java_class_file_is_rejected_as_executable() {
    // CAFEBABE, minor 0, major 52 (Java 8).
    let mut b = vec![0xCA, 0xFE, 0xBA, 0xBE, 0, 0, 0, 52];
    b.extend_from_slice(&noise(300, 11));
    assert_executable(&b, "Java class file");
}

#[test]
fn shebang_scripts_are_rejected() {
    assert_executable(b"#!/bin/sh\nrm -rf /\n", "#!/bin/sh");
    assert_executable(b"#!/usr/bin/env python3\nprint(1)\n", "python3");
    assert_executable(b"\xEF\xBB\xBF#!/bin/bash\necho\n", "#!/bin/bash");
}

#[test]
fn windows_shortcut_is_rejected() {
    let mut b = vec![
        0x4C, 0, 0, 0, 0x01, 0x14, 0x02, 0, 0, 0, 0, 0, 0xC0, 0, 0, 0, 0, 0, 0, 0x46,
    ];
    b.extend_from_slice(&noise(60, 13));
    assert_executable(&b, ".lnk");
}

fn jpeg_like() -> Vec<u8> {
    let mut b = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
    b.extend_from_slice(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
    b.extend_from_slice(&[0xFF, 0xDB, 0x00, 0x43, 0x00]);
    b.extend_from_slice(&noise(64, 1));
    b.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x08]);
    b.extend_from_slice(&noise(200_000, 2));
    b.extend_from_slice(&[0xFF, 0xD9]);
    b
}

fn png_like() -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
    let chunk = |b: &mut Vec<u8>, kind: &[u8], data: &[u8]| {
        b.extend_from_slice(&(data.len() as u32).to_be_bytes());
        b.extend_from_slice(kind);
        b.extend_from_slice(data);
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        b.extend_from_slice(&crc.sum().to_be_bytes());
    };
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&1000u32.to_be_bytes());
    ihdr.extend_from_slice(&1400u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut b, b"IHDR", &ihdr);
    chunk(&mut b, b"IDAT", &common::zlib(&noise(300_000, 4)));
    chunk(&mut b, b"IEND", b"");
    b
}

/// A ZIP like a `.docx` (deflated XML parts).
fn docx_like() -> Vec<u8> {
    let parts: [(&str, &[u8]); 3] = [
        (
            "[Content_Types].xml",
            br#"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>"#,
        ),
        ("_rels/.rels", br#"<?xml version="1.0"?><Relationships/>"#),
        (
            "word/document.xml",
            "<w:document><w:body><w:p><w:t>申请书：本人申请办理营业执照。JavaScript /JS MZ #!</w:t></w:p></w:body></w:document>"
                .as_bytes(),
        ),
    ];
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in parts {
        let mut enc =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(data).unwrap();
        let packed = enc.finish().unwrap();
        let mut crc = flate2::Crc::new();
        crc.update(data);
        let offset = out.len() as u32;
        let fixed = |sig: &[u8], v: &mut Vec<u8>| {
            v.extend_from_slice(sig);
            v.extend_from_slice(&20u16.to_le_bytes()); // version
            v.extend_from_slice(&0u16.to_le_bytes()); // flags
            v.extend_from_slice(&8u16.to_le_bytes()); // deflate
            v.extend_from_slice(&[0, 0, 0x21, 0x58]); // time, date
            v.extend_from_slice(&crc.sum().to_le_bytes());
            v.extend_from_slice(&(packed.len() as u32).to_le_bytes());
            v.extend_from_slice(&(data.len() as u32).to_le_bytes());
            v.extend_from_slice(&(name.len() as u16).to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes()); // extra
        };
        fixed(b"PK\x03\x04", &mut out);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&packed);
        central.extend_from_slice(b"PK\x01\x02");
        central.extend_from_slice(&20u16.to_le_bytes()); // made by
        let mut rest = Vec::new();
        fixed(b"", &mut rest);
        central.extend_from_slice(&rest);
        central.extend_from_slice(&[0; 8]); // comment, disk, attrs
        central.extend_from_slice(&0u32.to_le_bytes()); // ext attrs
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let cd_at = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(b"PK\x05\x06\0\0\0\0");
    out.extend_from_slice(&3u16.to_le_bytes());
    out.extend_from_slice(&3u16.to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_at.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

#[test]
fn jpeg_passes() {
    assert_eq!(check(&jpeg_like()), Verdict::Clean);
}

#[test]
fn png_passes() {
    assert_eq!(check(&png_like()), Verdict::Clean);
}

#[test]
fn docx_like_zip_passes() {
    let zip = docx_like();
    assert!(zip.starts_with(b"PK\x03\x04"));
    assert_eq!(check(&zip), Verdict::Clean);
}

#[test]
fn plain_pdf_passes() {
    assert_eq!(
        check(&common::one_page(&Default::default())),
        Verdict::Clean
    );
}

#[test]
fn text_and_empty_files_pass() {
    assert!(check(b"").is_clean());
    assert!(check("申请人：张三\n身份证号：略\nMZ 是开头吗？不是。\n".as_bytes()).is_clean());
    assert!(check(b"# heading, not #!\n").is_clean());
    assert!(check(&noise(1 << 20, 99)).is_clean());
}
