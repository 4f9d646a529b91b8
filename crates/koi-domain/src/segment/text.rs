//! The console's text syntax for an [`Expr`]:
//!
//! ```text
//! tag:etVIP AND (store:3 OR store:4) AND NOT stage:super AND orders>=2
//!   AND added:2026-01-01..2026-02-01 AND within:3:5km
//! ```
//!
//! * Operators `AND`, `OR`, `NOT` (any case, or 且 / 或 / 非) bind
//!   NOT > AND > OR; parentheses group. Operators are whole words.
//! * Conditions are one word each: `tag:ID`, `store:N`, `staff:N`, `code:N`,
//!   `stage:new|stored|active|converted|super` (or 引流/蓄水/活水/养鱼/养大鱼),
//!   `r:1..5` / `f:` / `m:` for RFM bands, `added:FROM..TO`, `active<T`,
//!   `active>=T`, `orders>=N`, `spent>=YUAN` (up to 2 decimals),
//!   `influence>=N` (or 影响力>=N),
//!   `field:NAME=V` (also `!=`, `<`, `<=`, `>`, `>=`, `~` for contains),
//!   `within:STORE:KMkm`, `group:ID` (or `group:"NAME"`), `groupkind:KIND`
//!   (paid, unpaid, education, vip, store, custom), `in_groups>=N`,
//!   `points>=N`, `coupon:TEMPLATE` (a usable coupon; `:redeemed`, `:expired`).
//! * Text values may be quoted (`tag:"spring sale"`, `\"` and `\\` escape).
//! * Times are dates in the brand's day (UTC+8) or raw epoch milliseconds.
//!   In `added:A..B` a date `B` includes that whole day, while a number `B`
//!   is an exclusive bound — what an operator means by "Jan 1 to Jan 31".
//!
//! Errors carry the byte offset and the offending token, so the builder can
//! underline it. `Display` prints the canonical form, which parses back to
//! the same expression.

use super::{Cond, CouponHold, Expr, FieldOp, GroupRef, RfmDim, Stage, MAX_CONDITIONS, MAX_DEPTH, RFM_BANDS};
use crate::calendar::{civil_from_days, days_from_civil};
use crate::channel::DEFAULT_UTC_OFFSET_MIN;
use crate::group::GroupKind;
use crate::{FieldError, Millis, ValidationError};
use std::fmt;

const DAY_MS: i64 = 86_400_000;
const OFFSET_MS: i64 = DEFAULT_UTC_OFFSET_MIN as i64 * 60_000;

/// Why a text expression did not parse, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at {offset}")]
pub struct ParseError {
    /// Stable snake_case code (`unknown_field`, `unbalanced`, …).
    pub code: &'static str,
    /// Human message naming the token, e.g. `unknown field "sotre"`.
    pub message: String,
    /// Byte offset of the token in the input.
    pub offset: usize,
    /// The offending part of the input (empty at the end of input).
    pub token: String,
}

impl ParseError {
    pub fn new(code: &'static str, offset: usize, token: &str, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), offset, token: token.into() }
    }
}

impl From<ParseError> for ValidationError {
    fn from(e: ParseError) -> Self {
        ValidationError(vec![FieldError::new("expr", e.code, e.to_string())])
    }
}

impl Expr {
    /// Parses the console syntax (see the module docs).
    pub fn parse(input: &str) -> Result<Expr, ParseError> {
        let toks = lex(input)?;
        if toks.is_empty() {
            return Err(ParseError::new("empty", 0, "", "empty expression"));
        }
        let mut p = Parser { toks, pos: 0, conds: 0, end: input.len() };
        let e = p.or(0)?;
        if let Some(t) = p.toks.get(p.pos) {
            return Err(match t.kind {
                Kind::RParen => ParseError::new("unbalanced", t.start, t.text, "unexpected \")\""),
                _ => ParseError::new(
                    "missing_operator",
                    t.start,
                    t.text,
                    format!("expected AND or OR before {:?}", t.text),
                ),
            });
        }
        if e.depth() > MAX_DEPTH {
            return Err(ParseError::new("too_deep", 0, "", format!("expression nests deeper than {MAX_DEPTH} levels")));
        }
        Ok(e)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    LParen,
    RParen,
    And,
    Or,
    Not,
    Word,
}

#[derive(Debug)]
struct Token<'a> {
    kind: Kind,
    start: usize,
    text: &'a str,
}

