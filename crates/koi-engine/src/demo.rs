//! The demo brand: a women's shoe brand with two stores in Shanghai and ten
//! shopping guides, as in the operators' anniversary case. `koi demo` seeds
//! it into a fresh database so a new user has something real to look at.

use crate::users::UserInput;
use crate::{Engine, Result};
use koi_domain::org::{CorpDraft, StaffDraft, StoreDraft};
use koi_store::now_ms;
use rand::distributions::Alphanumeric;
use rand::{Rng, SeedableRng};

pub const DEMO_CORP_ID: &str = "wwkoidemo0000001";

/// What the demo seed created, for printing.
#[derive(Debug, Clone)]
pub struct DemoBrand {
    pub corp_id: i64,
    /// (username, role) of each console user; all share `password`.
    pub users: Vec<(String, String)>,
    pub password: String,
}

fn random_alnum(n: usize) -> String {
    rand::thread_rng().sample_iter(&Alphanumeric).take(n).map(char::from).collect()
}

const STORES: [(&str, &str, &str, f64, f64); 2] = [
    ("SH-JA", "静安嘉里中心店", "上海市静安区南京西路1515号", 31.2243, 121.4465),
    ("SH-XJH", "徐家汇港汇店", "上海市徐汇区虹桥路1号", 31.1951, 121.4372),
];

const GUIDES: [(&str, &str, usize); 10] = [
    ("wang.fang", "王芳", 0),
    ("li.na", "李娜", 0),
    ("zhang.min", "张敏", 0),
    ("liu.yang", "刘洋", 0),
    ("chen.jing", "陈静", 0),
    ("yang.li", "杨丽", 1),
    ("zhao.xue", "赵雪", 1),
    ("huang.ting", "黄婷", 1),
    ("zhou.yan", "周燕", 1),
    ("wu.qian", "吴倩", 1),
];

impl Engine {
    /// A store-poster channel code for each demo store, its guides as the
    /// pool, greeting with the customer's name and a new-customer coupon.
    /// Needs the corp's WeCom (the simulator, in the demo).
    pub async fn seed_demo_codes(&self, corp_id: i64) -> Result<Vec<crate::acquisition::ChannelCode>> {
        let owner = crate::Principal {
            corp_id,
            role: koi_domain::access::Role::Owner,
            user_id: None,
            store_ids: vec![],
            staff_id: None,
        };
        let staff = self.db.staff_list(corp_id).await?;
        let mut codes = Vec::new();
        for store in self.db.stores(corp_id).await? {
            let pool = staff
                .iter()
                .filter(|m| m.store_ids.contains(&store.id))
                .map(|m| koi_domain::channel::PoolMember::primary(m.id))
                .collect();
            let welcome = koi_domain::channel::WelcomeDraft {
                text: "{客户昵称}您好，我是{门店}的导购{导购}～周年庆新客专享券已放进您的卡包，到店试穿再享好礼！"
                    .into(),
                attachments: vec![koi_domain::channel::Attachment::CouponLink {
                    title: "周年庆新客券 满300减50".into(),
                    url: "https://shop.example/coupon/anniversary".into(),
                }],
                weight: 50,
            };
            let draft = koi_domain::channel::ChannelCodeDraft {
                name: format!("{}门口海报", store.name),
                channel_type: koi_domain::channel::ChannelType::StorePoster,
                store_id: Some(store.id),
                pool,
                welcome: vec![welcome],
                remark: format!("{} 门口海报", store.code),
                ..Default::default()
            };
            codes.push(self.create_channel_code(&owner, draft).await?);
        }
        Ok(codes)
    }

