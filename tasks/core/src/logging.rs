//! Logging for the Lambda binaries: JSON lines on stdout (CloudWatch Logs), one object per event,
//! with the fields of the enclosing spans (execution name, table or model) flattened into every
//! line. `TOTE_LOG` (an `EnvFilter` directive, default `info`) sets the level.

/// Installs the JSON subscriber; later calls do nothing.
pub fn init_json() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TOTE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_env_filter(filter)
        .with_target(false)
        .without_time()
        .try_init();
}
