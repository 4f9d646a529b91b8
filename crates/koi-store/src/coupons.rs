//! Coupons, points and the points mall: `coupon_templates` (with their
//! stock), `coupon_holdings` (the per-customer limit), `coupons`,
//! `coupon_issues` (a template issued to a segment), `points_rules`,
//! `points_accounts` and `points_ledger`, `mall_items` and `mall_exchanges`.
//!
//! Bounds hold under concurrency on both backends because each is one
//! conditional statement: a coupon is redeemed by `UPDATE … WHERE state =
//! 'issued'` (one of two racing counters wins), a template's or an item's
//! stock by `issued < stock`, the per-customer limit by an upsert whose
//! update has a `WHERE`, a balance by `balance >= n`. PostgreSQL re-checks
//! the condition on the row it waited for; SQLite has one writer.

use crate::campaigns::affected;
use crate::db::{on_pool, on_tx, Db, Tx};
use crate::Result;

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TemplateRow {
    pub id: i64,
    pub corp_id: i64,
    pub name: String,
    pub kind: String,
    pub value_fen: i64,
    pub min_fen: i64,
    pub discount_pct: i32,
    pub gift: String,
    pub valid_from: Option<i64>,
    pub valid_to: Option<i64>,
    pub valid_days: Option<i32>,
    pub per_customer: i32,
    pub stock: Option<i64>,
    pub issued: i64,
    /// JSON list of store ids; empty: all.
    pub store_ids: String,
    pub archived: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

const TEMPLATE_COLUMNS: &str = "id, corp_id, name, kind, value_fen, min_fen, discount_pct, gift, valid_from, \
     valid_to, valid_days, per_customer, stock, issued, store_ids, archived, created_at, updated_at";

/// What a new template or an edit writes.
#[derive(Debug, Clone)]
pub struct TemplateWrite<'a> {
    pub name: &'a str,
    pub kind: &'a str,
    pub value_fen: i64,
    pub min_fen: i64,
    pub discount_pct: i32,
    pub gift: &'a str,
    pub valid_from: Option<i64>,
    pub valid_to: Option<i64>,
    pub valid_days: Option<i32>,
    pub per_customer: i32,
    pub stock: Option<i64>,
    pub store_ids: &'a str,
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct CouponRow {
    pub id: i64,
    pub corp_id: i64,
    pub template_id: i64,
    pub customer_id: i64,
    pub code: String,
    pub state: String,
    pub valid_from: i64,
    pub valid_to: i64,
    pub source: String,
    pub source_ref: String,
    pub issued_by: String,
    pub issued_at: i64,
    pub redeemed_at: Option<i64>,
    pub order_ref: Option<String>,
    pub order_fen: Option<i64>,
    pub off_fen: Option<i64>,
    pub redeemed_store_id: Option<i64>,
    pub redeemed_by: Option<String>,
    pub reminded: bool,
    pub updated_at: i64,
}

const COUPON_COLUMNS: &str = "id, corp_id, template_id, customer_id, code, state, valid_from, valid_to, source, \
     source_ref, issued_by, issued_at, redeemed_at, order_ref, order_fen, off_fen, redeemed_store_id, redeemed_by, \
     reminded, updated_at";

/// A coupon with its template's name and its customer's, as lists show it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct CouponListRow {
    #[sqlx(flatten)]
    pub coupon: CouponRow,
    pub template_name: String,
    pub customer_name: String,
}

#[derive(Debug, Clone)]
pub struct NewCoupon<'a> {
    pub corp_id: i64,
    pub template_id: i64,
    pub customer_id: i64,
    pub code: &'a str,
    pub valid_from: i64,
    pub valid_to: i64,
    pub source: &'a str,
    pub source_ref: &'a str,
    pub issued_by: &'a str,
    pub now: i64,
}

/// What issuing one coupon came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Issued {
    Coupon(i64),
    /// This source issued this customer a coupon already.
    Existed,
    OverLimit,
    OutOfStock,
}

/// A redemption: the order, where and by whom.
#[derive(Debug, Clone)]
pub struct Redemption<'a> {
    pub order_ref: &'a str,
    pub order_fen: i64,
    pub off_fen: i64,
    pub store_id: Option<i64>,
    pub by: &'a str,
    pub now: i64,
}

