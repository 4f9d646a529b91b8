//! Orders from a spreadsheet: one row per order line; rows sharing an order
//! id are the lines of one order (its other cells are read from its first
//! row). Money in yuan (`19.90`), as shops export it; times as
//! `YYYY-MM-DD HH:MM[:SS]` in Beijing time or as ms since the epoch.

use crate::calendar::parse_date;
use crate::import::{cell, columns, RowError};
use crate::order::{CustomerKeys, NewOrder, OrderDraft, OrderItem, OrderStatus};
use crate::Millis;

const ORDER_COLUMNS: &[(&str, &[&str])] = &[
    ("shop_order_id", &["订单号", "订单编号", "order_id"]),
    ("ordered_at", &["下单时间", "时间", "time"]),
    ("store_code", &["门店编码", "门店"]),
    ("amount", &["订单金额", "金额"]),
    ("paid", &["实付金额", "实付"]),
    ("status", &["状态"]),
    ("sku", &["商品编码"]),
    ("name", &["商品名称"]),
    ("qty", &["数量"]),
    ("price", &["单价"]),
    ("unionid", &[]),
    ("phone_hash", &["手机号哈希"]),
    ("external_userid", &[]),
    ("member_id", &["会员号", "会员编号"]),
    ("coupon_guide", &["发券导购"]),
];

/// Beijing time, the shops' clock.
const SHANGHAI_OFFSET_MS: Millis = 8 * 3_600_000;

/// `19.9`, `19.90`, `20` yuan → fen; `None` for anything else.
pub fn yuan_to_fen(text: &str) -> Option<i64> {
    let t = text.trim().trim_start_matches(['¥', '￥']);
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 2 {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let yuan: i64 = whole.parse().ok()?;
    let fen: i64 = format!("{frac:0<2}").parse().ok()?;
    yuan.checked_mul(100)?.checked_add(fen)
}

/// ms since the epoch, or `YYYY-MM-DD[ HH:MM[:SS]]` in Beijing time.
pub fn parse_time(text: &str) -> Option<Millis> {
    let t = text.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse().ok();
    }
    let (date, time) = t.split_once([' ', 'T']).unwrap_or((t, "00:00"));
    let day = parse_date(&date.replace('/', "-"))?;
    let mut hms = time.split(':').map(|p| p.parse::<i64>().ok());
    let h = hms.next()??;
    let m = hms.next().unwrap_or(Some(0))?;
    let s = hms.next().unwrap_or(Some(0))?;
    if hms.next().is_some() || !(0..24).contains(&h) || !(0..60).contains(&m) || !(0..60).contains(&s) {
        return None;
    }
    Some(day * 86_400_000 + (h * 3600 + m * 60 + s) * 1000 - SHANGHAI_OFFSET_MS)
}

