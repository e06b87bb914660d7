//! Reading just enough of an existing PDF to append a revision to it, and writing that revision.
//!
//! Reading: the cross-reference chain from the last `startxref` (classic tables, cross-reference
//! streams and hybrid files; objects inside object streams), the catalog, the page tree (with
//! inherited boxes) and the objects a new signature field touches. Writing: the changed and new
//! objects after the original bytes, and a cross-reference section of the same kind as the
//! newest one of the file, whose `/Prev` links to it (ISO 32000-1 §7.5.6). Encrypted files are
//! refused; so is anything this reader cannot follow, rather than guessing.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::rc::Rc;

use crate::pdfobj::{Dict, Obj, Parser};

/// Why a document cannot be read or extended (becomes `LocalSealError::BadDocument`).
pub(super) type PdfResult<T> = Result<T, String>;

/// Limits against hostile input: nesting of resolved references, xref sections, page-tree depth,
/// and the inflated size of one stream.
const MAX_RESOLVE: usize = 16;
const MAX_SECTIONS: usize = 512;
const MAX_TREE_DEPTH: usize = 64;
const MAX_INFLATED: usize = 256 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Entry {
    Free,
    InFile { offset: usize, gen: u16 },
    Compressed { stream: u32, index: usize },
}

/// A decoded object stream: (object number, offset of its value in `data`).
struct ObjStream {
    index: Vec<(u32, usize)>,
    data: Vec<u8>,
}

/// A page found in the page tree.
pub(super) struct PageRef {
    pub num: u32,
    pub gen: u16,
    pub dict: Dict,
    /// The visible box (`/CropBox`, else `/MediaBox`, inherited values honoured), normalised to
    /// `[llx, lly, urx, ury]`.
    pub visible_box: [f64; 4],
}

/// An existing PDF, read.
pub(super) struct Document<'a> {
    data: &'a [u8],
    entries: HashMap<u32, Entry>,
    /// The newest trailer (for a cross-reference stream: its dictionary).
    pub trailer: Dict,
    /// Offset of the newest cross-reference section (the new revision's `/Prev`).
    pub last_xref: usize,
    /// Whether that section is a cross-reference stream.
    pub xref_is_stream: bool,
    /// The trailer's `/Size`.
    pub size: u32,
    obj_streams: RefCell<HashMap<u32, Rc<ObjStream>>>,
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

fn int(o: &Obj) -> Option<i64> {
    match o {
        Obj::Int(n) => Some(*n),
        _ => None,
    }
}

fn name_is(o: Option<&Obj>, name: &[u8]) -> bool {
    matches!(o, Some(Obj::Name(n)) if n == name)
}

fn read_u32(p: &mut Parser<'_>, what: &str) -> PdfResult<u32> {
    match p.object(0) {
        Ok(Obj::Int(n)) => u32::try_from(n).map_err(|_| format!("{what} out of range")),
        _ => Err(format!("expected {what} at offset {}", p.pos)),
    }
}

impl<'a> Document<'a> {
    pub(super) fn parse(data: &'a [u8]) -> PdfResult<Self> {
        if !data.starts_with(b"%PDF-") {
            return Err("the file does not start with %PDF-".into());
        }
        let tail_from = data.len().saturating_sub(4096);
        let sx = rfind(&data[tail_from..], b"startxref")
            .map(|i| tail_from + i)
            .ok_or("no startxref near the end of the file (truncated?)")?;
        let mut p = Parser::new(data, sx + b"startxref".len());
        let last_xref = usize::try_from(read_u32(&mut p, "the startxref offset")?)
            .map_err(|_| "startxref offset out of range")?;

        let mut doc = Document {
            data,
            entries: HashMap::new(),
            trailer: Dict::default(),
            last_xref,
            xref_is_stream: false,
            size: 0,
            obj_streams: RefCell::new(HashMap::new()),
        };
        let mut next = Some(last_xref);
        let mut seen = HashSet::new();
        let mut newest = true;
        while let Some(offset) = next.take() {
            if !seen.insert(offset) || seen.len() > MAX_SECTIONS {
                return Err("the cross-reference sections form a loop".into());
            }
            let (trailer, is_stream) = doc.read_section(offset)?;
            if let Some(stm) = trailer.get(b"XRefStm").and_then(int) {
                // A hybrid file: the stream holds the entries the table leaves out.
                let stm = usize::try_from(stm).map_err(|_| "bad /XRefStm")?;
                if seen.insert(stm) {
                    doc.read_section(stm)?;
                }
            }
            next = match trailer.get(b"Prev") {
                None => None,
                Some(o) => Some(
                    int(o)
                        .and_then(|n| usize::try_from(n).ok())
                        .ok_or("bad /Prev in a trailer")?,
                ),
            };
            if newest {
                doc.trailer = trailer;
                doc.xref_is_stream = is_stream;
                newest = false;
            }
        }
        if doc.trailer.get(b"Encrypt").is_some() {
            return Err("the PDF is encrypted".into());
        }
        doc.size = doc
            .trailer
            .get(b"Size")
            .and_then(int)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or("the trailer has no valid /Size")?;
        if !matches!(doc.trailer.get(b"Root"), Some(Obj::Ref(..))) {
            return Err("the trailer has no /Root reference".into());
        }
        Ok(doc)
    }

