//! PDF active-content detection. The policy and its false-positive choices
//! are documented on [`crate::builtin`].

use std::borrow::Cow;
use std::io::Read;

use crate::builtin::{self, find, Limits};
use crate::Finding;

/// Names whose presence (after normalisation) refuses the PDF.
const ACTIVE_NAMES: &[(&[u8], &str)] = &[
    (b"JavaScript", "JavaScript"),
    (b"JS", "JavaScript code"),
    (b"Launch", "launch action"),
    (b"RichMedia", "rich media (Flash)"),
];

/// How much of an embedded file is decoded for the magic/EICAR check.
const EMBEDDED_PREFIX: usize = 1024 * 1024;
/// Total decoded bytes of embedded-file prefixes per PDF.
const EMBEDDED_TOTAL: usize = 32 * 1024 * 1024;
/// Nesting limit when reading a stream dictionary.
const MAX_VALUE_DEPTH: usize = 32;

/// `None` when no active content was found.
pub(crate) fn check(data: &[u8], limits: &Limits) -> Option<Finding> {
    // A cheap hint: encrypted object streams decode to garbage, so they are
    // not decoded at all when the file may be encrypted.
    let hinted = find(data, b"/Encrypt").is_some();
    let mut scan = Scan::new(limits, hinted);
    if let Err(finding) = scan.lex(data, Loc::top(), 0) {
        return Some(finding);
    }
    if hinted && !scan.encrypted && scan.objstm_count > 0 {
        // "/Encrypt" was only text in a string: inspect the object streams.
        scan = Scan::new(limits, false);
        if let Err(finding) = scan.lex(data, Loc::top(), 0) {
            return Some(finding);
        }
    }
    if scan.encrypted && scan.objstm_count > 0 {
        return Some(Finding::pdf_unverifiable(
            format!(
                "encrypted PDF with {} object stream(s): cannot be inspected without decryption",
                scan.objstm_count
            ),
            true,
        ));
    }
    scan.unverifiable
        .map(|detail| Finding::pdf_unverifiable(detail, scan.encrypted))
}

/// Where a byte is, for audit details.
#[derive(Debug, Clone, Copy)]
struct Loc {
    /// Offset of `data[0]` within the decoded object stream (or the file).
    base: usize,
    /// File offset of the object stream's data, when inside one.
    objstm: Option<usize>,
}

impl Loc {
    fn top() -> Self {
        Self {
            base: 0,
            objstm: None,
        }
    }

    fn describe(self, offset: usize) -> String {
        match self.objstm {
            None => format!("byte {}", self.base + offset),
            Some(s) => format!(
                "decoded byte {} of the object stream at byte {s}",
                self.base + offset
            ),
        }
    }

    fn shifted(self, by: usize) -> Self {
        Self {
            base: self.base + by,
            objstm: self.objstm,
        }
    }
}

struct Scan<'l> {
    limits: &'l Limits,
    /// Decompressed bytes of object streams so far.
    inflated: usize,
    /// Decoded bytes of embedded-file prefixes so far.
    embedded_inflated: usize,
    /// Count object streams without decoding them (maybe encrypted).
    skip_objstm: bool,
    /// An `/Encrypt` name was seen.
    encrypted: bool,
    objstm_count: usize,
    /// The first reason an object stream could not be inspected.
    unverifiable: Option<String>,
}

impl<'l> Scan<'l> {
    fn new(limits: &'l Limits, skip_objstm: bool) -> Self {
        Self {
            limits,
            inflated: 0,
            embedded_inflated: 0,
            skip_objstm,
            encrypted: false,
            objstm_count: 0,
            unverifiable: None,
        }
    }

