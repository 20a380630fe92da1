-- dim_date: one row for every date a fact of this run references (never a fixed range).
-- day_of_week is ISO (Monday = 1 … Sunday = 7); names are English.
WITH referenced AS (
    SELECT CAST(created_at AS DATE) AS d FROM sales_order__changes
    UNION SELECT CAST(last_updated AS DATE) FROM sales_order__changes
    UNION SELECT CAST(agreed_payment_date AS DATE) FROM sales_order__changes
    UNION SELECT CAST(agreed_delivery_date AS DATE) FROM sales_order__changes
    UNION SELECT CAST(created_at AS DATE) FROM purchase_order__changes
    UNION SELECT CAST(last_updated AS DATE) FROM purchase_order__changes
    UNION SELECT CAST(agreed_payment_date AS DATE) FROM purchase_order__changes
    UNION SELECT CAST(agreed_delivery_date AS DATE) FROM purchase_order__changes
    UNION SELECT CAST(created_at AS DATE) FROM payment__changes
    UNION SELECT CAST(last_updated AS DATE) FROM payment__changes
    UNION SELECT CAST(payment_date AS DATE) FROM payment__changes
)
SELECT
    d AS date_id,
    CAST(date_part('year', d) AS INT) AS year,
    CAST(date_part('month', d) AS INT) AS month,
    CAST(date_part('day', d) AS INT) AS day,
    CAST(CASE WHEN date_part('dow', d) = 0 THEN 7 ELSE date_part('dow', d) END AS INT) AS day_of_week,
    to_char(d, '%A') AS day_name,
    to_char(d, '%B') AS month_name,
    CAST(date_part('quarter', d) AS INT) AS quarter
FROM referenced
WHERE d IS NOT NULL
