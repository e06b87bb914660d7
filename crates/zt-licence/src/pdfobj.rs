//! Just enough of the PDF object syntax (ISO 32000-1 §7.3) to read a signature dictionary where
//! it stands in the file: direct objects, with the byte offsets of dictionary keys and of hex
//! strings kept, so that `/ByteRange` can be checked against the real position of `/Contents`.

/// A parsed direct object.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Obj {
    Null,
    Bool(bool),
    Int(i64),
    Real(f64),
    Name(Vec<u8>),
    /// A literal string, unescaped.
    Str(Vec<u8>),
    /// A hex string, decoded, with the offsets of its `<` and just after its `>`.
    Hex {
        bytes: Vec<u8>,
        start: usize,
        end: usize,
    },
    Array(Vec<Obj>),
    Dict(Dict),
    Ref(u32, u16),
}

/// A dictionary: entries in file order, each with the offset of its key's `/`.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Dict {
    pub entries: Vec<(Vec<u8>, usize, Obj)>,
}

impl Dict {
    pub(crate) fn get(&self, key: &[u8]) -> Option<&Obj> {
        self.entries
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, _, v)| v)
    }

    /// Counts entries with this key (a repeated key is a malformed dictionary).
    pub(crate) fn count(&self, key: &[u8]) -> usize {
        self.entries.iter().filter(|(k, _, _)| k == key).count()
    }
}

const MAX_DEPTH: usize = 32;

fn is_ws(b: u8) -> bool {
    matches!(b, 0 | b'\t' | b'\n' | 0x0c | b'\r' | b' ')
}

fn is_delim(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

pub(crate) struct Parser<'a> {
    data: &'a [u8],
    pub pos: usize,
}

type PResult<T> = Result<T, String>;

impl<'a> Parser<'a> {
    pub(crate) fn new(data: &'a [u8], pos: usize) -> Self {
        Self { data, pos }
    }

