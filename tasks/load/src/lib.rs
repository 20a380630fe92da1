//! Stage 3 of tote: processed batches → the Postgres warehouse, exactly once.
//!
//! Each processed batch is loaded in one warehouse transaction (binary COPY into staging, upsert
//! dimensions, insert new fact versions, record the batch in the ledger). Not yet implemented:
//! see issue "Load".

/// The warehouse tables this stage will load, dimensions before facts.
pub use tote_core::tables::WAREHOUSE_TABLES;