    /// Tokenises `data`; `Err` is the first active content found.
    fn lex(&mut self, data: &[u8], loc: Loc, depth: usize) -> Result<(), Finding> {
        let mut lx = Lexer { data, pos: 0 };
        // Start offsets of the dictionaries open at this point.
        let mut open_dicts: Vec<usize> = Vec::new();
        // The dictionary that ended just before the current token.
        let mut last_dict: Option<(usize, usize)> = None;
        // End of the previous stream: backward searches stop there, which
        // keeps the whole scan linear.
        let mut floor = 0usize;
        while let Some(t) = lx.next() {
            match t.kind {
                Kind::Comment => {
                    self.guard(&data[t.inner.0..t.inner.1], loc.shifted(t.inner.0), depth)?;
                }
                Kind::Literal | Kind::Hex => {
                    self.guard(&data[t.inner.0..t.inner.1], loc.shifted(t.inner.0), depth)?;
                    last_dict = None;
                }
                Kind::DictOpen => {
                    open_dicts.push(t.start);
                    last_dict = None;
                }
                Kind::DictClose => last_dict = open_dicts.pop().map(|s| (s, t.end)),
                Kind::Name => {
                    self.name(&data[t.inner.0..t.inner.1], loc, t.start)?;
                    last_dict = None;
                }
                Kind::Word if &data[t.start..t.end] == b"stream" => {
                    // Streams are top-level objects: whatever is still open
                    // is malformed and forgotten here.
                    open_dicts.clear();
                    let dict = last_dict
                        .take()
                        .or_else(|| dict_before(data, t.start, floor))
                        .map(|(a, b)| StreamDict::parse(&data[a..b]))
                        .unwrap_or_default();
                    let (start, end, resume) = stream_bounds(data, t.end, dict.length);
                    self.stream(&data[start..end], &dict, loc.shifted(start), depth)?;
                    lx.pos = resume;
                    floor = resume;
                }
                Kind::Word | Kind::ArrOpen | Kind::ArrClose | Kind::Stray => last_dict = None,
            }
        }
        Ok(())
    }

    /// Checks one name token (`raw` without the slash).
    fn name(&mut self, raw: &[u8], loc: Loc, offset: usize) -> Result<(), Finding> {
        let norm = normalize_name(raw);
        if norm.eq_ignore_ascii_case(b"Encrypt") {
            self.encrypted = true;
        }
        for (bad, what) in ACTIVE_NAMES {
            if norm.eq_ignore_ascii_case(bad) {
                let written = if norm.as_ref() == raw {
                    String::new()
                } else {
                    format!(" (written /{})", printable(raw))
                };
                return Err(Finding::pdf_active_content(format!(
                    "PDF {what}: name /{}{written} at {}",
                    printable(&norm),
                    loc.describe(offset)
                )));
            }
        }
        Ok(())
    }

    /// A region the tokeniser skipped (comment, string, stream body): if it
    /// holds object syntax a reader could parse, search it for names without
    /// regard to strings, and tokenise it as PDF too (so that streams inside
    /// it are found).
    fn guard(&mut self, region: &[u8], loc: Loc, depth: usize) -> Result<(), Finding> {
        if !contains_object_syntax(region) {
            return Ok(());
        }
        let mut i = 0;
        while let Some(p) = region[i..].iter().position(|&b| b == b'/') {
            let start = i + p + 1;
            let end = regular_end(region, start);
            self.name(&region[start..end], loc, start - 1)?;
            i = end;
        }
        if depth < self.limits.max_depth {
            self.lex(region, loc, depth + 1)?;
        }
        Ok(())
    }

    fn unverifiable(&mut self, detail: String) {
        tracing::debug!(%detail, "PDF object stream cannot be inspected");
        self.unverifiable.get_or_insert(detail);
    }

    fn stream(
        &mut self,
        raw: &[u8],
        dict: &StreamDict,
        loc: Loc,
        depth: usize,
    ) -> Result<(), Finding> {
        let here = loc.describe(0);
        if dict.objstm {
            self.objstm_count += 1;
            if self.skip_objstm {
                return Ok(());
            }
            if depth >= self.limits.max_depth {
                self.unverifiable(format!(
                    "object stream at {here} nested deeper than {}",
                    self.limits.max_depth
                ));
                return Ok(());
            }
            match self.decode_objstm(raw, dict) {
                Ok(decoded) => {
                    let inner = Loc {
                        base: 0,
                        objstm: Some(loc.base),
                    };
                    self.objstm(&decoded, dict.first, inner, depth + 1)?;
                }
                Err(reason) => self.unverifiable(format!("object stream at {here}: {reason}")),
            }
            Ok(())
        } else if dict.embedded_file {
            self.embedded(raw, dict, &here)?;
            self.guard(raw, loc, depth)
        } else {
            // Page content, fonts, images: not decoded. Their raw bytes are
            // guarded like any skipped region: a reader that follows an xref
            // offset into them would parse objects there.
            self.guard(raw, loc, depth)
        }
    }

