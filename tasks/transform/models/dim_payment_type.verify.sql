-- dim_payment_type as the source has it now.
SELECT payment_type_id, payment_type_name FROM payment_type
