//! Outreach through guides: work that reaches customers by their guide's
//! hand, because WeCom sends customer mass messages only after the guide
//! confirms them in the client; and the fatigue cap every outreach is
//! decided under.
//!
//! | file | what |
//! |---|---|
//! | `guide_tasks.rs` | one guide's WeCom task (`add_msg_template`, chat_type single, or group to the groups it owns), created exactly once, the job that reads its send results, and the lookup (`get_groupmsg_list_v2`) that settles a task whose outcome is unknown |
//! | `fatigue.rs` | the fatigue cap: [`fatigue::admit`] decides who may be touched and records the touches, in the caller's transaction |
//! | `mass_send.rs` | mass sends (群发) to a segment or to customer groups: [`mass_send::create_in`], the split by guide (by group owner) staged and planned in chunks of their own transactions, materials attached by id, reminders, reports per guide, store and group (replies and orders after a send to groups) |
//! | `moments.rs` | moments posts (朋友圈): created once, results per guide with likes and comments |
//!
//! Group pulls (`groups/pulls.rs`), first-order invitations and mass sends
//! use the guide tasks.

pub(crate) mod fatigue;
pub(crate) mod guide_tasks;
pub(crate) mod mass_send;
pub(crate) mod moments;

pub use guide_tasks::{GuideContent, GuideLink};
pub(crate) use guide_tasks::{GuideTaskJob, GuideTaskReadJob, GuideTaskSettleJob};
pub(crate) use mass_send::{CancelTaskJob, MassSendChunkJob, MassSendRemindJob, MassSendStartJob};
pub use mass_send::{
    GroupResult, GuideReport, GuideTaskView, MassSend, MassSendDetail, MassSendPreview, ReasonTotal, StoreReport,
    UnsentCustomer,
};
pub use moments::{Moment, MomentDetail, MomentGuide};
pub(crate) use moments::{MomentPostJob, MomentReadJob};
