-- dim_staff: staff ⨝ department, for every staff member whose row or whose department changed.
-- Rule: a department without a location (the source allows NULL, the warehouse does not) is loaded
-- as 'Unknown'; the transform also reports it as a data-quality finding.
SELECT
    s.staff_id,
    s.first_name,
    s.last_name,
    d.department_name,
    COALESCE(d.location, 'Unknown') AS location,
    s.email_address
FROM staff s
JOIN department d ON d.department_id = s.department_id
WHERE s.staff_id IN (SELECT staff_id FROM staff__changes)
   OR s.department_id IN (SELECT department_id FROM department__changes)
