//! The demo's shoppers: while `koi demo` runs, its virtual customers keep
//! buying and coming back, every few seconds, through the same ways in a
//! brand's real customers and shops use, so the orders, checkouts, coupons,
//! points and distribution pages move as an operator watches:
//!
//! - a customer opens their product link and buys (sometimes two products in
//!   one checkout) over koi's H5 checkout, and the simulator's WeChat Pay
//!   takes the money and notifies koi (now and then twice, or after a
//!   forger);
//! - the brand's mini-program shop posts an order through its signed
//!   webhook, some paid with a coupon the customer holds;
//! - a store's POS redeems a coupon a customer shows, and the HQ hands new
//!   ¥10 coupons out so there are always some to redeem;
//! - a checkout is refunded through WeChat Pay (in full or in part), or the
//!   shop posts a refund of one of its orders.

use anyhow::{bail, Context, Result};
use koi_engine::{Engine, Principal};
use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Seconds between two shoppers while the demo is new, and after its first
/// quarter hour (it runs for hours on small machines).
const PACE_NEW_S: u64 = 3;
const PACE_CALM_S: u64 = 10;

pub(crate) async fn run(engine: Engine, corp_id: i64, sim: Arc<koi_sim::SimState>, koi_url: String) {
    let mut shop = match Shop::open(engine, corp_id, sim, koi_url).await {
        Ok(s) => s,
        Err(e) => return tracing::warn!(error = %e, "the demo's shoppers could not start"),
    };
    let started = Instant::now();
    for n in 0u64.. {
        if let Err(e) = shop.step(n).await {
            tracing::warn!(error = %e, "a demo shopper's step failed");
        }
        let pace = if started.elapsed() < Duration::from_secs(900) { PACE_NEW_S } else { PACE_CALM_S };
        tokio::time::sleep(Duration::from_secs(pace)).await;
    }
}

struct Shop {
    engine: Engine,
    owner: Principal,
    sim: Arc<koi_sim::SimState>,
    wecom: String,
    koi_url: String,
    http: reqwest::Client,
    /// The mini-program shop's webhook: its key and secret.
    key: String,
    secret: String,
    /// (id, code) of each store.
    stores: Vec<(i64, String)>,
    /// Page tokens of the products on sale.
    products: Vec<String>,
    /// The template HQ hands out to keep coupons coming.
    giveaway: Option<i64>,
    /// The shop's orders posted so far (shop order id, paid fen).
    shop_orders: Vec<(String, i64)>,
}

