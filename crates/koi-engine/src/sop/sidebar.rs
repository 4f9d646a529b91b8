//! The guide's sidebar (`/sidebar`): a page in WeCom's chat toolbar that
//! shows the customer of the current chat to the guide chatting.
//!
//! Two signed things, both HMAC-SHA256 under a per-corp key derived from
//! the corp's app secret (rotating the secret signs everyone out):
//!
//! - **the chat context** (`?ctx=`): WeCom corp id + the guide's userid +
//!   the customer's external_userid + an expiry. In WeCom the page asks the
//!   JS-SDK (`getCurExternalContact`); with the simulator and in tests koi
//!   mints it ([`Engine::sidebar_context`], `POST /api/v1/sidebar/context`).
//!   Format: `hex(JSON {c,u,e,x}) "." hex(mac)`.
//! - **the guide's session** (cookie `koi_guide`): koi corp id + staff id +
//!   expiry, `"{corp}.{staff}.{expires_ms}.{hex(mac)}"`, issued after WeCom
//!   OAuth (`/connect/oauth2/authorize` → `auth/getuserinfo`) named the
//!   guide. A guide sees only the customers they follow.

use crate::{require, Engine, EngineError, Principal, Result};
use koi_domain::access::{Action, Role};
use koi_domain::sop::script::{render, Vars};
use koi_domain::sop::{schedule, DAY_MS};
use koi_store::now_ms;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How long a guide's session lasts.
pub const GUIDE_SESSION_MS: i64 = 12 * 3_600_000;
/// The longest a minted chat context may live.
pub const MAX_CONTEXT_MS: i64 = 24 * 3_600_000;
/// A note's length.
pub const MAX_NOTE: usize = 2000;

fn hmac_sha256(key: &[u8; 32], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    k[..32].copy_from_slice(key);
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(msg);
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

fn sidebar_key(corp: &koi_domain::org::Corp) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"koi.sidebar.v1\0");
    h.update(corp.id.to_string());
    h.update(b"\0");
    h.update(&corp.app_secret);
    h.finalize().into()
}

fn macs_equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The chat a sidebar is open in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatContext {
    /// WeCom CorpID.
    #[serde(rename = "c")]
    pub wecom_corp_id: String,
    /// The guide's userid.
    #[serde(rename = "u")]
    pub userid: String,
    /// The customer's external_userid.
    #[serde(rename = "e")]
    pub external_userid: String,
    /// Milliseconds.
    #[serde(rename = "x")]
    pub expires_at: i64,
}

/// A guide signed in through WeCom OAuth.
#[derive(Debug, Clone)]
pub struct GuideSession {
    pub token: String,
    pub expires_at: i64,
    pub principal: Principal,
}

/// A script with its variables filled for this chat.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SidebarScript {
    pub id: i64,
    pub folder: String,
    pub title: String,
    pub text: String,
    pub keywords: Vec<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SidebarMaterial {
    pub id: i64,
    pub kind: String,
    pub title: String,
    pub description: String,
}

/// One of a guide's tasks.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GuideTask {
    pub id: i64,
    pub title: String,
    pub customer_id: Option<i64>,
    pub group_id: Option<i64>,
    /// The customer's or group's name.
    pub target: String,
    pub script_id: Option<i64>,
    pub material_id: Option<i64>,
    /// todo or done.
    pub state: String,
    pub due_at: i64,
    /// Whether it is about the customer of this chat.
    pub this_customer: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SidebarTag {
    pub id: String,
    pub name: String,
    pub group: String,
    pub on: bool,
}

/// What the sidebar shows.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SidebarView {
    pub guide_name: String,
    pub customer_id: i64,
    pub name: String,
    pub avatar: String,
    pub stage: String,
    pub stage_zh: String,
    /// Every tag of the catalogue, `on` when the customer has it.
    pub tags: Vec<SidebarTag>,
    pub orders: i32,
    pub spent_fen: i64,
    pub order_history: Vec<crate::customers::OrderLine>,
    /// The customer's coupons: usable first (soonest to end first).
    pub coupons: Vec<crate::points::WalletCoupon>,
    pub scripts: Vec<SidebarScript>,
    pub materials: Vec<SidebarMaterial>,
    /// The guide's tasks due today (this customer's first), and those done today.
    pub tasks: Vec<GuideTask>,
    pub note: String,
}

