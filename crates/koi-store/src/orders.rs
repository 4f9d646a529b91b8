//! Orders (migration 0018): `orders` with their `order_items` and
//! `order_refunds`, the keys a customer is known by to shops
//! (`order_customer_keys`), and the shops posting orders
//! (`order_integrations`, their secrets sealed under the master key).
//!
//! Exactly once on both backends: an order is one row per (corp, shop order
//! id) ([`Tx::insert_order`] answers `None` for one on record), a refund one
//! row per (order, refund id) ([`Tx::insert_refund`]); the engine moves the
//! customer's counters only when its insert answered.

use crate::db::{on_pool, on_tx, Db, Tx};
use crate::secrets::{self, MasterKey};
use crate::Result;

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct OrderRow {
    pub id: i64,
    pub corp_id: i64,
    pub shop_order_id: String,
    pub source: String,
    pub ordered_at: i64,
    pub store_code: String,
    pub amount_fen: i64,
    pub paid_fen: i64,
    pub refunded_fen: i64,
    pub status: String,
    pub unionid: String,
    pub phone_hash: String,
    pub external_userid: String,
    pub member_id: String,
    pub coupon_guide: String,
    pub customer_id: Option<i64>,
    pub matched_by: Option<String>,
    pub matched_at: Option<i64>,
    pub staff_id: Option<i64>,
    pub store_id: Option<i64>,
    pub code_id: Option<i64>,
    pub rule: String,
    pub first_order: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// The campaign the order counts for, and the rule that decided.
    pub campaign_id: Option<i64>,
    pub campaign_rule: String,
}

const ORDER_COLUMNS: &str = "id, corp_id, shop_order_id, source, ordered_at, store_code, amount_fen, paid_fen, \
     refunded_fen, status, unionid, phone_hash, external_userid, member_id, coupon_guide, customer_id, matched_by, \
     matched_at, staff_id, store_id, code_id, rule, first_order, created_at, updated_at, campaign_id, campaign_rule";

/// When a customer met a campaign: invited through an entry (not
/// rejected), or taking part.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CampaignTouchRow {
    pub campaign_id: i64,
    pub at: i64,
}

/// What a campaign's or a code's orders add up to.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct OrderTotalsRow {
    pub orders: i64,
    pub buyers: i64,
    /// Orders that were their customer's first.
    pub first_orders: i64,
    /// Paid less refunded, fen.
    pub gmv_fen: i64,
}

/// What a new order writes.
#[derive(Debug, Clone)]
pub struct OrderWrite<'a> {
    pub shop_order_id: &'a str,
    pub source: &'a str,
    pub ordered_at: i64,
    pub store_code: &'a str,
    /// The store the order names (its code resolved), before attribution.
    pub store_id: Option<i64>,
    pub amount_fen: i64,
    pub paid_fen: i64,
    pub status: &'a str,
    pub unionid: &'a str,
    pub phone_hash: &'a str,
    pub external_userid: &'a str,
    pub member_id: &'a str,
    pub coupon_guide: &'a str,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct OrderItemRow {
    pub line: i32,
    pub sku: String,
    pub name: String,
    pub qty: i64,
    pub price_fen: i64,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RefundRow {
    pub id: i64,
    pub refund_id: String,
    pub amount_fen: i64,
    pub reason: String,
    pub created_at: i64,
}

/// How an order met its customer and whom it is attributed to.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderMatch<'a> {
    pub customer_id: i64,
    pub matched_by: &'a str,
    pub staff_id: Option<i64>,
    pub store_id: Option<i64>,
    pub code_id: Option<i64>,
    pub rule: &'a str,
    pub first_order: bool,
}

/// One guide's relation with a customer, for attribution.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct FollowFactRow {
    pub staff_id: i64,
    pub added_at: i64,
    pub deleted_at: Option<i64>,
    pub store_id: Option<i64>,
    pub code_id: Option<i64>,
}

/// A shop posting orders; `secret` open.
#[derive(Clone, PartialEq)]
pub struct IntegrationRow {
    pub id: i64,
    pub corp_id: i64,
    pub key: String,
    pub name: String,
    pub secret: String,
    pub active: bool,
    pub last_used_at: Option<i64>,
    pub created_at: i64,
}

impl std::fmt::Debug for IntegrationRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntegrationRow").field("id", &self.id).field("key", &self.key).finish_non_exhaustive()
    }
}