/// Conversion of one template: issued → redeemed → order amount.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TemplateStats {
    pub template_id: i64,
    pub issued: i64,
    pub redeemed: i64,
    pub expired: i64,
    pub order_fen: i64,
    pub off_fen: i64,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct IssueRow {
    pub id: i64,
    pub corp_id: i64,
    pub template_id: i64,
    pub segment_id: i64,
    pub segment_name: String,
    pub expr: String,
    pub planned: i32,
    pub issued: i32,
    pub over_limit: i32,
    pub out_of_stock: i32,
    pub cursor: i64,
    pub state: String,
    pub created_by: String,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

const ISSUE_COLUMNS: &str = "id, corp_id, template_id, segment_id, segment_name, expr, planned, issued, over_limit, \
     out_of_stock, cursor, state, created_by, created_at, finished_at";

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct PointsRulesRow {
    pub per_yuan: i64,
    pub checkin: i64,
    pub review: i64,
    pub expire_days: i32,
    pub streak_days: i32,
    pub streak_bonus: i64,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct LedgerRow {
    pub id: i64,
    pub customer_id: i64,
    pub points: i64,
    pub kind: String,
    pub reason: String,
    #[sqlx(rename = "ref")]
    pub reference: String,
    pub amount_fen: i64,
    pub lot_left: i64,
    pub expires_at: Option<i64>,
    pub shortfall: i64,
    pub created_by: String,
    pub created_at: i64,
}

const LEDGER_COLUMNS: &str =
    "id, customer_id, points, kind, reason, ref, amount_fen, lot_left, expires_at, shortfall, created_by, created_at";

/// One ledger move to write.
#[derive(Debug, Clone)]
pub struct NewEntry<'a> {
    pub corp_id: i64,
    pub customer_id: i64,
    pub points: i64,
    pub kind: &'a str,
    pub reason: &'a str,
    pub reference: &'a str,
    pub amount_fen: i64,
    /// Earns: when what is left expires.
    pub expires_at: Option<i64>,
    pub shortfall: i64,
    pub created_by: &'a str,
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct MallItemRow {
    pub id: i64,
    pub corp_id: i64,
    pub name: String,
    pub kind: String,
    pub template_id: Option<i64>,
    pub gift: String,
    pub points: i64,
    pub stock: Option<i64>,
    pub exchanged: i64,
    pub archived: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

const ITEM_COLUMNS: &str =
    "id, corp_id, name, kind, template_id, gift, points, stock, exchanged, archived, created_at, updated_at";

#[derive(Debug, Clone)]
pub struct ItemWrite<'a> {
    pub name: &'a str,
    pub kind: &'a str,
    pub template_id: Option<i64>,
    pub gift: &'a str,
    pub points: i64,
    pub stock: Option<i64>,
    pub archived: bool,
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ExchangeRow {
    pub id: i64,
    pub item_id: i64,
    pub item_name: String,
    pub customer_id: i64,
    pub customer_name: String,
    pub points: i64,
    pub coupon_id: Option<i64>,
    pub gift_code: Option<String>,
    pub created_at: i64,
}

const EXCHANGE_SELECT: &str = "SELECT e.id, e.item_id, i.name AS item_name, e.customer_id, \
     c.name AS customer_name, e.points, e.coupon_id, e.gift_code, e.created_at \
     FROM mall_exchanges e JOIN mall_items i ON i.id = e.item_id JOIN customers c ON c.id = e.customer_id";

impl Db {
    pub async fn coupon_templates(&self, corp_id: i64) -> Result<Vec<TemplateRow>> {
        let sql = format!("SELECT {TEMPLATE_COLUMNS} FROM coupon_templates WHERE corp_id = $1 ORDER BY id DESC");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).fetch_all(c).await)?)
    }

    pub async fn coupon_template(&self, corp_id: i64, id: i64) -> Result<Option<TemplateRow>> {
        let sql = format!("SELECT {TEMPLATE_COLUMNS} FROM coupon_templates WHERE corp_id = $1 AND id = $2");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(id).fetch_optional(c).await)?)
    }

    /// Issued, redeemed and expired coupons and the orders they were used
    /// on, per template.
    pub async fn coupon_stats(&self, corp_id: i64) -> Result<Vec<TemplateStats>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(
                "SELECT template_id, COUNT(*) AS issued, \
                 CAST(COALESCE(SUM(CASE WHEN state = 'redeemed' THEN 1 ELSE 0 END), 0) AS BIGINT) AS redeemed, \
                 CAST(COALESCE(SUM(CASE WHEN state = 'expired' THEN 1 ELSE 0 END), 0) AS BIGINT) AS expired, \
                 CAST(COALESCE(SUM(CASE WHEN state = 'redeemed' THEN order_fen ELSE 0 END), 0) AS BIGINT) \
                 AS order_fen, \
                 CAST(COALESCE(SUM(CASE WHEN state = 'redeemed' THEN off_fen ELSE 0 END), 0) AS BIGINT) AS off_fen \
                 FROM coupons WHERE corp_id = $1 GROUP BY template_id ORDER BY template_id",
            )
            .bind(corp_id)
            .fetch_all(c)
            .await
        })?)
    }

    pub async fn coupon_by_code(&self, corp_id: i64, code: &str) -> Result<Option<CouponRow>> {
        let sql = format!("SELECT {COUPON_COLUMNS} FROM coupons WHERE corp_id = $1 AND code = $2");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(code).fetch_optional(c).await)?)
    }

    /// Coupons newest first, narrowed to a customer, a template or a state,
    /// or to the redeemed ones (newest redemption first).
    pub async fn coupons(
        &self,
        corp_id: i64,
        customer_id: Option<i64>,
        template_id: Option<i64>,
        state: Option<&str>,
        limit: i64,
    ) -> Result<Vec<CouponListRow>> {
        self.coupons_in_stores(corp_id, customer_id, template_id, state, None, limit).await
    }

    /// [`Db::coupons`] narrowed to `stores` (a store manager's): coupons
    /// of customers who added a guide of one of those stores, and coupons
    /// redeemed in one of them.
    pub async fn coupons_in_stores(
        &self,
        corp_id: i64,
        customer_id: Option<i64>,
        template_id: Option<i64>,
        state: Option<&str>,
        stores: Option<&[i64]>,
        limit: i64,
    ) -> Result<Vec<CouponListRow>> {
        let cols = COUPON_COLUMNS.split(", ").map(|c| format!("k.{c}")).collect::<Vec<_>>().join(", ");
        let order = if state == Some("redeemed") { "k.redeemed_at DESC, k.id DESC" } else { "k.id DESC" };
        let sql = format!(
            "SELECT {cols}, t.name AS template_name, c.name AS customer_name FROM coupons k \
             JOIN coupon_templates t ON t.id = k.template_id JOIN customers c ON c.id = k.customer_id \
             WHERE k.corp_id = $1 AND ($2 IS NULL OR k.customer_id = $2) AND ($3 IS NULL OR k.template_id = $3) \
             AND ($4 IS NULL OR k.state = $4) \
             AND ($5 IS NULL OR $5 LIKE '%,' || CAST(k.redeemed_store_id AS TEXT) || ',%' \
             OR EXISTS (SELECT 1 FROM follows f WHERE f.corp_id = k.corp_id AND f.customer_id = k.customer_id \
             AND $5 LIKE '%,' || CAST(f.store_id AS TEXT) || ',%')) ORDER BY {order} LIMIT $6"
        );
        let stores = crate::checkouts::store_list(stores);
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(&sql)
                .bind(corp_id)
                .bind(customer_id)
                .bind(template_id)
                .bind(state)
                .bind(&stores)
                .bind(limit)
                .fetch_all(c)
                .await
        })?)
    }

    /// Corps with coupons still issued or points that can expire: the
    /// coupon timer's work.
    pub async fn corps_with_coupon_work(&self) -> Result<Vec<i64>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_scalar(
                "SELECT DISTINCT corp_id FROM coupons WHERE state = 'issued' \
                 UNION SELECT DISTINCT corp_id FROM points_ledger WHERE lot_left > 0 AND expires_at IS NOT NULL \
                 ORDER BY corp_id",
            )
            .fetch_all(c)
            .await
        })?)
    }

    pub async fn coupon_issues(&self, corp_id: i64, limit: i64) -> Result<Vec<IssueRow>> {
        let sql = format!("SELECT {ISSUE_COLUMNS} FROM coupon_issues WHERE corp_id = $1 ORDER BY id DESC LIMIT $2");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(limit).fetch_all(c).await)?)
    }

    pub async fn coupon_issue(&self, corp_id: i64, id: i64) -> Result<Option<IssueRow>> {
        let sql = format!("SELECT {ISSUE_COLUMNS} FROM coupon_issues WHERE corp_id = $1 AND id = $2");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(id).fetch_optional(c).await)?)
    }

    pub async fn points_rules(&self, corp_id: i64) -> Result<Option<PointsRulesRow>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as("SELECT per_yuan, checkin, review, expire_days, streak_days, streak_bonus FROM points_rules WHERE corp_id = $1")
                .bind(corp_id)
                .fetch_optional(c)
                .await
        })?)
    }

    pub async fn points_balance(&self, corp_id: i64, customer_id: i64) -> Result<i64> {
        let b: Option<i64> = on_pool!(self, false, |c| {
            sqlx::query_scalar("SELECT balance FROM points_accounts WHERE corp_id = $1 AND customer_id = $2")
                .bind(corp_id)
                .bind(customer_id)
                .fetch_optional(c)
                .await
        })?;
        Ok(b.unwrap_or(0))
    }

    /// The ledger, newest first, of one customer or the whole corp.
    pub async fn points_ledger(&self, corp_id: i64, customer_id: Option<i64>, limit: i64) -> Result<Vec<LedgerRow>> {
        let sql = format!(
            "SELECT {LEDGER_COLUMNS} FROM points_ledger WHERE corp_id = $1 AND ($2 IS NULL OR customer_id = $2) \
             ORDER BY id DESC LIMIT $3"
        );
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql)
            .bind(corp_id)
            .bind(customer_id)
            .bind(limit)
            .fetch_all(c)
            .await)?)
    }

    /// The sum of a customer's ledger (what the balance must equal).
    pub async fn points_ledger_sum(&self, corp_id: i64, customer_id: i64) -> Result<i64> {
        let s: Option<i64> = on_pool!(self, false, |c| {
            sqlx::query_scalar(
                "SELECT CAST(COALESCE(SUM(points), 0) AS BIGINT) FROM points_ledger \
                 WHERE corp_id = $1 AND customer_id = $2",
            )
            .bind(corp_id)
            .bind(customer_id)
            .fetch_optional(c)
            .await
        })?;
        Ok(s.unwrap_or(0))
    }

    /// Customer ids of the corp, oldest first, a page at a time.
    pub async fn customer_ids_page(&self, corp_id: i64, after_id: i64, limit: i64) -> Result<Vec<i64>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_scalar("SELECT id FROM customers WHERE corp_id = $1 AND id > $2 ORDER BY id LIMIT $3")
                .bind(corp_id)
                .bind(after_id)
                .bind(limit)
                .fetch_all(c)
                .await
        })?)
    }

    pub async fn mall_items(&self, corp_id: i64) -> Result<Vec<MallItemRow>> {
        let sql = format!("SELECT {ITEM_COLUMNS} FROM mall_items WHERE corp_id = $1 ORDER BY points, id");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).fetch_all(c).await)?)
    }

    pub async fn mall_item(&self, corp_id: i64, id: i64) -> Result<Option<MallItemRow>> {
        let sql = format!("SELECT {ITEM_COLUMNS} FROM mall_items WHERE corp_id = $1 AND id = $2");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(id).fetch_optional(c).await)?)
    }

    pub async fn mall_exchanges(&self, corp_id: i64, customer_id: Option<i64>, limit: i64) -> Result<Vec<ExchangeRow>> {
        let sql = format!(
            "{EXCHANGE_SELECT} WHERE e.corp_id = $1 AND ($2 IS NULL OR e.customer_id = $2) ORDER BY e.id DESC LIMIT $3"
        );
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql)
            .bind(corp_id)
            .bind(customer_id)
            .bind(limit)
            .fetch_all(c)
            .await)?)
    }
}