    /// Decodes an object stream within the budget.
    fn decode_objstm<'d>(
        &mut self,
        raw: &'d [u8],
        dict: &StreamDict,
    ) -> Result<Cow<'d, [u8]>, String> {
        let filters = dict
            .filters
            .as_ref()
            .map_err(|()| "unreadable /Filter".to_string())?;
        if !dict.params_ok {
            return Err("/DecodeParms with a predictor or unreadable".to_string());
        }
        let mut cur = Cow::Borrowed(raw);
        for f in filters {
            if !is_flate(f) {
                return Err(format!("unsupported filter /{}", printable(f)));
            }
            let remaining = self.limits.max_total_inflate.saturating_sub(self.inflated);
            let limit = self.limits.max_stream_inflate.min(remaining);
            let out = inflate(&cur, limit)?;
            self.inflated += out.data.len();
            if out.truncated {
                return Err(if limit < self.limits.max_stream_inflate {
                    format!(
                        "total decompressed size of object streams exceeds {} bytes",
                        self.limits.max_total_inflate
                    )
                } else {
                    format!(
                        "decompresses to more than {} bytes (deflate bomb?)",
                        self.limits.max_stream_inflate
                    )
                });
            }
            cur = Cow::Owned(out.data);
        }
        Ok(cur)
    }

    /// Tokenises a decoded object stream as a whole and object by object.
    fn objstm(
        &mut self,
        data: &[u8],
        first: Option<usize>,
        loc: Loc,
        depth: usize,
    ) -> Result<(), Finding> {
        self.lex(data, loc, depth)?;
        let Some(first) = first.filter(|&f| f <= data.len()) else {
            return Ok(());
        };
        let header = &data[..first];
        let numbers: Vec<usize> = Lexer {
            data: header,
            pos: 0,
        }
        .take_while(|t| t.kind == Kind::Word)
        .map_while(|t| parse_usize(&header[t.start..t.end]))
        .collect();
        let mut starts: Vec<usize> = numbers
            .chunks_exact(2)
            .filter_map(|pair| first.checked_add(pair[1]))
            .filter(|&s| s < data.len())
            .collect();
        starts.sort_unstable();
        starts.dedup();
        for (i, &s) in starts.iter().enumerate() {
            let e = starts.get(i + 1).copied().unwrap_or(data.len());
            self.lex(&data[s..e], loc.shifted(s), depth)?;
        }
        Ok(())
    }

    /// Checks the first bytes of an embedded file for EICAR and executables.
    fn embedded(&mut self, raw: &[u8], dict: &StreamDict, here: &str) -> Result<(), Finding> {
        let prefix: Cow<[u8]> = match dict.filters.as_deref() {
            Ok([]) => Cow::Borrowed(&raw[..raw.len().min(EMBEDDED_PREFIX)]),
            Ok([f]) if is_flate(f) && dict.params_ok && self.embedded_inflated < EMBEDDED_TOTAL => {
                match inflate(raw, EMBEDDED_PREFIX) {
                    Ok(out) => {
                        self.embedded_inflated += out.data.len();
                        Cow::Owned(out.data)
                    }
                    Err(reason) => {
                        tracing::debug!(%here, %reason, "embedded file not inspected");
                        return Ok(());
                    }
                }
            }
            _ => {
                tracing::debug!(%here, "embedded file with other filters not inspected");
                return Ok(());
            }
        };
        if let Some(off) = builtin::find_eicar(&prefix) {
            return Err(Finding::malware(format!(
                "EICAR-Test-File at byte {off} of the file embedded in the PDF at {here}"
            )));
        }
        if let Some(kind) = builtin::executable_kind(&prefix) {
            return Err(Finding::executable(format!(
                "{kind}, embedded in the PDF at {here}"
            )));
        }
        Ok(())
    }
}