#[derive(sqlx::FromRow)]
struct IntegrationStored {
    id: i64,
    corp_id: i64,
    key: String,
    name: String,
    secret: String,
    active: bool,
    last_used_at: Option<i64>,
    created_at: i64,
}

const INTEGRATION_COLUMNS: &str = "id, corp_id, key, name, secret, active, last_used_at, created_at";

/// What a sealed secret is bound to: its integration's key, so a value
/// copied into another row does not open.
fn context(key: &str) -> String {
    format!("order_integrations/{key}/secret")
}

impl IntegrationStored {
    fn open(self, master: Option<&MasterKey>) -> Result<IntegrationRow> {
        let what = format!("order integration {}'s secret", self.id);
        Ok(IntegrationRow {
            secret: secrets::open(master, &context(&self.key), &self.secret, &what)?,
            id: self.id,
            corp_id: self.corp_id,
            key: self.key,
            name: self.name,
            active: self.active,
            last_used_at: self.last_used_at,
            created_at: self.created_at,
        })
    }
}

fn seal(master: Option<&MasterKey>, key: &str, plain: &str) -> String {
    match master {
        Some(m) => m.seal(&context(key), plain),
        None => plain.to_owned(),
    }
}

/// Filters of the orders list; `None` is any.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    pub status: Option<String>,
    pub store_id: Option<i64>,
    pub staff_id: Option<i64>,
    pub customer_id: Option<i64>,
    /// `Some(true)`: matched only; `Some(false)`: waiting for their customer.
    pub matched: Option<bool>,
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// A shop order id, exact.
    pub shop_order_id: Option<String>,
    /// A store manager's stores: orders of these stores only.
    pub stores: Option<Vec<i64>>,
}

/// One row of the orders report: a guide's, a store's or a code's orders
/// over a date range.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ReportRow {
    /// The staff, store or code id; `None` for orders attributed to none.
    pub key: Option<i64>,
    pub orders: i64,
    pub buyers: i64,
    pub first_orders: i64,
    pub paid_fen: i64,
    pub refunded_fen: i64,
}

/// Per channel code: customers first added through it in the range, and
/// how many of them have ordered (the first-order rate's two sides).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct CodeBuyersRow {
    pub code_id: i64,
    pub added: i64,
    pub buyers: i64,
}

