//! Pulling customers into groups (拉群) through their guides: WeCom has no
//! API that adds a customer to a group, so a guide sends the group code.
//!
//! | item | what |
//! |---|---|
//! | group pulls (标签拉群) | a saved segment's customers, each once under the guide of their most recent live follow; one guide task per guide with the invitation text and the code's link; results per guide: planned, sent, joined |
//! | first-order invitations | a code invites customers of groups of the chosen kinds (education…) when their first order arrives, once per customer per code (seed 000: paid vs. unpaid) |
//!
//! The guide tasks themselves — created once, results read later — are
//! `outreach/guide_tasks.rs`. *Joined* is read from the memberships group
//! sync keeps: a sent customer with a stay in one of the code's groups that
//! began at or after the pull started. The WeChat-group migration campaign
//! (UR, seed 001) is not here.

use crate::outreach::guide_tasks::plan_guide_task;
use crate::outreach::{GuideContent, GuideLink};
use crate::{actor, require, Engine, EngineError, Principal, Result};
use koi_domain::access::Action;
use koi_domain::group::pull::{split_by_guide, FirstOrderInvite, GroupPullDraft, MAX_TASK_CUSTOMERS};
use koi_domain::group::{GroupCodeType, GroupKind};
use koi_domain::ValidationError;
use koi_store::events::NewEvent;
use koi_store::group_pulls::{FirstOrderInviteRow, GroupPullRow, NewGroupPull, FIRST_ORDER_PURPOSE, PULL_PURPOSE};
use koi_store::outreach::NewGuideTask;
use koi_store::{now_ms, Tx};
use serde::Serialize;

use super::rotation::settings_of;
use super::GroupCode;

/// Pulls one list shows.
pub const PULLS_LIMIT: i64 = 200;
/// Unsent customers a pull's page shows.
pub const UNSENT_LIMIT: i64 = 1_000;

/// A pull with its totals.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GroupPull {
    pub id: i64,
    pub name: String,
    pub segment_id: i64,
    /// The segment's name and expression when the pull started.
    pub segment_name: String,
    pub expr: String,
    pub code_id: i64,
    pub code_name: String,
    pub text: String,
    /// The link the invitation carries: the code's landing page or QR.
    pub link_url: String,
    /// Customers given to a guide.
    pub planned: i64,
    /// Customers of the segment with no live follow: nobody could send them.
    pub unfollowed: i64,
    /// Customers WeCom reports sent.
    pub sent: i64,
    /// Sent customers who joined one of the code's groups since the start.
    pub joined: i64,
    pub created_by: String,
    /// ms.
    pub started_at: i64,
}

/// One guide's numbers in a pull.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GuidePullResult {
    pub staff_id: i64,
    pub userid: String,
    pub name: String,
    pub planned: i64,
    pub sent: i64,
    /// Unsent after the guide confirmed (or never confirmed in time).
    pub not_sent: i64,
    /// WeCom could not send (not a friend any more, quota used, refused).
    pub failed: i64,
    /// Waiting for the guide to confirm in WeCom.
    pub waiting: i64,
    pub joined: i64,
    /// The guide's task in WeCom: queued, sending, created, refused or unknown.
    pub task_state: String,
}

/// A customer the invitation did not reach (yet), and why.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UnsentCustomer {
    pub customer_id: i64,
    pub customer_name: String,
    pub staff_id: i64,
    pub staff_name: String,
    /// planned (the guide has not confirmed), not_sent or failed.
    pub state: String,
    /// not_sent_by_guide, not_confirmed_by_guide, not_a_friend, quota_used,
    /// not_sendable, refused_by_wecom, outcome_unknown.
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GroupPullDetail {
    pub pull: GroupPull,
    pub guides: Vec<GuidePullResult>,
    /// At most 1,000.
    pub unsent: Vec<UnsentCustomer>,
}

/// A code's invitation after a first order, with how many it made.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FirstOrderInviteView {
    pub code_id: i64,
    /// `None` until the operator sets one.
    pub invite: Option<FirstOrderInvite>,
    pub link_url: String,
    /// Customers invited so far.
    pub invited: i64,
}

