-- dim_payment_type: the latest version of every payment type that changed.
SELECT payment_type_id, payment_type_name
FROM (
    SELECT *, row_number() OVER (PARTITION BY payment_type_id ORDER BY last_updated DESC) AS version_rank
    FROM payment_type__changes
)
WHERE version_rank = 1
