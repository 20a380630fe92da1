-- dim_transaction deletions: a transaction row deleted at the source deletes its dim_transaction row
-- from the current state (the warehouse keeps its history).
SELECT transaction_id, detected_at, restored
FROM transaction__deletions
