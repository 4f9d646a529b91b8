//! Custom fields the operator defines (birthday, skin type, shoe size), and
//! the one normaliser every value goes through — from the sidebar, an import
//! or the API — so that segments compare like with like: `038` and `38.0`
//! are both `38`, and `2001/5/1` is `2001-05-01`, which sorts as text.

use crate::calendar::{civil_from_days, parse_date};
use crate::error::Checker;
use crate::ValidationError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Most custom fields one corp may define.
pub const MAX_FIELDS: usize = 50;
const MAX_NAME: usize = 32;
const MAX_LABEL: usize = 32;
const MAX_TEXT_LEN: u32 = 500;
const MAX_OPTIONS: usize = 50;
const MAX_OPTION_CHARS: usize = 32;
/// Longest number as typed; longer is a pasted id, which belongs in a text field.
const MAX_NUMBER_CHARS: usize = 32;

/// What a field holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    /// Free text of at most `max_len` characters (1..=500).
    Text { max_len: u32 },
    /// A decimal number, optionally bounded (inclusive).
    Number { min: Option<f64>, max: Option<f64> },
    /// A calendar date, stored as `YYYY-MM-DD`.
    Date,
    /// One of the operator's options (`干性`, `油性`, `混合`).
    Choice { options: Vec<String> },
}

impl FieldKind {
    /// A segment's comparison value for a field of this kind, in the form
    /// values are stored in (`field:shoe_size>=035` compares with `35`),
    /// or the error code when it is not one (`bad_number`, `bad_date`).
    /// Bounds are not checked: `shoe_size<100` is a fine question. Text and
    /// choice values are taken as they are.
    pub fn operand(&self, value: &str) -> Result<String, &'static str> {
        match self {
            FieldKind::Number { .. } => canonical_number(value.trim())
                .filter(|n| n.len() <= MAX_NUMBER_CHARS && n.parse::<f64>().is_ok_and(f64::is_finite))
                .ok_or("bad_number"),
            FieldKind::Date => canonical_date(value.trim()).ok_or("bad_date"),
            FieldKind::Text { .. } | FieldKind::Choice { .. } => Ok(value.to_string()),
        }
    }
}

/// A custom field definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldDef {
    /// The key segments and the API use: `[A-Za-z][A-Za-z0-9_]{0,31}`.
    pub name: String,
    /// What the console shows, 1..=32 characters (`鞋码`).
    pub label: String,
    pub kind: FieldKind,
}

impl FieldDef {
    /// Checks the definition: a key-shaped name, a label, and a sane kind
    /// (Choice: 1..=50 unique non-empty options of ≤ 32 characters; Text
    /// `max_len` 1..=500; Number finite bounds with `min ≤ max`).
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut c = Checker::default();
        self.check(&mut c, "");
        c.finish(())
    }

    fn check(&self, c: &mut Checker, prefix: &str) {
        let f = |name: &str| format!("{prefix}{name}");
        let name = c.ident(&f("name"), &self.name, MAX_NAME, &['_']);
        if name.chars().next().is_some_and(|ch| ch.is_ascii_digit() || ch == '_') {
            c.push(&f("name"), "invalid_chars", "a field name starts with a letter");
        }
        c.text(&f("label"), &self.label, MAX_LABEL, true);
        match &self.kind {
            FieldKind::Text { max_len } => {
                if !(1..=MAX_TEXT_LEN).contains(max_len) {
                    c.push(&f("kind.max_len"), "out_of_range", format!("max_len must be 1..={MAX_TEXT_LEN}"));
                }
            }
            FieldKind::Number { min, max } => {
                if min.iter().chain(max).any(|x| !x.is_finite()) {
                    c.push(&f("kind.min"), "out_of_range", "bounds must be finite numbers");
                } else if let (Some(lo), Some(hi)) = (min, max) {
                    if lo > hi {
                        c.push(&f("kind.min"), "out_of_range", format!("min {lo} is above max {hi}"));
                    }
                }
            }
            FieldKind::Date => {}
            FieldKind::Choice { options } => check_options(c, &f("kind.options"), options),
        }
    }

    /// Checks and normalises a value for this field, trimmed: Number →
    /// canonical decimal text (`038` → `38`, `38.50` → `38.5`); Date →
    /// `YYYY-MM-DD` (also accepts `2001/5/1` and `2001年5月1日`; refuses
    /// 2026-02-30); Choice → the option as defined; Text → within `max_len`
    /// characters. Full-width digits from a Chinese keyboard are accepted.
    ///
    /// Errors are reported under the field's name with codes `empty`,
    /// `too_long`, `not_a_number`, `out_of_range`, `not_a_date`, `not_an_option`.
    pub fn normalize(&self, value: &str) -> Result<String, ValidationError> {
        let err = |code: &str, message: String| Err(ValidationError::one(&self.name, code, message));
        let v = value.trim();
        if v.is_empty() {
            return err("empty", format!("{} is empty", self.label));
        }
        match &self.kind {
            FieldKind::Text { max_len } => {
                let n = v.chars().count();
                if n > *max_len as usize {
                    return err("too_long", format!("{} is {n} characters; at most {max_len}", self.label));
                }
                Ok(v.to_string())
            }
            FieldKind::Number { min, max } => {
                if v.chars().count() > MAX_NUMBER_CHARS {
                    return err("too_long", format!("{} is too long for a number", self.label));
                }
                let Some(canonical) = canonical_number(v) else {
                    return err("not_a_number", format!("{v:?} is not a number"));
                };
                let x: f64 = canonical.parse().expect("a canonical decimal parses as f64");
                if min.is_some_and(|lo| x < lo) || max.is_some_and(|hi| x > hi) {
                    let bound = |b: &Option<f64>| b.map_or_else(String::new, |b| b.to_string());
                    return err("out_of_range", format!("{canonical} is not in {}..={}", bound(min), bound(max)));
                }
                Ok(canonical)
            }
            FieldKind::Date => match canonical_date(v) {
                Some(date) => Ok(date),
                None => err("not_a_date", format!("{v:?} is not a date (YYYY-MM-DD)")),
            },
            FieldKind::Choice { options } => match options.iter().map(|o| o.trim()).find(|o| *o == v) {
                Some(o) => Ok(o.to_string()),
                None => err("not_an_option", format!("{v:?} is not one of: {}", options.join(", "))),
            },
        }
    }
}

