//! koi's persistence: one Store API over an embedded SQLite file (the
//! default) and PostgreSQL (for scale). The same SQL serves both wherever the
//! dialects agree; the few places they differ live in `dialect` and the
//! per-backend migrations.

pub mod acquisition;
pub mod campaign_moves;
pub mod campaigns;
pub mod checkouts;
pub mod coupons;
pub mod customers;
mod db;
mod dialect;
pub mod distribution;
mod error;
pub mod events;
pub mod group_codes;
pub mod group_messages;
pub mod group_metrics;
pub mod group_pulls;
pub mod groups;
pub mod handover;
pub mod inbox;
pub mod jobs;
pub mod loyalty;
pub mod mass_sends;
pub mod material_files;
pub mod moments;
pub mod orders;
pub mod org;
pub mod outreach;
pub mod pay;
pub mod posters;
mod queue;
pub mod reports;
pub mod scratch;
pub mod secrets;
pub mod sop;
pub mod sop_report;
pub mod touches;
pub mod users;

pub use db::{now_ms, Backend, Db, Tx};
pub use error::StoreError;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
