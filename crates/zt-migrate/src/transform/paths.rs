//! Attachment paths of `file_path` (README §11, D18).
//!
//! The paths are joined to the attachment root by the reader, so anything that
//! could leave that root or name the same file twice is refused here instead of
//! being cleaned up: a cleaned path might point at another case's file.

/// The path with `/` separators, relative to the attachment root.
pub fn normalise_v1_path(p: &str) -> Result<String, &'static str> {
    if p.is_empty() {
        return Err("empty");
    }
    if p.contains('\0') {
        return Err("nul");
    }
    // Before 2017-04-01 V1 ran on Windows and wrote `\`; both name the same
    // relative location.
    let path = p.replace('\\', "/");
    if path.starts_with('/') {
        return Err("absolute");
    }
    let b = path.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        return Err("drive_letter");
    }
    for component in path.split('/') {
        match component {
            "" => return Err("empty_component"),
            "." | ".." => return Err("dot_component"),
            _ => {}
        }
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_separators_give_the_same_path() {
        let want = "upload/2016/07/01/0123456789abcdef0123456789abcdef.pdf";
        assert_eq!(
            normalise_v1_path(r"upload\2016\07\01\0123456789abcdef0123456789abcdef.pdf").unwrap(),
            want
        );
        assert_eq!(normalise_v1_path(want).unwrap(), want);
        assert_eq!(
            normalise_v1_path(r"license\2017/03\31\4399000120170001.pdf").unwrap(),
            "license/2017/03/31/4399000120170001.pdf"
        );
        assert_eq!(normalise_v1_path("a").unwrap(), "a");
        assert_eq!(normalise_v1_path("a/...").unwrap(), "a/...");
        assert_eq!(normalise_v1_path("a/.b").unwrap(), "a/.b");
        assert_eq!(
            normalise_v1_path("upload/材料 1.pdf").unwrap(),
            "upload/材料 1.pdf"
        );
    }

    #[test]
    fn refusals() {
        let cases = [
            ("", "empty"),
            ("a\0b", "nul"),
            ("\0", "nul"),
            ("/upload/a.pdf", "absolute"),
            (r"\upload\a.pdf", "absolute"),
            (r"\\server\share\a.pdf", "absolute"),
            ("C:/upload/a.pdf", "drive_letter"),
            (r"c:\upload\a.pdf", "drive_letter"),
            ("D:a.pdf", "drive_letter"),
            ("a//b", "empty_component"),
            (r"a\\b", "empty_component"),
            ("upload/", "empty_component"),
            ("./a", "dot_component"),
            ("a/./b", "dot_component"),
            ("../a", "dot_component"),
            (r"upload\..\..\etc\passwd", "dot_component"),
            ("a/..", "dot_component"),
        ];
        for (input, reason) in cases {
            assert_eq!(normalise_v1_path(input), Err(reason), "{input:?}");
        }
    }
}
