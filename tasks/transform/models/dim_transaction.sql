-- dim_transaction: the latest version of every transaction that changed. Order ids stay integers.
SELECT transaction_id, transaction_type, sales_order_id, purchase_order_id
FROM "transaction__latest"
