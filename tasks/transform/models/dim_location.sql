-- dim_location: the latest version of every address that changed.
SELECT
    address_id AS location_id,
    address_line_1,
    address_line_2,
    district,
    city,
    postal_code,
    country,
    phone
FROM (
    SELECT *, row_number() OVER (PARTITION BY address_id ORDER BY last_updated DESC) AS version_rank
    FROM address__changes
)
WHERE version_rank = 1
