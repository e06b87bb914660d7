//! `t_apply.form_data` and `t_item.form_config` (README §3.11, D12).
//!
//! V1 escaped `\`, `;` and `=` inside values with a backslash; splitting at
//! every `;` would cut such values apart. Texts that break V1's own grammar are
//! still parsed, as far as they go, and marked lenient so the report can show
//! them: a case is never lost because of its form.

/// The pairs of a form, in V1's order (which is the item's `form_config` order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedForm {
    pub pairs: Vec<(String, String)>,
    /// The text departed from V1's grammar somewhere: an unescaped second
    /// `=`, a trailing lone `\`, an escape of another character, a pair
    /// without `=` or with an empty key.
    pub lenient: bool,
}

pub fn parse_form_data(s: &str) -> ParsedForm {
    let mut form = ParsedForm {
        pairs: Vec::new(),
        lenient: false,
    };
    let mut pair = Pair::default();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        let literal = match c {
            ';' => {
                pair.finish(&mut form);
                continue;
            }
            '\\' => match chars.next() {
                Some(next) => {
                    if !matches!(next, '\\' | ';' | '=') {
                        form.lenient = true;
                    }
                    next
                }
                None => {
                    form.lenient = true;
                    '\\'
                }
            },
            '=' if !pair.in_value => {
                pair.started = true;
                pair.in_value = true;
                continue;
            }
            '=' => {
                form.lenient = true;
                '='
            }
            other => other,
        };
        pair.push(literal);
    }
    pair.finish(&mut form);
    form
}

/// The pair being scanned.
#[derive(Default)]
struct Pair {
    key: String,
    value: String,
    in_value: bool,
    /// Anything at all was seen since the last `;`.
    started: bool,
}

impl Pair {
    fn push(&mut self, c: char) {
        self.started = true;
        if self.in_value {
            self.value.push(c);
        } else {
            self.key.push(c);
        }
    }

    fn finish(&mut self, form: &mut ParsedForm) {
        let pair = std::mem::take(self);
        if !pair.started {
            return;
        }
        if !pair.in_value || pair.key.is_empty() {
            form.lenient = true;
        }
        form.pairs.push((pair.key, pair.value));
    }
}

/// `key=label;key=label`, in display order. Labels were typed by V1's
/// administrators and never escaped.
pub fn parse_form_config(s: &str) -> Vec<(String, String)> {
    s.split(';')
        .filter(|segment| !segment.is_empty())
        .map(|segment| {
            let (key, label) = segment.split_once('=').unwrap_or((segment, ""));
            (key.to_string(), label.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn strict(s: &str, want: &[(&str, &str)]) {
        let f = parse_form_data(s);
        assert_eq!(f.pairs, pairs(want), "{s:?}");
        assert!(!f.lenient, "{s:?} should not be lenient");
    }

    fn lenient(s: &str, want: &[(&str, &str)]) {
        let f = parse_form_data(s);
        assert_eq!(f.pairs, pairs(want), "{s:?}");
        assert!(f.lenient, "{s:?} should be lenient");
    }

    #[test]
    fn plain_pairs_in_order() {
        strict(
            "name=张三;id_card=439902197901011236;org_name=;uscc=",
            &[
                ("name", "张三"),
                ("id_card", "439902197901011236"),
                ("org_name", ""),
                ("uscc", ""),
            ],
        );
        strict("b=2;a=1", &[("b", "2"), ("a", "1")]);
    }

    #[test]
    fn escapes() {
        // Column text: a=b\;c;d=e\=f\\
        strict("a=b\\;c;d=e\\=f\\\\", &[("a", "b;c"), ("d", "e=f\\")]);
        strict("addr=长沙\\;岳麓区", &[("addr", "长沙;岳麓区")]);
        strict("x=\\\\;y=1", &[("x", "\\"), ("y", "1")]);
        strict("x=\\\\\\;;y=1", &[("x", "\\;"), ("y", "1")]);
        strict("k\\=1=v", &[("k=1", "v")]);
    }

    #[test]
    fn empty_input_and_segments() {
        strict("", &[]);
        strict(";", &[]);
        strict("a=1;", &[("a", "1")]);
        strict(";;a=1;;b=2;", &[("a", "1"), ("b", "2")]);
    }

    #[test]
    fn values_keep_line_breaks_and_blanks() {
        strict("remark= 第一行\n第二行 ", &[("remark", " 第一行\n第二行 ")]);
    }

    #[test]
    fn second_equals_stays_in_value() {
        lenient("a=b=c;d=e", &[("a", "b=c"), ("d", "e")]);
        lenient("a==", &[("a", "=")]);
    }

    #[test]
    fn trailing_lone_backslash_stays() {
        lenient("a=b\\", &[("a", "b\\")]);
        lenient("a=\\", &[("a", "\\")]);
    }

    #[test]
    fn escape_of_another_character() {
        lenient("a=\\n", &[("a", "n")]);
    }

    #[test]
    fn segment_without_equals() {
        lenient("a=1;orphan;b=2", &[("a", "1"), ("orphan", ""), ("b", "2")]);
        lenient("orphan", &[("orphan", "")]);
    }

    #[test]
    fn empty_key() {
        lenient("=v", &[("", "v")]);
    }

    #[test]
    fn duplicate_keys_are_kept() {
        strict("a=1;a=2", &[("a", "1"), ("a", "2")]);
    }

    #[test]
    fn form_config() {
        assert_eq!(
            parse_form_config("name=姓名;id_card=身份证号;remark=备注"),
            pairs(&[
                ("name", "姓名"),
                ("id_card", "身份证号"),
                ("remark", "备注")
            ])
        );
        assert_eq!(
            parse_form_config(";a=A;;b=B=C;c;"),
            pairs(&[("a", "A"), ("b", "B=C"), ("c", "")])
        );
        assert!(parse_form_config("").is_empty());
        assert_eq!(parse_form_config("a=x\\y"), pairs(&[("a", "x\\y")]));
    }
}
