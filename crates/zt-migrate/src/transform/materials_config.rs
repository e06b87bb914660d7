//! `t_item.materials_config`, the list of required materials (D17).
//!
//! Items saved since 2019 hold JSON; older ones hold the JavaScript literal the
//! first administration page wrote (`[{name:'申请书',required:1},]`), which
//! serde_json refuses: unquoted keys, single quotes, trailing commas. The
//! literal parser below accepts exactly that subset of JavaScript, so that a
//! text outside it is reported with its position rather than half-read.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaterialSpec {
    pub name: String,
    pub required: bool,
    pub copies: Option<u32>,
}

/// Which notation the text was in; the report counts the old one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notation {
    Json,
    JsLiteral,
}

impl Notation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::JsLiteral => "js_literal",
        }
    }
}

pub fn parse_materials_config(s: &str) -> Result<(Vec<MaterialSpec>, Notation), String> {
    if let Ok(value) = serde_json::from_str::<Value>(s) {
        return from_json(&value).map(|specs| (specs, Notation::Json));
    }
    Literal::new(s)
        .materials()
        .map(|specs| (specs, Notation::JsLiteral))
}

fn from_json(value: &Value) -> Result<Vec<MaterialSpec>, String> {
    let Value::Array(items) = value else {
        return Err("materials_config (JSON): expected an array of materials".to_string());
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let fail = |what: &str| format!("materials_config (JSON): material #{i}: {what}");
            let Value::Object(fields) = item else {
                return Err(fail("not an object"));
            };
            let name = match fields.get("name") {
                Some(Value::String(name)) => name.clone(),
                Some(_) => return Err(fail("\"name\" is not a string")),
                None => return Err(fail("no \"name\"")),
            };
            let required = match fields.get("required") {
                None => false,
                Some(Value::Bool(b)) => *b,
                Some(v) => match v.as_u64() {
                    Some(0) => false,
                    Some(1) => true,
                    _ => return Err(fail("\"required\" is not true, false, 1 or 0")),
                },
            };
            let copies = match fields.get("copies") {
                None | Some(Value::Null) => None,
                Some(v) => Some(
                    v.as_u64()
                        .and_then(|n| u32::try_from(n).ok())
                        .ok_or_else(|| fail("\"copies\" is not a non-negative integer"))?,
                ),
            };
            Ok(MaterialSpec {
                name,
                required,
                copies,
            })
        })
        .collect()
}

/// A value of the literal subset: what a material's field may hold.
enum Scalar {
    Str(String),
    Int(u64),
    Bool(bool),
}

/// Recursive-descent reader over characters, so that positions in messages
/// count characters (the texts are Chinese; byte offsets would mislead).
struct Literal {
    chars: Vec<char>,
    pos: usize,
}

type Parsed<T> = Result<T, String>;

