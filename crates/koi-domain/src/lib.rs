//! koi's business rules and types. No IO, no async, no SQL: everything here is
//! a pure function of its inputs, which is why most unit tests live here.

pub mod access;
pub mod calendar;
pub mod campaign;
pub mod channel;
pub mod customer;
pub mod error;
pub mod group;
pub mod handover;
pub mod import;
pub mod jobs;
pub mod org;
pub mod pay;
pub mod secret;
pub mod segment;

pub use error::{FieldError, ValidationError};

/// Milliseconds since the Unix epoch, UTC. All times in storage are this.
pub type Millis = i64;
