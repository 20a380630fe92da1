-- fact_payment deletions: a payment row deleted at the source deletes its fact_payment row
-- from the current state (the warehouse keeps its history).
SELECT payment_id, detected_at, restored
FROM payment__deletions
