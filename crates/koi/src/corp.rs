//! `koi corp …`: corps (tenants) and their WeCom credentials.

use crate::database::DbArgs;
use anyhow::Result;
use clap::Subcommand;
use koi_domain::org::CorpDraft;
use koi_engine::{Engine, Settings};

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
    }
}
