//! The group assistant (群助手): keyword auto-replies over what members say
//! in groups, sensitive-word alerts and group welcome templates. Pure rules:
//! which rule answers a message, whether quiet hours or the cooldown hold
//! the answer back, and what a valid rule, template or word list is.
//!
//! | item | what |
//! |---|---|
//! | [`ReplyRuleDraft`] → [`ReplyRule`] | an operator's keyword rule, validated |
//! | [`wildcard_match`] | `*` and `?` over characters, no regex |
//! | [`pick_rule`], [`decide`] | the rule that answers a message, and whether it may now |
//! | [`Scope`] | which groups a rule or a welcome template is meant for |
//! | [`clean_words`], [`find_sensitive`] | the corp's sensitive words |
//! | [`WelcomeTemplateDraft`] | a group welcome template within WeCom's limits |

use super::GroupKind;
use crate::error::Checker;
use crate::{Millis, ValidationError};
use serde::{Deserialize, Serialize};

/// Asia/Shanghai is UTC+8 all year (no daylight saving).
const SHANGHAI_OFFSET_MIN: i64 = 8 * 60;

/// Keywords one rule may list.
pub const MAX_KEYWORDS: usize = 20;
/// Characters of one keyword or pattern.
pub const MAX_KEYWORD_CHARS: usize = 50;
/// WeCom caps a mass message's text at 4000 bytes (CONTRACT.md §3).
pub const MAX_TEXT_BYTES: usize = 4000;
/// A cooldown longer than a month is no cooldown anyone means.
pub const MAX_COOLDOWN_MINUTES: u32 = 31 * 24 * 60;
/// Sensitive words a corp may keep, and characters of one.
pub const MAX_WORDS: usize = 500;
pub const MAX_WORD_CHARS: usize = 30;

/// How a rule's keywords are compared with a message (case-insensitive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MatchKind {
    /// The keyword appears anywhere in the message.
    Contains,
    /// The whole message (trimmed) is the keyword.
    Exact,
    /// The whole message (trimmed) matches the pattern: `*` any run of
    /// characters, `?` exactly one.
    Wildcard,
}

/// Which groups a rule or a template is meant for. Every list empty means
/// every group; otherwise a group is covered when it is listed, or its kind
/// or its store is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Scope {
    /// paid, unpaid, education, vip, store or custom.
    #[schema(value_type = Vec<String>)]
    pub kinds: Vec<GroupKind>,
    pub store_ids: Vec<i64>,
    pub group_ids: Vec<i64>,
}

/// What koi knows of the group a message was said in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupFacts {
    pub id: i64,
    pub kind: GroupKind,
    pub store_id: Option<i64>,
}

impl Scope {
    pub fn is_all(&self) -> bool {
        self.kinds.is_empty() && self.store_ids.is_empty() && self.group_ids.is_empty()
    }

    pub fn covers(&self, g: &GroupFacts) -> bool {
        self.is_all()
            || self.group_ids.contains(&g.id)
            || self.kinds.contains(&g.kind)
            || g.store_id.is_some_and(|s| self.store_ids.contains(&s))
    }
}

/// A link card a reply carries (a coupon, a live stream, a page).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReplyLink {
    /// ≤128 bytes (WeCom's limit on a link's title).
    pub title: String,
    pub url: String,
    /// ≤512 bytes.
    #[serde(default)]
    pub desc: String,
}

/// What a rule answers: text, a link, or both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReplyContent {
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub link: Option<ReplyLink>,
}

/// Hours in Asia/Shanghai when a rule stays silent, `"HH:MM"` each; a
/// window may cross midnight (`22:00`–`08:00`). The end is not included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QuietHours {
    pub start: String,
    pub end: String,
}

/// A keyword rule as an operator writes it (the API's body).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct ReplyRuleDraft {
    pub name: String,
    pub scope: Scope,
    /// contains, exact or wildcard.
    #[schema(value_type = String)]
    pub match_kind: Option<String>,
    pub keywords: Vec<String>,
    pub reply: ReplyContent,
    pub quiet_hours: Option<QuietHours>,
    /// One reply per customer per this many minutes (0: every time).
    pub cooldown_minutes: u32,
    /// Absent: enabled.
    pub enabled: Option<bool>,
    /// Lower is tried first; ties go to the older rule.
    pub priority: i32,
}