fn invalid(field: &str, code: &str, message: impl Into<String>) -> EngineError {
    ValidationError::one(field, code, message).into()
}

/// Where a code's invitation links: a nearest-store code's landing page
/// (under koi's public URL), any other code's WeCom QR.
pub fn invitation_link(code: &GroupCode, public_url: &str) -> Option<String> {
    let base = public_url.trim_end_matches('/');
    code.landing_path.as_ref().map(|p| format!("{base}{p}")).or_else(|| code.qr_code.clone().filter(|q| !q.is_empty()))
}

fn content(text: &str, code_name: &str, url: &str) -> String {
    let c = GuideContent {
        text: text.to_string(),
        link: Some(GuideLink { title: code_name.to_string(), desc: "扫码进群".into(), url: url.to_string() }),
        attachments: Vec::new(),
    };
    serde_json::to_string(&c).expect("guide content is plain data")
}

impl Engine {
    /// The corp's pulls, newest first, with their totals.
    pub async fn group_pulls(&self, who: &Principal) -> Result<Vec<GroupPull>> {
        require(who, Action::ViewGroups)?;
        let mut out = Vec::new();
        for row in self.db.group_pulls(who.corp_id, PULLS_LIMIT).await? {
            let guides = self.pull_guides(&row).await?;
            out.push(pull_view(row, &guides));
        }
        Ok(out)
    }

    /// A pull with its numbers per guide and the customers not sent.
    pub async fn group_pull(&self, who: &Principal, id: i64) -> Result<GroupPullDetail> {
        require(who, Action::ViewGroups)?;
        let row = self.db.group_pull(who.corp_id, id).await?.ok_or(EngineError::NotFound("group pull"))?;
        let guides = self.pull_guides(&row).await?;
        let unsent = self
            .db
            .pull_unsent(who.corp_id, id, UNSENT_LIMIT)
            .await?
            .into_iter()
            .map(|u| UnsentCustomer {
                customer_id: u.customer_id,
                customer_name: u.customer_name,
                staff_id: u.staff_id,
                staff_name: u.staff_name,
                state: u.state,
                reason: u.reason,
            })
            .collect();
        Ok(GroupPullDetail { pull: pull_view(row, &guides), guides, unsent })
    }