impl Literal {
    fn new(s: &str) -> Self {
        Self {
            chars: s.chars().collect(),
            pos: 0,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        Some(c)
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn error_at(&self, pos: usize, what: &str) -> String {
        let found = match self.chars.get(pos) {
            Some(c) => format!("'{c}'"),
            None => "the end of the text".to_string(),
        };
        format!("materials_config (JavaScript literal): {what} at character {pos}, found {found}")
    }

    fn error(&self, what: &str) -> String {
        self.error_at(self.pos, what)
    }

    fn expect(&mut self, c: char) -> Parsed<()> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(&format!("expected '{c}'")))
        }
    }

    fn materials(&mut self) -> Parsed<Vec<MaterialSpec>> {
        let mut specs = Vec::new();
        self.skip_ws();
        self.expect('[')?;
        loop {
            self.skip_ws();
            if self.peek() == Some(']') {
                self.pos += 1;
                break;
            }
            specs.push(self.material()?);
            self.skip_ws();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some(']') => {
                    self.pos += 1;
                    break;
                }
                _ => return Err(self.error("expected ',' or ']'")),
            }
        }
        self.skip_ws();
        if self.peek().is_some() {
            return Err(self.error("expected the end of the text after ']'"));
        }
        Ok(specs)
    }

    fn material(&mut self) -> Parsed<MaterialSpec> {
        let start = self.pos;
        self.expect('{')?;
        let mut name = None;
        let mut required = false;
        let mut copies = None;
        loop {
            self.skip_ws();
            if self.peek() == Some('}') {
                self.pos += 1;
                break;
            }
            let key = self.key()?;
            self.skip_ws();
            self.expect(':')?;
            self.skip_ws();
            let at = self.pos;
            let value = self.scalar()?;
            match (key.as_str(), value) {
                ("name", Scalar::Str(s)) => name = Some(s),
                ("name", _) => return Err(self.error_at(at, "\"name\" must be a string")),
                ("required", Scalar::Bool(b)) => required = b,
                ("required", Scalar::Int(0)) => required = false,
                ("required", Scalar::Int(1)) => required = true,
                ("required", _) => {
                    return Err(self.error_at(at, "\"required\" must be true, false, 1 or 0"))
                }
                ("copies", Scalar::Int(n)) => match u32::try_from(n) {
                    Ok(n) => copies = Some(n),
                    Err(_) => return Err(self.error_at(at, "\"copies\" is too large")),
                },
                ("copies", _) => return Err(self.error_at(at, "\"copies\" must be an integer")),
                _ => {}
            }
            self.skip_ws();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some('}') => {
                    self.pos += 1;
                    break;
                }
                _ => return Err(self.error("expected ',' or '}'")),
            }
        }
        let name = name.ok_or_else(|| self.error_at(start, "material without \"name\""))?;
        Ok(MaterialSpec {
            name,
            required,
            copies,
        })
    }

    fn key(&mut self) -> Parsed<String> {
        match self.peek() {
            Some(q @ ('\'' | '"')) => self.string(q),
            Some(c) if is_ident_start(c) => Ok(self.identifier()),
            _ => Err(self.error("expected a key")),
        }
    }

    fn identifier(&mut self) -> String {
        let mut s = String::new();
        while let Some(c) = self.peek().filter(|c| is_ident_part(*c)) {
            s.push(c);
            self.pos += 1;
        }
        s
    }

    fn scalar(&mut self) -> Parsed<Scalar> {
        match self.peek() {
            Some(q @ ('\'' | '"')) => self.string(q).map(Scalar::Str),
            Some(c) if c.is_ascii_digit() => self.integer().map(Scalar::Int),
            Some(c) if is_ident_start(c) => {
                let at = self.pos;
                match self.identifier().as_str() {
                    "true" => Ok(Scalar::Bool(true)),
                    "false" => Ok(Scalar::Bool(false)),
                    _ => Err(self.error_at(at, "expected a string, an integer, true or false")),
                }
            }
            _ => Err(self.error("expected a string, an integer, true or false")),
        }
    }

    fn integer(&mut self) -> Parsed<u64> {
        let start = self.pos;
        let mut n: u64 = 0;
        while let Some(d) = self.peek().and_then(|c| c.to_digit(10)) {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(d)))
                .ok_or_else(|| self.error_at(start, "integer too large"))?;
            self.pos += 1;
        }
        // `1.5` or `1e3` are not integers; stopping at the digits would
        // report a confusing "expected ','" instead.
        if self.peek().is_some_and(|c| c == '.' || is_ident_part(c)) {
            return Err(self.error("expected an integer"));
        }
        Ok(n)
    }

    fn string(&mut self, quote: char) -> Parsed<String> {
        let start = self.pos;
        self.pos += 1;
        let mut s = String::new();
        loop {
            let Some(c) = self.bump() else {
                return Err(self.error_at(start, "unterminated string"));
            };
            match c {
                c if c == quote => return Ok(s),
                '\n' | '\r' => {
                    return Err(self.error_at(self.pos - 1, "line break inside a string"))
                }
                '\\' => {
                    let at = self.pos - 1;
                    let Some(e) = self.bump() else {
                        return Err(self.error_at(start, "unterminated string"));
                    };
                    match e {
                        'n' => s.push('\n'),
                        't' => s.push('\t'),
                        'r' => s.push('\r'),
                        'b' => s.push('\u{8}'),
                        'f' => s.push('\u{c}'),
                        'v' => s.push('\u{b}'),
                        '0' => s.push('\0'),
                        'u' => s.push(self.unicode_escape(at)?),
                        // JavaScript: any other escaped character is itself.
                        other => s.push(other),
                    }
                }
                c => s.push(c),
            }
        }
    }

    /// `\uXXXX` after the `u`, joining a UTF-16 surrogate pair.
    fn unicode_escape(&mut self, at: usize) -> Parsed<char> {
        let high = self.hex4(at)?;
        let code = if (0xD800..0xDC00).contains(&high) {
            if self.bump() != Some('\\') || self.bump() != Some('u') {
                return Err(self.error_at(at, "unpaired surrogate in \\u escape"));
            }
            let low = self.hex4(at)?;
            if !(0xDC00..0xE000).contains(&low) {
                return Err(self.error_at(at, "unpaired surrogate in \\u escape"));
            }
            0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
        } else {
            high
        };
        char::from_u32(code).ok_or_else(|| self.error_at(at, "invalid \\u escape"))
    }

    fn hex4(&mut self, at: usize) -> Parsed<u32> {
        let mut n = 0;
        for _ in 0..4 {
            let d = self
                .bump()
                .and_then(|c| c.to_digit(16))
                .ok_or_else(|| self.error_at(at, "invalid \\u escape"))?;
            n = n * 16 + d;
        }
        Ok(n)
    }
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == '$'
}