fn lex(input: &str) -> Result<Vec<Token<'_>>, ParseError> {
    let mut toks = Vec::new();
    let mut it = input.char_indices().peekable();
    while let Some(&(start, c)) = it.peek() {
        if c.is_whitespace() {
            it.next();
            continue;
        }
        if c == '(' || c == ')' {
            it.next();
            let kind = if c == '(' { Kind::LParen } else { Kind::RParen };
            toks.push(Token { kind, start, text: &input[start..start + 1] });
            continue;
        }
        let mut end = input.len();
        while let Some(&(i, c)) = it.peek() {
            if c.is_whitespace() || c == '(' || c == ')' {
                end = i;
                break;
            }
            it.next();
            if c == '"' {
                // A quoted run may hold spaces and parentheses.
                let mut closed = false;
                while let Some((_, q)) = it.next() {
                    if q == '\\' {
                        it.next();
                    } else if q == '"' {
                        closed = true;
                        break;
                    }
                }
                if !closed {
                    return Err(ParseError::new("unterminated_quote", i, &input[i..], "unterminated quote"));
                }
            }
        }
        let text = &input[start..end];
        let kind = match text {
            _ if text.eq_ignore_ascii_case("and") || text == "且" => Kind::And,
            _ if text.eq_ignore_ascii_case("or") || text == "或" => Kind::Or,
            _ if text.eq_ignore_ascii_case("not") || text == "非" => Kind::Not,
            _ => Kind::Word,
        };
        toks.push(Token { kind, start, text });
    }
    Ok(toks)
}

struct Parser<'a> {
    toks: Vec<Token<'a>>,
    pos: usize,
    conds: usize,
    end: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&Token<'a>> {
        self.toks.get(self.pos)
    }

    /// Fails unless an operand can start here; `op` is the operator before it.
    fn need_operand(&self, op: &Token<'a>) -> Result<(), ParseError> {
        match self.peek().map(|t| t.kind) {
            None | Some(Kind::RParen | Kind::And | Kind::Or) => Err(ParseError::new(
                "missing_operand",
                op.start,
                op.text,
                format!("missing operand after {:?}", op.text),
            )),
            _ => Ok(()),
        }
    }

    fn or(&mut self, depth: usize) -> Result<Expr, ParseError> {
        let mut items = vec![self.and(depth)?];
        while self.peek().is_some_and(|t| t.kind == Kind::Or) {
            self.pos += 1;
            self.need_operand(&self.toks[self.pos - 1])?;
            items.push(self.and(depth)?);
        }
        Ok(if items.len() == 1 { items.remove(0) } else { Expr::Or(items) })
    }

    fn and(&mut self, depth: usize) -> Result<Expr, ParseError> {
        let mut items = vec![self.unary(depth)?];
        while self.peek().is_some_and(|t| t.kind == Kind::And) {
            self.pos += 1;
            self.need_operand(&self.toks[self.pos - 1])?;
            items.push(self.unary(depth)?);
        }
        Ok(if items.len() == 1 { items.remove(0) } else { Expr::And(items) })
    }

    fn unary(&mut self, depth: usize) -> Result<Expr, ParseError> {
        let Some(t) = self.peek() else {
            return Err(ParseError::new("missing_operand", self.end, "", "missing operand at end of input"));
        };
        let (kind, start, text) = (t.kind, t.start, t.text);
        if depth >= MAX_DEPTH && matches!(kind, Kind::Not | Kind::LParen) {
            return Err(ParseError::new(
                "too_deep",
                start,
                text,
                format!("expression nests deeper than {MAX_DEPTH} levels"),
            ));
        }
        self.pos += 1;
        match kind {
            Kind::Not => {
                self.need_operand(&self.toks[self.pos - 1])?;
                Ok(Expr::Not(Box::new(self.unary(depth + 1)?)))
            }
            Kind::LParen => {
                if self.peek().is_some_and(|t| t.kind == Kind::RParen) {
                    return Err(ParseError::new("missing_operand", start, text, "empty parentheses"));
                }
                let e = self.or(depth + 1)?;
                match self.peek() {
                    Some(t) if t.kind == Kind::RParen => {
                        self.pos += 1;
                        Ok(e)
                    }
                    Some(t) => Err(ParseError::new(
                        "missing_operator",
                        t.start,
                        t.text,
                        format!("expected AND, OR or \")\" before {:?}", t.text),
                    )),
                    None => Err(ParseError::new("unbalanced", start, text, "unclosed \"(\"")),
                }
            }
            Kind::RParen => Err(ParseError::new("unbalanced", start, text, "unexpected \")\"")),
            Kind::And | Kind::Or => {
                Err(ParseError::new("missing_operand", start, text, format!("missing operand before {text:?}")))
            }
            Kind::Word => {
                self.conds += 1;
                if self.conds > MAX_CONDITIONS {
                    return Err(ParseError::new(
                        "too_many_conditions",
                        start,
                        text,
                        format!("more than {MAX_CONDITIONS} conditions"),
                    ));
                }
                Ok(Expr::Cond(condition(text, start)?))
            }
        }
    }
}

