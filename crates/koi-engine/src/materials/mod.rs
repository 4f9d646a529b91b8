//! The script library (话术) and the material centre (素材) with tracking.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | scripts and materials: list, search, create, edit, delete; stats (sends, opens, unique openers) |
//! | `files.rs` | uploaded files (image, PDF, video) kept in the database, served at the material's address and its tracked links, sent in WeCom messages as media_ids |
//! | `links.rs` | a material sent to a customer becomes a tracked link `/m/{token}`; an open redirects to the material and is the customer's `material_opened` behaviour, once per link per window |

mod files;
mod links;

pub use koi_store::material_files::MaterialFile;
pub use links::{OpenedMaterial, SentMaterial};

use crate::{require, Engine, EngineError, Principal, Result};
use koi_domain::access::Action;
use koi_domain::sop::script::{MaterialDraft, MaterialKind, ScriptDraft};
use koi_store::now_ms;
use koi_store::sop::{MaterialRow, MaterialWrite, ScriptRow, ScriptWrite};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Script {
    pub id: i64,
    pub folder: String,
    pub title: String,
    /// With its variables (`{name}`, `{guide}`, `{store}`) unfilled.
    pub body: String,
    pub keywords: Vec<String>,
    /// Times guides copied or sent it.
    pub uses: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<ScriptRow> for Script {
    fn from(r: ScriptRow) -> Self {
        Script {
            id: r.id,
            folder: r.folder,
            title: r.title,
            body: r.body,
            keywords: r.keywords.split_whitespace().map(String::from).collect(),
            uses: r.uses,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Material {
    pub id: i64,
    pub kind: MaterialKind,
    pub folder: String,
    pub title: String,
    pub url: String,
    pub description: String,
    pub appid: String,
    pub page: String,
    /// The uploaded file, when the material is one (its `url` serves it).
    pub file: Option<MaterialFileView>,
    /// Tracked links made (one per send to a customer).
    pub sends: i64,
    /// Opens counted (once per link per 30 minutes).
    pub opens: i64,
    /// Customers who opened it at least once.
    pub openers: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An uploaded file of a material, without its bytes.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MaterialFileView {
    pub content_type: String,
    pub filename: String,
    /// Bytes.
    pub size: i64,
}

fn material_of(
    r: MaterialRow,
    stats: Option<&koi_store::sop::MaterialStats>,
    file: Option<&koi_store::material_files::MaterialFileInfo>,
) -> Material {
    let s = stats.cloned().unwrap_or_default();
    Material {
        id: r.id,
        kind: MaterialKind::parse(&r.kind).unwrap_or(MaterialKind::Article),
        folder: r.folder,
        title: r.title,
        url: r.url,
        description: r.description,
        appid: r.appid,
        page: r.page,
        file: file.map(|f| MaterialFileView {
            content_type: f.content_type.clone(),
            filename: f.filename.clone(),
            size: f.size,
        }),
        sends: s.sends,
        opens: s.opens,
        openers: s.openers,
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

impl Engine {
    /// Scripts matching `query` (title, body, keywords) in `folder` (all when empty).
    pub async fn scripts(&self, who: &Principal, query: &str, folder: &str) -> Result<Vec<Script>> {
        require_view(who)?;
        Ok(self.db.scripts(who.corp_id, query.trim(), folder.trim()).await?.into_iter().map(Script::from).collect())
    }

    pub async fn script(&self, who: &Principal, id: i64) -> Result<Script> {
        require_view(who)?;
        Ok(self.db.script(who.corp_id, id).await?.ok_or(EngineError::NotFound("script"))?.into())
    }

    pub async fn save_script(&self, who: &Principal, id: Option<i64>, draft: ScriptDraft) -> Result<Script> {
        require(who, Action::ManageSops)?;
        let d = draft.validate()?;
        let keywords = d.keywords.join(" ");
        let w = ScriptWrite { folder: &d.folder, title: &d.title, body: &d.body, keywords: &keywords, now: now_ms() };
        let mut tx = self.db.begin().await?;
        let id = match id {
            Some(id) => {
                if !tx.update_script(who.corp_id, id, &w).await? {
                    return Err(EngineError::NotFound("script"));
                }
                id
            }
            None => tx.insert_script(who.corp_id, &w).await?,
        };
        tx.commit().await?;
        self.script(who, id).await
    }

    pub async fn delete_script(&self, who: &Principal, id: i64) -> Result<()> {
        require(who, Action::ManageSops)?;
        let mut tx = self.db.begin().await?;
        if !tx.delete_script(who.corp_id, id).await? {
            return Err(EngineError::NotFound("script"));
        }
        tx.commit().await?;
        Ok(())
    }

    /// Materials matching `query` in `folder`, with their stats.
    pub async fn materials(&self, who: &Principal, query: &str, folder: &str) -> Result<Vec<Material>> {
        require_view(who)?;
        let stats = self.db.material_stats(who.corp_id).await?;
        let files = self.db.material_file_infos(who.corp_id).await?;
        Ok(self
            .db
            .materials(who.corp_id, query.trim(), folder.trim())
            .await?
            .into_iter()
            .map(|m| {
                let s = stats.iter().find(|s| s.material_id == m.id);
                let f = files.iter().find(|f| f.material_id == m.id);
                material_of(m, s, f)
            })
            .collect())
    }

    pub async fn material(&self, who: &Principal, id: i64) -> Result<Material> {
        require_view(who)?;
        let row = self.db.material(who.corp_id, id).await?.ok_or(EngineError::NotFound("material"))?;
        let stats = self.db.material_stats(who.corp_id).await?;
        let files = self.db.material_file_infos(who.corp_id).await?;
        Ok(material_of(row, stats.iter().find(|s| s.material_id == id), files.iter().find(|f| f.material_id == id)))
    }

    pub async fn save_material(&self, who: &Principal, id: Option<i64>, draft: MaterialDraft) -> Result<Material> {
        require(who, Action::ManageSops)?;
        let d = draft.validate()?;
        let w = MaterialWrite {
            kind: d.kind.as_str(),
            folder: &d.folder,
            title: &d.title,
            url: &d.url,
            description: &d.description,
            appid: &d.appid,
            page: &d.page,
            now: now_ms(),
        };
        let mut tx = self.db.begin().await?;
        let id = match id {
            Some(id) => {
                if !tx.update_material(who.corp_id, id, &w).await? {
                    return Err(EngineError::NotFound("material"));
                }
                id
            }
            None => tx.insert_material(who.corp_id, &w).await?,
        };
        tx.commit().await?;
        self.material(who, id).await
    }

    /// The materials a customer opened (their profile).
    pub async fn customer_material_opens(
        &self,
        who: &Principal,
        customer_id: i64,
    ) -> Result<Vec<koi_store::sop::CustomerOpenRow>> {
        self.customer(who, customer_id).await?; // visibility
        Ok(self.db.customer_material_opens(who.corp_id, customer_id).await?)
    }
}

/// Scripts and materials are read by operators and by guides (the sidebar).
fn require_view(who: &Principal) -> Result<()> {
    if who.role == koi_domain::access::Role::Guide {
        return Ok(());
    }
    require(who, Action::ViewSops)
}
