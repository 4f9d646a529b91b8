//! The fatigue cap across all of koi: before anything touches customers (a
//! mass send, an SOP push), [`admit`] decides in the caller's transaction
//! who may be touched and records their touches; campaign notices record
//! theirs without being capped (a promised reward's notice always goes).

use crate::{require, Engine, Principal, Result};
use koi_domain::access::Action;
use koi_domain::outreach::fatigue::{decide, FatigueCap};
use koi_store::touches::FATIGUE_SETTING;
use koi_store::{now_ms, Tx};

pub use koi_domain::outreach::fatigue::{Admitted, SkipReason};

/// The touch source of a campaign notice.
pub const CAMPAIGN_NOTICE_SOURCE: &str = "campaign_notice";

fn cap_of(setting: Option<&str>) -> FatigueCap {
    setting.and_then(|s| serde_json::from_str(s).ok()).unwrap_or_default()
}

/// Decides which of `customer_ids` may be touched by (`source`, `reference`)
/// at `now` under the corp's cap, and records the touches of those admitted,
/// in `tx` under the corp's fatigue lock. Deciding again for the same
/// (source, reference) admits the customers it touched before without
/// counting them again; each customer is decided once.
pub(crate) async fn admit(
    tx: &mut Tx,
    corp_id: i64,
    customer_ids: &[i64],
    source: &str,
    reference: &str,
    now: i64,
) -> Result<Admitted> {
    let cap = cap_of(tx.lock_fatigue(corp_id, now).await?.as_deref());
    let (counts, mine) = tx.touch_counts(corp_id, customer_ids, source, reference, cap.window_start(now)).await?;
    let decided = decide(&cap, customer_ids, &counts, &mine);
    let new: Vec<i64> = decided.admitted.iter().copied().filter(|c| !mine.contains(c)).collect();
    tx.insert_touches(corp_id, &new, source, reference, now).await?;
    Ok(decided)
}

/// Counts a touch that is not capped (a campaign notice), once per
/// (customer, source, reference).
pub(crate) async fn record_touch(
    tx: &mut Tx,
    corp_id: i64,
    customer_id: i64,
    source: &str,
    reference: &str,
    now: i64,
) -> Result<()> {
    tx.insert_touches(corp_id, &[customer_id], source, reference, now).await?;
    Ok(())
}

impl Engine {
    /// The corp's fatigue cap (the default until an operator sets one).
    pub async fn fatigue_cap(&self, who: &Principal) -> Result<FatigueCap> {
        require(who, Action::ViewMassSends)?;
        Ok(cap_of(self.db.corp_setting(who.corp_id, FATIGUE_SETTING).await?.as_deref()))
    }

    /// Sets the corp's fatigue cap.
    pub async fn set_fatigue_cap(&self, who: &Principal, cap: &FatigueCap) -> Result<FatigueCap> {
        require(who, Action::ManageMassSends)?;
        let cap = cap.validate()?;
        let mut tx = self.db.begin().await?;
        let json = serde_json::to_string(&cap).expect("a cap is plain data");
        tx.set_corp_setting(who.corp_id, FATIGUE_SETTING, &json, now_ms()).await?;
        tx.commit().await?;
        Ok(cap)
    }
}
