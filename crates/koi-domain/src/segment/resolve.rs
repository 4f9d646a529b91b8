//! An expression checked against what a corp has. Conditions name tags and
//! customer groups (by id or by name), stores, staff, channel codes and
//! custom fields; a
//! name the corp does not have is a [`ParseError`] that points at the part
//! of the text naming it, which is what the console builder underlines.
//! The engine reads the names ([`Refs`]); the rules are here.

use super::{Cond, Expr, GroupRef, ParseError};
use crate::customer::FieldKind;
use std::collections::{HashMap, HashSet};

/// Longest text expression taken (200 conditions fit well within it).
pub const MAX_TEXT: usize = 8_000;

/// What an expression may name in one corp.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Refs {
    /// Tag id → name; names repeat across tag groups.
    pub tags: Vec<(String, String)>,
    pub stores: HashSet<i64>,
    pub staff: HashSet<i64>,
    pub codes: HashSet<i64>,
    /// Custom field name → what it holds: a comparison's value must fit it.
    pub fields: HashMap<String, FieldKind>,
    /// Customer group id → name; names may repeat (WeCom allows it).
    pub groups: Vec<(i64, String)>,
}

impl Refs {
    /// Parses the console's text syntax and checks it (see [`Refs::check`]).
    pub fn parse(&self, text: &str) -> Result<Expr, ParseError> {
        if text.chars().count() > MAX_TEXT {
            let message = format!("the expression is over {MAX_TEXT} characters");
            return Err(ParseError::new("too_long", MAX_TEXT, "", message));
        }
        self.check(Expr::parse(text)?, text)
    }

    /// The expression as an operator reads it: each tag and group by its
    /// name where that name is the corp's only tag (group) so named
    /// (parsing it back gives the same id); an ambiguous or unknown one
    /// stays an id.
    pub fn named(&self, expr: &Expr) -> String {
        let mut e = expr.clone();
        visit_conds(&mut e, &mut |c| match c {
            Cond::Tag(t) => {
                if let Some(name) = unique_name(&self.tags, t) {
                    *t = name;
                }
            }
            Cond::Group(g) => {
                if let GroupRef::Id(id) = g {
                    if let Some(name) = unique_name(&self.groups, id) {
                        *g = GroupRef::Name(name);
                    }
                }
            }
            _ => {}
        });
        e.to_string()
    }

    /// Checks an expression against the corp: tag names become ids, and a
    /// number or date field's comparison value its stored form; unknown
    /// tags, stores, staff, codes and fields, and a value that is not a
    /// number (or date) for a number (or date) field, are errors. `text` is
    /// what the expression was parsed from, for the error's offset (empty
    /// for JSON, where every offset is 0).
    pub fn check(&self, mut expr: Expr, text: &str) -> Result<Expr, ParseError> {
        let mut err = None;
        visit_conds(&mut expr, &mut |c| {
            if err.is_some() {
                return;
            }
            let bad = |code: &'static str, prefixes: &[&str], value: String, what: &str| {
                let offset = locate(text, prefixes, &value);
                Some(ParseError::new(code, offset, &value, format!("{what} {value:?}")))
            };
            err = match c {
                Cond::Tag(t) if self.tags.iter().any(|(id, _)| id == t) => None,
                Cond::Tag(t) => {
                    let named: Vec<_> = self.tags.iter().filter(|(_, name)| name == t).collect();
                    match named.as_slice() {
                        [(id, _)] => {
                            *t = id.clone();
                            None
                        }
                        [] => bad("unknown_tag", &["tag:", "tag:\""], t.clone(), "no tag with id or name"),
                        _ => bad("ambiguous_tag", &["tag:", "tag:\""], t.clone(), "several groups have a tag named"),
                    }
                }
                Cond::Store(s) | Cond::WithinKm { store_id: s, .. } if !self.stores.contains(s) => {
                    bad("unknown_store", &["store:", "within:"], s.to_string(), "no store")
                }
                Cond::Staff(s) if !self.staff.contains(s) => {
                    bad("unknown_staff", &["staff:"], s.to_string(), "no staff member")
                }
                Cond::Code(s) if !self.codes.contains(s) => {
                    bad("unknown_code", &["code:"], s.to_string(), "no channel code")
                }
                Cond::Group(g) => self.check_group(g, text),
                Cond::Field { name, op, value } => match self.fields.get(name) {
                    None => bad("unknown_field", &["field:"], name.clone(), "no custom field"),
                    Some(kind) if op.compares() => match kind.operand(value) {
                        Ok(v) => {
                            *value = v;
                            None
                        }
                        Err(code) => {
                            let at = format!("field:{name}{}", op.symbol());
                            let offset = locate(text, &[&at, &format!("{at}\"")], value);
                            let what = if code == "bad_date" { "a date" } else { "a number" };
                            let message = format!("{value:?} is not {what}, as field {name:?} needs");
                            Some(ParseError::new(code, offset, value, message))
                        }
                    },
                    Some(_) => None,
                },
                _ => None,
            };
        });
        match err {
            Some(e) => Err(e),
            None => Ok(expr),
        }
    }
}

