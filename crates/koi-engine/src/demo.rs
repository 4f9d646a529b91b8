//! The demo brand: a women's shoe brand with two stores in Shanghai and ten
//! shopping guides, as in the operators' anniversary case. `koi demo` seeds
//! it into a fresh database so a new user has something real to look at.

use crate::people::UserInput;
use crate::{Engine, Result};
use koi_domain::org::{CorpDraft, StaffDraft, StoreDraft};
use koi_store::now_ms;
use rand::distributions::Alphanumeric;
use rand::Rng;

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
        Ok(DemoBrand { corp_id, users, password })
    }
}
