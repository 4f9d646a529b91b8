//! Orders: shops post them (signed webhook, API, CSV), koi's checkout makes
//! them; each finds its customer by the keys it carries, is attributed to a
//! guide, a store and a channel code by the corp's rules, and moves the
//! customer's counters, stage, RFM and tag rules through the behaviour path
//! — once, however often it is posted. Refunds take back what it earned.
//!
//! | file | room for |
//! |---|---|
//! | `ingest.rs` | [`ingest_in`], [`refund_in`] and late matching ([`match_waiting_in`]): the transaction-level seam every way in uses |
//! | `effects.rs` | [`effects::after_order`]: the one place what an order earns (points, coupon use, commission) is granted and taken back |
//! | `webhook.rs` | the signed webhook: HMAC-SHA256, the timestamp window, its stable error codes |
//! | `manage.rs` | use cases: post, refund, import, list, detail, report; integrations; attribution settings |

pub mod effects;
mod ingest;
mod manage;
mod webhook;

// `ingest_in` and `refund_in` are the seam koi's checkout calls for paid H5 orders.
pub(crate) use ingest::{ingest_in, match_waiting_in, refund_in};
pub use ingest::{IngestOutcome, OrderSource, RefundOutcome};
pub use manage::{
    IntegrationCreated, IntegrationView, OrderDetail, OrderItemView, OrderListView, OrderQuery, OrderView, RefundView,
    ReportLine, ReportView, MAX_PAGE,
};
pub use webhook::{sign, WebhookEvent, WebhookOutcome, SIGNATURE_HEADER, WEBHOOK_WINDOW_S};

/// Where a corp's [`koi_domain::order::AttributionSettings`] live in `corp_settings`.
pub(crate) const ATTRIBUTION_KEY: &str = "order_attribution";