impl Tx {
    /// An order's lines, inside the transaction that wrote them.
    pub async fn order_items_in(&mut self, order_id: i64) -> Result<Vec<OrderItemRow>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_as("SELECT line, sku, name, qty, price_fen FROM order_items WHERE order_id = $1 ORDER BY line")
                .bind(order_id)
                .fetch_all(&mut *c)
                .await
        })?)
    }

    /// A `corp_settings` value read inside the transaction.
    pub async fn corp_setting_in(&mut self, corp_id: i64, key: &str) -> Result<Option<String>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar("SELECT value FROM corp_settings WHERE corp_id = $1 AND key = $2")
                .bind(corp_id)
                .bind(key)
                .fetch_optional(&mut *c)
                .await
        })?)
    }

    /// Whether this refund id is on record for the order.
    pub async fn refund_recorded(&mut self, order_id: i64, refund_id: &str) -> Result<bool> {
        let n: Option<i64> = on_tx!(self, |c| {
            sqlx::query_scalar("SELECT id FROM order_refunds WHERE order_id = $1 AND refund_id = $2")
                .bind(order_id)
                .bind(refund_id)
                .fetch_optional(&mut *c)
                .await
        })?;
        Ok(n.is_some())
    }

    /// The phones a customer's guides noted (comma-separated per follow).
    pub async fn remark_mobiles_of(&mut self, corp_id: i64, customer_id: i64) -> Result<Vec<String>> {
        let rows: Vec<String> = on_tx!(self, |c| {
            sqlx::query_scalar("SELECT remark_mobiles FROM follows WHERE corp_id = $1 AND customer_id = $2")
                .bind(corp_id)
                .bind(customer_id)
                .fetch_all(&mut *c)
                .await
        })?;
        Ok(rows.iter().flat_map(|r| r.split(',')).map(str::trim).filter(|m| !m.is_empty()).map(String::from).collect())
    }

    /// Inserts a new order; `None` when the corp has this shop order id on
    /// record already (nothing written).
    pub async fn insert_order(&mut self, corp_id: i64, o: &OrderWrite<'_>, now: i64) -> Result<Option<i64>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO orders (corp_id, shop_order_id, source, ordered_at, store_code, store_id, amount_fen, \
                 paid_fen, status, unionid, phone_hash, external_userid, member_id, coupon_guide, created_at, \
                 updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15) \
                 ON CONFLICT (corp_id, shop_order_id) DO NOTHING RETURNING id",
            )
            .bind(corp_id)
            .bind(o.shop_order_id)
            .bind(o.source)
            .bind(o.ordered_at)
            .bind(o.store_code)
            .bind(o.store_id)
            .bind(o.amount_fen)
            .bind(o.paid_fen)
            .bind(o.status)
            .bind(o.unionid)
            .bind(o.phone_hash)
            .bind(o.external_userid)
            .bind(o.member_id)
            .bind(o.coupon_guide)
            .bind(now)
            .fetch_optional(&mut *c)
            .await
        })?)
    }

    pub async fn insert_order_item(
        &mut self,
        order_id: i64,
        line: i32,
        sku: &str,
        name: &str,
        qty: i64,
        price_fen: i64,
    ) -> Result<()> {
        on_tx!(self, |c| {
            sqlx::query(
                "INSERT INTO order_items (order_id, line, sku, name, qty, price_fen) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(order_id)
            .bind(line)
            .bind(sku)
            .bind(name)
            .bind(qty)
            .bind(price_fen)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    pub async fn order_by_shop_id(&mut self, corp_id: i64, shop_order_id: &str) -> Result<Option<OrderRow>> {
        let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE corp_id = $1 AND shop_order_id = $2");
        Ok(on_tx!(self, |c| sqlx::query_as(&sql).bind(corp_id).bind(shop_order_id).fetch_optional(&mut *c).await)?)
    }

    pub async fn order_row(&mut self, corp_id: i64, id: i64) -> Result<Option<OrderRow>> {
        let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE corp_id = $1 AND id = $2");
        Ok(on_tx!(self, |c| sqlx::query_as(&sql).bind(corp_id).bind(id).fetch_optional(&mut *c).await)?)
    }

    /// Moves a reported order forward (paid → shipped → done); a refunded
    /// order keeps its refund status. Answers whether it changed.
    pub async fn advance_order_status(&mut self, corp_id: i64, id: i64, status: &str, now: i64) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query(
                "UPDATE orders SET status = $1, updated_at = $2 WHERE corp_id = $3 AND id = $4 \
                 AND status IN ('paid', 'shipped') AND status <> $1 AND NOT (status = 'shipped' AND $1 = 'paid')",
            )
            .bind(status)
            .bind(now)
            .bind(corp_id)
            .bind(id)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }

    /// The customer a key names, if any: unionid and external_userid from
    /// the customers WeCom gave koi, the shop's keys from what orders taught.
    pub async fn customer_by_order_key(&mut self, corp_id: i64, kind: &str, value: &str) -> Result<Option<i64>> {
        let sql = match kind {
            "unionid" => "SELECT id FROM customers WHERE corp_id = $1 AND unionid = $2 ORDER BY id LIMIT 1",
            "external_userid" => "SELECT id FROM customers WHERE corp_id = $1 AND external_userid = $2",
            _ => "SELECT customer_id FROM order_customer_keys WHERE corp_id = $1 AND kind = $3 AND value = $2",
        };
        Ok(on_tx!(self, |c| {
            let q = sqlx::query_scalar(sql).bind(corp_id).bind(value);
            let q = if sql.contains("$3") { q.bind(kind) } else { q };
            q.fetch_optional(&mut *c).await
        })?)
    }

    /// Remembers that a shop key (member id, phone hash) names a customer;
    /// the first customer a key named keeps it.
    pub async fn learn_order_key(
        &mut self,
        corp_id: i64,
        kind: &str,
        value: &str,
        customer_id: i64,
        now: i64,
    ) -> Result<()> {
        on_tx!(self, |c| {
            sqlx::query(
                "INSERT INTO order_customer_keys (corp_id, kind, value, customer_id, created_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (corp_id, kind, value) DO NOTHING",
            )
            .bind(corp_id)
            .bind(kind)
            .bind(value)
            .bind(customer_id)
            .bind(now)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Orders still waiting for a customer that carry one of these keys
    /// (kind, value), oldest first.
    pub async fn waiting_orders(&mut self, corp_id: i64, keys: &[(&str, &str)]) -> Result<Vec<i64>> {
        let mut ids = Vec::new();
        for (kind, value) in keys {
            let column = match *kind {
                "unionid" => "unionid",
                "phone_hash" => "phone_hash",
                "external_userid" => "external_userid",
                "member_id" => "member_id",
                _ => continue,
            };
            if value.is_empty() {
                continue;
            }
            let sql = format!(
                "SELECT id FROM orders WHERE corp_id = $1 AND customer_id IS NULL AND {column} = $2 ORDER BY id"
            );
            let found: Vec<i64> =
                on_tx!(self, |c| sqlx::query_scalar(&sql).bind(corp_id).bind(*value).fetch_all(&mut *c).await)?;
            ids.extend(found);
        }
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }

    /// Whether any order waits for a customer with one of these keys.
    pub async fn any_waiting_order(&mut self, corp_id: i64, keys: &[(&str, &str)]) -> Result<bool> {
        Ok(!self.waiting_orders(corp_id, keys).await?.is_empty())
    }

    /// Sets an order's customer and attribution, once: `false` when another
    /// transaction matched it first.
    pub async fn match_order(&mut self, corp_id: i64, id: i64, m: &OrderMatch<'_>, now: i64) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query(
                "UPDATE orders SET customer_id = $1, matched_by = $2, matched_at = $3, staff_id = $4, \
                 store_id = COALESCE($5, store_id), code_id = $6, rule = $7, first_order = $8, updated_at = $3 \
                 WHERE corp_id = $9 AND id = $10 AND customer_id IS NULL",
            )
            .bind(m.customer_id)
            .bind(m.matched_by)
            .bind(now)
            .bind(m.staff_id)
            .bind(m.store_id)
            .bind(m.code_id)
            .bind(m.rule)
            .bind(m.first_order)
            .bind(corp_id)
            .bind(id)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }

    /// The campaigns a customer came through (invited through an entry and
    /// not rejected, or taking part), with when.
    pub async fn campaign_touches(&mut self, corp_id: i64, customer_id: i64) -> Result<Vec<CampaignTouchRow>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_as(
                "SELECT campaign_id, occurred_at AS at FROM campaign_invites \
                 WHERE corp_id = $1 AND invitee_customer_id = $2 AND state <> 'rejected' \
                 UNION ALL SELECT campaign_id, joined_at AS at FROM campaign_participants \
                 WHERE corp_id = $1 AND customer_id = $2",
            )
            .bind(corp_id)
            .bind(customer_id)
            .fetch_all(&mut *c)
            .await
        })?)
    }

    /// The campaign whose reward coupon the customer redeemed on the order
    /// `order_ref` (the shop's order id), if one did.
    pub async fn coupon_campaign(&mut self, corp_id: i64, customer_id: i64, order_ref: &str) -> Result<Option<i64>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "SELECT r.campaign_id FROM coupons k JOIN rewards r \
                 ON r.corp_id = k.corp_id AND k.source_ref = 'reward:' || CAST(r.id AS TEXT) \
                 WHERE k.corp_id = $1 AND k.customer_id = $2 AND k.order_ref = $3 AND k.source = 'campaign' \
                 AND k.state = 'redeemed' ORDER BY k.id LIMIT 1",
            )
            .bind(corp_id)
            .bind(customer_id)
            .bind(order_ref)
            .fetch_optional(&mut *c)
            .await
        })?)
    }

    /// Sets the campaign an order counts for (`None`, `none`: no campaign).
    pub async fn set_order_campaign(
        &mut self,
        corp_id: i64,
        id: i64,
        campaign_id: Option<i64>,
        rule: &str,
    ) -> Result<()> {
        on_tx!(self, |c| {
            sqlx::query("UPDATE orders SET campaign_id = $1, campaign_rule = $2 WHERE corp_id = $3 AND id = $4")
                .bind(campaign_id)
                .bind(rule)
                .bind(corp_id)
                .bind(id)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Attribution of an order waiting for its customer (the store's guide
    /// on duty, the coupon's guide): kept until it is matched.
    pub async fn set_order_attribution(
        &mut self,
        corp_id: i64,
        id: i64,
        staff_id: Option<i64>,
        store_id: Option<i64>,
        rule: &str,
    ) -> Result<()> {
        on_tx!(self, |c| {
            sqlx::query("UPDATE orders SET staff_id = $1, store_id = $2, rule = $3 WHERE corp_id = $4 AND id = $5")
                .bind(staff_id)
                .bind(store_id)
                .bind(rule)
                .bind(corp_id)
                .bind(id)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// The guides' relations with a customer, deleted ones included.
    pub async fn follow_facts(&mut self, corp_id: i64, customer_id: i64) -> Result<Vec<FollowFactRow>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_as(
                "SELECT staff_id, added_at, deleted_at, store_id, code_id FROM follows \
                 WHERE corp_id = $1 AND customer_id = $2",
            )
            .bind(corp_id)
            .bind(customer_id)
            .fetch_all(&mut *c)
            .await
        })?)
    }

    /// Records a refund; `None` when this refund id is on record for the
    /// order already (nothing written).
    pub async fn insert_refund(
        &mut self,
        corp_id: i64,
        order_id: i64,
        refund_id: &str,
        amount_fen: i64,
        reason: &str,
        now: i64,
    ) -> Result<Option<i64>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO order_refunds (corp_id, order_id, refund_id, amount_fen, reason, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (order_id, refund_id) DO NOTHING RETURNING id",
            )
            .bind(corp_id)
            .bind(order_id)
            .bind(refund_id)
            .bind(amount_fen)
            .bind(reason)
            .bind(now)
            .fetch_optional(&mut *c)
            .await
        })?)
    }

    /// Moves the refunded total from `before` to `after`, only if no other
    /// refund moved it meanwhile (`false` then: the caller retries).
    pub async fn set_order_refunded(
        &mut self,
        corp_id: i64,
        id: i64,
        before: i64,
        after: i64,
        status: &str,
        now: i64,
    ) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query(
                "UPDATE orders SET refunded_fen = $1, status = $2, updated_at = $3 \
                 WHERE corp_id = $4 AND id = $5 AND refunded_fen = $6 AND $1 <= paid_fen",
            )
            .bind(after)
            .bind(status)
            .bind(now)
            .bind(corp_id)
            .bind(id)
            .bind(before)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }

    pub async fn integration_by_key(
        &mut self,
        key: &str,
        master: Option<&MasterKey>,
    ) -> Result<Option<IntegrationRow>> {
        let sql = format!("SELECT {INTEGRATION_COLUMNS} FROM order_integrations WHERE key = $1");
        let row: Option<IntegrationStored> =
            on_tx!(self, |c| sqlx::query_as(&sql).bind(key).fetch_optional(&mut *c).await)?;
        row.map(|r| r.open(master)).transpose()
    }

    /// Marks an integration used, at most once a minute: every post of a
    /// busy shop writing the one row would queue all its transactions
    /// behind that row's lock.
    pub async fn touch_integration(&mut self, id: i64, now: i64) -> Result<()> {
        on_tx!(self, |c| {
            sqlx::query(
                "UPDATE order_integrations SET last_used_at = $1 \
                 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)",
            )
            .bind(now)
            .bind(id)
            .bind(now - 60_000)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// A new integration with its secret sealed; a name the corp uses is a
    /// conflict.
    pub async fn insert_integration(
        &mut self,
        corp_id: i64,
        key: &str,
        name: &str,
        secret: &str,
        master: Option<&MasterKey>,
        now: i64,
    ) -> Result<i64> {
        let sealed = seal(master, key, secret);
        on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO order_integrations (corp_id, key, name, secret, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
            )
            .bind(corp_id)
            .bind(key)
            .bind(name)
            .bind(&sealed)
            .bind(now)
            .fetch_one(&mut *c)
            .await
        })
        .map_err(crate::StoreError::conflict_on("integration_name"))
    }

    /// Renames, switches on or off, or (with `secret`) gives a new secret.
    #[allow(clippy::too_many_arguments)]
    pub async fn update_integration(
        &mut self,
        corp_id: i64,
        id: i64,
        name: &str,
        active: bool,
        secret: Option<&str>,
        master: Option<&MasterKey>,
        now: i64,
    ) -> Result<bool> {
        let key: Option<String> = on_tx!(self, |c| {
            sqlx::query_scalar("SELECT key FROM order_integrations WHERE corp_id = $1 AND id = $2")
                .bind(corp_id)
                .bind(id)
                .fetch_optional(&mut *c)
                .await
        })?;
        let Some(key) = key else { return Ok(false) };
        let sealed = secret.map(|s| seal(master, &key, s));
        on_tx!(self, |c| {
            sqlx::query(
                "UPDATE order_integrations SET name = $1, active = $2, secret = COALESCE($3, secret), \
                 updated_at = $4 WHERE corp_id = $5 AND id = $6",
            )
            .bind(name)
            .bind(active)
            .bind(&sealed)
            .bind(now)
            .bind(corp_id)
            .bind(id)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })
        .map_err(crate::StoreError::conflict_on("integration_name"))?;
        Ok(true)
    }
}

