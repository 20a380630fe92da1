//! Stage 2 of tote: committed landing batches → the sales, purchases and payments star schemas.
//!
//! Each warehouse table is a SQL model in `models/*.sql`, executed with DataFusion over the
//! current state and the new versions of each source table. Not yet implemented: see issue
//! "Transform".

/// The warehouse tables this stage will produce, one SQL model each.
pub use tote_core::tables::WAREHOUSE_TABLES;
