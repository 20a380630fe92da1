-- dim_currency deletions: a currency row deleted at the source deletes its dim_currency row
-- from the current state (the warehouse keeps its history).
SELECT currency_id, detected_at, restored
FROM currency__deletions
