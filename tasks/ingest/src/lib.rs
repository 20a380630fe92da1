//! Stage 1 of tote: ToteSys source tables → the immutable landing zone.
//!
//! One invocation ingests one table incrementally, on the cursor `(last_updated, primary key)`,
//! streaming `COPY … TO STDOUT (FORMAT binary)` into Arrow batches and on to Parquet (or CSV),
//! then commits a batch manifest to the landing log. Not yet implemented: see issue "Ingest".

/// The tables this stage will accept: the ToteSys allow-list shared by every stage.
pub use tote_core::tables::SOURCE_TABLES;
