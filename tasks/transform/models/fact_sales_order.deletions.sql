-- fact_sales_order deletions: a sales_order row deleted at the source deletes its fact_sales_order row
-- from the current state (the warehouse keeps its history).
SELECT sales_order_id, detected_at, restored
FROM sales_order__deletions