/// Checks a corp's whole set: at most [`MAX_FIELDS`], each valid (reported
/// as `fields[3].label`), names unique.
pub fn validate_fields(defs: &[FieldDef]) -> Result<(), ValidationError> {
    let mut c = Checker::default();
    if defs.len() > MAX_FIELDS {
        c.push("fields", "too_many", format!("{} fields; at most {MAX_FIELDS}", defs.len()));
    }
    let mut seen = BTreeSet::new();
    for (i, d) in defs.iter().enumerate() {
        d.check(&mut c, &format!("fields[{i}]."));
        if !seen.insert(d.name.trim()) {
            c.push(&format!("fields[{i}].name"), "duplicate", format!("field {:?} is defined twice", d.name.trim()));
        }
    }
    c.finish(())
}

fn check_options(c: &mut Checker, field: &str, options: &[String]) {
    if options.is_empty() {
        c.push(field, "required", "a choice needs at least one option");
    } else if options.len() > MAX_OPTIONS {
        c.push(field, "too_many", format!("{} options; at most {MAX_OPTIONS}", options.len()));
    }
    let mut seen = BTreeSet::new();
    for (i, o) in options.iter().enumerate() {
        let o = c.text(&format!("{field}[{i}]"), o, MAX_OPTION_CHARS, true);
        if !o.is_empty() && !seen.insert(o.clone()) {
            c.push(&format!("{field}[{i}]"), "duplicate", format!("option {o:?} appears twice"));
        }
    }
}

/// Full-width digits and signs (`３８．５`) as ASCII; other characters unchanged.
fn half_width(s: &str) -> String {
    s.chars()
        .map(|ch| match ch {
            '０'..='９' => char::from(b'0' + (ch as u32 - '０' as u32) as u8),
            '．' => '.',
            '－' => '-',
            '＋' => '+',
            '／' => '/',
            _ => ch,
        })
        .collect()
}

