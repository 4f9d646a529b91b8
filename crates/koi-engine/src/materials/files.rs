//! Files of the material centre: an operator uploads an image, a PDF or a
//! video (checked by its content, `koi_domain::sop::material_file`); koi
//! keeps the bytes in the database (`material_files`, the same on SQLite
//! and PostgreSQL and on every node) and serves them at the material's
//! address `{public_url}/materials/file/{id}/{key}` and through its tracked
//! links `/m/{token}`. A message that attaches the material sends it as a
//! WeCom media_id, uploaded once and again when older than
//! [`MEDIA_REUSE_MS`] or when the file changed ([`Engine::wecom_material_attachment`];
//! a mini-program's file is its card's cover picture).

use crate::jobs::JobResult;
use crate::{require, Engine, EngineError, Principal, Result};
use koi_domain::access::Action;
use koi_domain::sop::material_file::{check_upload, clean_filename, FileFormat, MEDIA_REUSE_MS};
use koi_domain::sop::script::{MaterialDraft, MaterialKind};
use koi_store::material_files::{MaterialFile, NewMaterialFile, WecomMediaRow};
use koi_store::now_ms;
use koi_store::sop::MaterialWrite;
use koi_wecom::client::{Attachment, Link, MediaType, MiniProgram, Priority, UploadFile};
use sha2::{Digest, Sha256};

use super::Material;

/// Hex characters of the file's SHA-256 in its public address.
const KEY_LEN: usize = 16;

impl Engine {
    /// A new material made of an uploaded file: `draft.url` is ignored (the
    /// material's address is its file's).
    pub async fn create_material_with_file(
        &self,
        who: &Principal,
        mut draft: MaterialDraft,
        filename: &str,
        bytes: &[u8],
    ) -> Result<Material> {
        require(who, Action::ManageSops)?;
        draft.url = format!("{}/materials/file/0/0", self.settings.public_url.trim_end_matches('/'));
        let d = draft.validate()?;
        let format = check_upload(d.kind, bytes)?;
        let now = now_ms();
        let sha = hex::encode(Sha256::digest(bytes));
        let w = MaterialWrite {
            kind: d.kind.as_str(),
            folder: &d.folder,
            title: &d.title,
            url: "",
            description: &d.description,
            appid: &d.appid,
            page: &d.page,
            now,
        };
        let mut tx = self.db.begin().await?;
        let id = tx.insert_material(who.corp_id, &w).await?;
        self.put_file(&mut tx, who.corp_id, id, &w, format, filename, &sha, bytes, now).await?;
        tx.commit().await?;
        tracing::info!(corp_id = who.corp_id, material_id = id, size = bytes.len(), "material file uploaded");
        self.material(who, id).await
    }

    /// Replaces a material's file (its kind must take the file's format).
    pub async fn upload_material_file(
        &self,
        who: &Principal,
        material_id: i64,
        filename: &str,
        bytes: &[u8],
    ) -> Result<Material> {
        require(who, Action::ManageSops)?;
        let m = self.db.material(who.corp_id, material_id).await?.ok_or(EngineError::NotFound("material"))?;
        let kind = MaterialKind::parse(&m.kind).unwrap_or(MaterialKind::Article);
        let format = check_upload(kind, bytes)?;
        let now = now_ms();
        let sha = hex::encode(Sha256::digest(bytes));
        let w = MaterialWrite {
            kind: &m.kind,
            folder: &m.folder,
            title: &m.title,
            url: "",
            description: &m.description,
            appid: &m.appid,
            page: &m.page,
            now,
        };
        let mut tx = self.db.begin().await?;
        self.put_file(&mut tx, who.corp_id, m.id, &w, format, filename, &sha, bytes, now).await?;
        tx.commit().await?;
        self.material(who, m.id).await
    }

    #[allow(clippy::too_many_arguments)]
    async fn put_file(
        &self,
        tx: &mut koi_store::Tx,
        corp_id: i64,
        id: i64,
        w: &MaterialWrite<'_>,
        format: FileFormat,
        filename: &str,
        sha: &str,
        bytes: &[u8],
        now: i64,
    ) -> Result<()> {
        let fallback = match format {
            FileFormat::Jpeg => "image.jpg",
            FileFormat::Png => "image.png",
            FileFormat::Pdf => "document.pdf",
            FileFormat::Mp4 => "video.mp4",
        };
        let name = clean_filename(filename, fallback);
        let f = NewMaterialFile {
            corp_id,
            material_id: id,
            content_type: format.content_type(),
            filename: &name,
            sha256: sha,
            bytes,
            now,
        };
        tx.put_material_file(&f).await?;
        let url = self.material_file_url(id, sha);
        if !tx.update_material(corp_id, id, &MaterialWrite { url: &url, ..w.clone() }).await? {
            return Err(EngineError::NotFound("material"));
        }
        Ok(())
    }

