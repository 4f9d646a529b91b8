//! The participant's page (`/h5/c/{campaign}?p={participant}`): their
//! progress (invites counted, pending, not counted and why), their rewards
//! with redemption codes, and their entry to share. Reached by the link in
//! their guide's messages; the participant's random token is the key, as a
//! channel code's landing page is reached by its random token.
//!
//! What the page sees — a device id (a cookie the page sets), the client
//! address, a location the customer chose to share — feeds the risk checks
//! of the invites *they* are (clusters, the geofence).

use super::entries::queue_entry;
use super::{campaign_of, Campaign, Reward};
use crate::posters::{DefaultPoster, PosterFill};
use crate::{Engine, EngineError, Result};
use koi_domain::campaign::tiers::next_tier;
use koi_domain::campaign::RejectReason;
use koi_domain::ValidationError;
use koi_store::campaigns::ParticipantRow;
use koi_store::now_ms;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

const MAX_DEVICE_CHARS: usize = 64;

/// One of the participant's invites as their page shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProgressInvite {
    pub name: String,
    pub occurred_at: i64,
    /// pending, valid or rejected.
    pub state: String,
    /// Why it did not count, when the customer may be told (`not_new`,
    /// `left_early`, `readd`, `not_running`); `not_counted` for the rest.
    pub reason: Option<String>,
    pub counts_at: i64,
}

/// What a participant's page shows.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProgressPage {
    pub campaign_name: String,
    pub campaign_state: String,
    pub rules_text: String,
    pub ends_at: i64,
    pub participant_name: String,
    /// none, queued, ready, failed or deleted.
    pub entry_state: String,
    /// The QR image of their entry, when ready.
    pub qr_code: Option<String>,
    /// Their personal poster (`/h5/c/{campaign}/poster.jpg?p=…`), when
    /// their entry is ready.
    pub poster_path: Option<String>,
    pub valid: i32,
    pub pending: usize,
    pub invites: Vec<ProgressInvite>,
    pub rewards: Vec<Reward>,
    /// Tiers as (threshold, reward title).
    pub tiers: Vec<(u32, String)>,
    /// Invites still missing for the next tier.
    pub next_missing: Option<u32>,
    pub next_title: Option<String>,
    /// The participant's page path with their token, for the page's own
    /// links and the visit beacon.
    pub self_path: String,
}

/// What the page reports of a visit.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct VisitInput {
    /// The page's device id (a random id in a cookie).
    #[serde(default)]
    pub device: String,
    #[serde(default)]
    pub lat: Option<f64>,
    #[serde(default)]
    pub lng: Option<f64>,
}

impl Engine {
    async fn participant_of_page(&self, campaign_token: &str, token: &str) -> Result<(Campaign, ParticipantRow)> {
        let row = self.db.campaign_by_token(campaign_token).await?.ok_or(EngineError::NotFound("campaign"))?;
        let p = self.db.participant_by_token(token).await?.filter(|p| p.campaign_id == row.id);
        let p = p.ok_or(EngineError::NotFound("participant"))?;
        Ok((campaign_of(&row)?, p))
    }

