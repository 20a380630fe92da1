//! Fault points at commit boundaries, for the crash-and-retry tests.
//!
//! A stage calls [`point`] at every boundary where a crash would matter (after its data objects,
//! after the manifest, after the log entry, …). In a normal build it does nothing and compiles
//! away. With the `fault-injection` feature, a test can [`arm`] a point so that its next pass
//! fails as a crash there would, and the test can then prove that a retry recovers.

use crate::error::Result;

/// A boundary a stage passes through; fails if a test armed it. Without the feature it is
/// always inlined to nothing, so a stage binary holds no fault point (scripts/test-images checks
/// the Lambda binaries' symbols).
#[cfg_attr(not(feature = "fault-injection"), inline(always))]
#[cfg_attr(feature = "fault-injection", inline)]
pub fn point(name: &'static str) -> Result<()> {
    #[cfg(feature = "fault-injection")]
    {
        let mut armed = armed().lock().expect("fault registry");
        if let Some(fault) = armed.get_mut(name) {
            match fault {
                Fault::Fail(count, kind) if *count > 0 => {
                    *count -= 1;
                    return Err(crate::error::Error::new(
                        *kind,
                        format!("injected fault at {name}"),
                    ));
                }
                Fault::Act(count, action) if *count > 0 => {
                    *count -= 1;
                    let action = action.clone();
                    drop(armed);
                    action();
                }
                _ => {}
            }
        }
    }
    let _ = name;
    Ok(())
}

/// What an armed point does on its next passes.
#[cfg(feature = "fault-injection")]
enum Fault {
    /// Fail that many times with an error of this kind.
    Fail(u32, crate::error::ErrorKind),
    /// Run the action that many times, then carry on: e.g. kill the stage's database connection
    /// from outside, as a network failure would.
    Act(u32, std::sync::Arc<dyn Fn() + Send + Sync>),
}

#[cfg(feature = "fault-injection")]
type Registry = std::collections::HashMap<String, Fault>;

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
        .insert(name.to_string(), Fault::Fail(times, kind));
}

/// Makes the next `times` passes through `name` run `action` (synchronously, on the stage's
/// thread) and then carry on, so a test can break something real at that exact moment.
#[cfg(feature = "fault-injection")]
pub fn arm_action(name: &str, times: u32, action: impl Fn() + Send + Sync + 'static) {
    armed()
        .lock()
        .expect("fault registry")
        .insert(name.to_string(), Fault::Act(times, std::sync::Arc::new(action)));
}

/// Disarms every fault point.
#[cfg(feature = "fault-injection")]
pub fn disarm_all() {
    armed().lock().expect("fault registry").clear();
}
