-- dim_currency: the latest version of every currency that changed, named from ISO 4217.
SELECT
    currency_id,
    currency_code,
    iso_currency_name(currency_code) AS currency_name
FROM (
    SELECT *, row_number() OVER (PARTITION BY currency_id ORDER BY last_updated DESC) AS version_rank
    FROM currency__changes
)
WHERE version_rank = 1
