//! Locking shared by the product crates and the testbed.

use std::sync::{Mutex, MutexGuard};

/// Lock `m`, recovering from poisoning.
///
/// A `std::sync::Mutex` is poisoned when a thread panics while holding it. The critical
/// sections these locks guard are plain assignments, collection updates and the
/// deterministic `State::apply`, so a panicked holder cannot leave the data torn, while
/// refusing the lock would turn one panicked request or task into a panic of every later
/// holder (the whole agent or control plane). The guard is therefore taken either way.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
