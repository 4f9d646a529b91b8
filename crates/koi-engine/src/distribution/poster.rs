//! A distributor's personal product poster (分销海报): the product's picture,
//! name and price, the campaign they came from (if any), their name, and a
//! QR of their share link (`/h5/d/{token}`), drawn on the built-in layout
//! ([`koi_poster::Layout::distributor`]) through the posters' machinery and
//! render cache, as a 750×1334 JPEG to save and forward. Reached from the
//! distributor's earnings page under their own customer link (`?k=`).

use crate::posters::{DefaultPoster, PosterFill};
use crate::{Engine, EngineError, Result};
use koi_store::now_ms;
use std::sync::Arc;

impl Engine {
    /// The poster of product `product_id` for the distributor whose customer
    /// link is `link`. `NotFound` for an unknown link, a customer who is not
    /// an active distributor, or a product of another corp or not on sale.
    pub async fn distributor_poster(&self, link: &str, product_id: i64) -> Result<Arc<Vec<u8>>> {
        let (corp_id, customer_id) = self.customer_by_link(link).await?;
        let d = self.db.distributor_of_customer(corp_id, customer_id).await?.filter(|d| d.active);
        let d = d.ok_or(EngineError::NotFound("distributor"))?;
        let row = self.db.product(corp_id, product_id).await?.filter(|p| p.active);
        let product = crate::checkout::product_of(&row.ok_or(EngineError::NotFound("product"))?, now_ms())?;
        let name = self.db.customer(corp_id, customer_id).await?.map(|c| c.name).unwrap_or_default();
        let campaign = match d.campaign_id {
            Some(id) => self.db.campaign(corp_id, id).await?.map(|c| c.name).unwrap_or_default(),
            None => String::new(),
        };
        let avatar = match product.images.first() {
            Some(url) => self.picture(url).await,
            None => None,
        };
        let mut fill = PosterFill {
            qr_payload: format!("{}/h5/d/{}", self.settings.public_url.trim_end_matches('/'), d.token),
            nickname: name,
            avatar,
            text_vars: Default::default(),
        };
        fill.text_vars.insert("product".into(), product.name);
        fill.text_vars.insert("price".into(), format!("¥{}.{:02}", product.price_fen / 100, product.price_fen % 100));
        fill.text_vars.insert("campaign".into(), campaign);
        self.default_poster_jpeg(corp_id, DefaultPoster::Distributor, &fill).await
    }
}
