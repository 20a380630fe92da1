-- dim_transaction: the latest version of every transaction that changed. Order ids stay integers.
SELECT transaction_id, transaction_type, sales_order_id, purchase_order_id
FROM (
    SELECT *, row_number() OVER (PARTITION BY transaction_id ORDER BY last_updated DESC) AS version_rank
    FROM "transaction__changes"
)
WHERE version_rank = 1
