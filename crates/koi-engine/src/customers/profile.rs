//! One page per customer (客户画像): identity, follows, tags with their
//! cause, lifecycle stage, RFM, influence, behaviour counters, custom fields
//! and the timeline. The console and `GET /api/v1/customers/{id}` show the
//! same [`CustomerProfileView`].

use crate::acquisition::Customer;
use crate::{Engine, EngineError, Principal, Result};
use koi_domain::customer::FieldKind;
use koi_domain::segment::Stage;
use serde::Serialize;
use std::collections::HashMap;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CustomerProfileView {
    #[serde(flatten)]
    pub customer: Customer,
    /// `new`, `stored`, `active`, `converted` or `super`.
    pub stage: String,
    /// The stage in the operators' words (引流 … 养大鱼).
    pub stage_zh: String,
    /// RFM bands 1..=5 (r, f, m); null until the first order.
    pub rfm: [Option<i32>; 3],
    pub influence: i32,
    pub orders: i32,
    pub spent_fen: i64,
    pub first_order_at: Option<i64>,
    pub last_order_at: Option<i64>,
    pub last_active_at: Option<i64>,
    pub friends_brought: i32,
    pub groups_joined: i32,
    pub shares: i32,
    /// Home (lat, lng), for distance to stores.
    pub home: Option<(f64, f64)>,
    pub tags: Vec<ProfileTag>,
    /// Every defined field, with this customer's value (null when unset).
    pub fields: Vec<ProfileField>,
    /// Orders placed and refunded, newest first (from the event log).
    pub order_history: Vec<OrderLine>,
    /// Newest first.
    pub timeline: Vec<TimelineEntry>,
    /// Display names of the console users named as actors (`user:3` → 陈思).
    pub people: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProfileTag {
    pub id: String,
    pub name: String,
    pub group: String,
    /// What put it there: `user:3`, `code:5`, `rule:2`, `bulk`, `wecom`.
    pub source: String,
    pub tagged_at: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProfileField {
    pub name: String,
    pub label: String,
    #[schema(value_type = Object)]
    pub kind: FieldKind,
    pub value: Option<String>,
}

/// One order event of a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OrderLine {
    /// `placed` or `refunded`.
    pub kind: String,
    pub amount_fen: i64,
    pub occurred_at: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TimelineEntry {
    pub kind: String,
    pub actor: String,
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    pub occurred_at: i64,
}

impl Engine {
    /// Display names of the corp's console users by actor (`user:3` → 陈思),
    /// for pages that say who did something.
    pub async fn people(&self, who: &Principal) -> Result<std::collections::BTreeMap<String, String>> {
        crate::require(who, koi_domain::access::Action::ViewCustomers)?;
        Ok(self
            .db
            .users(who.corp_id)
            .await?
            .into_iter()
            .map(|u| {
                let name = if u.display_name.is_empty() { u.username } else { u.display_name };
                (format!("user:{}", u.id), name)
            })
            .collect())
    }

    pub async fn customer_profile(&self, who: &Principal, id: i64) -> Result<CustomerProfileView> {
        let customer = self.customer(who, id).await?; // checks visibility
        let a = self.db.customer_activity(who.corp_id, id).await?.ok_or(EngineError::NotFound("customer"))?;
        let catalogue: HashMap<String, (String, String)> =
            self.db.tag_catalogue(who.corp_id).await?.into_iter().map(|t| (t.tag_id, (t.name, t.group_name))).collect();
        let tags = self
            .db
            .customer_tags(who.corp_id, id)
            .await?
            .into_iter()
            .map(|t| {
                let (name, group) =
                    catalogue.get(&t.tag_id).cloned().unwrap_or_else(|| (t.tag_id.clone(), String::new()));
                ProfileTag { id: t.tag_id, name, group, source: t.source, tagged_at: t.tagged_at }
            })
            .collect();
        let values: HashMap<String, String> = self.db.customer_fields(who.corp_id, id).await?.into_iter().collect();
        let fields = self
            .defs(who.corp_id)
            .await?
            .into_iter()
            .map(|d| ProfileField { value: values.get(&d.name).cloned(), name: d.name, label: d.label, kind: d.kind })
            .collect();
        let timeline = self
            .customer_timeline(who, id)
            .await?
            .into_iter()
            .map(|e| TimelineEntry {
                payload: serde_json::from_str(&e.payload).unwrap_or(serde_json::Value::String(e.payload)),
                kind: e.kind,
                actor: e.actor,
                occurred_at: e.occurred_at,
            })
            .collect::<Vec<TimelineEntry>>();
        let order_history = timeline
            .iter()
            .filter_map(|e| {
                let kind = match e.kind.as_str() {
                    "customer.order_placed" => "placed",
                    "customer.order_refunded" => "refunded",
                    _ => return None,
                };
                let amount_fen = e.payload["amount_fen"].as_i64().unwrap_or(0);
                Some(OrderLine { kind: kind.into(), amount_fen, occurred_at: e.occurred_at })
            })
            .collect();
        let people = self.people(who).await?;
        let stage = Stage::from_name(&a.stage).unwrap_or_default();
        Ok(CustomerProfileView {
            customer,
            stage: stage.as_str().into(),
            stage_zh: stage.chinese().into(),
            rfm: [a.rfm_r, a.rfm_f, a.rfm_m],
            influence: a.influence,
            orders: a.orders,
            spent_fen: a.spent_fen,
            first_order_at: a.first_order_at,
            last_order_at: a.last_order_at,
            last_active_at: a.last_active_at,
            friends_brought: a.friends_brought,
            groups_joined: a.groups_joined,
            shares: a.shares,
            home: a.home_lat.zip(a.home_lng),
            tags,
            fields,
            order_history,
            timeline,
            people,
        })
    }
}
