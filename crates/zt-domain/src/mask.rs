//! Masking of personal information wherever the full value is not needed
//! (GB/T 35273 去标识化 in display): pages, API answers for staff, logs.

use serde_json::{Map, Value};

use crate::ids::{IdNumber, Mobile};
use crate::item::{FieldType, FormField};

/// `4399**********1236`; anything that is not a valid number keeps only its
/// first and last four characters.
pub fn id_number(s: &str) -> String {
    match IdNumber::parse(s) {
        Ok(n) => n.masked(),
        Err(_) => keep_ends(s, 4, 4),
    }
}

/// `138****8000`; a landline keeps its last four digits.
pub fn phone(s: &str) -> String {
    match Mobile::parse(s) {
        Ok(m) => m.masked(),
        Err(_) => keep_ends(s, 0, 4),
    }
}

/// The district part stays (`青岚市示范区****`): enough to route a case,
/// not enough to find a door.
pub fn address(s: &str) -> String {
    let head: String = s.chars().take(6).collect();
    if s.chars().count() <= 6 {
        "****".into()
    } else {
        format!("{head}****")
    }
}

/// A person's name shown to the public (证照核验): `李*`, `欧**燕`; a
/// one-character name stays as it is.
pub fn person_name(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    match chars.len() {
        0 | 1 => s.to_string(),
        2 => format!("{}*", chars[0]),
        n => format!("{}{}{}", chars[0], "*".repeat(n - 2), chars[n - 1]),
    }
}

fn keep_ends(s: &str, head: usize, tail: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= head + tail {
        return "*".repeat(chars.len().max(4));
    }
    let mid = chars.len() - head - tail;
    let mut out: String = chars[..head].iter().collect();
    out.push_str(&"*".repeat(mid));
    out.extend(&chars[chars.len() - tail..]);
    out
}

/// A free-text field that holds an address, by its key or label.
pub fn is_address_field(f: &FormField) -> bool {
    let key = f.key.to_ascii_lowercase();
    matches!(f.field_type, FieldType::Text | FieldType::Textarea)
        && (key.contains("address")
            || key.contains("addr")
            || ["地址", "住址", "住所", "地点"]
                .iter()
                .any(|w| f.label.contains(w)))
}

/// How a field's value is masked, if it is personal information.
pub fn masker(f: &FormField) -> Option<fn(&str) -> String> {
    match f.field_type {
        FieldType::IdNumber => Some(id_number),
        FieldType::Phone => Some(phone),
        _ if is_address_field(f) => Some(address),
        _ => None,
    }
}

/// Masks the personal information of a form in place; returns the keys of
/// the fields it masked.
pub fn mask_form(fields: &[FormField], form: &mut Map<String, Value>) -> Vec<String> {
    let mut masked = Vec::new();
    for f in fields {
        let Some(m) = masker(f) else { continue };
        if let Some(Value::String(v)) = form.get_mut(&f.key) {
            if !v.is_empty() {
                *v = m(v);
                masked.push(f.key.clone());
            }
        }
    }
    masked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_their_first_and_last_character() {
        assert_eq!(person_name("李明"), "李*");
        assert_eq!(person_name("欧阳晓燕"), "欧**燕");
        assert_eq!(person_name("张三丰"), "张*丰");
        assert_eq!(person_name("李"), "李");
        assert_eq!(person_name(""), "");
    }

    fn field(key: &str, label: &str, t: FieldType) -> FormField {
        serde_json::from_value(serde_json::json!({
            "key": key, "label": label,
            "type": serde_json::to_value(t).unwrap()
        }))
        .unwrap()
    }

    #[test]
    fn values_are_masked_by_kind() {
        assert_eq!(id_number("439902198503170025"), "4399**********0025");
        assert_eq!(id_number("12345678901"), "1234***8901");
        assert_eq!(phone("13800138000"), "138****8000");
        assert_eq!(phone("0755-83456789"), "*********6789");
        assert_eq!(address("青岚市示范区人民路88号"), "青岚市示范区****");
        assert_eq!(address("北京"), "****");
    }

    #[test]
    fn forms_are_masked_field_by_field() {
        let fields = vec![
            field("applicant_name", "申请人姓名", FieldType::Text),
            field("id_number", "身份证号", FieldType::IdNumber),
            field("phone", "联系电话", FieldType::Phone),
            field("site", "经营场所地址", FieldType::Textarea),
            field("note", "说明", FieldType::Textarea),
        ];
        let mut form: Map<String, Value> = serde_json::from_value(serde_json::json!({
            "applicant_name": "李明", "id_number": "439902198503170025", "phone": "13800138000",
            "site": "青岚市示范区人民路88号", "note": "无"
        }))
        .unwrap();
        let keys = mask_form(&fields, &mut form);
        assert_eq!(keys, vec!["id_number", "phone", "site"]);
        assert_eq!(form["id_number"], "4399**********0025");
        assert_eq!(form["phone"], "138****8000");
        assert_eq!(form["site"], "青岚市示范区****");
        assert_eq!(form["applicant_name"], "李明");
        assert_eq!(form["note"], "无");
    }
}
