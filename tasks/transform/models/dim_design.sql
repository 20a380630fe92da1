-- dim_design: the latest version of every design that changed.
SELECT design_id, design_name, file_location, file_name
FROM (
    SELECT *, row_number() OVER (PARTITION BY design_id ORDER BY last_updated DESC) AS version_rank
    FROM design__changes
)
WHERE version_rank = 1
