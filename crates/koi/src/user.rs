//! `koi user …`: console users and their passwords.

use crate::database::DbArgs;
use anyhow::{bail, Result};
use clap::Subcommand;
use koi_engine::users::UserInput;
use koi_engine::{Engine, Settings};

#[derive(Subcommand)]
pub(crate) enum UserCommand {
    /// Create a console user; prints its id.
    Add {
        #[command(flatten)]
        db: DbArgs,
        /// The corp's koi id (from `koi corp add`).
        #[arg(long)]
        corp: i64,
        #[arg(long)]
        username: String,
        /// owner, hq_operator, store_manager or guide.
        #[arg(long, default_value = "owner")]
        role: String,
        /// At least 8 characters.
        #[arg(long, env = "KOI_PASSWORD")]
        password: String,
        #[arg(long, default_value = "")]
        display_name: String,
        /// Store ids a store manager manages (repeat the flag).
        #[arg(long = "store")]
        stores: Vec<i64>,
    },
    /// Set a user's password; ends the user's console sessions.
    Passwd {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        username: String,
        #[arg(long, env = "KOI_PASSWORD")]
        password: String,
    },
}

pub(crate) async fn run(command: UserCommand) -> Result<()> {
    match command {
        UserCommand::Add { db, corp, username, role, password, display_name, stores } => {
            let engine = Engine::new(db.open().await?, Settings::default());
            if engine.db.corp(corp).await?.is_none() {
                bail!("no corp with id {corp}; see `koi corp list`");
            }
            let input = UserInput { username, display_name, password, role, store_ids: stores };
            println!("{}", engine.add_user(corp, &input).await?);
            Ok(())
        }
        UserCommand::Passwd { db, username, password } => {
            let engine = Engine::new(db.open().await?, Settings::default());
            engine.set_password(&username, &password).await?;
            println!("password changed for {username}; their console sessions have ended");
            Ok(())
        }
    }
}
