-- Organization codes are 1-4 digits (stored zero-padded to 4, e.g. '0003'), as the application accepts them;
-- 0001's CHECK allowed up to 10. NOT VALID: rows already stored are left alone, new and updated rows are checked.
ALTER TABLE accounts ADD CONSTRAINT accounts_organization_code_digits
    CHECK (code ~ '^[0-9]{1,4}$') NOT VALID;
