//! The demo catalogue (`data/demo/*.json`) is seeded by `zhengtong demo` and by
//! the integration harness; a definition that fails `check()` there only shows
//! up at start-up. These tests hold the data to the same rules here, cheaply.

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::{Map, Value};
use zt_domain::item::{is_region_code, ApplicantKind, FieldType, ItemDefinition, SignMode};
use zt_domain::role::Role;

const DEPARTMENTS: &str = include_str!("../../../data/demo/departments.json");
const ITEMS: &str = include_str!("../../../data/demo/items.json");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoDept {
    code: String,
    name: String,
    region_code: String,
    parent: Option<String>,
    /// The seal of its licences: 14 digits, its region code first.
    seal_code: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoItem {
    code: String,
    impl_code: String,
    dept: String,
    definition: ItemDefinition,
}

fn departments() -> Vec<DemoDept> {
    serde_json::from_str(DEPARTMENTS).expect("departments.json parses")
}

fn items() -> Vec<DemoItem> {
    serde_json::from_str(ITEMS).expect("items.json parses into ItemDefinition")
}

/// The rule `zt_app::admin::create_department` applies to department codes.
fn is_dept_code(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 20
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The rule `zt_app::catalogue` applies to item and implementation codes.
fn is_item_code(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[test]
fn departments_form_a_tree() {
    let depts = departments();
    assert!(depts.len() >= 5, "at least five departments");
    let codes: BTreeSet<&str> = depts.iter().map(|d| d.code.as_str()).collect();
    assert_eq!(codes.len(), depts.len(), "department codes are unique");
    let mut roots = 0;
    for d in &depts {
        assert!(is_dept_code(&d.code), "department code {:?}", d.code);
        assert!(!d.name.trim().is_empty(), "{} has a name", d.code);
        assert!(d.name.chars().count() <= 100, "{} name too long", d.code);
        assert!(
            is_region_code(&d.region_code),
            "{} region code {:?}",
            d.code,
            d.region_code
        );
        if let Some(seal) = &d.seal_code {
            assert!(
                seal.len() == 14
                    && seal.bytes().all(|b| b.is_ascii_digit())
                    && seal.starts_with(&d.region_code),
                "{} seal code {seal:?}",
                d.code
            );
        }
        match &d.parent {
            None => roots += 1,
            Some(p) => {
                assert!(codes.contains(p.as_str()), "{}: parent {p} exists", d.code);
                assert_ne!(p, &d.code, "{} is not its own parent", d.code);
            }
        }
    }
    assert_eq!(roots, 1, "exactly one root department");
    // No cycles: every chain of parents reaches the root.
    for d in &depts {
        let mut at = d;
        for _ in 0..=depts.len() {
            match &at.parent {
                None => break,
                Some(p) => at = depts.iter().find(|x| &x.code == p).expect("parent"),
            }
        }
        assert!(
            at.parent.is_none(),
            "{}: parent chain ends at the root",
            d.code
        );
    }
    // The integration suite relies on these two.
    assert!(depts
        .iter()
        .any(|d| d.code == "SCJG" && d.parent.as_deref() == Some("ZWB")));
}

#[test]
fn items_pass_the_publishing_check() {
    let items = items();
    assert!(items.len() >= 8, "at least eight demo items");
    let depts = departments();
    let dept_codes: BTreeSet<&str> = depts.iter().map(|d| d.code.as_str()).collect();
    let mut codes = BTreeSet::new();
    let mut impl_codes = BTreeSet::new();
    for it in &items {
        let def = &it.definition;
        assert!(is_item_code(&it.code), "item code {:?}", it.code);
        assert!(is_item_code(&it.impl_code), "impl code {:?}", it.impl_code);
        assert!(
            !it.code.starts_with("TEST-"),
            "{}: TEST- codes are the integration harness's",
            it.code
        );
        assert!(
            codes.insert(it.code.as_str()),
            "duplicate item code {}",
            it.code
        );
        assert!(
            impl_codes.insert(it.impl_code.as_str()),
            "duplicate impl code {}",
            it.impl_code
        );
        assert!(
            dept_codes.contains(it.dept.as_str()),
            "{}: department {} exists",
            it.code,
            it.dept
        );
        if let Err(e) = def.check() {
            panic!("{} fails check(): {e}", it.code);
        }

        // Content the catalogue pages show.
        let g = &def.guide;
        for (what, v) in [
            ("summary", &g.summary),
            ("place", &g.place),
            ("hours", &g.hours),
            ("phone", &g.phone),
            ("result", &g.result),
        ] {
            assert!(
                !v.trim().is_empty(),
                "{}: guide.{what} is filled in",
                it.code
            );
        }
        assert!(!g.conditions.is_empty(), "{}: conditions", it.code);
        assert!(!g.legal_basis.is_empty(), "{}: legal basis", it.code);
        assert!(
            g.legal_basis.iter().all(|b| b.starts_with('《')),
            "{}: legal basis cites a named law",
            it.code
        );
        assert!(!g.faq.is_empty(), "{}: faq", it.code);
        assert!(
            (5..=10).contains(&def.form_fields.len()),
            "{}: 5 to 10 form fields",
            it.code
        );
        assert!(
            (3..=6).contains(&def.materials.len()),
            "{}: 3 to 6 materials",
            it.code
        );
        assert!(
            def.materials.iter().any(|m| m.required),
            "{}: some material is required",
            it.code
        );
        let kinds: BTreeSet<_> = def
            .applicant_kinds
            .iter()
            .map(|k| format!("{k:?}"))
            .collect();
        assert_eq!(kinds.len(), def.applicant_kinds.len(), "{}: kinds", it.code);

        // Identity and contact fields fit the applicants.
        let has = |t: FieldType| def.form_fields.iter().any(|f| f.field_type == t);
        assert!(has(FieldType::Phone), "{}: a phone field", it.code);
        if def.applicant_kinds.contains(&ApplicantKind::Person) {
            assert!(has(FieldType::IdNumber), "{}: an id_number field", it.code);
        }
        if def.applicant_kinds.contains(&ApplicantKind::Organisation) {
            assert!(has(FieldType::Uscc), "{}: a uscc field", it.code);
        }
        if let Some(level) = &def.min_real_name_level {
            assert!(
                ["L1", "L2", "L3"].contains(&level.as_str()),
                "{}: real-name level {level}",
                it.code
            );
        }
        // The demo seeder denies, suspends and asks for supplements at the
        // first step as a reviewer.
        assert!(
            def.steps[0].roles.contains(&Role::Reviewer),
            "{}: a reviewer acts at the first step",
            it.code
        );
    }
}

#[test]
fn both_sign_modes_are_demonstrated() {
    let items = items();
    assert!(
        items.iter().any(|it| it
            .definition
            .steps
            .iter()
            .any(|s| s.mode == SignMode::All && s.roles.len() > 1)),
        "some item has a 会签 step"
    );
    assert!(
        items.iter().any(|it| it
            .definition
            .steps
            .iter()
            .any(|s| s.mode == SignMode::Any && s.roles.len() > 1)),
        "some item has a 或签 step with several roles"
    );
    assert!(
        items.iter().any(|it| it.definition.steps.len() == 1),
        "some item has a single step"
    );
}

/// A value that the field's validation accepts, like the demo seeder's.
fn sample(t: FieldType, options: &[String]) -> Value {
    let s = |v: &str| Value::String(v.to_string());
    match t {
        FieldType::Text => s("青岚市示范科技有限公司（演示）"),
        FieldType::Textarea => s("演示数据：第一行\n第二行"),
        FieldType::Number => Value::from(12),
        FieldType::Amount => s("30000.00"),
        FieldType::Date => s("2026-12-01"),
        FieldType::Select => s(options.first().map(String::as_str).unwrap_or("")),
        FieldType::Phone => s("13800138000"),
        FieldType::IdNumber => s("439902198503170025"),
        FieldType::Uscc => s("91439902MA4L8E5K08"),
        FieldType::Region => s("370202"),
    }
}

#[test]
fn sample_forms_validate() {
    for it in items() {
        let def = &it.definition;
        let full: Map<String, Value> = def
            .form_fields
            .iter()
            .map(|f| (f.key.clone(), sample(f.field_type, &f.options)))
            .collect();
        if let Err(e) = def.validate_form(&full) {
            panic!("{}: a complete sample form is refused: {e:?}", it.code);
        }
        let required: Map<String, Value> = def
            .form_fields
            .iter()
            .filter(|f| f.required)
            .map(|f| (f.key.clone(), sample(f.field_type, &f.options)))
            .collect();
        if let Err(e) = def.validate_form(&required) {
            panic!("{}: the required fields alone are refused: {e:?}", it.code);
        }
        assert!(
            def.validate_form(&Map::new()).is_err(),
            "{}: an empty form is refused",
            it.code
        );
    }
}
