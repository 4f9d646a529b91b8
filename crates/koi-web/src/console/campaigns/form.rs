//! The campaign form: its values for a saved draft, and the draft read
//! back from a post. Money is typed in yuan, the hold in hours and the
//! geofence in km; the draft keeps fen, seconds and metres.

use crate::auth::ConsoleForm;
use crate::fmt::DISPLAY_OFFSET_MINUTES;
use koi_domain::calendar::parse_date;
use koi_domain::campaign::{CampaignDraft, CampaignKind, OldGroup, RewardKind, RewardSpec, RiskSettings, Tier};
use koi_domain::{FieldError, ValidationError};

/// Tier rows the form shows without JS (one more than a saved campaign has).
pub const MIN_TIER_ROWS: usize = 3;

/// A fresh campaign: from this minute for a week (launching it runs it at
/// once), the default risk settings.
pub fn blank(now: i64) -> CampaignDraft {
    let hour = 3_600_000;
    let start = now / 60_000 * 60_000;
    CampaignDraft {
        name: String::new(),
        kind: CampaignKind::Task,
        starts_at: start,
        ends_at: start + 7 * 24 * hour,
        store_ids: vec![],
        seed_segment: String::new(),
        staff_ids: vec![],
        welcome: String::new(),
        poster_template_id: None,
        group_code_id: None,
        old_groups: vec![],
        tiers: vec![],
        invitee_reward: None,
        budget_fen: 0,
        rules_text: String::new(),
        risk: RiskSettings::default(),
    }
}

/// `2026-12-07T10:00` in Asia/Shanghai, for a datetime-local input.
pub fn local_input(ms: i64) -> String {
    crate::fmt::datetime(ms).replace(' ', "T")
}

/// The inverse of [`local_input`]: `YYYY-MM-DDTHH:MM[:SS]` in Asia/Shanghai.
pub fn parse_local(text: &str) -> Option<i64> {
    let (date, time) = text.trim().split_once('T')?;
    let day = parse_date(date)?;
    let mut parts = time.split(':');
    let h: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let s: i64 = parts.next().map_or(Some(0), |s| s.parse().ok())?;
    if !(0..24).contains(&h) || !(0..60).contains(&m) || !(0..60).contains(&s) {
        return None;
    }
    Some((day * 86_400 + h * 3600 + m * 60 + s - DISPLAY_OFFSET_MINUTES * 60) * 1000)
}

/// `12.5` for 1250 fen; whole yuan without decimals.
pub fn yuan(fen: i64) -> String {
    if fen % 100 == 0 {
        (fen / 100).to_string()
    } else {
        format!("{}.{:02}", fen / 100, (fen % 100).abs())
    }
}

/// Fen of a yuan amount typed with at most two decimals.
pub fn parse_yuan(text: &str) -> Option<i64> {
    let t = text.trim();
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    if whole.is_empty() && frac.is_empty() || frac.len() > 2 || !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let w: i64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let f: i64 = if frac.is_empty() { 0 } else { format!("{frac:0<2}").parse().ok()? };
    if w < 0 {
        return None;
    }
    w.checked_mul(100)?.checked_add(f)
}

fn amount_input(r: &RewardSpec) -> String {
    match r.kind {
        RewardKind::RedEnvelope => yuan(r.amount),
        RewardKind::Points => r.amount.to_string(),
        _ => String::new(),
    }
}

fn reward_values(v: &mut Vec<(String, String)>, p: &str, r: &RewardSpec) {
    v.push((format!("{p}kind"), r.kind.as_str().into()));
    v.push((format!("{p}title"), r.title.clone()));
    v.push((format!("{p}amount"), amount_input(r)));
    v.push((format!("{p}url"), r.url.clone()));
    v.push((format!("{p}cost"), if r.cost_fen > 0 { yuan(r.cost_fen) } else { String::new() }));
    if let Some(g) = r.group_code_id {
        v.push((format!("{p}group_code"), g.to_string()));
    }
    if let Some(t) = r.coupon_template_id {
        v.push((format!("{p}coupon_template"), t.to_string()));
    }
}

/// The old groups as the form's text: one `name, size` a line.
pub fn old_groups_text(groups: &[OldGroup]) -> String {
    groups.iter().map(|g| format!("{}, {}", g.name, g.size)).collect::<Vec<_>>().join("\n")
}

