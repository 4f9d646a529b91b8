//! Segments (人群): a boolean expression over what koi knows about a
//! customer — tags, stores, guides, channel codes, lifecycle stage, RFM bands,
//! dates, orders, spend, influence, custom fields, distance to a store and
//! the customer groups (社群) they are in — and the
//! in-memory index that answers "exactly how many, and who" while the
//! operator is still typing.
//!
//! The expression has two spellings of one AST: JSON for the API
//! (`{"and":[{"tag":"et1"},{"not":{"stage":"super"}}]}`) and a text syntax
//! for the console builder (`tag:et1 AND NOT stage:super`). The text printer
//! is canonical: what it prints parses back to the same [`Expr`].
//!
//! | file | room for |
//! |---|---|
//! | `mod.rs` | the AST: [`Expr`], [`Cond`], [`Stage`], [`RfmDim`], [`FieldOp`], limits |
//! | `text.rs` | the console syntax: [`Expr::parse`], [`ParseError`], `Display` |
//! | `facts.rs` | [`CustomerFacts`] and the naive [`matches`], the index's reference |
//! | `index/` | [`SegmentIndex`]: RoaringBitmaps over dense per-corp ids |
//! | `resolve.rs` | [`Refs`]: an expression checked against the corp's tags, stores, staff, codes, fields |

mod facts;
mod index;
mod resolve;
mod text;

pub use facts::{matches, matches_cond, CustomerFacts, StoreLocations};
pub use index::{SegmentIndex, Value};
pub use resolve::{Refs, MAX_TEXT};
pub use text::ParseError;

use crate::error::Checker;
use crate::group::GroupKind;
use crate::{Millis, ValidationError};
use serde::{Deserialize, Serialize};

/// Deepest nesting an expression may have (a condition alone is depth 1).
/// Builders produce 3–4; anything near this is a script abusing the API, and
/// the limit also keeps the recursive parser and evaluator off the stack's end.
pub const MAX_DEPTH: usize = 32;
/// Most conditions (leaves) one expression may hold.
pub const MAX_CONDITIONS: usize = 200;

/// Lifecycle stage, the seeds' five steps of "raising fish" (养鱼).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// 引流: just added.
    #[default]
    New,
    /// 蓄水: kept in the pool, not yet engaged.
    Stored,
    /// 活水: engages (replies, opens, joins groups).
    Active,
    /// 养鱼: has bought.
    Converted,
    /// 养大鱼: repeat buyer and influencer.
    Super,
}

impl Stage {
    pub const ALL: [Stage; 5] = [Stage::New, Stage::Stored, Stage::Active, Stage::Converted, Stage::Super];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::New => "new",
            Stage::Stored => "stored",
            Stage::Active => "active",
            Stage::Converted => "converted",
            Stage::Super => "super",
        }
    }

    /// The operators' own word for the stage.
    pub fn chinese(self) -> &'static str {
        match self {
            Stage::New => "引流",
            Stage::Stored => "蓄水",
            Stage::Active => "活水",
            Stage::Converted => "养鱼",
            Stage::Super => "养大鱼",
        }
    }

    /// Accepts the English name (any case) or the Chinese one.
    pub fn from_name(s: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|st| st.as_str().eq_ignore_ascii_case(s) || st.chinese() == s)
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// The three RFM dimensions; each is scored in bands 1 (worst) ..= 5 (best).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RfmDim {
    /// Recency: how recently the customer ordered.
    R,
    /// Frequency: how often.
    F,
    /// Monetary: how much.
    M,
}

impl RfmDim {
    pub const ALL: [RfmDim; 3] = [RfmDim::R, RfmDim::F, RfmDim::M];