/// `[+-]digits[.digits]` without leading or trailing zeros; `-0` is `0`.
/// Textual rather than through `f64`, so long values keep every digit.
fn canonical_number(v: &str) -> Option<String> {
    let v = half_width(v);
    let (negative, body) = match v.as_bytes().first()? {
        b'-' => (true, &v[1..]),
        b'+' => (false, &v[1..]),
        _ => (false, v.as_str()),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.len() + frac.len() == 0 || !digits(int) || !digits(frac) {
        return None;
    }
    let int = match int.trim_start_matches('0') {
        "" => "0",
        i => i,
    };
    let frac = frac.trim_end_matches('0');
    let mut out = String::new();
    if negative && (int != "0" || !frac.is_empty()) {
        out.push('-');
    }
    out.push_str(int);
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    Some(out)
}

/// `YYYY-MM-DD` of a real date with a four-digit year: segments compare
/// dates as text, which only orders correctly when every year has four digits.
fn canonical_date(v: &str) -> Option<String> {
    let v = half_width(v);
    let v = v.strip_suffix('日').or_else(|| v.strip_suffix('号')).unwrap_or(&v);
    let v: String = v.chars().map(|ch| if matches!(ch, '/' | '.' | '年' | '月') { '-' } else { ch }).collect();
    if !v.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        return None;
    }
    let (y, m, d) = civil_from_days(parse_date(&v)?);
    (1000..=9999).contains(&y).then(|| format!("{y:04}-{m:02}-{d:02}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn def(kind: FieldKind) -> FieldDef {
        FieldDef { name: "shoe_size".into(), label: "鞋码".into(), kind }
    }

    fn number(min: Option<f64>, max: Option<f64>) -> FieldDef {
        def(FieldKind::Number { min, max })
    }

    fn code(d: &FieldDef, value: &str) -> String {
        let e = d.normalize(value).unwrap_err();
        assert_eq!(e.0[0].field, d.name);
        e.0[0].code.clone()
    }

    #[test]
    fn numbers_become_canonical_text() {
        let n = number(None, None);
        let cases = [
            ("038", "38"),
            (" 38.50 ", "38.5"),
            ("38.", "38"),
            (".5", "0.5"),
            ("-0.0", "0"),
            ("+7", "7"),
            ("-007.250", "-7.25"),
            ("３８．５", "38.5"),
            ("12345678901234567890123", "12345678901234567890123"),
        ];
        for (typed, stored) in cases {
            assert_eq!(n.normalize(typed).unwrap(), stored, "{typed}");
        }
        for bad in ["abc", "1e3", "NaN", "inf", "3,5", ".", "-", "1.2.3", "38码"] {
            assert_eq!(code(&n, bad), "not_a_number", "{bad}");
        }
        assert_eq!(code(&n, &"9".repeat(33)), "too_long");
        assert_eq!(code(&n, "  "), "empty");
    }

    #[test]
    fn number_bounds_are_inclusive() {
        let n = number(Some(34.0), Some(44.0));
        assert_eq!(n.normalize("34").unwrap(), "34");
        assert_eq!(n.normalize("44.0").unwrap(), "44");
        assert_eq!(code(&n, "33.9"), "out_of_range");
        assert_eq!(code(&n, "45"), "out_of_range");
        assert_eq!(number(Some(0.0), None).normalize("-0").unwrap(), "0");
    }

    #[test]
    fn dates_are_real_and_iso() {
        let d = def(FieldKind::Date);
        for (typed, stored) in [
            ("2001-05-01", "2001-05-01"),
            ("2001-5-1", "2001-05-01"),
            ("2001/05/01", "2001-05-01"),
            ("2001.5.1", "2001-05-01"),
            ("2001年5月1日", "2001-05-01"),
            ("２００１年５月１号", "2001-05-01"),
            ("2024-02-29", "2024-02-29"),
        ] {
            assert_eq!(d.normalize(typed).unwrap(), stored, "{typed}");
        }
        for bad in
            ["2026-02-30", "2025-02-29", "2026-13-01", "01-05-2001", "26-05-01", "2001-05", "昨天", "+2001-05-01"]
        {
            assert_eq!(code(&d, bad), "not_a_date", "{bad}");
        }
    }

    #[test]
    fn segment_operands_fit_the_kind() {
        let n = FieldKind::Number { min: Some(34.0), max: Some(44.0) };
        assert_eq!(n.operand("035"), Ok("35".into()));
        assert_eq!(n.operand("100"), Ok("100".into()), "bounds are for values, not questions");
        for bad in ["abc", "NaN", "inf", "=35", "", "1e3"] {
            assert_eq!(n.operand(bad), Err("bad_number"), "{bad}");
        }
        assert_eq!(FieldKind::Date.operand("2000/1/1"), Ok("2000-01-01".into()));
        for bad in ["notadate", "2026-02-30", "35"] {
            assert_eq!(FieldKind::Date.operand(bad), Err("bad_date"), "{bad}");
        }
        assert_eq!(FieldKind::Text { max_len: 5 }.operand("anything at all"), Ok("anything at all".into()));
    }

    #[test]
    fn choices_and_text() {
        let skin = def(FieldKind::Choice { options: vec!["干性".into(), "油性".into(), " 混合 ".into()] });
        assert_eq!(skin.normalize(" 干性 ").unwrap(), "干性");
        assert_eq!(skin.normalize("混合").unwrap(), "混合");
        assert_eq!(code(&skin, "中性"), "not_an_option");
        let note = def(FieldKind::Text { max_len: 4 });
        assert_eq!(note.normalize(" 喜欢粉色 ").unwrap(), "喜欢粉色");
        assert_eq!(code(&note, "喜欢粉色系"), "too_long");
        assert_eq!(code(&note, ""), "empty");
    }

    #[test]
    fn definitions_are_checked() {
        assert!(number(Some(1.0), Some(1.0)).validate().is_ok());
        assert!(def(FieldKind::Text { max_len: 500 }).validate().is_ok());
        let codes = |d: &FieldDef| -> Vec<(String, String)> {
            d.validate().unwrap_err().0.into_iter().map(|e| (e.field, e.code)).collect()
        };
        let pair = |f: &str, c: &str| (f.to_string(), c.to_string());
        let bad = FieldDef { name: "9lives".into(), label: "".into(), kind: FieldKind::Text { max_len: 0 } };
        assert_eq!(
            codes(&bad),
            [pair("name", "invalid_chars"), pair("label", "required"), pair("kind.max_len", "out_of_range")]
        );
        let bad = FieldDef { name: "鞋码".into(), ..number(Some(2.0), Some(1.0)) };
        assert_eq!(codes(&bad), [pair("name", "invalid_chars"), pair("kind.min", "out_of_range")]);
        assert_eq!(codes(&number(Some(f64::NAN), None)), [pair("kind.min", "out_of_range")]);
        let long = FieldDef { name: "a".repeat(33), ..number(None, None) };
        assert_eq!(codes(&long), [pair("name", "too_long")]);
        let options = |o: &[&str]| def(FieldKind::Choice { options: o.iter().map(|s| s.to_string()).collect() });
        assert_eq!(codes(&options(&[])), [pair("kind.options", "required")]);
        assert_eq!(
            codes(&options(&["干性", " 干性", "", &"长".repeat(33)])),
            [
                pair("kind.options[1]", "duplicate"),
                pair("kind.options[2]", "required"),
                pair("kind.options[3]", "too_long")
            ]
        );
        let fifty_one: Vec<String> = (0..51).map(|i| i.to_string()).collect();
        let refs: Vec<&str> = fifty_one.iter().map(String::as_str).collect();
        assert_eq!(codes(&options(&refs)), [pair("kind.options", "too_many")]);
        assert!(options(&refs[..50]).validate().is_ok());
    }

    #[test]
    fn a_set_has_unique_names_and_a_limit() {
        let size = number(None, None);
        let birthday = FieldDef { name: "birthday".into(), label: "生日".into(), kind: FieldKind::Date };
        assert!(validate_fields(&[size.clone(), birthday.clone()]).is_ok());
        let e = validate_fields(&[size.clone(), birthday, size.clone()]).unwrap_err();
        assert_eq!((e.0[0].field.as_str(), e.0[0].code.as_str()), ("fields[2].name", "duplicate"));
        let many: Vec<FieldDef> =
            (0..=MAX_FIELDS).map(|i| FieldDef { name: format!("f{i}"), ..size.clone() }).collect();
        assert_eq!(validate_fields(&many).unwrap_err().0[0].code, "too_many");
    }

    #[test]
    fn kind_wire_form() {
        let v = serde_json::to_value(FieldKind::Date).unwrap();
        assert_eq!(v, serde_json::json!("date"));
        let k: FieldKind = serde_json::from_value(serde_json::json!({"choice": {"options": ["a"]}})).unwrap();
        assert_eq!(k, FieldKind::Choice { options: vec!["a".into()] });
    }

    proptest! {
        #[test]
        fn normalising_is_idempotent_and_keeps_the_value(int in 0u64..1_000_000, frac in 0u32..1000, zeros in 0usize..3, neg: bool) {
            let n = number(None, None);
            let typed = format!("{}{}{int}.{frac:03}", if neg { "-" } else { "" }, "0".repeat(zeros));
            let once = n.normalize(&typed).unwrap();
            prop_assert_eq!(n.normalize(&once).unwrap(), once.clone());
            let want: f64 = typed.parse().unwrap();
            prop_assert_eq!(once.parse::<f64>().unwrap(), want);
        }

        #[test]
        fn every_real_date_round_trips(day in -300_000i64..2_900_000) {
            let (y, m, d) = civil_from_days(day);
            let text = format!("{y:04}-{m:02}-{d:02}");
            let got = def(FieldKind::Date).normalize(&text);
            if (1000..=9999).contains(&y) {
                prop_assert_eq!(got.unwrap(), text);
            } else {
                prop_assert!(got.is_err());
            }
        }
    }
}
