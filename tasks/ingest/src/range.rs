//! A range of a source table's primary keys: the plan splits a table read whole into ranges,
//! a chunk reads only its range's rows, and reconciling the chunk compares only the keys inside
//! it. The range is bound to the read's transaction as settings (values never enter SQL text)
//! and the SQL compares the key with those settings.

use tote_core::event::ingest::Chunk;
use tote_core::tables::quote_ident;

/// A key range, bound to the transaction as settings (values never enter SQL text).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyRange {
    /// First key, inclusive.
    pub from: Option<i64>,
    /// Last key, exclusive.
    pub to: Option<i64>,
}

impl KeyRange {
    /// The range of `chunk`.
    pub fn of(chunk: &Chunk) -> KeyRange {
        KeyRange {
            from: chunk.from,
            to: chunk.to,
        }
    }

    /// Sets `tote.from` and `tote.to` for the rest of the transaction.
    pub async fn bind(
        &self,
        tx: &tokio_postgres::Transaction<'_>,
    ) -> std::result::Result<(), tokio_postgres::Error> {
        let text = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
        tx.execute(
            "SELECT set_config('tote.from', $1, true), set_config('tote.to', $2, true)",
            &[&text(self.from), &text(self.to)],
        )
        .await
        .map(|_| ())
    }

    /// The conditions on `key` (quoted here) that keep a row inside the bound range, each
    /// preceded by `AND`; empty for an unbounded range. The column is compared as it is (an
    /// `int4` against the `int8` bound, an operator of the same btree family), never cast, so
    /// that the range is read through the primary key's index: a cast column makes every chunk
    /// scan the whole table, and the chunks together twice as slow as one read.
    pub fn conditions(&self, key: &str) -> String {
        let key = quote_ident(key);
        let mut out = String::new();
        if self.from.is_some() {
            out.push_str(&format!(
                " AND {key} >= (SELECT current_setting('tote.from')::int8)"
            ));
        }
        if self.to.is_some() {
            out.push_str(&format!(" AND {key} < (SELECT current_setting('tote.to')::int8)"));
        }
        out
    }

    /// ` WHERE <the conditions>`: a query's filter that keeps only the rows of the bound range.
    pub fn filter(&self, key: &str) -> String {
        format!(" WHERE true{}", self.conditions(key))
    }

    /// Whether `key` is inside the range.
    pub fn contains(&self, key: i64) -> bool {
        self.from.is_none_or(|f| key >= f) && self.to.is_none_or(|t| key < t)
    }
}