    pub fn as_str(self) -> &'static str {
        match self {
            RfmDim::R => "r",
            RfmDim::F => "f",
            RfmDim::M => "m",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// Lowest and highest RFM band.
pub const RFM_BANDS: std::ops::RangeInclusive<u8> = 1..=5;

/// How a custom field is compared with the expression's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
}

impl FieldOp {
    pub const ALL: [FieldOp; 7] =
        [FieldOp::Eq, FieldOp::Ne, FieldOp::Lt, FieldOp::Le, FieldOp::Gt, FieldOp::Ge, FieldOp::Contains];

    /// The operator in the text syntax.
    pub fn symbol(self) -> &'static str {
        match self {
            FieldOp::Eq => "=",
            FieldOp::Ne => "!=",
            FieldOp::Lt => "<",
            FieldOp::Le => "<=",
            FieldOp::Gt => ">",
            FieldOp::Ge => ">=",
            FieldOp::Contains => "~",
        }
    }

    /// Whether the operator compares (and so needs a value of the field's
    /// kind), unlike `~`, which looks for text inside any value.
    pub fn compares(self) -> bool {
        self != FieldOp::Contains
    }

    /// Whether a customer's `actual` value satisfies `actual op value`.
    /// Ordering compares as numbers when both sides are numbers (shoe size
    /// 38 < 40, not "38" < "4") and as text otherwise, which also orders
    /// ISO dates (`birthday>2000-01-01`) correctly. `!=` is "has the field
    /// with another value": customers without the field never match.
    pub fn test(self, actual: &str, value: &str) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        let ord = || match (actual.trim().parse::<f64>(), value.trim().parse::<f64>()) {
            (Ok(a), Ok(b)) if a.is_finite() && b.is_finite() => a.partial_cmp(&b),
            _ => Some(actual.cmp(value)),
        };
        match self {
            FieldOp::Eq => actual == value,
            FieldOp::Ne => actual != value,
            FieldOp::Contains => actual.contains(value),
            FieldOp::Lt => ord() == Some(Less),
            FieldOp::Le => matches!(ord(), Some(Less | Equal)),
            FieldOp::Gt => ord() == Some(Greater),
            FieldOp::Ge => matches!(ord(), Some(Greater | Equal)),
        }
    }
}

/// One condition on a customer. Time bounds are [`Millis`]; money is fen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cond {
    /// Carries the WeCom corp tag id (`et…`), which survives renames.
    Tag(String),
    /// Followed by a guide of this store.
    Store(i64),
    /// Followed by this staff member.
    Staff(i64),
    /// Added through this channel code.
    Code(i64),
    Stage(Stage),
    Rfm {
        dim: RfmDim,
        band: u8,
    },
    /// Added in `[from_ms, to_ms)`.
    AddedBetween {
        from_ms: Millis,
        to_ms: Millis,
    },
    /// Last active strictly before the instant, or never active: "has not
    /// been seen since" must include the ones never seen at all.
    LastActiveBefore(Millis),
    /// Last active at or after the instant.
    LastActiveAfter(Millis),
    OrdersAtLeast(u32),
    /// Total spent, in fen, at least this much.
    SpentAtLeast(i64),
    /// Influence (how many others the customer brought in, 裂变) at least this.
    InfluenceAtLeast(u32),
    /// A custom field the operator defined; customers without it never match.
    Field {
        name: String,
        op: FieldOp,
        value: String,
    },
    /// Home within `km` of the store. Customers without a known home, and
    /// stores without coordinates, never match.
    WithinKm {
        store_id: i64,
        km: f64,
    },
    /// A present member of this koi group (by id, or by name until
    /// [`Refs::check`] turns the name into the id).
    Group(GroupRef),
    /// A present member of some group of this kind.
    GroupKind(GroupKind),
    /// A present member of at least this many groups.
    InGroupsAtLeast(u32),
    /// A points balance of at least this many.
    PointsAtLeast(u32),
    /// Holds a coupon of this template in this state (`coupon:12` a usable
    /// one, `coupon:12:redeemed`, `coupon:12:expired`).
    Coupon {
        template_id: i64,
        state: CouponHold,
    },
}

/// The states of a coupon a segment can ask about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CouponHold {
    /// Issued and not used: usable.
    Issued,
    Redeemed,
    Expired,
}

