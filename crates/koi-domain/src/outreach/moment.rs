//! A moments post (客户朋友圈) as the operator asks for it: WeCom posts it
//! as a task each chosen guide publishes from the client, visible to their
//! customers carrying the chosen tags. Text ≤ 2,000 characters and either up
//! to 9 images, or one video, or one link.

use serde::{Deserialize, Serialize};

use crate::error::{Checker, ValidationError};

pub const MAX_TEXT_CHARS: usize = 2_000;
pub const MAX_IMAGES: usize = 9;

/// What goes with the text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MomentMedia {
    None,
    /// Image URLs (uploaded to WeCom when posted), 1..=9.
    Images { urls: Vec<String> },
    Link { title: String, url: String },
    /// A video uploaded to WeCom beforehand.
    Video { media_id: String },
}

/// A moments post.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MomentDraft {
    pub name: String,
    #[serde(default)]
    pub text: String,
    pub media: MomentMedia,
    /// Guides who post it; with `store_ids`, none means every guide.
    #[serde(default)]
    pub staff_ids: Vec<i64>,
    /// The guides of these stores post it too.
    #[serde(default)]
    pub store_ids: Vec<i64>,
    /// Customers carrying any of these tags see it; none: all the guides' customers.
    #[serde(default)]
    pub tag_ids: Vec<i64>,
}

fn http(v: &str) -> bool {
    (v.starts_with("https://") || v.starts_with("http://")) && v.len() <= 2_000
}

impl MomentDraft {
    pub fn validate(&self) -> Result<MomentDraft, ValidationError> {
        let mut c = Checker::default();
        let mut d = self.clone();
        d.name = c.text("name", &self.name, 60, true);
        d.text = c.text("text", &self.text, MAX_TEXT_CHARS, false);
        match &self.media {
            MomentMedia::None if d.text.is_empty() => c.push("text", "required", "a text or media is required"),
            MomentMedia::Images { urls } => {
                if urls.is_empty() || urls.len() > MAX_IMAGES {
                    c.push("media.urls", "out_of_range", "1 to 9 images");
                }
                if urls.iter().any(|u| !http(u)) {
                    c.push("media.urls", "invalid_url", "image URLs must be http(s)");
                }
            }
            MomentMedia::Link { title, url } => {
                if title.trim().is_empty() || title.len() > 128 {
                    c.push("media.title", "required", "a link title of at most 128 bytes");
                }
                if !http(url) {
                    c.push("media.url", "invalid_url", "the link must be an http(s) URL");
                }
            }
            MomentMedia::Video { media_id } if media_id.trim().is_empty() => {
                c.push("media.media_id", "required", "the video's media id is required");
            }
            _ => {}
        }
        d.staff_ids.sort_unstable();
        d.staff_ids.dedup();
        d.store_ids.sort_unstable();
        d.store_ids.dedup();
        d.tag_ids.sort_unstable();
        d.tag_ids.dedup();
        c.finish(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_links_and_videos_follow_wecoms_shapes() {
        let mut d = MomentDraft {
            name: "New season".into(),
            text: "新品上市".into(),
            media: MomentMedia::Images { urls: vec!["https://x/1.jpg".into(); 10] },
            staff_ids: vec![2, 1, 2],
            store_ids: vec![],
            tag_ids: vec![],
        };
        assert_eq!(d.validate().unwrap_err().0[0].code, "out_of_range");
        d.media = MomentMedia::Link { title: "t".into(), url: "https://x".into() };
        assert_eq!(d.validate().expect("valid").staff_ids, [1, 2]);
        d.media = MomentMedia::None;
        d.text = "".into();
        assert_eq!(d.validate().unwrap_err().0[0].code, "required");
    }
}
