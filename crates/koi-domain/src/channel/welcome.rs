//! Welcome messages (欢迎语): what a customer receives seconds after adding a
//! guide. A code may carry several variants split by weight (A/B); each
//! customer always lands in the same variant, so reports compare groups of
//! people rather than repeated coin flips. WeCom measures its limits in UTF-8
//! bytes, not characters, so these checks do too: 4000 bytes is only ~1333
//! Chinese characters.

use crate::error::Checker;
use serde::{Deserialize, Serialize};

/// `send_welcome_msg` text limit, bytes.
pub const MAX_TEXT_BYTES: usize = 4000;
/// `send_welcome_msg` attachment limit (41064 beyond it).
pub const MAX_ATTACHMENTS: usize = 9;
const MAX_URL_BYTES: usize = 2048;

/// One welcome variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WelcomeDraft {
    /// May contain placeholders, see [`render`].
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    /// Relative share of customers, 1..=100.
    #[serde(default = "default_weight")]
    pub weight: u8,
}

fn default_weight() -> u8 {
    50
}

/// What a welcome can carry besides text. `CouponLink` is koi's own coupon
/// page, sent to WeCom as a link, kept apart so reports can tell a coupon
/// welcome from a plain one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Attachment {
    /// Exactly one of `url` (WeCom fetches it) or `media_id` (already uploaded).
    Image {
        #[serde(default)]
        url: Option<String>,
        #[serde(default)]
        media_id: Option<String>,
    },
    Link {
        title: String,
        url: String,
        #[serde(default)]
        desc: String,
        #[serde(default)]
        pic_url: String,
    },
    Miniprogram {
        title: String,
        appid: String,
        page: String,
        pic_media_id: String,
    },
    CouponLink {
        title: String,
        url: String,
    },
}

impl WelcomeDraft {
    pub fn text(text: &str) -> Self {
        Self { text: text.to_string(), attachments: Vec::new(), weight: default_weight() }
    }

    /// Checks one variant, reporting under `prefix` (`welcome[1]`), and
    /// returns it trimmed. The template is checked before substitution;
    /// [`render`] keeps the result inside the limit after it.
    pub(crate) fn check(&self, c: &mut Checker, prefix: &str) -> WelcomeDraft {
        let text = bytes(c, &format!("{prefix}.text"), &self.text, MAX_TEXT_BYTES, false);
        if text.is_empty() && self.attachments.is_empty() {
            c.push(&format!("{prefix}.text"), "required", "a welcome needs text or an attachment");
        }
        if self.attachments.len() > MAX_ATTACHMENTS {
            c.push(&format!("{prefix}.attachments"), "too_many", format!("at most {MAX_ATTACHMENTS} attachments"));
        }
        if !(1..=100).contains(&self.weight) {
            c.push(&format!("{prefix}.weight"), "out_of_range", "weight must be 1..=100");
        }
        let attachments = self
            .attachments
            .iter()
            .enumerate()
            .map(|(i, a)| a.check(c, &format!("{prefix}.attachments[{i}]")))
            .collect();
        WelcomeDraft { text, attachments, weight: self.weight }
    }
}

impl Attachment {
    fn check(&self, c: &mut Checker, prefix: &str) -> Attachment {
        let f = |name: &str| format!("{prefix}.{name}");
        match self {
            Attachment::Image { url, media_id } => {
                let url = url.as_deref().map(str::trim).filter(|s| !s.is_empty());
                let media_id = media_id.as_deref().map(str::trim).filter(|s| !s.is_empty());
                match (url, media_id) {
                    (Some(u), None) => check_url(c, &f("url"), u),
                    (None, Some(m)) => check_media_id(c, &f("media_id"), m),
                    _ => c.push(&f("url"), "one_of", "give either an image URL or a media id"),
                }
                Attachment::Image { url: url.map(String::from), media_id: media_id.map(String::from) }
            }
            Attachment::Link { title, url, desc, pic_url } => {
                let title = bytes(c, &f("title"), title, 128, true);
                let url = required_url(c, &f("url"), url);
                let desc = bytes(c, &f("desc"), desc, 512, false);
                let pic_url = pic_url.trim().to_string();
                if !pic_url.is_empty() {
                    check_url(c, &f("pic_url"), &pic_url);
                }
                Attachment::Link { title, url, desc, pic_url }
            }
            Attachment::Miniprogram { title, appid, page, pic_media_id } => {
                let title = bytes(c, &f("title"), title, 64, true);
                let appid = c.ident(&f("appid"), appid, 32, &[]);
                let page = bytes(c, &f("page"), page, 256, true);
                let pic_media_id = pic_media_id.trim().to_string();
                check_media_id(c, &f("pic_media_id"), &pic_media_id);
                Attachment::Miniprogram { title, appid, page, pic_media_id }
            }
            Attachment::CouponLink { title, url } => {
                let title = bytes(c, &f("title"), title, 128, true);
                let url = required_url(c, &f("url"), url);
                Attachment::CouponLink { title, url }
            }
        }
    }
}

