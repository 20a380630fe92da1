-- dim_design deletions: a design row deleted at the source deletes its dim_design row
-- from the current state (the warehouse keeps its history).
SELECT design_id, detected_at, restored
FROM design__deletions
