//! Campaigns on both databases: a reward is one row per participant and
//! tier, and rewards reaching at once never pass the budget or a tier's
//! inventory; an invite is recorded once per add; a verdict closes the hold
//! once, and only an operator's override changes a checked invite. A
//! migration's old groups follow the draft by position, and a move is one
//! row per member however they re-join, counted per old group.

use super::{corp, NOW};
use koi_store::acquisition::CustomerProfile;
use koi_store::campaigns::{CampaignWrite, NewInvite, NewParticipant, NewReward, Opened};
use koi_store::{Db, Tx};

on_both!(
    rewards_are_once_per_tier_and_never_past_budget_or_inventory,
    invites_are_once_per_add_and_a_checked_verdict_moves_only_by_override,
    orders_count_for_the_campaign_their_customer_came_through,
    migration_moves_are_once_per_member_and_count_per_old_group,
    the_invite_graph_spans_campaigns_verdicts_and_directions_within_a_corp,
);

async fn customer(tx: &mut Tx, corp_id: i64, n: usize) -> i64 {
    let p = CustomerProfile {
        external_userid: format!("wmC{n}"),
        name: format!("客户{n}"),
        avatar: String::new(),
        kind: 1,
        gender: 0,
        unionid: format!("u{n}"),
    };
    tx.upsert_customer(corp_id, &p, None, None, NOW, NOW).await.unwrap().0
}

async fn campaign(tx: &mut Tx, corp_id: i64, budget_fen: i64) -> i64 {
    let w = CampaignWrite {
        name: "老带新",
        kind: "task",
        starts_at: NOW,
        ends_at: NOW + 86_400_000,
        draft: "{}",
        budget_fen,
        now: NOW,
    };
    tx.insert_campaign(corp_id, &w, &format!("tok{corp_id}-{budget_fen}")).await.unwrap()
}

async fn participant(tx: &mut Tx, corp_id: i64, campaign_id: i64, customer_id: i64) -> i64 {
    let p = NewParticipant {
        corp_id,
        campaign_id,
        customer_id,
        parent_id: None,
        depth: 0,
        staff_id: None,
        store_id: None,
        source: "seed",
        token: &format!("p{campaign_id}-{customer_id}"),
        now: NOW,
    };
    tx.insert_participant(&p).await.unwrap().expect("a new participant")
}

/// Opens a participant's reward in its own transaction, as the engine does.
async fn reach(db: &Db, corp_id: i64, campaign_id: i64, participant_id: i64, customer_id: i64, tier: i32) -> Opened {
    let mut tx = db.begin().await.unwrap();
    let r = NewReward {
        corp_id,
        campaign_id,
        participant_id,
        customer_id,
        tier,
        kind: "red_envelope",
        title: "¥20",
        amount: 2000,
        cost_fen: 2000,
        code: None,
        billno: "",
        now: NOW,
    };
    let opened = tx.open_reward(&r).await.unwrap();
    tx.commit().await.unwrap();
    opened
}

