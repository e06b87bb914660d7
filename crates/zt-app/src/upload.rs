//! Checks on uploaded files: the type is decided by the content (magic bytes),
//! never by the name or the declared type, and the name is kept for display
//! only.

/// The accepted kinds of material files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Pdf,
    Jpeg,
    Png,
    /// OFD (GB/T 33190), a ZIP package with `OFD.xml` at its root.
    Ofd,
}

impl FileKind {
    pub fn mime(self) -> &'static str {
        match self {
            Self::Pdf => "application/pdf",
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Ofd => "application/ofd",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Pdf => "pdf",
            Self::Jpeg => "jpg",
            Self::Png => "png",
            Self::Ofd => "ofd",
        }
    }
}

/// Decides a file's kind from its first bytes.
pub fn sniff(data: &[u8]) -> Option<FileKind> {
    if data.starts_with(b"%PDF-") {
        Some(FileKind::Pdf)
    } else if data.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(FileKind::Jpeg)
    } else if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(FileKind::Png)
    } else if data.starts_with(b"PK\x03\x04") && is_ofd(data) {
        Some(FileKind::Ofd)
    } else {
        None
    }
}

/// The first local file header of an OFD package names `OFD.xml`.
fn is_ofd(data: &[u8]) -> bool {
    if data.len() < 30 {
        return false;
    }
    let name_len = usize::from(u16::from_le_bytes([data[26], data[27]]));
    data.get(30..30 + name_len)
        .is_some_and(|n| n.eq_ignore_ascii_case(b"OFD.xml"))
}

pub const MAX_FILE_NAME_CHARS: usize = 120;

/// A display name for an uploaded file: the last path component, without
/// control characters, at most 120 characters. Never used as a path.
pub fn display_name(raw: &str, kind: FileKind) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last.chars().filter(|c| !c.is_control()).collect();
    let cleaned = cleaned.trim().trim_start_matches('.').to_string();
    let mut name: String = cleaned.chars().take(MAX_FILE_NAME_CHARS).collect();
    if name.is_empty() {
        name = format!("材料.{}", kind.extension());
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing() {
        assert_eq!(sniff(b"%PDF-1.7\n..."), Some(FileKind::Pdf));
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some(FileKind::Jpeg));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Some(FileKind::Png));
        assert_eq!(sniff(b"MZ\x90\x00"), None);
        assert_eq!(sniff(b"<html><script>"), None);
        assert_eq!(sniff(b""), None);
        let mut ofd = b"PK\x03\x04".to_vec();
        ofd.extend_from_slice(&[0; 22]);
        ofd.extend_from_slice(&7u16.to_le_bytes());
        ofd.extend_from_slice(&[0, 0]);
        ofd.extend_from_slice(b"OFD.xml");
        assert_eq!(sniff(&ofd), Some(FileKind::Ofd));
    }

    #[test]
    fn names_are_never_paths() {
        assert_eq!(display_name("../../etc/passwd", FileKind::Pdf), "passwd");
        assert_eq!(
            display_name("C:\\Users\\张三\\营业执照.pdf", FileKind::Pdf),
            "营业执照.pdf"
        );
        assert_eq!(display_name("..", FileKind::Png), "材料.png");
        assert_eq!(display_name("a\u{0}b\nc.pdf", FileKind::Pdf), "abc.pdf");
        assert_eq!(
            display_name(&"长".repeat(300), FileKind::Pdf)
                .chars()
                .count(),
            MAX_FILE_NAME_CHARS
        );
    }
}