/// A valid keyword rule: what koi stores and evaluates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReplyRule {
    pub name: String,
    pub scope: Scope,
    pub match_kind: MatchKind,
    pub keywords: Vec<String>,
    pub reply: ReplyContent,
    pub quiet_hours: Option<QuietHours>,
    pub cooldown_minutes: u32,
    pub enabled: bool,
    pub priority: i32,
}

/// Minutes since midnight of `"HH:MM"`.
fn parse_hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.trim().split_once(':')?;
    if !(1..=2).contains(&h.len()) || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

impl QuietHours {
    /// The window in minutes of the day, or `None` when either end is not `HH:MM`.
    pub fn minutes(&self) -> Option<(u32, u32)> {
        Some((parse_hhmm(&self.start)?, parse_hhmm(&self.end)?))
    }

    /// Whether `minute` of the day falls in the window.
    pub fn holds(&self, minute: u32) -> bool {
        match self.minutes() {
            Some((s, e)) if s <= e => (s..e).contains(&minute),
            Some((s, e)) => minute >= s || minute < e,
            None => false,
        }
    }
}

/// The minute of the day in Asia/Shanghai at `at`.
pub fn shanghai_minute(at: Millis) -> u32 {
    (at.div_euclid(60_000) + SHANGHAI_OFFSET_MIN).rem_euclid(24 * 60) as u32
}

fn check_link(c: &mut Checker, field: &str, link: &ReplyLink) -> ReplyLink {
    let title = link.title.trim().to_string();
    if title.is_empty() {
        c.push(&format!("{field}.title"), "required", "a link needs a title");
    } else if title.len() > 128 {
        c.push(&format!("{field}.title"), "too_long", "a link's title is at most 128 bytes");
    }
    if link.desc.len() > 512 {
        c.push(&format!("{field}.desc"), "too_long", "a link's description is at most 512 bytes");
    }
    let url = link.url.trim().to_string();
    if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() > 2048 {
        c.push(&format!("{field}.url"), "invalid_url", "a link's url is an http(s) address");
    }
    ReplyLink { title, url, desc: link.desc.trim().to_string() }
}

fn check_content(c: &mut Checker, field: &str, r: &ReplyContent) -> ReplyContent {
    let text = r.text.trim().to_string();
    if text.len() > MAX_TEXT_BYTES {
        c.push(&format!("{field}.text"), "too_long", format!("the text is at most {MAX_TEXT_BYTES} bytes"));
    }
    let link = r.link.as_ref().map(|l| check_link(c, &format!("{field}.link"), l));
    if text.is_empty() && link.is_none() {
        c.push(field, "required", "give a text, a link or both");
    }
    ReplyContent { text, link }
}

fn check_scope(c: &mut Checker, s: &Scope) -> Scope {
    if s.kinds.len() + s.store_ids.len() + s.group_ids.len() > 200 {
        c.push("scope", "too_many", "a scope lists at most 200 kinds, stores and groups");
    }
    let mut s = s.clone();
    s.kinds.dedup();
    s.store_ids.sort_unstable();
    s.store_ids.dedup();
    s.group_ids.sort_unstable();
    s.group_ids.dedup();
    s
}

