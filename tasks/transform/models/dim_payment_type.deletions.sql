-- dim_payment_type deletions: a payment_type row deleted at the source deletes its dim_payment_type row
-- from the current state (the warehouse keeps its history).
SELECT payment_type_id, detected_at, restored
FROM payment_type__deletions
