//! Handover (继承) and loss (流失): moving a guide's customers and groups to
//! other guides with WeCom's transfer APIs, and the alerts when a customer
//! deletes their guide.
//!
//! | item | what |
//! |---|---|
//! | [`HandoverDraft`] | what the operator asks for, validated: on-leave (离职继承) or on-job (在职继承), from whom, to whom, which customers and groups, the message (on-job only) |
//! | [`assign_receivers`] | each customer to one receiver: by store when receivers have stores, evenly otherwise |
//! | [`over_limit`] | WeCom's rule: a customer is handed over at most twice in 90 days |
//! | [`ItemStatus`] | a customer's place in a handover, from planned to WeCom's final word |
//! | [`request_outcome`] / [`result_status`] | WeCom's answers as koi records them |
//! | [`shanghai_day`] / [`summary_due`] | the day a loss belongs to, and when the daily summary goes out |

use crate::calendar::civil_from_days;
use crate::error::{Checker, ValidationError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `transfer_customer` takes at most this many customers a call.
pub const MAX_BATCH: usize = 100;
/// `groupchat/transfer` takes at most this many groups a call.
pub const MAX_GROUP_BATCH: usize = 100;
/// WeCom: a customer is handed over at most this many times …
pub const MAX_HANDOVERS: usize = 2;
/// … in this window.
pub const LIMIT_WINDOW_MS: i64 = 90 * 86_400_000;
/// WeCom's limit on `transfer_success_msg`.
pub const MAX_MESSAGE_CHARS: usize = 200;
/// Receivers one handover spreads over.
pub const MAX_RECEIVERS: usize = 50;
/// Customers an operator may pick by hand.
pub const MAX_PICKED: usize = 20_000;
/// `add_way` of a follow WeCom made by a handover (admin assignment).
pub const ADD_WAY_HANDOVER: i32 = 202;

/// On-leave (the guide left: `resigned/transfer_customer`, no message) or
/// on-job (the guide stays: `transfer_customer`, the customer is told).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HandoverKind {
    OnLeave,
    OnJob,
}

impl HandoverKind {
    pub fn as_str(self) -> &'static str {
        match self {
            HandoverKind::OnLeave => "on_leave",
            HandoverKind::OnJob => "on_job",
        }
    }

    pub fn parse(s: &str) -> Option<HandoverKind> {
        match s {
            "on_leave" => Some(HandoverKind::OnLeave),
            "on_job" => Some(HandoverKind::OnJob),
            _ => None,
        }
    }
}

/// A handover as the operator asks for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HandoverDraft {
    pub kind: HandoverKind,
    /// The guide whose customers move.
    pub from_staff_id: i64,
    /// One or more receiving guides; with several, each customer goes to a
    /// receiver of the store the customer came through, evenly otherwise.
    pub receiver_ids: Vec<i64>,
    /// Some of the guide's customers; none: all of them.
    #[serde(default)]
    pub customer_ids: Vec<i64>,
    /// Also move the groups the guide owns (to the first receiver).
    #[serde(default)]
    pub include_groups: bool,
    /// What the customer is told (on-job only; WeCom has a default).
    #[serde(default)]
    pub message: String,
}

impl HandoverDraft {
    pub fn validate(&self) -> Result<HandoverDraft, ValidationError> {
        let mut c = Checker::default();
        let mut d = self.clone();
        d.message = c.text("message", &self.message, MAX_MESSAGE_CHARS, false);
        if self.kind == HandoverKind::OnLeave && !d.message.is_empty() {
            c.push("message", "not_allowed", "an on-leave handover sends no message");
        }
        if self.from_staff_id <= 0 {
            c.push("from_staff_id", "required", "choose the guide whose customers move");
        }
        let mut seen = std::collections::HashSet::new();
        d.receiver_ids.retain(|r| seen.insert(*r));
        if d.receiver_ids.is_empty() {
            c.push("receiver_ids", "required", "choose at least one receiving guide");
        } else if d.receiver_ids.len() > MAX_RECEIVERS {
            c.push("receiver_ids", "too_many", format!("at most {MAX_RECEIVERS} receivers"));
        }
        if d.receiver_ids.iter().any(|r| *r <= 0) {
            c.push("receiver_ids", "invalid", "unknown receiver");
        }
        if d.receiver_ids.contains(&self.from_staff_id) {
            c.push("receiver_ids", "same_guide", "a guide cannot hand over to themselves");
        }
        d.customer_ids.sort_unstable();
        d.customer_ids.dedup();
        if d.customer_ids.len() > MAX_PICKED {
            c.push("customer_ids", "too_many", format!("at most {MAX_PICKED} customers picked by hand"));
        }
        c.finish(d)
    }
}

