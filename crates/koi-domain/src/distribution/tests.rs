use super::*;
use proptest::prelude::*;

fn settings() -> DistributionSettings {
    DistributionSettings {
        enabled: true,
        level1_bp: 1_000,
        level2_bp: 500,
        rules: vec![
            RateRule { sku: Some("HOT-1".into()), level1_bp: 2_000, level2_bp: 300, ..Default::default() },
            RateRule { campaign_id: Some(7), level1_bp: 1_500, level2_bp: 800, ..Default::default() },
        ],
        ..Default::default()
    }
}

fn line(sku: &str, amount_fen: i64) -> OrderLine {
    OrderLine { sku: sku.into(), amount_fen }
}

#[test]
fn a_product_rule_wins_over_a_campaign_rule_over_the_default() {
    let s = settings();
    assert_eq!(s.rate(1, "HOT-1", Some(7)), 2_000);
    assert_eq!(s.rate(2, "HOT-1", None), 300);
    assert_eq!(s.rate(1, "OTHER", Some(7)), 1_500);
    assert_eq!(s.rate(2, "OTHER", Some(7)), 800);
    assert_eq!(s.rate(1, "OTHER", Some(8)), 1_000);
    assert_eq!(s.rate(2, "OTHER", None), 500);
    assert_eq!(s.rate(3, "OTHER", None), 0, "no third level, whatever the rules");
    assert_eq!(s.campaigns().collect::<Vec<_>>(), vec![7]);
}

#[test]
fn commission_is_each_line_at_its_rate_rounded_down() {
    let s = settings();
    // 19.99 × 20 % = 3.998 → 399 fen; 10.05 × 10 % = 1.005 → 100 fen.
    let lines = [line("HOT-1", 1_999), line("X", 1_005)];
    assert_eq!(commission_for(&s, 1, &lines, None), 399 + 100);
    assert_eq!(commission_for(&s, 2, &lines, None), 59 + 50);
}

#[test]
fn a_refund_cuts_in_proportion_and_a_full_refund_cancels() {
    assert_eq!(after_refund(1_000, 10_000, 0), 1_000);
    assert_eq!(after_refund(1_000, 10_000, 2_500), 750);
    assert_eq!(after_refund(1_000, 10_000, 10_000), 0);
    assert_eq!(after_refund(1_000, 10_000, 12_000), 0);
    assert_eq!(after_refund(999, 3, 1), 666);
    assert!(CommissionState::Pending.refund_cuts());
    assert!(!CommissionState::Settled.refund_cuts(), "after the window a refund is the shop's");
}

#[test]
fn two_levels_at_most_never_the_buyer_never_twice() {
    assert_eq!(beneficiaries(1, &[2, 3, 4]), vec![(1, 2), (2, 3)]);
    assert_eq!(beneficiaries(1, &[2]), vec![(1, 2)]);
    assert_eq!(beneficiaries(1, &[]), vec![]);
    assert_eq!(beneficiaries(1, &[2, 1]), vec![(1, 2)], "a loop back to the buyer earns nothing");
    assert_eq!(beneficiaries(1, &[1, 2]), vec![]);
    assert_eq!(beneficiaries(1, &[2, 2]), vec![(1, 2)]);
}

#[test]
fn nobody_refers_themselves_or_their_own_referrer() {
    assert!(may_refer(1, 2, &[]));
    assert!(!may_refer(1, 1, &[]));
    assert!(!may_refer(1, 2, &[1]), "2 was brought by 1: 1 cannot be brought by 2");
    assert!(!may_refer(1, 2, &[3, 1]));
    assert!(may_refer(1, 2, &[3, 4]));
}

#[test]
fn settings_are_checked_field_by_field() {
    assert!(settings().validate().is_ok());
    let bad = DistributionSettings {
        level1_bp: 9_000,
        level2_bp: 2_000,
        window_secs: -1,
        min_payout_fen: 10,
        rules: vec![
            RateRule { sku: Some("A".into()), campaign_id: Some(1), ..Default::default() },
            RateRule { level1_bp: 10_001, sku: Some("B".into()), ..Default::default() },
            RateRule { sku: Some("B".into()), ..Default::default() },
        ],
        payout_desc: " ".into(),
        ..Default::default()
    };
    let e = bad.validate().unwrap_err();
    let fields: Vec<&str> = e.0.iter().map(|f| f.field.as_str()).collect();
    for f in ["level2_bp", "window_secs", "min_payout_fen", "rules[0]", "rules[1].level1_bp", "rules[2]", "payout_desc"]
    {
        assert!(fields.contains(&f), "{f} in {fields:?}");
    }
}

