//! `koi key …`: API keys for integrations, made without the console (scripts
//! and CI set-ups). The key is printed once; only its hash is kept.

use crate::database::DbArgs;
use anyhow::{bail, Result};
use clap::Subcommand;
use koi_domain::access::Role;
use koi_engine::{Engine, Principal, Settings};

#[derive(Subcommand)]
pub(crate) enum KeyCommand {
    /// Make an API key for a corp; prints the key once (it cannot be shown again).
    Add {
        #[command(flatten)]
        db: DbArgs,
        /// The corp's koi id (from `koi corp add`).
        #[arg(long)]
        corp: i64,
        /// What the key is for, as the console's API keys page lists it (1–64 characters).
        #[arg(long)]
        name: String,
        /// owner or hq_operator.
        #[arg(long, default_value = "hq_operator")]
        role: String,
        /// Print {"id": …, "key": …, "corp_id": …, "role": …} instead of the bare key.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) async fn run(command: KeyCommand) -> Result<()> {
    match command {
        KeyCommand::Add { db, corp, name, role, json } => {
            let Some(role) = Role::parse(&role) else {
                bail!("unknown role {role:?}: API keys are owner or hq_operator");
            };
            let engine = Engine::new(db.open().await?, Settings::default());
            if engine.db.corp(corp).await?.is_none() {
                bail!("no corp with id {corp}; see `koi corp list`");
            }
            // Whoever can run this command can read the database, so they act
            // as the corp's owner.
            let owner =
                Principal { corp_id: corp, role: Role::Owner, user_id: None, store_ids: vec![], staff_id: None };
            let issued = engine.issue_api_key(&owner, &name, role).await?;
            if json {
                let out = serde_json::json!({
                    "id": issued.id,
                    "key": issued.token,
                    "corp_id": corp,
                    "role": role.as_str(),
                });
                println!("{out}");
            } else {
                println!("{}", issued.token);
            }
            Ok(())
        }
    }
}
