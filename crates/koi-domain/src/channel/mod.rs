//! Acquisition (引流): channel live codes (渠道活码) and everything that decides
//! what happens when a customer scans one — who is on duty, which store is
//! nearest, what `state` carries for attribution, which welcome the customer
//! gets, whether the add is new or returning, and how a code's day is counted.
//!
//! All of it is pure: the engine feeds in the clock, the counters and the
//! corp's stores, and turns the answers into WeCom calls and rows.
//!
//! | file | room for |
//! |---|---|
//! | `code.rs` | the code an operator edits: [`ChannelCodeDraft`] and its validation |
//! | `hours.rs` | [`WorkingHours`] and the brand-local clock |
//! | `routing.rs` | [`members_on_duty`], [`nearest_store`] and whether a code needs koi to route it |
//! | `state.rs` | the `state` string: [`ChannelState`] ⇄ [`Attribution`] |
//! | `welcome.rs` | welcome variants, placeholders, the A/B pick |
//! | `follow.rs` | whether an add is new, returning or a duplicate |
//! | `stats.rs` | the per-code daily fold [`CodeDayStats`] |

mod code;
mod follow;
mod hours;
mod routing;
mod state;
mod stats;
mod welcome;

pub use code::{
    ChannelCodeDraft, DraftContext, PoolMember, Routing, StorePin, WayKind, MAX_AUTO_TAGS, MAX_MULTI_MEMBERS,
    MAX_REMARK_CHARS, MAX_WELCOME_VARIANTS,
};
pub use follow::{add_outcome, classify_add, stale_add, AddKind, AddOutcome, DeletedBy, PreviousFollow};
pub use hours::{local_day, WorkingHours, DEFAULT_UTC_OFFSET_MIN};
pub use routing::{distance_m, members_on_duty, nearest_store, same_members, StoreChoice};
pub use state::{Attribution, ChannelState, StateError, STATE_MAX_CHARS};
pub use stats::{CodeDayStats, CodeEvent};
pub use welcome::{
    pick_variant, render, variant_seed, Attachment, WelcomeDraft, WelcomeVars, MAX_ATTACHMENTS, MAX_TEXT_BYTES,
};

use serde::{Deserialize, Serialize};

/// Where a code is placed. Reports group by it, so operators can compare a
/// package card with a store poster on the same footing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChannelType {
    /// 门店海报: posters, table tents and counter cards in a store.
    StorePoster,
    /// 包裹卡: the card in an e-commerce parcel.
    PackageCard,
    /// 朋友圈广告: WeChat moments ads.
    MomentsAd,
    /// 公众号: the brand's official account menu or articles.
    OfficialAccount,
    /// The brand's own app.
    App,
    /// 支付页: shown after paying (mall or POS payment page).
    PaymentPage,
    /// 直播: live streams.
    LiveStream,
    #[default]
    Other,
}

impl ChannelType {
    pub const ALL: [ChannelType; 8] = [
        ChannelType::StorePoster,
        ChannelType::PackageCard,
        ChannelType::MomentsAd,
        ChannelType::OfficialAccount,
        ChannelType::App,
        ChannelType::PaymentPage,
        ChannelType::LiveStream,
        ChannelType::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChannelType::StorePoster => "store_poster",
            ChannelType::PackageCard => "package_card",
            ChannelType::MomentsAd => "moments_ad",
            ChannelType::OfficialAccount => "official_account",
            ChannelType::App => "app",
            ChannelType::PaymentPage => "payment_page",
            ChannelType::LiveStream => "live_stream",
            ChannelType::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<ChannelType> {
        ChannelType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The name operators know it by in the console (zh-CN is the default language).
    pub fn label_zh(self) -> &'static str {
        match self {
            ChannelType::StorePoster => "门店海报",
            ChannelType::PackageCard => "包裹卡",
            ChannelType::MomentsAd => "朋友圈广告",
            ChannelType::OfficialAccount => "公众号",
            ChannelType::App => "品牌应用",
            ChannelType::PaymentPage => "支付页",
            ChannelType::LiveStream => "直播",
            ChannelType::Other => "其他",
        }
    }

    pub fn label_en(self) -> &'static str {
        match self {
            ChannelType::StorePoster => "Store poster",
            ChannelType::PackageCard => "Package card",
            ChannelType::MomentsAd => "Moments ad",
            ChannelType::OfficialAccount => "Official account",
            ChannelType::App => "App",
            ChannelType::PaymentPage => "Payment page",
            ChannelType::LiveStream => "Live stream",
            ChannelType::Other => "Other",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_types_round_trip_through_their_names() {
        for t in ChannelType::ALL {
            assert_eq!(ChannelType::parse(t.as_str()), Some(t));
            let json = serde_json::to_string(&t).expect("enum serialises");
            assert_eq!(json, format!("\"{}\"", t.as_str()), "API and storage spell it the same way");
            assert!(!t.label_zh().is_empty() && !t.label_en().is_empty());
        }
        assert_eq!(ChannelType::parse("poster"), None);
        assert_eq!(ChannelType::PackageCard.label_zh(), "包裹卡");
    }
}