async fn rewards_are_once_per_tier_and_never_past_budget_or_inventory(db: &Db) {
    let corp_id = corp(db, "wwFISSION").await;
    let mut tx = db.begin().await.unwrap();
    // ¥100 of budget: five ¥20 red envelopes; tier 2 has 3 in stock.
    let c = campaign(&mut tx, corp_id, 10_000).await;
    tx.set_tier_inventory(c, 2, Some(3)).await.unwrap();
    let mut people = vec![];
    for n in 0..12 {
        let cu = customer(&mut tx, corp_id, n).await;
        people.push((participant(&mut tx, corp_id, c, cu).await, cu));
    }
    tx.commit().await.unwrap();

    // Twelve participants reach tier 1 at once, each twice (a retry).
    let mut tasks = vec![];
    for &(p, cu) in people.iter().chain(people.iter()) {
        let db = db.clone();
        tasks.push(tokio::spawn(async move { reach(&db, corp_id, c, p, cu, 1).await }));
    }
    let mut granted = vec![];
    let mut withheld = 0;
    let mut existed = 0;
    for t in tasks {
        match t.await.unwrap() {
            Opened::Reserved(id) => granted.push(id),
            Opened::Withheld(_, why) => {
                assert_eq!(why, "over_budget");
                withheld += 1;
            }
            Opened::Existed => existed += 1,
        }
    }
    assert_eq!(granted.len(), 5, "¥100 pays five ¥20 envelopes, however many reach at once");
    assert_eq!((withheld, existed), (7, 12), "each participant's tier is one row: the second reach finds it");
    assert_eq!(db.campaign(corp_id, c).await.unwrap().unwrap().spent_fen, 10_000);

    // Revoking one gives back its cost: exactly one withheld reward fits again.
    let mut tx = db.begin().await.unwrap();
    let mine = tx.reward_in_tx(granted[0]).await.unwrap().unwrap();
    tx.release_reward(&mine).await.unwrap();
    assert!(tx.set_reward_state(mine.id, &["pending"], "revoked", "left_early", None, NOW).await.unwrap());
    tx.commit().await.unwrap();
    assert_eq!(db.campaign(corp_id, c).await.unwrap().unwrap().spent_fen, 8_000);
    let mut reopened = 0;
    let mut tx = db.begin().await.unwrap();
    for &(p, _) in &people {
        for r in tx.rewards_of_participant(p).await.unwrap() {
            if r.state == "withheld" && tx.reopen_reward(&r, NOW).await.unwrap() {
                reopened += 1;
            }
        }
    }
    tx.commit().await.unwrap();
    assert_eq!(reopened, 1);
    assert_eq!(db.campaign(corp_id, c).await.unwrap().unwrap().spent_fen, 10_000);

    // Tier 2's inventory of 3 binds before the budget does.
    let mut tx = db.begin().await.unwrap();
    let mut reserved = 0;
    for _ in 0..5 {
        if tx.reserve_tier(c, 2).await.unwrap() {
            reserved += 1;
        }
    }
    tx.commit().await.unwrap();
    assert_eq!(reserved, 3);
}

async fn invites_are_once_per_add_and_a_checked_verdict_moves_only_by_override(db: &Db) {
    let corp_id = corp(db, "wwINVITES").await;
    let mut tx = db.begin().await.unwrap();
    let c = campaign(&mut tx, corp_id, 0).await;
    let a = customer(&mut tx, corp_id, 1).await;
    let b = customer(&mut tx, corp_id, 2).await;
    let pa = participant(&mut tx, corp_id, c, a).await;
    let invite = |occurred_at: i64| NewInvite {
        corp_id,
        campaign_id: c,
        inviter_id: pa,
        invitee_key: "wmC2",
        invitee_customer_id: Some(b),
        unionid: "u2",
        via: "add",
        staff_id: None,
        group_id: None,
        occurred_at,
        counts_at: occurred_at + 1_000,
        state: "pending",
        reason: "",
        now: NOW,
    };
    let first = tx.insert_invite(&invite(NOW)).await.unwrap().expect("new");
    assert_eq!(tx.insert_invite(&invite(NOW)).await.unwrap(), None, "the same add again is the same invite");
    assert!(!tx.invited_before(c, "wmC2", "u2", NOW).await.unwrap());
    assert!(tx.invited_before(c, "wmOTHER", "u2", NOW + 1).await.unwrap(), "the unionid gives a re-add away");
    assert_eq!(tx.invites_between(pa, NOW - 3_600_000, NOW + 1).await.unwrap(), 1);
    assert!(tx.due_invites(corp_id, NOW + 999, 10).await.unwrap().is_empty(), "still held");
    assert_eq!(tx.due_invites(corp_id, NOW + 1_000, 10).await.unwrap().len(), 1);
    assert_eq!(tx.watched_invites_of(corp_id, "wmC2", "add").await.unwrap().len(), 1);

    assert!(tx.decide_invite(first, "valid", "", true, None, NOW + 1_000).await.unwrap());
    assert_eq!(tx.recount_valid(pa).await.unwrap(), 1);
    assert!(!tx.decide_invite(first, "rejected", "left_early", true, None, NOW + 2_000).await.unwrap(), "checked once");
    assert!(tx.watched_invites_of(corp_id, "wmC2", "add").await.unwrap().is_empty());
    assert!(tx.decide_invite(first, "rejected", "cluster", false, Some(7), NOW + 3_000).await.unwrap(), "an override");
    assert_eq!(tx.recount_valid(pa).await.unwrap(), 0);
    let row = tx.invite_in_tx(corp_id, first).await.unwrap().unwrap();
    assert_eq!((row.state.as_str(), row.reason.as_str(), row.overridden_by), ("rejected", "cluster", Some(7)));

    // Visits: the cluster counts the inviter's invitees seen on one device.
    let pb = participant(&mut tx, corp_id, c, b).await;
    let pb_row = tx.participant_in_tx(pb).await.unwrap().unwrap();
    tx.insert_visit(&pb_row, "dev1", "10.0.0.1", Some((31.2, 121.4)), NOW).await.unwrap();
    assert_eq!(tx.invitee_cluster(c, pa, pb).await.unwrap(), 1);
    assert_eq!(tx.participant_location(pb).await.unwrap(), Some((31.2, 121.4)));
    assert_eq!(tx.parent_customer(c, b).await.unwrap(), None);
    tx.commit().await.unwrap();
    let totals = db.campaign_totals(corp_id, c).await.unwrap();
    assert_eq!((totals.participants, totals.rejected, totals.sharers), (2, 1, 1));
    assert_eq!(db.campaign_reasons(corp_id, c).await.unwrap(), [("cluster".to_string(), 1)]);
    assert_eq!(db.campaign_days(corp_id, c).await.unwrap().len(), 1);
    assert_eq!(db.campaign_breakdown(corp_id, c, true).await.unwrap().len(), 1);
    assert_eq!(db.campaign_invites(corp_id, c, Some("rejected"), None, None, 10).await.unwrap().len(), 1);
    assert_eq!(db.campaign_participants(corp_id, c, 10).await.unwrap().len(), 2);
}