fn is_ident_part(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, required: bool, copies: Option<u32>) -> MaterialSpec {
        MaterialSpec {
            name: name.to_string(),
            required,
            copies,
        }
    }

    fn err(s: &str) -> String {
        parse_materials_config(s).unwrap_err()
    }

    #[test]
    fn json() {
        let (specs, notation) = parse_materials_config(
            r#"[{"name":"申请书","required":true,"copies":1},{"name":"营业执照","required":false}]"#,
        )
        .unwrap();
        assert_eq!(notation, Notation::Json);
        assert_eq!(
            specs,
            vec![spec("申请书", true, Some(1)), spec("营业执照", false, None)]
        );
    }

    #[test]
    fn json_numbers_missing_fields_and_extra_keys() {
        let (specs, notation) = parse_materials_config(
            r#" [ {"name":"a","required":1,"copies":null,"note":{"x":[1]}},
                 {"name":"b","required":0,"copies":3}, {"name":"c"} ] "#,
        )
        .unwrap();
        assert_eq!(notation, Notation::Json);
        assert_eq!(
            specs,
            vec![
                spec("a", true, None),
                spec("b", false, Some(3)),
                spec("c", false, None)
            ]
        );
        assert_eq!(
            parse_materials_config("[]").unwrap(),
            (vec![], Notation::Json)
        );
    }

    #[test]
    fn json_shape_errors() {
        assert!(err(r#"{"name":"a"}"#).contains("expected an array"));
        assert!(err(r#"["a"]"#).contains("material #0: not an object"));
        assert!(err(r#"[{"name":"a"},{"required":true}]"#).contains("material #1: no \"name\""));
        assert!(err(r#"[{"name":1}]"#).contains("\"name\" is not a string"));
        assert!(err(r#"[{"name":"a","required":2}]"#).contains("\"required\""));
        assert!(err(r#"[{"name":"a","required":"yes"}]"#).contains("\"required\""));
        assert!(err(r#"[{"name":"a","copies":-1}]"#).contains("\"copies\""));
        assert!(err(r#"[{"name":"a","copies":1.5}]"#).contains("\"copies\""));
        assert!(err(r#"[{"name":"a","copies":4294967296}]"#).contains("\"copies\""));
    }

    #[test]
    fn readme_literal() {
        let (specs, notation) =
            parse_materials_config("[{name:'申请书',required:1},{name:'营业执照',required:0},]")
                .unwrap();
        assert_eq!(notation, Notation::JsLiteral);
        assert_eq!(
            specs,
            vec![spec("申请书", true, None), spec("营业执照", false, None)]
        );
    }

    #[test]
    fn literal_variants() {
        let text = "\n[\n  { name : \"身份证\" , 'required': true, copies: 2, },\n  {\"name\":'户口簿',required:false,$x:'y',},\n  {name:'照片'}\n]\n";
        let (specs, notation) = parse_materials_config(text).unwrap();
        assert_eq!(notation, Notation::JsLiteral);
        assert_eq!(
            specs,
            vec![
                spec("身份证", true, Some(2)),
                spec("户口簿", false, None),
                spec("照片", false, None)
            ]
        );
        assert_eq!(
            parse_materials_config("[ , ]").unwrap_err(),
            "materials_config (JavaScript literal): expected '{' at character 2, found ','"
        );
        assert_eq!(
            parse_materials_config("[{name:'a'},]").unwrap(),
            (vec![spec("a", false, None)], Notation::JsLiteral)
        );
        assert_eq!(
            parse_materials_config("[{},]").unwrap_err(),
            "materials_config (JavaScript literal): material without \"name\" at character 1, found '{'"
        );
    }

    #[test]
    fn literal_escapes() {
        let (specs, _) = parse_materials_config(
            r"[{name:'法定代表人\'身份证\'',required:1},{name:'a\\b\nc\u7533\uD842\uDFB7',required:0},]",
        )
        .unwrap();
        assert_eq!(specs[0].name, "法定代表人'身份证'");
        assert_eq!(specs[1].name, "a\\b\nc申𠮷");
        let (specs, _) = parse_materials_config("[{name:\"说\\\"明\",},]").unwrap();
        assert_eq!(specs[0].name, "说\"明");
    }

    #[test]
    fn literal_errors_name_the_position() {
        let cases = [
            ("", "expected '[' at character 0, found the end of the text"),
            (
                "   ",
                "expected '[' at character 3, found the end of the text",
            ),
            ("{name:'a'}", "expected '[' at character 0, found '{'"),
            (
                "[{name:'a'}",
                "expected ',' or ']' at character 11, found the end of the text",
            ),
            (
                "[{name:'a'};]",
                "expected ',' or ']' at character 11, found ';'",
            ),
            (
                "[{name:'a' required:1}]",
                "expected ',' or '}' at character 11, found 'r'",
            ),
            ("[{name 'a'}]", "expected ':' at character 7, found '''"),
            (
                "[{name:'a}]",
                "unterminated string at character 7, found '''",
            ),
            (
                "[{name:'a\nb'}]",
                "line break inside a string at character 9",
            ),
            (
                "[{name:a}]",
                "expected a string, an integer, true or false at character 7, found 'a'",
            ),
            (
                "[{name:'a',required:2}]",
                "\"required\" must be true, false, 1 or 0 at character 20",
            ),
            (
                "[{name:'a',required:'1'}]",
                "\"required\" must be true, false, 1 or 0 at character 20",
            ),
            ("[{name:1}]", "\"name\" must be a string at character 7"),
            (
                "[{name:'a',copies:true}]",
                "\"copies\" must be an integer at character 18",
            ),
            (
                "[{name:'a',copies:99999999999}]",
                "\"copies\" is too large at character 18",
            ),
            (
                "[{name:'a',copies:1.5}]",
                "expected an integer at character 19",
            ),
            (
                "[{name:'a',copies:-1}]",
                "expected a string, an integer, true or false at character 18",
            ),
            (
                "[{name:'a',copies:99999999999999999999999}]",
                "integer too large at character 18",
            ),
            (
                "[{name:'a'}] x",
                "expected the end of the text after ']' at character 13",
            ),
            (
                "[{name:'a'}]]",
                "expected the end of the text after ']' at character 12",
            ),
            ("[{1:'a'}]", "expected a key at character 2"),
            ("[{name:'\\u12'}]", "invalid \\u escape at character 8"),
            (
                "[{name:'\\uD842'}]",
                "unpaired surrogate in \\u escape at character 8",
            ),
            ("[{name:'a\\", "unterminated string at character 7"),
            ("[['a']]", "expected '{' at character 1"),
        ];
        for (input, message) in cases {
            let e = err(input);
            assert!(e.contains(message), "{input:?}: {e}");
            assert!(
                e.starts_with("materials_config (JavaScript literal): "),
                "{e}"
            );
        }
    }

    #[test]
    fn notation_names() {
        assert_eq!(Notation::Json.as_str(), "json");
        assert_eq!(Notation::JsLiteral.as_str(), "js_literal");
    }
}