    /// The public address of a material's file; the key changes with the file.
    pub(crate) fn material_file_url(&self, material_id: i64, sha: &str) -> String {
        let key = sha.get(..KEY_LEN).unwrap_or(sha);
        format!("{}/materials/file/{material_id}/{key}", self.settings.public_url.trim_end_matches('/'))
    }

    /// A material's file at its public address; `NotFound` unless the key
    /// is the file's current one.
    pub async fn public_material_file(&self, material_id: i64, key: &str) -> Result<MaterialFile> {
        if key.len() != KEY_LEN || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(EngineError::NotFound("file"));
        }
        match self.db.material_file_by_id(material_id).await? {
            Some((_, f)) if f.sha256.starts_with(key) => Ok(f),
            _ => Err(EngineError::NotFound("file")),
        }
    }

    /// A material's file as a WeCom media_id: the one uploaded before when
    /// it is younger than [`MEDIA_REUSE_MS`] and of the same bytes, else a
    /// fresh upload. `None` when the material has no file. For jobs'
    /// `prepare`: WeCom is called outside any transaction.
    async fn wecom_media_of(&self, corp_id: i64, material_id: i64) -> JobResult<Option<(FileFormat, String)>> {
        let Some(file) = self.db.material_file(corp_id, material_id).await? else {
            return Ok(None);
        };
        let Some(format) = FileFormat::of_content_type(&file.content_type) else {
            return Ok(None);
        };
        let media_type = format.media_type();
        let now = now_ms();
        let known = self.db.wecom_media(corp_id, material_id, media_type).await?;
        let media_id = match known {
            Some(m) if m.sha256 == file.sha256 && now - m.uploaded_at < MEDIA_REUSE_MS => m.media_id,
            _ => {
                let client = self.wecom_for(corp_id).await?;
                let kind = MediaType::parse(media_type).expect("a material file's media type is WeCom's");
                let upload = UploadFile {
                    filename: file.filename.clone(),
                    content_type: file.content_type.clone(),
                    bytes: file.bytes,
                };
                let answer = client.upload_media(kind, &upload, Priority::Bulk).await?;
                let row = WecomMediaRow { media_id: answer.media_id.clone(), sha256: file.sha256, uploaded_at: now };
                self.db.put_wecom_media(corp_id, material_id, media_type, &row).await?;
                tracing::debug!(corp_id, material_id, media_type, "material uploaded to WeCom");
                answer.media_id
            }
        };
        Ok(Some((format, media_id)))
    }

    /// What a material is in a WeCom message: its file as a media (an
    /// image, a file, a video, [`Self::wecom_media_of`]); a mini-program
    /// card with its cover picture as the card's picture; without a file, an
    /// image by its address, anything else as a link card to its address.
    /// `None` when the material is gone.
    pub(crate) async fn wecom_material_attachment(
        &self,
        corp_id: i64,
        material_id: i64,
    ) -> JobResult<Option<Attachment>> {
        let Some(m) = self.db.material(corp_id, material_id).await? else {
            return Ok(None);
        };
        let kind = MaterialKind::parse(&m.kind);
        Ok(Some(match (kind, self.wecom_media_of(corp_id, material_id).await?) {
            (Some(MaterialKind::MiniProgram), Some((_, media_id))) => Attachment::miniprogram(MiniProgram {
                title: m.title,
                pic_media_id: media_id,
                appid: m.appid,
                page: m.page,
            }),
            (_, Some((FileFormat::Jpeg | FileFormat::Png, media_id))) => Attachment::image_media(media_id),
            (_, Some((FileFormat::Pdf, media_id))) => Attachment::file(media_id),
            (_, Some((FileFormat::Mp4, media_id))) => Attachment::video(media_id),
            (Some(MaterialKind::Image | MaterialKind::Poster), None) => Attachment::image_url(m.url),
            (_, None) => Attachment::link(Link {
                title: m.title,
                url: m.url,
                desc: (!m.description.is_empty()).then_some(m.description),
                ..Link::default()
            }),
        }))
    }
}
