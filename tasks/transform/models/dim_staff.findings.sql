-- Data-quality findings for dim_staff: source NULLs the warehouse cannot take as they are.
-- Each row with rows > 0 is recorded in the batch manifest and logged as a warning.
SELECT
    'dim_staff.location' AS column_name,
    'department.location is NULL for ' || CAST(count(*) AS VARCHAR) || ' staff; loaded as ''Unknown'' (rule in dim_staff.sql)' AS message,
    count(*) AS affected_rows
FROM staff s
JOIN department d ON d.department_id = s.department_id
WHERE d.location IS NULL
  AND (s.staff_id IN (SELECT staff_id FROM staff__changes)
       OR s.department_id IN (SELECT department_id FROM department__changes))