fn is_flate(filter: &[u8]) -> bool {
    filter == b"FlateDecode" || filter == b"Fl"
}

struct Inflated {
    data: Vec<u8>,
    /// More output existed than the limit allowed.
    truncated: bool,
}

/// zlib (as PDF writes it), or clean raw deflate as some broken writers
/// produce; at most `limit` bytes of output. A corrupt zlib tail keeps what
/// was decoded before it, as readers do.
fn inflate(raw: &[u8], limit: usize) -> Result<Inflated, String> {
    fn run(reader: impl Read, limit: usize) -> (Vec<u8>, Option<std::io::Error>) {
        let mut out = Vec::new();
        let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
        let err = reader.take(cap).read_to_end(&mut out).err();
        (out, err)
    }
    let (mut out, err) = run(flate2::read::ZlibDecoder::new(raw), limit);
    if let (true, Some(zlib_err)) = (out.is_empty(), err) {
        // Not zlib: raw deflate, as some writers produce, but only when it
        // decodes without error (any bytes "decode" partially as deflate).
        let (raw_out, raw_err) = run(flate2::read::DeflateDecoder::new(raw), limit);
        if raw_err.is_some() || raw_out.is_empty() {
            return Err(format!("corrupt FlateDecode data ({zlib_err})"));
        }
        out = raw_out;
    }
    let truncated = out.len() > limit;
    out.truncate(limit);
    Ok(Inflated {
        data: out,
        truncated,
    })
}

/// What the scan needs from a stream dictionary.
#[derive(Debug)]
struct StreamDict {
    /// `/Type /ObjStm` or a `/First` key anywhere in the dictionary.
    objstm: bool,
    /// `/Type /EmbeddedFile` anywhere in the dictionary.
    embedded_file: bool,
    /// A direct `/Length`.
    length: Option<usize>,
    /// A direct `/First`.
    first: Option<usize>,
    /// Normalised filter names; `Err` when not a name or array of names.
    filters: Result<Vec<Vec<u8>>, ()>,
    /// `/DecodeParms` absent, or without a predictor.
    params_ok: bool,
}

/// A stream without a dictionary: no filter.
impl Default for StreamDict {
    fn default() -> Self {
        Self {
            objstm: false,
            embedded_file: false,
            length: None,
            first: None,
            filters: Ok(Vec::new()),
            params_ok: true,
        }
    }
}

impl StreamDict {
    fn parse(bytes: &[u8]) -> Self {
        let toks: Vec<Token> = Lexer {
            data: bytes,
            pos: 0,
        }
        .filter(|t| !matches!(t.kind, Kind::Comment))
        .collect();
        // Flat view: robust against nesting tricks.
        let mut objstm = false;
        let mut embedded_file = false;
        for t in toks.iter().filter(|t| t.kind == Kind::Name) {
            let n = normalize_name(&bytes[t.inner.0..t.inner.1]);
            objstm |= n.as_ref() == b"ObjStm" || n.as_ref() == b"First";
            embedded_file |= n.as_ref() == b"EmbeddedFile";
        }
        let mut dict = StreamDict {
            objstm,
            embedded_file,
            ..Self::default()
        };
        let mut i = 0;
        let Some(Value::Dict(entries)) = parse_value(bytes, &toks, &mut i, 0) else {
            dict.filters = Err(());
            dict.params_ok = false;
            return dict;
        };
        for (key, value) in entries {
            match (key.as_slice(), value) {
                (b"Length", Value::Int(n)) => dict.length = usize::try_from(n).ok(),
                (b"First", Value::Int(n)) => dict.first = usize::try_from(n).ok(),
                (b"Filter", Value::Name(n)) => dict.filters = Ok(vec![n]),
                (b"Filter", Value::Array(items)) => {
                    dict.filters = items
                        .into_iter()
                        .map(|v| match v {
                            Value::Name(n) => Ok(n),
                            _ => Err(()),
                        })
                        .collect();
                }
                (b"Filter", Value::Null) => {}
                (b"Filter", _) => dict.filters = Err(()),
                (b"DecodeParms" | b"DP", v) => dict.params_ok = params_ok(&v),
                _ => {}
            }
        }
        dict
    }
}