#[test]
fn a_batch_pays_each_distributor_once_within_wechat_limits() {
    let s = DistributionSettings { min_payout_fen: 100, max_payout_fen: 1_000, ..Default::default() };
    let owed = |c, d, a| Owed { commission_id: c, distributor_id: d, amount_fen: a };
    let plan = plan_payouts(
        &s,
        &[
            owed(1, 10, 600),
            owed(2, 10, 300),
            owed(3, 10, 200),   // would pass 1000: waits
            owed(4, 10, 50),    // after one waits, the younger wait too
            owed(5, 20, 40),    // below the minimum: waits
            owed(6, 30, 5_000), // above the maximum alone: never by transfer
            owed(7, 40, 100),
        ],
    );
    assert_eq!(
        plan,
        vec![
            PlannedPayout { distributor_id: 10, amount_fen: 900, commission_ids: vec![1, 2] },
            PlannedPayout { distributor_id: 40, amount_fen: 100, commission_ids: vec![7] },
        ]
    );
}

#[test]
fn a_clawback_is_netted_against_the_next_payout_and_a_negative_balance_carries_over() {
    let s = DistributionSettings { min_payout_fen: 100, max_payout_fen: 1_000, ..Default::default() };
    let owed = |c, d, a| Owed { commission_id: c, distributor_id: d, amount_fen: a };
    // A claw-back of 200 against a new commission of 500: 300 paid, both entries in it.
    let plan = plan_payouts(&s, &[owed(1, 10, 500), owed(2, 10, -200)]);
    assert_eq!(plan, vec![PlannedPayout { distributor_id: 10, amount_fen: 300, commission_ids: vec![2, 1] }]);
    // The claw-back is larger than what is owed: nothing paid, nothing negative.
    assert_eq!(plan_payouts(&s, &[owed(1, 10, 500), owed(2, 10, -600)]), vec![]);
    assert_eq!(plan_payouts(&s, &[owed(2, 10, -600)]), vec![], "a claw-back alone is never paid");
    // Netted below the minimum: waits as well.
    assert_eq!(plan_payouts(&s, &[owed(1, 10, 150), owed(2, 10, -100)]), vec![]);
    // The balance carried: the next commission covers it and the rest is paid.
    let plan = plan_payouts(&s, &[owed(1, 10, 500), owed(2, 10, -600), owed(3, 10, 400)]);
    assert_eq!(plan, vec![PlannedPayout { distributor_id: 10, amount_fen: 300, commission_ids: vec![2, 1, 3] }]);
    // A claw-back makes room under the maximum; another distributor's claw-back is theirs alone.
    let plan = plan_payouts(&s, &[owed(1, 10, 900), owed(2, 10, -100), owed(3, 10, 200), owed(4, 20, -50)]);
    assert_eq!(plan, vec![PlannedPayout { distributor_id: 10, amount_fen: 1_000, commission_ids: vec![2, 1, 3] }]);
}

#[test]
fn a_refund_after_settlement_claws_back_the_refunded_share_once() {
    // ¥10 earned on ¥100: ¥40 refunded claws back ¥4; the rest ¥6.
    assert_eq!(clawback(1_000, 10_000, 0, 4_000), 400);
    assert_eq!(clawback(1_000, 10_000, 4_000, 4_000), 0, "the same refund again");
    assert_eq!(clawback(1_000, 10_000, 4_000, 3_000), 0, "an older, smaller total");
    assert_eq!(clawback(1_000, 10_000, 4_000, 10_000), 600);
    // Over the steps, never more than was earned.
    let steps = [0, 3_333, 6_667, 9_999, 10_000, 12_000];
    let total: i64 = steps.windows(2).map(|w| clawback(999, 10_000, w[0], w[1])).sum();
    assert_eq!(total, 999);
    assert!(CommissionState::Paid.refund_claws_back() && CommissionState::Settled.refund_claws_back());
    assert!(!CommissionState::Pending.refund_claws_back() && !CommissionState::Cancelled.refund_claws_back());
}

