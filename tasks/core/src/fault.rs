//! Fault points at commit boundaries, for the crash-and-retry tests.
//!
//! A stage calls [`point`] at every boundary where a crash would matter (after its data objects,
//! after the manifest, after the log entry, …). In a normal build it does nothing and compiles
//! away. With the `fault-injection` feature, a test can [`arm`] a point so that its next pass
//! fails as a crash there would, and the test can then prove that a retry recovers.

use crate::error::Result;

/// A boundary a stage passes through; fails if a test armed it.
#[inline]
pub fn point(name: &'static str) -> Result<()> {
    #[cfg(feature = "fault-injection")]
    {
        let mut armed = armed().lock().expect("fault registry");
        if let Some((count, kind)) = armed.get_mut(name) {
            if *count > 0 {
                *count -= 1;
                return Err(crate::error::Error::new(
                    *kind,
                    format!("injected fault at {name}"),
                ));
            }
        }
    }
    let _ = name;
    Ok(())
}

#[cfg(feature = "fault-injection")]
#[cfg(feature = "fault-injection")]
type Registry = std::collections::HashMap<String, (u32, crate::error::ErrorKind)>;

#[cfg(feature = "fault-injection")]
fn armed() -> &'static std::sync::Mutex<Registry> {
    static ARMED: std::sync::OnceLock<std::sync::Mutex<Registry>> = std::sync::OnceLock::new();
    ARMED.get_or_init(Default::default)
}

/// Makes the next `times` passes through `name` fail as a crash would (`Tote.Internal`, which
/// the state machine does not retry).
#[cfg(feature = "fault-injection")]
pub fn arm(name: &str, times: u32) {
    arm_with(name, times, crate::error::ErrorKind::Internal);
}

/// Makes the next `times` passes through `name` fail with an error of `kind`, e.g. a retryable
/// `Tote.WarehouseUnavailable`.
#[cfg(feature = "fault-injection")]
pub fn arm_with(name: &str, times: u32, kind: crate::error::ErrorKind) {
    armed()
        .lock()
        .expect("fault registry")
        .insert(name.to_string(), (times, kind));
}

/// Disarms every fault point.
#[cfg(feature = "fault-injection")]
pub fn disarm_all() {
    armed().lock().expect("fault registry").clear();
}