/// `/DecodeParms` without a `/Predictor` above 1.
fn params_ok(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Dict(entries) => entries.iter().all(|(k, v)| match (k.as_slice(), v) {
            (b"Predictor", Value::Int(p)) => *p <= 1,
            (b"Predictor", _) => false,
            _ => true,
        }),
        Value::Array(items) => items.iter().all(params_ok),
        _ => false,
    }
}

#[derive(Debug)]
enum Value {
    Name(Vec<u8>),
    Int(i64),
    Null,
    Ref,
    Dict(Vec<(Vec<u8>, Value)>),
    Array(Vec<Value>),
    Other,
}

fn parse_value(bytes: &[u8], toks: &[Token], i: &mut usize, depth: usize) -> Option<Value> {
    let t = toks.get(*i)?;
    *i += 1;
    if depth > MAX_VALUE_DEPTH {
        return None;
    }
    let text = &bytes[t.start..t.end];
    Some(match t.kind {
        Kind::Name => Value::Name(normalize_name(&bytes[t.inner.0..t.inner.1]).into_owned()),
        Kind::Word if text == b"null" => Value::Null,
        Kind::Word => match std::str::from_utf8(text)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
        {
            Some(n) => {
                // `n g R` is a reference.
                let is_ref = toks.get(*i).is_some_and(|g| {
                    g.kind == Kind::Word && parse_usize(&bytes[g.start..g.end]).is_some()
                }) && toks
                    .get(*i + 1)
                    .is_some_and(|r| r.kind == Kind::Word && &bytes[r.start..r.end] == b"R");
                if is_ref {
                    *i += 2;
                    Value::Ref
                } else {
                    Value::Int(n)
                }
            }
            None => Value::Other,
        },
        Kind::DictOpen => {
            let mut entries = Vec::new();
            loop {
                let k = toks.get(*i)?;
                match k.kind {
                    Kind::DictClose => {
                        *i += 1;
                        break;
                    }
                    Kind::Name => {
                        *i += 1;
                        let key = normalize_name(&bytes[k.inner.0..k.inner.1]).into_owned();
                        let value = parse_value(bytes, toks, i, depth + 1)?;
                        entries.push((key, value));
                    }
                    _ => return None,
                }
            }
            Value::Dict(entries)
        }
        Kind::ArrOpen => {
            let mut items = Vec::new();
            loop {
                match toks.get(*i)?.kind {
                    Kind::ArrClose => {
                        *i += 1;
                        break;
                    }
                    _ => items.push(parse_value(bytes, toks, i, depth + 1)?),
                }
            }
            Value::Array(items)
        }
        Kind::Literal | Kind::Hex => Value::Other,
        Kind::DictClose | Kind::ArrClose | Kind::Stray | Kind::Comment => return None,
    })
}

fn parse_usize(text: &[u8]) -> Option<usize> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// How far back [`dict_before`] looks.
const DICT_LOOKBACK: usize = 64 * 1024;

/// The `<< … >>` right before a `stream` keyword at `kw`, matched backwards
/// without regard to strings and not before `floor`: used when the forward
/// tokenisation did not see one (a stray `<` earlier swallowed it).
fn dict_before(data: &[u8], kw: usize, floor: usize) -> Option<(usize, usize)> {
    let mut k = kw;
    while k > 0 && is_ws(data[k - 1]) {
        k -= 1;
    }
    if k < 2 || &data[k - 2..k] != b">>" {
        return None;
    }
    let end = k;
    let floor = kw.saturating_sub(DICT_LOOKBACK).max(floor);
    let mut depth = 0usize;
    let mut j = k;
    while j >= floor + 2 {
        match &data[j - 2..j] {
            b">>" => {
                depth += 1;
                j -= 2;
            }
            b"<<" => {
                depth -= 1;
                j -= 2;
                if depth == 0 {
                    return Some((j, end));
                }
            }
            _ => j -= 1,
        }
    }
    None
}