    fn peek(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    fn starts_with(&self, s: &[u8]) -> bool {
        self.data
            .get(self.pos..)
            .is_some_and(|rest| rest.starts_with(s))
    }

    pub(crate) fn skip_ws(&mut self) {
        while let Some(b) = self.peek() {
            if is_ws(b) {
                self.pos += 1;
            } else if b == b'%' {
                while let Some(c) = self.peek() {
                    if c == b'\n' || c == b'\r' {
                        break;
                    }
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    /// Parses one direct object (an `N G R` reference counts as one).
    pub(crate) fn object(&mut self, depth: usize) -> PResult<Obj> {
        if depth > MAX_DEPTH {
            return Err("objects nested too deeply".into());
        }
        self.skip_ws();
        let at = self.pos;
        let Some(b) = self.peek() else {
            return Err("unexpected end of file in an object".into());
        };
        match b {
            b'<' if self.starts_with(b"<<") => self.dict(depth).map(Obj::Dict),
            b'<' => self.hex(),
            b'(' => self.literal(),
            b'[' => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_ws();
                    match self.peek() {
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(Obj::Array(items));
                        }
                        Some(_) => items.push(self.object(depth + 1)?),
                        None => return Err("unterminated array".into()),
                    }
                }
            }
            b'/' => self.name().map(Obj::Name),
            b'+' | b'-' | b'.' | b'0'..=b'9' => self.number(),
            _ => {
                let word = self.word();
                match word.as_slice() {
                    b"true" => Ok(Obj::Bool(true)),
                    b"false" => Ok(Obj::Bool(false)),
                    b"null" => Ok(Obj::Null),
                    _ => Err(format!("unexpected token at offset {at}")),
                }
            }
        }
    }

    fn word(&mut self) -> Vec<u8> {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if is_ws(b) || is_delim(b) {
                break;
            }
            self.pos += 1;
        }
        self.data[start..self.pos].to_vec()
    }

    /// Skips whitespace and reads a bare keyword such as `obj`, `stream`, `xref`, `trailer`
    /// (empty if a delimiter or the end of the data comes first).
    #[cfg(feature = "local-seal")]
    pub(crate) fn keyword(&mut self) -> Vec<u8> {
        self.skip_ws();
        self.word()
    }

    pub(crate) fn dict(&mut self, depth: usize) -> PResult<Dict> {
        if !self.starts_with(b"<<") {
            return Err(format!("expected a dictionary at offset {}", self.pos));
        }
        self.pos += 2;
        let mut dict = Dict::default();
        loop {
            self.skip_ws();
            if self.starts_with(b">>") {
                self.pos += 2;
                return Ok(dict);
            }
            let key_at = self.pos;
            if self.peek() != Some(b'/') {
                return Err(format!("expected a name key at offset {key_at}"));
            }
            let key = self.name()?;
            let value = self.object(depth + 1)?;
            dict.entries.push((key, key_at, value));
        }
    }

    fn name(&mut self) -> PResult<Vec<u8>> {
        self.pos += 1; // '/'
        let raw = self.word();
        let mut out = Vec::with_capacity(raw.len());
        let mut i = 0;
        while i < raw.len() {
            if raw[i] == b'#' {
                let hi = raw.get(i + 1).and_then(|&c| hex_val(c));
                let lo = raw.get(i + 2).and_then(|&c| hex_val(c));
                if let (Some(hi), Some(lo)) = (hi, lo) {
                    out.push(hi << 4 | lo);
                    i += 3;
                    continue;
                }
            }
            out.push(raw[i]);
            i += 1;
        }
        Ok(out)
    }

    fn number(&mut self) -> PResult<Obj> {
        let at = self.pos;
        let word = self.word();
        let text = std::str::from_utf8(&word).map_err(|_| format!("bad number at {at}"))?;
        if !text.contains('.') {
            let n: i64 = text
                .parse()
                .map_err(|_| format!("bad number at offset {at}"))?;
            // `N G R` is a reference.
            if n >= 0 {
                let save = self.pos;
                self.skip_ws();
                if matches!(self.peek(), Some(b'0'..=b'9')) {
                    let gen_word = self.word();
                    self.skip_ws();
                    if self.peek() == Some(b'R')
                        && self
                            .data
                            .get(self.pos + 1)
                            .is_none_or(|&b| is_ws(b) || is_delim(b))
                    {
                        if let (Ok(num), Some(gen)) = (
                            u32::try_from(n),
                            std::str::from_utf8(&gen_word)
                                .ok()
                                .and_then(|g| g.parse::<u16>().ok()),
                        ) {
                            self.pos += 1;
                            return Ok(Obj::Ref(num, gen));
                        }
                    }
                }
                self.pos = save;
            }
            return Ok(Obj::Int(n));
        }
        text.parse::<f64>()
            .map(Obj::Real)
            .map_err(|_| format!("bad number at offset {at}"))
    }

    fn hex(&mut self) -> PResult<Obj> {
        let start = self.pos;
        self.pos += 1;
        let mut bytes = Vec::new();
        let mut high: Option<u8> = None;
        loop {
            let Some(b) = self.peek() else {
                return Err("unterminated hex string".into());
            };
            self.pos += 1;
            if b == b'>' {
                break;
            }
            if is_ws(b) {
                continue;
            }
            let v =
                hex_val(b).ok_or_else(|| format!("bad hex digit at offset {}", self.pos - 1))?;
            match high.take() {
                Some(h) => bytes.push(h << 4 | v),
                None => high = Some(v),
            }
        }
        if let Some(h) = high {
            bytes.push(h << 4);
        }
        Ok(Obj::Hex {
            bytes,
            start,
            end: self.pos,
        })
    }

    fn literal(&mut self) -> PResult<Obj> {
        self.pos += 1;
        let mut out = Vec::new();
        let mut depth = 0usize;
        loop {
            let Some(b) = self.peek() else {
                return Err("unterminated string".into());
            };
            self.pos += 1;
            match b {
                b'(' => {
                    depth += 1;
                    out.push(b);
                }
                b')' => {
                    if depth == 0 {
                        return Ok(Obj::Str(out));
                    }
                    depth -= 1;
                    out.push(b);
                }
                b'\\' => {
                    let Some(e) = self.peek() else {
                        return Err("unterminated string".into());
                    };
                    self.pos += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'\r' => {
                            if self.peek() == Some(b'\n') {
                                self.pos += 1;
                            }
                        }
                        b'\n' => {}
                        b'0'..=b'7' => {
                            let mut v = u32::from(e - b'0');
                            for _ in 0..2 {
                                match self.peek() {
                                    Some(d @ b'0'..=b'7') => {
                                        v = v * 8 + u32::from(d - b'0');
                                        self.pos += 1;
                                    }
                                    _ => break,
                                }
                            }
                            out.push((v & 0xff) as u8);
                        }
                        other => out.push(other),
                    }
                }
                b'\r' => {
                    // An end-of-line in a string is a single line feed.
                    if self.peek() == Some(b'\n') {
                        self.pos += 1;
                    }
                    out.push(b'\n');
                }
                _ => out.push(b),
            }
        }
    }
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Finds, going back from `pos`, the `N G obj` header of the indirect object that `pos` lies in,
/// and returns the offset just after `obj`.
pub(crate) fn object_start_before(data: &[u8], pos: usize) -> Option<usize> {
    let mut i = pos.min(data.len());
    while i >= 3 {
        i -= 1;
        if i + 3 > data.len() || &data[i..i + 3] != b"obj" {
            continue;
        }
        let after = i + 3;
        if data.get(after).is_some_and(|&b| !is_ws(b) && !is_delim(b)) {
            continue;
        }
        // Expect: digits ws digits ws "obj".
        let mut j = i;
        let mut groups = 0;
        while groups < 2 {
            let ws_end = j;
            while j > 0 && is_ws(data[j - 1]) {
                j -= 1;
            }
            if j == ws_end {
                break;
            }
            let digits_end = j;
            while j > 0 && data[j - 1].is_ascii_digit() {
                j -= 1;
            }
            if j == digits_end {
                break;
            }
            groups += 1;
        }
        if groups == 2 && (j == 0 || is_ws(data[j - 1]) || is_delim(data[j - 1])) {
            return Some(after);
        }
    }
    None
}

/// Decodes a PDF text string: UTF-16BE with a byte-order mark, UTF-8 with one (PDF 2.0), else
/// PDFDocEncoding, read here as Latin-1 (they agree on the printable ASCII range).
pub(crate) fn text_string(bytes: &[u8]) -> String {
    if let Some(rest) = bytes.strip_prefix(&[0xfe, 0xff]) {
        let units: Vec<u16> = rest
            .chunks(2)
            .map(|c| u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)]))
            .collect();
        return String::from_utf16_lossy(&units);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xef, 0xbb, 0xbf]) {
        return String::from_utf8_lossy(rest).into_owned();
    }
    bytes.iter().map(|&b| char::from(b)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_signature_dictionary() {
        let src = b"12 0 obj\n<< /Type /Sig /Filter /Adobe.PPKLite /Contents <3082 00>\n/ByteRange [0 10 20 30] /Reason (a\\(b\\)\\101) /Name <FEFF738B> /V 3 0 R /Int -5 /R 1.5 >>\nendobj";
        let start = object_start_before(src, 40).unwrap();
        assert_eq!(start, 8);
        let mut p = Parser::new(src, start);
        p.skip_ws();
        let d = p.dict(0).unwrap();
        assert_eq!(d.get(b"Type"), Some(&Obj::Name(b"Sig".to_vec())));
        match d.get(b"Contents") {
            Some(Obj::Hex { bytes, start, end }) => {
                assert_eq!(bytes, &[0x30, 0x82, 0x00]);
                assert_eq!(&src[*start..*end], b"<3082 00>");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            d.get(b"ByteRange"),
            Some(&Obj::Array(vec![
                Obj::Int(0),
                Obj::Int(10),
                Obj::Int(20),
                Obj::Int(30)
            ]))
        );
        assert_eq!(d.get(b"Reason"), Some(&Obj::Str(b"a(b)A".to_vec())));
        match d.get(b"Name") {
            Some(Obj::Hex { bytes, .. }) => assert_eq!(text_string(bytes), "王"),
            other => panic!("{other:?}"),
        }
        assert_eq!(d.get(b"V"), Some(&Obj::Ref(3, 0)));
        assert_eq!(d.get(b"Int"), Some(&Obj::Int(-5)));
        assert_eq!(d.get(b"R"), Some(&Obj::Real(1.5)));
    }

    #[test]
    fn endobj_is_not_an_object_header() {
        let src = b"1 0 obj\n<<>>\nendobj\n<< /X 1 >>";
        assert_eq!(object_start_before(src, src.len()), Some(7));
        assert_eq!(object_start_before(b"<< /X 1 >>", 5), None);
    }

    #[test]
    fn rejects_garbage_and_deep_nesting() {
        assert!(Parser::new(b"<< /A <zz> >>", 0).object(0).is_err());
        assert!(Parser::new(b"<< /A (open", 0).object(0).is_err());
        let deep = "[".repeat(100);
        assert!(Parser::new(deep.as_bytes(), 0).object(0).is_err());
        assert!(Parser::new(b"<< A 1 >>", 0).object(0).is_err());
    }
}
