//! An order as a shop reports it, checked into a [`NewOrder`].

use crate::customer::MAX_ORDER_FEN;
use crate::error::Checker;
use crate::{Millis, ValidationError};
use serde::{Deserialize, Serialize};

/// The shop's order id: 1..=64 letters, digits and `-_.:/#`.
pub const MAX_SHOP_ORDER_ID_CHARS: usize = 64;
/// Lines per order.
pub const MAX_ITEMS: usize = 200;
/// Pieces per line.
pub const MAX_ITEM_QTY: i64 = 100_000;
const MAX_SKU_CHARS: usize = 64;
const MAX_ITEM_NAME_CHARS: usize = 128;
const MAX_KEY_CHARS: usize = 128;
/// The earliest order time accepted (2000-01-01): a seconds value sent as
/// milliseconds lands in 1970 and is refused rather than stored.
const EARLIEST_ORDER_MS: Millis = 946_684_800_000;

/// Where an order is in the shop's life. A refund moves it to
/// `part_refunded` or `refunded`; the shop may report `shipped` and `done`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Paid,
    Shipped,
    Done,
    Refunded,
    PartRefunded,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 5] =
        [OrderStatus::Paid, OrderStatus::Shipped, OrderStatus::Done, OrderStatus::Refunded, OrderStatus::PartRefunded];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Paid => "paid",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Done => "done",
            OrderStatus::Refunded => "refunded",
            OrderStatus::PartRefunded => "part_refunded",
        }
    }

    pub fn parse(s: &str) -> Option<OrderStatus> {
        OrderStatus::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Statuses only a refund sets (an order cannot be reported refunded:
    /// the refund has to come as a refund, with its amount).
    pub fn by_refund(self) -> bool {
        matches!(self, OrderStatus::Refunded | OrderStatus::PartRefunded)
    }
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrderItem {
    pub sku: String,
    #[serde(default)]
    pub name: String,
    pub qty: i64,
    /// Unit price in fen.
    pub price_fen: i64,
}

/// The keys a shop knows its buyer by. koi tries them in the order of
/// [`MatchKey::ALL`]: the first that names a customer decides.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CustomerKeys {
    /// WeChat's unionid (the same person across the brand's apps).
    #[serde(default)]
    pub unionid: String,
    /// Lower-case hex SHA-256 of the buyer's 11-digit mobile number
    /// (koi never needs the number itself).
    #[serde(default)]
    pub phone_hash: String,
    /// WeCom's id of the customer, when the shop has it (koi's own checkout).
    #[serde(default)]
    pub external_userid: String,
    /// The shop's own member id.
    #[serde(default)]
    pub member_id: String,
}

/// A kind of customer key, in matching order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MatchKey {
    Unionid,
    PhoneHash,
    ExternalUserid,
    MemberId,
}

impl MatchKey {
    /// The matching order: the strongest identity first.
    pub const ALL: [MatchKey; 4] =
        [MatchKey::Unionid, MatchKey::PhoneHash, MatchKey::ExternalUserid, MatchKey::MemberId];

    pub fn as_str(self) -> &'static str {
        match self {
            MatchKey::Unionid => "unionid",
            MatchKey::PhoneHash => "phone_hash",
            MatchKey::ExternalUserid => "external_userid",
            MatchKey::MemberId => "member_id",
        }
    }

    pub fn parse(s: &str) -> Option<MatchKey> {
        MatchKey::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl CustomerKeys {
    pub fn get(&self, k: MatchKey) -> &str {
        match k {
            MatchKey::Unionid => &self.unionid,
            MatchKey::PhoneHash => &self.phone_hash,
            MatchKey::ExternalUserid => &self.external_userid,
            MatchKey::MemberId => &self.member_id,
        }
    }

    /// The keys given, in matching order.
    pub fn in_order(&self) -> Vec<(MatchKey, &str)> {
        MatchKey::ALL.into_iter().map(|k| (k, self.get(k))).filter(|(_, v)| !v.is_empty()).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.in_order().is_empty()
    }
}

/// An order as reported (webhook, API, CSV row, checkout), unchecked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrderDraft {
    /// The shop's order id; the same id again is the same order.
    pub shop_order_id: String,
    /// When the customer ordered, ms since the epoch.
    pub ordered_at: Millis,
    /// The code of the store that sold it, if a store did.
    #[serde(default)]
    pub store_code: String,
    #[serde(default)]
    pub items: Vec<OrderItem>,
    /// The order's value before discounts, in fen.
    pub amount_fen: i64,
    /// What the customer paid, in fen (≤ amount).
    pub paid_fen: i64,
    /// `paid` (the default), `shipped` or `done`.
    #[serde(default)]
    pub status: Option<OrderStatus>,
    #[serde(default)]
    pub customer: CustomerKeys,
    /// The WeCom userid of the guide who sent the coupon used on this order
    /// (for the `coupon_guide` attribution rule), if the shop knows it.
    #[serde(default)]
    pub coupon_guide: String,
}