    /// Seeds the demo brand. `password` is for every demo console user;
    /// a random one is made when `None`.
    pub async fn seed_demo(&self, password: Option<String>) -> Result<DemoBrand> {
        let corp_id = self
            .add_corp(CorpDraft {
                name: "悦步女鞋 Yuebu Shoes".into(),
                wecom_corp_id: DEMO_CORP_ID.into(),
                app_secret: random_alnum(43),
                callback_token: random_alnum(16),
                encoding_aes_key: random_alnum(43),
            })
            .await?;
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        let mut store_ids = Vec::new();
        for (code, name, address, lat, lng) in STORES {
            let d = StoreDraft {
                code: code.into(),
                name: name.into(),
                address: address.into(),
                lat: Some(lat),
                lng: Some(lng),
                region: "华东".into(),
                kind: "商场店".into(),
            };
            store_ids.push(tx.insert_store(corp_id, &d.validate()?, now).await?);
        }
        for (userid, name, store) in GUIDES {
            let d = StaffDraft {
                userid: userid.into(),
                name: name.into(),
                mobile: String::new(),
                active: true,
                store_ids: vec![store_ids[store]],
            };
            tx.insert_staff(corp_id, &d.validate()?, now).await?;
        }
        tx.commit().await?;

        let password = password.unwrap_or_else(|| random_alnum(12));
        let people = [
            ("admin", "林悦", "owner", vec![]),
            ("operator", "周敏", "hq_operator", vec![]),
            ("jingan", "陈思", "store_manager", vec![store_ids[0]]),
        ];
        let mut users = Vec::new();
        for (username, display, role, stores) in people {
            let input = UserInput {
                username: username.into(),
                display_name: display.into(),
                password: password.clone(),
                role: role.into(),
                store_ids: stores,
            };
            self.add_user(corp_id, &input).await?;
            users.push((username.to_string(), role.to_string()));
        }
        self.seed_demo_poster(corp_id).await?;
        Ok(DemoBrand { corp_id, users, password })
    }

    /// The anniversary's invitation poster template, on a gradient drawn in
    /// code. A machine without a CJK font gets none (and a warning).
    async fn seed_demo_poster(&self, corp_id: i64) -> Result<()> {
        let owner = crate::Principal {
            corp_id,
            role: koi_domain::access::Role::Owner,
            user_id: None,
            store_ids: vec![],
            staff_id: None,
        };
        let mut layout = koi_poster::Layout::starter();
        for layer in &mut layout.layers {
            if let koi_poster::Layer::Text { text, .. } = layer {
                *text = "{nickname} 邀你一起逛悦步周年庆，扫码加导购领新客券".into();
            }
        }
        let draft = crate::posters::PosterTemplateDraft { name: "周年庆邀请海报".into(), layout };
        let background = koi_poster::gradient_png(750, 1334, [0xff, 0x8a, 0x65], [0xc6, 0x28, 0x28]);
        match self.create_poster_template(&owner, draft, Some(background)).await {
            Err(crate::EngineError::Unavailable(why)) => {
                tracing::warn!(%why, "the demo has no poster template");
                Ok(())
            }
            other => other.map(|_| ()),
        }
    }
}

/// The demo's tag catalogue: (group, tags).
const DEMO_TAGS: [(&str, &[&str]); 4] = [
    ("会员等级", &["普通会员", "银卡会员", "金卡VIP"]),
    ("兴趣偏好", &["高跟鞋", "平底鞋", "运动鞋", "靴子"]),
    ("周年庆", &["投票选A款", "投票选B款", "已领新客券"]),
    ("运营", &["待唤醒"]),
];

/// How far back the demo's past customers go.
const HISTORY_DAYS: i64 = 120;

const SURNAMES: [&str; 12] = ["王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙"];
const GIVEN: [&str; 12] = ["婷", "静", "敏", "丽", "娟", "艳", "雪", "琳", "萱", "悦", "佳怡", "雨桐"];

