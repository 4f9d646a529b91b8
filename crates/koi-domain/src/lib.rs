//! koi's business rules and types. No IO, no async, no SQL: everything here is
//! a pure function of its inputs, which is why most unit tests live here.

pub mod access;
pub mod calendar;
pub mod campaign;
pub mod channel;
pub mod coupon;
pub mod customer;
pub mod distribution;
pub mod error;
pub mod group;
pub mod handover;
pub mod import;
pub mod jobs;
pub mod order;
pub mod org;
pub mod outreach;
pub mod pay;
pub mod product;
pub mod secret;
pub mod segment;
pub mod sop;

pub use error::{FieldError, ValidationError};

/// Milliseconds since the Unix epoch, UTC. All times in storage are this.
pub type Millis = i64;
