-- dim_transaction as the source has it now.
SELECT transaction_id, transaction_type, sales_order_id, purchase_order_id FROM "transaction"
