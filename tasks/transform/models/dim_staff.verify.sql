-- dim_staff as the source has it now: each staff member with their department.
SELECT s.staff_id, s.first_name, s.last_name, d.department_name,
       COALESCE(d.location, 'Unknown') AS location, s.email_address
FROM staff s JOIN department d USING (department_id)