/// Checks every row; all good → the orders, else every bad row.
pub fn order_rows(headers: &[String], rows: &[Vec<String>], now: Millis) -> Result<Vec<NewOrder>, Vec<RowError>> {
    let cols = columns(headers, ORDER_COLUMNS, &["shop_order_id", "ordered_at", "amount", "paid"])?;
    let mut errors = Vec::new();
    // Order ids in first-seen order, each with its draft and first line.
    let mut drafts: Vec<(OrderDraft, usize, bool)> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (i, row) in rows.iter().enumerate() {
        let line = i + 2;
        let before = errors.len();
        let c = |name: &str| cell(row, &cols, name);
        let mut err = |field: &str, code: &str, message: String| {
            errors.push(RowError { line, field: field.into(), code: code.into(), message });
        };
        let item = if c("sku").is_empty() {
            None
        } else {
            let qty = match c("qty") {
                "" => Some(1),
                q => q.parse::<i64>().ok(),
            };
            let price = match c("price") {
                "" => Some(0),
                p => yuan_to_fen(p),
            };
            if qty.is_none() {
                err("qty", "not_a_number", format!("qty {:?} is not a whole number", c("qty")));
            }
            if price.is_none() {
                err("price", "not_money", format!("price {:?} is not yuan like 19.90", c("price")));
            }
            Some(OrderItem {
                sku: c("sku").into(),
                name: c("name").into(),
                qty: qty.unwrap_or(0),
                price_fen: price.unwrap_or(0),
            })
        };
        let id = c("shop_order_id").to_string();
        if let Some(&k) = index.get(&id) {
            let (d, _, bad) = &mut drafts[k];
            d.items.extend(item);
            *bad |= errors.len() > before;
            continue;
        }
        let ordered_at = parse_time(c("ordered_at"));
        if ordered_at.is_none() {
            err("ordered_at", "not_a_time", format!("{:?} is not YYYY-MM-DD HH:MM:SS nor ms", c("ordered_at")));
        }
        let money = |field: &str, err: &mut dyn FnMut(&str, &str, String)| {
            let v = yuan_to_fen(c(field));
            if v.is_none() {
                err(field, "not_money", format!("{field} {:?} is not yuan like 19.90", c(field)));
            }
            v.unwrap_or(0)
        };
        let amount_fen = money("amount", &mut err);
        let paid_fen = money("paid", &mut err);
        let status = match c("status") {
            "" => None,
            s => {
                let parsed = OrderStatus::parse(s);
                if parsed.is_none() {
                    err("status", "unknown_status", format!("status {s:?} is not paid, shipped or done"));
                }
                parsed
            }
        };
        let draft = OrderDraft {
            shop_order_id: id.clone(),
            ordered_at: ordered_at.unwrap_or(now),
            store_code: c("store_code").into(),
            items: item.into_iter().collect(),
            amount_fen,
            paid_fen,
            status,
            customer: CustomerKeys {
                unionid: c("unionid").into(),
                phone_hash: c("phone_hash").into(),
                external_userid: c("external_userid").into(),
                member_id: c("member_id").into(),
            },
            coupon_guide: c("coupon_guide").into(),
        };
        index.insert(id, drafts.len());
        drafts.push((draft, line, errors.len() > before));
    }
    let mut orders = Vec::with_capacity(drafts.len());
    for (d, line, bad) in drafts {
        if bad {
            continue; // its cells are reported already
        }
        match d.validate(now) {
            Ok(o) => orders.push(o),
            Err(e) => errors.extend(e.0.into_iter().map(|f| RowError::new(line, f))),
        }
    }
    if errors.is_empty() {
        Ok(orders)
    } else {
        errors.sort_by_key(|e| e.line);
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn money_and_times() {
        assert_eq!(yuan_to_fen("19.9"), Some(1990));
        assert_eq!(yuan_to_fen("￥20"), Some(2000));
        assert_eq!(yuan_to_fen("1.999"), None);
        assert_eq!(yuan_to_fen("-1"), None);
        assert_eq!(parse_time("1970-01-01 08:00"), Some(0));
        assert_eq!(parse_time("2024/01/01 08:00:01"), Some(1_704_067_201_000));
        assert_eq!(parse_time("1704067201000"), Some(1_704_067_201_000));
        assert_eq!(parse_time("2024-01-01 25:00"), None);
    }

    #[test]
    fn rows_of_one_order_are_its_lines_and_bad_rows_are_all_reported() {
        let headers = s(&["订单号", "下单时间", "金额", "实付", "商品编码", "数量", "单价", "会员号"]);
        let rows = vec![
            s(&["A1", "2024-01-01 10:00", "30", "25.5", "S1", "1", "10", "M1"]),
            s(&["A1", "", "", "", "S2", "2", "10", ""]),
            s(&["A2", "2024-01-02 10:00", "9.9", "9.9", "", "", "", "M2"]),
        ];
        let now = 1_800_000_000_000;
        let orders = order_rows(&headers, &rows, now).unwrap();
        assert_eq!(orders.len(), 2);
        assert_eq!((orders[0].items.len(), orders[0].paid_fen, orders[1].amount_fen), (2, 2550, 990));
        let bad =
            vec![s(&["B1", "yesterday", "x", "1", "", "", "", ""]), s(&["B2", "2024-01-01", "1", "2", "", "", "", ""])];
        let errs = order_rows(&headers, &bad, now).unwrap_err();
        let got: Vec<_> = errs.iter().map(|e| (e.line, e.code.as_str())).collect();
        assert_eq!(got, [(2, "not_a_time"), (2, "not_money"), (3, "out_of_range")]);
    }
}
