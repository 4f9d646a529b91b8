-- Campaign attribution of orders: the campaign an order counts for (the
-- one whose reward coupon paid for it, or the one through which its
-- customer came within the corp's window) and the rule that decided
-- (`campaign_coupon`, `campaign_window`; `none` when no campaign did).
ALTER TABLE orders ADD COLUMN campaign_id BIGINT;
ALTER TABLE orders ADD COLUMN campaign_rule TEXT NOT NULL DEFAULT 'none';
CREATE INDEX orders_by_campaign ON orders (corp_id, campaign_id);
