//! Order use cases for the API and the console: post, refund, import, list,
//! detail, the orders report; the shops' integrations (webhook secrets shown
//! once) and the corp's attribution rules.

use super::ingest::{attribution_settings_in, ingest_in, refund_in, IngestOutcome, OrderSource, RefundOutcome};
use super::ATTRIBUTION_KEY;
use crate::org::read_csv;
use crate::{actor, random_hex, require, Engine, EngineError, Principal, Result};
use koi_domain::access::Action;
use koi_domain::import::ImportReport;
use koi_domain::order::{order_rows, AttributionSettings, OrderDraft, RefundDraft};
use koi_store::events::NewEvent;
use koi_store::orders::{IntegrationRow, OrderFilter, OrderRow};
use koi_store::{now_ms, Tx};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Orders a page shows at most.
pub const MAX_PAGE: i64 = 200;

/// Filters and paging of the orders list.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams, utoipa::ToSchema)]
pub struct OrderQuery {
    /// `paid`, `shipped`, `done`, `refunded`, `part_refunded`.
    pub status: Option<String>,
    pub store_id: Option<i64>,
    pub staff_id: Option<i64>,
    pub customer_id: Option<i64>,
    /// `true`: with a customer; `false`: waiting for one.
    pub matched: Option<bool>,
    /// ms since the epoch, inclusive.
    pub from: Option<i64>,
    /// ms since the epoch, exclusive.
    pub to: Option<i64>,
    pub shop_order_id: Option<String>,
    /// 1..=200, default 50.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// An order as the list and the API show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OrderView {
    pub id: i64,
    pub shop_order_id: String,
    /// `api`, `csv`, `checkout` or `webhook:<integration id>`.
    pub source: String,
    pub ordered_at: i64,
    pub store_code: String,
    pub amount_fen: i64,
    pub paid_fen: i64,
    pub refunded_fen: i64,
    pub status: String,
    pub customer_id: Option<i64>,
    pub customer_name: String,
    /// The key that found the customer.
    pub matched_by: Option<String>,
    pub staff_id: Option<i64>,
    pub staff_name: String,
    pub store_id: Option<i64>,
    pub store_name: String,
    pub code_id: Option<i64>,
    pub code_name: String,
    /// The attribution rule that decided (`none` when none did).
    pub rule: String,
    pub first_order: bool,
    /// The campaign the order counts for.
    pub campaign_id: Option<i64>,
    /// `campaign_coupon` (its reward coupon paid), `campaign_window` (the
    /// customer came through it within the window) or `none`.
    pub campaign_rule: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OrderListView {
    pub orders: Vec<OrderView>,
    pub total: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OrderItemView {
    pub sku: String,
    pub name: String,
    pub qty: i64,
    pub price_fen: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RefundView {
    pub refund_id: String,
    pub amount_fen: i64,
    pub reason: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OrderDetail {
    pub order: OrderView,
    pub items: Vec<OrderItemView>,
    pub refunds: Vec<RefundView>,
    /// The keys the order carried (the phone as its hash).
    pub keys: koi_domain::order::CustomerKeys,
    pub coupon_guide: String,
}

/// A shop posting orders. The secret is never shown again after creation
/// (or a new secret).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IntegrationView {
    pub id: i64,
    pub name: String,
    /// The URL's last part: `POST /webhooks/orders/{key}`.
    pub key: String,
    pub webhook_url: String,
    pub active: bool,
    pub last_used_at: Option<i64>,
    pub created_at: i64,
}

/// A new integration or a new secret: shown this once.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IntegrationCreated {
    pub integration: IntegrationView,
    pub secret: String,
}

/// One line of the orders report.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReportLine {
    /// The guide's, store's or code's id; `None` for orders attributed to none.
    pub id: Option<i64>,
    pub name: String,
    pub orders: i64,
    pub buyers: i64,
    pub first_orders: i64,
    /// GMV: paid minus refunded, in fen.
    pub gmv_fen: i64,
    pub refunded_fen: i64,
    /// Codes only: customers first added through the code in the range…
    pub added: Option<i64>,
    /// …and the share of them who have ordered, in per mille.
    pub first_order_rate_permille: Option<i64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReportView {
    /// `staff`, `store` or `code`.
    pub by: String,
    pub from: i64,
    pub to: i64,
    pub lines: Vec<ReportLine>,
    pub orders: i64,
    pub gmv_fen: i64,
}

async fn record(tx: &mut Tx, who: &Principal, kind: &str, subject: String, payload: serde_json::Value) -> Result<()> {
    let now = now_ms();
    let e = NewEvent {
        corp_id: who.corp_id,
        kind,
        subject: &subject,
        actor: &actor(who),
        payload: &payload.to_string(),
        dedup_key: None,
        occurred_at: now,
    };
    tx.append_event(&e, now).await?;
    Ok(())
}

/// Names of the corp's people, stores and codes, for views.
struct Names {
    staff: HashMap<i64, String>,
    stores: HashMap<i64, String>,
    codes: HashMap<i64, String>,
}

impl Engine {
    async fn names(&self, corp_id: i64) -> Result<Names> {
        Ok(Names {
            staff: self.db.staff_list(corp_id).await?.into_iter().map(|s| (s.id, s.name)).collect(),
            stores: self.db.stores(corp_id).await?.into_iter().map(|s| (s.id, s.name)).collect(),
            codes: self.db.channel_codes(corp_id).await?.into_iter().map(|c| (c.id, c.name)).collect(),
        })
    }

    async fn order_view(&self, corp_id: i64, r: OrderRow, n: &Names) -> Result<OrderView> {
        let customer_name = match r.customer_id {
            Some(id) => self.db.customer(corp_id, id).await?.map(|c| c.name).unwrap_or_default(),
            None => String::new(),
        };
        let name = |m: &HashMap<i64, String>, id: Option<i64>| id.and_then(|i| m.get(&i).cloned()).unwrap_or_default();
        Ok(OrderView {
            staff_name: name(&n.staff, r.staff_id),
            store_name: name(&n.stores, r.store_id),
            code_name: name(&n.codes, r.code_id),
            customer_name,
            id: r.id,
            shop_order_id: r.shop_order_id,
            source: r.source,
            ordered_at: r.ordered_at,
            store_code: r.store_code,
            amount_fen: r.amount_fen,
            paid_fen: r.paid_fen,
            refunded_fen: r.refunded_fen,
            status: r.status,
            customer_id: r.customer_id,
            matched_by: r.matched_by,
            staff_id: r.staff_id,
            store_id: r.store_id,
            code_id: r.code_id,
            rule: r.rule,
            first_order: r.first_order,
            campaign_id: r.campaign_id,
            campaign_rule: r.campaign_rule,
        })
    }

    /// Posts one order (`POST /api/v1/orders`); the same shop order id again
    /// counts once.
    pub async fn create_order(&self, who: &Principal, draft: &OrderDraft) -> Result<IngestOutcome> {
        require(who, Action::ManageOrders)?;
        let o = draft.validate(now_ms())?;
        let mut tx = self.db.begin().await?;
        let out = ingest_in(&mut tx, who.corp_id, &o, OrderSource::Api).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Refunds an order by koi's id; the same refund id again changes nothing.
    pub async fn refund_order(&self, who: &Principal, order_id: i64, draft: &RefundDraft) -> Result<RefundOutcome> {
        require(who, Action::ManageOrders)?;
        let r = draft.validate()?;
        let row = self.db.order_row(who.corp_id, order_id).await?.ok_or(EngineError::NotFound("order"))?;
        let mut tx = self.db.begin().await?;
        let out = refund_in(&mut tx, who.corp_id, &row.shop_order_id, &r).await?;
        record(&mut tx, who, "order.refunded", format!("order:{order_id}"), serde_json::json!({ "fen": out.fen }))
            .await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Imports orders from CSV (UTF-8 or GB18030), all or nothing: one bad
    /// row and nothing is written, and the report lists every bad row.
    /// Orders on record already are counted as `updated` (nothing counted
    /// twice).
    pub async fn import_orders(&self, who: &Principal, csv: &[u8]) -> Result<ImportReport> {
        require(who, Action::ManageOrders)?;
        let (headers, rows) = read_csv(csv)?;
        let orders = order_rows(&headers, &rows, now_ms()).map_err(EngineError::ImportRejected)?;
        let mut report = ImportReport { rows: rows.len(), ..Default::default() };
        let mut tx = self.db.begin().await?;
        for o in &orders {
            if ingest_in(&mut tx, who.corp_id, o, OrderSource::Csv).await?.created {
                report.created += 1;
            } else {
                report.updated += 1;
            }
        }
        let summary = serde_json::json!({ "kind": "orders", "created": report.created, "updated": report.updated });
        record(&mut tx, who, "import.completed", format!("corp:{}", who.corp_id), summary).await?;
        tx.commit().await?;
        Ok(report)
    }

    fn filter_of(who: &Principal, q: &OrderQuery) -> OrderFilter {
        OrderFilter {
            status: q.status.clone().filter(|s| !s.is_empty()),
            store_id: q.store_id,
            staff_id: q.staff_id,
            customer_id: q.customer_id,
            matched: q.matched,
            from: q.from,
            to: q.to,
            shop_order_id: q.shop_order_id.clone().filter(|s| !s.is_empty()),
            stores: who.store_scope().map(<[i64]>::to_vec),
        }
    }

    /// A page of orders, newest first; a store manager sees their stores'.
    pub async fn orders(&self, who: &Principal, q: &OrderQuery) -> Result<OrderListView> {
        require(who, Action::ViewOrders)?;
        let limit = q.limit.unwrap_or(50).clamp(1, MAX_PAGE);
        let offset = q.offset.unwrap_or(0).max(0);
        let (rows, total) = self.db.orders_page(who.corp_id, &Self::filter_of(who, q), limit, offset).await?;
        let names = self.names(who.corp_id).await?;
        let mut orders = Vec::with_capacity(rows.len());
        for r in rows {
            orders.push(self.order_view(who.corp_id, r, &names).await?);
        }
        Ok(OrderListView { orders, total })
    }

    pub async fn order(&self, who: &Principal, id: i64) -> Result<OrderDetail> {
        require(who, Action::ViewOrders)?;
        let row = self.db.order_row(who.corp_id, id).await?.ok_or(EngineError::NotFound("order"))?;
        if who.store_scope().is_some() && !row.store_id.is_some_and(|s| who.sees_store(s)) {
            return Err(EngineError::NotFound("order"));
        }
        let items = self.db.order_items(id).await?;
        let refunds = self.db.order_refunds(id).await?;
        let keys = koi_domain::order::CustomerKeys {
            unionid: row.unionid.clone(),
            phone_hash: row.phone_hash.clone(),
            external_userid: row.external_userid.clone(),
            member_id: row.member_id.clone(),
        };
        let coupon_guide = row.coupon_guide.clone();
        let names = self.names(who.corp_id).await?;
        Ok(OrderDetail {
            order: self.order_view(who.corp_id, row, &names).await?,
            items: items
                .into_iter()
                .map(|i| OrderItemView { sku: i.sku, name: i.name, qty: i.qty, price_fen: i.price_fen })
                .collect(),
            refunds: refunds
                .into_iter()
                .map(|r| RefundView {
                    refund_id: r.refund_id,
                    amount_fen: r.amount_fen,
                    reason: r.reason,
                    created_at: r.created_at,
                })
                .collect(),
            keys,
            coupon_guide,
        })
    }

    /// Orders over `[from, to)` by guide, store or channel code: orders,
    /// buyers, first orders, GMV; for codes also the first-order rate of
    /// the customers the code brought in the range.
    pub async fn orders_report(&self, who: &Principal, by: &str, from: i64, to: i64) -> Result<ReportView> {
        require(who, Action::ViewOrders)?;
        if !matches!(by, "staff" | "store" | "code") {
            return Err(koi_domain::ValidationError::one("by", "unknown", "by is staff, store or code").into());
        }
        if to <= from {
            return Err(koi_domain::ValidationError::one("to", "out_of_range", "to is after from").into());
        }
        let rows = self.db.orders_report(who.corp_id, by, from, to).await?;
        let names = self.names(who.corp_id).await?;
        let map = match by {
            "staff" => &names.staff,
            "store" => &names.stores,
            _ => &names.codes,
        };
        let mut buyers_by_code: HashMap<i64, (i64, i64)> = HashMap::new();
        if by == "code" {
            for r in self.db.code_buyers(who.corp_id, from, to).await? {
                buyers_by_code.insert(r.code_id, (r.added, r.buyers));
            }
        }
        let mut lines: Vec<ReportLine> = rows
            .into_iter()
            .filter(|r| by != "store" || who.store_scope().is_none() || r.key.is_some_and(|s| who.sees_store(s)))
            .map(|r| {
                let code = r.key.and_then(|k| buyers_by_code.remove(&k));
                ReportLine {
                    id: r.key,
                    name: r.key.and_then(|k| map.get(&k).cloned()).unwrap_or_default(),
                    orders: r.orders,
                    buyers: r.buyers,
                    first_orders: r.first_orders,
                    gmv_fen: r.paid_fen - r.refunded_fen,
                    refunded_fen: r.refunded_fen,
                    added: code.map(|c| c.0),
                    first_order_rate_permille: code.filter(|c| c.0 > 0).map(|(added, b)| b * 1000 / added),
                }
            })
            .collect();
        // Codes that brought customers but no orders in the range.
        for (code_id, (added, buyers)) in buyers_by_code {
            lines.push(ReportLine {
                id: Some(code_id),
                name: map.get(&code_id).cloned().unwrap_or_default(),
                orders: 0,
                buyers: 0,
                first_orders: 0,
                gmv_fen: 0,
                refunded_fen: 0,
                added: Some(added),
                first_order_rate_permille: (added > 0).then(|| buyers * 1000 / added),
            });
        }
        let orders = lines.iter().map(|l| l.orders).sum();
        let gmv_fen = lines.iter().map(|l| l.gmv_fen).sum();
        Ok(ReportView { by: by.into(), from, to, lines, orders, gmv_fen })
    }

    fn integration_view(&self, r: IntegrationRow) -> IntegrationView {
        IntegrationView {
            webhook_url: format!("{}/webhooks/orders/{}", self.settings.public_url.trim_end_matches('/'), r.key),
            id: r.id,
            name: r.name,
            key: r.key,
            active: r.active,
            last_used_at: r.last_used_at,
            created_at: r.created_at,
        }
    }

    pub async fn order_integrations(&self, who: &Principal) -> Result<Vec<IntegrationView>> {
        require(who, Action::ManageOrders)?;
        Ok(self.db.integrations(who.corp_id).await?.into_iter().map(|r| self.integration_view(r)).collect())
    }

    fn integration_name(name: &str) -> Result<String> {
        let mut c = koi_domain::error::Checker::default();
        let n = c.text("name", name, 64, true);
        Ok(c.finish(n)?)
    }

    /// A new integration; its secret is in the answer and nowhere else.
    pub async fn create_order_integration(&self, who: &Principal, name: &str) -> Result<IntegrationCreated> {
        require(who, Action::ManageOrders)?;
        let name = Self::integration_name(name)?;
        let (key, secret) = (random_hex(12), random_hex(24));
        let mut tx = self.db.begin().await?;
        let id = tx.insert_integration(who.corp_id, &key, &name, &secret, self.db.master_key(), now_ms()).await?;
        record(
            &mut tx,
            who,
            "order_integration.created",
            format!("order_integration:{id}"),
            serde_json::json!({
                "name": name,
            }),
        )
        .await?;
        tx.commit().await?;
        let row = self.db.integrations(who.corp_id).await?.into_iter().find(|r| r.id == id);
        let row = row.ok_or(EngineError::NotFound("integration"))?;
        Ok(IntegrationCreated { integration: self.integration_view(row), secret })
    }

    /// Renames or switches an integration; `new_secret` replaces its secret
    /// (the old one stops working at once) and answers the new one.
    pub async fn update_order_integration(
        &self,
        who: &Principal,
        id: i64,
        name: &str,
        active: bool,
        new_secret: bool,
    ) -> Result<Option<String>> {
        require(who, Action::ManageOrders)?;
        let name = Self::integration_name(name)?;
        let secret = new_secret.then(|| random_hex(24));
        let mut tx = self.db.begin().await?;
        let found = tx
            .update_integration(who.corp_id, id, &name, active, secret.as_deref(), self.db.master_key(), now_ms())
            .await?;
        if !found {
            return Err(EngineError::NotFound("integration"));
        }
        let payload = serde_json::json!({ "name": name, "active": active, "new_secret": new_secret });
        record(&mut tx, who, "order_integration.updated", format!("order_integration:{id}"), payload).await?;
        tx.commit().await?;
        Ok(secret)
    }

    pub async fn delete_order_integration(&self, who: &Principal, id: i64) -> Result<()> {
        require(who, Action::ManageOrders)?;
        if !self.db.delete_integration(who.corp_id, id).await? {
            return Err(EngineError::NotFound("integration"));
        }
        Ok(())
    }

    pub async fn attribution_settings(&self, who: &Principal) -> Result<AttributionSettings> {
        require(who, Action::ViewOrders)?;
        let mut tx = self.db.begin().await?;
        let s = attribution_settings_in(&mut tx, who.corp_id).await?;
        tx.commit().await?;
        Ok(s)
    }

    /// Replaces the attribution rules; orders attributed before keep their
    /// guide and rule (a sale is not moved after the fact).
    pub async fn set_attribution_settings(&self, who: &Principal, s: &AttributionSettings) -> Result<()> {
        require(who, Action::ManageOrders)?;
        let s = s.validate()?;
        let staff: Vec<i64> = self.db.staff_list(who.corp_id).await?.into_iter().map(|s| s.id).collect();
        let stores: Vec<i64> = self.db.stores(who.corp_id).await?.into_iter().map(|s| s.id).collect();
        for d in &s.duty {
            if !staff.contains(&d.staff_id) || !stores.contains(&d.store_id) {
                return Err(koi_domain::ValidationError::one(
                    "duty",
                    "unknown",
                    "a duty guide names an unknown store or staff",
                )
                .into());
            }
        }
        let json = serde_json::to_string(&s).expect("settings are plain data and serialise");
        let mut tx = self.db.begin().await?;
        tx.set_corp_setting(who.corp_id, ATTRIBUTION_KEY, &json, now_ms()).await?;
        record(&mut tx, who, "order_attribution.updated", format!("corp:{}", who.corp_id), serde_json::json!(s))
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
