-- dim_counterparty deletions: a counterparty row deleted at the source deletes its dim_counterparty row
-- from the current state (the warehouse keeps its history).
SELECT counterparty_id, detected_at, restored
FROM counterparty__deletions