impl Engine {
    /// The demo's tags (made through WeCom, so both sides have them), custom
    /// fields, tag rules and saved segments, and `history` customers who came
    /// in over the last four months — each with follows, tags, fields, a home
    /// near a store and orders, so stages, RFM and segments have something to
    /// show from the first minute.
    pub async fn seed_demo_customers(&self, corp_id: i64, history: usize) -> Result<()> {
        use koi_domain::customer::{Behaviour, FieldDef, FieldKind, TagRule, Trigger};
        let owner = crate::Principal {
            corp_id,
            role: koi_domain::access::Role::Owner,
            user_id: None,
            store_ids: vec![],
            staff_id: None,
        };
        let mut tag = std::collections::HashMap::new();
        for (group, names) in DEMO_TAGS {
            let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
            for t in self.create_tags(&owner, None, Some(group), &names).await?.tags {
                tag.insert(t.name, t.id);
            }
        }
        let fields = [
            ("shoe_size", "鞋码", FieldKind::Number { min: Some(33.0), max: Some(43.0) }),
            ("birthday", "生日", FieldKind::Date),
            (
                "foot",
                "脚型",
                FieldKind::Choice { options: ["标准", "宽脚", "窄脚", "高脚背"].map(String::from).to_vec() },
            ),
        ];
        for (name, label, kind) in fields {
            self.define_field(&owner, FieldDef { name: name.into(), label: label.into(), kind }).await?;
        }
        let codes = self.db.channel_codes(corp_id).await?;
        let rule = |name: &str, trigger, add: &[&str], remove: &[&str]| TagRule {
            id: 0,
            name: name.into(),
            trigger,
            add_tags: add.iter().map(|t| tag[*t].clone()).collect(),
            remove_tags: remove.iter().map(|t| tag[*t].clone()).collect(),
            issue_coupon: None,
            active: true,
        };
        let mut rules = vec![
            rule("首单升银卡", Trigger::FirstOrder, &["银卡会员"], &["普通会员", "待唤醒"]),
            rule("投票A", Trigger::PollAnswer { poll: "周年庆新款".into(), answer: "A".into() }, &["投票选A款"], &[]),
            rule("投票B", Trigger::PollAnswer { poll: "周年庆新款".into(), answer: "B".into() }, &["投票选B款"], &[]),
            rule("30天未下单待唤醒", Trigger::NoOrderForDays { days: 30 }, &["待唤醒"], &[]),
        ];
        for c in &codes {
            rules.push(rule(
                &format!("{}新客", c.name),
                Trigger::AddedViaCode { code_id: c.id },
                &["普通会员", "已领新客券"],
                &[],
            ));
        }
        for r in rules {
            self.save_tag_rule(&owner, None, r).await?;
        }
        self.seed_history(corp_id, history, &tag).await?;
        let stores = self.db.stores(corp_id).await?;
        let segments = [
            ("投A款·未下单·静安5公里内", format!("tag:投票选A款 AND NOT orders>=1 AND within:{}:5km", stores[0].id)),
            ("金卡与高价值", "tag:金卡VIP OR m:5".to_string()),
            ("待唤醒的老客", "tag:待唤醒 AND orders>=1".to_string()),
            ("养大鱼", "stage:养大鱼".to_string()),
        ];
        for (name, expr) in segments {
            self.save_segment(&owner, None, name, &crate::customers::SegmentInput::Text(expr)).await?;
        }
        // A behaviour through the front door, so the timeline shows rules at work.
        if let Some(first) = self.db.activity_page(corp_id, 0, 1).await?.first() {
            let poll = Behaviour::PollAnswered { poll: "周年庆新款".into(), answer: "A".into() };
            self.record_behaviour(&owner, first.id, &poll, None, Some("demo-poll")).await?;
        }
        Ok(())
    }

