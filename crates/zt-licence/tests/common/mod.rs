//! Helpers shared by the integration tests: sample data, the poppler tools, QR decoding and a
//! small PAdES signer (rcgen-made CA and signer certificates, CMS from the `cms` builder).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::path::Path;
use std::process::Command;

use chrono::NaiveDate;
use zt_licence::licence::{HolderKind, LicenceData, Validity};

pub fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// A licence with real Chinese data.
pub fn sample() -> LicenceData {
    LicenceData {
        item_name: "食品经营许可证".to_owned(),
        holder_kind: HolderKind::Organisation,
        holder: "江州市赣味餐饮管理有限公司".to_owned(),
        holder_id: "91360400MA35X8K27Q".to_owned(),
        licence_no: "JY13604000012345".to_owned(),
        validity: Validity::Period {
            from: date(2026, 11, 24),
            to: date(2031, 11, 23),
        },
        issuing_department: "江州市行政审批局".to_owned(),
        issue_date: date(2026, 11, 24),
        details: vec![
            ("法定代表人".to_owned(), "李建国".to_owned()),
            (
                "住所".to_owned(),
                "江西省江州市浔阳区庐山南路188号3栋101室".to_owned(),
            ),
            (
                "主体业态".to_owned(),
                "餐饮服务经营者（中型餐馆）".to_owned(),
            ),
            (
                "经营项目".to_owned(),
                "热食类食品制售；冷食类食品制售；糕点类食品制售（含裱花蛋糕）".to_owned(),
            ),
        ],
        verify_url: "https://zwfw.example.gov.cn/verify/JY13604000012345".to_owned(),
    }
}

/// A person's licence with a masked id and a long-term validity.
pub fn person_sample() -> LicenceData {
    LicenceData {
        item_name: "中华人民共和国残疾人证".to_owned(),
        holder_kind: HolderKind::Person,
        holder: "欧阳晓燕".to_owned(),
        holder_id: "360402********0028".to_owned(),
        licence_no: "36040219850615002842".to_owned(),
        validity: Validity::LongTerm,
        issuing_department: "江州市残疾人联合会".to_owned(),
        issue_date: date(2026, 3, 8),
        details: vec![("残疾类别".to_owned(), "肢体残疾 三级".to_owned())],
        verify_url: "https://zwfw.example.gov.cn/verify/36040219850615002842".to_owned(),
    }
}

/// Prints a loud skip line on the real stderr (the harness captures `eprintln!`).
pub fn skip(what: &str, why: &str) {
    let _ = writeln!(std::io::stderr(), "!!!!! SKIPPED {what}: {why}");
}

/// Is `tool` on the PATH?
pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool} >/dev/null 2>&1"))
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

pub fn pdftotext(pdf: &Path) -> String {
    let out = Command::new("pdftotext")
        .arg("-enc")
        .arg("UTF-8")
        .arg(pdf)
        .arg("-")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pdftotext: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Renders page 1 to an 8-bit greyscale image (`pdftoppm -gray`, PGM) and decodes every QR code
/// on it with rqrr.
pub fn decode_qr_codes(pdf: &Path, dpi: u32) -> Vec<String> {
    let out = Command::new("pdftoppm")
        .args(["-gray", "-r", &dpi.to_string(), "-f", "1", "-l", "1"])
        .arg(pdf)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pdftoppm: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (w, h, pixels) = parse_pgm(&out.stdout);
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| pixels[y * w + x]);
    img.detect_grids()
        .into_iter()
        .map(|g| g.decode().expect("QR decodes").1)
        .collect()
}

/// A binary PGM (P5, maxval 255).
fn parse_pgm(data: &[u8]) -> (usize, usize, Vec<u8>) {
    let mut fields = Vec::new();
    let mut i = 0;
    while fields.len() < 4 {
        while data[i].is_ascii_whitespace() {
            i += 1;
        }
        if data[i] == b'#' {
            while data[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let start = i;
        while !data[i].is_ascii_whitespace() {
            i += 1;
        }
        fields.push(String::from_utf8(data[start..i].to_vec()).unwrap());
    }
    i += 1; // the single whitespace after maxval
    assert_eq!(fields[0], "P5");
    assert_eq!(fields[3], "255");
    let w: usize = fields[1].parse().unwrap();
    let h: usize = fields[2].parse().unwrap();
    (w, h, data[i..i + w * h].to_vec())
}

/// pdfsig's report (stdout and stderr) and exit status; `nssdb` is a `sql:` NSS directory.
pub fn pdfsig(pdf: &Path, nssdb: Option<&Path>) -> (String, bool) {
    let mut cmd = Command::new("pdfsig");
    if let Some(db) = nssdb {
        cmd.arg("-nssdir").arg(format!("sql:{}", db.display()));
    }
    let out = cmd.arg(pdf).output().unwrap();
    (
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        out.status.success(),
    )
}

/// A fresh NSS database (in `dir`) trusting `ca_pem` for signing, as eseal.md §4.2 shows.
pub fn nss_db_trusting(dir: &Path, ca_pem: &str) -> std::path::PathBuf {
    let db = dir.join("nssdb");
    std::fs::create_dir_all(&db).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, ca_pem).unwrap();
    let ok = Command::new("certutil")
        .args(["-N", "--empty-password", "-d"])
        .arg(format!("sql:{}", db.display()))
        .status()
        .unwrap()
        .success();
    assert!(ok, "certutil -N");
    let ok = Command::new("certutil")
        .args(["-A", "-n", "test-ca", "-t", "C,C,C", "-i"])
        .arg(&ca)
        .arg("-d")
        .arg(format!("sql:{}", db.display()))
        .status()
        .unwrap()
        .success();
    assert!(ok, "certutil -A");
    db
}

pub mod signer;