/// A customer's invite-neighbours: whom they invited and who invited them,
/// in every campaign of the corp, rejected invites too; never another
/// corp's, never an invitee without a customer, each once.
async fn the_invite_graph_spans_campaigns_verdicts_and_directions_within_a_corp(db: &Db) {
    let corp_id = corp(db, "wwGRAPH").await;
    let other = corp(db, "wwGRAPH2").await;
    let mut tx = db.begin().await.unwrap();
    let c1 = campaign(&mut tx, corp_id, 1).await;
    let c2 = campaign(&mut tx, corp_id, 2).await;
    let [a, b, d, e] = [
        customer(&mut tx, corp_id, 11).await,
        customer(&mut tx, corp_id, 12).await,
        customer(&mut tx, corp_id, 13).await,
        customer(&mut tx, corp_id, 14).await,
    ];
    let invite =
        |campaign_id: i64, inviter_id: i64, key: &'static str, invitee: Option<i64>, state: &'static str| NewInvite {
            corp_id,
            campaign_id,
            inviter_id,
            invitee_key: key,
            invitee_customer_id: invitee,
            unionid: "",
            via: "add",
            staff_id: None,
            group_id: None,
            occurred_at: NOW,
            counts_at: NOW + 1_000,
            state,
            reason: if state == "rejected" { "not_new" } else { "" },
            now: NOW,
        };
    // Campaign 1: a invites b (counted) and someone koi has no customer for.
    let pa1 = participant(&mut tx, corp_id, c1, a).await;
    tx.insert_invite(&invite(c1, pa1, "wmC12", Some(b), "valid")).await.unwrap().expect("new");
    tx.insert_invite(&invite(c1, pa1, "wmGHOST", None, "pending")).await.unwrap().expect("new");
    // Campaign 2: d invites a (rejected), and a invites b again.
    let pd2 = participant(&mut tx, corp_id, c2, d).await;
    tx.insert_invite(&invite(c2, pd2, "wmC11", Some(a), "rejected")).await.unwrap().expect("new");
    let pa2 = participant(&mut tx, corp_id, c2, a).await;
    tx.insert_invite(&invite(c2, pa2, "wmC12", Some(b), "rejected")).await.unwrap().expect("new");
    // Another corp's invites are not this corp's graph.
    let oc = campaign(&mut tx, other, 3).await;
    let x = customer(&mut tx, other, 15).await;
    let px = participant(&mut tx, other, oc, x).await;
    let stranger = NewInvite { corp_id: other, campaign_id: oc, ..invite(oc, px, "wmC11", Some(a), "valid") };
    tx.insert_invite(&stranger).await.unwrap().expect("new");

    let sorted = |mut v: Vec<i64>| {
        v.sort();
        v
    };
    let mut ad = vec![b, d];
    ad.sort();
    assert_eq!(sorted(tx.invite_neighbours(corp_id, a).await.unwrap()), ad);
    assert_eq!(tx.invite_neighbours(corp_id, b).await.unwrap(), [a]);
    assert_eq!(tx.invite_neighbours(corp_id, d).await.unwrap(), [a]);
    assert!(tx.invite_neighbours(corp_id, e).await.unwrap().is_empty());
    assert_eq!(tx.invite_neighbours(other, x).await.unwrap(), [a], "the other corp sees its own invite");
    tx.commit().await.unwrap();
}

