//! Welcome messages: the job that greets a customer after an add, and what
//! it leaves on the timeline.

use crate::jobs::{Job, JobCtx, JobError, JobResult};
use crate::Engine;
use koi_domain::channel::{render, Attachment, WelcomeVars};
use koi_domain::jobs::priority;
use koi_store::events::NewEvent;
use koi_store::jobs::JobEnd;
use koi_store::{now_ms, Tx};
use koi_wecom::client::{
    Attachment as WecomAttachment, Image, Link, MiniProgram, Priority, SendWelcomeMsgRequest, Text,
};
use koi_wecom::ErrCode;
use serde::{Deserialize, Serialize};

/// Job: send the welcome message of an add, inside its 20 s window.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct WelcomeJob {
    pub code_id: i64,
    pub customer_id: i64,
    pub staff_id: i64,
    pub userid: String,
    pub welcome_code: String,
    pub deadline: i64,
    pub variant: usize,
    /// The customer's wallet (path and token) when the code issued them a
    /// welcome coupon: the welcome carries it as a link.
    #[serde(default)]
    pub wallet_url: Option<String>,
}

/// What became of a welcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Greeting {
    Sent,
    AlreadySent,
    /// WeCom says the welcome code died (20 s after the add).
    Expired,
    /// The deadline passed before koi could try: no variant was shown.
    TooLate,
}

impl Greeting {
    fn as_str(self) -> &'static str {
        match self {
            Greeting::Sent => "sent",
            Greeting::AlreadySent => "already_sent",
            Greeting::Expired | Greeting::TooLate => "expired",
        }
    }
}

impl Job for WelcomeJob {
    const KIND: &'static str = "acquire.welcome";
    const PRIORITY: i32 = priority::WELCOME;
    /// Retries are cheap and the window short: a welcome backs off 1 s,
    /// 2 s, 4 s… and stops at its deadline anyway.
    const MAX_ATTEMPTS: i32 = 20;
    type Prepared = Greeting;

    /// Sends the welcome, before its transaction.
    async fn prepare(&self, engine: &Engine, ctx: &JobCtx) -> JobResult<Greeting> {
        let corp_id = ctx.corp_id;
        let now = now_ms();
        if now >= self.deadline {
            return Ok(Greeting::TooLate);
        }
        let code = engine.db.channel_code(corp_id, self.code_id).await?;
        let code = code.ok_or_else(|| JobError::Done("the channel code is gone".into()))?;
        let variant =
            code.draft.welcome.get(self.variant).ok_or_else(|| JobError::Done("the welcome variant is gone".into()))?;
        let customer = engine.db.customer(corp_id, self.customer_id).await?;
        let staff = engine.db.staff(corp_id, self.staff_id).await?;
        let store = match code.store_id {
            Some(s) => engine.db.store(corp_id, s).await?.map(|s| s.name),
            None => None,
        };
        let vars = WelcomeVars {
            customer_name: customer.map(|c| c.name).unwrap_or_default(),
            guide_name: staff.map(|s| s.name).unwrap_or_default(),
            store_name: store.unwrap_or_default(),
        };
        let text = render(&variant.text, &vars);
        let mut attachments: Vec<WecomAttachment> = variant.attachments.iter().map(wecom_attachment).collect();
        if let Some(path) = &self.wallet_url {
            // WeCom takes at most 9 attachments: the wallet replaces the last.
            attachments.truncate(koi_domain::channel::MAX_ATTACHMENTS - 1);
            let url = format!("{}{path}", engine.settings.public_url.trim_end_matches('/'));
            let title = "你的新人券已到账 · 点击查看券包".to_string();
            attachments.push(wecom_attachment(&Attachment::CouponLink { title, url }));
        }
        let req = SendWelcomeMsgRequest {
            welcome_code: self.welcome_code.clone(),
            text: (!text.is_empty()).then(|| Text::new(text)),
            attachments: (!attachments.is_empty()).then_some(attachments),
        };
        let left = std::time::Duration::from_millis((self.deadline - now).max(0) as u64);
        let priority = Priority::Welcome { deadline: koi_wecom::client::Instant::now() + left };
        let client = engine.wecom_for(corp_id).await?;
        match client.send_welcome_msg(&req, priority).await {
            Ok(()) => Ok(Greeting::Sent),
            Err(e) if e.is(ErrCode::WELCOME_ALREADY_SENT) => Ok(Greeting::AlreadySent),
            Err(e) if e.is(ErrCode::WELCOME_CODE_INVALID) => Ok(Greeting::Expired),
            // 41096 (another app is sending) and transient failures: retry
            // while the code lives; the job backs off 1 s, 2 s, 4 s…
            Err(e) => Err(e.into()),
        }
    }

    /// Puts the welcome on the customer's timeline, once per job.
    async fn record(&self, _: &Engine, ctx: &JobCtx, sent: Greeting, tx: &mut Tx) -> JobResult<JobEnd> {
        let kind = match sent {
            Greeting::Sent => "welcome.sent",
            Greeting::AlreadySent | Greeting::Expired | Greeting::TooLate => "welcome.not_sent",
        };
        let mut result = serde_json::json!({
            "outcome": sent.as_str(), "customer_id": self.customer_id, "code_id": self.code_id,
        });
        if sent != Greeting::TooLate {
            result["variant"] = self.variant.into();
            result["userid"] = self.userid.clone().into();
        }
        let now = now_ms();
        let e = NewEvent {
            corp_id: ctx.corp_id,
            kind,
            subject: &format!("customer:{}", self.customer_id),
            actor: "koi",
            payload: &result.to_string(),
            dedup_key: Some(&format!("{kind}:{}", ctx.id)),
            occurred_at: now,
        };
        tx.append_event(&e, now).await?;
        Ok(JobEnd::Done)
    }

    fn customer(&self) -> Option<i64> {
        Some(self.customer_id)
    }
}

/// A welcome attachment as WeCom takes it. A coupon is koi's own page,
/// sent as a link card.
fn wecom_attachment(a: &Attachment) -> WecomAttachment {
    match a {
        Attachment::Image { url, media_id } => {
            WecomAttachment::Image { image: Image { media_id: media_id.clone(), pic_url: url.clone() } }
        }
        Attachment::Link { title, url, desc, pic_url } => WecomAttachment::Link {
            link: Link {
                title: title.clone(),
                picurl: (!pic_url.is_empty()).then(|| pic_url.clone()),
                desc: (!desc.is_empty()).then(|| desc.clone()),
                url: url.clone(),
                media_id: None,
            },
        },
        Attachment::Miniprogram { title, appid, page, pic_media_id } => WecomAttachment::Miniprogram {
            miniprogram: MiniProgram {
                title: title.clone(),
                pic_media_id: pic_media_id.clone(),
                appid: appid.clone(),
                page: page.clone(),
            },
        },
        Attachment::CouponLink { title, url } => WecomAttachment::Link {
            link: Link { title: title.clone(), picurl: None, desc: None, url: url.clone(), media_id: None },
        },
    }
}