/// One condition word, `at` its byte offset in the input.
fn condition(word: &str, at: usize) -> Result<Cond, ParseError> {
    if let Some(v) = word.strip_prefix("影响力>=") {
        return Ok(Cond::InfluenceAtLeast(count(v, at + word.len() - v.len(), "influence")?));
    }
    let klen = word.find(|c: char| !(c.is_ascii_alphabetic() || c == '_')).unwrap_or(word.len());
    let key = &word[..klen];
    if key.is_empty() {
        return Err(ParseError::new("bad_condition", at, word, format!("expected a condition, found {word:?}")));
    }
    let rest = &word[klen..];
    let lkey = key.to_ascii_lowercase();
    let expect = |sep: &str| -> Result<(&str, usize), ParseError> {
        match rest.strip_prefix(sep) {
            Some(v) => Ok((v, at + klen + sep.len())),
            None => Err(ParseError::new("bad_condition", at + klen, rest, format!("expected {sep:?} after {key:?}"))),
        }
    };
    Ok(match lkey.as_str() {
        "tag" => {
            let (v, o) = expect(":")?;
            Cond::Tag(text_value(v, o, word)?)
        }
        "store" | "staff" | "code" => {
            let (v, o) = expect(":")?;
            let n = int(v, o)?;
            match lkey.as_str() {
                "store" => Cond::Store(n),
                "staff" => Cond::Staff(n),
                _ => Cond::Code(n),
            }
        }
        "stage" => {
            let (v, o) = expect(":")?;
            Cond::Stage(
                Stage::from_name(v)
                    .ok_or_else(|| ParseError::new("bad_value", o, v, format!("unknown stage {v:?}")))?,
            )
        }
        "r" | "f" | "m" => {
            let (v, o) = expect(":")?;
            let dim = match lkey.as_str() {
                "r" => RfmDim::R,
                "f" => RfmDim::F,
                _ => RfmDim::M,
            };
            let band = v
                .parse::<u8>()
                .ok()
                .filter(|b| RFM_BANDS.contains(b))
                .ok_or_else(|| ParseError::new("bad_value", o, v, format!("RFM band {v:?} is not 1 to 5")))?;
            Cond::Rfm { dim, band }
        }
        "added" => {
            let (v, o) = expect(":")?;
            let Some((a, b)) = v.split_once("..") else {
                return Err(ParseError::new("bad_value", o, v, format!("expected FROM..TO, found {v:?}")));
            };
            let from_ms = instant(a, o, false)?;
            let to_ms = instant(b, o + a.len() + 2, true)?;
            if from_ms > to_ms {
                return Err(ParseError::new("bad_value", o, v, format!("range {v:?} ends before it starts")));
            }
            Cond::AddedBetween { from_ms, to_ms }
        }
        "active" => {
            if let Some(v) = rest.strip_prefix(">=") {
                Cond::LastActiveAfter(instant(v, at + klen + 2, false)?)
            } else {
                let (v, o) = expect("<")?;
                Cond::LastActiveBefore(instant(v, o, false)?)
            }
        }
        "orders" => {
            let (v, o) = expect(">=")?;
            Cond::OrdersAtLeast(count(v, o, "order count")?)
        }
        "influence" => {
            let (v, o) = expect(">=")?;
            Cond::InfluenceAtLeast(count(v, o, "influence")?)
        }
        "points" => {
            let (v, o) = expect(">=")?;
            Cond::PointsAtLeast(count(v, o, "points")?)
        }
        "coupon" => {
            let (v, o) = expect(":")?;
            let (id, state) = v.split_once(':').unwrap_or((v, "issued"));
            let state = CouponHold::parse(state).ok_or_else(|| {
                ParseError::new(
                    "bad_value",
                    o,
                    v,
                    format!("unknown coupon state {state:?} (issued, redeemed, expired)"),
                )
            })?;
            Cond::Coupon { template_id: int(id, o)?, state }
        }
        "in_groups" => {
            let (v, o) = expect(">=")?;
            Cond::InGroupsAtLeast(count(v, o, "group count")?)
        }
        "group" => {
            let (v, o) = expect(":")?;
            // Bare digits are an id; anything else (a quoted value always)
            // is a name for the corp's refs to resolve.
            match v.parse::<i64>() {
                Ok(id) if v.bytes().all(|b| b.is_ascii_digit()) => Cond::Group(GroupRef::Id(id)),
                _ => Cond::Group(GroupRef::Name(text_value(v, o, word)?)),
            }
        }
        "groupkind" => {
            let (v, o) = expect(":")?;
            Cond::GroupKind(GroupKind::parse(v).ok_or_else(|| {
                ParseError::new(
                    "bad_value",
                    o,
                    v,
                    format!("unknown group kind {v:?} (paid, unpaid, education, vip, store, custom)"),
                )
            })?)
        }
        "spent" => {
            let (v, o) = expect(">=")?;
            Cond::SpentAtLeast(yuan(v).ok_or_else(|| ParseError::new("bad_number", o, v, format!("bad amount {v:?}")))?)
        }
        "within" => {
            let (v, o) = expect(":")?;
            let Some((s, k)) = v.split_once(':') else {
                return Err(ParseError::new("bad_value", o, v, format!("expected STORE:KMkm, found {v:?}")));
            };
            let store_id = int(s, o)?;
            let ko = o + s.len() + 1;
            let num = k.strip_suffix("km").or_else(|| k.strip_suffix("KM")).unwrap_or(k);
            let km = num.parse::<f64>().ok().filter(|x| x.is_finite() && *x >= 0.0);
            let km = km.ok_or_else(|| ParseError::new("bad_number", ko, k, format!("bad distance {k:?}")))?;
            Cond::WithinKm { store_id, km }
        }
        "field" => {
            let (v, o) = expect(":")?;
            let nlen = v.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(v.len());
            let (name, rest) = v.split_at(nlen);
            if name.is_empty() {
                return Err(ParseError::new("bad_condition", o, v, "expected a field name after \"field:\""));
            }
            // Two-character operators first: `>=35` is "at least 35", not
            // "more than the text =35".
            let Some(op) =
                [FieldOp::Ge, FieldOp::Le, FieldOp::Ne, FieldOp::Eq, FieldOp::Lt, FieldOp::Gt, FieldOp::Contains]
                    .into_iter()
                    .find(|op| rest.starts_with(op.symbol()))
            else {
                return Err(ParseError::new(
                    "bad_condition",
                    o + nlen,
                    rest,
                    format!("expected =, !=, <, <=, >, >= or ~ after field {name:?}"),
                ));
            };
            let vo = o + nlen + op.symbol().len();
            Cond::Field { name: name.into(), op, value: text_value(&rest[op.symbol().len()..], vo, word)? }
        }
        _ => return Err(ParseError::new("unknown_field", at, key, format!("unknown field {key:?}"))),
    })
}