/// Trims `value` and checks its UTF-8 length, WeCom's unit.
fn bytes(c: &mut Checker, field: &str, value: &str, max: usize, required: bool) -> String {
    let v = value.trim();
    if required && v.is_empty() {
        c.push(field, "required", format!("{field} is required"));
    }
    if v.len() > max {
        c.push(field, "too_long", format!("{field} is {} bytes; at most {max} (a Chinese character is 3)", v.len()));
    }
    v.to_string()
}

fn required_url(c: &mut Checker, field: &str, value: &str) -> String {
    let v = value.trim();
    check_url(c, field, v);
    v.to_string()
}

fn check_url(c: &mut Checker, field: &str, url: &str) {
    let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
    if !scheme_ok || url.len() > MAX_URL_BYTES || url.chars().any(char::is_whitespace) {
        c.push(field, "invalid_url", "use a full http(s):// address");
    }
}

fn check_media_id(c: &mut Checker, field: &str, id: &str) {
    if id.is_empty() || id.len() > 256 || !id.is_ascii() {
        c.push(field, "invalid_media_id", "upload the image first and use its media id");
    }
}

/// Values for placeholders.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WelcomeVars {
    pub customer_name: String,
    pub guide_name: String,
    pub store_name: String,
}

/// Fills `{客户昵称}`/`{customer}`, `{导购}`/`{guide}` and `{门店}`/`{store}`.
///
/// One left-to-right pass: a nickname that itself contains `{导购}` is not
/// expanded again. Unknown braces (`{优惠}`, JSON in a pasted text) are left
/// as typed, because guessing would silently change the message. The result
/// is cut to [`MAX_TEXT_BYTES`] at a character boundary — a long nickname
/// must not make WeCom reject the whole welcome (45002).
pub fn render(text: &str, vars: &WelcomeVars) -> String {
    let placeholders: [(&str, &str); 6] = [
        ("{客户昵称}", &vars.customer_name),
        ("{customer}", &vars.customer_name),
        ("{导购}", &vars.guide_name),
        ("{guide}", &vars.guide_name),
        ("{门店}", &vars.store_name),
        ("{store}", &vars.store_name),
    ];
    let mut out = String::with_capacity(text.len() + 32);
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        rest = &rest[open..];
        match placeholders.iter().find(|(p, _)| rest.starts_with(p)) {
            Some((p, value)) => {
                out.push_str(value);
                rest = &rest[p.len()..];
            }
            None => {
                out.push('{');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    truncate_bytes(&mut out, MAX_TEXT_BYTES);
    out
}

fn truncate_bytes(s: &mut String, max: usize) {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
}

/// A stable seed for the A/B pick: FNV-1a over the customer's
/// external_userid and the code. Stable across processes and Rust releases
/// (std's hasher is not), so a customer who re-adds or whose event is
/// replayed gets the same variant; per code, so one customer is not in
/// variant A of every test.
pub fn variant_seed(external_userid: &str, code_id: i64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in external_userid.as_bytes().iter().chain(&code_id.to_le_bytes()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The variant for `seed`, weighted: variant i gets weight_i / Σweights of
/// seeds. Deterministic; `None` only when there are no variants. Weights
/// outside 1..=100 (refused by validation) count as their nearest valid value.
/// Changing the weights re-deals some customers; adding a variant at the end
/// keeps earlier customers' variants only as far as the shares allow.
pub fn pick_variant(variants: &[WelcomeDraft], seed: u64) -> Option<usize> {
    if variants.is_empty() {
        return None;
    }
    let weight = |v: &WelcomeDraft| u64::from(v.weight.clamp(1, 100));
    let total: u64 = variants.iter().map(weight).sum();
    // Scale a well-mixed 64-bit value into 0..total without modulo bias.
    let point = ((u128::from(mix(seed)) * u128::from(total)) >> 64) as u64;
    let mut upper = 0;
    for (i, v) in variants.iter().enumerate() {
        upper += weight(v);
        if point < upper {
            return Some(i);
        }
    }
    Some(variants.len() - 1)
}

/// splitmix64's finaliser: sequential or clustered seeds still spread evenly.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ValidationError;
    use proptest::prelude::*;

    fn vars() -> WelcomeVars {
        WelcomeVars { customer_name: "小鱼".into(), guide_name: "李娜".into(), store_name: "静安店".into() }
    }

    fn check(w: &WelcomeDraft) -> Result<WelcomeDraft, ValidationError> {
        let mut c = Checker::default();
        let w = w.check(&mut c, "welcome[0]");
        c.finish(w)
    }

    fn codes(w: &WelcomeDraft) -> Vec<(String, String)> {
        check(w).unwrap_err().0.into_iter().map(|e| (e.field, e.code)).collect()
    }

    fn weighted(weights: &[u8]) -> Vec<WelcomeDraft> {
        weights.iter().map(|&weight| WelcomeDraft { weight, ..WelcomeDraft::text("hi") }).collect()
    }

    #[test]
    fn placeholders_in_both_languages_are_filled() {
        let text = "{客户昵称}您好，我是{门店}的{导购}。Hi {customer}, {guide} from {store}.";
        assert_eq!(render(text, &vars()), "小鱼您好，我是静安店的李娜。Hi 小鱼, 李娜 from 静安店.");
    }

    #[test]
    fn unknown_braces_stay_and_values_are_not_re_expanded() {
        assert_eq!(render("{优惠} {{导购}} {guide", &vars()), "{优惠} {李娜} {guide");
        let sneaky = WelcomeVars { customer_name: "{导购}".into(), ..vars() };
        assert_eq!(render("{客户昵称}", &sneaky), "{导购}");
        assert_eq!(render("", &vars()), "");
    }

    #[test]
    fn rendering_stays_within_the_byte_limit_at_a_char_boundary() {
        let long_name = WelcomeVars { customer_name: "鱼".repeat(2000), ..vars() };
        let out = render(&format!("{}{{客户昵称}}", "a".repeat(3990)), &long_name);
        assert!(out.len() <= MAX_TEXT_BYTES);
        assert_eq!(out.len(), 3999, "3990 + three whole 3-byte characters");
        assert!(out.ends_with('鱼'));
    }

    #[test]
    fn text_is_measured_in_bytes() {
        assert!(check(&WelcomeDraft::text(&"好".repeat(1333))).is_ok());
        assert_eq!(codes(&WelcomeDraft::text(&"好".repeat(1334))), [("welcome[0].text".into(), "too_long".into())]);
    }

    #[test]
    fn an_empty_welcome_is_refused_but_attachments_alone_are_fine() {
        assert_eq!(codes(&WelcomeDraft::text("  ")), [("welcome[0].text".into(), "required".into())]);
        let only_image = WelcomeDraft {
            attachments: vec![Attachment::Image { url: Some("https://koi.example/a.jpg".into()), media_id: None }],
            ..WelcomeDraft::text("")
        };
        assert!(check(&only_image).is_ok());
    }

    #[test]
    fn attachments_follow_wecom_limits() {
        let link = |title: String, desc: String| Attachment::Link {
            title,
            url: "https://koi.example/p".into(),
            desc,
            pic_url: String::new(),
        };
        let w = WelcomeDraft {
            attachments: vec![
                link("标".repeat(42), "述".repeat(170)),
                link("标".repeat(43), "述".repeat(171)),
                Attachment::Miniprogram {
                    title: "小".repeat(22),
                    appid: "wx0123456789abcdef".into(),
                    page: "pages/index/index".into(),
                    pic_media_id: "".into(),
                },
                Attachment::Image { url: Some("https://a/b.png".into()), media_id: Some("MEDIA".into()) },
                Attachment::CouponLink { title: "新人券".into(), url: "koi.example/c".into() },
            ],
            weight: 0,
            ..WelcomeDraft::text("hi")
        };
        let got = codes(&w);
        let want = [
            ("welcome[0].weight", "out_of_range"),
            ("welcome[0].attachments[1].title", "too_long"),
            ("welcome[0].attachments[1].desc", "too_long"),
            ("welcome[0].attachments[2].title", "too_long"),
            ("welcome[0].attachments[2].pic_media_id", "invalid_media_id"),
            ("welcome[0].attachments[3].url", "one_of"),
            ("welcome[0].attachments[4].url", "invalid_url"),
        ];
        let want: Vec<(String, String)> = want.iter().map(|(f, c)| (f.to_string(), c.to_string())).collect();
        assert_eq!(got, want);
        let ten = WelcomeDraft { attachments: vec![link("t".into(), String::new()); 10], ..WelcomeDraft::text("hi") };
        assert_eq!(codes(&ten), [("welcome[0].attachments".into(), "too_many".into())]);
    }

    #[test]
    fn attachments_read_from_json_by_kind() {
        let a: Attachment =
            serde_json::from_str(r#"{"kind":"coupon_link","title":"满100减20","url":"https://koi.example/h5/c/1"}"#)
                .expect("parses");
        assert!(matches!(a, Attachment::CouponLink { .. }));
    }

    fn shares(weights: &[u8], seeds: impl Iterator<Item = u64>) -> Vec<f64> {
        let variants = weighted(weights);
        let mut counts = vec![0u32; weights.len()];
        let mut n = 0;
        for seed in seeds {
            counts[pick_variant(&variants, seed).expect("variants exist")] += 1;
            n += 1;
        }
        counts.iter().map(|&c| f64::from(c) / f64::from(n)).collect()
    }

    #[test]
    fn ten_thousand_customers_split_by_weight() {
        let customers = (0..10_000).map(|i| variant_seed(&format!("wmAbCd{i:06}"), 42));
        let got = shares(&[70, 30], customers);
        assert!((got[0] - 0.70).abs() <= 0.03 && (got[1] - 0.30).abs() <= 0.03, "{got:?}");
        let got = shares(&[50, 30, 20], 0..10_000);
        for (g, w) in got.iter().zip([0.5, 0.3, 0.2]) {
            assert!((g - w).abs() <= 0.03, "sequential seeds: {got:?}");
        }
    }

    #[test]
    fn a_customer_keeps_their_variant() {
        let variants = weighted(&[50, 50]);
        let seed = variant_seed("wmXYZ", 7);
        assert_eq!(seed, variant_seed("wmXYZ", 7));
        assert_ne!(seed, variant_seed("wmXYZ", 8), "each code splits independently");
        let first = pick_variant(&variants, seed);
        assert!((0..100).all(|_| pick_variant(&variants, seed) == first));
        assert_eq!(pick_variant(&[], seed), None);
        assert_eq!(pick_variant(&weighted(&[1]), seed), Some(0));
    }

    proptest! {
        #[test]
        fn render_never_exceeds_the_limit(text in ".{0,300}", name in ".{0,2000}", reps in 1usize..40) {
            let v = WelcomeVars { customer_name: name, ..vars() };
            let out = render(&text.repeat(reps), &v);
            prop_assert!(out.len() <= MAX_TEXT_BYTES);
        }

        #[test]
        fn pick_is_in_range(weights in proptest::collection::vec(any::<u8>(), 1..5), seed in any::<u64>()) {
            let i = pick_variant(&weighted(&weights), seed).expect("non-empty");
            prop_assert!(i < weights.len());
        }
    }
}
