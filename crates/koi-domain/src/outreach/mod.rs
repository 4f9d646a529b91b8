//! Outreach through guides (群发, 朋友圈) and the fatigue cap that keeps koi
//! from touching a customer too often, whatever touches them.
//!
//! | file | what |
//! |---|---|
//! | `mass_send.rs` | a mass send as the operator asks for it (audience, text with variables, ≤ 9 attachments, now or scheduled), who sends to whom ([`mass_send::assign_guides`]), the reminder policy |
//! | `fatigue.rs` | the fatigue cap: at most N touches per customer per window, and the decision that admits or skips each customer |
//! | `moment.rs` | a moments post (朋友圈) as the operator asks for it |

pub mod fatigue;
pub mod mass_send;
pub mod moment;