/// The data of a stream whose `stream` keyword ends at `after_kw`:
/// `(start, end, resume)`, `resume` being after `endstream`.
fn stream_bounds(data: &[u8], after_kw: usize, length: Option<usize>) -> (usize, usize, usize) {
    let n = data.len();
    let mut s = after_kw;
    while s < n && (data[s] == b' ' || data[s] == b'\t') {
        s += 1;
    }
    if data[s..].starts_with(b"\r\n") {
        s += 2;
    } else if s < n && (data[s] == b'\n' || data[s] == b'\r') {
        s += 1;
    }
    if let Some(e) = length
        .and_then(|len| s.checked_add(len))
        .filter(|&e| e <= n)
    {
        let mut k = e;
        while k < n && is_ws(data[k]) {
            k += 1;
        }
        if data[k..].starts_with(b"endstream") {
            return (s, e, k + b"endstream".len());
        }
    }
    match find(&data[s..], b"endstream") {
        Some(p) => {
            let mut e = s + p;
            if e > s && data[e - 1] == b'\n' {
                e -= 1;
            }
            if e > s && data[e - 1] == b'\r' {
                e -= 1;
            }
            (s, e, s + p + b"endstream".len())
        }
        None => (s, n, n),
    }
}

/// Indirect-object syntax (`12 0 obj`) or a `trailer` keyword.
fn contains_object_syntax(r: &[u8]) -> bool {
    let bounded_after = |end: usize| r.get(end).is_none_or(|&c| !is_regular(c));
    let mut from = 0;
    while let Some(p) = find(&r[from..], b"obj") {
        let at = from + p;
        let mut k = at;
        while k > 0 && is_ws(r[k - 1]) {
            k -= 1;
        }
        if k < at && k > 0 && r[k - 1].is_ascii_digit() && bounded_after(at + 3) {
            return true;
        }
        from = at + 1;
    }
    let mut from = 0;
    while let Some(p) = find(&r[from..], b"trailer") {
        let at = from + p;
        if (at == 0 || !is_regular(r[at - 1])) && bounded_after(at + 7) {
            return true;
        }
        from = at + 1;
    }
    false
}