pub(super) fn is_field_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn count(v: &str, at: usize, what: &str) -> Result<u32, ParseError> {
    v.parse().map_err(|_| ParseError::new("bad_number", at, v, format!("bad {what} {v:?}")))
}

fn int(v: &str, at: usize) -> Result<i64, ParseError> {
    v.parse().map_err(|_| ParseError::new("bad_number", at, v, format!("bad number {v:?}")))
}

/// A bare or quoted text value.
fn text_value(v: &str, at: usize, word: &str) -> Result<String, ParseError> {
    if v.is_empty() {
        return Err(ParseError::new("missing_value", at, word, format!("missing value in {word:?}")));
    }
    let Some(body) = v.strip_prefix('"') else {
        if let Some(i) = v.find('"') {
            return Err(ParseError::new("bad_value", at + i, &v[i..], "a quote may only start a value"));
        }
        return Ok(v.to_string());
    };
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, e @ ('"' | '\\'))) => out.push(e),
                _ => return Err(ParseError::new("bad_value", at + 1 + i, &body[i..], "only \\\" and \\\\ escape")),
            },
            '"' if i + 1 == body.len() => return Ok(out),
            '"' => return Err(ParseError::new("bad_value", at + 2 + i, &body[i + 1..], "unexpected text after quote")),
            c => out.push(c),
        }
    }
    Err(ParseError::new("unterminated_quote", at, v, "unterminated quote"))
}

/// A date (`2026-01-31`, brand-local midnight; `end` = the next midnight) or
/// epoch milliseconds.
fn instant(v: &str, at: usize, end: bool) -> Result<Millis, ParseError> {
    let bad = || ParseError::new("bad_date", at, v, format!("bad date {v:?}"));
    if v.char_indices().skip(1).any(|(_, c)| c == '-') {
        let mut parts = v.splitn(3, '-');
        let mut next = || parts.next().filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        let (Some(y), Some(m), Some(d)) = (next(), next(), next()) else { return Err(bad()) };
        let (y, m, d) = (
            y.parse::<i64>().map_err(|_| bad())?,
            m.parse::<u32>().map_err(|_| bad())?,
            d.parse::<u32>().map_err(|_| bad())?,
        );
        if !(1000..=9999).contains(&y) || !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
            return Err(bad());
        }
        Ok((days_from_civil(y, m, d) + i64::from(end)) * DAY_MS - OFFSET_MS)
    } else {
        v.parse().map_err(|_| bad())
    }
}