    async fn pull_guides(&self, row: &GroupPullRow) -> Result<Vec<GuidePullResult>> {
        // A nearest-store code's customers join the groups of its stores' codes.
        let mut code_ids = vec![row.code_id];
        if let Some(code) = self.db.group_code(row.corp_id, row.code_id).await? {
            if let Ok(s) = settings_of(&code) {
                if s.code_type == GroupCodeType::NearestStore {
                    code_ids.extend(s.stores.iter().map(|m| m.code_id));
                }
            }
        }
        let rows = self.db.pull_results(row.corp_id, row.id, &code_ids, row.started_at / 1000).await?;
        let tasks = self.db.guide_tasks_of(row.corp_id, PULL_PURPOSE, row.id).await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let mine: Vec<&str> =
                    tasks.iter().filter(|t| t.staff_id == r.staff_id).map(|t| t.state.as_str()).collect();
                let task_state = mine.iter().find(|s| **s != "created").or(mine.first()).unwrap_or(&"").to_string();
                GuidePullResult {
                    waiting: r.planned - r.sent - r.not_sent - r.failed,
                    staff_id: r.staff_id,
                    userid: r.userid,
                    name: r.name,
                    planned: r.planned,
                    sent: r.sent,
                    not_sent: r.not_sent,
                    failed: r.failed,
                    joined: r.joined,
                    task_state,
                }
            })
            .collect())
    }

    /// Starts a pull: the segment's customers, each once under the guide of
    /// their most recent live follow, one task per guide (more past 10,000
    /// customers), all planned in one transaction with the jobs that create
    /// them in WeCom.
    pub async fn create_group_pull(&self, who: &Principal, draft: &GroupPullDraft) -> Result<GroupPullDetail> {
        require(who, Action::ManageGroups)?;
        let d = draft.validate()?;
        let segment = self
            .db
            .segment(who.corp_id, d.segment_id)
            .await?
            .ok_or_else(|| invalid("segment_id", "unknown_segment", "no such segment"))?;
        let code = match self.group_code(who, d.code_id).await {
            Ok(c) => c.code,
            Err(EngineError::NotFound(_)) => return Err(invalid("code_id", "unknown_code", "no such group code")),
            Err(e) => return Err(e),
        };
        let link = invitation_link(&code, &self.settings.public_url)
            .ok_or_else(|| invalid("code_id", "no_link", "the group code has no QR or landing page yet"))?;
        let customers =
            self.segment_customer_ids(who, &crate::customers::SegmentInput::Text(segment.expr.clone())).await?;
        let guides = self.db.guides_of(who.corp_id, &customers).await?;
        if guides.is_empty() {
            return Err(invalid("segment_id", "no_customers", "the segment has no customers with a guide"));
        }
        let unfollowed = customers.len() - guides.len();
        let senders: std::collections::HashMap<i64, String> =
            guides.iter().map(|g| (g.staff_id, g.userid.clone())).collect();
        let planned = guides.len();
        let shares = split_by_guide(
            guides.into_iter().map(|g| (g.staff_id, (g.customer_id, g.external_userid))).collect(),
            MAX_TASK_CUSTOMERS,
        );
        let now = now_ms();
        let body = content(&d.text, &code.name, &link);
        let mut tx = self.db.begin().await?;
        let id = tx
            .insert_group_pull(&NewGroupPull {
                corp_id: who.corp_id,
                name: &d.name,
                segment_id: segment.id,
                segment_name: &segment.name,
                expr: &segment.expr,
                code_id: code.id,
                code_name: &code.name,
                text: &d.text,
                link_url: &link,
                planned: planned as i32,
                unfollowed: unfollowed as i32,
                created_by: &actor(who),
                started_at: now,
            })
            .await?;
        for s in &shares {
            let task = NewGuideTask {
                corp_id: who.corp_id,
                purpose: PULL_PURPOSE,
                purpose_id: id,
                staff_id: s.staff_id,
                sender: &senders[&s.staff_id],
                part: s.part,
                content: &body,
                recipients: &s.customers,
                now,
            };
            plan_guide_task(&mut tx, &task).await?;
        }
        let payload = serde_json::json!({ "name": d.name, "segment_id": segment.id, "code_id": code.id,
            "planned": planned, "guides": senders.len() });
        let e = NewEvent {
            corp_id: who.corp_id,
            kind: "group_pull.created",
            subject: &format!("group_pull:{id}"),
            actor: &actor(who),
            payload: &payload.to_string(),
            dedup_key: None,
            occurred_at: now,
        };
        tx.append_event(&e, now).await?;
        tx.commit().await?;
        self.group_pull(who, id).await
    }

    /// Reads the pull's results from WeCom now instead of at the next
    /// scheduled read; returns how many guide tasks are read.
    pub async fn refresh_group_pull(&self, who: &Principal, id: i64) -> Result<usize> {
        require(who, Action::ManageGroups)?;
        self.db.group_pull(who.corp_id, id).await?.ok_or(EngineError::NotFound("group pull"))?;
        self.read_guide_tasks_now(who.corp_id, PULL_PURPOSE, id).await
    }

    /// A code's invitation after a first order.
    pub async fn first_order_invite(&self, who: &Principal, code_id: i64) -> Result<FirstOrderInviteView> {
        require(who, Action::ViewGroups)?;
        self.group_code(who, code_id).await?; // visibility
        let row = self.db.first_order_invite(who.corp_id, code_id).await?;
        let invited = self.db.first_order_invitations(who.corp_id, code_id).await?;
        Ok(invite_view(code_id, row, invited))
    }

    /// Sets (replaces) a code's invitation after a first order.
    pub async fn set_first_order_invite(
        &self,
        who: &Principal,
        code_id: i64,
        draft: &FirstOrderInvite,
    ) -> Result<FirstOrderInviteView> {
        require(who, Action::ManageGroups)?;
        let d = draft.validate()?;
        let code = self.group_code(who, code_id).await?.code;
        let link = invitation_link(&code, &self.settings.public_url)
            .ok_or_else(|| invalid("code_id", "no_link", "the group code has no QR or landing page yet"))?;
        let kinds: Vec<&str> = d.from_kinds.iter().map(|k| k.as_str()).collect();
        let row = FirstOrderInviteRow {
            code_id,
            corp_id: who.corp_id,
            from_kinds: serde_json::to_string(&kinds).expect("kinds are strings"),
            text: d.text.clone(),
            link_url: link,
            enabled: d.enabled,
            updated_at: now_ms(),
        };
        let mut tx = self.db.begin().await?;
        tx.set_first_order_invite(&row).await?;
        tx.commit().await?;
        self.first_order_invite(who, code_id).await
    }
}