impl Shop {
    async fn open(engine: Engine, corp_id: i64, sim: Arc<koi_sim::SimState>, koi_url: String) -> Result<Self> {
        let owner = crate::demo::owner(corp_id);
        let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build()?;
        // koi serves once the demo's setup is done; the shoppers wait for it.
        for _ in 0..240 {
            if http.get(format!("{koi_url}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let corp = engine.db.corp(corp_id).await?.context("the demo corp")?;
        let made = engine.create_order_integration(&owner, "悦步小程序商城").await?;
        let stores = engine.db.stores(corp_id).await?.into_iter().map(|s| (s.id, s.code)).collect();
        let products = engine
            .products(&owner)
            .await?
            .into_iter()
            .filter(|p| p.availability == koi_domain::product::Availability::OnSale)
            .map(|p| p.page_path.trim_start_matches("/h5/p/").to_string())
            .collect::<Vec<_>>();
        if products.is_empty() {
            bail!("the demo has no product on sale");
        }
        let giveaway =
            engine.coupon_templates(&owner).await?.into_iter().find(|t| t.draft.name == "¥10 无门槛券").map(|t| t.id);
        Ok(Shop {
            engine,
            owner,
            sim,
            wecom: corp.wecom_corp_id,
            koi_url,
            http,
            key: made.integration.key,
            secret: made.secret,
            stores,
            products,
            giveaway,
            shop_orders: Vec::new(),
        })
    }

    /// One shopper's turn: three H5 purchases, a shop order and a coupon
    /// redeemed at a counter for every refund.
    async fn step(&mut self, n: u64) -> Result<()> {
        match n % 6 {
            0 | 2 | 4 => self.buy_on_h5(n).await,
            1 => self.shop_order(n).await,
            3 => self.redeem_at_counter(n).await,
            _ => self.refund(n).await,
        }
    }

    /// A random WeChat customer in the simulator that koi knows.
    async fn customer(&self) -> Result<Option<(i64, String)>> {
        let exts = self
            .sim
            .inspect(Some(&self.wecom), |w| {
                w.customers.values().filter(|c| c.kind == 1).map(|c| c.external_userid.clone()).collect::<Vec<_>>()
            })
            .unwrap_or_default();
        for _ in 0..5 {
            let Some(ext) = exts.choose(&mut rand::thread_rng()).cloned() else { return Ok(None) };
            let mut tx = self.engine.db.begin().await?;
            if let Some(id) = tx.customer_id(self.owner.corp_id, &ext).await? {
                return Ok(Some((id, ext)));
            }
        }
        Ok(None)
    }

    /// A customer buys from their product link: one product, or two in one
    /// checkout, paid through the simulator's WeChat Pay.
    async fn buy_on_h5(&mut self, n: u64) -> Result<()> {
        let Some((id, _)) = self.customer().await? else { return Ok(()) };
        let link = self.engine.customer_link(&self.owner, id).await?.token;
        let (page, extra, qty) = {
            let mut rng = rand::thread_rng();
            let mut picked: Vec<&String> = self.products.choose_multiple(&mut rng, 2).collect();
            let page = picked.remove(0).clone();
            let extra = picked.first().filter(|_| n % 4 == 2).map(|p| json!([{ "product": p, "qty": 1 }]));
            (page, extra.unwrap_or_else(|| json!([])), rng.gen_range(1..=2))
        };
        let r = self
            .http
            .post(format!("{}/h5/p/{page}/buy?k={link}", self.koi_url))
            .json(&json!({ "qty": qty, "items": extra }))
            .send()
            .await?;
        if !r.status().is_success() {
            // Sold out or over the per-customer limit: this shopper walks away.
            tracing::debug!(status = %r.status(), "a demo shopper could not check out");
            return Ok(());
        }
        let started: Value = r.json().await?;
        let prepay = started["prepay_id"].as_str().context("a prepay id")?;
        // Now and then WeChat Pay notifies twice, or a forger tries first.
        let faults = json!({ "duplicates": u32::from(n.is_multiple_of(5)), "forged": u32::from(n.is_multiple_of(7)) });
        let paid = self.http.post(format!("{}/sim/pay/jsapi/{prepay}/pay", self.sim.base_url())).json(&faults).send();
        let paid = paid.await?;
        if !paid.status().is_success() {
            bail!("the simulator's WeChat Pay did not take the payment: {}", paid.text().await.unwrap_or_default());
        }
        Ok(())
    }

    /// The mini-program shop posts an order (signed); every other one the
    /// customer pays part with a coupon they hold, which the shop redeems.
    async fn shop_order(&mut self, n: u64) -> Result<()> {
        let Some((id, ext)) = self.customer().await? else { return Ok(()) };
        let (store_id, store_code) = self.stores[(n as usize / 6) % self.stores.len().max(1)].clone();
        let shop_order_id = format!("MP{}{n:05}", koi_store::now_ms() / 1000);
        let (sku, name, price) = [("YB-A2", "秋季新款短靴", 59_900), ("YB-SOCK3", "棉袜三双装", 4_900)][n as usize % 2];
        let amount = price * (1 + (n as i64 / 6) % 2);
        let mut off = 0;
        if n % 12 == 1 {
            let held = self.engine.coupons(&self.owner, Some(id), None, Some("issued")).await?;
            if let Some(k) = held.first() {
                match self
                    .engine
                    .redeem_coupon(&self.owner, &k.code, Some(store_id), &shop_order_id, Some(amount))
                    .await
                {
                    Ok(c) => off = c.off_fen.unwrap_or(0),
                    Err(e) => tracing::debug!(error = %e, "the shop's coupon was refused"),
                }
            }
        }
        let order = json!({
            "event": "order",
            "order": {
                "shop_order_id": shop_order_id, "ordered_at": koi_store::now_ms(), "store_code": store_code,
                "items": [{ "sku": sku, "name": name, "qty": amount / price, "price_fen": price }],
                "amount_fen": amount, "paid_fen": amount - off, "customer": { "external_userid": ext },
            }
        });
        self.post_webhook(&order).await?;
        self.shop_orders.push((shop_order_id, amount - off));
        Ok(())
    }

    async fn post_webhook(&self, body: &Value) -> Result<()> {
        let body = serde_json::to_vec(body)?;
        let signature = koi_engine::orders::sign(&self.secret, koi_store::now_ms() / 1000, &body);
        let r = self
            .http
            .post(format!("{}/webhooks/orders/{}", self.koi_url, self.key))
            .header(koi_engine::orders::SIGNATURE_HEADER, signature)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("the order webhook answered {}: {}", r.status(), r.text().await.unwrap_or_default());
        }
        Ok(())
    }

    /// A customer shows a coupon at a store's counter and the POS redeems
    /// it; HQ hands a ¥10 coupon to another customer so the wallets refill.
    async fn redeem_at_counter(&mut self, n: u64) -> Result<()> {
        let held = self.engine.coupons(&self.owner, None, None, Some("issued")).await?;
        let picked = held.choose(&mut rand::thread_rng()).cloned();
        if let Some(k) = picked {
            let (store_id, _) = self.stores[(n as usize / 6) % self.stores.len().max(1)];
            let amount = 39_900;
            let order_ref = format!("POS{}{n:05}", koi_store::now_ms() / 1000);
            if let Err(e) =
                self.engine.redeem_coupon(&self.owner, &k.code, Some(store_id), &order_ref, Some(amount)).await
            {
                tracing::debug!(error = %e, "a counter's coupon was refused");
            }
        }
        if let (Some(t), Some((id, _))) = (self.giveaway, self.customer().await?) {
            // One per customer: a customer who has one already is refused, which is fine.
            let _ = self.engine.issue_coupon(&self.owner, t, id).await;
        }
        Ok(())
    }

    /// A refund: of a paid H5 checkout through WeChat Pay (in full, or half),
    /// or, every third time or when there is none, of a shop order through
    /// the shop's webhook.
    async fn refund(&mut self, n: u64) -> Result<()> {
        let turn = n / 6;
        if turn % 3 != 2 {
            let q = koi_engine::checkout::CheckoutQuery { state: Some("paid".into()) };
            let paid = self.engine.checkouts(&self.owner, &q).await?;
            let picked = paid.choose(&mut rand::thread_rng()).cloned();
            if let Some(k) = picked {
                let (amount_fen, reason) = if turn.is_multiple_of(2) {
                    (None, "不想要了，整单退款")
                } else {
                    (Some(k.total_fen / 2), "少发一件，退一半")
                };
                let input = koi_engine::checkout::RefundInput { amount_fen, reason: reason.into() };
                self.engine.refund_checkout(&self.owner, k.id, &input).await?;
                return Ok(());
            }
        }
        let Some(at) = (!self.shop_orders.is_empty()).then(|| rand::thread_rng().gen_range(0..self.shop_orders.len()))
        else {
            return Ok(());
        };
        let (shop_order_id, paid) = self.shop_orders.swap_remove(at);
        let partial = turn % 2 == 1 && paid > 1;
        let refund = json!({
            "event": "refund", "shop_order_id": shop_order_id,
            "refund": {
                "refund_id": format!("RF{shop_order_id}"),
                "amount_fen": if partial { Some(paid / 2) } else { None },
                "reason": if partial { "尺码不合适，退一双" } else { "整单退货" },
            }
        });
        self.post_webhook(&refund).await
    }
}