    /// Reads the cross-reference section at `offset` (entries already known from newer sections
    /// win) and returns its trailer dictionary and whether it is a stream.
    fn read_section(&mut self, offset: usize) -> PdfResult<(Dict, bool)> {
        let data = self.data;
        if offset >= data.len() {
            return Err(format!(
                "cross-reference offset {offset} beyond the end of the file"
            ));
        }
        let mut p = Parser::new(data, offset);
        p.skip_ws();
        if data[p.pos..].starts_with(b"xref") {
            p.pos += 4;
            loop {
                p.skip_ws();
                if data[p.pos..].starts_with(b"trailer") {
                    p.pos += b"trailer".len();
                    p.skip_ws();
                    let trailer = p.dict(0).map_err(|e| format!("trailer: {e}"))?;
                    return Ok((trailer, false));
                }
                let start = read_u32(&mut p, "a cross-reference subsection start")?;
                let count = read_u32(&mut p, "a cross-reference subsection count")?;
                if count as usize > data.len() / 18 {
                    return Err("implausible cross-reference subsection".into());
                }
                for i in 0..count {
                    let off = p.object(0);
                    let gen = p.object(0);
                    let kind = p.keyword();
                    let (Ok(Obj::Int(off)), Ok(Obj::Int(gen))) = (off, gen) else {
                        return Err(format!("bad cross-reference entry at offset {}", p.pos));
                    };
                    let entry = match kind.as_slice() {
                        b"n" => Entry::InFile {
                            offset: usize::try_from(off).map_err(|_| "bad xref offset")?,
                            gen: u16::try_from(gen).map_err(|_| "bad xref generation")?,
                        },
                        b"f" => Entry::Free,
                        _ => return Err(format!("bad cross-reference entry at offset {}", p.pos)),
                    };
                    let num = start.checked_add(i).ok_or("object number overflow")?;
                    self.entries.entry(num).or_insert(entry);
                }
            }
        }
        // A cross-reference stream.
        let (_, _, obj, stream) = self.indirect_at(offset, 0)?;
        let Obj::Dict(dict) = obj else {
            return Err(format!("no cross-reference section at offset {offset}"));
        };
        if !name_is(dict.get(b"Type"), b"XRef") {
            return Err(format!("no cross-reference section at offset {offset}"));
        }
        let raw = stream.ok_or("the cross-reference stream has no data")?;
        let rows = decode_stream(&dict, raw)?;
        let widths: Vec<usize> = match dict.get(b"W") {
            Some(Obj::Array(w)) if w.len() == 3 => w
                .iter()
                .map(|o| {
                    int(o)
                        .and_then(|n| usize::try_from(n).ok())
                        .filter(|&n| n <= 8)
                })
                .collect::<Option<_>>()
                .ok_or("bad /W in the cross-reference stream")?,
            _ => return Err("bad /W in the cross-reference stream".into()),
        };
        let row_len: usize = widths.iter().sum();
        if row_len == 0 {
            return Err("bad /W in the cross-reference stream".into());
        }
        let size = dict
            .get(b"Size")
            .and_then(int)
            .ok_or("the cross-reference stream has no /Size")?;
        let index: Vec<i64> = match dict.get(b"Index") {
            None => vec![0, size],
            Some(Obj::Array(items)) => items
                .iter()
                .map(int)
                .collect::<Option<_>>()
                .ok_or("bad /Index")?,
            Some(_) => return Err("bad /Index".into()),
        };
        let field = |row: &[u8], i: usize, default: u64| -> u64 {
            let from: usize = widths[..i].iter().sum();
            if widths[i] == 0 {
                return default;
            }
            row[from..from + widths[i]]
                .iter()
                .fold(0u64, |acc, &b| acc << 8 | u64::from(b))
        };
        let mut rows_iter = rows.chunks_exact(row_len);
        for pair in index.chunks(2) {
            let [start, count] = pair else {
                return Err("bad /Index".into());
            };
            let start = u32::try_from(*start).map_err(|_| "bad /Index")?;
            let count = u32::try_from(*count).map_err(|_| "bad /Index")?;
            for i in 0..count {
                let row = rows_iter
                    .next()
                    .ok_or("the cross-reference stream is shorter than its /Index")?;
                let entry = match field(row, 0, 1) {
                    0 => Entry::Free,
                    1 => Entry::InFile {
                        offset: usize::try_from(field(row, 1, 0)).map_err(|_| "bad offset")?,
                        gen: u16::try_from(field(row, 2, 0)).map_err(|_| "bad generation")?,
                    },
                    2 => Entry::Compressed {
                        stream: u32::try_from(field(row, 1, 0)).map_err(|_| "bad stream")?,
                        index: usize::try_from(field(row, 2, 0)).map_err(|_| "bad index")?,
                    },
                    // Unknown types are to be ignored (treated as null objects).
                    _ => Entry::Free,
                };
                let num = start.checked_add(i).ok_or("object number overflow")?;
                self.entries.entry(num).or_insert(entry);
            }
        }
        Ok((dict, true))
    }

