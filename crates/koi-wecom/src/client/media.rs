//! Media (素材): `media/upload` makes a temporary `media_id` of an image,
//! voice, video or file, valid for 3 days, that messages and mass messages
//! attach; `media/uploadimg` makes a permanent image URL (for articles and
//! link cards). Both take the file as `multipart/form-data` in a part named
//! `media`.
//!
//! WeCom's limits (checked by WeCom, mirrored by the simulator): every file
//! is at least 5 bytes; an image is JPG or PNG up to 10 MB (uploadimg: up to
//! 2 MB); a voice is AMR up to 2 MB; a video is MP4 up to 10 MB; a file is
//! anything up to 20 MB.

use serde::{Deserialize, Deserializer, Serialize};

use super::{ApiError, CorpClient, Priority};

/// How long a temporary `media_id` lives.
pub const MEDIA_TTL_S: i64 = 3 * 24 * 3600;

/// Smallest file WeCom takes, in bytes.
pub const MEDIA_MIN_BYTES: usize = 5;

/// What a temporary upload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaType {
    Image,
    Voice,
    Video,
    File,
}

impl MediaType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Voice => "voice",
            Self::Video => "video",
            Self::File => "file",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "image" => Self::Image,
            "voice" => Self::Voice,
            "video" => Self::Video,
            "file" => Self::File,
            _ => return None,
        })
    }

    /// The largest file WeCom takes for this type, in bytes.
    pub fn max_bytes(self) -> usize {
        match self {
            Self::Image | Self::Video => 10 * 1024 * 1024,
            Self::Voice => 2 * 1024 * 1024,
            Self::File => 20 * 1024 * 1024,
        }
    }
}

/// The largest image `media/uploadimg` takes, in bytes.
pub const UPLOADIMG_MAX_BYTES: usize = 2 * 1024 * 1024;

/// One file to upload.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadFile {
    /// The name WeCom shows for a file attachment.
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

impl UploadFile {
    /// The `Content-Type` header and the body of a `multipart/form-data`
    /// request with the file in the part named `media`.
    pub(crate) fn multipart_body(&self) -> (String, Vec<u8>) {
        // A boundary that cannot occur in the file: try until it does not.
        let mut n: u64 = 0x6b6f_6930;
        let boundary = loop {
            let b = format!("----koi-media-{n:016x}");
            if !contains(&self.bytes, b.as_bytes()) {
                break b;
            }
            n = n.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        };
        let name: String =
            self.filename.chars().map(|c| if c == '"' || c == '\r' || c == '\n' { '_' } else { c }).collect();
        let mut body = Vec::with_capacity(self.bytes.len() + 256);
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        body.extend_from_slice(
            format!(
                "Content-Disposition: form-data; name=\"media\"; filename=\"{name}\"; filelength={}\r\n",
                self.bytes.len()
            )
            .as_bytes(),
        );
        body.extend_from_slice(format!("Content-Type: {}\r\n\r\n", self.content_type).as_bytes());
        body.extend_from_slice(&self.bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        (format!("multipart/form-data; boundary={boundary}"), body)
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// `media/upload`'s answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UploadMediaResponse {
    #[serde(rename = "type")]
    pub kind: String,
    pub media_id: String,
    /// Unix seconds. WeCom sends it as a string; either is read.
    #[serde(deserialize_with = "seconds")]
    pub created_at: i64,
}

/// `media/uploadimg`'s answer: the image's permanent URL.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UploadImageResponse {
    pub url: String,
}

fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        N(i64),
        S(String),
    }
    match Either::deserialize(d)? {
        Either::N(n) => Ok(n),
        Either::S(s) => s.trim().parse().map_err(serde::de::Error::custom),
    }
}

impl CorpClient {
    /// POST `media/upload?type=`: a temporary `media_id` (3 days) for a file.
    pub async fn upload_media(
        &self,
        kind: MediaType,
        file: &UploadFile,
        priority: Priority,
    ) -> Result<UploadMediaResponse, ApiError> {
        self.upload("/media/upload", &[("type", kind.as_str())], file, priority).await
    }

    /// POST `media/uploadimg`: a permanent URL for an image.
    pub async fn upload_image(&self, file: &UploadFile, priority: Priority) -> Result<UploadImageResponse, ApiError> {
        self.upload("/media/uploadimg", &(), file, priority).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_multipart_body_carries_the_file_in_the_media_part() {
        let f = UploadFile {
            filename: "a\"b.png".into(),
            content_type: "image/png".into(),
            bytes: b"\x89PNG-data".to_vec(),
        };
        let (ct, body) = f.multipart_body();
        let boundary = ct.strip_prefix("multipart/form-data; boundary=").expect("a boundary");
        let text = String::from_utf8_lossy(&body);
        assert!(text.starts_with(&format!("--{boundary}\r\n")));
        assert!(text.contains("name=\"media\"; filename=\"a_b.png\"; filelength=9"));
        assert!(text.contains("Content-Type: image/png\r\n\r\n\u{fffd}PNG-data\r\n"));
        assert!(text.ends_with(&format!("\r\n--{boundary}--\r\n")));
    }

    #[test]
    fn created_at_is_read_as_a_string_or_a_number() {
        let a: UploadMediaResponse =
            serde_json::from_str(r#"{"type":"image","media_id":"M","created_at":"1380000000"}"#).expect("string");
        let b: UploadMediaResponse =
            serde_json::from_str(r#"{"type":"image","media_id":"M","created_at":1380000000}"#).expect("number");
        assert_eq!(a.created_at, 1_380_000_000);
        assert_eq!(a, b);
    }
}
