//! The allow-list of source tables and their keys, and identifier quoting.
//!
//! No stage ever puts a table or column name into SQL unless it came from this list, from a
//! model's declaration ([`crate::models`]) or from the catalog of a table on one of them, and
//! then only through [`quote_ident`].

/// The eleven ToteSys tables, in dependency order (a table comes after every table it references).
///
/// `_prisma_migrations` lives in the same database but is not data: it is deliberately absent.
pub const SOURCE_TABLES: [&str; 11] = [
    "address",
    "counterparty",
    "currency",
    "department",
    "design",
    "staff",
    "payment_type",
    "sales_order",
    "purchase_order",
    "transaction",
    "payment",
];

/// Whether `name` is one of the ToteSys tables tote may read.
pub fn is_source_table(name: &str) -> bool {
    SOURCE_TABLES.contains(&name)
}

/// The primary-key column of a ToteSys table: `<table>_id`, by the source's convention.
pub fn primary_key(table: &str) -> String {
    format!("{table}_id")
}

/// Quotes an SQL identifier for Postgres: wraps it in double quotes and doubles any inside.
///
/// `transaction` is a reserved word, so even allow-listed names are always quoted.
pub fn quote_ident(ident: &str) -> String {
    let mut quoted = String::with_capacity(ident.len() + 2);
    quoted.push('"');
    for c in ident.chars() {
        if c == '"' {
            quoted.push('"');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_doubles_embedded_quotes() {
        assert_eq!(quote_ident("transaction"), "\"transaction\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn prisma_migrations_is_not_a_source_table() {
        assert!(!is_source_table("_prisma_migrations"));
        assert!(is_source_table("payment"));
        assert_eq!(primary_key("sales_order"), "sales_order_id");
    }
}