    /// A participant's page. The first visit of a participant without an
    /// entry (an invitee) queues it; the page shows it once made.
    pub async fn campaign_page(&self, campaign_token: &str, token: &str) -> Result<ProgressPage> {
        let (c, p) = self.participant_of_page(campaign_token, token).await?;
        let mut entry_state = p.entry_state.clone();
        if c.state.is_live() && (p.entry_state == "none" || p.entry_state == "failed") {
            let mut tx = self.db.begin().await?;
            queue_entry(&mut tx, p.corp_id, p.id).await?;
            tx.commit().await?;
            entry_state = "queued".into();
        }
        let name = self.db.customer(p.corp_id, p.customer_id).await?.map(|c| c.name).unwrap_or_default();
        let rows = self.db.campaign_invites(p.corp_id, c.id, None, None, Some(p.id), super::LIST_LIMIT).await?;
        let pending = rows.iter().filter(|r| r.state == "pending").count();
        let invites = rows
            .into_iter()
            .map(|r| ProgressInvite {
                name: r.invitee_name.unwrap_or_default(),
                occurred_at: r.occurred_at,
                reason: RejectReason::parse(&r.reason)
                    .map(|why| if why.shown_to_customer() { why.as_str() } else { "not_counted" }.to_string()),
                state: r.state,
                counts_at: r.counts_at,
            })
            .collect();
        let rewards = self.db.campaign_rewards(p.corp_id, c.id, Some(p.id), 50).await?;
        let valid = u32::try_from(p.valid).unwrap_or(0);
        let next = next_tier(&c.draft.tiers, valid);
        Ok(ProgressPage {
            campaign_name: c.name.clone(),
            campaign_state: c.state.as_str().into(),
            rules_text: c.draft.rules_text.clone(),
            ends_at: c.ends_at,
            participant_name: name,
            entry_state,
            qr_code: p.qr_code.clone().filter(|q| !q.is_empty() && p.entry_state == "ready"),
            poster_path: p
                .qr_code
                .as_ref()
                .filter(|q| !q.is_empty() && p.entry_state == "ready")
                .map(|_| format!("{}/poster.jpg?p={}", c.h5_path, p.token)),
            valid: p.valid,
            pending,
            invites,
            rewards: rewards.into_iter().map(Reward::from).collect(),
            tiers: c.draft.tiers.iter().map(|t| (t.threshold, super::invites::reward_title(&t.reward))).collect(),
            next_missing: next.map(|(_, n)| n),
            next_title: next.map(|(i, _)| super::invites::reward_title(&c.draft.tiers[i].reward)),
            self_path: format!("{}?p={}", c.h5_path, p.token),
        })
    }

    /// The participant's own poster (`/h5/c/{campaign}/poster.jpg?p=`): the
    /// campaign's poster template (the built-in one when it has none or it
    /// was deleted) filled with their entry's QR — read out of WeCom's QR
    /// image and drawn anew —, their avatar (the placeholder when it cannot
    /// be fetched), their name, and `{campaign}` in its text. A
    /// 750×1334 JPEG, cached by content hash. `NotFound` until their entry
    /// is ready.
    pub async fn campaign_poster(&self, campaign_token: &str, token: &str) -> Result<Arc<Vec<u8>>> {
        let (c, p) = self.participant_of_page(campaign_token, token).await?;
        let qr = p.qr_code.as_deref().filter(|q| !q.is_empty() && p.entry_state == "ready");
        let qr = qr.ok_or(EngineError::NotFound("the participant's entry"))?;
        let payload = self.qr_payload(qr).await?;
        let customer = self.db.customer(p.corp_id, p.customer_id).await?;
        let (name, avatar_url) = customer.map(|c| (c.name, c.avatar)).unwrap_or_default();
        let avatar = self.picture(&avatar_url).await;
        let mut fill = PosterFill { qr_payload: payload, nickname: name, avatar, text_vars: Default::default() };
        fill.text_vars.insert("campaign".into(), c.name.clone());
        if let Some(template) = c.draft.poster_template_id {
            match self.poster_jpeg(p.corp_id, template, &fill).await {
                Err(EngineError::NotFound(_)) => {
                    tracing::warn!(
                        campaign = c.id,
                        template,
                        "the campaign's poster template is gone; the built-in one is drawn"
                    )
                }
                done => return done,
            }
        }
        self.default_poster_jpeg(p.corp_id, DefaultPoster::Campaign, &fill).await
    }

    /// Records what a participant's page saw.
    pub async fn record_campaign_visit(
        &self,
        campaign_token: &str,
        token: &str,
        visit: &VisitInput,
        address: &str,
    ) -> Result<()> {
        let device = visit.device.trim();
        if device.chars().count() > MAX_DEVICE_CHARS {
            return Err(ValidationError::one("device", "too_long", "a device id is at most 64 characters").into());
        }
        let location = match (visit.lat, visit.lng) {
            (Some(lat), Some(lng)) if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lng) => {
                Some((lat, lng))
            }
            (None, None) => None,
            _ => {
                return Err(
                    ValidationError::one("lat", "out_of_range", "a location is lat -90..90 and lng -180..180").into()
                )
            }
        };
        let (_, p) = self.participant_of_page(campaign_token, token).await?;
        let mut tx = self.db.begin().await?;
        tx.insert_visit(&p, device, address, location, now_ms()).await?;
        tx.commit().await?;
        Ok(())
    }
}
