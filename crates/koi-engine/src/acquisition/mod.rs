//! Acquisition use cases: channel codes (渠道活码) backed by WeCom contact
//! ways, and the jobs that turn an add event into a customer, a follow with
//! its attribution, and a welcome message sent inside its 20 s window.

mod adds;
mod codes;
mod welcome;

pub(crate) use adds::AddJob;
pub(crate) use codes::{choose_store, RouteJob};
pub(crate) use welcome::WelcomeJob;

use crate::{Engine, EngineError, Result};
use koi_domain::channel::ChannelCodeDraft;
use koi_store::acquisition::ChannelCodeRow;
use koi_wecom::client::{ApiError, CorpClient};
use serde::Serialize;

/// A welcome code lives this long after the add event.
const WELCOME_TTL_MS: i64 = 20_000;

/// A customer and their follows, as the API shows them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Customer {
    pub id: i64,
    pub external_userid: String,
    pub name: String,
    pub avatar: String,
    /// 1 WeChat user, 2 WeCom user.
    pub kind: i32,
    pub gender: i32,
    /// The code and store of the customer's first add.
    pub first_code_id: Option<i64>,
    pub first_store_id: Option<i64>,
    /// When koi first wrote the customer's row.
    pub created_at: i64,
    /// When the customer first added a guide (WeCom's time of that add).
    pub added_at: i64,
    pub follows: Vec<Follow>,
}

/// A customer × staff relation (好友关系).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Follow {
    pub staff_id: i64,
    pub added_at: i64,
    /// How the customer added the guide, as WeCom says: 1 QR code, 2 phone
    /// search, 3 card share, 4 group chat … (CONTRACT.md §3).
    pub add_way: i32,
    pub state: String,
    pub code_id: Option<i64>,
    pub store_id: Option<i64>,
    /// Re-added after a deletion, or already a customer of another guide.
    pub returning: bool,
    /// Set when the relation was lost (流失), with who deleted whom:
    /// `customer`, `staff` or `transfer`.
    pub deleted_at: Option<i64>,
    pub deleted_by: Option<String>,
    /// The guide's remark for the customer in WeCom.
    pub remark: String,
    /// The phones the guide noted in WeCom.
    pub phones: Vec<String>,
}

/// Where a geo code's landing page sends a customer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StorePick {
    pub store_id: i64,
    pub store_name: String,
    pub address: String,
    /// Metres from the customer; `None` when the location was unknown.
    pub distance_m: Option<f64>,
    /// True when no store was within the radius and the default store is shown.
    pub fallback: bool,
    /// The QR of that store's channel code, to scan or long-press.
    pub qr_code: String,
}

impl Customer {
    pub(crate) fn of(c: koi_store::acquisition::CustomerRow, follows: Vec<Follow>) -> Customer {
        Customer {
            id: c.id,
            external_userid: c.external_userid,
            name: c.name,
            avatar: c.avatar,
            kind: c.kind,
            gender: c.gender,
            first_code_id: c.first_code_id,
            first_store_id: c.first_store_id,
            created_at: c.created_at,
            added_at: c.added_at,
            follows,
        }
    }
}

impl From<koi_store::acquisition::FollowRow> for Follow {
    fn from(f: koi_store::acquisition::FollowRow) -> Self {
        Follow {
            staff_id: f.staff_id,
            added_at: f.added_at,
            add_way: f.add_way,
            state: f.state,
            code_id: f.code_id,
            store_id: f.store_id,
            returning: f.is_returning,
            deleted_at: f.deleted_at,
            deleted_by: f.deleted_by,
            remark: f.remark,
            phones: f.remark_mobiles.split(',').filter(|p| !p.is_empty()).map(String::from).collect(),
        }
    }
}

/// A channel code as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChannelCode {
    pub id: i64,
    pub name: String,
    pub store_id: Option<i64>,
    /// The `state` the contact way carries (attribution).
    pub state: String,
    /// WeCom's contact way id and QR image URL.
    pub config_id: Option<String>,
    pub qr_code: Option<String>,
    pub active: bool,
    pub draft: ChannelCodeDraft,
    pub created_at: i64,
    /// A nearest-store code's landing page (`/h5/go/{random token}`, under
    /// koi's public URL): what its QR and poster point at, so the customer's
    /// location picks the store. `None` for other codes.
    pub landing_path: Option<String>,
}

fn code_of(row: ChannelCodeRow) -> ChannelCode {
    let landing_path = matches!(row.draft.routing, koi_domain::channel::Routing::NearestStore { .. })
        .then(|| format!("/h5/go/{}", row.public_token));
    ChannelCode {
        landing_path,
        id: row.id,
        name: row.name,
        store_id: row.store_id,
        state: row.state,
        config_id: row.config_id,
        qr_code: row.qr_code,
        active: row.active,
        draft: row.draft,
        created_at: row.created_at,
    }
}

fn wecom_error(e: ApiError) -> EngineError {
    EngineError::Unavailable(format!("WeCom: {e}"))
}

impl Engine {
    /// A WeCom client for the corp, with its app secret.
    pub(crate) async fn wecom_for(&self, corp_id: i64) -> Result<CorpClient> {
        if let Some(client) = self.corp_clients.get(&corp_id) {
            return Ok(client);
        }
        let corp = self.db.corp(corp_id).await?.ok_or(EngineError::NotFound("corp"))?;
        let client = self.wecom.corp(&corp.wecom_corp_id, &corp.app_secret);
        self.corp_clients.put(corp_id, client.clone());
        Ok(client)
    }
}