    /// Parses the indirect object `N G obj … endobj` at `offset`: its number, generation, value,
    /// and for a stream the raw (undecoded) data.
    fn indirect_at(
        &self,
        offset: usize,
        depth: usize,
    ) -> PdfResult<(u32, u16, Obj, Option<&'a [u8]>)> {
        let data = self.data;
        let mut p = Parser::new(data, offset);
        let num = read_u32(&mut p, "an object number")?;
        let gen = read_u32(&mut p, "a generation number")?;
        let gen = u16::try_from(gen).map_err(|_| "generation number out of range")?;
        if p.keyword() != b"obj" {
            return Err(format!("no object header at offset {offset}"));
        }
        let obj = p
            .object(0)
            .map_err(|e| format!("object {num} {gen}: {e}"))?;
        if p.keyword() != b"stream" {
            return Ok((num, gen, obj, None));
        }
        let Obj::Dict(dict) = &obj else {
            return Err(format!("object {num}: a stream without a dictionary"));
        };
        // The keyword is followed by CRLF or LF (a lone CR is tolerated).
        let mut start = p.pos;
        if data[start..].starts_with(b"\r\n") {
            start += 2;
        } else if data[start..].starts_with(b"\n") || data[start..].starts_with(b"\r") {
            start += 1;
        }
        let len = match dict.get(b"Length") {
            Some(Obj::Int(n)) => *n,
            Some(r @ Obj::Ref(..)) => {
                int(&self.resolve_depth(r, depth + 1)?).ok_or("bad indirect stream /Length")?
            }
            _ => return Err(format!("object {num}: a stream without /Length")),
        };
        let len = usize::try_from(len).map_err(|_| "negative stream /Length")?;
        let end = start
            .checked_add(len)
            .filter(|&e| e <= data.len())
            .ok_or_else(|| format!("object {num}: the stream runs past the end of the file"))?;
        Ok((num, gen, obj, Some(&data[start..end])))
    }

    fn obj_stream(&self, num: u32, depth: usize) -> PdfResult<Rc<ObjStream>> {
        if let Some(s) = self.obj_streams.borrow().get(&num) {
            return Ok(Rc::clone(s));
        }
        let Some(Entry::InFile { offset, .. }) = self.entries.get(&num).copied() else {
            return Err(format!("object stream {num} is not in the file"));
        };
        let (_, _, obj, raw) = self.indirect_at(offset, depth)?;
        let (Obj::Dict(dict), Some(raw)) = (obj, raw) else {
            return Err(format!("object {num} is not an object stream"));
        };
        let data = decode_stream(&dict, raw)?;
        let n = dict
            .get(b"N")
            .and_then(int)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or("object stream without /N")?;
        let first = dict
            .get(b"First")
            .and_then(int)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or("object stream without /First")?;
        if n > data.len() {
            return Err("implausible object stream /N".into());
        }
        let mut p = Parser::new(&data, 0);
        let mut index = Vec::with_capacity(n);
        for _ in 0..n {
            let obj_num = read_u32(&mut p, "an object stream entry")?;
            let off = read_u32(&mut p, "an object stream offset")? as usize;
            index.push((obj_num, first.checked_add(off).ok_or("bad offset")?));
        }
        let stream = Rc::new(ObjStream { index, data });
        self.obj_streams
            .borrow_mut()
            .insert(num, Rc::clone(&stream));
        Ok(stream)
    }

    /// The value of object `num` and its generation number.
    pub(super) fn object(&self, num: u32) -> PdfResult<(Obj, u16)> {
        self.object_depth(num, 0)
    }

    fn object_depth(&self, num: u32, depth: usize) -> PdfResult<(Obj, u16)> {
        if depth > MAX_RESOLVE {
            return Err("references nested too deeply".into());
        }
        match self.entries.get(&num).copied() {
            None | Some(Entry::Free) => Ok((Obj::Null, 0)),
            Some(Entry::InFile { offset, gen }) => {
                let (n, g, obj, stream) = self.indirect_at(offset, depth)?;
                if n != num || g != gen {
                    return Err(format!(
                        "the cross-reference entry of object {num} points at object {n} {g}"
                    ));
                }
                if stream.is_some() {
                    return Err(format!(
                        "object {num} is a stream where a dictionary is expected"
                    ));
                }
                Ok((obj, gen))
            }
            Some(Entry::Compressed { stream, index }) => {
                let s = self.obj_stream(stream, depth + 1)?;
                let &(n, off) = s
                    .index
                    .get(index)
                    .ok_or_else(|| format!("object {num}: index beyond its object stream"))?;
                if n != num {
                    return Err(format!("object stream {stream} does not hold object {num}"));
                }
                let mut p = Parser::new(&s.data, off);
                let obj = p.object(0).map_err(|e| format!("object {num}: {e}"))?;
                Ok((obj, 0))
            }
        }
    }

