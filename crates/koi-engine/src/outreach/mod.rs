//! Outreach through guides: work that reaches customers by their guide's
//! hand, because WeCom sends customer mass messages only after the guide
//! confirms them in the client.
//!
//! | file | what |
//! |---|---|
//! | `guide_tasks.rs` | one guide's WeCom task (`add_msg_template`, chat_type single), created exactly once, and the job that reads its send results |
//!
//! Group pulls (`groups/pulls.rs`) and first-order invitations use it; mass
//! messages (群发) are meant to extend it.

pub(crate) mod guide_tasks;

pub use guide_tasks::{GuideContent, GuideLink};
pub(crate) use guide_tasks::{GuideTaskJob, GuideTaskReadJob};
