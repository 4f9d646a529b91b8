//! Message content shared by welcome messages, mass messages and moments:
//! a text part plus up to nine attachments, each tagged by `msgtype`.

use serde::{Deserialize, Serialize};

/// `text{content}`. WeCom caps the content in bytes (4000 for welcome and
/// mass messages, 2000 for moments), not characters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Text {
    pub content: String,
}

impl Text {
    pub fn new(content: impl Into<String>) -> Self {
        Self { content: content.into() }
    }
}

/// One attachment. On the wire: `{"msgtype":"image","image":{…}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "msgtype", rename_all = "lowercase")]
pub enum Attachment {
    Image { image: Image },
    Link { link: Link },
    Miniprogram { miniprogram: MiniProgram },
    Video { video: Video },
    File { file: File },
}

/// An image by uploaded `media_id` or by `pic_url`; one of the two.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Image {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pic_url: Option<String>,
}

/// A link card: title ≤128 bytes, desc ≤512 bytes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Link {
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub picurl: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desc: Option<String>,
    pub url: String,
    /// Moments take the cover as an uploaded image instead of `picurl`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_id: Option<String>,
}

/// A mini-program card: title ≤64 bytes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MiniProgram {
    pub title: String,
    pub pic_media_id: String,
    pub appid: String,
    pub page: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Video {
    pub media_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct File {
    pub media_id: String,
}

impl Attachment {
    pub fn image_media(media_id: impl Into<String>) -> Self {
        Self::Image { image: Image { media_id: Some(media_id.into()), pic_url: None } }
    }

    pub fn image_url(pic_url: impl Into<String>) -> Self {
        Self::Image { image: Image { media_id: None, pic_url: Some(pic_url.into()) } }
    }

    pub fn link(link: Link) -> Self {
        Self::Link { link }
    }

    pub fn miniprogram(miniprogram: MiniProgram) -> Self {
        Self::Miniprogram { miniprogram }
    }

    pub fn video(media_id: impl Into<String>) -> Self {
        Self::Video { video: Video { media_id: media_id.into() } }
    }

    pub fn file(media_id: impl Into<String>) -> Self {
        Self::File { file: File { media_id: media_id.into() } }
    }
}