    /// `o` itself, or the object it refers to.
    pub(super) fn resolve(&self, o: &Obj) -> PdfResult<Obj> {
        self.resolve_depth(o, 0)
    }

    fn resolve_depth(&self, o: &Obj, depth: usize) -> PdfResult<Obj> {
        let mut cur = o.clone();
        for d in depth..=MAX_RESOLVE {
            match cur {
                Obj::Ref(num, _) => cur = self.object_depth(num, d)?.0,
                other => return Ok(other),
            }
        }
        Err("references nested too deeply".into())
    }

    /// The catalog's object number, generation and dictionary.
    pub(super) fn catalog(&self) -> PdfResult<(u32, u16, Dict)> {
        let Some(&Obj::Ref(num, _)) = self.trailer.get(b"Root") else {
            return Err("the trailer has no /Root reference".into());
        };
        match self.object(num)? {
            (Obj::Dict(d), gen) => Ok((num, gen, d)),
            _ => Err("the catalog is not a dictionary".into()),
        }
    }

    /// Number of pages and, if `wanted` (1-based) exists, that page.
    pub(super) fn page(&self, wanted: u32) -> PdfResult<(u32, Option<PageRef>)> {
        let (_, _, catalog) = self.catalog()?;
        let Some(&Obj::Ref(root, _)) = catalog.get(b"Pages") else {
            return Err("the catalog has no /Pages reference".into());
        };
        let mut seen = HashSet::new();
        let mut count = 0u32;
        let mut found = None;
        self.walk(
            root,
            &mut seen,
            [None, None],
            0,
            wanted,
            &mut count,
            &mut found,
        )?;
        Ok((count, found))
    }

    /// Depth-first walk of the page tree, counting leaves; `inherited` holds the nearest
    /// ancestors' `/MediaBox` and `/CropBox`.
    #[allow(clippy::too_many_arguments)] // the recursion's state, kept out of the public API
    fn walk(
        &self,
        num: u32,
        seen: &mut HashSet<u32>,
        inherited: [Option<Obj>; 2],
        depth: usize,
        wanted: u32,
        count: &mut u32,
        found: &mut Option<PageRef>,
    ) -> PdfResult<()> {
        if depth > MAX_TREE_DEPTH || !seen.insert(num) {
            return Err("the page tree is malformed (a loop or too deep)".into());
        }
        let (obj, gen) = self.object(num)?;
        let Obj::Dict(node) = obj else {
            return Err(format!("page tree node {num} is not a dictionary"));
        };
        let media = node.get(b"MediaBox").cloned().or(inherited[0].clone());
        let crop = node.get(b"CropBox").cloned().or(inherited[1].clone());
        let is_leaf = name_is(node.get(b"Type"), b"Page")
            || (!name_is(node.get(b"Type"), b"Pages") && node.get(b"Kids").is_none());
        if is_leaf {
            *count = count.checked_add(1).ok_or("too many pages")?;
            if *count == wanted {
                let visible = crop
                    .as_ref()
                    .or(media.as_ref())
                    .ok_or_else(|| format!("page {wanted} has no /MediaBox"))?;
                *found = Some(PageRef {
                    num,
                    gen,
                    visible_box: self.rect(visible)?,
                    dict: node,
                });
            }
            return Ok(());
        }
        // Skip whole subtrees that end before the wanted page.
        if let Some(n) = node.get(b"Count").and_then(int) {
            let n = u32::try_from(n).unwrap_or(0);
            if found.is_some() || count.saturating_add(n) < wanted {
                *count = count.saturating_add(n);
                return Ok(());
            }
        }
        let kids = match node.get(b"Kids").map(|k| self.resolve(k)).transpose()? {
            Some(Obj::Array(kids)) => kids,
            _ => return Err(format!("page tree node {num} has no /Kids array")),
        };
        for kid in &kids {
            let Obj::Ref(kid_num, _) = kid else {
                return Err(format!("page tree node {num} has a direct kid"));
            };
            self.walk(
                *kid_num,
                seen,
                [media.clone(), crop.clone()],
                depth + 1,
                wanted,
                count,
                found,
            )?;
        }
        Ok(())
    }