impl ReplyRuleDraft {
    pub fn validate(&self) -> Result<ReplyRule, ValidationError> {
        let mut c = Checker::default();
        let name = c.text("name", &self.name, 60, true);
        let match_kind = match self.match_kind.as_deref().map(str::trim) {
            Some("contains") | None => MatchKind::Contains,
            Some("exact") => MatchKind::Exact,
            Some("wildcard") => MatchKind::Wildcard,
            Some(k) => {
                c.push(
                    "match_kind",
                    "unknown_match_kind",
                    format!("match_kind is contains, exact or wildcard (not {k:?})"),
                );
                MatchKind::Contains
            }
        };
        let mut keywords: Vec<String> = Vec::new();
        if self.keywords.len() > MAX_KEYWORDS * 4 {
            // Not worth reading one by one: far over the limit.
            c.push("keywords", "too_many", format!("at most {MAX_KEYWORDS} keywords"));
        }
        for k in self.keywords.iter().take(MAX_KEYWORDS * 4) {
            let k = k.trim();
            if k.chars().count() > MAX_KEYWORD_CHARS {
                c.push("keywords", "too_long", format!("a keyword is at most {MAX_KEYWORD_CHARS} characters"));
            } else if !k.is_empty() && !keywords.iter().any(|x| x == k) {
                keywords.push(k.to_string());
            }
        }
        if keywords.is_empty() {
            c.push("keywords", "required", "give at least one keyword");
        }
        if keywords.len() > MAX_KEYWORDS {
            c.push("keywords", "too_many", format!("at most {MAX_KEYWORDS} keywords"));
        }
        if match_kind == MatchKind::Wildcard && keywords.iter().any(|k| k.chars().all(|ch| ch == '*')) {
            c.push("keywords", "matches_everything", "a pattern of only `*` would answer every message");
        }
        let reply = check_content(&mut c, "reply", &self.reply);
        if let Some(q) = &self.quiet_hours {
            match q.minutes() {
                None => c.push("quiet_hours", "invalid_time", "quiet hours are HH:MM to HH:MM"),
                Some((s, e)) if s == e => c.push("quiet_hours", "empty_window", "quiet hours start and end differ"),
                Some(_) => {}
            }
        }
        if self.cooldown_minutes > MAX_COOLDOWN_MINUTES {
            c.push("cooldown_minutes", "out_of_range", format!("cooldown_minutes is at most {MAX_COOLDOWN_MINUTES}"));
        }
        if !(-1000..=1000).contains(&self.priority) {
            c.push("priority", "out_of_range", "priority is -1000..=1000");
        }
        let scope = check_scope(&mut c, &self.scope);
        c.finish(ReplyRule {
            name,
            scope,
            match_kind,
            keywords,
            reply,
            quiet_hours: self.quiet_hours.clone(),
            cooldown_minutes: self.cooldown_minutes,
            enabled: self.enabled.unwrap_or(true),
            priority: self.priority,
        })
    }
}

/// Whether `text` matches `pattern` as a whole: `*` is any run of
/// characters (even none), `?` exactly one; everything else is itself.
/// Linear-time greedy matching with one backtrack point, so a hostile
/// pattern cannot make it slow.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && p[pi] == t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Whether one keyword matches the message, case-insensitively.
pub fn keyword_matches(kind: MatchKind, keyword: &str, message: &str) -> bool {
    let (k, m) = (keyword.to_lowercase(), message.trim().to_lowercase());
    match kind {
        MatchKind::Contains => m.contains(&k),
        MatchKind::Exact => m == k,
        MatchKind::Wildcard => wildcard_match(&k, &m),
    }
}

impl ReplyRule {
    pub fn matches(&self, message: &str) -> bool {
        self.keywords.iter().any(|k| keyword_matches(self.match_kind, k, message))
    }
}

/// A stored rule with its id (ids order rules of the same priority).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRef<'a> {
    pub id: i64,
    pub rule: &'a ReplyRule,
}

/// The rule that answers `message` in group `g`: the first enabled rule,
/// by priority then id, whose scope covers the group and whose keywords
/// match. One message gets at most one answer.
pub fn pick_rule<'a>(rules: &[RuleRef<'a>], g: &GroupFacts, message: &str) -> Option<RuleRef<'a>> {
    let mut candidates: Vec<&RuleRef<'a>> =
        rules.iter().filter(|r| r.rule.enabled && r.rule.scope.covers(g) && r.rule.matches(message)).collect();
    candidates.sort_by_key(|r| (r.rule.priority, r.id));
    candidates.first().map(|r| (*r).clone())
}

/// Whether the rule that matched may answer now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Reply,
    /// Said during the rule's quiet hours.
    Quiet,
    /// The rule answered this sender less than its cooldown ago.
    Cooldown,
    /// Said too long before koi read it (the feed was just turned on, or
    /// was down): an answer now would be out of place.
    Stale,
}

/// How late koi may still answer a message or alert its group's owner.
pub const ANSWER_WITHIN_MS: Millis = 10 * 60_000;

/// Whether a message said at `said_at` and read at `read_at` is too old to
/// act on (a message from a clock ahead of koi's is not).
pub fn is_stale(said_at: Millis, read_at: Millis) -> bool {
    read_at - said_at > ANSWER_WITHIN_MS
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Reply => "queued",
            Decision::Quiet => "quiet",
            Decision::Cooldown => "cooldown",
            Decision::Stale => "stale",
        }
    }
}

