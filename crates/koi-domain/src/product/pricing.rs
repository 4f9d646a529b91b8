//! Price rules on a checkout: a **bundle** (N items for X fen, repeated as
//! often as the quantity holds; the rest at the unit price) and **second
//! item half price** (every second item costs half, rounded up to the fen).
//! Rules do not stack: a line takes the one rule that is cheapest for the
//! customer, so the order in which rules are listed never matters, and a
//! line never costs more than its items at the unit price nor less than 0.

use crate::error::Checker;
use crate::ValidationError;
use serde::{Deserialize, Serialize};

/// One price rule of a product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PriceRule {
    /// `qty` items for `price_fen` (凑单价: 3 件 19.9 元).
    Bundle { qty: i64, price_fen: i64 },
    /// Every second item at half price (第二件半价).
    SecondHalf,
}

impl PriceRule {
    /// A rule must be a discount on `unit_fen`.
    pub fn validate(&self, unit_fen: i64) -> Result<(), ValidationError> {
        let mut c = Checker::default();
        if let PriceRule::Bundle { qty, price_fen } = *self {
            if !(2..=super::MAX_QTY).contains(&qty) {
                c.push("rules", "out_of_range", format!("a bundle is 2–{} items", super::MAX_QTY));
            } else if price_fen < 1 || price_fen >= qty.saturating_mul(unit_fen) {
                c.push("rules", "no_discount", "a bundle costs less than its items one by one, and at least 1 fen");
            }
        }
        c.finish(())
    }

    /// What `qty` items at `unit_fen` cost under this rule alone.
    fn cost(&self, unit_fen: i64, qty: i64) -> i64 {
        match *self {
            PriceRule::Bundle { qty: n, price_fen } if n > 0 => (qty / n) * price_fen + (qty % n) * unit_fen,
            PriceRule::Bundle { .. } => qty * unit_fen,
            PriceRule::SecondHalf => {
                let halves = qty / 2;
                (qty - halves) * unit_fen + halves * ((unit_fen + 1) / 2)
            }
        }
    }
}

/// One line's price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LineTotal {
    pub qty: i64,
    pub unit_fen: i64,
    /// qty × unit.
    pub subtotal_fen: i64,
    pub total_fen: i64,
    /// The rule that gave `total_fen`; none when no rule helps.
    pub rule: Option<PriceRule>,
}

/// `qty` items at `unit_fen` with the best of `rules`. Negative inputs count as 0.
pub fn line_total(unit_fen: i64, qty: i64, rules: &[PriceRule]) -> LineTotal {
    let (unit, qty) = (unit_fen.max(0), qty.max(0));
    let subtotal = unit.saturating_mul(qty);
    let mut best = (subtotal, None);
    for r in rules {
        let cost = r.cost(unit, qty).clamp(0, subtotal);
        if cost < best.0 {
            best = (cost, Some(r.clone()));
        }
    }
    LineTotal { qty, unit_fen: unit, subtotal_fen: subtotal, total_fen: best.0, rule: best.1 }
}

/// One product in a cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartLine<'a> {
    pub unit_fen: i64,
    pub qty: i64,
    pub rules: &'a [PriceRule],
}