/// A customer's first order arrived (inside its transaction): each code
/// whose invitation names a kind of group the customer is a present member
/// of invites them through their guide, once per customer per code.
pub(crate) async fn invite_after_first_order(tx: &mut Tx, corp_id: i64, customer_id: i64) -> Result<()> {
    let invites = tx.live_first_order_invites(corp_id).await?;
    if invites.is_empty() {
        return Ok(());
    }
    let Some(guide) = tx.guide_of(corp_id, customer_id).await? else {
        return Ok(()); // nobody to send it
    };
    let now = now_ms();
    for inv in invites {
        let kinds: Vec<String> = serde_json::from_str(&inv.from_kinds).unwrap_or_default();
        if !tx.in_group_of_kinds(corp_id, customer_id, &kinds).await?
            || tx.in_group_of_code(corp_id, customer_id, inv.code_id).await?
        {
            continue; // not in an education group, or in the paid group already
        }
        let Some(invitation) =
            tx.insert_first_order_invitation(corp_id, inv.code_id, customer_id, guide.staff_id, now).await?
        else {
            continue; // invited to this code before
        };
        let code_name = tx.group_code_name(corp_id, inv.code_id).await?.unwrap_or_default();
        let body = content(&inv.text, &code_name, &inv.link_url);
        let recipients = [(customer_id, guide.external_userid.clone())];
        let task = NewGuideTask {
            corp_id,
            purpose: FIRST_ORDER_PURPOSE,
            purpose_id: invitation,
            staff_id: guide.staff_id,
            sender: &guide.userid,
            part: 0,
            content: &body,
            recipients: &recipients,
            now,
        };
        plan_guide_task(tx, &task).await?;
    }
    Ok(())
}

fn invite_view(code_id: i64, row: Option<FirstOrderInviteRow>, invited: i64) -> FirstOrderInviteView {
    let link_url = row.as_ref().map(|r| r.link_url.clone()).unwrap_or_default();
    let invite = row.map(|r| FirstOrderInvite {
        enabled: r.enabled,
        from_kinds: serde_json::from_str::<Vec<String>>(&r.from_kinds)
            .unwrap_or_default()
            .iter()
            .filter_map(|k| GroupKind::parse(k))
            .collect(),
        text: r.text,
    });
    FirstOrderInviteView { code_id, invite, link_url, invited }
}

fn pull_view(row: GroupPullRow, guides: &[GuidePullResult]) -> GroupPull {
    GroupPull {
        id: row.id,
        name: row.name,
        segment_id: row.segment_id,
        segment_name: row.segment_name,
        expr: row.expr,
        code_id: row.code_id,
        code_name: row.code_name,
        text: row.text,
        link_url: row.link_url,
        planned: i64::from(row.planned),
        unfollowed: i64::from(row.unfollowed),
        sent: guides.iter().map(|g| g.sent).sum(),
        joined: guides.iter().map(|g| g.joined).sum(),
        created_by: row.created_by,
        started_at: row.started_at,
    }
}