/// Decides for a message said at `said_at` (its time in the feed), given
/// when the rule last answered the same sender.
pub fn decide(rule: &ReplyRule, said_at: Millis, last_answer: Option<Millis>) -> Decision {
    if rule.quiet_hours.as_ref().is_some_and(|q| q.holds(shanghai_minute(said_at))) {
        return Decision::Quiet;
    }
    let cooldown = i64::from(rule.cooldown_minutes) * 60_000;
    match last_answer {
        Some(t) if cooldown > 0 && said_at - t < cooldown => Decision::Cooldown,
        _ => Decision::Reply,
    }
}

/// The corp's sensitive words, trimmed, without blanks or repeats; an
/// error names the first word out of bounds.
pub fn clean_words(words: &[String]) -> Result<Vec<String>, ValidationError> {
    let too_many = || ValidationError::one("sensitive_words", "too_many", format!("at most {MAX_WORDS} words"));
    if words.len() > MAX_WORDS * 4 {
        return Err(too_many()); // far over the limit: not worth reading one by one
    }
    let mut out: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for w in words {
        let w = w.trim();
        if w.chars().count() > MAX_WORD_CHARS {
            return Err(ValidationError::one(
                "sensitive_words",
                "too_long",
                format!("{w:?} is longer than {MAX_WORD_CHARS} characters"),
            ));
        }
        if !w.is_empty() && seen.insert(w.to_lowercase()) {
            out.push(w.to_string());
        }
    }
    if out.len() > MAX_WORDS {
        return Err(too_many());
    }
    Ok(out)
}

/// The first sensitive word the message contains (case-insensitive).
pub fn find_sensitive<'a>(words: &'a [String], message: &str) -> Option<&'a str> {
    let m = message.to_lowercase();
    words.iter().find(|w| m.contains(&w.to_lowercase())).map(String::as_str)
}

/// The one attachment a group welcome template may carry (WeCom takes one
/// of image, link or mini-program beside the text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WelcomeAttachment {
    Image {
        pic_url: String,
    },
    Link(ReplyLink),
    Miniprogram {
        /// ≤64 bytes.
        title: String,
        appid: String,
        page: String,
        pic_media_id: String,
    },
}

/// A group welcome template (入群欢迎语) as an operator writes it: text
/// (a live-stream time, say) and an optional attachment (a coupon link),
/// and which groups it is meant for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct WelcomeTemplateDraft {
    pub name: String,
    pub text: String,
    pub attachment: Option<WelcomeAttachment>,
    pub scope: Scope,
}

impl WelcomeTemplateDraft {
    /// Trimmed and checked against WeCom's limits (text ≤4000 bytes, link
    /// title ≤128 and description ≤512 bytes, mini-program title ≤64 bytes).
    pub fn validate(&self) -> Result<WelcomeTemplateDraft, ValidationError> {
        let mut c = Checker::default();
        let name = c.text("name", &self.name, 60, true);
        let text = self.text.trim().to_string();
        if text.len() > MAX_TEXT_BYTES {
            c.push("text", "too_long", format!("the text is at most {MAX_TEXT_BYTES} bytes"));
        }
        let attachment = match &self.attachment {
            None => None,
            Some(WelcomeAttachment::Link(l)) => Some(WelcomeAttachment::Link(check_link(&mut c, "attachment", l))),
            Some(WelcomeAttachment::Image { pic_url }) => {
                if !pic_url.trim().starts_with("http") {
                    c.push("attachment.pic_url", "invalid_url", "an image is an http(s) address");
                }
                Some(WelcomeAttachment::Image { pic_url: pic_url.trim().to_string() })
            }
            Some(m @ WelcomeAttachment::Miniprogram { title, appid, page, .. }) => {
                if title.trim().is_empty() || title.len() > 64 {
                    c.push("attachment.title", "too_long", "a mini-program title is 1..=64 bytes");
                }
                if appid.trim().is_empty() || page.trim().is_empty() {
                    c.push("attachment.appid", "required", "a mini-program needs its appid and page");
                }
                Some(m.clone())
            }
        };
        if text.is_empty() && attachment.is_none() {
            c.push("text", "required", "give a text, an attachment or both");
        }
        let scope = check_scope(&mut c, &self.scope);
        c.finish(WelcomeTemplateDraft { name, text, attachment, scope })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(kind: MatchKind, keywords: &[&str]) -> ReplyRule {
        ReplyRuleDraft {
            name: "r".into(),
            match_kind: Some(
                match kind {
                    MatchKind::Contains => "contains",
                    MatchKind::Exact => "exact",
                    MatchKind::Wildcard => "wildcard",
                }
                .into(),
            ),
            keywords: keywords.iter().map(|k| k.to_string()).collect(),
            reply: ReplyContent { text: "hi".into(), link: None },
            ..Default::default()
        }
        .validate()
        .unwrap()
    }

    const G: GroupFacts = GroupFacts { id: 7, kind: GroupKind::Vip, store_id: Some(3) };

    #[test]
    fn the_three_match_kinds() {
        assert!(rule(MatchKind::Contains, &["优惠券"]).matches("请问有优惠券吗"));
        assert!(rule(MatchKind::Contains, &["coupon"]).matches("Any COUPON today?"));
        assert!(!rule(MatchKind::Exact, &["优惠券"]).matches("请问有优惠券吗"));
        assert!(rule(MatchKind::Exact, &["优惠券"]).matches("  优惠券 "));
        assert!(rule(MatchKind::Wildcard, &["*几点*直播*"]).matches("今晚几点开始直播呀"));
        assert!(rule(MatchKind::Wildcard, &["地址?"]).matches("地址？".replace('？', "呢").as_str()));
        assert!(!rule(MatchKind::Wildcard, &["地址?"]).matches("地址"));
    }

    #[test]
    fn wildcards_without_regex() {
        assert!(wildcard_match("a*b?c", "aXXbYc"));
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("", ""));
        assert!(!wildcard_match("", "a"));
        assert!(wildcard_match("a.*", "a.txt"), "a dot is a dot");
        assert!(!wildcard_match("a.*", "ab"));
        assert!(wildcard_match("**a**", "bab"));
        assert!(!wildcard_match("a?", "a"));
        // A pattern that is exponential for a naive matcher stays fast.
        assert!(!wildcard_match(&"*a".repeat(30), &"a".repeat(29)));
    }