    fn rect(&self, o: &Obj) -> PdfResult<[f64; 4]> {
        let Obj::Array(items) = self.resolve(o)? else {
            return Err("a page box is not an array".into());
        };
        let nums: Vec<f64> = items
            .iter()
            .map(|i| match self.resolve(i) {
                Ok(Obj::Int(n)) => Some(n as f64),
                Ok(Obj::Real(r)) if r.is_finite() => Some(r),
                _ => None,
            })
            .collect::<Option<_>>()
            .ok_or("a page box holds a non-number")?;
        let [a, b, c, d] = nums[..] else {
            return Err("a page box does not have four numbers".into());
        };
        Ok([a.min(c), b.min(d), a.max(c), b.max(d)])
    }

    /// The current value of a dictionary entry that may be a reference to an array.
    pub(super) fn array_entry(
        &self,
        dict: &Dict,
        key: &[u8],
    ) -> PdfResult<Option<Located<Vec<Obj>>>> {
        let not_array = || format!("/{} is not an array", String::from_utf8_lossy(key));
        match dict.get(key) {
            None | Some(Obj::Null) => Ok(None),
            Some(Obj::Array(items)) => Ok(Some(Located::direct(items.clone()))),
            Some(&Obj::Ref(num, _)) => match self.object(num)? {
                (Obj::Array(items), gen) => Ok(Some(Located::at(items, num, gen))),
                (Obj::Null, _) => Ok(None),
                _ => Err(not_array()),
            },
            Some(_) => Err(not_array()),
        }
    }

    /// The interactive form dictionary, if any.
    pub(super) fn acro_form(&self, catalog: &Dict) -> PdfResult<Option<Located<Dict>>> {
        match catalog.get(b"AcroForm") {
            None | Some(Obj::Null) => Ok(None),
            Some(Obj::Dict(d)) => Ok(Some(Located::direct(d.clone()))),
            Some(&Obj::Ref(num, _)) => match self.object(num)? {
                (Obj::Dict(d), gen) => Ok(Some(Located::at(d, num, gen))),
                (Obj::Null, _) => Ok(None),
                _ => Err("/AcroForm is not a dictionary".into()),
            },
            Some(_) => Err("/AcroForm is not a dictionary".into()),
        }
    }
}

/// A value found through a dictionary entry, and the indirect object (number, generation) that
/// holds it, if it is not written in the dictionary itself — which decides what to rewrite.
#[derive(Debug)]
pub(super) struct Located<T> {
    pub value: T,
    pub indirect: Option<(u32, u16)>,
}

impl<T> Located<T> {
    fn direct(value: T) -> Self {
        Self {
            value,
            indirect: None,
        }
    }

    fn at(value: T, num: u32, gen: u16) -> Self {
        Self {
            value,
            indirect: Some((num, gen)),
        }
    }
}

// ---- stream decoding --------------------------------------------------------------------------

/// Decodes the data of a cross-reference or object stream: no filter or FlateDecode, with an
/// optional PNG predictor (what every writer uses for these streams).
fn decode_stream(dict: &Dict, raw: &[u8]) -> PdfResult<Vec<u8>> {
    let filters: Vec<Vec<u8>> = match dict.get(b"Filter") {
        None => Vec::new(),
        Some(Obj::Name(n)) => vec![n.clone()],
        Some(Obj::Array(items)) => items
            .iter()
            .map(|i| match i {
                Obj::Name(n) => Some(n.clone()),
                _ => None,
            })
            .collect::<Option<_>>()
            .ok_or("bad /Filter")?,
        Some(_) => return Err("bad /Filter".into()),
    };
    let parms = match dict.get(b"DecodeParms") {
        Some(Obj::Dict(d)) => Some(d.clone()),
        Some(Obj::Array(items)) => items.first().and_then(|o| match o {
            Obj::Dict(d) => Some(d.clone()),
            _ => None,
        }),
        _ => None,
    };
    let data = match filters.as_slice() {
        [] => raw.to_vec(),
        [f] if f == b"FlateDecode" => {
            miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(raw, MAX_INFLATED)
                .map_err(|e| format!("FlateDecode: {:?}", e.status))?
        }
        _ => {
            return Err(format!(
                "unsupported stream filter {:?}",
                filters
                    .iter()
                    .map(|f| String::from_utf8_lossy(f).into_owned())
                    .collect::<Vec<_>>()
            ))
        }
    };
    let Some(parms) = parms else {
        return Ok(data);
    };
    let get = |k: &[u8], default: i64| parms.get(k).and_then(int).unwrap_or(default);
    match get(b"Predictor", 1) {
        1 => Ok(data),
        10..=15 => {
            let colors = get(b"Colors", 1);
            let bpc = get(b"BitsPerComponent", 8);
            let columns = get(b"Columns", 1);
            let bpp = usize::try_from((colors * bpc + 7) / 8)
                .ok()
                .filter(|&b| (1..=16).contains(&b))
                .ok_or("bad predictor parameters")?;
            let row = usize::try_from((colors * bpc * columns + 7) / 8)
                .ok()
                .filter(|&r| r > 0)
                .ok_or("bad predictor parameters")?;
            png_unpredict(&data, row, bpp)
        }
        p => Err(format!("unsupported predictor {p}")),
    }
}