/// The inverse of [`old_groups_text`]: a line is a name, a comma (or a
/// full-width `，`, a tab) and the size. Blank lines are skipped.
pub fn parse_old_groups(text: &str) -> Result<Vec<OldGroup>, FieldError> {
    let mut out = vec![];
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let bad = || {
            FieldError::new(
                "old_groups",
                "invalid_line",
                format!("line {}: {:?} is not \"name, size\" (e.g. 老会员1群, 480)", n + 1, line.trim()),
            )
        };
        let (name, size) = line.rsplit_once([',', '，', '\t']).ok_or_else(bad)?;
        let size: u32 = size.trim().parse().map_err(|_| bad())?;
        out.push(OldGroup { name: name.trim().to_string(), size });
    }
    Ok(out)
}

/// The form's values for a draft: the inverse of [`draft`].
pub fn values_of(d: &CampaignDraft) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = vec![
        ("name".into(), d.name.clone()),
        ("kind".into(), d.kind.as_str().into()),
        ("starts_at".into(), local_input(d.starts_at)),
        ("ends_at".into(), local_input(d.ends_at)),
        ("seed_segment".into(), d.seed_segment.clone()),
        ("welcome".into(), d.welcome.clone()),
        ("rules_text".into(), d.rules_text.clone()),
        ("group_code_id".into(), d.group_code_id.map(|g| g.to_string()).unwrap_or_default()),
        ("poster_template_id".into(), d.poster_template_id.map(|g| g.to_string()).unwrap_or_default()),
        ("old_groups".into(), old_groups_text(&d.old_groups)),
        ("budget".into(), if d.budget_fen > 0 { yuan(d.budget_fen) } else { String::new() }),
        ("risk_hold_hours".into(), hours(d.risk.hold_secs)),
        ("risk_velocity".into(), d.risk.velocity_per_hour.to_string()),
        ("risk_cluster_max".into(), d.risk.cluster_max.to_string()),
        ("risk_clique_common".into(), d.risk.clique_common.to_string()),
        ("risk_geofence_km".into(), km(d.risk.geofence_m)),
    ];
    for (on, name) in [
        (d.risk.new_only, "risk_new_only"),
        (d.risk.pay_before_hold, "risk_pay_before_hold"),
        (d.risk.no_readd, "risk_no_readd"),
        (d.risk.ring_check, "risk_ring_check"),
    ] {
        if on {
            v.push((name.into(), "on".into()));
        }
    }
    for s in &d.store_ids {
        v.push(("store".into(), s.to_string()));
    }
    for s in &d.staff_ids {
        v.push(("staff".into(), s.to_string()));
    }
    for (i, t) in d.tiers.iter().enumerate() {
        v.push((format!("tier{i}_threshold"), t.threshold.to_string()));
        v.push((format!("tier{i}_inventory"), t.inventory.map(|n| n.to_string()).unwrap_or_default()));
        reward_values(&mut v, &format!("tier{i}_"), &t.reward);
    }
    if let Some(r) = &d.invitee_reward {
        reward_values(&mut v, "friend_", r);
    }
    v
}

fn hours(secs: i64) -> String {
    if secs % 3600 == 0 {
        (secs / 3600).to_string()
    } else {
        format!("{:.4}", secs as f64 / 3600.0).trim_end_matches('0').to_string()
    }
}

fn km(m: u32) -> String {
    if m.is_multiple_of(1000) {
        (m / 1000).to_string()
    } else {
        format!("{:.3}", f64::from(m) / 1000.0)
    }
}

/// How many tier rows the form shows for these values.
pub fn tier_rows(values: &[(String, String)]) -> usize {
    let used = values
        .iter()
        .filter_map(|(k, _)| k.strip_prefix("tier")?.split_once('_')?.0.parse::<usize>().ok())
        .max()
        .map_or(0, |i| i + 1);
    (used + 1).clamp(MIN_TIER_ROWS, koi_domain::campaign::MAX_TIERS)
}

struct Reader<'a> {
    f: &'a ConsoleForm,
    errors: Vec<FieldError>,
}