/// A customer meets a campaign by taking part or by an invite that was not
/// rejected; a reward coupon redeemed on an order names its campaign; the
/// orders a campaign or a code counts add up to buyers, first orders and
/// GMV net of refunds.
async fn orders_count_for_the_campaign_their_customer_came_through(db: &Db) {
    use koi_store::coupons::{NewCoupon, Redemption, TemplateWrite};
    let corp_id = corp(db, "wwCAMPORDERS").await;
    let mut tx = db.begin().await.unwrap();
    let c = campaign(&mut tx, corp_id, 0).await;
    let (a, b, d) =
        (customer(&mut tx, corp_id, 1).await, customer(&mut tx, corp_id, 2).await, customer(&mut tx, corp_id, 3).await);
    let pa = participant(&mut tx, corp_id, c, a).await;
    for (who, key, state) in [(b, "wmC2", "pending"), (d, "wmC3", "rejected")] {
        let invite = NewInvite {
            corp_id,
            campaign_id: c,
            inviter_id: pa,
            invitee_key: key,
            invitee_customer_id: Some(who),
            unionid: "",
            via: "add",
            staff_id: None,
            group_id: None,
            occurred_at: NOW + 5,
            counts_at: NOW + 1_000,
            state,
            reason: "",
            now: NOW,
        };
        tx.insert_invite(&invite).await.unwrap().expect("new");
    }
    tx.commit().await.unwrap();
    let mut tx = db.begin().await.unwrap();
    let touches =
        |v: Vec<koi_store::orders::CampaignTouchRow>| v.into_iter().map(|t| (t.campaign_id, t.at)).collect::<Vec<_>>();
    assert_eq!(touches(tx.campaign_touches(corp_id, a).await.unwrap()), [(c, NOW)], "taking part");
    assert_eq!(touches(tx.campaign_touches(corp_id, b).await.unwrap()), [(c, NOW + 5)], "invited");
    assert!(tx.campaign_touches(corp_id, d).await.unwrap().is_empty(), "a rejected invite is no way in");
    tx.commit().await.unwrap();

    // The participant's reward is a coupon, redeemed on order SO-C1.
    let reward = match reach(db, corp_id, c, pa, a, 1).await {
        Opened::Reserved(id) | Opened::Withheld(id, _) => id,
        Opened::Existed => panic!("a new reward"),
    };
    let mut tx = db.begin().await.unwrap();
    let w = TemplateWrite {
        name: "奖励券",
        kind: "cash",
        value_fen: 2000,
        min_fen: 0,
        discount_pct: 0,
        gift: "",
        valid_from: None,
        valid_to: None,
        valid_days: Some(30),
        per_customer: 0,
        stock: None,
        store_ids: "[]",
        now: NOW,
    };
    let t = tx.insert_coupon_template(corp_id, &w).await.unwrap();
    let source_ref = format!("reward:{reward}");
    let k = NewCoupon {
        corp_id,
        template_id: t,
        customer_id: a,
        code: "CAMPAIGN00000001",
        valid_from: NOW,
        valid_to: NOW + 86_400_000,
        source: "campaign",
        source_ref: &source_ref,
        issued_by: "campaign",
        now: NOW,
    };
    tx.issue_coupon(&k, 0).await.unwrap();
    let r = Redemption { order_ref: "SO-C1", order_fen: 1000, off_fen: 200, store_id: None, by: "pos", now: NOW };
    assert!(tx.redeem_coupon(corp_id, "CAMPAIGN00000001", &r).await.unwrap().is_some());
    assert_eq!(tx.coupon_campaign(corp_id, a, "SO-C1").await.unwrap(), Some(c));
    assert_eq!(tx.coupon_campaign(corp_id, a, "SO-C2").await.unwrap(), None, "another order");
    assert_eq!(tx.coupon_campaign(corp_id, b, "SO-C1").await.unwrap(), None, "another customer");

    // The order counts for the campaign and for its code.
    let id = tx.insert_order(corp_id, &super::order_write("SO-C1", ""), NOW).await.unwrap().expect("new");
    let m = koi_store::orders::OrderMatch {
        customer_id: a,
        matched_by: "external_userid",
        staff_id: None,
        store_id: None,
        code_id: Some(77),
        rule: "none",
        first_order: true,
    };
    assert!(tx.match_order(corp_id, id, &m, NOW).await.unwrap());
    tx.set_order_campaign(corp_id, id, Some(c), "campaign_coupon").await.unwrap();
    assert!(tx.set_order_refunded(corp_id, id, 0, 300, "part_refunded", NOW).await.unwrap());
    let row = tx.order_row(corp_id, id).await.unwrap().unwrap();
    assert_eq!((row.campaign_id, row.campaign_rule.as_str()), (Some(c), "campaign_coupon"));
    tx.commit().await.unwrap();
    let sold = db.campaign_orders(corp_id, c).await.unwrap();
    assert_eq!((sold.orders, sold.buyers, sold.first_orders, sold.gmv_fen), (1, 1, 1, 500), "paid 800, 300 back");
    assert_eq!(db.campaign_orders(corp_id, c + 1).await.unwrap().orders, 0);
    let code = db.code_orders(corp_id, 77, NOW - 1).await.unwrap();
    assert_eq!((code.orders, code.first_orders, code.gmv_fen), (1, 1, 500));
    assert_eq!(db.code_orders(corp_id, 77, NOW + 1).await.unwrap().orders, 0, "before the window");
}

