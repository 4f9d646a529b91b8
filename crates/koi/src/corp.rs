//! `koi corp …`: corps (tenants) and their WeCom credentials.

use crate::database::{write_key_file, DbArgs, KeySource};
use anyhow::{Context, Result};
use clap::Subcommand;
use koi_domain::org::CorpDraft;
use koi_engine::{Engine, Settings};
use koi_store::secrets::MasterKey;

#[derive(Subcommand)]
pub(crate) enum CorpCommand {
    /// Create a corp with its WeCom credentials; prints its id.
    Add {
        #[command(flatten)]
        db: DbArgs,
        /// The brand's name as operators see it.
        #[arg(long)]
        name: String,
        /// WeCom CorpID (ww…).
        #[arg(long)]
        corp_id: String,
        /// The app secret for the external-contact API.
        #[arg(long, env = "KOI_CORP_SECRET")]
        secret: String,
        /// Callback Token.
        #[arg(long)]
        token: String,
        /// Callback EncodingAESKey (43 characters).
        #[arg(long)]
        aes_key: String,
        /// Print {"id": …} instead of the bare id.
        #[arg(long)]
        json: bool,
    },
    /// List corps (secrets masked).
    List {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Make a new master key and re-seal every corp's secrets under it, in
    /// one transaction. With a key file, the new key replaces it (the old one
    /// is kept as master.key.old-ID for backups made before); with
    /// KOI_MASTER_KEY, the new key is printed for you to set. Restart every
    /// `koi serve` afterwards.
    RotateKey {
        #[command(flatten)]
        db: DbArgs,
    },
}

pub(crate) async fn run(command: CorpCommand) -> Result<()> {
    match command {
        CorpCommand::Add { db, name, corp_id, secret, token, aes_key, json } => {
            let engine = Engine::new(db.open().await?, Settings::default());
            let draft = CorpDraft {
                name,
                wecom_corp_id: corp_id,
                app_secret: secret,
                callback_token: token,
                encoding_aes_key: aes_key,
            };
            let id = engine.add_corp(draft).await?;
            if json {
                println!("{}", serde_json::json!({ "id": id }));
            } else {
                println!("{id}");
            }
            Ok(())
        }
        CorpCommand::List { db } => {
            for c in db.open().await?.corps().await? {
                println!(
                    "{}\t{}\t{}\tsecret {}",
                    c.id,
                    c.wecom_corp_id,
                    c.name,
                    koi_domain::secret::mask(&c.app_secret)
                );
            }
            Ok(())
        }
        CorpCommand::RotateKey { db } => rotate_key(db).await,
    }
}

async fn rotate_key(args: DbArgs) -> Result<()> {
    let (db, source) = args.open_keyed().await?;
    let old = db.master_key().context("the database was opened with a master key")?.id().to_string();
    let new = MasterKey::generate();
    match &source {
        KeySource::File(file) => {
            // The new key is on disk before any secret is sealed under it.
            let next = file.with_extension("key.new");
            let _ = std::fs::remove_file(&next);
            write_key_file(&next, &new).with_context(|| format!("cannot write {}", next.display()))?;
            let (corps, _) = match db.rotate_master_key(new.clone()).await {
                Ok(done) => done,
                Err(e) => {
                    let _ = std::fs::remove_file(&next);
                    return Err(e).context("re-sealing the corps; nothing changed");
                }
            };
            let kept = file.with_extension(format!("key.old-{old}"));
            std::fs::rename(file, &kept).and_then(|()| std::fs::rename(&next, file)).with_context(|| {
                format!("the corps are sealed under the key in {}; move it to {}", next.display(), file.display())
            })?;
            eprintln!(
                "re-sealed {corps} corp(s) under master key {} (in {}); the old key {old} is kept in {} for backups made before now. Restart every koi serve.",
                new.id(),
                file.display(),
                kept.display()
            );
        }
        KeySource::Env => {
            // Printed before the commit, so the key that seals the corps has
            // been shown whatever happens next.
            println!("{}", new.to_base64());
            let (corps, _) = db
                .rotate_master_key(new.clone())
                .await
                .context("re-sealing the corps; nothing changed, and the key printed above is not in use")?;
            eprintln!(
                "re-sealed {corps} corp(s) under master key {}: set KOI_MASTER_KEY to the key printed above on every node and restart them; keep the old key {old} for backups made before now.",
                new.id()
            );
        }
    }
    Ok(())
}
