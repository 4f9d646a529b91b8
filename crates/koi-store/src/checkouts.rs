//! Products and checkouts (migration 0020): the catalogue, each checkout
//! with its lines and refunds.
//!
//! Stock never goes below zero, on both backends: a checkout takes its items
//! with the conditional update [`Tx::reserve_stock`] (`stock >= n`) in the
//! transaction that creates it; two transactions cannot both pass past zero
//! (PostgreSQL re-reads the row under its lock; SQLite has one writer), and
//! the column's `CHECK (stock >= 0)` stands behind it. A checkout's state
//! moves only by conditional updates from the state it must be in, so a
//! payment notification that comes twice marks it paid once.

use crate::db::{on_pool, on_tx, Db, Tx};
use crate::{Result, StoreError};

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ProductRow {
    pub id: i64,
    pub corp_id: i64,
    pub sku: String,
    pub name: String,
    pub price_fen: i64,
    pub stock: i64,
    pub active: bool,
    /// The operator's draft (JSON).
    pub draft: String,
    pub public_token: String,
    pub created_at: i64,
    pub updated_at: i64,
}

const PRODUCT_COLUMNS: &str =
    "id, corp_id, sku, name, price_fen, stock, active, draft, public_token, created_at, updated_at";

/// What a new product or an edit writes.
#[derive(Debug, Clone)]
pub struct ProductWrite<'a> {
    pub sku: &'a str,
    pub name: &'a str,
    pub price_fen: i64,
    pub stock: i64,
    pub active: bool,
    pub draft: &'a str,
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct CheckoutRow {
    pub id: i64,
    pub corp_id: i64,
    pub customer_id: i64,
    pub out_trade_no: String,
    pub subtotal_fen: i64,
    pub total_fen: i64,
    /// created, paid, closed, part_refunded, refunded.
    pub state: String,
    pub prepay_id: String,
    pub openid: String,
    pub transaction_id: String,
    pub refunded_fen: i64,
    pub error: String,
    pub expires_at: i64,
    pub paid_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

const CHECKOUT_COLUMNS: &str = "id, corp_id, customer_id, out_trade_no, subtotal_fen, total_fen, state, prepay_id, \
     openid, transaction_id, refunded_fen, error, expires_at, paid_at, closed_at, created_at, updated_at";

/// A checkout in a list, with its customer's name.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct CheckoutListRow {
    #[sqlx(flatten)]
    pub checkout: CheckoutRow,
    pub customer_name: String,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct CheckoutItemRow {
    pub checkout_id: i64,
    pub product_id: i64,
    pub sku: String,
    pub name: String,
    pub qty: i64,
    pub unit_fen: i64,
    pub total_fen: i64,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RefundRow {
    pub id: i64,
    pub corp_id: i64,
    pub checkout_id: i64,
    pub out_refund_no: String,
    pub amount_fen: i64,
    pub reason: String,
    /// pending, done, failed.
    pub state: String,
    pub refund_id: String,
    pub error: String,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

const REFUND_COLUMNS: &str = "id, corp_id, checkout_id, out_refund_no, amount_fen, reason, state, refund_id, error, \
     created_by, created_at, updated_at";

/// A new checkout (its lines are added beside it).
#[derive(Debug, Clone)]
pub struct NewCheckout<'a> {
    pub corp_id: i64,
    pub customer_id: i64,
    pub out_trade_no: &'a str,
    pub subtotal_fen: i64,
    pub total_fen: i64,
    pub expires_at: i64,
    pub now: i64,
}

impl Db {
    pub async fn products(&self, corp_id: i64) -> Result<Vec<ProductRow>> {
        let sql = format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE corp_id = $1 ORDER BY id DESC");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).fetch_all(c).await)?)
    }

    pub async fn product(&self, corp_id: i64, id: i64) -> Result<Option<ProductRow>> {
        let sql = format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE corp_id = $1 AND id = $2");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(id).fetch_optional(c).await)?)
    }

    pub async fn product_by_token(&self, token: &str) -> Result<Option<ProductRow>> {
        let sql = format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE public_token = $1");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(token).fetch_optional(c).await)?)
    }

    /// Checkouts of a corp, newest first; `state` filters when not empty;
    /// `stores` (a store manager's) keeps the checkouts of customers who
    /// added a guide of one of those stores.
    pub async fn checkouts(
        &self,
        corp_id: i64,
        state: &str,
        stores: Option<&[i64]>,
        limit: i64,
    ) -> Result<Vec<CheckoutListRow>> {
        let cols = CHECKOUT_COLUMNS.split(", ").map(|c| format!("k.{c}")).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT {cols}, cu.name AS customer_name FROM checkouts k JOIN customers cu ON cu.id = k.customer_id \
             WHERE k.corp_id = $1 AND ($2 = '' OR k.state = $2) AND ($3 IS NULL OR EXISTS (SELECT 1 FROM follows f \
             WHERE f.corp_id = k.corp_id AND f.customer_id = k.customer_id \
             AND $3 LIKE '%,' || CAST(f.store_id AS TEXT) || ',%')) ORDER BY k.id DESC LIMIT $4"
        );
        let stores = store_list(stores);
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql)
            .bind(corp_id)
            .bind(state)
            .bind(&stores)
            .bind(limit)
            .fetch_all(c)
            .await)?)
    }

    pub async fn checkout(&self, corp_id: i64, id: i64) -> Result<Option<CheckoutRow>> {
        let sql = format!("SELECT {CHECKOUT_COLUMNS} FROM checkouts WHERE corp_id = $1 AND id = $2");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(id).fetch_optional(c).await)?)
    }

    pub async fn checkout_by_trade_no(&self, out_trade_no: &str) -> Result<Option<CheckoutRow>> {
        let sql = format!("SELECT {CHECKOUT_COLUMNS} FROM checkouts WHERE out_trade_no = $1");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(out_trade_no).fetch_optional(c).await)?)
    }

    pub async fn checkout_items(&self, checkout_id: i64) -> Result<Vec<CheckoutItemRow>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(
                "SELECT checkout_id, product_id, sku, name, qty, unit_fen, total_fen FROM checkout_items \
                 WHERE checkout_id = $1 ORDER BY product_id",
            )
            .bind(checkout_id)
            .fetch_all(c)
            .await
        })?)
    }

    pub async fn checkout_refunds(&self, checkout_id: i64) -> Result<Vec<RefundRow>> {
        let sql = format!("SELECT {REFUND_COLUMNS} FROM checkout_refunds WHERE checkout_id = $1 ORDER BY id");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(checkout_id).fetch_all(c).await)?)
    }

    pub async fn checkout_refund(&self, corp_id: i64, id: i64) -> Result<Option<RefundRow>> {
        let sql = format!("SELECT {REFUND_COLUMNS} FROM checkout_refunds WHERE corp_id = $1 AND id = $2");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(id).fetch_optional(c).await)?)
    }

    /// A corp's refund by its `out_refund_no` (what WeChat Pay's refund
    /// notification names it by).
    pub async fn checkout_refund_by_no(&self, corp_id: i64, out_refund_no: &str) -> Result<Option<RefundRow>> {
        let sql = format!("SELECT {REFUND_COLUMNS} FROM checkout_refunds WHERE corp_id = $1 AND out_refund_no = $2");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(out_refund_no).fetch_optional(c).await)?)
    }

    /// Items of a product a customer bought or holds in a waiting checkout.
    pub async fn items_bought(&self, corp_id: i64, customer_id: i64, product_id: i64) -> Result<i64> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_scalar(
                "SELECT CAST(COALESCE(SUM(i.qty), 0) AS BIGINT) FROM checkout_items i \
                 JOIN checkouts k ON k.id = i.checkout_id WHERE k.corp_id = $1 AND k.customer_id = $2 \
                 AND i.product_id = $3 AND k.state IN ('created', 'paid', 'part_refunded')",
            )
            .bind(corp_id)
            .bind(customer_id)
            .bind(product_id)
            .fetch_one(c)
            .await
        })?)
    }

    /// Corps with checkouts still waiting for payment.
    pub async fn corps_with_open_checkouts(&self) -> Result<Vec<i64>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_scalar("SELECT DISTINCT corp_id FROM checkouts WHERE state = 'created' ORDER BY corp_id")
                .fetch_all(c)
                .await
        })?)
    }

    /// A corp's waiting checkouts created before `before`, oldest first.
    pub async fn open_checkouts(&self, corp_id: i64, before: i64, limit: i64) -> Result<Vec<CheckoutRow>> {
        let sql = format!(
            "SELECT {CHECKOUT_COLUMNS} FROM checkouts WHERE state = 'created' AND corp_id = $1 AND created_at < $2 \
             ORDER BY created_at LIMIT $3"
        );
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(before).bind(limit).fetch_all(c).await)?)
    }
}