/// Each line's price and the cart's (subtotal, total).
pub fn cart_total(lines: &[CartLine<'_>]) -> (Vec<LineTotal>, i64, i64) {
    let priced: Vec<LineTotal> = lines.iter().map(|l| line_total(l.unit_fen, l.qty, l.rules)).collect();
    let subtotal = priced.iter().map(|l| l.subtotal_fen).sum();
    let total = priced.iter().map(|l| l.total_fen).sum();
    (priced, subtotal, total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_bundle_repeats_and_the_rest_pays_the_unit_price() {
        let b = [PriceRule::Bundle { qty: 3, price_fen: 1990 }];
        assert_eq!(line_total(990, 1, &b).total_fen, 990);
        assert_eq!(line_total(990, 3, &b).total_fen, 1990);
        assert_eq!(line_total(990, 4, &b).total_fen, 1990 + 990);
        assert_eq!(line_total(990, 6, &b).total_fen, 3980);
        assert_eq!(line_total(990, 2, &b).rule, None, "no rule helps two items");
    }

    #[test]
    fn the_second_item_is_half_price_rounded_up() {
        let h = [PriceRule::SecondHalf];
        assert_eq!(line_total(999, 1, &h).total_fen, 999);
        assert_eq!(line_total(999, 2, &h).total_fen, 999 + 500);
        assert_eq!(line_total(999, 3, &h).total_fen, 2 * 999 + 500);
    }

    #[test]
    fn the_cheapest_rule_wins_and_rules_do_not_stack() {
        let both = [PriceRule::SecondHalf, PriceRule::Bundle { qty: 3, price_fen: 2000 }];
        // 3 × 1000: half price 2500, bundle 2000.
        let t = line_total(1000, 3, &both);
        assert_eq!((t.total_fen, t.rule), (2000, Some(both[1].clone())));
        // 2 × 1000: half price 1500, the bundle does not apply.
        assert_eq!(line_total(1000, 2, &both).total_fen, 1500);
        let (lines, sub, total) = cart_total(&[
            CartLine { unit_fen: 1000, qty: 3, rules: &both },
            CartLine { unit_fen: 100, qty: 1, rules: &[] },
        ]);
        assert_eq!((lines.len(), sub, total), (2, 3100, 2100));
    }

    #[test]
    fn only_discounts_are_rules() {
        assert!(PriceRule::Bundle { qty: 3, price_fen: 1990 }.validate(990).is_ok());
        assert!(PriceRule::Bundle { qty: 3, price_fen: 2970 }.validate(990).is_err());
        assert!(PriceRule::Bundle { qty: 1, price_fen: 10 }.validate(990).is_err());
        assert!(PriceRule::Bundle { qty: 3, price_fen: 0 }.validate(990).is_err());
        assert!(PriceRule::SecondHalf.validate(1).is_ok());
        let json = serde_json::to_string(&PriceRule::Bundle { qty: 3, price_fen: 1990 }).expect("json");
        assert_eq!(json, r#"{"kind":"bundle","qty":3,"price_fen":1990}"#);
    }

    fn rule() -> impl Strategy<Value = PriceRule> {
        prop_oneof![
            Just(PriceRule::SecondHalf),
            (2i64..10, 0i64..100_000).prop_map(|(qty, price_fen)| PriceRule::Bundle { qty, price_fen }),
        ]
    }

    proptest! {
        #[test]
        fn a_total_is_never_negative_nor_above_the_subtotal(
            unit in -10i64..1_000_000, qty in -5i64..200, rules in prop::collection::vec(rule(), 0..4)
        ) {
            let t = line_total(unit, qty, &rules);
            prop_assert!(t.total_fen >= 0);
            prop_assert!(t.total_fen <= t.subtotal_fen);
        }

        #[test]
        fn the_order_of_rules_does_not_change_the_total(
            unit in 1i64..100_000, qty in 0i64..100, mut rules in prop::collection::vec(rule(), 0..4)
        ) {
            let one = line_total(unit, qty, &rules).total_fen;
            rules.reverse();
            prop_assert_eq!(line_total(unit, qty, &rules).total_fen, one);
            let n = rules.len().min(1);
            rules.rotate_left(n);
            prop_assert_eq!(line_total(unit, qty, &rules).total_fen, one);
        }

        #[test]
        fn more_rules_never_cost_more(
            unit in 1i64..100_000, qty in 0i64..100, rules in prop::collection::vec(rule(), 0..4), extra in rule()
        ) {
            let before = line_total(unit, qty, &rules).total_fen;
            let mut more = rules.clone();
            more.push(extra);
            prop_assert!(line_total(unit, qty, &more).total_fen <= before);
        }

        #[test]
        fn a_cart_is_the_sum_of_its_lines(
            lines in prop::collection::vec((1i64..10_000, 0i64..20, prop::collection::vec(rule(), 0..3)), 0..5)
        ) {
            let cart: Vec<CartLine> = lines.iter().map(|(u, q, r)| CartLine { unit_fen: *u, qty: *q, rules: r }).collect();
            let (priced, sub, total) = cart_total(&cart);
            prop_assert_eq!(total, priced.iter().map(|l| l.total_fen).sum::<i64>());
            prop_assert!(total >= 0 && total <= sub);
        }
    }
}
