//! One customer's profile (客户画像): who they are and whom they follow,
//! their lifecycle stage, RFM bands, influence and behaviour, their tags
//! with what put each there, custom fields to fill in, and the timeline in
//! words ("tagged VIP by rule “首单”", "stage 蓄水 → 养鱼: orders 1 ≥ 1").

use super::customers::{CustomerRow, Names};
use super::segments::stage_key;
use super::{error_page, render, render_with, see_other, Chrome, FormView, Notice, OrPage, Page};
use crate::auth::{Console, ConsoleForm};
use crate::error::WebError;
use crate::i18n::{Lang, Tr};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use koi_domain::access::Action;
use koi_domain::customer::FieldKind;
use koi_domain::segment::Stage;
use koi_engine::customers::{CustomerProfileView, TagGroupView, TimelineEntry};
use koi_engine::EngineError;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

pub struct TagChip {
    pub id: String,
    pub name: String,
    pub group: String,
    /// What put it there, in words.
    pub source: String,
    pub at: String,
}

/// A custom field as its input: the kind decides the control.
pub struct FieldInput {
    pub name: String,
    pub label: String,
    /// `text`, `number`, `date` or `choice`.
    pub control: &'static str,
    pub options: Vec<String>,
    pub max_len: u32,
    /// The hint under the input (`30–50`).
    pub hint: String,
}

pub struct TimelineRow {
    pub at: String,
    pub kind: String,
    pub actor: String,
    pub title: String,
    pub detail: String,
}

/// The numbers of the profile, ready to show.
pub struct Standing {
    pub stage: String,
    pub stage_code: String,
    pub stage_en: String,
    pub rfm: String,
    pub influence: i32,
    pub orders: i32,
    pub spent: String,
    pub last_order: String,
    pub last_active: String,
    pub friends_brought: i32,
    pub groups_joined: i32,
    pub shares: i32,
    pub home: String,
}

/// An order on the profile: placed or refunded, how much, when.
pub struct OrderRow {
    /// `placed` or `refunded`.
    pub kind: String,
    pub label: String,
    pub amount: String,
    pub at: String,
}

#[derive(Template)]
#[template(path = "customer.html")]
struct DetailPage {
    c: Chrome,
    customer: CustomerRow,
    external_userid: String,
    kind: i32,
    /// The i18n key of the customer's gender.
    gender: &'static str,
    /// The guides' remarks and the phones they noted, each once.
    remarks: Vec<String>,
    phones: Vec<String>,
    orders: Vec<OrderRow>,
    value: Standing,
    tags: Vec<TagChip>,
    /// Catalogue tags the customer does not carry, by group.
    addable: Vec<TagGroupView>,
    fields: Vec<FieldInput>,
    form: FormView,
    can_tag: bool,
    timeline: Vec<TimelineRow>,
    /// Materials the customer opened: (title, opens, last opened).
    opened: Vec<(String, i64, String)>,
}

/// `¥1,234.50` for fen.
fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let fen = fen.abs();
    let whole = (fen / 100).to_string();
    let mut grouped = String::new();
    for (i, ch) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    format!("{sign}¥{grouped}.{:02}", fen % 100)
}

fn t(lang: Lang, key: &str) -> String {
    Tr(lang).s(key).to_string()
}

/// What the timeline and the tag chips need to say names instead of ids.
pub(super) struct Words<'a> {
    pub lang: Lang,
    /// Tag id → name.
    pub tags: &'a HashMap<String, String>,
    /// `user:3` → the console user's name.
    pub people: &'a BTreeMap<String, String>,
    pub names: &'a Names,
    /// Tag rule id → name.
    pub rules: &'a HashMap<i64, String>,
}

