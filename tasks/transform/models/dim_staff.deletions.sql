-- dim_staff deletions: a staff row deleted at the source deletes its dim_staff row
-- from the current state (the warehouse keeps its history).
SELECT staff_id, detected_at, restored
FROM staff__deletions