impl Engine {
    async fn corp_key(&self, corp_id: i64) -> Result<[u8; 32]> {
        let corp = self.db.corp(corp_id).await?.ok_or(EngineError::NotFound("corp"))?;
        Ok(sidebar_key(&corp))
    }

    /// Mints a chat context for a guide and a customer they follow: what
    /// the JS-SDK gives the page inside WeCom, for the simulator and tests.
    pub async fn sidebar_context(
        &self,
        who: &Principal,
        staff_userid: &str,
        external_userid: &str,
        ttl_ms: i64,
    ) -> Result<String> {
        require(who, Action::ManageSops)?;
        if !(60_000..=MAX_CONTEXT_MS).contains(&ttl_ms) {
            return Err(super::invalid("ttl_s", "out_of_range", "ttl_s is 60..=86400"));
        }
        self.mint_sidebar_context(who.corp_id, staff_userid, external_userid, ttl_ms).await
    }

    /// Signs a chat context (the callers check who may have one).
    pub(crate) async fn mint_sidebar_context(
        &self,
        corp_id: i64,
        staff_userid: &str,
        external_userid: &str,
        ttl_ms: i64,
    ) -> Result<String> {
        let corp = self.db.corp(corp_id).await?.ok_or(EngineError::NotFound("corp"))?;
        let ctx = ChatContext {
            wecom_corp_id: corp.wecom_corp_id.clone(),
            userid: staff_userid.to_string(),
            external_userid: external_userid.to_string(),
            expires_at: now_ms() + ttl_ms,
        };
        let payload = serde_json::to_vec(&ctx).expect("a context serialises");
        let mac = hmac_sha256(&sidebar_key(&corp), &payload);
        Ok(format!("{}.{}", hex::encode(payload), hex::encode(mac)))
    }

    /// Reads and checks a chat context: a bad signature, an unknown corp
    /// or an expired context is `Unauthenticated`.
    pub async fn read_sidebar_context(&self, token: &str) -> Result<(i64, ChatContext)> {
        let bad = || EngineError::Unauthenticated;
        let (payload, mac) = token.split_once('.').ok_or_else(bad)?;
        if token.len() > 2048 {
            return Err(bad());
        }
        let payload = hex::decode(payload).map_err(|_| bad())?;
        let mac = hex::decode(mac).map_err(|_| bad())?;
        let ctx: ChatContext = serde_json::from_slice(&payload).map_err(|_| bad())?;
        let corp = self.db.corp_by_wecom_id(&ctx.wecom_corp_id).await?.ok_or_else(bad)?;
        if !macs_equal(&hmac_sha256(&sidebar_key(&corp), &payload), &mac) || ctx.expires_at < now_ms() {
            return Err(bad());
        }
        Ok((corp.id, ctx))
    }

    /// Where to send a guide to sign in: WeCom's OAuth page (the
    /// simulator's under its base URL), which comes back to `redirect_uri`
    /// with a code.
    pub async fn guide_oauth_url(&self, corp_id: i64, redirect_uri: &str, state: &str) -> Result<String> {
        let corp = self.db.corp(corp_id).await?.ok_or(EngineError::NotFound("corp"))?;
        Ok(koi_wecom::client::oauth_authorize_url(
            &self.settings.wecom_base_url,
            &corp.wecom_corp_id,
            redirect_uri,
            state,
        ))
    }

    /// Signs a guide in with the code WeCom's OAuth gave back: asks WeCom
    /// who it is (`auth/getuserinfo`) and issues a session for the staff
    /// member with that userid. A code of someone who is not koi's active
    /// staff, or a code WeCom refuses, is `Unauthenticated`.
    pub async fn guide_sign_in(&self, corp_id: i64, code: &str) -> Result<GuideSession> {
        if code.is_empty() || code.len() > 512 {
            return Err(EngineError::Unauthenticated);
        }
        let client = self.wecom_for(corp_id).await?;
        let who = client.get_user_info(code).await.map_err(|e| {
            tracing::info!(corp = corp_id, error = %e, "guide sign-in refused");
            EngineError::Unauthenticated
        })?;
        let userid = who.userid.filter(|u| !u.is_empty()).ok_or(EngineError::Unauthenticated)?;
        let staff = self.db.staff_list(corp_id).await?.into_iter().find(|s| s.userid == userid && s.active);
        let staff = staff.ok_or(EngineError::Unauthenticated)?;
        let key = self.corp_key(corp_id).await?;
        let expires_at = now_ms() + GUIDE_SESSION_MS;
        let body = format!("{corp_id}.{}.{expires_at}", staff.id);
        let token = format!("{body}.{}", hex::encode(hmac_sha256(&key, body.as_bytes())));
        Ok(GuideSession { token, expires_at, principal: guide(corp_id, staff.id) })
    }