/// Two old groups; members move in, one twice (a re-join and a second
/// entry: still one move), one leaves within the hold; the board counts
/// per old group, and only moved members koi knows as customers wait for
/// their join reward, each once.
async fn migration_moves_are_once_per_member_and_count_per_old_group(db: &Db) {
    use koi_store::campaign_moves::NewMove;
    let corp_id = corp(db, "wwMIGRATE").await;
    let mut tx = db.begin().await.unwrap();
    let c = campaign(&mut tx, corp_id, 0).await;
    tx.sync_old_groups(corp_id, c, &[("老会员1群", 480), ("老会员2群", 300), ("作废群", 5)], NOW).await.unwrap();
    // The draft drops the third and renames nothing: the rows follow by position.
    tx.sync_old_groups(corp_id, c, &[("老会员1群", 480), ("老会员2群", 320)], NOW).await.unwrap();
    let group = tx.ensure_group(corp_id, "wrNEW").await.unwrap();
    let known = customer(&mut tx, corp_id, 1).await;
    tx.commit().await.unwrap();
    let olds = db.old_groups(corp_id, c).await.unwrap();
    assert_eq!(
        olds.iter().map(|o| (o.name.as_str(), o.declared_size)).collect::<Vec<_>>(),
        [("老会员1群", 480), ("老会员2群", 320)]
    );
    let (a, b) = (olds[0].id, olds[1].id);

    let mut tx = db.begin().await.unwrap();
    let queued = tx.queue_old_group_entries(c).await.unwrap();
    assert_eq!(queued.len(), 2);
    assert!(tx.queue_old_group_entries(c).await.unwrap().is_empty(), "queued once");
    assert!(tx.set_old_group_entry(a, &["queued"], "ready", Some("cfgA"), Some("https://qr/a"), "").await.unwrap());
    assert!(!tx.set_old_group_entry(a, &["queued"], "failed", None, None, "x").await.unwrap(), "ready stays ready");
    let mv = |old_group_id, member_key, customer_id, at: i64| NewMove {
        corp_id,
        campaign_id: c,
        old_group_id,
        member_key,
        customer_id,
        group_id: group,
        joined_at: at,
        counts_at: at + 1_000,
    };
    let m1 = tx.insert_move(&mv(a, "wmC1", Some(known), NOW)).await.unwrap().expect("a first move");
    assert_eq!(tx.insert_move(&mv(a, "wmC1", Some(known), NOW + 5)).await.unwrap(), None, "a re-join is no new move");
    assert_eq!(tx.insert_move(&mv(b, "wmC1", Some(known), NOW + 6)).await.unwrap(), None, "nor a second entry");
    let m2 = tx.insert_move(&mv(a, "wmSTRANGER", None, NOW)).await.unwrap().unwrap();
    let m3 = tx.insert_move(&mv(b, "wmLEAVER", None, NOW)).await.unwrap().unwrap();
    assert_eq!(tx.moves_in_hold_of(corp_id, "wmLEAVER", group).await.unwrap().len(), 1);
    assert!(tx.decide_move(m3, "left", NOW + 10).await.unwrap());
    assert!(tx.moves_in_hold_of(corp_id, "wmLEAVER", group).await.unwrap().is_empty());
    assert!(tx.due_moves(corp_id, NOW + 999, 10).await.unwrap().is_empty(), "the hold has not passed");
    let due = tx.due_moves(corp_id, NOW + 1_000, 10).await.unwrap();
    assert_eq!(due.iter().map(|m| m.id).collect::<Vec<_>>(), [m1, m2]);
    assert!(tx.decide_move(m1, "moved", NOW + 1_000).await.unwrap());
    assert!(tx.decide_move(m2, "moved", NOW + 1_000).await.unwrap());
    assert!(!tx.decide_move(m2, "left", NOW + 2_000).await.unwrap(), "a decided move stays");
    tx.commit().await.unwrap();
    assert!(
        !db.corps_with_campaign_work().await.unwrap().contains(&corp_id),
        "a draft with no move in hold is no work"
    );

    // Only the member koi knows waits for a reward; linking is once.
    let mut tx = db.begin().await.unwrap();
    let waiting = tx.moves_to_reward(corp_id, 10).await.unwrap();
    assert_eq!(waiting.iter().map(|(m, cu)| (m.id, *cu)).collect::<Vec<_>>(), [(m1, known)]);
    let p = participant(&mut tx, corp_id, c, known).await;
    assert!(tx.set_move_participant(m1, known, p).await.unwrap());
    assert!(!tx.set_move_participant(m1, known, p).await.unwrap());
    assert!(tx.moves_to_reward(corp_id, 10).await.unwrap().is_empty());
    let r = NewReward {
        corp_id,
        campaign_id: c,
        participant_id: p,
        customer_id: known,
        tier: 0,
        kind: "points",
        title: "50 积分",
        amount: 50,
        cost_fen: 0,
        code: None,
        billno: "",
        now: NOW,
    };
    let Opened::Reserved(rid) = tx.open_reward(&r).await.unwrap() else { panic!("a first reward") };
    assert!(matches!(tx.open_reward(&r).await.unwrap(), Opened::Existed));
    assert!(tx.set_reward_state(rid, &["pending"], "issued", "", None, NOW).await.unwrap());
    tx.commit().await.unwrap();

    let board = db.migration_board(corp_id, c).await.unwrap();
    let line = |i: usize| {
        let b = &board[i];
        (b.name.as_str(), b.entered, b.moved, b.in_hold, b.left, b.rewards_issued)
    };
    assert_eq!(line(0), ("老会员1群", 2, 2, 0, 0, 1));
    assert_eq!(line(1), ("老会员2群", 1, 0, 0, 1, 0));
    assert_eq!(board[0].qr_code.as_deref(), Some("https://qr/a"));
    let gone = db.old_group_entries_to_delete(c, 10).await.unwrap();
    assert_eq!(gone.iter().map(|o| o.id).collect::<Vec<_>>(), [a], "only a made entry is deleted");
    // Old groups someone moved through are kept even when a draft drops them.
    let mut tx = db.begin().await.unwrap();
    tx.sync_old_groups(corp_id, c, &[], NOW).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(db.old_groups(corp_id, c).await.unwrap().len(), 2);
    assert!(db.old_group(corp_id + 1, a).await.unwrap().is_none(), "another corp's old group is not found");
    let mut tx = db.begin().await.unwrap();
    tx.insert_move(&mv(b, "wmLATE", None, NOW + 50)).await.unwrap().unwrap();
    tx.commit().await.unwrap();
    assert!(db.corps_with_campaign_work().await.unwrap().contains(&corp_id), "a move in hold is the timer's work");
}