/// Reverses the PNG row filters (RFC 2083 §6): each row is a filter-type byte and `row` bytes.
fn png_unpredict(data: &[u8], row: usize, bpp: usize) -> PdfResult<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len());
    let mut prev = vec![0u8; row];
    for chunk in data.chunks(row + 1) {
        let (&kind, bytes) = chunk.split_first().ok_or("empty predictor row")?;
        if bytes.len() != row {
            return Err("truncated predictor row".into());
        }
        let mut cur = bytes.to_vec();
        for i in 0..row {
            let a = if i >= bpp { cur[i - bpp] } else { 0 };
            let b = prev[i];
            let c = if i >= bpp { prev[i - bpp] } else { 0 };
            let add = match kind {
                0 => 0,
                1 => a,
                2 => b,
                3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
                4 => {
                    let p = i16::from(a) + i16::from(b) - i16::from(c);
                    let (pa, pb, pc) = (
                        (p - i16::from(a)).abs(),
                        (p - i16::from(b)).abs(),
                        (p - i16::from(c)).abs(),
                    );
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
                other => return Err(format!("unknown PNG filter type {other}")),
            };
            cur[i] = cur[i].wrapping_add(add);
        }
        out.extend_from_slice(&cur);
        prev = cur;
    }
    Ok(out)
}

// ---- writing --------------------------------------------------------------------------------

/// Serialises a parsed object. Strings of plain printable ASCII are written literally, any other
/// as a hex string (the same string, and no escaping to get wrong).
pub(super) fn write_obj(o: &Obj, out: &mut Vec<u8>) {
    match o {
        Obj::Null => out.extend_from_slice(b"null"),
        Obj::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Obj::Int(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Obj::Real(r) => out.extend_from_slice(real(*r).as_bytes()),
        Obj::Name(n) => write_name(n, out),
        Obj::Str(bytes) | Obj::Hex { bytes, .. } => {
            let plain = bytes
                .iter()
                .all(|&b| (0x20..=0x7e).contains(&b) && !matches!(b, b'(' | b')' | b'\\'));
            if plain {
                out.push(b'(');
                out.extend_from_slice(bytes);
                out.push(b')');
            } else {
                out.push(b'<');
                out.extend_from_slice(hex::encode(bytes).as_bytes());
                out.push(b'>');
            }
        }
        Obj::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                write_obj(item, out);
            }
            out.push(b']');
        }
        Obj::Dict(d) => write_dict(d, out),
        Obj::Ref(num, gen) => out.extend_from_slice(format!("{num} {gen} R").as_bytes()),
    }
}

pub(super) fn write_dict(d: &Dict, out: &mut Vec<u8>) {
    out.extend_from_slice(b"<<");
    for (key, _, value) in &d.entries {
        write_name(key, out);
        out.push(b' ');
        write_obj(value, out);
    }
    out.extend_from_slice(b">>");
}

fn write_name(name: &[u8], out: &mut Vec<u8>) {
    out.push(b'/');
    for &b in name {
        let regular = (0x21..=0x7e).contains(&b)
            && !matches!(
                b,
                b'#' | b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
            );
        if regular {
            out.push(b);
        } else {
            out.extend_from_slice(format!("#{b:02X}").as_bytes());
        }
    }
}

/// A real number without exponent, at most four decimals (plenty for coordinates in points).
pub(super) fn real(r: f64) -> String {
    let s = format!("{r:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    match s {
        "" | "-" | "-0" => "0".to_owned(),
        s => s.to_owned(),
    }
}

/// Sets (or replaces) `key` in a dictionary, keeping the order of the other entries.
pub(super) fn set(d: &mut Dict, key: &[u8], value: Obj) {
    d.entries.retain(|(k, _, _)| k != key);
    d.entries.push((key.to_vec(), 0, value));
}

/// An incremental update being written after the original bytes.
pub(super) struct Revision {
    pub out: Vec<u8>,
    /// Object number → (generation, offset in `out`).
    offsets: BTreeMap<u32, (u16, usize)>,
}

impl Revision {
    pub(super) fn new(original: &[u8]) -> Self {
        let mut out = Vec::with_capacity(original.len() + 64 * 1024);
        out.extend_from_slice(original);
        if !matches!(out.last(), Some(b'\n' | b'\r')) {
            out.push(b'\n');
        }
        Self {
            out,
            offsets: BTreeMap::new(),
        }
    }

    /// Starts object `num gen` and returns nothing: the caller appends its value, then calls
    /// [`Revision::end_object`].
    pub(super) fn begin_object(&mut self, num: u32, gen: u16) {
        self.offsets.insert(num, (gen, self.out.len()));
        self.out
            .extend_from_slice(format!("{num} {gen} obj\n").as_bytes());
    }

