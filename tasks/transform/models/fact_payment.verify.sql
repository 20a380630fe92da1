-- The latest version of each payment as the source has it now.
SELECT payment_id,
       created_at::date AS created_date, created_at::time(3) AS created_time,
       last_updated::date AS last_updated_date, last_updated::time(3) AS last_updated,
       transaction_id, counterparty_id, payment_amount, currency_id, payment_type_id, paid,
       payment_date::date AS payment_date
FROM payment