fn fmt_instant(ms: Millis, end: bool) -> String {
    if let Some(local) = ms.checked_add(OFFSET_MS) {
        if local.rem_euclid(DAY_MS) == 0 {
            let (y, m, d) = civil_from_days(local.div_euclid(DAY_MS) - i64::from(end));
            if (1000..=9999).contains(&y) {
                return format!("{y:04}-{m:02}-{d:02}");
            }
        }
    }
    ms.to_string()
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
/// `199`, `199.5`, `-0.05` yuan → fen.
fn yuan(v: &str) -> Option<i64> {
    let (neg, body) = match v.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, v),
    };
    let (whole, frac) = body.split_once('.').unwrap_or((body, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(frac) || frac.len() > 2 || (body.contains('.') && frac.is_empty())
    {
        return None;
    }
    let frac: i128 = if frac.is_empty() { 0 } else { format!("{frac:0<2}").parse().ok()? };
    let fen = whole.parse::<i128>().ok()?.checked_mul(100)? + frac;
    i64::try_from(if neg { -fen } else { fen }).ok()
}

fn fmt_yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let abs = fen.unsigned_abs();
    match abs % 100 {
        0 => format!("{sign}{}", abs / 100),
        r => format!("{sign}{}.{r:02}", abs / 100),
    }
}

/// Quotes a text value unless it can stand bare in a word.
fn fmt_text(s: &str) -> String {
    let bare = !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control() || "()\"\\".contains(c));
    if bare {
        s.to_string()
    } else {
        quote(s)
    }
}

/// `s` in double quotes, `"` and `\\` escaped.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

impl fmt::Display for Cond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cond::Tag(t) => write!(f, "tag:{}", fmt_text(t)),
            Cond::Store(n) => write!(f, "store:{n}"),
            Cond::Staff(n) => write!(f, "staff:{n}"),
            Cond::Code(n) => write!(f, "code:{n}"),
            Cond::Stage(s) => write!(f, "stage:{}", s.as_str()),
            Cond::Rfm { dim, band } => write!(f, "{}:{band}", dim.as_str()),
            Cond::AddedBetween { from_ms, to_ms } => {
                write!(f, "added:{}..{}", fmt_instant(*from_ms, false), fmt_instant(*to_ms, true))
            }
            Cond::LastActiveBefore(t) => write!(f, "active<{}", fmt_instant(*t, false)),
            Cond::LastActiveAfter(t) => write!(f, "active>={}", fmt_instant(*t, false)),
            Cond::OrdersAtLeast(n) => write!(f, "orders>={n}"),
            Cond::InfluenceAtLeast(n) => write!(f, "influence>={n}"),
            Cond::SpentAtLeast(fen) => write!(f, "spent>={}", fmt_yuan(*fen)),
            Cond::Field { name, op, value } => {
                // A value starting with `=` is quoted, or `>` `=35` would
                // read back as `>=` `35`.
                let v = if value.starts_with('=') { quote(value) } else { fmt_text(value) };
                write!(f, "field:{name}{}{v}", op.symbol())
            }
            Cond::WithinKm { store_id, km } => write!(f, "within:{store_id}:{km}km"),
            Cond::Group(GroupRef::Id(id)) => write!(f, "group:{id}"),
            // Always quoted: a name of digits would read back as an id.
            Cond::Group(GroupRef::Name(name)) => write!(f, "group:{}", quote(name)),
            Cond::GroupKind(k) => write!(f, "groupkind:{}", k.as_str()),
            Cond::InGroupsAtLeast(n) => write!(f, "in_groups>={n}"),
            Cond::PointsAtLeast(n) => write!(f, "points>={n}"),
            Cond::Coupon { template_id, state: CouponHold::Issued } => write!(f, "coupon:{template_id}"),
            Cond::Coupon { template_id, state } => write!(f, "coupon:{template_id}:{}", state.as_str()),
        }
    }
}