    /// Past customers, written straight to the database (they came before
    /// koi, as an import would bring them).
    async fn seed_history(
        &self,
        corp_id: i64,
        n: usize,
        tag: &std::collections::HashMap<String, String>,
    ) -> Result<()> {
        use koi_domain::customer::Behaviour;
        use koi_store::acquisition::{CustomerProfile, NewFollow};
        let mut rng = rand::rngs::StdRng::seed_from_u64(2026);
        let now = now_ms();
        const DAY: i64 = 86_400_000;
        let stores = self.db.stores(corp_id).await?;
        let staff = self.db.staff_list(corp_id).await?;
        let codes = self.db.channel_codes(corp_id).await?;
        let rules = self.value_rules_of(corp_id).await?;
        let mut tx = self.db.begin().await?;
        for i in 0..n {
            let store = &stores[rng.gen_range(0..stores.len())];
            let guides: Vec<_> = staff.iter().filter(|s| s.store_ids.contains(&store.id)).collect();
            let guide = guides[rng.gen_range(0..guides.len())];
            let code = codes.iter().find(|c| c.store_id == Some(store.id));
            let added_at = now - rng.gen_range(1..HISTORY_DAYS - 1) * DAY - rng.gen_range(0..DAY);
            let name = format!("{}{}", SURNAMES[rng.gen_range(0..12)], GIVEN[rng.gen_range(0..12)]);
            let p = CustomerProfile {
                external_userid: format!("wmdemo{i:05}"),
                name,
                kind: 1,
                gender: 2,
                ..Default::default()
            };
            let (id, _) = tx.upsert_customer(corp_id, &p, code.map(|c| c.id), Some(store.id), added_at, now).await?;
            let f = NewFollow {
                corp_id,
                customer_id: id,
                staff_id: guide.id,
                added_at,
                add_way: 1,
                state: code.map_or("", |c| c.state.as_str()),
                code_id: code.map(|c| c.id),
                store_id: Some(store.id),
                returning: false,
            };
            let follow_id = tx.upsert_follow(&f, now).await?;
            // What a guide notes in WeCom (no draws from `rng`: the demo's
            // numbers stay as they were).
            let remark = format!("{}-{}", p.name, ["常客", "学生", "上班族", "宝妈"][i % 4]);
            let phone = format!("13{:09}", (i as u64 * 7_919_113) % 1_000_000_000);
            tx.set_follow_remark(follow_id, &remark, &[phone]).await?;
            // Some leave their guide, mostly lately; some of those come
            // back, so a code's losses and returns have something to show.
            if rng.gen_bool(0.12) {
                let deleted_at = (now - rng.gen_range(0..40) * DAY - rng.gen_range(0..DAY)).max(added_at + DAY / 2);
                if deleted_at < now {
                    tx.mark_follow_deleted(corp_id, id, guide.id, "customer", deleted_at).await?;
                    if rng.gen_bool(0.4) {
                        let back = deleted_at + rng.gen_range(0..(now - deleted_at).max(1));
                        tx.upsert_follow(&NewFollow { added_at: back, returning: true, ..f.clone() }, now).await?;
                    }
                }
            }
            let mut tags = vec!["已领新客券"];
            tags.push(["高跟鞋", "平底鞋", "运动鞋", "靴子"][rng.gen_range(0..4)]);
            match rng.gen_range(0..10) {
                0..=2 => tags.push("投票选A款"),
                3 | 4 => tags.push("投票选B款"),
                _ => {}
            }
            let mut a = koi_domain::customer::Activity::added(added_at);
            let orders = [0, 0, 0, 0, 1, 1, 1, 2, 3, 6][rng.gen_range(0..10)];
            for k in 0..orders {
                let at = added_at + (now - added_at) * (k + 1) / (orders + 1);
                let order = Behaviour::OrderPlaced { amount_fen: rng.gen_range(199..1299) * 100 };
                // On the event log too, so the profile lists the orders.
                let payload = serde_json::to_string(&order).expect("a behaviour is plain data and serialises");
                let ev = koi_store::events::NewEvent {
                    corp_id,
                    kind: "customer.order_placed",
                    subject: &format!("customer:{id}"),
                    actor: "import",
                    payload: &payload,
                    dedup_key: None,
                    occurred_at: at,
                };
                tx.append_event(&ev, now).await?;
                a = a.apply(&order, at);
            }
            if rng.gen_bool(0.5) {
                a = a.apply(&Behaviour::MessageReplied, now - rng.gen_range(0..60) * DAY);
            }
            for _ in 0..[0, 0, 0, 1, 2, 5][rng.gen_range(0..6)] {
                a = a.apply(&Behaviour::FriendBrought, now - rng.gen_range(0..30) * DAY);
            }
            tags.push(match orders {
                0 => "普通会员",
                1 | 2 => "银卡会员",
                _ => "金卡VIP",
            });
            for t in tags {
                tx.tag_customer(corp_id, id, &tag[t], "import", added_at).await?;
            }
            let mut row = tx.customer_activity(corp_id, id).await?.ok_or(crate::EngineError::NotFound("customer"))?;
            if rng.gen_bool(0.7) {
                let (lat, lng) = (store.lat.unwrap_or(31.2), store.lng.unwrap_or(121.4));
                row.home_lat = Some(lat + rng.gen_range(-0.06..0.06));
                row.home_lng = Some(lng + rng.gen_range(-0.07..0.07));
            }
            super::customers::set_counters_of(&mut row, &a);
            self.refresh_value(&mut tx, corp_id, row, true, &rules, now).await?;
            if rng.gen_bool(0.6) {
                let size = rng.gen_range(34..=40).to_string();
                tx.set_customer_field(corp_id, id, "shoe_size", Some(&size), now).await?;
            }
            if rng.gen_bool(0.3) {
                let foot = ["标准", "宽脚", "窄脚", "高脚背"][rng.gen_range(0..4)];
                tx.set_customer_field(corp_id, id, "foot", Some(foot), now).await?;
            }
        }
        // The codes were there before the first of these customers came.
        for c in &codes {
            tx.set_channel_code_created_at(corp_id, c.id, now - HISTORY_DAYS * DAY).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// The demo campaign's name, as the banner and the demo test know it.
pub const DEMO_CAMPAIGN_NAME: &str = "老带新·邀3位好友得¥5红包";

/// The demo campaign's hold: short, so someone watching sees invites turn
/// from pending to valid (a real campaign holds a day or more).
pub const DEMO_CAMPAIGN_HOLD_SECS: i64 = 120;

impl Engine {
    /// The demo brand's running task fission (任务裂变): 3 friends who stay
    /// with the guide for the hold bring a ¥5 red envelope (paid through
    /// WeChat Pay), 10 bring a canvas bag; every guide carries the entries
    /// and every risk check is on. Participants are enrolled by the demo's
    /// traffic once their customers exist in WeCom.
    pub async fn seed_demo_campaign(&self, corp_id: i64) -> Result<crate::campaigns::Campaign> {
        use koi_domain::campaign::{CampaignDraft, CampaignKind, RewardSpec, RiskSettings, Tier, Transition};
        let owner = crate::Principal {
            corp_id,
            role: koi_domain::access::Role::Owner,
            user_id: None,
            store_ids: vec![],
            staff_id: None,
        };
        let now = now_ms();
        let draft = CampaignDraft {
            name: DEMO_CAMPAIGN_NAME.into(),
            kind: CampaignKind::Task,
            starts_at: now - 60_000,
            ends_at: now + 30 * 86_400_000,
            staff_ids: self.db.staff_list(corp_id).await?.iter().map(|m| m.id).collect(),
            welcome: "欢迎来到悦步！你也可以邀请好友添加导购，邀满3位得¥5微信红包，满10位送帆布袋～".into(),
            tiers: vec![
                Tier { threshold: 3, reward: RewardSpec::red_envelope(500), inventory: None },
                Tier { threshold: 10, reward: RewardSpec::gift("悦步帆布袋", 1500), inventory: Some(20) },
            ],
            budget_fen: 100_000,
            rules_text: "好友需为新客户，添加导购并保持好友关系满2分钟才计入；同一设备、重复添加、邀请自己不计入。"
                .into(),
            risk: RiskSettings { hold_secs: DEMO_CAMPAIGN_HOLD_SECS, ..RiskSettings::default() },
            store_ids: vec![],
            seed_segment: String::new(),
            poster_template_id: None,
            group_code_id: None,
            old_groups: vec![],
            invitee_reward: None,
        };
        let c = self.create_campaign(&owner, &draft).await?;
        self.campaign_transition(&owner, c.id, Transition::Launch).await
    }

    /// Seed 001's coupons and points mall: a 49-20 coupon issued to the
    /// first customers, a ¥10 coupon and a canvas bag for points, and
    /// opening points for some customers to spend in their wallet.
    /// Orders and what they earn: points at 1 a yuan, two-level commission
    /// (10 % and 5 %) over a referral chain (the first customer brought
    /// three, the second of those brought two more), orders over the last
    /// month with a partial and a whole refund, and a product for the H5
    /// shop (`/h5/p/…?k=`).
    pub async fn seed_demo_commerce(&self, corp_id: i64) -> Result<()> {
        use koi_domain::order::{CustomerKeys, OrderDraft, OrderItem, RefundDraft};
        let owner = crate::campaigns::system(corp_id);
        let rules = koi_domain::coupon::points::PointsRules {
            per_yuan: 1,
            checkin: 5,
            review: 10,
            expire_days: 365,
            streak_days: 7,
            streak_bonus: 20,
        };
        self.set_points_rules(&owner, &rules).await?;
        let settings = koi_domain::distribution::DistributionSettings {
            enabled: true,
            level1_bp: 1000,
            level2_bp: 500,
            ..Default::default()
        };
        self.save_distribution_settings(&owner, settings).await?;
        let ids = self.db.customer_ids_page(corp_id, 0, 24).await?;
        if ids.len() < 6 {
            return Ok(());
        }
        for &c in &ids[..2] {
            self.opt_in_distributor(&owner, crate::distribution::OptIn { customer_id: c }).await?;
        }
        let mut tx = self.db.begin().await?;
        for (brought, by) in [(ids[1], ids[0]), (ids[2], ids[0]), (ids[3], ids[0]), (ids[4], ids[1]), (ids[5], ids[1])]
        {
            crate::distribution::record_referral(&mut tx, corp_id, brought, by, "link").await?;
        }
        tx.commit().await?;
        let skus =
            [("YB-A1", "周年庆A款单鞋", 39_900), ("YB-SOCK3", "棉袜三双装", 4_900), ("YB-CARE", "护理套装", 12_900)];
        let now = now_ms();
        let mut placed = Vec::new();
        for (i, &c) in ids.iter().enumerate().skip(1) {
            let Some(customer) = self.db.customer(corp_id, c).await? else { continue };
            let (sku, name, price) = skus[i % skus.len()];
            let qty = 1 + (i % 2) as i64;
            let amount = price * qty;
            let draft = OrderDraft {
                shop_order_id: format!("DEMO-{:05}", i),
                ordered_at: now - (i as i64 % 28 + 1) * 86_400_000,
                store_code: String::new(),
                items: vec![OrderItem { sku: sku.into(), name: name.into(), qty, price_fen: price }],
                amount_fen: amount,
                paid_fen: if i % 3 == 0 { amount - 2_000 } else { amount },
                status: None,
                customer: CustomerKeys { external_userid: customer.external_userid, ..Default::default() },
                coupon_guide: String::new(),
            };
            placed.push(self.create_order(&owner, &draft).await?.order_id);
        }
        let refunds = [("DEMO-R1", Some(2_000), "尺码不合适，退一双袜子"), ("DEMO-R2", None, "整单退货")];
        for ((refund_id, amount_fen, reason), order_id) in refunds.into_iter().zip(placed.iter().skip(2)) {
            let draft = RefundDraft { refund_id: refund_id.into(), amount_fen, reason: reason.into() };
            self.refund_order(&owner, *order_id, &draft).await?;
        }
        let product = koi_domain::product::ProductDraft {
            sku: "YB-BUNDLE-199".into(),
            name: "双11 悦步护理福袋".into(),
            description: "护理套装 + 棉袜三双装，会员专享".into(),
            price_fen: 1_990,
            stock: 200,
            images: vec![],
            store_ids: vec![],
            sale_starts_at: None,
            sale_ends_at: None,
            per_customer_limit: Some(2),
            rules: vec![],
            active: true,
        };
        self.create_product(&owner, &product).await?;
        // More for the page's small cart: socks with the second pair at half
        // price everywhere, and one product only each store sells (what its
        // store manager sees beside the corp's).
        let stores = self.db.stores(corp_id).await?;
        let more = [
            ("YB-SOCK3-H5", "棉袜三双装", 4_900, vec![], vec![koi_domain::product::PriceRule::SecondHalf]),
            ("YB-CARE-JA", "静安店限定 护理套装", 12_900, stores.iter().take(1).map(|s| s.id).collect(), vec![]),
            (
                "YB-POLISH-XJH",
                "徐家汇店限定 鞋油",
                3_900,
                stores.iter().skip(1).take(1).map(|s| s.id).collect(),
                vec![],
            ),
        ];
        for (sku, name, price_fen, store_ids, rules) in more {
            let d = koi_domain::product::ProductDraft {
                sku: sku.into(),
                name: name.into(),
                description: String::new(),
                price_fen,
                stock: 500,
                store_ids,
                rules,
                per_customer_limit: None,
                ..product.clone()
            };
            self.create_product(&owner, &d).await?;
        }
        Ok(())
    }

    pub async fn seed_demo_coupons(&self, corp_id: i64) -> Result<()> {
        use koi_domain::coupon::{CouponKind, TemplateDraft};
        let owner = crate::campaigns::system(corp_id);
        let draft = |name: &str, kind, value_fen, min_fen, stock| TemplateDraft {
            name: name.into(),
            kind,
            value_fen,
            min_fen,
            discount_pct: 0,
            gift: String::new(),
            valid_from: None,
            valid_to: None,
            valid_days: Some(30),
            per_customer: 1,
            stock,
            store_ids: vec![],
        };
        let t49 = self
            .create_coupon_template(&owner, &draft("双11 满49减20", CouponKind::Threshold, 2000, 4900, Some(500)))
            .await?;
        let t10 = self.create_coupon_template(&owner, &draft("¥10 无门槛券", CouponKind::Cash, 1000, 0, None)).await?;
        let item = |name: &str, kind: &str, template_id, gift: &str, points, stock| crate::points::MallItemDraft {
            name: name.into(),
            kind: kind.into(),
            template_id,
            gift: gift.into(),
            points,
            stock,
            archived: false,
        };
        self.create_mall_item(&owner, &item("¥10 无门槛券", "coupon", Some(t10.id), "", 200, None)).await?;
        self.create_mall_item(&owner, &item("悦步帆布袋", "gift", None, "帆布袋", 500, Some(50))).await?;
        let ids = self.db.customer_ids_page(corp_id, 0, 30).await?;
        for (i, c) in ids.into_iter().enumerate() {
            if i % 2 == 0 {
                self.issue_coupon(&owner, t49.id, c).await?;
            }
            self.adjust_points(&owner, c, 100 + 50 * i as i64, "开业积分").await?;
        }
        Ok(())
    }
}