impl Words<'_> {
    fn t(&self, key: &str) -> String {
        t(self.lang, key)
    }

    fn code(&self, id: i64) -> String {
        self.names.codes.get(&id).cloned().unwrap_or_else(|| self.t("deleted_code"))
    }

    fn rule(&self, id: i64) -> String {
        self.rules.get(&id).cloned().unwrap_or_else(|| self.t("deleted_rule"))
    }

    fn guide(&self, p: &Value) -> String {
        p["staff_id"]
            .as_i64()
            .and_then(|id| self.names.staff.get(&id).cloned())
            .or_else(|| p["userid"].as_str().and_then(|u| self.names.by_userid.get(u).cloned()))
            .unwrap_or_else(|| self.t("a_guide"))
    }

    /// The tag source kept with a customer's tag (`user:3`, `api_key`,
    /// `code:5`, `rule:2`, `bulk`, `wecom`, `import`), in words.
    fn source(&self, source: &str) -> String {
        if source == "api_key" || source.starts_with("user:") {
            format!("{} ({})", self.t("source_hand"), person(self.lang, self.people, source))
        } else if let Some(id) = source.strip_prefix("code:").and_then(|id| id.parse().ok()) {
            format!("{} “{}”", self.t("channel_code"), self.code(id))
        } else if let Some(id) = source.strip_prefix("rule:").and_then(|id| id.parse().ok()) {
            format!("{} “{}”", self.t("tag_rule"), self.rule(id))
        } else {
            person(self.lang, self.people, source)
        }
    }

    /// Why a tag event happened, from its `cause`.
    fn cause(&self, cause: &Value) -> String {
        let s = |k: &str| cause[k].as_str().unwrap_or_default().to_string();
        match cause["by"].as_str().unwrap_or_default() {
            "hand" => format!("{} ({})", self.t("source_hand"), person(self.lang, self.people, &s("actor"))),
            "code" => format!(
                "{} “{}”",
                self.t("cause_code"),
                cause["code_id"].as_i64().map(|id| self.code(id)).unwrap_or_default()
            ),
            "rule" => {
                let name =
                    cause["rule_id"].as_i64().and_then(|id| self.rules.get(&id).cloned()).unwrap_or_else(|| s("name"));
                format!("{} “{name}”", self.t("tag_rule"))
            }
            "bulk" => format!("{}: {}", self.t("source_bulk"), s("source")),
            "wecom" => self.t("source_wecom"),
            "tag_deleted" => self.t("cause_tag_deleted"),
            other => person(self.lang, self.people, other),
        }
    }

    /// WeCom's refusal (`userid: wecom API: errcode N: message`) as the
    /// guide's name and the error number; WeCom's own words stay in the log.
    fn refusal(&self, reason: &str) -> String {
        let guide = reason.split_once(':').and_then(|(u, _)| self.names.by_userid.get(u.trim()).cloned());
        let errcode: String = reason
            .split_once("errcode")
            .map(|(_, rest)| rest.trim_start().chars().take_while(char::is_ascii_digit).collect())
            .unwrap_or_default();
        let said = if errcode.is_empty() {
            self.t("wecom_refused_it")
        } else {
            self.t("wecom_refused_code").replace("{errcode}", &errcode)
        };
        [guide, Some(said)].into_iter().flatten().collect::<Vec<_>>().join(" · ")
    }

    /// A stage change's reason from its `why` (older events carry only
    /// the English `reason`).
    fn stage_reason(&self, p: &Value) -> String {
        let why = &p["why"];
        let n = |k: &str| why[k].as_i64().unwrap_or_default().to_string();
        let key = match why["code"].as_str() {
            Some(code) => format!("why_{code}"),
            None => return p["reason"].as_str().unwrap_or_default().to_string(),
        };
        let text = self.t(&key);
        if text == key {
            return p["reason"].as_str().unwrap_or_default().to_string();
        }
        ["orders", "at_least", "influence", "days", "within"]
            .iter()
            .fold(text, |acc, k| acc.replace(&format!("{{{k}}}"), &n(k)))
    }
}

/// An actor (`user:3`, `api_key`, `wecom`, `system`, `import`, `koi`,
/// `customer`) in words: a console user's name, or the kind of actor.
pub(super) fn person(lang: Lang, people: &BTreeMap<String, String>, actor: &str) -> String {
    if let Some(name) = people.get(actor) {
        return name.clone();
    }
    let key = match actor {
        "api_key" => "actor_api_key",
        "wecom" => "actor_wecom",
        "system" | "koi" => "actor_system",
        "import" => "actor_import",
        "customer" => "actor_customer",
        a if a.starts_with("user:") => "actor_deleted_user",
        other => return other.to_string(),
    };
    t(lang, key)
}