    pub(super) fn end_object(&mut self) {
        self.out.extend_from_slice(b"\nendobj\n");
    }

    /// Writes a whole object holding `value`.
    pub(super) fn object(&mut self, num: u32, gen: u16, value: &Obj) {
        self.begin_object(num, gen);
        write_obj(value, &mut self.out);
        self.end_object();
    }

    /// Appends objects written by pdf-writer (`refs` in the order they were written), recording
    /// where each one starts.
    pub(super) fn chunk(&mut self, bytes: &[u8], refs: &[u32]) -> PdfResult<()> {
        let base = self.out.len();
        let mut from = 0;
        for (i, &num) in refs.iter().enumerate() {
            let header = format!("{num} 0 obj\n");
            let at = if i == 0 {
                bytes
                    .starts_with(header.as_bytes())
                    .then_some(0)
                    .ok_or("unexpected chunk layout")?
            } else {
                // The header right after an `endobj` line (pdf-writer separates objects so).
                let pattern = [b"endobj\n".as_slice(), header.as_bytes()].concat();
                let pattern2 = [b"endobj\n\n".as_slice(), header.as_bytes()].concat();
                let find = |p: &[u8]| {
                    bytes[from..]
                        .windows(p.len())
                        .position(|w| w == p)
                        .map(|i| from + i + p.len() - header.len())
                };
                match (find(&pattern), find(&pattern2)) {
                    (Some(a), Some(b)) => a.min(b),
                    (Some(a), None) | (None, Some(a)) => a,
                    (None, None) => return Err("unexpected chunk layout".into()),
                }
            };
            self.offsets.insert(num, (0, base + at));
            from = at + header.len();
        }
        self.out.extend_from_slice(bytes);
        if !matches!(self.out.last(), Some(b'\n')) {
            self.out.push(b'\n');
        }
        Ok(())
    }

    /// Finishes the revision with a cross-reference section of the same kind as the previous
    /// one, and a trailer carrying `/Root`, `/Info` and `/ID` over. `next_num` is the first
    /// unused object number.
    pub(super) fn finish(mut self, doc: &Document<'_>, next_num: u32, new_id: &[u8]) -> Vec<u8> {
        let mut trailer = Dict::default();
        for key in [&b"Root"[..], b"Info"] {
            if let Some(v) = doc.trailer.get(key) {
                set(&mut trailer, key, v.clone());
            }
        }
        // The first identifier stays (it names the document), the second changes with each
        // revision (ISO 32000-1 §14.4).
        let first_id = match doc.trailer.get(b"ID") {
            Some(Obj::Array(ids)) => match ids.first() {
                Some(Obj::Str(b) | Obj::Hex { bytes: b, .. }) => b.clone(),
                _ => new_id.to_vec(),
            },
            _ => new_id.to_vec(),
        };
        set(
            &mut trailer,
            b"ID",
            Obj::Array(vec![Obj::Str(first_id), Obj::Str(new_id.to_vec())]),
        );
        set(&mut trailer, b"Prev", Obj::Int(doc.last_xref as i64));

        if doc.xref_is_stream {
            let xref_num = next_num;
            let size = xref_num + 1;
            let xref_at = self.out.len();
            self.offsets.insert(xref_num, (0, xref_at));
            let max = self.offsets.values().map(|&(_, o)| o).max().unwrap_or(0);
            let w2 = (1..=8)
                .find(|&n| n == 8 || (max >> (8 * n)) == 0)
                .unwrap_or(8);
            let mut rows = Vec::new();
            let mut index = Vec::new();
            for (start, run) in runs(&self.offsets) {
                index.push(Obj::Int(i64::from(start)));
                index.push(Obj::Int(run.len() as i64));
                for (gen, off) in run {
                    rows.push(1u8);
                    rows.extend_from_slice(&(off as u64).to_be_bytes()[8 - w2..]);
                    rows.extend_from_slice(&gen.to_be_bytes());
                }
            }
            let mut dict = Dict::default();
            set(&mut dict, b"Type", Obj::Name(b"XRef".to_vec()));
            set(&mut dict, b"Size", Obj::Int(i64::from(size)));
            set(
                &mut dict,
                b"W",
                Obj::Array(vec![Obj::Int(1), Obj::Int(w2 as i64), Obj::Int(2)]),
            );
            set(&mut dict, b"Index", Obj::Array(index));
            for (k, _, v) in trailer.entries {
                set(&mut dict, &k, v);
            }
            set(&mut dict, b"Length", Obj::Int(rows.len() as i64));
            self.out
                .extend_from_slice(format!("{xref_num} 0 obj\n").as_bytes());
            write_dict(&dict, &mut self.out);
            self.out.extend_from_slice(b"\nstream\n");
            self.out.extend_from_slice(&rows);
            self.out.extend_from_slice(b"\nendstream\nendobj\n");
            self.out
                .extend_from_slice(format!("startxref\n{xref_at}\n%%EOF\n").as_bytes());
        } else {
            let size = next_num.max(doc.size);
            let xref_at = self.out.len();
            self.out.extend_from_slice(b"xref\n");
            for (start, run) in runs(&self.offsets) {
                self.out
                    .extend_from_slice(format!("{start} {}\n", run.len()).as_bytes());
                for (gen, off) in run {
                    self.out
                        .extend_from_slice(format!("{off:010} {gen:05} n \n").as_bytes());
                }
            }
            set(&mut trailer, b"Size", Obj::Int(i64::from(size)));
            self.out.extend_from_slice(b"trailer\n");
            write_dict(&trailer, &mut self.out);
            self.out
                .extend_from_slice(format!("\nstartxref\n{xref_at}\n%%EOF\n").as_bytes());
        }
        self.out
    }
}