/// A receiver and the stores they work in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receiver {
    pub staff_id: i64,
    pub store_ids: Vec<i64>,
}

/// Gives each customer `(customer, store of the follow)` one receiver: a
/// receiver of the customer's store when there is one, else any receiver;
/// among the candidates, the one given the fewest so far (the first on a
/// tie). Deterministic: the same input gives the same plan.
pub fn assign_receivers<C: Clone>(customers: &[(C, Option<i64>)], receivers: &[Receiver]) -> Vec<(C, i64)> {
    if receivers.is_empty() {
        return Vec::new();
    }
    let mut load: BTreeMap<i64, usize> = receivers.iter().map(|r| (r.staff_id, 0)).collect();
    let mut out = Vec::with_capacity(customers.len());
    for (c, store) in customers {
        let local: Vec<i64> = match store {
            Some(s) => receivers.iter().filter(|r| r.store_ids.contains(s)).map(|r| r.staff_id).collect(),
            None => Vec::new(),
        };
        let pool: Vec<i64> = if local.is_empty() { receivers.iter().map(|r| r.staff_id).collect() } else { local };
        let pick = pool.iter().copied().min_by_key(|id| (load[id], pool.iter().position(|p| p == id))).expect("pool");
        *load.get_mut(&pick).expect("every receiver has a load") += 1;
        out.push((c.clone(), pick));
    }
    out
}

/// Whether a customer handed over at the times `past` (ms) may not be
/// handed over again at `now`: WeCom allows [`MAX_HANDOVERS`] in 90 days.
pub fn over_limit(past: &[i64], now: i64) -> bool {
    // A time after `now` (WeCom's clock ahead of koi's) still counts.
    past.iter().filter(|t| **t > now - LIMIT_WINDOW_MS).count() >= MAX_HANDOVERS
}

/// A customer's place in a handover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    /// Not sent to WeCom yet.
    Planned,
    /// In a batch whose call is under way (claimed).
    Sending,
    /// WeCom took the request; the customer has not accepted or refused yet.
    Waiting,
    /// The customer moved to the receiver.
    Accepted,
    /// The customer refused.
    Refused,
    /// The receiver has too many customers (WeCom status 4).
    ReceiverFull,
    /// Over WeCom's two-in-90-days rule: skipped by koi or refused by WeCom.
    OverLimit,
    /// WeCom refused the request for this customer (reason: its errcode),
    /// or had no record of it.
    Failed,
    /// An earlier call may have reached WeCom without an answer, and WeCom's
    /// results do not show the customer.
    Unknown,
}

