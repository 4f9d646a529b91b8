//! Orders (订单): what a shop, a POS or koi's own checkout reports a customer
//! bought, how it finds its customer, what a refund may take back, and to
//! which guide, store and channel code the sale is attributed.
//!
//! All of it is pure: the engine feeds in the customer's follows, the
//! corp's attribution settings and the refunds on record, and writes the
//! answers.
//!
//! | file | room for |
//! |---|---|
//! | `draft.rs` | [`OrderDraft`] (an order as reported) and its validation into a [`NewOrder`]; the customer keys and their matching order |
//! | `import.rs` | [`order_rows`]: a spreadsheet of order lines, all or nothing with a row report |
//! | `refund.rs` | [`NewRefund`] and [`plan_refund`]: full and partial refunds, never more than paid |
//! | `attribution.rs` | the guide attribution rules ([`AttributionSettings`]) and [`attribute`], which keeps the rule that decided |

mod attribution;
mod draft;
mod import;
mod refund;

pub use attribution::{
    attribute, attribute_campaign, Attributed, AttributionFacts, AttributionRule, AttributionSettings,
    CampaignAttributed, CampaignTouch, DutyGuide, FollowFact, DEFAULT_CAMPAIGN_WINDOW_DAYS, MAX_LOCK_DAYS,
};
pub use draft::{
    CustomerKeys, MatchKey, NewOrder, OrderDraft, OrderItem, OrderStatus, MAX_ITEMS, MAX_ITEM_QTY,
    MAX_SHOP_ORDER_ID_CHARS,
};
pub use import::{order_rows, parse_time, yuan_to_fen};
pub use refund::{plan_refund, NewRefund, RefundDraft, RefundError, RefundPlan};