/// Consecutive runs of object numbers: (first number, [(generation, offset)]).
fn runs(offsets: &BTreeMap<u32, (u16, usize)>) -> Vec<(u32, Vec<(u16, usize)>)> {
    let mut out: Vec<(u32, Vec<(u16, usize)>)> = Vec::new();
    for (&num, &entry) in offsets {
        match out.last_mut() {
            Some((start, run)) if *start as usize + run.len() == num as usize => run.push(entry),
            _ => out.push((num, vec![entry])),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_predictors() {
        // Two rows of 3 bytes: Up over a zero row, then Sub, Average and Paeth rows.
        let data = [2, 1, 2, 3, 1, 1, 1, 1, 3, 2, 2, 2, 4, 0, 0, 0];
        let out = png_unpredict(&data, 3, 1).unwrap();
        assert_eq!(&out[..3], &[1, 2, 3]);
        assert_eq!(&out[3..6], &[1, 2, 3]);
        // Average of left and up, then Paeth (here: up).
        assert_eq!(&out[6..9], &[2, 4, 5]);
        assert_eq!(&out[9..12], &[2, 4, 5]);
        assert!(png_unpredict(&[2, 1], 3, 1).is_err());
        assert!(png_unpredict(&[9, 1, 2, 3], 3, 1).is_err());
    }

    #[test]
    fn serialises_what_it_parses() {
        let src = b"<< /Type /Page /A [1 -2 3.5 (x\\)y) <00ff>] /B << /C null /D true >> /E 4 0 R /F#20G (\\351) >>";
        let obj = Parser::new(src, 0).object(0).unwrap();
        let mut out = Vec::new();
        write_obj(&obj, &mut out);
        let again = Parser::new(&out, 0)
            .object(0)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out)));
        let strip = |o: Obj| -> Obj {
            fn s(o: Obj) -> Obj {
                match o {
                    Obj::Hex { bytes, .. } => Obj::Str(bytes),
                    Obj::Array(a) => Obj::Array(a.into_iter().map(s).collect()),
                    Obj::Dict(d) => Obj::Dict(Dict {
                        entries: d
                            .entries
                            .into_iter()
                            .map(|(k, _, v)| (k, 0, s(v)))
                            .collect(),
                    }),
                    other => other,
                }
            }
            s(o)
        };
        assert_eq!(strip(obj), strip(again));
        assert_eq!(real(425.0), "425");
        assert_eq!(real(545.125), "545.125");
        assert_eq!(real(-0.00001), "0");
        assert_eq!(real(0.1 + 0.2), "0.3");
    }

    #[test]
    fn refuses_what_it_cannot_follow() {
        assert!(Document::parse(b"not a pdf").is_err());
        assert!(Document::parse(b"%PDF-1.7\nno xref at all\n").is_err());
        assert!(Document::parse(b"%PDF-1.7\nstartxref\n999999\n%%EOF\n").is_err());
        // A loop through /Prev.
        let mut f = b"%PDF-1.7\n".to_vec();
        let at = f.len();
        f.extend_from_slice(
            format!("xref\n0 1\n0000000000 65535 f \ntrailer\n<< /Size 1 /Root 1 0 R /Prev {at} >>\nstartxref\n{at}\n%%EOF\n").as_bytes(),
        );
        assert!(Document::parse(&f)
            .err()
            .unwrap_or_default()
            .contains("loop"));
        // Encrypted.
        let mut f = b"%PDF-1.7\n".to_vec();
        let at = f.len();
        f.extend_from_slice(
            format!("xref\n0 1\n0000000000 65535 f \ntrailer\n<< /Size 1 /Root 1 0 R /Encrypt 2 0 R >>\nstartxref\n{at}\n%%EOF\n").as_bytes(),
        );
        assert!(Document::parse(&f)
            .err()
            .unwrap_or_default()
            .contains("encrypted"));
    }
}