impl CouponHold {
    pub const ALL: [CouponHold; 3] = [CouponHold::Issued, CouponHold::Redeemed, CouponHold::Expired];

    pub fn as_str(self) -> &'static str {
        match self {
            CouponHold::Issued => "issued",
            CouponHold::Redeemed => "redeemed",
            CouponHold::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|h| h.as_str() == s)
    }
}

/// How an expression names a group: koi's id, or (typed by an operator) its
/// name, which [`Refs::check`] resolves to the id. An unresolved name
/// matches no one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum GroupRef {
    Id(i64),
    Name(String),
}

/// A segment's expression. `And([])` is everyone and `Or([])` no one, but
/// [`Expr::validate`] refuses both, as the text syntax cannot spell them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    #[serde(untagged)]
    Cond(Cond),
}

impl From<Cond> for Expr {
    fn from(c: Cond) -> Self {
        Expr::Cond(c)
    }
}

impl Expr {
    /// Nesting depth; a lone condition is 1.
    pub fn depth(&self) -> usize {
        match self {
            Expr::And(v) | Expr::Or(v) => 1 + v.iter().map(Expr::depth).max().unwrap_or(0),
            Expr::Not(e) => 1 + e.depth(),
            Expr::Cond(_) => 1,
        }
    }

    /// Number of conditions (leaves).
    pub fn conditions(&self) -> usize {
        match self {
            Expr::And(v) | Expr::Or(v) => v.iter().map(Expr::conditions).sum(),
            Expr::Not(e) => e.conditions(),
            Expr::Cond(_) => 1,
        }
    }

