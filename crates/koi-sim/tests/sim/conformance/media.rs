//! Media and the JS-SDK's tickets, through koi's client: `media/upload`
//! reads the format from the bytes and keeps WeCom's size limits; a
//! mass message attaching a media_id older than 3 days (or one never
//! made) is refused with 40007; `media/uploadimg` answers a URL; the
//! tickets are the same until they expire and their fetches are limited.

use super::{wecom_code, Rig, NOW};
use koi_sim::Limits;
use koi_wecom::client::{self as wecom, BudgetConfig, MediaType, UploadFile};
use koi_wecom::ErrCode;

fn png(extra: usize) -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
    b.extend(std::iter::repeat_n(7u8, extra));
    b
}

fn file(name: &str, content_type: &str, bytes: Vec<u8>) -> UploadFile {
    UploadFile { filename: name.into(), content_type: content_type.into(), bytes }
}

#[tokio::test]
async fn media_uploads_keep_wecom_s_types_sizes_and_three_days() {
    let rig = Rig::start().await;
    let corp = &rig.corp;
    let image = corp.upload_media(MediaType::Image, &file("a.png", "image/png", png(100)), NOW).await.expect("image");
    assert_eq!(image.kind, "image");
    assert!(!image.media_id.is_empty());
    assert!(image.created_at > 1_600_000_000, "unix seconds: {}", image.created_at);
    let pdf = corp
        .upload_media(MediaType::File, &file("价目表.pdf", "application/pdf", b"%PDF-1.4 x".to_vec()), NOW)
        .await
        .expect("file");

    // The format is read from the bytes: a PDF named .png is no image.
    let fake = file("b.png", "image/png", b"%PDF-1.4 not an image".to_vec());
    assert_eq!(wecom_code(corp.upload_media(MediaType::Image, &fake, NOW).await), ErrCode::INVALID_FILE_TYPE);
    let tiny = file("c.png", "image/png", b"\x89PN".to_vec());
    assert_eq!(wecom_code(corp.upload_media(MediaType::Image, &tiny, NOW).await), ErrCode::INVALID_FILE_SIZE);
    let big = file("d.png", "image/png", png(10 * 1024 * 1024));
    assert_eq!(wecom_code(corp.upload_media(MediaType::Image, &big, NOW).await), ErrCode::INVALID_IMAGE_SIZE);
    let not_mp4 = file("e.mp4", "video/mp4", b"just some bytes".to_vec());
    assert_eq!(wecom_code(corp.upload_media(MediaType::Video, &not_mp4, NOW).await), ErrCode::INVALID_FILE_TYPE);
    let mut mp4 = vec![0, 0, 0, 0x18];
    mp4.extend_from_slice(b"ftypisom-rest-of-the-video");
    corp.upload_media(MediaType::Video, &file("f.mp4", "video/mp4", mp4), NOW).await.expect("an mp4");

    let url = corp.upload_image(&file("g.png", "image/png", png(50)), NOW).await.expect("uploadimg");
    assert!(url.url.starts_with("http"), "{}", url.url);
    let big = file("h.png", "image/png", png(2 * 1024 * 1024));
    assert_eq!(wecom_code(corp.upload_image(&big, NOW).await), ErrCode::INVALID_IMAGE_SIZE);

    // A mass message attaches them while they live, and not after 3 days.
    let way = rig.contact_way("media", &["guide01"]).await;
    let (a, _, _) = rig.scan(way.qr_code.as_deref().expect("qr"), "顾客A").await;
    let send = |attachments: Vec<wecom::Attachment>| wecom::AddMsgTemplateRequest {
        chat_type: Some(wecom::ChatType::Single),
        external_userid: Some(vec![a.clone()]),
        sender: Some("guide01".to_owned()),
        attachments: Some(attachments),
        ..Default::default()
    };
    let unknown = send(vec![wecom::Attachment::image_media("3never-uploaded")]);
    assert_eq!(wecom_code(corp.add_msg_template(&unknown, NOW).await), ErrCode::INVALID_MEDIA_ID);
    let both = send(vec![wecom::Attachment::image_media(&image.media_id), wecom::Attachment::file(&pdf.media_id)]);
    corp.add_msg_template(&both, NOW).await.expect("fresh media attach");
    rig.advance(3.0 * 24.0 * 3600.0 + 1.0).await;
    assert_eq!(wecom_code(corp.add_msg_template(&both, NOW).await), ErrCode::INVALID_MEDIA_ID, "expired");
    rig.shutdown().await;
}

#[tokio::test]
async fn jsapi_tickets_are_stable_until_they_expire_and_limited_per_hour() {
    let limits = Limits { jsapi_ticket_per_hour: 3, agent_ticket_per_hour: 2, ..Limits::default() };
    let rig = Rig::with(limits, BudgetConfig::default(), 0).await;
    let corp = &rig.corp;
    let one = corp.get_jsapi_ticket().await.expect("ticket");
    assert_eq!(one.expires_in, 7200);
    let agent = corp.get_agent_config_ticket().await.expect("agent ticket");
    assert_ne!(one.ticket, agent.ticket, "the corp's and the app's tickets differ");
    rig.advance(100.0).await;
    let two = corp.get_jsapi_ticket().await.expect("again");
    assert_eq!(two.ticket, one.ticket, "the same ticket while it lives");
    assert_eq!(two.expires_in, 7100);
    rig.advance(7200.0).await;
    let fresh = corp.get_jsapi_ticket().await.expect("a new hour");
    assert_ne!(fresh.ticket, one.ticket, "a new ticket after the old expired");
    corp.get_jsapi_ticket().await.expect("second this hour");
    corp.get_jsapi_ticket().await.expect("third this hour");
    assert_eq!(wecom_code(corp.get_jsapi_ticket().await), ErrCode::FREQUENCY_LIMITED, "over the hour's fetches");
    corp.get_agent_config_ticket().await.expect("agent, first this hour");
    corp.get_agent_config_ticket().await.expect("agent, second this hour");
    assert_eq!(wecom_code(corp.get_agent_config_ticket().await), ErrCode::FREQUENCY_LIMITED);
    rig.shutdown().await;
}