impl Refs {
    /// A group named by id must exist; one named by name becomes the id of
    /// the one group so named.
    fn check_group(&self, g: &mut GroupRef, text: &str) -> Option<ParseError> {
        let (code, value, what) = match g {
            GroupRef::Id(id) if self.groups.iter().any(|(k, _)| k == id) => return None,
            GroupRef::Id(id) => ("unknown_group", id.to_string(), "no customer group"),
            GroupRef::Name(name) => {
                let named: Vec<i64> = self.groups.iter().filter(|(_, n)| n == name).map(|(k, _)| *k).collect();
                match named.as_slice() {
                    [id] => {
                        *g = GroupRef::Id(*id);
                        return None;
                    }
                    [] => ("unknown_group", name.clone(), "no customer group named"),
                    _ => ("ambiguous_group", name.clone(), "several customer groups are named"),
                }
            }
        };
        let offset = locate(text, &["group:\"", "group:"], &value);
        Some(ParseError::new(code, offset, &value, format!("{what} {value:?}")))
    }
}

/// The name of the entry with this id, when no other entry shares it.
fn unique_name<K: PartialEq>(entries: &[(K, String)], id: &K) -> Option<String> {
    let (_, name) = entries.iter().find(|(k, _)| k == id)?;
    let unique = entries.iter().filter(|(_, n)| n == name).count() == 1;
    (unique && !name.is_empty()).then(|| name.clone())
}

/// Where `value` stands in the text after one of the prefixes (any case),
/// else wherever it first appears, else the start: what the builder
/// underlines.
fn locate(text: &str, prefixes: &[&str], value: &str) -> usize {
    let lower = text.to_ascii_lowercase();
    prefixes
        .iter()
        .find_map(|p| lower.find(&format!("{p}{value}").to_ascii_lowercase()).map(|at| at + p.len()))
        .or_else(|| text.find(value))
        .unwrap_or(0)
}