#[test]
fn scheduled_slots_are_in_shanghai_time() {
    const H: i64 = 3_600_000;
    // 2026-12-07 is a Monday; 10:00 in Shanghai is 02:00 UTC.
    let monday_10 = crate::calendar::days_from_civil(2026, 12, 7) * 86_400_000 + 2 * H;
    let weekly = PayoutSchedule::default();
    assert_eq!(weekly, PayoutSchedule { every: PayoutEvery::Weekly, weekday: 1, hour: 10 });
    assert_eq!(weekly.latest_slot(monday_10), Some(monday_10), "the slot starts on the hour");
    assert_eq!(weekly.latest_slot(monday_10 + 3 * 24 * H), Some(monday_10), "Thursday: still Monday's");
    assert_eq!(weekly.latest_slot(monday_10 - 1), Some(monday_10 - 7 * 24 * H), "a moment before: last week's");
    // Sunday 23:00 Shanghai is Sunday 15:00 UTC, the same day in both.
    let sunday = PayoutSchedule { every: PayoutEvery::Weekly, weekday: 7, hour: 23 };
    let sunday_23 = monday_10 - 2 * H - 8 * H - H; // Sunday 23:00 Shanghai
    assert_eq!(sunday.latest_slot(sunday_23 + H), Some(sunday_23));
    // Daily at 00:00 Shanghai is 16:00 UTC the day before.
    let daily = PayoutSchedule { every: PayoutEvery::Daily, weekday: 1, hour: 0 };
    let midnight = monday_10 - 10 * H;
    assert_eq!(daily.latest_slot(midnight + 23 * H), Some(midnight));
    assert_eq!(daily.latest_slot(midnight + 25 * H), Some(midnight + 24 * H));
    let off = PayoutSchedule { every: PayoutEvery::Off, ..weekly };
    assert_eq!(off.latest_slot(monday_10), None);
    // Bad days and hours are named.
    let bad = DistributionSettings {
        payout_schedule: PayoutSchedule { every: PayoutEvery::Weekly, weekday: 8, hour: 24 },
        ..Default::default()
    };
    let e = bad.validate().unwrap_err();
    let fields: Vec<&str> = e.0.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["payout_schedule.weekday", "payout_schedule.hour"]);
    // Settings saved before schedules existed read as the default.
    let old: DistributionSettings = serde_json::from_str(r#"{"enabled":true}"#).unwrap();
    assert_eq!(old.payout_schedule, weekly);
}

#[test]
fn entry_states_round_trip_and_stay_apart_from_campaigns() {
    for id in [1, 35, 36, 1_000_000, 4_000_000_000_000] {
        let s = entry_state(id);
        assert!(s.len() <= 30, "{s}");
        assert_eq!(parse_entry_state(&s), Some(id));
    }
    assert_eq!(entry_state(36), "k1d10");
    assert_eq!(parse_entry_state("k1c0a1i2"), None);
    assert_eq!(parse_entry_state("k1d"), None);
    assert_eq!(parse_entry_state("k1d01"), None, "one spelling per id");
    assert_eq!(parse_entry_state("k1da"), None);
    assert_eq!(parse_entry_state(""), None);
}

#[test]
fn orders_are_checked_before_anything_is_written() {
    assert!(check_order("A-1", &[line("S", 100)]).is_ok());
    assert!(check_order("", &[line("S", 100)]).is_err());
    assert!(check_order("A 1", &[line("S", 100)]).is_err());
    assert!(check_order("A1", &[]).is_err());
    assert!(check_order("A1", &[line("S", -1)]).is_err());
}

