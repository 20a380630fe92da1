//! What the transform reports when a query of the session fails: the model at fault and what to
//! do about it, with the DataFusion error as the cause.

use tote_core::{Error, ErrorKind};

/// A query of `model` (a model, one of its companion queries, or a table the run registers for
/// the models) failed: `Tote.ModelFailed`, telling to raise the memory budget when the query ran
/// out of it, and to fix the model otherwise.
pub(crate) fn model_error(model: &str, e: datafusion::error::DataFusionError) -> Error {
    if matches!(
        e.find_root(),
        datafusion::error::DataFusionError::ResourcesExhausted(_)
    ) {
        // The model is not at fault: the budget is too small for it.
        return Error::new(
            ErrorKind::ModelFailed,
            format!(
                "model {model} ran out of the transform's memory budget: {e}; raise TOTE_TRANSFORM_MEMORY_MB \
                 (in AWS the transform function's memory, a quarter of which is the budget) and run again"
            ),
        )
        .with_source(e);
    }
    Error::new(
        ErrorKind::ModelFailed,
        format!("model {model} failed: {e}; fix tasks/transform/models/{model}.sql (or TOTE_MODELS) and run again"),
    )
    .with_source(e)
}

/// An error no input or model can cause (arrow's, or the query engine's set-up), as an internal one.
pub(crate) fn internal<E: std::fmt::Display>(e: E) -> Error {
    Error::internal(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::error::DataFusionError;

    #[test]
    fn a_model_out_of_memory_is_told_to_raise_the_budget_not_to_fix_the_model() {
        let exhausted = DataFusionError::Context(
            "sort".into(),
            Box::new(DataFusionError::ResourcesExhausted(
                "Failed to allocate 3.0 MB".into(),
            )),
        );
        let message = model_error("dim_design", exhausted).to_string();
        assert!(message.contains("raise TOTE_TRANSFORM_MEMORY_MB"), "{message}");
        assert!(!message.contains("fix tasks/transform/models"), "{message}");
        let plan = model_error("dim_design", DataFusionError::Plan("no column x".into())).to_string();
        assert!(
            plan.contains("fix tasks/transform/models/dim_design.sql"),
            "{plan}"
        );
    }
}
