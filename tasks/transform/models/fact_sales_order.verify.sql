-- The latest version of each sales order as the source has it now: timestamps split into a
-- date and a time at milliseconds, the price at two places.
SELECT sales_order_id,
       created_at::date AS created_date, created_at::time(3) AS created_time,
       last_updated::date AS last_updated_date, last_updated::time(3) AS last_updated_time,
       staff_id AS sales_staff_id, counterparty_id, units_sold,
       unit_price::numeric(10, 2) AS unit_price, currency_id, design_id,
       agreed_payment_date::date AS agreed_payment_date,
       agreed_delivery_date::date AS agreed_delivery_date, agreed_delivery_location_id
FROM sales_order