impl Tx {
    pub async fn insert_product(&mut self, corp_id: i64, w: &ProductWrite<'_>, token: &str) -> Result<i64> {
        let r = on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO products (corp_id, sku, name, price_fen, stock, active, draft, public_token, created_at, \
                 updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id",
            )
            .bind(corp_id)
            .bind(w.sku)
            .bind(w.name)
            .bind(w.price_fen)
            .bind(w.stock)
            .bind(w.active)
            .bind(w.draft)
            .bind(token)
            .bind(w.now)
            .fetch_one(c)
            .await
        });
        r.map_err(StoreError::conflict_on("sku"))
    }

    /// Replaces a product's draft and sets its stock; false when it is not the corp's.
    pub async fn update_product(&mut self, corp_id: i64, id: i64, w: &ProductWrite<'_>) -> Result<bool> {
        let r = on_tx!(self, |c| {
            sqlx::query(
                "UPDATE products SET sku = $3, name = $4, price_fen = $5, stock = $6, active = $7, draft = $8, \
                 updated_at = $9 WHERE corp_id = $1 AND id = $2",
            )
            .bind(corp_id)
            .bind(id)
            .bind(w.sku)
            .bind(w.name)
            .bind(w.price_fen)
            .bind(w.stock)
            .bind(w.active)
            .bind(w.draft)
            .bind(w.now)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
        });
        Ok(r.map_err(StoreError::conflict_on("sku"))? > 0)
    }

    /// A product read inside the transaction (its stock as of now).
    pub async fn product_in(&mut self, corp_id: i64, id: i64) -> Result<Option<ProductRow>> {
        let sql = format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE corp_id = $1 AND id = $2");
        Ok(on_tx!(self, |c| sqlx::query_as(&sql).bind(corp_id).bind(id).fetch_optional(c).await)?)
    }

    /// Takes `qty` items of a product's stock; false when fewer are left
    /// (nothing taken). Never below zero, however many buyers race.
    pub async fn reserve_stock(&mut self, product_id: i64, qty: i64, now: i64) -> Result<bool> {
        let r = on_tx!(self, |c| {
            sqlx::query("UPDATE products SET stock = stock - $2, updated_at = $3 WHERE id = $1 AND stock >= $2")
                .bind(product_id)
                .bind(qty)
                .bind(now)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(r > 0)
    }

    /// Gives `qty` items back to a product's stock.
    pub async fn release_stock(&mut self, product_id: i64, qty: i64, now: i64) -> Result<()> {
        on_tx!(self, |c| {
            sqlx::query("UPDATE products SET stock = stock + $2, updated_at = $3 WHERE id = $1")
                .bind(product_id)
                .bind(qty)
                .bind(now)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    pub async fn insert_checkout(&mut self, k: &NewCheckout<'_>) -> Result<i64> {
        let r = on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO checkouts (corp_id, customer_id, out_trade_no, subtotal_fen, total_fen, state, \
                 expires_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'created', $6, $7, $7) RETURNING id",
            )
            .bind(k.corp_id)
            .bind(k.customer_id)
            .bind(k.out_trade_no)
            .bind(k.subtotal_fen)
            .bind(k.total_fen)
            .bind(k.expires_at)
            .bind(k.now)
            .fetch_one(c)
            .await
        });
        r.map_err(StoreError::conflict_on("out_trade_no"))
    }

    pub async fn insert_checkout_item(&mut self, i: &CheckoutItemRow) -> Result<()> {
        on_tx!(self, |c| {
            sqlx::query(
                "INSERT INTO checkout_items (checkout_id, product_id, sku, name, qty, unit_fen, total_fen) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(i.checkout_id)
            .bind(i.product_id)
            .bind(&i.sku)
            .bind(&i.name)
            .bind(i.qty)
            .bind(i.unit_fen)
            .bind(i.total_fen)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    pub async fn checkout_items_in(&mut self, checkout_id: i64) -> Result<Vec<CheckoutItemRow>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_as(
                "SELECT checkout_id, product_id, sku, name, qty, unit_fen, total_fen FROM checkout_items \
                 WHERE checkout_id = $1 ORDER BY product_id",
            )
            .bind(checkout_id)
            .fetch_all(c)
            .await
        })?)
    }

    /// Keeps the prepay order of a waiting checkout.
    pub async fn set_checkout_prepay(&mut self, id: i64, prepay_id: &str, openid: &str, now: i64) -> Result<bool> {
        let r = on_tx!(self, |c| {
            sqlx::query(
                "UPDATE checkouts SET prepay_id = $2, openid = $3, updated_at = $4 WHERE id = $1 AND state = 'created'",
            )
            .bind(id)
            .bind(prepay_id)
            .bind(openid)
            .bind(now)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(r > 0)
    }

    /// created → paid; false when it was not waiting (a duplicate
    /// notification, or a query that came second): nothing changes.
    pub async fn mark_checkout_paid(&mut self, id: i64, transaction_id: &str, paid_at: i64, now: i64) -> Result<bool> {
        let r = on_tx!(self, |c| {
            sqlx::query(
                "UPDATE checkouts SET state = 'paid', transaction_id = $2, paid_at = $3, error = '', updated_at = $4 \
                 WHERE id = $1 AND state = 'created'",
            )
            .bind(id)
            .bind(transaction_id)
            .bind(paid_at)
            .bind(now)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(r > 0)
    }

    /// created → closed, giving its items back to stock in the same
    /// transaction; false (nothing given back) when it was not waiting.
    pub async fn close_checkout(&mut self, id: i64, why: &str, now: i64) -> Result<bool> {
        let r = on_tx!(self, |c| {
            sqlx::query(
                "UPDATE checkouts SET state = 'closed', closed_at = $2, error = $3, updated_at = $2 \
                 WHERE id = $1 AND state = 'created'",
            )
            .bind(id)
            .bind(now)
            .bind(why)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
        })?;
        if r == 0 {
            return Ok(false);
        }
        for item in self.checkout_items_in(id).await? {
            self.release_stock(item.product_id, item.qty, now).await?;
        }
        Ok(true)
    }

    /// Notes what went wrong with a waiting checkout (its prepay failed).
    pub async fn set_checkout_error(&mut self, id: i64, error: &str, now: i64) -> Result<()> {
        on_tx!(self, |c| {
            sqlx::query("UPDATE checkouts SET error = $2, updated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(error)
                .bind(now)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Claims `amount` of a paid checkout for a refund: false when it would
    /// take more than is left (two refunds can never take more than was paid).
    pub async fn claim_refund(&mut self, checkout_id: i64, amount: i64, now: i64) -> Result<bool> {
        let r = on_tx!(self, |c| {
            sqlx::query(
                "UPDATE checkouts SET refunded_fen = refunded_fen + $2, updated_at = $3 WHERE id = $1 \
                 AND state IN ('paid', 'part_refunded') AND refunded_fen + $2 <= total_fen",
            )
            .bind(checkout_id)
            .bind(amount)
            .bind(now)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(r > 0)
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn insert_checkout_refund(
        &mut self,
        corp_id: i64,
        checkout_id: i64,
        out_refund_no: &str,
        amount: i64,
        reason: &str,
        created_by: &str,
        now: i64,
    ) -> Result<i64> {
        let r = on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO checkout_refunds (corp_id, checkout_id, out_refund_no, amount_fen, reason, created_by, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
            )
            .bind(corp_id)
            .bind(checkout_id)
            .bind(out_refund_no)
            .bind(amount)
            .bind(reason)
            .bind(created_by)
            .bind(now)
            .fetch_one(c)
            .await
        });
        r.map_err(StoreError::conflict_on("out_refund_no"))
    }

    /// pending → done: the checkout's state follows what was refunded.
    pub async fn finish_refund(&mut self, refund_id: i64, wechat_refund_id: &str, now: i64) -> Result<bool> {
        let r = on_tx!(self, |c| {
            sqlx::query(
                "UPDATE checkout_refunds SET state = 'done', refund_id = $2, updated_at = $3 \
                 WHERE id = $1 AND state = 'pending'",
            )
            .bind(refund_id)
            .bind(wechat_refund_id)
            .bind(now)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(r > 0)
    }

    /// pending → failed, giving its amount back to what may be refunded.
    pub async fn fail_refund(&mut self, refund_id: i64, error: &str, now: i64) -> Result<bool> {
        let row: Option<(i64, i64)> = on_tx!(self, |c| {
            sqlx::query_as(
                "UPDATE checkout_refunds SET state = 'failed', error = $2, updated_at = $3 \
                 WHERE id = $1 AND state = 'pending' RETURNING checkout_id, amount_fen",
            )
            .bind(refund_id)
            .bind(error)
            .bind(now)
            .fetch_optional(c)
            .await
        })?;
        let Some((checkout_id, amount)) = row else { return Ok(false) };
        on_tx!(self, |c| {
            sqlx::query("UPDATE checkouts SET refunded_fen = refunded_fen - $2, updated_at = $3 WHERE id = $1")
                .bind(checkout_id)
                .bind(amount)
                .bind(now)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(true)
    }

    /// Sets a paid checkout's state from the refunds done so far.
    pub async fn settle_refund_state(&mut self, checkout_id: i64, now: i64) -> Result<String> {
        let state: String = on_tx!(self, |c| {
            sqlx::query_scalar(
                "UPDATE checkouts SET state = CASE \
                   WHEN (SELECT COALESCE(SUM(amount_fen), 0) FROM checkout_refunds r \
                         WHERE r.checkout_id = checkouts.id AND r.state = 'done') >= total_fen THEN 'refunded' \
                   WHEN (SELECT COUNT(*) FROM checkout_refunds r \
                         WHERE r.checkout_id = checkouts.id AND r.state = 'done') > 0 THEN 'part_refunded' \
                   ELSE state END, updated_at = $2 \
                 WHERE id = $1 AND state IN ('paid', 'part_refunded') RETURNING state",
            )
            .bind(checkout_id)
            .bind(now)
            .fetch_optional(c)
            .await
        })?
        .unwrap_or_default();
        Ok(state)
    }

    pub async fn checkout_in(&mut self, id: i64) -> Result<Option<CheckoutRow>> {
        let sql = format!("SELECT {CHECKOUT_COLUMNS} FROM checkouts WHERE id = $1");
        Ok(on_tx!(self, |c| sqlx::query_as(&sql).bind(id).fetch_optional(c).await)?)
    }

    pub async fn checkout_refund_in(&mut self, id: i64) -> Result<Option<RefundRow>> {
        let sql = format!("SELECT {REFUND_COLUMNS} FROM checkout_refunds WHERE id = $1");
        Ok(on_tx!(self, |c| sqlx::query_as(&sql).bind(id).fetch_optional(c).await)?)
    }
}

/// A store manager's stores as the `,1,2,` text the scoped queries match
/// with `LIKE` (the same on both databases); `None` for the whole corp.
pub(crate) fn store_list(stores: Option<&[i64]>) -> Option<String> {
    stores.map(|s| s.iter().map(|id| format!(",{id},")).collect())
}