impl ItemStatus {
    pub const ALL: [ItemStatus; 9] = [
        ItemStatus::Planned,
        ItemStatus::Sending,
        ItemStatus::Waiting,
        ItemStatus::Accepted,
        ItemStatus::Refused,
        ItemStatus::ReceiverFull,
        ItemStatus::OverLimit,
        ItemStatus::Failed,
        ItemStatus::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ItemStatus::Planned => "planned",
            ItemStatus::Sending => "sending",
            ItemStatus::Waiting => "waiting",
            ItemStatus::Accepted => "accepted",
            ItemStatus::Refused => "refused",
            ItemStatus::ReceiverFull => "receiver_full",
            ItemStatus::OverLimit => "over_limit",
            ItemStatus::Failed => "failed",
            ItemStatus::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<ItemStatus> {
        ItemStatus::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Nothing will change it any more (koi stops asking WeCom). `Unknown`
    /// is final for koi's polling, but a later result that shows the
    /// customer still settles it.
    pub fn is_final(self) -> bool {
        !matches!(self, ItemStatus::Planned | ItemStatus::Sending | ItemStatus::Waiting)
    }
}

/// What WeCom's per-customer errcode on a transfer request means: `None`
/// for taken (now waiting), else the status and the reason koi keeps.
pub fn request_outcome(errcode: i64) -> Option<(ItemStatus, String)> {
    match errcode {
        0 => None,
        40128 => Some((ItemStatus::OverLimit, "wecom_40128".into())),
        84061 => Some((ItemStatus::Failed, "no_relation".into())),
        40096 => Some((ItemStatus::Failed, "invalid_customer".into())),
        code => Some((ItemStatus::Failed, format!("wecom_{code}"))),
    }
}

/// `transfer_result`'s status as koi's: 1 done, 2 waiting, 3 refused,
/// 4 the receiver is at the limit, 5 no record.
pub fn result_status(status: i32) -> (ItemStatus, &'static str) {
    match status {
        1 => (ItemStatus::Accepted, ""),
        2 => (ItemStatus::Waiting, ""),
        3 => (ItemStatus::Refused, "customer_refused"),
        4 => (ItemStatus::ReceiverFull, "customer_limit_exceed"),
        _ => (ItemStatus::Failed, "no_record"),
    }
}

/// A `transfer_fail` callback's reason as koi's status.
pub fn fail_status(reason: &str) -> (ItemStatus, &'static str) {
    match reason {
        "customer_limit_exceed" => (ItemStatus::ReceiverFull, "customer_limit_exceed"),
        _ => (ItemStatus::Refused, "customer_refused"),
    }
}

/// When koi reads a handover's results after its requests: soon, then less
/// often; WeCom settles a handover 24 hours after the request.
pub const POLL_AFTER_MS: &[i64] = &[
    60_000,
    300_000,
    900_000,
    3_600_000,
    3 * 3_600_000,
    6 * 3_600_000,
    12 * 3_600_000,
    24 * 3_600_000,
    25 * 3_600_000,
    26 * 3_600_000,
    30 * 3_600_000,
    36 * 3_600_000,
    48 * 3_600_000,
    72 * 3_600_000,
];

/// Asia/Shanghai's offset (no daylight saving).
const SHANGHAI_MS: i64 = 8 * 3_600_000;

/// The Asia/Shanghai date (`YYYY-MM-DD`) of an instant.
pub fn shanghai_day(at_ms: i64) -> String {
    let days = (at_ms + SHANGHAI_MS).div_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The hour (Asia/Shanghai) the daily loss summary goes out.
pub const SUMMARY_HOUR: i64 = 9;

/// The day whose loss summary is due at `now`: yesterday (Asia/Shanghai),
/// once today's [`SUMMARY_HOUR`] has come.
pub fn summary_due(now_ms: i64) -> Option<String> {
    let local = now_ms + SHANGHAI_MS;
    let hour = local.rem_euclid(86_400_000) / 3_600_000;
    (hour >= SUMMARY_HOUR).then(|| shanghai_day(now_ms - 86_400_000))
}

/// The alert a guide and the store's managers get when a customer deletes
/// the guide.
pub fn loss_alert_text(customer: &str, guide: &str, store: &str) -> String {
    let store = if store.is_empty() { String::new() } else { format!("（{store}）") };
    format!("【客户流失提醒】客户「{customer}」删除了导购 {guide}{store}，请及时跟进。")
}

/// A store's daily summary: the day, the number lost, per guide.
pub fn loss_summary_text(day: &str, store: &str, per_guide: &[(String, i64)]) -> String {
    let total: i64 = per_guide.iter().map(|(_, n)| n).sum();
    let mut text = format!("【流失日报】{day} {store} 共流失客户 {total} 位");
    for (guide, n) in per_guide {
        text.push_str(&format!("\n{guide}：{n}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft() -> HandoverDraft {
        HandoverDraft {
            kind: HandoverKind::OnJob,
            from_staff_id: 1,
            receiver_ids: vec![2, 3, 2],
            customer_ids: vec![5, 4, 5],
            include_groups: true,
            message: " 您好，我是新的专属顾问 ".into(),
        }
    }

    #[test]
    fn a_draft_is_trimmed_and_deduplicated() {
        let d = draft().validate().expect("valid");
        assert_eq!(d.receiver_ids, [2, 3]);
        assert_eq!(d.customer_ids, [4, 5]);
        assert_eq!(d.message, "您好，我是新的专属顾问");
    }

    #[test]
    fn bad_drafts_name_their_fields() {
        let fields = |d: HandoverDraft| -> Vec<String> {
            d.validate().expect_err("invalid").0.into_iter().map(|e| e.field).collect()
        };
        let on_leave = HandoverDraft { kind: HandoverKind::OnLeave, ..draft() };
        assert_eq!(fields(on_leave), ["message"], "an on-leave handover tells the customer nothing");
        let to_self = HandoverDraft { receiver_ids: vec![1], ..draft() };
        assert_eq!(fields(to_self), ["receiver_ids"]);
        let nobody = HandoverDraft { from_staff_id: 0, receiver_ids: vec![], ..draft() };
        assert_eq!(fields(nobody), ["from_staff_id", "receiver_ids"]);
        let long = HandoverDraft { message: "字".repeat(MAX_MESSAGE_CHARS + 1), ..draft() };
        assert_eq!(fields(long), ["message"]);
    }

    #[test]
    fn customers_go_to_a_receiver_of_their_store_evenly() {
        let receivers = [
            Receiver { staff_id: 10, store_ids: vec![1] },
            Receiver { staff_id: 11, store_ids: vec![1] },
            Receiver { staff_id: 12, store_ids: vec![2] },
        ];
        let customers: Vec<(i64, Option<i64>)> =
            vec![(1, Some(1)), (2, Some(1)), (3, Some(1)), (4, Some(2)), (5, Some(9)), (6, None)];
        let plan = assign_receivers(&customers, &receivers);
        assert_eq!(plan, [(1, 10), (2, 11), (3, 10), (4, 12), (5, 11), (6, 12)]);
        assert!(assign_receivers(&customers, &[]).is_empty());
    }

    #[test]
    fn one_receiver_takes_everyone() {
        let customers: Vec<(i64, Option<i64>)> = (0..250).map(|i| (i, Some(i % 3))).collect();
        let plan = assign_receivers(&customers, &[Receiver { staff_id: 7, store_ids: vec![] }]);
        assert_eq!(plan.len(), 250);
        assert!(plan.iter().all(|(_, r)| *r == 7));
    }

    #[test]
    fn two_handovers_in_ninety_days_is_the_limit() {
        let day = 86_400_000;
        let now = 200 * day;
        assert!(!over_limit(&[], now));
        assert!(!over_limit(&[now - day], now));
        assert!(over_limit(&[now - day, now - 30 * day], now));
        assert!(!over_limit(&[now - day, now - 91 * day], now), "the older one is out of the window");
        assert!(over_limit(&[now + day, now - day], now), "WeCom's clock may be ahead of koi's");
    }

    #[test]
    fn wecom_answers_map_to_statuses() {
        assert_eq!(request_outcome(0), None);
        assert_eq!(request_outcome(40128).map(|o| o.0), Some(ItemStatus::OverLimit));
        assert_eq!(request_outcome(84061), Some((ItemStatus::Failed, "no_relation".into())));
        assert_eq!(result_status(1).0, ItemStatus::Accepted);
        assert_eq!(result_status(2).0, ItemStatus::Waiting);
        assert_eq!(result_status(3).0, ItemStatus::Refused);
        assert_eq!(result_status(4).0, ItemStatus::ReceiverFull);
        assert_eq!(result_status(5), (ItemStatus::Failed, "no_record"));
        assert_eq!(fail_status("customer_limit_exceed").0, ItemStatus::ReceiverFull);
        for s in ItemStatus::ALL {
            assert_eq!(ItemStatus::parse(s.as_str()), Some(s));
        }
        assert!(!ItemStatus::Waiting.is_final() && ItemStatus::Refused.is_final());
    }

    #[test]
    fn days_and_the_summary_hour_are_shanghai_time() {
        // 2026-12-07 15:59:59 UTC is 23:59:59 in Shanghai; a second later it is the 8th.
        let t = 1_796_659_199_000;
        assert_eq!(shanghai_day(t), "2026-12-07");
        assert_eq!(shanghai_day(t + 1000), "2026-12-08");
        // 00:30 on the 8th: too early; 09:00 the summary of the 7th is due.
        assert_eq!(summary_due(t + 1000 + 30 * 60_000), None);
        assert_eq!(summary_due(t + 1000 + 9 * 3_600_000).as_deref(), Some("2026-12-07"));
    }

    #[test]
    fn texts_name_the_customer_and_count_per_guide() {
        assert!(loss_alert_text("小美", "王芳", "静安店").contains("小美"));
        let s = loss_summary_text("2026-12-07", "静安店", &[("王芳".into(), 2), ("李娜".into(), 1)]);
        assert!(s.contains("共流失客户 3 位") && s.contains("王芳：2"), "{s}");
    }
}
