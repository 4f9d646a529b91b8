//! A customer's own link to koi's H5 pages: one unguessable token a
//! customer (`/h5/…?k=TOKEN`) that their guide or a campaign page hands
//! them, so the wallet, the checkout and the earnings page know whose they
//! are without WeChat sign-in. A forwarded link is revoked; the next one
//! asked for is new.

use crate::{require, Engine, EngineError, Principal, Result};
use koi_domain::access::Action;
use koi_store::{now_ms, Tx};

/// A customer's link token and the public address of their pages.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct CustomerLink {
    pub token: String,
    /// koi's public address; a page adds its path and `?k={token}`.
    pub base_url: String,
}

impl Engine {
    /// The customer's link (made on first ask), for a user who sees them.
    pub async fn customer_link(&self, who: &Principal, customer_id: i64) -> Result<CustomerLink> {
        require(who, Action::ViewCustomers)?;
        self.customer(who, customer_id).await?; // checks visibility
        let mut tx = self.db.begin().await?;
        let token = customer_link_in(&mut tx, who.corp_id, customer_id).await?;
        tx.commit().await?;
        Ok(CustomerLink { token, base_url: self.settings.public_url.trim_end_matches('/').to_string() })
    }

    /// Retires a forwarded link; the customer's next link is a new token.
    pub async fn revoke_customer_link(&self, who: &Principal, customer_id: i64) -> Result<bool> {
        require(who, Action::TagCustomers)?;
        self.customer(who, customer_id).await?;
        let mut tx = self.db.begin().await?;
        let revoked = tx.revoke_customer_link(who.corp_id, customer_id, now_ms()).await?;
        tx.commit().await?;
        Ok(revoked)
    }

    /// The corp and customer a link token names (H5 pages): `NotFound`
    /// for an unknown or revoked token.
    pub async fn customer_by_link(&self, token: &str) -> Result<(i64, i64)> {
        if token.is_empty() || token.len() > 64 {
            return Err(EngineError::NotFound("customer link"));
        }
        self.db.customer_of_link(token).await?.ok_or(EngineError::NotFound("customer link"))
    }
}

/// The customer's live link token inside a caller's transaction (a job
/// that writes the link into a message), made when there is none.
pub(crate) async fn customer_link_in(tx: &mut Tx, corp_id: i64, customer_id: i64) -> Result<String> {
    Ok(tx.customer_link(corp_id, customer_id, &crate::random_hex(16), now_ms()).await?)
}