impl Reader<'_> {
    fn text(&self, name: &str) -> String {
        self.f.get(name).trim().to_string()
    }

    fn on(&self, name: &str) -> bool {
        self.f.get(name) == "on"
    }

    fn bad(&mut self, field: &str, code: &str, msg: String) {
        self.errors.push(FieldError::new(field, code, msg));
    }

    fn int<T: std::str::FromStr>(&mut self, name: &str, field: &str) -> Option<T> {
        let t = self.text(name);
        if t.is_empty() {
            return None;
        }
        match t.parse() {
            Ok(n) => Some(n),
            Err(_) => {
                self.bad(field, "not_a_number", format!("{t:?} is not a whole number"));
                None
            }
        }
    }

    fn decimal(&mut self, name: &str, field: &str) -> Option<f64> {
        let t = self.text(name);
        if t.is_empty() {
            return None;
        }
        match t.parse::<f64>() {
            Ok(n) if n.is_finite() && n >= 0.0 => Some(n),
            _ => {
                self.bad(field, "not_a_number", format!("{t:?} is not a number"));
                None
            }
        }
    }

    fn money(&mut self, name: &str, field: &str) -> i64 {
        let t = self.text(name);
        if t.is_empty() {
            return 0;
        }
        parse_yuan(&t).unwrap_or_else(|| {
            self.bad(field, "not_a_number", format!("{t:?} is not an amount in yuan (e.g. 20 or 12.50)"));
            0
        })
    }

    fn ids(&self, name: &str) -> Vec<i64> {
        self.f.all(name).filter_map(|s| s.trim().parse().ok()).collect()
    }

    /// The reward of the inputs prefixed `p`; `field` names it in errors.
    fn reward(&mut self, p: &str, field: &str) -> Option<RewardSpec> {
        let kind = RewardKind::parse(self.f.get(&format!("{p}kind")))?;
        let amount = match kind {
            RewardKind::RedEnvelope => self.money(&format!("{p}amount"), &format!("{field}.amount")),
            RewardKind::Points => self.int(&format!("{p}amount"), &format!("{field}.amount")).unwrap_or(0),
            _ => 0,
        };
        let cost_fen = self.money(&format!("{p}cost"), &format!("{field}.cost_fen"));
        let group_code_id = self.int(&format!("{p}group_code"), &format!("{field}.group_code_id"));
        let mut title = self.text(&format!("{p}title"));
        if title.is_empty() {
            title = match kind {
                RewardKind::RedEnvelope if amount > 0 => RewardSpec::red_envelope(amount).title,
                RewardKind::Points if amount > 0 => RewardSpec::points(amount).title,
                _ => title,
            };
        }
        let coupon_template_id = self.int(&format!("{p}coupon_template"), &format!("{field}.coupon_template_id"));
        let coupon_template_id = coupon_template_id.filter(|_| kind == RewardKind::Coupon);
        Some(RewardSpec {
            kind,
            title,
            amount,
            url: self.text(&format!("{p}url")),
            group_code_id,
            coupon_template_id,
            cost_fen,
        })
    }
}