/// A checked order: trimmed, within its limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewOrder {
    pub shop_order_id: String,
    pub ordered_at: Millis,
    pub store_code: String,
    pub items: Vec<OrderItem>,
    pub amount_fen: i64,
    pub paid_fen: i64,
    pub status: OrderStatus,
    pub customer: CustomerKeys,
    pub coupon_guide: String,
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl OrderDraft {
    /// Checks the order; `now` refuses times more than five minutes ahead.
    pub fn validate(&self, now: Millis) -> Result<NewOrder, ValidationError> {
        let mut c = Checker::default();
        let shop_order_id =
            c.ident("shop_order_id", &self.shop_order_id, MAX_SHOP_ORDER_ID_CHARS, &['-', '_', '.', ':', '/', '#']);
        if self.ordered_at < EARLIEST_ORDER_MS || self.ordered_at > now + 5 * 60_000 {
            c.push("ordered_at", "out_of_range", "ordered_at is ms since the epoch, after 2000 and not in the future");
        }
        let store_code = c.text("store_code", &self.store_code, 32, false);
        if self.items.len() > MAX_ITEMS {
            c.push("items", "too_many", format!("at most {MAX_ITEMS} items an order"));
        }
        let mut items = Vec::with_capacity(self.items.len());
        for (i, it) in self.items.iter().take(MAX_ITEMS).enumerate() {
            let sku = c.text(&format!("items[{i}].sku"), &it.sku, MAX_SKU_CHARS, true);
            let name = c.text(&format!("items[{i}].name"), &it.name, MAX_ITEM_NAME_CHARS, false);
            if !(1..=MAX_ITEM_QTY).contains(&it.qty) {
                c.push(&format!("items[{i}].qty"), "out_of_range", format!("qty is 1..={MAX_ITEM_QTY}"));
            }
            if !(0..=MAX_ORDER_FEN).contains(&it.price_fen) {
                c.push(&format!("items[{i}].price_fen"), "out_of_range", format!("price is 0..={MAX_ORDER_FEN} fen"));
            }
            items.push(OrderItem { sku, name, qty: it.qty, price_fen: it.price_fen });
        }
        if !(1..=MAX_ORDER_FEN).contains(&self.amount_fen) {
            c.push("amount_fen", "out_of_range", format!("amount is 1..={MAX_ORDER_FEN} fen"));
        }
        if !(0..=self.amount_fen.max(0)).contains(&self.paid_fen) {
            c.push("paid_fen", "out_of_range", "paid is 0..=amount fen");
        }
        let status = self.status.unwrap_or(OrderStatus::Paid);
        if status.by_refund() {
            c.push("status", "by_refund", "refunded and part_refunded are set by a refund, not reported");
        }
        let k = &self.customer;
        let customer = CustomerKeys {
            unionid: c.text("customer.unionid", &k.unionid, MAX_KEY_CHARS, false),
            phone_hash: k.phone_hash.trim().to_ascii_lowercase(),
            external_userid: c.text("customer.external_userid", &k.external_userid, MAX_KEY_CHARS, false),
            member_id: c.text("customer.member_id", &k.member_id, MAX_KEY_CHARS, false),
        };
        if !customer.phone_hash.is_empty() && !is_hex64(&customer.phone_hash) {
            c.push("customer.phone_hash", "not_sha256", "phone_hash is the hex SHA-256 of the mobile number");
        }
        let coupon_guide = c.text("coupon_guide", &self.coupon_guide, 64, false);
        c.finish(NewOrder {
            shop_order_id,
            ordered_at: self.ordered_at,
            store_code,
            items,
            amount_fen: self.amount_fen,
            paid_fen: self.paid_fen,
            status,
            customer,
            coupon_guide,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn draft() -> OrderDraft {
        OrderDraft {
            shop_order_id: "SO-1".into(),
            ordered_at: 1_700_000_000_000,
            store_code: "SH01".into(),
            items: vec![OrderItem { sku: "A1".into(), name: "苹果".into(), qty: 2, price_fen: 990 }],
            amount_fen: 1980,
            paid_fen: 1500,
            status: None,
            customer: CustomerKeys { member_id: "M9".into(), ..Default::default() },
            coupon_guide: String::new(),
        }
    }

    const NOW: Millis = 1_800_000_000_000;

    #[test]
    fn a_good_order_is_checked_and_defaults_to_paid() {
        let o = draft().validate(NOW).unwrap();
        assert_eq!(o.status, OrderStatus::Paid);
        assert_eq!(o.customer.in_order(), vec![(MatchKey::MemberId, "M9")]);
    }

    #[test]
    fn bad_fields_are_all_reported() {
        let mut d = draft();
        d.shop_order_id = "has space".into();
        d.paid_fen = 1981;
        d.items[0].qty = 0;
        d.status = Some(OrderStatus::Refunded);
        d.customer.phone_hash = "13800138000".into();
        d.ordered_at = 1_700_000_000; // seconds, not ms
        let e = d.validate(NOW).unwrap_err();
        let fields: Vec<_> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            fields,
            ["shop_order_id", "ordered_at", "items[0].qty", "paid_fen", "status", "customer.phone_hash"]
        );
    }

    #[test]
    fn keys_are_tried_strongest_first() {
        let k = CustomerKeys {
            unionid: "u".into(),
            phone_hash: "a".repeat(64),
            external_userid: "wm".into(),
            member_id: "m".into(),
        };
        let order: Vec<_> = k.in_order().into_iter().map(|(k, _)| k).collect();
        assert_eq!(order, MatchKey::ALL);
        assert!(CustomerKeys::default().is_empty());
    }

    #[test]
    fn statuses_round_trip() {
        for s in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(s.as_str()), Some(s));
        }
        for k in MatchKey::ALL {
            assert_eq!(MatchKey::parse(k.as_str()), Some(k));
        }
    }
}