    /// The guide a session token names, while it is live and the guide active.
    pub async fn guide_session(&self, token: &str) -> Result<Principal> {
        let bad = || EngineError::Unauthenticated;
        let mut parts = token.rsplitn(2, '.');
        let (mac, body) = (parts.next().ok_or_else(bad)?, parts.next().ok_or_else(bad)?);
        let f: Vec<i64> = body.split('.').map(|p| p.parse().map_err(|_| bad())).collect::<Result<_>>()?;
        let [corp_id, staff_id, expires_at] = f[..] else { return Err(bad()) };
        let key = self.corp_key(corp_id).await.map_err(|_| bad())?;
        let mac = hex::decode(mac).map_err(|_| bad())?;
        if !macs_equal(&hmac_sha256(&key, body.as_bytes()), &mac) || expires_at < now_ms() {
            return Err(bad());
        }
        let staff = self.db.staff(corp_id, staff_id).await?.filter(|s| s.active).ok_or_else(bad)?;
        Ok(guide(corp_id, staff.id))
    }

    /// The sidebar for a guide and a chat context: the customer must be one
    /// the guide follows, and the context the guide's own.
    pub async fn sidebar(&self, who: &Principal, ctx_token: &str) -> Result<SidebarView> {
        let (customer_id, staff) = self.sidebar_customer(who, ctx_token).await?;
        let p = self.customer_profile(who, customer_id).await?;
        let on: std::collections::BTreeSet<&str> = p.tags.iter().map(|t| t.id.as_str()).collect();
        let tags = self
            .db
            .tag_catalogue(who.corp_id)
            .await?
            .into_iter()
            .map(|t| SidebarTag { on: on.contains(t.tag_id.as_str()), id: t.tag_id, name: t.name, group: t.group_name })
            .collect();
        let store = match staff.store_ids.first() {
            Some(&s) => self.db.store(who.corp_id, s).await?.map(|s| s.name).unwrap_or_default(),
            None => String::new(),
        };
        let vars = Vars { name: &p.customer.name, guide: &staff.name, store: &store };
        let scripts = self
            .db
            .scripts(who.corp_id, "", "")
            .await?
            .into_iter()
            .map(|s| SidebarScript {
                id: s.id,
                text: render(&s.body, &vars),
                folder: s.folder,
                title: s.title,
                keywords: s.keywords.split_whitespace().map(String::from).collect(),
            })
            .collect();
        let materials = self
            .db
            .materials(who.corp_id, "", "")
            .await?
            .into_iter()
            .map(|m| SidebarMaterial { id: m.id, kind: m.kind, title: m.title, description: m.description })
            .collect();
        let mut tasks = self.guide_tasks(who).await?;
        for t in &mut tasks {
            t.this_customer = t.customer_id == Some(customer_id);
        }
        tasks.sort_by_key(|t| (t.state != "todo", !t.this_customer, t.due_at));
        let note = self.db.customer_note(who.corp_id, customer_id, staff.id).await?.unwrap_or_default();
        Ok(SidebarView {
            guide_name: staff.name.clone(),
            customer_id,
            name: p.customer.name.clone(),
            avatar: p.customer.avatar.clone(),
            stage: p.stage,
            stage_zh: p.stage_zh,
            tags,
            orders: p.orders,
            spent_fen: p.spent_fen,
            order_history: p.order_history,
            coupons: self.customer_coupons(who.corp_id, customer_id).await?,
            scripts,
            materials,
            tasks,
            note,
        })
    }

    /// The customer of a chat context, checked against the signed-in guide.
    pub async fn sidebar_customer(&self, who: &Principal, ctx_token: &str) -> Result<(i64, koi_domain::org::Staff)> {
        let staff_id = who.staff_id.filter(|_| who.role == Role::Guide).ok_or(EngineError::Forbidden)?;
        let (corp_id, ctx) = self.read_sidebar_context(ctx_token).await?;
        let staff = self.db.staff(who.corp_id, staff_id).await?.ok_or(EngineError::Unauthenticated)?;
        if corp_id != who.corp_id || ctx.userid != staff.userid {
            return Err(EngineError::Forbidden); // another guide's chat
        }
        let customer_id = {
            let mut tx = self.db.begin().await?;
            let id = tx.customer_id(corp_id, &ctx.external_userid).await?;
            tx.commit().await?;
            id.ok_or(EngineError::NotFound("customer"))?
        };
        if !self.db.staff_follows(corp_id, staff_id, customer_id).await? {
            return Err(EngineError::NotFound("customer"));
        }
        Ok((customer_id, staff))
    }

