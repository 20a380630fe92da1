//! The source table's columns and the Arrow schema they decode into, as the binary COPY format
//! crate defines them (`tote_pgcopy::layout`): the ingest reads them from the catalog.

pub use tote_pgcopy::layout::{SourceColumn, TableLayout};
