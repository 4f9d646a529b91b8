//! Tracked links: every material sent to a customer gets its own link
//! `{public_url}/m/{token}`. Opening it redirects to the material (or
//! serves its uploaded file, `files.rs`) and, once
//! per link per [`OPEN_WINDOW_MS`], records the customer's
//! `material_opened` behaviour through the same path as any behaviour
//! (counters, stage, tag rules, the timeline) — so segments and tag rules
//! that know `material_opened` see it.

use crate::{random_hex, require, Engine, EngineError, Principal, Result};
use koi_domain::access::Action;
use koi_domain::customer::Behaviour;
use koi_domain::sop::script::OPEN_WINDOW_MS;
use koi_store::events::NewEvent;
use koi_store::now_ms;
use serde::Serialize;

/// A material sent to one customer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SentMaterial {
    pub material_id: i64,
    pub title: String,
    pub kind: String,
    pub token: String,
    /// The tracked link to send (`{public_url}/m/{token}`).
    pub url: String,
}

/// What opening a tracked link shows.
#[derive(Debug, Clone)]
pub enum OpenedMaterial {
    /// Go to the material's address.
    Redirect(String),
    /// The material's uploaded file, served as it is.
    File(koi_store::material_files::MaterialFile),
}

impl Engine {
    /// Makes a tracked link of a material for a customer the caller sees
    /// (a guide from the sidebar, an operator, an integration).
    pub async fn send_material(&self, who: &Principal, customer_id: i64, material_id: i64) -> Result<SentMaterial> {
        require(who, Action::TagCustomers)?;
        self.customer(who, customer_id).await?; // visibility
        let m = self.db.material(who.corp_id, material_id).await?.ok_or(EngineError::NotFound("material"))?;
        let token = random_hex(12);
        let mut tx = self.db.begin().await?;
        tx.insert_material_link(&token, who.corp_id, m.id, customer_id, who.staff_id, now_ms()).await?;
        tx.commit().await?;
        let url = format!("{}/m/{token}", self.settings.public_url.trim_end_matches('/'));
        Ok(SentMaterial { material_id: m.id, title: m.title, kind: m.kind, token, url })
    }

    /// A tracked link opened: the material's address to redirect to, or its
    /// uploaded file. The open counts (and becomes `material_opened`) unless
    /// the same link counted one within the window. `NotFound` for an
    /// unknown token.
    pub async fn open_material_link(&self, token: &str) -> Result<OpenedMaterial> {
        if token.is_empty() || token.len() > 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(EngineError::NotFound("link"));
        }
        let link = self.db.material_link(token).await?.ok_or(EngineError::NotFound("link"))?;
        let corp_id = link.corp_id;
        let m = self.db.material(corp_id, link.material_id).await?.ok_or(EngineError::NotFound("material"))?;
        let rules = self.value_rules_of(corp_id).await?;
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        if tx.count_link_open(token, now, OPEN_WINDOW_MS).await? {
            let b = Behaviour::MaterialOpened { material: m.title.clone() };
            let mut payload = serde_json::to_value(&b).expect("a behaviour is plain data and serialises");
            payload["material_id"] = m.id.into();
            payload["kind"] = m.kind.clone().into();
            let e = NewEvent {
                corp_id,
                kind: &format!("customer.{}", b.kind()),
                subject: &format!("customer:{}", link.customer_id),
                actor: "customer",
                payload: &payload.to_string(),
                dedup_key: Some(&format!("material_open:{token}:{}", now / OPEN_WINDOW_MS)),
                occurred_at: now,
            };
            if tx.append_event(&e, now).await?.is_some() {
                self.apply_behaviour(&mut tx, corp_id, link.customer_id, &b, now, &rules).await?;
            }
        }
        tx.commit().await?;
        match self.db.material_file(corp_id, m.id).await? {
            Some(file) => Ok(OpenedMaterial::File(file)),
            None => Ok(OpenedMaterial::Redirect(m.url)),
        }
    }
}