impl Db {
    pub async fn order_row(&self, corp_id: i64, id: i64) -> Result<Option<OrderRow>> {
        let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE corp_id = $1 AND id = $2");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(id).fetch_optional(c).await)?)
    }

    pub async fn order_items(&self, order_id: i64) -> Result<Vec<OrderItemRow>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as("SELECT line, sku, name, qty, price_fen FROM order_items WHERE order_id = $1 ORDER BY line")
                .bind(order_id)
                .fetch_all(c)
                .await
        })?)
    }

    pub async fn order_refunds(&self, order_id: i64) -> Result<Vec<RefundRow>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(
                "SELECT id, refund_id, amount_fen, reason, created_at FROM order_refunds WHERE order_id = $1 ORDER BY id",
            )
            .bind(order_id)
            .fetch_all(c)
            .await
        })?)
    }

    /// A page of orders, newest first, and how many match the filter.
    pub async fn orders_page(
        &self,
        corp_id: i64,
        f: &OrderFilter,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<OrderRow>, i64)> {
        let stores = f.stores.as_ref().map(|s| s.iter().map(|id| format!(",{id},")).collect::<String>());
        let filter = "corp_id = $1 AND ($2 IS NULL OR status = $2) AND ($3 IS NULL OR store_id = $3) \
             AND ($4 IS NULL OR staff_id = $4) AND ($5 IS NULL OR customer_id = $5) \
             AND ($6 IS NULL OR (customer_id IS NOT NULL) = $6) AND ($7 IS NULL OR ordered_at >= $7) \
             AND ($8 IS NULL OR ordered_at < $8) AND ($9 IS NULL OR shop_order_id = $9) \
             AND ($10 IS NULL OR $10 LIKE '%,' || CAST(store_id AS TEXT) || ',%')";
        let page_sql = format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE {filter} ORDER BY ordered_at DESC, id DESC LIMIT $11 OFFSET $12"
        );
        let count_sql = format!("SELECT COUNT(*) FROM orders WHERE {filter}");
        macro_rules! binds {
            ($q:expr) => {
                $q.bind(corp_id)
                    .bind(&f.status)
                    .bind(f.store_id)
                    .bind(f.staff_id)
                    .bind(f.customer_id)
                    .bind(f.matched)
                    .bind(f.from)
                    .bind(f.to)
                    .bind(&f.shop_order_id)
                    .bind(&stores)
            };
        }
        let rows: Vec<OrderRow> = on_pool!(self, false, |c| {
            binds!(sqlx::query_as(&page_sql)).bind(limit).bind(offset).fetch_all(c).await
        })?;
        let total: i64 = on_pool!(self, false, |c| binds!(sqlx::query_scalar(&count_sql)).fetch_one(c).await)?;
        Ok((rows, total))
    }

    /// Orders over `[from, to)` grouped by `by` (`staff`, `store` or
    /// `code`): matched orders only, GMV net of refunds on the caller.
    pub async fn orders_report(&self, corp_id: i64, by: &str, from: i64, to: i64) -> Result<Vec<ReportRow>> {
        let column = match by {
            "staff" => "staff_id",
            "store" => "store_id",
            _ => "code_id",
        };
        let sql = format!(
            "SELECT {column} AS key, COUNT(*) AS orders, COUNT(DISTINCT customer_id) AS buyers, \
             SUM(CASE WHEN first_order THEN 1 ELSE 0 END) AS first_orders, \
             CAST(COALESCE(SUM(paid_fen), 0) AS BIGINT) AS paid_fen, \
             CAST(COALESCE(SUM(refunded_fen), 0) AS BIGINT) AS refunded_fen \
             FROM orders WHERE corp_id = $1 AND ordered_at >= $2 AND ordered_at < $3 \
             GROUP BY {column} ORDER BY paid_fen DESC"
        );
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(from).bind(to).fetch_all(c).await)?)
    }

    /// The matched orders a campaign counts: how many, their buyers, how
    /// many were first orders, and GMV (paid less refunded).
    pub async fn campaign_orders(&self, corp_id: i64, campaign_id: i64) -> Result<OrderTotalsRow> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(
                "SELECT COUNT(*) AS orders, COUNT(DISTINCT customer_id) AS buyers, \
                 CAST(COALESCE(SUM(CASE WHEN first_order THEN 1 ELSE 0 END), 0) AS BIGINT) AS first_orders, \
                 CAST(COALESCE(SUM(paid_fen - refunded_fen), 0) AS BIGINT) AS gmv_fen \
                 FROM orders WHERE corp_id = $1 AND campaign_id = $2 AND customer_id IS NOT NULL",
            )
            .bind(corp_id)
            .bind(campaign_id)
            .fetch_one(c)
            .await
        })?)
    }

    /// The matched orders attributed to a channel code since `since`: how
    /// many, their buyers, first orders, and GMV (paid less refunded).
    pub async fn code_orders(&self, corp_id: i64, code_id: i64, since: i64) -> Result<OrderTotalsRow> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(
                "SELECT COUNT(*) AS orders, COUNT(DISTINCT customer_id) AS buyers, \
                 CAST(COALESCE(SUM(CASE WHEN first_order THEN 1 ELSE 0 END), 0) AS BIGINT) AS first_orders, \
                 CAST(COALESCE(SUM(paid_fen - refunded_fen), 0) AS BIGINT) AS gmv_fen \
                 FROM orders WHERE corp_id = $1 AND code_id = $2 AND ordered_at >= $3 AND customer_id IS NOT NULL",
            )
            .bind(corp_id)
            .bind(code_id)
            .bind(since)
            .fetch_one(c)
            .await
        })?)
    }

    /// Per channel code: customers first added through it in `[from, to)`
    /// and how many of them have ordered.
    pub async fn code_buyers(&self, corp_id: i64, from: i64, to: i64) -> Result<Vec<CodeBuyersRow>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(
                "SELECT first_code_id AS code_id, COUNT(*) AS added, \
                 SUM(CASE WHEN orders > 0 THEN 1 ELSE 0 END) AS buyers FROM customers \
                 WHERE corp_id = $1 AND first_code_id IS NOT NULL AND added_at >= $2 AND added_at < $3 \
                 GROUP BY first_code_id",
            )
            .bind(corp_id)
            .bind(from)
            .bind(to)
            .fetch_all(c)
            .await
        })?)
    }

    pub async fn integrations(&self, corp_id: i64) -> Result<Vec<IntegrationRow>> {
        let sql = format!("SELECT {INTEGRATION_COLUMNS} FROM order_integrations WHERE corp_id = $1 ORDER BY id");
        let rows: Vec<IntegrationStored> =
            on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).fetch_all(c).await)?;
        rows.into_iter().map(|r| r.open(self.master_key())).collect()
    }

    /// Deletes an integration (its orders stay, naming it as their source).
    pub async fn delete_integration(&self, corp_id: i64, id: i64) -> Result<bool> {
        let n = on_pool!(self, true, |c| {
            sqlx::query("DELETE FROM order_integrations WHERE corp_id = $1 AND id = $2")
                .bind(corp_id)
                .bind(id)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }

    /// The secret column as stored, for checking what is at rest.
    pub async fn stored_integration_secret(&self, id: i64) -> Result<Option<String>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_scalar("SELECT secret FROM order_integrations WHERE id = $1").bind(id).fetch_optional(c).await
        })?)
    }
}

/// Re-seals every integration's secret under `to` (all, or only those still
/// in plain text), in the master key rotation's transaction.
pub(crate) async fn reseal(tx: &mut Tx, from: Option<&MasterKey>, to: &MasterKey, all: bool) -> Result<u64> {
    let sql = format!("SELECT {INTEGRATION_COLUMNS} FROM order_integrations ORDER BY id");
    let rows: Vec<IntegrationStored> = on_tx!(tx, |c| sqlx::query_as(&sql).fetch_all(&mut *c).await)?;
    let mut changed = 0;
    for row in rows {
        if !all && secrets::is_sealed(&row.secret) {
            continue;
        }
        let open = row.open(from)?;
        let sealed = seal(Some(to), &open.key, &open.secret);
        on_tx!(tx, |c| {
            sqlx::query("UPDATE order_integrations SET secret = $1 WHERE id = $2")
                .bind(&sealed)
                .bind(open.id)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
        })?;
        changed += 1;
    }
    Ok(changed)
}
