-- The latest version of each purchase order as the source has it now.
SELECT purchase_order_id,
       created_at::date AS created_date, created_at::time(3) AS created_time,
       last_updated::date AS last_updated_date, last_updated::time(3) AS last_updated_time,
       staff_id, counterparty_id, item_code, item_quantity, item_unit_price, currency_id,
       agreed_delivery_date::date AS agreed_delivery_date,
       agreed_payment_date::date AS agreed_payment_date, agreed_delivery_location_id
FROM purchase_order