impl Tx {
    pub async fn insert_coupon_template(&mut self, corp_id: i64, w: &TemplateWrite<'_>) -> Result<i64> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO coupon_templates (corp_id, name, kind, value_fen, min_fen, discount_pct, gift, \
                 valid_from, valid_to, valid_days, per_customer, stock, store_ids, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14) RETURNING id",
            )
            .bind(corp_id)
            .bind(w.name)
            .bind(w.kind)
            .bind(w.value_fen)
            .bind(w.min_fen)
            .bind(w.discount_pct)
            .bind(w.gift)
            .bind(w.valid_from)
            .bind(w.valid_to)
            .bind(w.valid_days)
            .bind(w.per_customer)
            .bind(w.stock)
            .bind(w.store_ids)
            .bind(w.now)
            .fetch_one(&mut *c)
            .await
        })?)
    }

    /// Rewrites a template's terms; coupons issued before keep their
    /// validity window. False when there is no such template.
    pub async fn update_coupon_template(&mut self, corp_id: i64, id: i64, w: &TemplateWrite<'_>) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query(
                "UPDATE coupon_templates SET name = $1, kind = $2, value_fen = $3, min_fen = $4, discount_pct = $5, \
                 gift = $6, valid_from = $7, valid_to = $8, valid_days = $9, per_customer = $10, stock = $11, \
                 store_ids = $12, updated_at = $13 WHERE corp_id = $14 AND id = $15",
            )
            .bind(w.name)
            .bind(w.kind)
            .bind(w.value_fen)
            .bind(w.min_fen)
            .bind(w.discount_pct)
            .bind(w.gift)
            .bind(w.valid_from)
            .bind(w.valid_to)
            .bind(w.valid_days)
            .bind(w.per_customer)
            .bind(w.stock)
            .bind(w.store_ids)
            .bind(w.now)
            .bind(corp_id)
            .bind(id)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(affected(n))
    }

    pub async fn archive_coupon_template(&mut self, corp_id: i64, id: i64, archived: bool, now: i64) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query("UPDATE coupon_templates SET archived = $1, updated_at = $2 WHERE corp_id = $3 AND id = $4")
                .bind(archived)
                .bind(now)
                .bind(corp_id)
                .bind(id)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(affected(n))
    }

    pub async fn coupon_template_in_tx(&mut self, corp_id: i64, id: i64) -> Result<Option<TemplateRow>> {
        let sql = format!("SELECT {TEMPLATE_COLUMNS} FROM coupon_templates WHERE corp_id = $1 AND id = $2");
        Ok(on_tx!(self, |c| sqlx::query_as(&sql).bind(corp_id).bind(id).fetch_optional(&mut *c).await)?)
    }

    /// Issues one coupon within the template's stock and the customer's
    /// limit, once per non-empty `source_ref` and customer. Order matters:
    /// the row first (a second issue of the same source takes nothing),
    /// then the customer's count, then the stock; a bound that refuses
    /// rolls back to a savepoint-free state by undoing what was taken.
    pub async fn issue_coupon(&mut self, k: &NewCoupon<'_>, per_customer: i32) -> Result<Issued> {
        if !k.source_ref.is_empty() {
            let had: Option<i64> = on_tx!(self, |c| {
                sqlx::query_scalar("SELECT id FROM coupons WHERE corp_id = $1 AND source_ref = $2 AND customer_id = $3")
                    .bind(k.corp_id)
                    .bind(k.source_ref)
                    .bind(k.customer_id)
                    .fetch_optional(&mut *c)
                    .await
            })?;
            if had.is_some() {
                return Ok(Issued::Existed);
            }
        }
        // The customer's count: an upsert whose update only passes under the limit.
        let limit = if per_customer <= 0 { i32::MAX } else { per_customer };
        let counted: Option<i32> = on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO coupon_holdings (template_id, customer_id, issued) VALUES ($1, $2, 1) \
                 ON CONFLICT (template_id, customer_id) DO UPDATE SET issued = coupon_holdings.issued + 1 \
                 WHERE coupon_holdings.issued < $3 RETURNING issued",
            )
            .bind(k.template_id)
            .bind(k.customer_id)
            .bind(limit)
            .fetch_optional(&mut *c)
            .await
        })?;
        if counted.is_none() {
            return Ok(Issued::OverLimit);
        }
        let n = on_tx!(self, |c| {
            sqlx::query(
                "UPDATE coupon_templates SET issued = issued + 1 WHERE id = $1 AND (stock IS NULL OR issued < stock)",
            )
            .bind(k.template_id)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        if !affected(n) {
            on_tx!(self, |c| {
                sqlx::query(
                    "UPDATE coupon_holdings SET issued = issued - 1 WHERE template_id = $1 AND customer_id = $2",
                )
                .bind(k.template_id)
                .bind(k.customer_id)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
            })?;
            return Ok(Issued::OutOfStock);
        }
        let id: i64 = on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO coupons (corp_id, template_id, customer_id, code, state, valid_from, valid_to, source, \
                 source_ref, issued_by, issued_at, updated_at) \
                 VALUES ($1, $2, $3, $4, 'issued', $5, $6, $7, $8, $9, $10, $10) RETURNING id",
            )
            .bind(k.corp_id)
            .bind(k.template_id)
            .bind(k.customer_id)
            .bind(k.code)
            .bind(k.valid_from)
            .bind(k.valid_to)
            .bind(k.source)
            .bind(k.source_ref)
            .bind(k.issued_by)
            .bind(k.now)
            .fetch_one(&mut *c)
            .await
        })?;
        self.log_customer_change(k.corp_id, k.customer_id).await?;
        Ok(Issued::Coupon(id))
    }

    pub async fn coupon_in_tx(&mut self, corp_id: i64, id: i64) -> Result<Option<CouponRow>> {
        let sql = format!("SELECT {COUPON_COLUMNS} FROM coupons WHERE corp_id = $1 AND id = $2");
        Ok(on_tx!(self, |c| sqlx::query_as(&sql).bind(corp_id).bind(id).fetch_optional(&mut *c).await)?)
    }

    pub async fn coupon_by_code_in_tx(&mut self, corp_id: i64, code: &str) -> Result<Option<CouponRow>> {
        let sql = format!("SELECT {COUPON_COLUMNS} FROM coupons WHERE corp_id = $1 AND code = $2");
        Ok(on_tx!(self, |c| sqlx::query_as(&sql).bind(corp_id).bind(code).fetch_optional(&mut *c).await)?)
    }

    /// Redeems an issued coupon: one conditional update, so of two
    /// counters redeeming at once exactly one gets the row back.
    pub async fn redeem_coupon(&mut self, corp_id: i64, code: &str, r: &Redemption<'_>) -> Result<Option<CouponRow>> {
        let sql = format!(
            "UPDATE coupons SET state = 'redeemed', redeemed_at = $1, order_ref = $2, order_fen = $3, off_fen = $4, \
             redeemed_store_id = $5, redeemed_by = $6, updated_at = $1 \
             WHERE corp_id = $7 AND code = $8 AND state = 'issued' RETURNING {COUPON_COLUMNS}"
        );
        let row: Option<CouponRow> = on_tx!(self, |c| {
            sqlx::query_as(&sql)
                .bind(r.now)
                .bind(r.order_ref)
                .bind(r.order_fen)
                .bind(r.off_fen)
                .bind(r.store_id)
                .bind(r.by)
                .bind(corp_id)
                .bind(code)
                .fetch_optional(&mut *c)
                .await
        })?;
        if let Some(k) = &row {
            self.log_customer_change(corp_id, k.customer_id).await?;
        }
        Ok(row)
    }

    /// Undoes the redemptions made on an order (a full refund) for coupons
    /// still in their window; returns the coupons put back.
    pub async fn release_coupons_of_order(&mut self, corp_id: i64, order_ref: &str, now: i64) -> Result<Vec<i64>> {
        let rows: Vec<(i64, i64)> = on_tx!(self, |c| {
            sqlx::query_as(
                "UPDATE coupons SET state = 'issued', redeemed_at = NULL, order_ref = NULL, order_fen = NULL, \
                 off_fen = NULL, redeemed_store_id = NULL, redeemed_by = NULL, updated_at = $1 \
                 WHERE corp_id = $2 AND order_ref = $3 AND state = 'redeemed' AND valid_to > $1 \
                 RETURNING id, customer_id",
            )
            .bind(now)
            .bind(corp_id)
            .bind(order_ref)
            .fetch_all(&mut *c)
            .await
        })?;
        for (_, customer) in &rows {
            self.log_customer_change(corp_id, *customer).await?;
        }
        Ok(rows.into_iter().map(|(id, _)| id).collect())
    }

    /// Moves an issued coupon to `revoked` (by hand).
    pub async fn revoke_coupon(&mut self, corp_id: i64, id: i64, now: i64) -> Result<bool> {
        let customer: Option<i64> = on_tx!(self, |c| {
            sqlx::query_scalar(
                "UPDATE coupons SET state = 'revoked', updated_at = $1 WHERE corp_id = $2 AND id = $3 \
                 AND state = 'issued' RETURNING customer_id",
            )
            .bind(now)
            .bind(corp_id)
            .bind(id)
            .fetch_optional(&mut *c)
            .await
        })?;
        if let Some(customer) = customer {
            self.log_customer_change(corp_id, customer).await?;
        }
        Ok(customer.is_some())
    }

    /// Revokes the issued coupon a source gave a customer (a campaign
    /// reward taken back); false when there is none issued.
    pub async fn revoke_coupon_of_source(&mut self, corp_id: i64, source_ref: &str, now: i64) -> Result<bool> {
        let id: Option<i64> = on_tx!(self, |c| {
            sqlx::query_scalar("SELECT id FROM coupons WHERE corp_id = $1 AND source_ref = $2 AND state = 'issued'")
                .bind(corp_id)
                .bind(source_ref)
                .fetch_optional(&mut *c)
                .await
        })?;
        match id {
            Some(id) => self.revoke_coupon(corp_id, id, now).await,
            None => Ok(false),
        }
    }

    /// Expires up to `limit` issued coupons of the corp whose window ended.
    pub async fn expire_coupons(&mut self, corp_id: i64, now: i64, limit: i64) -> Result<u64> {
        let customers: Vec<i64> = on_tx!(self, |c| {
            sqlx::query_scalar(
                "UPDATE coupons SET state = 'expired', updated_at = $1 WHERE id IN (SELECT id FROM coupons \
                 WHERE corp_id = $2 AND state = 'issued' AND valid_to <= $1 ORDER BY valid_to LIMIT $3) \
                 RETURNING customer_id",
            )
            .bind(now)
            .bind(corp_id)
            .bind(limit)
            .fetch_all(&mut *c)
            .await
        })?;
        let mut seen = customers.clone();
        seen.sort_unstable();
        seen.dedup();
        for customer in seen {
            self.log_customer_change(corp_id, customer).await?;
        }
        Ok(customers.len() as u64)
    }

    /// Issued coupons of the corp not reminded of yet whose reminder time
    /// (`valid_to - ahead_ms`) has come; marks them reminded and returns
    /// them.
    pub async fn take_coupons_to_remind(
        &mut self,
        corp_id: i64,
        now: i64,
        ahead_ms: i64,
        limit: i64,
    ) -> Result<Vec<CouponRow>> {
        let sql = format!(
            "UPDATE coupons SET reminded = TRUE, updated_at = $1 WHERE id IN (SELECT id FROM coupons \
             WHERE corp_id = $2 AND state = 'issued' AND NOT reminded AND valid_to - $3 <= $1 AND valid_to > $1 \
             ORDER BY valid_to LIMIT $4) RETURNING {COUPON_COLUMNS}"
        );
        Ok(on_tx!(self, |c| {
            sqlx::query_as(&sql).bind(now).bind(corp_id).bind(ahead_ms).bind(limit).fetch_all(&mut *c).await
        })?)
    }

    pub async fn insert_coupon_issue(&mut self, r: &IssueRow) -> Result<i64> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO coupon_issues (corp_id, template_id, segment_id, segment_name, expr, planned, state, \
                 created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, 'running', $7, $8) RETURNING id",
            )
            .bind(r.corp_id)
            .bind(r.template_id)
            .bind(r.segment_id)
            .bind(&r.segment_name)
            .bind(&r.expr)
            .bind(r.planned)
            .bind(&r.created_by)
            .bind(r.created_at)
            .fetch_one(&mut *c)
            .await
        })?)
    }

    pub async fn coupon_issue_in_tx(&mut self, corp_id: i64, id: i64) -> Result<Option<IssueRow>> {
        let sql = format!("SELECT {ISSUE_COLUMNS} FROM coupon_issues WHERE corp_id = $1 AND id = $2");
        Ok(on_tx!(self, |c| sqlx::query_as(&sql).bind(corp_id).bind(id).fetch_optional(&mut *c).await)?)
    }

    /// Records a page of a segment issue: its counts and where it got to;
    /// `done` ends it.
    pub async fn advance_coupon_issue(
        &mut self,
        id: i64,
        counts: (i32, i32, i32),
        cursor: i64,
        done: bool,
        now: i64,
    ) -> Result<()> {
        on_tx!(self, |c| {
            sqlx::query(
                "UPDATE coupon_issues SET issued = issued + $1, over_limit = over_limit + $2, \
                 out_of_stock = out_of_stock + $3, cursor = $4, \
                 state = CASE WHEN $5 THEN 'done' ELSE state END, \
                 finished_at = CASE WHEN $5 THEN $6 ELSE finished_at END WHERE id = $7",
            )
            .bind(counts.0)
            .bind(counts.1)
            .bind(counts.2)
            .bind(cursor)
            .bind(done)
            .bind(now)
            .bind(id)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    pub async fn set_points_rules(&mut self, corp_id: i64, r: &PointsRulesRow, now: i64) -> Result<()> {
        on_tx!(self, |c| {
            sqlx::query(
                "INSERT INTO points_rules (corp_id, per_yuan, checkin, review, expire_days, updated_at, streak_days, \
                 streak_bonus) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (corp_id) DO UPDATE SET \
                 per_yuan = $2, checkin = $3, review = $4, expire_days = $5, updated_at = $6, streak_days = $7, \
                 streak_bonus = $8",
            )
            .bind(corp_id)
            .bind(r.per_yuan)
            .bind(r.checkin)
            .bind(r.review)
            .bind(r.expire_days)
            .bind(now)
            .bind(r.streak_days)
            .bind(r.streak_bonus)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    pub async fn points_rules_in_tx(&mut self, corp_id: i64) -> Result<Option<PointsRulesRow>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_as("SELECT per_yuan, checkin, review, expire_days, streak_days, streak_bonus FROM points_rules WHERE corp_id = $1")
                .bind(corp_id)
                .fetch_optional(&mut *c)
                .await
        })?)
    }

    /// Moves a customer's balance by `delta`; false (nothing moved) when it
    /// would go below zero. The first write of a customer's ledger in a
    /// transaction: on PostgreSQL it holds the account's row lock, so the
    /// customer's lots are not taken by two transactions at once.
    pub async fn move_points_balance(&mut self, corp_id: i64, customer_id: i64, delta: i64, now: i64) -> Result<bool> {
        on_tx!(self, |c| {
            sqlx::query(
                "INSERT INTO points_accounts (corp_id, customer_id, balance, updated_at) VALUES ($1, $2, 0, $3) \
                 ON CONFLICT (corp_id, customer_id) DO NOTHING",
            )
            .bind(corp_id)
            .bind(customer_id)
            .bind(now)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        let n = on_tx!(self, |c| {
            sqlx::query(
                "UPDATE points_accounts SET balance = balance + $1, updated_at = $2 \
                 WHERE corp_id = $3 AND customer_id = $4 AND balance + $1 >= 0",
            )
            .bind(delta)
            .bind(now)
            .bind(corp_id)
            .bind(customer_id)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        if delta != 0 && affected(n) {
            self.log_customer_change(corp_id, customer_id).await?;
        }
        Ok(affected(n))
    }

    /// The balance, read inside the transaction (after a
    /// [`Tx::move_points_balance`] of 0 it is locked on PostgreSQL).
    pub async fn points_balance_in_tx(&mut self, corp_id: i64, customer_id: i64) -> Result<i64> {
        let b: Option<i64> = on_tx!(self, |c| {
            sqlx::query_scalar("SELECT balance FROM points_accounts WHERE corp_id = $1 AND customer_id = $2")
                .bind(corp_id)
                .bind(customer_id)
                .fetch_optional(&mut *c)
                .await
        })?;
        Ok(b.unwrap_or(0))
    }

    /// Appends a ledger entry (an earn's lot holds all its points); `None`
    /// when an earn of this kind and ref was booked before.
    pub async fn insert_ledger_entry(&mut self, e: &NewEntry<'_>) -> Result<Option<i64>> {
        let lot = e.points.max(0);
        let lot = if lot > 0 && e.kind != "refund" { lot } else { 0 };
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO points_ledger (corp_id, customer_id, points, kind, reason, ref, amount_fen, lot_left, \
                 expires_at, shortfall, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING RETURNING id",
            )
            .bind(e.corp_id)
            .bind(e.customer_id)
            .bind(e.points)
            .bind(e.kind)
            .bind(e.reason)
            .bind(e.reference)
            .bind(e.amount_fen)
            .bind(lot)
            .bind(e.expires_at)
            .bind(e.shortfall)
            .bind(e.created_by)
            .bind(e.now)
            .fetch_optional(&mut *c)
            .await
        })?)
    }

    /// A customer's lots with points left: (id, earned at, left, expires at).
    pub async fn points_lots(&mut self, corp_id: i64, customer_id: i64) -> Result<Vec<(i64, i64, i64, Option<i64>)>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_as(
                "SELECT id, created_at, lot_left, expires_at FROM points_ledger \
                 WHERE corp_id = $1 AND customer_id = $2 AND lot_left > 0 ORDER BY created_at, id",
            )
            .bind(corp_id)
            .bind(customer_id)
            .fetch_all(&mut *c)
            .await
        })?)
    }

    pub async fn take_from_lot(&mut self, lot_id: i64, points: i64) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query("UPDATE points_ledger SET lot_left = lot_left - $1 WHERE id = $2 AND lot_left >= $1")
                .bind(points)
                .bind(lot_id)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(affected(n))
    }

    /// Customers of the corp with points past their date (at most `limit`).
    pub async fn customers_with_expired_points(&mut self, corp_id: i64, now: i64, limit: i64) -> Result<Vec<i64>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "SELECT DISTINCT customer_id FROM points_ledger WHERE corp_id = $1 AND lot_left > 0 \
                 AND expires_at IS NOT NULL AND expires_at <= $2 ORDER BY customer_id LIMIT $3",
            )
            .bind(corp_id)
            .bind(now)
            .bind(limit)
            .fetch_all(&mut *c)
            .await
        })?)
    }

    /// An order's earn entry: (points, paid fen).
    pub async fn order_earn(&mut self, corp_id: i64, customer_id: i64, order_ref: &str) -> Result<Option<(i64, i64)>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_as(
                "SELECT points, amount_fen FROM points_ledger WHERE corp_id = $1 AND customer_id = $2 \
                 AND kind = 'order' AND ref = $3",
            )
            .bind(corp_id)
            .bind(customer_id)
            .bind(order_ref)
            .fetch_optional(&mut *c)
            .await
        })?)
    }

    /// What refunds of an order took back so far, shortfalls included.
    pub async fn order_taken_back(&mut self, corp_id: i64, customer_id: i64, order_ref: &str) -> Result<i64> {
        let s: Option<i64> = on_tx!(self, |c| {
            sqlx::query_scalar(
                "SELECT CAST(COALESCE(SUM(shortfall - points), 0) AS BIGINT) FROM points_ledger \
                 WHERE corp_id = $1 AND customer_id = $2 AND kind = 'refund' AND ref = $3",
            )
            .bind(corp_id)
            .bind(customer_id)
            .bind(order_ref)
            .fetch_optional(&mut *c)
            .await
        })?;
        Ok(s.unwrap_or(0))
    }

    pub async fn insert_mall_item(&mut self, corp_id: i64, w: &ItemWrite<'_>) -> Result<i64> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO mall_items (corp_id, name, kind, template_id, gift, points, stock, archived, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id",
            )
            .bind(corp_id)
            .bind(w.name)
            .bind(w.kind)
            .bind(w.template_id)
            .bind(w.gift)
            .bind(w.points)
            .bind(w.stock)
            .bind(w.archived)
            .bind(w.now)
            .fetch_one(&mut *c)
            .await
        })?)
    }

    pub async fn update_mall_item(&mut self, corp_id: i64, id: i64, w: &ItemWrite<'_>) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query(
                "UPDATE mall_items SET name = $1, kind = $2, template_id = $3, gift = $4, points = $5, stock = $6, \
                 archived = $7, updated_at = $8 WHERE corp_id = $9 AND id = $10",
            )
            .bind(w.name)
            .bind(w.kind)
            .bind(w.template_id)
            .bind(w.gift)
            .bind(w.points)
            .bind(w.stock)
            .bind(w.archived)
            .bind(w.now)
            .bind(corp_id)
            .bind(id)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(affected(n))
    }

    /// Takes one unit of an item's stock; false when none is left.
    pub async fn take_mall_stock(&mut self, item_id: i64) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query(
                "UPDATE mall_items SET exchanged = exchanged + 1 WHERE id = $1 AND NOT archived \
                 AND (stock IS NULL OR exchanged < stock)",
            )
            .bind(item_id)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(affected(n))
    }

    /// The exchange a request key made before, if any.
    pub async fn exchange_by_key(&mut self, corp_id: i64, key: &str) -> Result<Option<i64>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar("SELECT id FROM mall_exchanges WHERE corp_id = $1 AND request_key = $2")
                .bind(corp_id)
                .bind(key)
                .fetch_optional(&mut *c)
                .await
        })?)
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn insert_exchange(
        &mut self,
        corp_id: i64,
        item_id: i64,
        customer_id: i64,
        points: i64,
        gift_code: Option<&str>,
        key: &str,
        now: i64,
    ) -> Result<i64> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO mall_exchanges (corp_id, item_id, customer_id, points, gift_code, request_key, \
                 created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            )
            .bind(corp_id)
            .bind(item_id)
            .bind(customer_id)
            .bind(points)
            .bind(gift_code)
            .bind(key)
            .bind(now)
            .fetch_one(&mut *c)
            .await
        })?)
    }

    pub async fn set_exchange_coupon(&mut self, id: i64, coupon_id: i64) -> Result<()> {
        on_tx!(self, |c| {
            sqlx::query("UPDATE mall_exchanges SET coupon_id = $1 WHERE id = $2")
                .bind(coupon_id)
                .bind(id)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(())
    }
}
