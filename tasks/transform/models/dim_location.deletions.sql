-- dim_location deletions: an address row deleted at the source deletes its dim_location row
-- from the current state (the warehouse keeps its history).
SELECT address_id AS location_id, detected_at, restored
FROM address__deletions