    #[test]
    fn the_first_rule_by_priority_answers_and_scope_narrows() {
        let mut a = rule(MatchKind::Contains, &["价格"]);
        a.priority = 5;
        let mut b = rule(MatchKind::Contains, &["价"]);
        b.priority = 1;
        b.scope = Scope { kinds: vec![GroupKind::Paid], ..Default::default() };
        let rules = [RuleRef { id: 1, rule: &a }, RuleRef { id: 2, rule: &b }];
        assert_eq!(pick_rule(&rules, &G, "价格多少").map(|r| r.id), Some(1), "b is for paid groups only");
        let paid = GroupFacts { kind: GroupKind::Paid, ..G };
        assert_eq!(pick_rule(&rules, &paid, "价格多少").map(|r| r.id), Some(2), "b comes first by priority");
        let mut off = b.clone();
        off.enabled = false;
        let rules = [RuleRef { id: 1, rule: &a }, RuleRef { id: 2, rule: &off }];
        assert_eq!(pick_rule(&rules, &paid, "价格多少").map(|r| r.id), Some(1), "a disabled rule never answers");
        assert!(pick_rule(&rules, &paid, "hello").is_none());
    }

    #[test]
    fn scopes_cover_by_group_kind_or_store() {
        assert!(Scope::default().covers(&G));
        assert!(Scope { store_ids: vec![3], ..Default::default() }.covers(&G));
        assert!(Scope { group_ids: vec![7], ..Default::default() }.covers(&G));
        assert!(!Scope { store_ids: vec![4], kinds: vec![GroupKind::Paid], group_ids: vec![8] }.covers(&G));
    }

    #[test]
    fn quiet_hours_in_shanghai_and_across_midnight() {
        // 2026-01-01 15:00 UTC is 23:00 in Shanghai.
        let t = 1_767_279_600_000;
        assert_eq!(shanghai_minute(t), 23 * 60);
        let mut r = rule(MatchKind::Contains, &["x"]);
        r.quiet_hours = Some(QuietHours { start: "22:00".into(), end: "08:00".into() });
        assert_eq!(decide(&r, t, None), Decision::Quiet);
        assert_eq!(decide(&r, t + 9 * 3_600_000, None), Decision::Reply, "08:00 is past the window");
        r.quiet_hours = Some(QuietHours { start: "12:00".into(), end: "13:30".into() });
        assert_eq!(decide(&r, t, None), Decision::Reply);
    }