/// A draft read from the form, with the form row of each tier (rows left
/// empty are skipped, so the draft's `tiers[i]` is the form's row
/// `rows[i]`), or the fields that are not even numbers.
pub fn draft(f: &ConsoleForm) -> Result<(CampaignDraft, Vec<usize>), ValidationError> {
    let mut r = Reader { f, errors: vec![] };
    let time = |r: &mut Reader, name: &str| -> i64 {
        let t = r.text(name);
        parse_local(&t).unwrap_or_else(|| {
            r.bad(name, "invalid_time", format!("{t:?} is not a date and time"));
            0
        })
    };
    let starts_at = time(&mut r, "starts_at");
    let ends_at = time(&mut r, "ends_at");
    let mut tiers = vec![];
    let mut rows = vec![];
    for i in 0..koi_domain::campaign::MAX_TIERS * 2 {
        let p = format!("tier{i}_");
        let threshold = r.text(&format!("{p}threshold"));
        if threshold.is_empty() {
            continue;
        }
        let field = format!("tiers[{}]", tiers.len());
        let threshold = r.int::<u32>(&format!("{p}threshold"), &format!("{field}.threshold")).unwrap_or(0);
        let inventory = r.int::<u32>(&format!("{p}inventory"), &format!("{field}.inventory"));
        let Some(reward) = r.reward(&p, &field) else {
            r.bad(&format!("{field}.kind"), "required", "choose the reward".into());
            continue;
        };
        tiers.push(Tier { threshold, reward, inventory });
        rows.push(i);
    }
    let invitee_reward = r.reward("friend_", "invitee_reward");
    let hold_secs = r.decimal("risk_hold_hours", "risk.hold_secs").map_or(0, |h| (h * 3600.0).round() as i64);
    let geofence_m = r.decimal("risk_geofence_km", "risk.geofence_m").map_or(0, |k| (k * 1000.0).round() as u32);
    let risk = RiskSettings {
        new_only: r.on("risk_new_only"),
        hold_secs,
        pay_before_hold: r.on("risk_pay_before_hold"),
        no_readd: r.on("risk_no_readd"),
        velocity_per_hour: r.int("risk_velocity", "risk.velocity_per_hour").unwrap_or(0),
        cluster_max: r.int("risk_cluster_max", "risk.cluster_max").unwrap_or(0),
        ring_check: r.on("risk_ring_check"),
        clique_common: r.int("risk_clique_common", "risk.clique_common").unwrap_or(0),
        geofence_m,
    };
    let kind = CampaignKind::parse(f.get("kind")).unwrap_or_default();
    let group_code_id = r.int("group_code_id", "group_code_id");
    let poster_template_id = r.int("poster_template_id", "poster_template_id");
    let old_groups = if kind == CampaignKind::Migration {
        parse_old_groups(f.get("old_groups")).unwrap_or_else(|e| {
            r.errors.push(e);
            vec![]
        })
    } else {
        vec![]
    };
    let budget_fen = r.money("budget", "budget_fen");
    let seed = r.text("seed_expr");
    let seed_segment = if seed.is_empty() { r.text("seed_segment") } else { seed };
    let d = CampaignDraft {
        name: f.get("name").into(),
        kind,
        starts_at,
        ends_at,
        store_ids: r.ids("store"),
        seed_segment,
        staff_ids: r.ids("staff"),
        welcome: f.get("welcome").into(),
        poster_template_id,
        group_code_id: if matches!(kind, CampaignKind::Group | CampaignKind::Migration) { group_code_id } else { None },
        old_groups,
        tiers: if kind == CampaignKind::Migration { vec![] } else { tiers },
        invitee_reward: if matches!(kind, CampaignKind::Poster | CampaignKind::Migration) {
            invitee_reward
        } else {
            None
        },
        budget_fen,
        rules_text: f.get("rules_text").into(),
        risk,
    };
    if r.errors.is_empty() {
        Ok((d, rows))
    } else {
        Err(ValidationError(remap(r.errors, &rows)))
    }
}

/// Renames `tiers[i].x` errors to the form's row of tier `i`.
pub fn remap(errors: Vec<FieldError>, rows: &[usize]) -> Vec<FieldError> {
    errors
        .into_iter()
        .map(|mut e| {
            if let Some(rest) = e.field.strip_prefix("tiers[") {
                if let Some((i, tail)) = rest.split_once(']') {
                    if let Some(row) = i.parse::<usize>().ok().and_then(|i| rows.get(i)) {
                        e.field = format!("tiers[{row}]{tail}");
                    }
                }
            }
            e
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_money_read_back() {
        let ms = 1_796_000_400_000; // a whole minute
        assert_eq!(parse_local(&local_input(ms)), Some(ms));
        assert_eq!(parse_local("2026-12-07T10:00"), Some(1_796_608_800_000));
        assert_eq!(parse_local("2026-13-07T10:00"), None);
        assert_eq!(parse_yuan("20"), Some(2000));
        assert_eq!(parse_yuan("12.5"), Some(1250));
        assert_eq!(parse_yuan("0.05"), Some(5));
        assert_eq!(parse_yuan("1.234"), None);
        assert_eq!(parse_yuan("-3"), None);
        assert_eq!(yuan(1250), "12.50");
        assert_eq!(yuan(2000), "20");
    }

    #[test]
    fn old_groups_read_back_from_their_lines() {
        let g = vec![OldGroup { name: "UR老会员1群".into(), size: 480 }, OldGroup { name: "a, b".into(), size: 3 }];
        assert_eq!(parse_old_groups(&old_groups_text(&g)).unwrap(), g);
        assert_eq!(parse_old_groups("二群，200\n\n三群\t9").unwrap().len(), 2);
        assert_eq!(parse_old_groups("no size").unwrap_err().code, "invalid_line");
        assert_eq!(parse_old_groups("x, -1").unwrap_err().code, "invalid_line");
    }

    #[test]
    fn errors_follow_the_form_rows() {
        let e = remap(vec![FieldError::new("tiers[1].threshold", "x", "y")], &[0, 2]);
        assert_eq!(e[0].field, "tiers[2].threshold");
    }
}