proptest! {
    /// Any referral graph recorded through `may_refer` (first wins): every
    /// order pays at most two levels, never the buyer, nobody twice.
    #[test]
    fn never_more_than_two_levels(attempts in prop::collection::vec((0i64..12, 0i64..12), 0..60), buyer in 0i64..12) {
        let mut referrer: std::collections::BTreeMap<i64, i64> = Default::default();
        let chain_of = |referrer: &std::collections::BTreeMap<i64, i64>, c: i64| {
            let mut out = vec![];
            let mut at = c;
            while let Some(&r) = referrer.get(&at) {
                if out.len() >= 16 { break; }
                out.push(r);
                at = r;
            }
            out
        };
        for (c, r) in attempts {
            if referrer.contains_key(&c) { continue; }
            let chain = chain_of(&referrer, r);
            if may_refer(c, r, &chain) {
                referrer.insert(c, r);
            }
        }
        // may_refer keeps the graph free of loops through the chain it sees.
        let chain = chain_of(&referrer, buyer);
        prop_assert!(!chain.contains(&buyer) || chain.len() > 2);
        let b = beneficiaries(buyer, &chain);
        prop_assert!(b.len() <= MAX_LEVELS);
        prop_assert!(b.iter().all(|&(_, c)| c != buyer));
        let mut who: Vec<i64> = b.iter().map(|&(_, c)| c).collect();
        who.dedup();
        prop_assert_eq!(who.len(), b.len());
        for (i, &(level, c)) in b.iter().enumerate() {
            prop_assert_eq!(level, i + 1);
            prop_assert_eq!(c, chain[i]);
        }
    }

    /// Commission never exceeds the highest rate × (paid − refunded).
    #[test]
    fn commission_never_exceeds_rate_times_what_was_kept(
        amounts in prop::collection::vec((0usize..3, 0i64..1_000_000), 1..10),
        refunds in prop::collection::vec(0i64..2_000_000, 0..4),
        level in 1usize..=2,
    ) {
        let s = settings();
        let skus = ["HOT-1", "B", "C"];
        let lines: Vec<OrderLine> = amounts.iter().map(|&(k, a)| line(skus[k], a)).collect();
        let paid: i64 = lines.iter().map(|l| l.amount_fen).sum();
        let max_bp = lines.iter().map(|l| s.rate(level, &l.sku, None)).max().unwrap_or(0);
        let full = commission_for(&s, level, &lines, None);
        prop_assert!(full * FULL_BP <= max_bp * paid);
        let mut refunded = 0;
        let mut last = full;
        for r in refunds {
            refunded = (refunded + r).min(paid);
            let now = after_refund(full, paid, refunded);
            prop_assert!(now <= last, "a refund never raises a commission");
            prop_assert!(now >= 0);
            prop_assert!(now * FULL_BP <= max_bp * (paid - refunded));
            last = now;
        }
    }

    #[test]
    fn a_plan_never_passes_the_limits_nor_pays_a_commission_twice(
        owed in prop::collection::vec((1i64..5, -500i64..3_000), 0..40),
    ) {
        let s = DistributionSettings { min_payout_fen: 100, max_payout_fen: 2_000, ..Default::default() };
        let owed: Vec<Owed> = owed.iter().enumerate()
            .map(|(i, &(d, a))| Owed { commission_id: i as i64, distributor_id: d, amount_fen: a }).collect();
        let plan = plan_payouts(&s, &owed);
        let mut ids = std::collections::BTreeSet::new();
        let mut ds = std::collections::BTreeSet::new();
        for p in &plan {
            prop_assert!(ds.insert(p.distributor_id), "one transfer a distributor");
            let clawed: Vec<i64> = owed.iter().filter(|o| o.distributor_id == p.distributor_id && o.amount_fen < 0)
                .map(|o| o.commission_id).collect();
            prop_assert!(clawed.iter().all(|c| p.commission_ids.contains(c)), "every claw-back is netted");
            prop_assert!(p.amount_fen >= 100 && p.amount_fen <= 2_000);
            let sum: i64 = p.commission_ids.iter().map(|&c| owed[c as usize].amount_fen).sum();
            prop_assert_eq!(sum, p.amount_fen);
            for &c in &p.commission_ids {
                prop_assert!(ids.insert(c));
                prop_assert_eq!(owed[c as usize].distributor_id, p.distributor_id);
            }
        }
    }
}