/// Calls `f` on every condition of the expression.
fn visit_conds(e: &mut Expr, f: &mut impl FnMut(&mut Cond)) {
    match e {
        Expr::And(v) | Expr::Or(v) => v.iter_mut().for_each(|e| visit_conds(e, f)),
        Expr::Not(e) => visit_conds(e, f),
        Expr::Cond(c) => f(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_print_by_name_and_read_back_to_their_ids() {
        let r = refs();
        let e = r.parse("tag:etVIP AND NOT tag:etS1 AND store:1").unwrap();
        let named = r.named(&e);
        assert_eq!(named, "tag:VIP AND NOT tag:etS1 AND store:1", "春装 is in two groups: its id stays");
        assert_eq!(r.parse(&named).unwrap(), e, "the names resolve to the same ids");
        let spaced = Refs { tags: vec![("etX".into(), "金卡 VIP".into())], ..Refs::default() };
        let e = spaced.parse("tag:etX").unwrap();
        assert_eq!(spaced.named(&e), "tag:\"金卡 VIP\"");
        assert_eq!(spaced.parse(&spaced.named(&e)).unwrap(), e);
    }

    /// Tags VIP (one group) and 春装 (in two groups), store 1, staff 7,
    /// code 9, field `size`.
    fn refs() -> Refs {
        Refs {
            tags: vec![("etVIP".into(), "VIP".into()), ("etS1".into(), "春装".into()), ("etS2".into(), "春装".into())],
            stores: [1].into(),
            staff: [7].into(),
            codes: [9].into(),
            fields: [
                ("size".to_string(), FieldKind::Number { min: None, max: None }),
                ("birthday".to_string(), FieldKind::Date),
                ("note".to_string(), FieldKind::Text { max_len: 50 }),
            ]
            .into(),
            groups: vec![],
        }
    }

    #[test]
    fn groups_by_id_or_unique_name() {
        let r = Refs {
            groups: vec![(3, "VIP 1群".into()), (4, "门店群".into()), (5, "门店群".into())],
            ..Refs::default()
        };
        let e = r.parse("group:\"VIP 1群\" OR group:4 AND groupkind:paid AND in_groups>=2").unwrap();
        assert_eq!(e.to_string(), "group:3 OR group:4 AND groupkind:paid AND in_groups>=2");
        let named = r.named(&e);
        assert_eq!(named, "group:\"VIP 1群\" OR group:4 AND groupkind:paid AND in_groups>=2", "门店群 is two groups");
        assert_eq!(r.parse(&named).unwrap(), e);
        let err = r.parse("stage:new AND group:9").unwrap_err();
        assert_eq!((err.code, err.offset, err.token.as_str()), ("unknown_group", 20, "9"));
        let err = r.parse("group:门店群").unwrap_err();
        assert_eq!((err.code, err.offset), ("ambiguous_group", 6));
        let err = r.parse("group:\"Gold\"").unwrap_err();
        assert_eq!((err.code, err.offset, err.token.as_str()), ("unknown_group", 7, "Gold"));
    }

    #[test]
    fn errors_point_at_the_value_after_its_prefix() {
        assert_eq!(locate("tag:etA1 AND store:1", &["store:"], "1"), 19);
        assert_eq!(locate("TAG:\"春 装\"", &["tag:", "tag:\""], "春 装"), 5);
        assert_eq!(locate("x", &["store:"], "9"), 0);
    }

    #[test]
    fn a_tag_name_becomes_its_id_and_an_id_stays() {
        let e = refs().parse("tag:VIP AND NOT tag:etS1").unwrap();
        assert_eq!(e, Expr::parse("tag:etVIP AND NOT tag:etS1").unwrap());
        assert_eq!(e.to_string(), "tag:etVIP AND NOT tag:etS1");
    }

    #[test]
    fn an_unknown_tag_is_an_error_at_its_name() {
        let e = refs().parse("stage:new AND tag:Gold").unwrap_err();
        assert_eq!((e.code, e.offset, e.token.as_str()), ("unknown_tag", 18, "Gold"));
        assert_eq!(e.message, "no tag with id or name \"Gold\"");
        let e = refs().parse("TAG:\"春 装\"").unwrap_err();
        assert_eq!((e.code, e.offset), ("unknown_tag", 5), "quoted, any case of the prefix");
    }

    #[test]
    fn a_name_two_groups_share_is_ambiguous() {
        let e = refs().parse("tag:VIP OR tag:春装").unwrap_err();
        assert_eq!((e.code, e.offset, e.token.as_str()), ("ambiguous_tag", 15, "春装"));
    }

    #[test]
    fn stores_staff_codes_and_fields_must_exist() {
        let r = refs();
        assert!(r.parse("store:1 AND staff:7 AND code:9 AND field:size=38 AND within:1:3km").is_ok());
        let cases = [
            ("tag:VIP AND store:2", "unknown_store", 18),
            ("within:4:3km", "unknown_store", 7),
            ("staff:8", "unknown_staff", 6),
            ("stage:new OR code:1", "unknown_code", 18),
            ("field:shoe=38", "unknown_field", 6),
        ];
        for (text, code, offset) in cases {
            let e = r.parse(text).unwrap_err();
            assert_eq!((e.code, e.offset), (code, offset), "{text}");
        }
    }

    #[test]
    fn a_comparison_value_must_fit_the_fields_kind() {
        let r = refs();
        for (text, code, offset, token) in [
            ("field:size<abc", "bad_number", 11, "abc"),
            ("stage:new AND field:size<NaN", "bad_number", 25, "NaN"),
            ("field:size>=\"=35\"", "bad_number", 13, "=35"),
            ("field:birthday<notadate", "bad_date", 15, "notadate"),
            ("FIELD:birthday!=35", "bad_date", 16, "35"),
        ] {
            let e = r.parse(text).unwrap_err();
            assert_eq!((e.code, e.offset, e.token.as_str()), (code, offset, token), "{text}");
        }
        // Values take the stored form; `~` and text fields take any value.
        assert_eq!(r.parse("field:size>=035").unwrap().to_string(), "field:size>=35");
        assert_eq!(r.parse("field:birthday<=2000/1/1").unwrap().to_string(), "field:birthday<=2000-01-01");
        assert_eq!(
            r.parse("field:size~abc AND field:note<abc").unwrap().to_string(),
            "field:size~abc AND field:note<abc"
        );
        let json = Expr::from(Cond::Field { name: "size".into(), op: super::super::FieldOp::Ge, value: "x".into() });
        assert_eq!(r.check(json, "").unwrap_err().code, "bad_number");
    }

    #[test]
    fn the_first_unknown_part_is_the_one_reported() {
        let e = refs().parse("store:5 AND staff:6").unwrap_err();
        assert_eq!((e.code, e.token.as_str()), ("unknown_store", "5"));
    }

    #[test]
    fn json_has_no_text_so_errors_point_at_the_start() {
        let e = refs().check(Cond::Store(3).into(), "").unwrap_err();
        assert_eq!((e.code, e.offset), ("unknown_store", 0));
        let named = refs().check(Cond::Tag("VIP".into()).into(), "").unwrap();
        assert_eq!(named, Cond::Tag("etVIP".into()).into());
    }

    #[test]
    fn text_over_the_limit_is_refused_before_parsing() {
        let e = refs().parse(&"(".repeat(MAX_TEXT + 1)).unwrap_err();
        assert_eq!((e.code, e.offset), ("too_long", MAX_TEXT));
        assert_eq!(Refs::default().parse("stage:new").unwrap().to_string(), "stage:new");
    }
}