    /// Checks an expression that did not come through [`Expr::parse`] (the
    /// JSON API): limits, RFM bands, field names, radii, no empty groups.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut c = Checker::default();
        if self.depth() > MAX_DEPTH {
            c.push("expr", "too_deep", format!("expression nests deeper than {MAX_DEPTH} levels"));
        } else {
            // Only walk trees of sane depth: the walk is recursive.
            self.check_nodes(&mut c);
        }
        let n = self.conditions();
        if n > MAX_CONDITIONS {
            c.push("expr", "too_many_conditions", format!("expression has {n} conditions; at most {MAX_CONDITIONS}"));
        }
        c.finish(())
    }

    fn check_nodes(&self, c: &mut Checker) {
        match self {
            Expr::And(v) | Expr::Or(v) => {
                if v.is_empty() {
                    c.push("expr", "empty_group", "and/or needs at least one operand");
                }
                v.iter().for_each(|e| e.check_nodes(c));
            }
            Expr::Not(e) => e.check_nodes(c),
            Expr::Cond(Cond::Rfm { band, .. }) if !RFM_BANDS.contains(band) => {
                c.push("expr", "out_of_range", format!("RFM band {band} is not in 1..=5"));
            }
            Expr::Cond(Cond::Field { name, .. }) if !text::is_field_name(name) => {
                c.push("expr", "invalid_chars", format!("field name {name:?} may contain only letters, digits and _"));
            }
            Expr::Cond(Cond::WithinKm { km, .. }) if !(km.is_finite() && *km >= 0.0) => {
                c.push("expr", "out_of_range", format!("radius {km} km is not a distance"));
            }
            Expr::Cond(Cond::AddedBetween { from_ms, to_ms }) if from_ms > to_ms => {
                c.push("expr", "out_of_range", "added range ends before it starts");
            }
            Expr::Cond(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_form_is_the_apis() {
        let e: Expr = serde_json::from_value(json!({"and":[{"tag":"et1"},{"not":{"stage":"super"}}]})).unwrap();
        assert_eq!(
            e,
            Expr::And(vec![Cond::Tag("et1".into()).into(), Expr::Not(Box::new(Cond::Stage(Stage::Super).into()))])
        );
        let e = Expr::Or(vec![
            Cond::Rfm { dim: RfmDim::R, band: 5 }.into(),
            Cond::WithinKm { store_id: 3, km: 2.5 }.into(),
            Cond::Field { name: "size".into(), op: FieldOp::Gt, value: "38".into() }.into(),
        ]);
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(
            v,
            json!({"or":[
                {"rfm":{"dim":"r","band":5}},
                {"within_km":{"store_id":3,"km":2.5}},
                {"field":{"name":"size","op":"gt","value":"38"}}
            ]})
        );
        assert_eq!(serde_json::from_value::<Expr>(v).unwrap(), e);
        let e: Expr = serde_json::from_value(json!({"influence_at_least": 3})).unwrap();
        assert_eq!(e, Cond::InfluenceAtLeast(3).into());
        let e: Expr = serde_json::from_value(
            json!({"and":[{"group":12},{"group":"VIP 1群"},{"group_kind":"paid"},{"in_groups_at_least":2}]}),
        )
        .unwrap();
        assert_eq!(
            e,
            Expr::And(vec![
                Cond::Group(GroupRef::Id(12)).into(),
                Cond::Group(GroupRef::Name("VIP 1群".into())).into(),
                Cond::GroupKind(GroupKind::Paid).into(),
                Cond::InGroupsAtLeast(2).into(),
            ])
        );
    }

    #[test]
    fn validate_refuses_abuse() {
        let mut e: Expr = Cond::Store(1).into();
        for _ in 0..MAX_DEPTH {
            e = Expr::Not(Box::new(e));
        }
        assert_eq!(validate_codes(&e), ["too_deep"]);
        let wide = Expr::Or((0..=MAX_CONDITIONS as i64).map(|i| Cond::Store(i).into()).collect());
        assert_eq!(validate_codes(&wide), ["too_many_conditions"]);
        let bad = Expr::And(vec![
            Expr::Or(vec![]),
            Cond::Rfm { dim: RfmDim::M, band: 0 }.into(),
            Cond::WithinKm { store_id: 1, km: f64::NAN }.into(),
        ]);
        assert_eq!(validate_codes(&bad), ["empty_group", "out_of_range", "out_of_range"]);
        assert!(Expr::from(Cond::Tag("x".into())).validate().is_ok());
    }

    fn validate_codes(e: &Expr) -> Vec<String> {
        e.validate().unwrap_err().0.into_iter().map(|f| f.code).collect()
    }

    #[test]
    fn field_ops_compare_numbers_as_numbers() {
        assert!(FieldOp::Lt.test("38", "40"));
        assert!(!FieldOp::Lt.test("38", "4"));
        assert!(FieldOp::Gt.test("2001-05-01", "2000-12-31"));
        assert!(FieldOp::Contains.test("干性敏感肌", "敏感"));
        assert!(!FieldOp::Eq.test("38", "38.0"));
        assert!(FieldOp::Ge.test("35", "35") && FieldOp::Ge.test("40", "35") && !FieldOp::Ge.test("9", "35"));
        assert!(FieldOp::Le.test("35", "35") && FieldOp::Le.test("9", "35") && !FieldOp::Le.test("40", "35"));
        assert!(FieldOp::Ge.test("2001-05-01", "2001-05-01") && !FieldOp::Le.test("2001-05-02", "2001-05-01"));
        assert!(FieldOp::Ne.test("38", "39") && !FieldOp::Ne.test("38", "38"));
    }

    #[test]
    fn every_field_op_has_its_json_name() {
        let names: Vec<_> = FieldOp::ALL.iter().map(|op| serde_json::to_value(op).unwrap()).collect();
        assert_eq!(
            names,
            [json!("eq"), json!("ne"), json!("lt"), json!("le"), json!("gt"), json!("ge"), json!("contains")]
        );
        let e: Expr = serde_json::from_value(json!({"field":{"name":"shoe_size","op":"ge","value":"35"}})).unwrap();
        assert_eq!(e.to_string(), "field:shoe_size>=35");
    }
}