fn compact(v: &Value) -> String {
    match v {
        Value::Object(m) if m.is_empty() => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn stage_words(lang: Lang, code: &str) -> String {
    Stage::from_name(code).map_or_else(|| code.to_string(), |s| t(lang, stage_key(s)))
}

/// One event in words: a title and a detail line.
fn read_event(w: &Words, e: &TimelineEntry, fields: &HashMap<String, String>) -> (String, String) {
    let lang = w.lang;
    let p = &e.payload;
    let s = |k: &str| p[k].as_str().unwrap_or_default().to_string();
    let tag_list = || {
        p["tag_ids"]
            .as_array()
            .map(|ids| {
                ids.iter()
                    .filter_map(Value::as_str)
                    .map(|id| w.tags.get(id).cloned().unwrap_or_else(|| t(lang, "deleted_tag")))
                    .collect::<Vec<_>>()
                    .join("、")
            })
            .unwrap_or_default()
    };
    let kind = e.kind.strip_prefix("customer.").unwrap_or(&e.kind);
    match kind {
        "tagged" | "untagged" => {
            let key = if kind == "tagged" { "ev_tagged" } else { "ev_untagged" };
            (format!("{}: {}", t(lang, key), tag_list()), w.cause(&p["cause"]))
        }
        "stage_changed" => (
            format!("{}: {} → {}", t(lang, "stage"), stage_words(lang, &s("from")), stage_words(lang, &s("to"))),
            w.stage_reason(p),
        ),
        "fields_set" => {
            let mut parts: Vec<String> = p["fields"]
                .as_object()
                .map(|m| m.iter().map(|(k, v)| format!("{} = {}", fields.get(k).unwrap_or(k), compact(v))).collect())
                .unwrap_or_default();
            if let Some(h) = p["home"].as_array() {
                parts.push(format!(
                    "{} = {}",
                    t(lang, "home_location"),
                    h.iter().map(compact).collect::<Vec<_>>().join(", ")
                ));
            }
            (t(lang, "ev_fields_set"), parts.join("; "))
        }
        "order_placed" | "order_refunded" => {
            let amount = p["amount_fen"].as_i64().map(yuan).unwrap_or_default();
            (format!("{} {amount}", t(lang, &format!("ev_{kind}"))), String::new())
        }
        "added" => {
            let code = p["code_id"].as_i64().map(|c| format!("{} “{}”", t(lang, "channel_code"), w.code(c)));
            let detail = [Some(w.guide(p)), code].into_iter().flatten().collect::<Vec<_>>().join(" · ");
            (t(lang, "ev_added"), detail)
        }
        "lost" => {
            let by = match s("deleted_by").as_str() {
                "" => String::new(),
                by => format!("{}: {}", t(lang, "deleted_by"), t(lang, by)),
            };
            (t(lang, "ev_lost"), [w.guide(p), by].into_iter().filter(|x| !x.is_empty()).collect::<Vec<_>>().join(" · "))
        }
        _ if e.kind == "welcome.sent" || e.kind == "welcome.not_sent" => {
            let title = if e.kind == "welcome.sent" { "ev_welcome_sent" } else { "ev_welcome_not_sent" };
            let outcome = s("outcome");
            let outcome = if outcome.is_empty() { String::new() } else { t(lang, &format!("welcome_{outcome}")) };
            (
                t(lang, title),
                [w.guide(p), outcome].into_iter().filter(|x| !x.is_empty()).collect::<Vec<_>>().join(" · "),
            )
        }
        _ if e.kind == "wecom.refused" => (t(lang, "ev_wecom_refused"), w.refusal(&s("reason"))),
        _ if e.kind == "coupon.not_issued" => {
            (t(lang, "ev_coupon_not_issued"), t(lang, &format!("cp_not_issued_{}", s("reason"))))
        }
        "group_joined" | "group_left" => {
            let group_kind = t(lang, &format!("group_kind_{}", s("group_kind")));
            (t(lang, &format!("ev_{kind}")), [s("group_name"), group_kind].join(" · "))
        }
        "poll_answered" | "material_opened" | "campaign_joined" | "message_replied" | "shared" | "friend_brought" => {
            let detail = p
                .as_object()
                .map(|m| {
                    m.iter().filter(|(k, _)| *k != "kind").map(|(_, v)| compact(v)).collect::<Vec<_>>().join(" · ")
                })
                .unwrap_or_default();
            (t(lang, &format!("ev_{kind}")), detail)
        }
        _ => (t(lang, "ev_other"), String::new()),
    }
}

fn field_input(name: String, label: String, kind: &FieldKind) -> FieldInput {
    let bound = |b: &Option<f64>| b.map(|b| b.to_string()).unwrap_or_default();
    let (control, options, max_len, hint) = match kind {
        FieldKind::Text { max_len } => ("text", vec![], *max_len, String::new()),
        FieldKind::Number { min, max } if min.is_none() && max.is_none() => ("number", vec![], 32, String::new()),
        FieldKind::Number { min, max } => ("number", vec![], 32, format!("{}–{}", bound(min), bound(max))),
        FieldKind::Date => ("date", vec![], 10, String::new()),
        FieldKind::Choice { options } => ("choice", options.clone(), 32, String::new()),
    };
    FieldInput { name, label, control, options, max_len, hint }
}

/// The form's values for a profile: each field by `f.NAME`, and home.
fn field_values(p: &CustomerProfileView) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> =
        p.fields.iter().map(|f| (format!("f.{}", f.name), f.value.clone().unwrap_or_default())).collect();
    if let Some((lat, lng)) = p.home {
        v.push(("home_lat".into(), lat.to_string()));
        v.push(("home_lng".into(), lng.to_string()));
    }
    v
}

async fn page(state: &AppState, c: &Console, id: i64, form: Option<FormView>) -> Result<DetailPage, Response> {
    let who = c.who();
    let p = state.engine.customer_profile(who, id).await.or_page(c)?;
    let groups = state.engine.tag_groups(who).await.or_page(c)?;
    let names = Names::load(state, c).await?;
    let tag_names: HashMap<String, String> =
        groups.iter().flat_map(|g| &g.tags).map(|t| (t.id.clone(), t.name.clone())).collect();
    let lang = c.lang;
    let rules: HashMap<i64, String> = if who.allows(Action::ViewCustomers) {
        state.engine.tag_rules(who).await.or_page(c)?.into_iter().map(|r| (r.id, r.name)).collect()
    } else {
        HashMap::new()
    };
    let field_labels: HashMap<String, String> = p.fields.iter().map(|f| (f.name.clone(), f.label.clone())).collect();
    let words = Words { lang, tags: &tag_names, people: &p.people, names: &names, rules: &rules };
    let stage = Stage::from_name(&p.stage).unwrap_or_default();
    let band = |b: Option<i32>| b.map_or_else(|| "–".to_string(), |b| b.to_string());
    let value = Standing {
        stage: p.stage_zh.clone(),
        stage_code: p.stage.clone(),
        // English pages add the English name; a Chinese page says it once.
        stage_en: if lang == Lang::En { Tr(Lang::En).s(stage_key(stage)).to_string() } else { String::new() },
        rfm: if p.rfm.iter().all(Option::is_none) {
            "—".into()
        } else {
            format!("R{} F{} M{}", band(p.rfm[0]), band(p.rfm[1]), band(p.rfm[2]))
        },
        influence: p.influence,
        orders: p.orders,
        spent: yuan(p.spent_fen),
        last_order: crate::fmt::opt_datetime(p.last_order_at),
        last_active: crate::fmt::opt_datetime(p.last_active_at),
        friends_brought: p.friends_brought,
        groups_joined: p.groups_joined,
        shares: p.shares,
        home: p.home.map_or_else(|| "—".into(), |(lat, lng)| format!("{lat:.5}, {lng:.5}")),
    };
    let carried: Vec<&str> = p.tags.iter().map(|t| t.id.as_str()).collect();
    let addable = groups
        .into_iter()
        .map(|mut g| {
            g.tags.retain(|t| !carried.contains(&t.id.as_str()));
            g
        })
        .filter(|g| !g.tags.is_empty())
        .collect();
    let tags = p
        .tags
        .iter()
        .map(|x| TagChip {
            id: x.id.clone(),
            name: x.name.clone(),
            group: x.group.clone(),
            source: words.source(&x.source),
            at: crate::fmt::datetime(x.tagged_at),
        })
        .collect();
    let fields = p.fields.iter().map(|f| field_input(f.name.clone(), f.label.clone(), &f.kind)).collect();
    let timeline = p
        .timeline
        .iter()
        .map(|e| {
            let (title, detail) = read_event(&words, e, &field_labels);
            TimelineRow {
                at: crate::fmt::datetime(e.occurred_at),
                kind: e.kind.clone(),
                actor: person(lang, &p.people, &e.actor),
                title,
                detail,
            }
        })
        .collect();
    let form = form.unwrap_or_else(|| FormView::of(field_values(&p)));
    let mut remarks: Vec<String> = Vec::new();
    let mut phones: Vec<String> = Vec::new();
    for f in &p.customer.follows {
        if !f.remark.is_empty() && !remarks.contains(&f.remark) {
            remarks.push(f.remark.clone());
        }
        for ph in &f.phones {
            if !phones.contains(ph) {
                phones.push(ph.clone());
            }
        }
    }
    let orders = p
        .order_history
        .iter()
        .map(|o| OrderRow {
            label: t(lang, &format!("ev_order_{}", o.kind)),
            kind: o.kind.clone(),
            amount: yuan(o.amount_fen),
            at: crate::fmt::datetime(o.occurred_at),
        })
        .collect();
    Ok(DetailPage {
        c: Chrome::new(state, c, "customers").await,
        external_userid: p.customer.external_userid.clone(),
        kind: p.customer.kind,
        gender: match p.customer.gender {
            1 => "gender_male",
            2 => "gender_female",
            _ => "gender_unknown",
        },
        remarks,
        phones,
        orders,
        customer: names.row(p.customer),
        value,
        tags,
        addable,
        fields,
        form,
        can_tag: who.allows(Action::TagCustomers),
        timeline,
        opened: state
            .engine
            .customer_material_opens(who, id)
            .await
            .or_page(c)?
            .into_iter()
            .map(|o| (o.title, o.opens, crate::fmt::opt_datetime(o.last_open_at)))
            .collect(),
    })
}

pub async fn show(State(state): State<AppState>, c: Console, Path(id): Path<i64>, Query(n): Query<Notice>) -> Page {
    let mut p = page(&state, &c, id, None).await?;
    p.c = p.c.flash_from(n.ok.as_deref());
    Ok(render(&p))
}

/// Adds the ticked tags (`add`) and removes `remove` by hand.
pub async fn tag(State(state): State<AppState>, Path(id): Path<i64>, f: ConsoleForm) -> Page {
    let c = &f.console;
    let add: Vec<String> = f.all("add").map(str::to_string).collect();
    let remove: Vec<String> = f.all("remove").map(str::to_string).collect();
    match state.engine.tag_customer(c.who(), id, &add, &remove).await {
        Ok(_) => Ok(see_other(&format!("/console/customers/{id}?ok=tagged#tags"))),
        Err(e) => {
            let form = FormView::failed(vec![], e.into()).map_err(|e| error_page(c, e))?;
            let mut p = page(&state, c, id, None).await?;
            p.form.errors = form.errors;
            Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &p))
        }
    }
}