    #[test]
    fn the_cooldown_holds_per_sender() {
        let mut r = rule(MatchKind::Contains, &["x"]);
        r.cooldown_minutes = 30;
        assert_eq!(decide(&r, 100 * 60_000, Some(80 * 60_000)), Decision::Cooldown);
        assert_eq!(decide(&r, 110 * 60_000, Some(80 * 60_000)), Decision::Reply);
        r.cooldown_minutes = 0;
        assert_eq!(decide(&r, 100 * 60_000, Some(100 * 60_000)), Decision::Reply);
        assert!(is_stale(0, ANSWER_WITHIN_MS + 1), "read more than ten minutes later");
        assert!(!is_stale(0, ANSWER_WITHIN_MS), "read within ten minutes");
        assert!(!is_stale(5_000, 0), "said on a clock ahead of koi's");
    }

    #[test]
    fn bad_rules_are_refused_field_by_field() {
        let e = ReplyRuleDraft {
            match_kind: Some("regex".into()),
            quiet_hours: Some(QuietHours { start: "25:00".into(), end: "08:00".into() }),
            reply: ReplyContent { text: "x".repeat(4001), link: None },
            ..Default::default()
        }
        .validate()
        .unwrap_err();
        let codes: Vec<&str> = e.0.iter().map(|f| f.code.as_str()).collect();
        for c in ["required", "unknown_match_kind", "invalid_time", "too_long"] {
            assert!(codes.contains(&c), "{c} in {codes:?}");
        }
        let e = ReplyRuleDraft {
            name: "all".into(),
            match_kind: Some("wildcard".into()),
            keywords: vec!["**".into()],
            reply: ReplyContent { text: "x".into(), link: None },
            ..Default::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!(e.0[0].code, "matches_everything");
    }

    #[test]
    fn sensitive_words_are_cleaned_and_found() {
        let w = clean_words(&[" 退款 ".into(), "".into(), "投诉".into(), "退款".into(), "Scam".into()]).unwrap();
        assert_eq!(w, ["退款", "投诉", "Scam"]);
        assert_eq!(find_sensitive(&w, "我要投诉你们"), Some("投诉"));
        assert_eq!(find_sensitive(&w, "this is a scam"), Some("Scam"));
        assert_eq!(find_sensitive(&w, "你好"), None);
        assert!(clean_words(&["x".repeat(31)]).is_err());
    }

    #[test]
    fn welcome_templates_keep_wecoms_limits() {
        let ok = WelcomeTemplateDraft {
            name: "直播预告".into(),
            text: "今晚 20:00 直播".into(),
            attachment: Some(WelcomeAttachment::Link(ReplyLink {
                title: "领券".into(),
                url: "https://shop.example/coupon".into(),
                desc: String::new(),
            })),
            scope: Scope::default(),
        };
        assert!(ok.validate().is_ok());
        let long = WelcomeTemplateDraft { text: "字".repeat(1400), ..ok.clone() };
        assert_eq!(long.validate().unwrap_err().0[0].field, "text", "4200 bytes is over 4000");
        let bad = WelcomeTemplateDraft {
            attachment: Some(WelcomeAttachment::Link(ReplyLink {
                title: "t".repeat(129),
                url: "ftp://x".into(),
                desc: String::new(),
            })),
            ..ok
        };
        assert_eq!(bad.validate().unwrap_err().0.len(), 2);
        assert!(WelcomeTemplateDraft { name: "n".into(), ..Default::default() }.validate().is_err());
    }

    /// The naive recursive definition of a wildcard match.
    fn naive(p: &[char], t: &[char]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some('*'), _) => naive(&p[1..], t) || (!t.is_empty() && naive(p, &t[1..])),
            (Some('?'), Some(_)) => naive(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => naive(&p[1..], &t[1..]),
            _ => false,
        }
    }

    proptest::proptest! {
        /// The linear matcher agrees with the naive definition.
        #[test]
        fn wildcard_agrees_with_the_definition(p in "[ab*?]{0,8}", t in "[abc]{0,10}") {
            let (pc, tc): (Vec<char>, Vec<char>) = (p.chars().collect(), t.chars().collect());
            proptest::prop_assert_eq!(wildcard_match(&p, &t), naive(&pc, &tc));
        }

        /// A text always matches itself and `*` around it.
        #[test]
        fn a_text_matches_itself(t in "[a-z群券]{0,12}") {
            proptest::prop_assert!(wildcard_match(&t, &t));
            let wrapped = format!("*{t}*");
            let text = format!("xx{}yy", t);
            proptest::prop_assert!(wildcard_match(&wrapped, &text));
        }
    }
}
