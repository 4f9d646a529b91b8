//! Welcome messages: the job that greets a customer after an add, and what
//! it leaves on the timeline.

use super::*;

impl Engine {
    /// Sends a welcome, before its transaction. Returns what to record.
    pub(crate) async fn send_welcome(&self, job: &ClaimedJob) -> std::result::Result<serde_json::Value, String> {
        let corp_id = job.corp_id.ok_or("the job has no corp")?;
        let w: WelcomeJob = serde_json::from_str(&job.payload).map_err(|e| format!("bad payload: {e}"))?;
        let now = now_ms();
        if now >= w.deadline {
            return Ok(serde_json::json!({ "outcome": "expired", "customer_id": w.customer_id, "code_id": w.code_id }));
        }
        let code =
            self.db.channel_code(corp_id, w.code_id).await.map_err(|e| e.to_string())?.ok_or("the code is gone")?;
        let draft = &code.draft;
        let variant = draft.welcome.get(w.variant).ok_or("the welcome variant is gone")?;
        let customer = self.db.customer(corp_id, w.customer_id).await.map_err(|e| e.to_string())?;
        let staff = self.db.staff(corp_id, w.staff_id).await.map_err(|e| e.to_string())?;
        let store = match code.store_id {
            Some(s) => self.db.store(corp_id, s).await.map_err(|e| e.to_string())?.map(|s| s.name),
            None => None,
        };
        let vars = WelcomeVars {
            customer_name: customer.map(|c| c.name).unwrap_or_default(),
            guide_name: staff.map(|s| s.name).unwrap_or_default(),
            store_name: store.unwrap_or_default(),
        };
        let text = render(&variant.text, &vars);
        let attachments: Vec<WecomAttachment> = variant.attachments.iter().map(wecom_attachment).collect();
        let req = SendWelcomeMsgRequest {
            welcome_code: w.welcome_code.clone(),
            text: (!text.is_empty()).then(|| Text::new(text)),
            attachments: (!attachments.is_empty()).then_some(attachments),
        };
        let left = std::time::Duration::from_millis((w.deadline - now).max(0) as u64);
        let priority = Priority::Welcome { deadline: koi_wecom::client::Instant::now() + left };
        let client = self.wecom_for(corp_id).await?;
        let outcome = match client.send_welcome_msg(&req, priority).await {
            Ok(()) => "sent",
            Err(e) if e.is(ErrCode::WELCOME_ALREADY_SENT) => "already_sent",
            Err(e) if e.is(ErrCode::WELCOME_CODE_INVALID) => "expired",
            // 41096 (another app is sending) and transient failures: retry
            // while the code lives; the job backs off 1 s, 2 s, 4 s…
            Err(e) => return Err(e.to_string()),
        };
        Ok(serde_json::json!({
            "outcome": outcome, "customer_id": w.customer_id, "code_id": w.code_id, "variant": w.variant,
            "userid": w.userid,
        }))
    }

    pub(crate) async fn record_welcome(
        &self,
        job: &ClaimedJob,
        result: &serde_json::Value,
        tx: &mut Tx,
    ) -> std::result::Result<(), String> {
        let kind = match result["outcome"].as_str() {
            Some("sent") => "welcome.sent",
            _ => "welcome.not_sent",
        };
        on_timeline(job, kind, result, tx).await
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

/// Records what a job did to a customer on their timeline, once per job.
async fn on_timeline(
    job: &ClaimedJob,
    kind: &str,
    result: &serde_json::Value,
    tx: &mut Tx,
) -> std::result::Result<(), String> {
    let corp_id = job.corp_id.ok_or("the job has no corp")?;
    let customer = result["customer_id"].as_i64().unwrap_or_default();
    let now = now_ms();
    let e = NewEvent {
        corp_id,
        kind,
        subject: &format!("customer:{customer}"),
        actor: "koi",
        payload: &result.to_string(),
        dedup_key: Some(&format!("{kind}:{}", job.id)),
        occurred_at: now,
    };
    tx.append_event(&e, now).await.map_err(|e| e.to_string())?;
    Ok(())
}