/// Saves the fields that changed (an emptied one is cleared) and home.
pub async fn set_fields(State(state): State<AppState>, Path(id): Path<i64>, f: ConsoleForm) -> Page {
    let c = &f.console;
    let current = state.engine.customer_profile(c.who(), id).await.or_page(c)?;
    let mut values: BTreeMap<String, Option<String>> = BTreeMap::new();
    for field in &current.fields {
        let typed = f.get(&format!("f.{}", field.name)).trim();
        if typed != field.value.as_deref().unwrap_or_default() {
            values.insert(field.name.clone(), Some(typed.to_string()).filter(|v| !v.is_empty()));
        }
    }
    let home = match (
        super::parse_coordinate("home", f.get("home_lat")),
        super::parse_coordinate("home", f.get("home_lng")),
    ) {
        (Ok(lat), Ok(lng)) => {
            let typed = lat.zip(lng);
            if typed == current.home {
                Ok(None)
            } else if lat.is_some() != lng.is_some() {
                Err(WebError::Engine(EngineError::Invalid(koi_domain::ValidationError::one(
                    "home",
                    "required",
                    "give both latitude and longitude, or neither",
                ))))
            } else {
                Ok(Some(typed))
            }
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    let result = match home {
        Ok(None) if values.is_empty() => Ok(()),
        Ok(home) => state.engine.set_customer_fields(c.who(), id, &values, home).await.map_err(WebError::from),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(see_other(&format!("/console/customers/{id}?ok=saved#fields"))),
        Err(e) => {
            let form = FormView::failed(f.fields.clone(), e).map_err(|e| error_page(c, e))?;
            Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &page(&state, c, id, Some(form)).await?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{person, read_event, yuan, Names, Words};
    use crate::i18n::Lang;
    use koi_engine::customers::TimelineEntry;
    use serde_json::json;
    use std::collections::{BTreeMap, HashMap};

    #[test]
    fn money_reads_well() {
        assert_eq!(yuan(12_345_678), "¥123,456.78");
        assert_eq!(yuan(5), "¥0.05");
    }

    /// Sources, causes, guides and reasons by name and in the page's
    /// language: no `#6`, no `api_key`, no WeCom account, no English
    /// reason on a Chinese page.
    #[test]
    fn the_timeline_names_things_in_the_page_language() {
        let names = Names {
            codes: [(2, "门口海报".to_string())].into(),
            stores: HashMap::new(),
            staff: [(7, "小美".to_string())].into(),
            by_userid: [("meimei".to_string(), "小美".to_string())].into(),
        };
        let tags: HashMap<String, String> = [("etVIP".to_string(), "VIP".to_string())].into();
        let people: BTreeMap<String, String> = [("user:3".to_string(), "陈思".to_string())].into();
        let rules: HashMap<i64, String> = [(6, "首单送券".to_string())].into();
        let w = Words { lang: Lang::Zh, tags: &tags, people: &people, names: &names, rules: &rules };
        assert_eq!(w.source("code:2"), "渠道活码 “门口海报”");
        assert_eq!(w.source("rule:6"), "规则 “首单送券”");
        assert_eq!(w.source("api_key"), "手动 (API 密钥)");
        assert_eq!(w.source("user:3"), "手动 (陈思)");
        assert_eq!(w.source("import"), "导入");
        assert_eq!(person(Lang::En, &people, "api_key"), "API key");
        let ev =
            |kind: &str, payload| TimelineEntry { kind: kind.into(), actor: "system".into(), payload, occurred_at: 0 };
        let fields = HashMap::new();
        let why = json!({"from": "converted", "to": "super", "reason": "orders 6 ≥ 3",
                         "why": {"code": "orders", "orders": 6, "at_least": 3}});
        assert_eq!(read_event(&w, &ev("customer.stage_changed", why), &fields).1, "下单 6 次，达到 3 次");
        let added = json!({"code_id": 2, "staff_id": 7, "userid": "meimei"});
        assert_eq!(read_event(&w, &ev("customer.added", added), &fields).1, "小美 · 渠道活码 “门口海报”");
        let welcome = json!({"userid": "meimei", "outcome": "sent"});
        assert_eq!(read_event(&w, &ev("welcome.sent", welcome), &fields).1, "小美 · 已发送");
        let tagged = json!({"tag_ids": ["etVIP"], "cause": {"by": "rule", "rule_id": 6, "name": "旧名"}});
        assert_eq!(
            read_event(&w, &ev("customer.tagged", tagged), &fields),
            ("打上标签: VIP".into(), "规则 “首单送券”".into())
        );
    }
}
