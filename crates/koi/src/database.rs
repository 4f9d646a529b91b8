//! Where the admin commands find the database: `--database-url`, or SQLite
//! in `--data-dir`; and the master key that seals its corp secrets:
//! `KOI_MASTER_KEY`, or a key file made on first start.

use anyhow::{bail, Context, Result};
use clap::Args;
use koi_store::secrets::MasterKey;
use koi_store::{Backend, Db};
use std::path::{Path, PathBuf};

#[derive(Args, Clone)]
pub(crate) struct DbArgs {
    /// postgres://… or sqlite://PATH. Default: SQLite in --data-dir.
    #[arg(long, env = "KOI_DATABASE_URL")]
    database_url: Option<String>,
    /// Where the embedded SQLite database lives.
    #[arg(long, env = "KOI_DATA_DIR", default_value = "./koi-data")]
    data_dir: PathBuf,
    /// The file holding the master key that seals corp secrets (made on first
    /// start when missing). Default: master.key beside the SQLite database,
    /// or in --data-dir for PostgreSQL. KOI_MASTER_KEY (base64, 32 bytes)
    /// takes precedence over any file.
    #[arg(long, env = "KOI_MASTER_KEY_FILE")]
    master_key_file: Option<PathBuf>,
}

/// Where the master key in use came from.
#[derive(Debug, Clone)]
pub(crate) enum KeySource {
    Env,
    File(PathBuf),
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Env => f.write_str("KOI_MASTER_KEY"),
            KeySource::File(p) => write!(f, "{}", p.display()),
        }
    }
}

impl DbArgs {
    pub(crate) fn url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("koi.db").display()))
    }

    /// Opens the database, brings its schema up to date, and seals corp
    /// secrets with the master key (plain-text rows from before too).
    pub(crate) async fn open(&self) -> Result<Db> {
        Ok(self.open_keyed().await?.0)
    }

    /// Like [`DbArgs::open`], also saying where the master key came from.
    pub(crate) async fn open_keyed(&self) -> Result<(Db, KeySource)> {
        let url = self.url();
        let db = Db::open(&url).await.with_context(|| format!("cannot open the database at {}", redact(&url)))?;
        db.migrate().await.context("migrating the database")?;
        let file = self.master_key_file.clone().unwrap_or_else(|| self.default_key_file(&db, &url));
        let (db, source) = with_master_key(db, &file).await?;
        Ok((db, source))
    }

    fn default_key_file(&self, db: &Db, url: &str) -> PathBuf {
        let sqlite_dir = || {
            let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
            Some(Path::new(path.split('?').next()?).parent()?.to_path_buf())
        };
        match db.backend() {
            Backend::Sqlite => sqlite_dir().unwrap_or_else(|| self.data_dir.clone()).join("master.key"),
            Backend::Postgres => self.data_dir.join("master.key"),
        }
    }
}

/// Gives `db` its master key: `KOI_MASTER_KEY`, else the key file, made
/// when missing (and only while no secret in the database is sealed, so a
/// lost key is reported rather than replaced). Then seals what is still
/// plain text.
pub(crate) async fn with_master_key(db: Db, file: &Path) -> Result<(Db, KeySource)> {
    let sealed_with = db.secret_key_ids().await.context("reading the corps")?;
    let (key, source) = match std::env::var("KOI_MASTER_KEY").ok().filter(|k| !k.trim().is_empty()) {
        Some(text) => (MasterKey::from_base64(&text).context("KOI_MASTER_KEY")?, KeySource::Env),
        None if file.exists() => (read_key_file(file)?, KeySource::File(file.to_path_buf())),
        None => {
            if let Some(id) = sealed_with.first() {
                bail!(
                    "the corp secrets in this database are sealed with master key {id}, and there is no key at {}: \
                     restore the key file backed up with the database there (or pass --master-key-file), \
                     or set KOI_MASTER_KEY",
                    file.display()
                );
            }
            (create_key_file(file)?, KeySource::File(file.to_path_buf()))
        }
    };
    if let Some(other) = sealed_with.iter().find(|id| *id != key.id()) {
        bail!(
            "the corp secrets in this database are sealed with master key {other}, but the key from {source} is {}: \
             use the key backed up with this database",
            key.id()
        );
    }
    let db = db.with_master_key(key);
    let sealed = db.seal_plain_secrets().await.context("sealing corp secrets stored as plain text")?;
    if sealed > 0 {
        tracing::info!(corps = sealed, key = %source, "sealed corp secrets that were stored as plain text");
    }
    Ok((db, source))
}

pub(crate) fn read_key_file(file: &Path) -> Result<MasterKey> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read the master key {}", file.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file).map(|m| m.permissions().mode() & 0o777).unwrap_or(0o600);
        if mode & 0o077 != 0 {
            tracing::warn!(file = %file.display(), mode = format!("{mode:o}"), "the master key file is readable by others; chmod 600 it");
        }
    }
    MasterKey::from_base64(&text).with_context(|| format!("the master key file {}", file.display()))
}

/// Writes `key` to `file` (mode 0600), failing if `file` exists. Written to
/// a temporary name and linked into place, so a reader never sees half a key
/// and two nodes starting at once keep one key.
pub(crate) fn write_key_file(file: &Path, key: &MasterKey) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = file.with_extension(format!("tmp-{}", std::process::id()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let written = (|| {
        let mut f = opts.open(&tmp)?;
        writeln!(f, "{}", key.to_base64())?;
        f.sync_all()?;
        std::fs::hard_link(&tmp, file)
    })();
    let _ = std::fs::remove_file(&tmp);
    written
}

fn create_key_file(file: &Path) -> Result<MasterKey> {
    let key = MasterKey::generate();
    match write_key_file(file, &key) {
        Ok(()) => {
            tracing::warn!(
                file = %file.display(), key = key.id(),
                "made a new master key for corp secrets; back it up with the database: without it they cannot be read"
            );
            Ok(key)
        }
        // Another process made it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read_key_file(file),
        Err(e) => Err(e).with_context(|| format!("cannot write the master key {}", file.display())),
    }
}

/// The URL without its password, for messages.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://…@{}", &url[..s], &url[at + 1..]),
        _ => url.to_string(),
    }
}
