-- fact_purchase_order deletions: a purchase_order row deleted at the source deletes its fact_purchase_order row
-- from the current state (the warehouse keeps its history).
SELECT purchase_order_id, detected_at, restored
FROM purchase_order__deletions