impl fmt::Display for Expr {
    /// Canonical text: upper-case operators, parentheses only where needed.
    /// Single-operand groups print as their operand.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let child = |f: &mut fmt::Formatter<'_>, e: &Expr, paren: bool| {
            if paren {
                write!(f, "({e})")
            } else {
                write!(f, "{e}")
            }
        };
        match self {
            Expr::And(v) | Expr::Or(v) => {
                let and = matches!(self, Expr::And(_));
                for (i, e) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str(if and { " AND " } else { " OR " })?;
                    }
                    // AND binds tighter, so only a nested group of the same
                    // kind (or an OR inside an AND) needs parentheses — and
                    // the same kind does, or it would flatten on re-parse.
                    let paren = match e {
                        Expr::Or(_) => true,
                        Expr::And(_) => and,
                        _ => false,
                    };
                    child(f, e, paren)?;
                }
                Ok(())
            }
            Expr::Not(e) => {
                f.write_str("NOT ")?;
                child(f, e, matches!(**e, Expr::And(_) | Expr::Or(_)))
            }
            Expr::Cond(c) => write!(f, "{c}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> Expr {
        Expr::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn err(s: &str) -> ParseError {
        Expr::parse(s).unwrap_err()
    }

    fn c(c: Cond) -> Expr {
        Expr::Cond(c)
    }

    fn day(y: i64, m: u32, d: u32) -> Millis {
        days_from_civil(y, m, d) * DAY_MS - OFFSET_MS
    }

    #[test]
    fn parses_the_builder_example_with_precedence() {
        let e = p("tag:etVIP AND (store:3 OR store:4) AND NOT stage:super AND orders>=2 AND added:2026-01-01..2026-02-01 AND within:3:5km");
        let want = Expr::And(vec![
            c(Cond::Tag("etVIP".into())),
            Expr::Or(vec![c(Cond::Store(3)), c(Cond::Store(4))]),
            Expr::Not(Box::new(c(Cond::Stage(Stage::Super)))),
            c(Cond::OrdersAtLeast(2)),
            c(Cond::AddedBetween { from_ms: day(2026, 1, 1), to_ms: day(2026, 2, 2) }),
            c(Cond::WithinKm { store_id: 3, km: 5.0 }),
        ]);
        assert_eq!(e, want);
        assert_eq!(
            p("tag:a or tag:b and not tag:c"),
            Expr::Or(vec![
                c(Cond::Tag("a".into())),
                Expr::And(vec![c(Cond::Tag("b".into())), Expr::Not(Box::new(c(Cond::Tag("c".into()))))]),
            ])
        );
    }

    #[test]
    fn chinese_aliases() {
        assert_eq!(
            p("tag:a 且 (store:1 或 store:2) 且 非 stage:养大鱼"),
            p("tag:a AND (store:1 OR store:2) AND NOT stage:super")
        );
        assert_eq!(p("stage:引流"), c(Cond::Stage(Stage::New)));
        assert_eq!(p("field:skin=油性"), c(Cond::Field { name: "skin".into(), op: FieldOp::Eq, value: "油性".into() }));
        assert_eq!(
            p("影响力>=3 且 influence>=4"),
            Expr::And(vec![c(Cond::InfluenceAtLeast(3)), c(Cond::InfluenceAtLeast(4))])
        );
        assert_eq!(err("影响力>=x").offset, 11);
    }

    #[test]
    fn canonical_printing() {
        let e =
            p("TAG:etVIP and (store:3 or store:4) and not (stage:super or r:5) and spent>=199.5 and active<2026-03-01");
        assert_eq!(
            e.to_string(),
            "tag:etVIP AND (store:3 OR store:4) AND NOT (stage:super OR r:5) AND spent>=199.50 AND active<2026-03-01"
        );
        assert_eq!(p(&e.to_string()), e);
        let nested = Expr::And(vec![c(Cond::Store(1)), Expr::And(vec![c(Cond::Store(2)), c(Cond::Store(3))])]);
        assert_eq!(nested.to_string(), "store:1 AND (store:2 AND store:3)");
        assert_eq!(p(&nested.to_string()), nested);
        let quoted = c(Cond::Tag("spring sale \"VIP\"".into()));
        assert_eq!(quoted.to_string(), r#"tag:"spring sale \"VIP\"""#);
        assert_eq!(p(&quoted.to_string()), quoted);
        assert_eq!(c(Cond::AddedBetween { from_ms: 5, to_ms: day(2026, 1, 1) }).to_string(), "added:5..2025-12-31");
        assert_eq!(c(Cond::WithinKm { store_id: 2, km: 2.5 }).to_string(), "within:2:2.5km");
        assert_eq!(
            c(Cond::Field { name: "size".into(), op: FieldOp::Contains, value: "".into() }).to_string(),
            "field:size~\"\""
        );
    }

    #[test]
    fn unknown_field_points_at_it() {
        let e = err("tag:etVIP AND (store:3 OR sotre:4)");
        assert_eq!((e.code, e.offset, e.token.as_str()), ("unknown_field", 26, "sotre"));
        assert_eq!(e.to_string(), "unknown field \"sotre\" at 26");
    }

    #[test]
    fn unbalanced_parentheses() {
        let e = err("tag:a AND (store:1 OR store:2");
        assert_eq!((e.code, e.offset, e.token.as_str()), ("unbalanced", 10, "("));
        let e = err("tag:a) OR tag:b");
        assert_eq!((e.code, e.offset, e.token.as_str()), ("unbalanced", 5, ")"));
        assert_eq!(err("()").code, "missing_operand");
    }

    #[test]
    fn missing_operands_and_operators() {
        let e = err("tag:a AND");
        assert_eq!((e.code, e.offset, e.token.as_str()), ("missing_operand", 6, "AND"));
        assert_eq!(e.to_string(), "missing operand after \"AND\" at 6");
        let e = err("or tag:a");
        assert_eq!((e.code, e.offset), ("missing_operand", 0));
        let e = err("tag:a AND NOT");
        assert_eq!((e.code, e.offset, e.token.as_str()), ("missing_operand", 10, "NOT"));
        let e = err("tag:a tag:b");
        assert_eq!((e.code, e.offset, e.token.as_str()), ("missing_operator", 6, "tag:b"));
        assert_eq!(err("   ").code, "empty");
        let e = err("tag: AND store:1");
        assert_eq!((e.code, e.offset), ("missing_value", 4));
    }

    #[test]
    fn bad_values_point_inside_the_word() {
        let e = err("store:1 AND added:2026-01-01..2026-13-01");
        assert_eq!((e.code, e.offset, e.token.as_str()), ("bad_date", 30, "2026-13-01"));
        assert_eq!(e.to_string(), "bad date \"2026-13-01\" at 30");
        assert_eq!(err("active<2026-02-30").code, "bad_date");
        assert_eq!(err("added:2026-02-01..2026-01-01").code, "bad_value");
        let e = err("r:6");
        assert_eq!((e.code, e.offset, e.token.as_str()), ("bad_value", 2, "6"));
        assert_eq!(err("stage:whale").message, "unknown stage \"whale\"");
        assert_eq!(err("within:3:-1km").code, "bad_number");
        assert_eq!(err("within:3:infkm").code, "bad_number");
        assert_eq!(err("spent>=1.234").code, "bad_number");
        assert_eq!(err("orders>2").code, "bad_condition");
        assert_eq!(err("influence>=-1").code, "bad_number");
        assert_eq!(c(Cond::InfluenceAtLeast(3)).to_string(), "influence>=3");
        assert_eq!(err("tag:\"open").code, "unterminated_quote");
        assert_eq!(err("field:=x").code, "bad_condition");
        assert_eq!(p("spent>=-0.05"), c(Cond::SpentAtLeast(-5)));
        assert_eq!(p("active>=1700000000000"), c(Cond::LastActiveAfter(1_700_000_000_000)));
    }

    #[test]
    fn field_operators_of_two_characters() {
        let f = |op, value: &str| c(Cond::Field { name: "shoe_size".into(), op, value: value.into() });
        assert_eq!(p("field:shoe_size>=35"), f(FieldOp::Ge, "35"));
        assert_eq!(p("field:shoe_size<=35"), f(FieldOp::Le, "35"));
        assert_eq!(p("field:shoe_size!=35"), f(FieldOp::Ne, "35"));
        assert_eq!(p("field:shoe_size>35"), f(FieldOp::Gt, "35"));
        assert_eq!(
            p("field:birthday<2000-01-01"),
            c(Cond::Field { name: "birthday".into(), op: FieldOp::Lt, value: "2000-01-01".into() })
        );
        // A value that starts with `=` prints quoted and reads back the same.
        let odd = f(FieldOp::Gt, "=35");
        assert_eq!(odd.to_string(), r#"field:shoe_size>"=35""#);
        assert_eq!(p(&odd.to_string()), odd);
        let e = err("field:shoe_size!35");
        assert_eq!((e.code, e.offset, e.token.as_str()), ("bad_condition", 15, "!35"));
        let e = err("field:shoe_size>=");
        assert_eq!((e.code, e.offset), ("missing_value", 17));
    }

    #[test]
    fn group_terms() {
        assert_eq!(
            p("group:12 AND groupkind:paid AND in_groups>=2"),
            Expr::And(vec![
                c(Cond::Group(GroupRef::Id(12))),
                c(Cond::GroupKind(GroupKind::Paid)),
                c(Cond::InGroupsAtLeast(2)),
            ])
        );
        assert_eq!(p("group:\"VIP 1群\""), c(Cond::Group(GroupRef::Name("VIP 1群".into()))));
        assert_eq!(p("group:\"12\""), c(Cond::Group(GroupRef::Name("12".into()))), "quoted digits are a name");
        assert_eq!(c(Cond::Group(GroupRef::Name("12".into()))).to_string(), "group:\"12\"");
        assert_eq!(p("GROUP:7").to_string(), "group:7");
        let e = err("groupkind:gold");
        assert_eq!((e.code, e.offset, e.token.as_str()), ("bad_value", 10, "gold"));
        assert_eq!(err("in_groups>x").code, "bad_condition");
        assert_eq!(err("in_groups>=-1").code, "bad_number");
        assert_eq!(err("group:").code, "missing_value");
    }

    #[test]
    fn refuses_too_deep_and_too_many() {
        let deep = format!("{}tag:a{}", "(".repeat(MAX_DEPTH + 1), ")".repeat(MAX_DEPTH + 1));
        let e = err(&deep);
        assert_eq!((e.code, e.offset), ("too_deep", MAX_DEPTH));
        assert_eq!(err(&format!("{}tag:a", "NOT ".repeat(40))).code, "too_deep");
        let ok = format!("{}tag:a", "NOT ".repeat(MAX_DEPTH - 1));
        assert_eq!(p(&ok).depth(), MAX_DEPTH);
        let many = (0..=MAX_CONDITIONS).map(|i| format!("store:{i}")).collect::<Vec<_>>().join(" OR ");
        assert_eq!(err(&many).code, "too_many_conditions");
        // A paren bomb does not blow the stack either.
        assert_eq!(err(&"(".repeat(100_000)).code, "too_deep");
    }

    #[test]
    fn parse_errors_become_field_errors() {
        let v: ValidationError = err("sotre:1").into();
        assert_eq!(v.0[0].field, "expr");
        assert_eq!(v.0[0].code, "unknown_field");
    }

    fn arb_instant() -> impl Strategy<Value = Millis> {
        prop_oneof![any::<i64>(), (-400_000i64..3_000_000).prop_map(|d| d * DAY_MS - OFFSET_MS)]
    }

    fn arb_cond() -> impl Strategy<Value = Cond> {
        let text = prop_oneof!["[a-zA-Z0-9_]{1,8}", ".{0,6}"];
        prop_oneof![
            text.clone().prop_map(Cond::Tag),
            any::<i64>().prop_map(Cond::Store),
            any::<i64>().prop_map(Cond::Staff),
            any::<i64>().prop_map(Cond::Code),
            prop::sample::select(Stage::ALL.to_vec()).prop_map(Cond::Stage),
            (prop::sample::select(RfmDim::ALL.to_vec()), 1u8..=5).prop_map(|(dim, band)| Cond::Rfm { dim, band }),
            (arb_instant(), arb_instant()).prop_map(|(a, b)| Cond::AddedBetween { from_ms: a.min(b), to_ms: a.max(b) }),
            arb_instant().prop_map(Cond::LastActiveBefore),
            arb_instant().prop_map(Cond::LastActiveAfter),
            any::<u32>().prop_map(Cond::OrdersAtLeast),
            any::<u32>().prop_map(Cond::InfluenceAtLeast),
            any::<i64>().prop_map(Cond::SpentAtLeast),
            (
                "[a-z_][a-z0-9_]{0,6}",
                prop::sample::select(FieldOp::ALL.to_vec()),
                prop_oneof![text, "[=<>!~][=0-9a-z]{0,3}"]
            )
                .prop_map(|(name, op, value)| Cond::Field { name, op, value }),
            (any::<i64>(), 0u32..1_000_000).prop_map(|(store_id, k)| Cond::WithinKm { store_id, km: k as f64 / 100.0 }),
            (0i64..i64::MAX).prop_map(|id| Cond::Group(GroupRef::Id(id))),
            ".{0,6}".prop_map(|name| Cond::Group(GroupRef::Name(name))),
            prop::sample::select(GroupKind::ALL.to_vec()).prop_map(Cond::GroupKind),
            any::<u32>().prop_map(Cond::InGroupsAtLeast),
            any::<u32>().prop_map(Cond::PointsAtLeast),
            (0i64..1000, 0usize..3).prop_map(|(t, s)| Cond::Coupon { template_id: t, state: CouponHold::ALL[s] }),
        ]
    }

    pub(crate) fn arb_expr() -> impl Strategy<Value = Expr> {
        arb_cond().prop_map(Expr::Cond).prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::And),
                prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::Or),
                inner.prop_map(|e| Expr::Not(Box::new(e))),
            ]
        })
    }

    proptest! {
        #[test]
        fn printing_round_trips(e in arb_expr()) {
            let text = e.to_string();
            prop_assert_eq!(Expr::parse(&text).map_err(|err| format!("{text}: {err}")), Ok(e));
        }

        #[test]
        fn dates_round_trip(d in -400_000i64..3_000_000) {
            let (y, m, dd) = civil_from_days(d);
            prop_assert_eq!(days_from_civil(y, m, dd), d);
        }
    }
}
