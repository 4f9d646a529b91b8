//! Files uploaded to the material centre: what a file is (read from its
//! first bytes, never from its name), how large it may be, and when its
//! WeCom media_id (3 days) is uploaded again.

use super::script::MaterialKind;
use crate::ValidationError;

/// The formats the material centre takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Jpeg,
    Png,
    Pdf,
    Mp4,
}

/// The largest image or video: WeCom's limit for a temporary media, so
/// every uploaded material can be attached to a message.
pub const MAX_IMAGE_OR_VIDEO_BYTES: usize = 10 * 1024 * 1024;
/// The largest PDF (WeCom's limit for a file).
pub const MAX_PDF_BYTES: usize = 20 * 1024 * 1024;
/// The most a request to upload one may carry (the largest file plus its form).
pub const MAX_UPLOAD_BYTES: usize = MAX_PDF_BYTES + 64 * 1024;

/// A WeCom media_id lives 3 days; koi uploads again after this, so a task
/// created at the end of the window still names a live one when the guide
/// confirms it later that day.
pub const MEDIA_REUSE_MS: i64 = 2 * 24 * 3600 * 1000;

impl FileFormat {
    /// What the bytes are, by their signature.
    pub fn sniff(bytes: &[u8]) -> Option<FileFormat> {
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(FileFormat::Jpeg)
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(FileFormat::Png)
        } else if bytes.starts_with(b"%PDF-") {
            Some(FileFormat::Pdf)
        } else if bytes.get(4..8) == Some(b"ftyp") {
            Some(FileFormat::Mp4)
        } else {
            None
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            FileFormat::Jpeg => "image/jpeg",
            FileFormat::Png => "image/png",
            FileFormat::Pdf => "application/pdf",
            FileFormat::Mp4 => "video/mp4",
        }
    }

    /// The material kinds a file of this format can be.
    pub fn fits(self, kind: MaterialKind) -> bool {
        matches!(
            (self, kind),
            (
                FileFormat::Jpeg | FileFormat::Png,
                MaterialKind::Image | MaterialKind::Poster | MaterialKind::MiniProgram
            ) | (FileFormat::Pdf, MaterialKind::Pdf)
                | (FileFormat::Mp4, MaterialKind::Video)
        )
    }

    pub fn max_bytes(self) -> usize {
        match self {
            FileFormat::Pdf => MAX_PDF_BYTES,
            _ => MAX_IMAGE_OR_VIDEO_BYTES,
        }
    }

    /// WeCom's media type for it (`media/upload?type=`) and attachment.
    pub fn media_type(self) -> &'static str {
        match self {
            FileFormat::Jpeg | FileFormat::Png => "image",
            FileFormat::Pdf => "file",
            FileFormat::Mp4 => "video",
        }
    }

    /// The format of a stored content type.
    pub fn of_content_type(ct: &str) -> Option<FileFormat> {
        [FileFormat::Jpeg, FileFormat::Png, FileFormat::Pdf, FileFormat::Mp4]
            .into_iter()
            .find(|f| f.content_type() == ct)
    }
}

/// Checks an uploaded file for a material of `kind`: its format (by
/// content), that it fits the kind, and its size.
pub fn check_upload(kind: MaterialKind, bytes: &[u8]) -> Result<FileFormat, ValidationError> {
    if bytes.is_empty() {
        return Err(ValidationError::one("file", "required", "choose a file"));
    }
    let Some(format) = FileFormat::sniff(bytes) else {
        return Err(ValidationError::one("file", "unknown_format", "the file is not a JPG, PNG, PDF or MP4"));
    };
    if !format.fits(kind) {
        return Err(ValidationError::one(
            "file",
            "wrong_kind",
            format!("a {} file is not a {} material", format.content_type(), kind.as_str()),
        ));
    }
    if bytes.len() > format.max_bytes() {
        return Err(ValidationError::one(
            "file",
            "too_large",
            format!("at most {} MB", format.max_bytes() / (1024 * 1024)),
        ));
    }
    Ok(format)
}

/// A safe name for a file as shown to customers: no path, no quotes or
/// control characters, at most 64 characters; `fallback` when nothing is left.
pub fn clean_filename(name: &str, fallback: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = base.chars().filter(|c| !c.is_control() && !matches!(c, '"' | '\'' | ';')).take(64).collect();
    let clean = clean.trim().to_string();
    if clean.is_empty() || clean.chars().all(|c| c == '.') {
        fallback.to_string()
    } else {
        clean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_is_read_from_the_bytes_not_the_name() {
        assert_eq!(FileFormat::sniff(b"\x89PNG\r\n\x1a\nrest"), Some(FileFormat::Png));
        assert_eq!(FileFormat::sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some(FileFormat::Jpeg));
        assert_eq!(FileFormat::sniff(b"%PDF-1.7"), Some(FileFormat::Pdf));
        assert_eq!(FileFormat::sniff(b"\0\0\0\x18ftypmp42"), Some(FileFormat::Mp4));
        assert_eq!(FileFormat::sniff(b"<html>"), None);
        assert_eq!(check_upload(MaterialKind::Image, b"%PDF-1.7 x").unwrap_err().0[0].code, "wrong_kind");
        assert_eq!(check_upload(MaterialKind::Pdf, b"MZ\x90\0").unwrap_err().0[0].code, "unknown_format");
        assert_eq!(check_upload(MaterialKind::Pdf, b"").unwrap_err().0[0].code, "required");
        assert_eq!(check_upload(MaterialKind::Poster, b"\x89PNG\r\n\x1a\n"), Ok(FileFormat::Png));
        // A mini-program's file is its card's cover picture.
        assert_eq!(check_upload(MaterialKind::MiniProgram, b"\x89PNG\r\n\x1a\n"), Ok(FileFormat::Png));
        assert_eq!(check_upload(MaterialKind::MiniProgram, b"%PDF-1.7 x").unwrap_err().0[0].code, "wrong_kind");
        for f in [FileFormat::Jpeg, FileFormat::Png, FileFormat::Pdf, FileFormat::Mp4] {
            assert_eq!(FileFormat::of_content_type(f.content_type()), Some(f));
        }
    }

    #[test]
    fn files_over_the_limit_are_refused() {
        let mut big = b"%PDF-".to_vec();
        big.resize(MAX_PDF_BYTES + 1, b' ');
        assert_eq!(check_upload(MaterialKind::Pdf, &big).unwrap_err().0[0].code, "too_large");
        big.truncate(MAX_PDF_BYTES);
        assert!(check_upload(MaterialKind::Pdf, &big).is_ok());
        let mut video = b"\0\0\0\x18ftyp".to_vec();
        video.resize(MAX_IMAGE_OR_VIDEO_BYTES + 1, 0);
        assert_eq!(check_upload(MaterialKind::Video, &video).unwrap_err().0[0].code, "too_large");
    }

    #[test]
    fn file_names_lose_their_path_and_quotes() {
        assert_eq!(clean_filename("C:\\Users\\x\\新品手册.pdf", "f"), "新品手册.pdf");
        assert_eq!(clean_filename("../../etc/\"passwd\"", "f"), "passwd");
        assert_eq!(clean_filename("..", "material.pdf"), "material.pdf");
        assert_eq!(clean_filename("a\r\nb.png", "f"), "ab.png");
    }
}