/// Decodes `#xx` escapes in a name (without its slash).
fn normalize_name(raw: &[u8]) -> Cow<'_, [u8]> {
    if !raw.contains(&b'#') {
        return Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'#' {
            if let (Some(h), Some(l)) = (
                raw.get(i + 1).and_then(|&c| hex_val(c)),
                raw.get(i + 2).and_then(|&c| hex_val(c)),
            ) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(raw[i]);
        i += 1;
    }
    Cow::Owned(out)
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// A name for an audit detail: lossy UTF-8, at most 64 characters.
fn printable(name: &[u8]) -> String {
    String::from_utf8_lossy(name)
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(64)
        .collect()
}

fn is_ws(c: u8) -> bool {
    matches!(c, 0 | b'\t' | b'\n' | 0x0C | b'\r' | b' ')
}

fn is_delim(c: u8) -> bool {
    matches!(
        c,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

fn is_regular(c: u8) -> bool {
    !is_ws(c) && !is_delim(c)
}

fn regular_end(data: &[u8], from: usize) -> usize {
    data[from..]
        .iter()
        .position(|&c| !is_regular(c))
        .map_or(data.len(), |p| from + p)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Comment,
    Literal,
    Hex,
    DictOpen,
    DictClose,
    ArrOpen,
    ArrClose,
    Name,
    Word,
    /// `)`, a lone `>`, `{`, `}`.
    Stray,
}

#[derive(Debug, Clone, Copy)]
struct Token {
    kind: Kind,
    start: usize,
    end: usize,
    /// The content of a comment, string or name (without delimiters).
    inner: (usize, usize),
}

/// PDF tokeniser (ISO 32000-1 §7.2): whitespace, delimiters, comments,
/// strings, names and regular words; `stream` data is skipped by the caller.
struct Lexer<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Iterator for Lexer<'_> {
    type Item = Token;

    fn next(&mut self) -> Option<Token> {
        let d = self.data;
        let n = d.len();
        while self.pos < n && is_ws(d[self.pos]) {
            self.pos += 1;
        }
        let s = self.pos;
        let c = *d.get(s)?;
        let next = d.get(s + 1).copied();
        let tok = |kind, end: usize, inner: (usize, usize)| Token {
            kind,
            start: s,
            end,
            inner,
        };
        let t = match c {
            b'%' => {
                let e = d[s..]
                    .iter()
                    .position(|&b| b == b'\n' || b == b'\r')
                    .map_or(n, |p| s + p);
                tok(Kind::Comment, e, (s + 1, e))
            }
            b'(' => {
                let mut depth = 1usize;
                let mut i = s + 1;
                let mut inner_end = n;
                let mut end = n;
                while i < n {
                    match d[i] {
                        b'\\' => i += 1,
                        b'(' => depth += 1,
                        b')' => {
                            depth -= 1;
                            if depth == 0 {
                                inner_end = i;
                                end = i + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
                tok(Kind::Literal, end, (s + 1, inner_end))
            }
            b'<' if next == Some(b'<') => tok(Kind::DictOpen, s + 2, (s, s)),
            b'<' => {
                let (inner_end, end) = d[s + 1..]
                    .iter()
                    .position(|&b| b == b'>')
                    .map_or((n, n), |p| (s + 1 + p, s + 2 + p));
                tok(Kind::Hex, end, (s + 1, inner_end))
            }
            b'>' if next == Some(b'>') => tok(Kind::DictClose, s + 2, (s, s)),
            b'[' => tok(Kind::ArrOpen, s + 1, (s, s)),
            b']' => tok(Kind::ArrClose, s + 1, (s, s)),
            b'>' | b')' | b'{' | b'}' => tok(Kind::Stray, s + 1, (s, s)),
            b'/' => {
                let e = regular_end(d, s + 1);
                tok(Kind::Name, e, (s + 1, e))
            }
            _ => {
                let e = regular_end(d, s).max(s + 1);
                tok(Kind::Word, e, (s, e))
            }
        };
        self.pos = t.end;
        Some(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised() {
        assert_eq!(normalize_name(b"J#61vaScript").as_ref(), b"JavaScript");
        assert_eq!(normalize_name(b"#4A#53").as_ref(), b"JS");
        assert_eq!(normalize_name(b"A#zz#4").as_ref(), b"A#zz#4");
    }

    #[test]
    fn object_syntax() {
        assert!(contains_object_syntax(b"x 12 0 obj <<"));
        assert!(contains_object_syntax(b"\ntrailer\n<<"));
        assert!(!contains_object_syntax(b"objects of 3 objections"));
        assert!(!contains_object_syntax(b"see 3obj"));
    }

    #[test]
    fn stream_dict() {
        let d = StreamDict::parse(
            b"<< /Type /ObjStm /N 3 /First 14 /Length 5 0 R /Filter [/FlateDecode] >>",
        );
        assert!(d.objstm);
        assert_eq!(d.first, Some(14));
        assert_eq!(d.length, None);
        assert_eq!(d.filters, Ok(vec![b"FlateDecode".to_vec()]));
        assert!(d.params_ok);
        let d = StreamDict::parse(
            b"<< /Length 10 /Filter /Fl /DecodeParms << /Predictor 12 /Columns 4 >> >>",
        );
        assert!(!d.objstm);
        assert_eq!(d.length, Some(10));
        assert!(!d.params_ok);
    }

    #[test]
    fn lexer_skips_strings_and_comments() {
        let data = b"%c /JS\n(a (b) \\) /JS) <4A53> /Ok";
        let kinds: Vec<Kind> = Lexer { data, pos: 0 }.map(|t| t.kind).collect();
        assert_eq!(
            kinds,
            vec![Kind::Comment, Kind::Literal, Kind::Hex, Kind::Name]
        );
    }
}