    /// A guide's tasks due by the end of today (Shanghai), and those done today.
    pub async fn guide_tasks(&self, who: &Principal) -> Result<Vec<GuideTask>> {
        let staff_id = who.staff_id.filter(|_| who.role == Role::Guide).ok_or(EngineError::Forbidden)?;
        let now = now_ms();
        let today = schedule::local_day(now);
        let end_of_today = (today + 1) * DAY_MS - koi_domain::sop::TZ_OFFSET_MS;
        let start_of_today = end_of_today - DAY_MS;
        let rows = self.db.sop_tasks_of_staff(who.corp_id, staff_id, None, end_of_today, start_of_today).await?;
        Ok(rows
            .into_iter()
            .map(|t| GuideTask {
                id: t.id,
                title: t.title,
                customer_id: t.customer_id,
                group_id: t.group_id,
                target: t.target_name.unwrap_or_default(),
                script_id: t.script_id,
                material_id: t.material_id,
                state: t.state,
                due_at: t.due_at,
                this_customer: false,
            })
            .collect())
    }

    /// Marks one of the guide's tasks done (or not done).
    pub async fn set_guide_task_done(&self, who: &Principal, task_id: i64, done: bool) -> Result<bool> {
        let staff_id = who.staff_id.filter(|_| who.role == Role::Guide).ok_or(EngineError::Forbidden)?;
        let mut tx = self.db.begin().await?;
        let changed = tx.set_sop_task_done(who.corp_id, staff_id, task_id, done, now_ms()).await?;
        tx.commit().await?;
        Ok(changed)
    }

    /// The guide's note on a customer they follow.
    pub async fn set_customer_note(&self, who: &Principal, customer_id: i64, body: &str) -> Result<()> {
        let staff_id = who.staff_id.filter(|_| who.role == Role::Guide).ok_or(EngineError::Forbidden)?;
        if body.chars().count() > MAX_NOTE {
            return Err(super::invalid("note", "too_long", format!("a note is at most {MAX_NOTE} characters")));
        }
        self.customer(who, customer_id).await?; // visibility
        let mut tx = self.db.begin().await?;
        tx.set_customer_note(who.corp_id, customer_id, staff_id, body.trim(), now_ms()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A script's text for a customer (variables filled), counted as used.
    pub async fn use_script(&self, who: &Principal, script_id: i64, customer_id: i64) -> Result<String> {
        require(who, Action::TagCustomers)?;
        let c = self.customer(who, customer_id).await?;
        let s = self.db.script(who.corp_id, script_id).await?.ok_or(EngineError::NotFound("script"))?;
        let staff = match who.staff_id {
            Some(id) => self.db.staff(who.corp_id, id).await?,
            None => None,
        };
        let store = match staff.as_ref().and_then(|s| s.store_ids.first()) {
            Some(&id) => self.db.store(who.corp_id, id).await?.map(|s| s.name).unwrap_or_default(),
            None => String::new(),
        };
        let guide_name = staff.map(|s| s.name).unwrap_or_default();
        let text = render(&s.body, &Vars { name: &c.name, guide: &guide_name, store: &store });
        let mut tx = self.db.begin().await?;
        tx.count_script_use(who.corp_id, script_id).await?;
        tx.commit().await?;
        Ok(text)
    }
}

/// A guide's principal: their own customers, through the sidebar.
pub fn guide(corp_id: i64, staff_id: i64) -> Principal {
    Principal { corp_id, role: Role::Guide, user_id: None, store_ids: vec![], staff_id: Some(staff_id) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        // A key shorter than the block is zero-padded, so a 32-byte key
        // ending in zeros is the RFC's shorter key.
        let mut k = [0u8; 32];
        k[..20].copy_from_slice(&[0x0b; 20]);
        assert_eq!(
            hex::encode(hmac_sha256(&k, b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        let mut k = [0u8; 32];
        k[..4].copy_from_slice(b"Jefe");
        let a = hmac_sha256(&k, b"what do ya want for nothing?");
        assert_eq!(hex::encode(a), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        assert!(macs_equal(&a, &a) && !macs_equal(&a, &a[..31]));
    }
}
